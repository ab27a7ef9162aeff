// runtime::plan — every decision of a launch, as data, with no system calls.
#pragma once

#include "host/edits.hpp"
#include "image/image.hpp"
#include "runtime/env.hpp"
#include "runtime/idmap.hpp"
#include "runtime/passwd.hpp"
#include "runtime/run_options.hpp"
#include "util/config.hpp"

#include <string>
#include <vector>

namespace husk::runtime {

/// What the host looks like to the launch: gathered once by
/// gather_host_facts(), passed to plan() so that plan() does no I/O.
struct HostFacts {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::string user;                   ///< login name of uid ("uid1234" if none)
    std::string group;                  ///< name of gid ("gid1234" if none)
    std::string gecos;                  ///< GECOS of uid, may be empty
    std::string home;                   ///< $HOME, else the passwd home; absolute, canonical
    std::string cwd;                    ///< current directory, canonical; "" if unknown
    std::vector<std::string> environ;   ///< KEY=VALUE
    std::vector<EnvFile> env_files;     ///< the --env-file files, read
    std::vector<std::string> bind_srcs; ///< canonical host path of each -b source, in order
    /// canonical host path of each site default bind's source, in order;
    /// "" where it does not exist on this node (the bind is skipped)
    std::vector<std::string> site_bind_srcs;
    /// Folders of the host's process manager that tasks must reach at
    /// their host paths, canonical and existing: $PMIX_SERVER_TMPDIR,
    /// $PMIX_SYSTEM_TMPDIR (PMIx servers of Slurm and Open MPI keep their
    /// rendezvous files there) and /run/munge (Slurm's PMI authentication).
    std::vector<std::string> launcher_dirs;
};

/// Reads the facts for `opts` and `settings`, for the user `who` (whose
/// passwd entry gives the name, GECOS and home): ids, names, $HOME, cwd,
/// environ, the env files and the canonical path of each bind source (-b and
/// the site's default binds; a missing site bind source is said at -v).
/// @throws husk::Error naming an env file or -b source that cannot be read.
HostFacts gather_host_facts(const RunOptions& opts, const config::Settings& settings,
                            const config::Identity& who);

/// What a mount step does.
enum class MountKind {
    Proc,   ///< a procfs of the container's PID namespace (else the host's, bound)
    Bind,   ///< recursive bind of host `source` on `target`
    Tmpfs,  ///< a fresh tmpfs on `target`
    Passwd, ///< generated /etc/passwd (merge_passwd of the image's own)
    Group,  ///< generated /etc/group (merge_group of the image's own)
};

/// What to do when `target` does not exist in the image and cannot be created
/// (the root is read-only, or creating it failed).
enum class OnMissing {
    Fail,        ///< error, exit 125 (the user asked for it: -b)
    Warn,        ///< warn and skip
    Quiet,       ///< skip, say so only at -v
    TmpfsParent, ///< mount a tmpfs on the deepest existing directory (not /), then create the
                 ///< rest (as ch-run does for
                 ///< $HOME)
};

/// One step of the mount plan, applied in order by runtime::build_root().
struct MountOp {
    MountKind kind = MountKind::Bind;
    std::string source; ///< absolute host path (Bind only)
    std::string target; ///< absolute path inside the container
    bool read_only = false;
    OnMissing on_missing = OnMissing::Fail;
    std::string what; ///< for messages: "home", "-b /scratch:/data", ...

    bool operator==(const MountOp&) const = default;
};

/// Everything runtime::launch() needs, decided in advance.
struct LaunchPlan {
    IdMaps ids;
    std::string image_path;                          ///< absolute host path of the image
    image::Kind image_kind = image::Kind::Directory; ///< Directory or Squashfs
    RootMode root_mode = RootMode::ReadOnly;
    std::vector<MountOp> mounts;    ///< in order; later ones may cover earlier
    Account account;                ///< the user's passwd/group entry inside
    std::vector<std::string> env;   ///< KEY=VALUE, final
    std::string cwd;                ///< directory to start in
    bool cwd_required = false;      ///< -c given: failing to enter it is an error
    std::string cwd_fallback = "/"; ///< where to start when `cwd` is not there
    std::vector<std::string> argv;  ///< command and arguments; argv[0] searched in PATH
    bool legacy_mounts = false;     ///< remount each submount instead of mount_setattr(2)
};

/// Decides a launch: id maps, mounts, account, environment, cwd, argv.
///
/// Mount order: /proc (the container's own procfs), /sys, /dev (recursive
/// binds of the host's), /tmp (the
/// host's, or a tmpfs with --private-tmp), $HOME (unless --no-home),
/// /etc/hosts and /etc/resolv.conf (host's, read-only), /etc/passwd and
/// /etc/group (generated), then the site's default binds (settings.binds;
/// skipped with a warning where the image has no mount point and cannot get
/// one, and silently where the source is missing on this node), then the
/// launcher's folders (host.launcher_dirs) not already visible through a
/// bind above, at their host paths, then each -b in order, so user binds
/// win.
///
/// @throws husk::Error on contradictory options, a relative bind target, a
///         malformed -e or env file line, or no command at all.
/// The host stage's edits (`edits`) come after the launcher's folders and
/// before -b: their mounts (a missing mount point is an error, and when the
/// edits may need new ones a read-only root becomes --overlay, so nothing
/// of the image is written), their environment after the image's Env, and
/// their folders first in LD_LIBRARY_PATH.
LaunchPlan plan(const RunOptions& opts, const image::Image& image, const HostFacts& host,
                const config::Settings& settings, const host::ContainerEdits& edits = {});

} // namespace husk::runtime
