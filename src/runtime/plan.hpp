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
    std::string user;                 ///< login name of uid ("uid1234" if none)
    std::string group;                ///< name of gid ("gid1234" if none)
    std::string gecos;                ///< GECOS of uid, may be empty
    std::string home;                 ///< $HOME, else the passwd home; absolute, canonical
    std::string cwd;                  ///< current directory, canonical; "" if unknown
    std::vector<std::string> environ; ///< KEY=VALUE
    std::vector<EnvFile> env_files;   ///< the --env-file files, read
    /// The -b binds, in order, each with its source resolved (canonical).
    std::vector<BindSpec> binds;
    /// The site's default binds, in order, each with its source resolved;
    /// resolved "" where it does not exist on this node (the bind is skipped).
    std::vector<BindSpec> site_binds;
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

/// The mount steps are the host stage's (host/edits.hpp).
using host::MountKind;
using host::OnMissing;
using MountOp = host::Mount;

/// Everything runtime::launch() needs, decided in advance.
struct LaunchPlan {
    IdMaps ids;
    std::string image_path;                          ///< absolute host path of the image
    image::Kind image_kind = image::Kind::Directory; ///< Directory or Squashfs
    RootMode root_mode = RootMode::ReadOnly;
    /// With root_mode ReadOnly: the mount points the image lacks, and the
    /// files husk generates, are in a layer of the staging tmpfs, put over
    /// the image as a read-only overlay (no upper layer: nothing the
    /// container does is written, as without it).
    bool mount_point_layer = false;
    std::string overlay_dir;        ///< RunOptions::overlay_dir; "": a tmpfs upper
    std::vector<MountOp> mounts;    ///< in order; later ones may cover earlier
    Account account;                ///< the user's passwd/group entry inside
    std::vector<std::string> env;   ///< KEY=VALUE, final
    std::string cwd;                ///< directory to start in
    bool cwd_required = false;      ///< -c given: failing to enter it is an error
    std::string cwd_fallback = "/"; ///< where to start when `cwd` is not there
    std::vector<std::string> argv;  ///< command and arguments; argv[0] searched in PATH
    bool legacy_mounts = false;     ///< mount(2) and a remount of each submount, not open_tree(2)
};

/// Decides a launch: id maps, mounts, account, environment, cwd, argv.
///
/// Mount order, each from a generator of host/edits.hpp: the base edits
/// (host::base_edits: /proc, /sys, /dev as --dev says, /tmp, $HOME unless
/// --no-home, /etc/hosts, /etc/resolv.conf, /etc/passwd, /etc/group), then
/// the site's default binds (host.site_binds; skipped with a warning where
/// the image has no mount point and cannot get one, and silently where the
/// source is missing on this node), then the launcher's folders
/// (host.launcher_dirs) not already visible through a bind above, at their
/// host paths, then the generated edits (`edits`: CDI devices, --gpu,
/// --mpi=host; their mounts, then their device nodes by
/// host::device_mounts), then each -b in order, so user binds win.
///
/// The generated edits' environment comes after the image's Env, and the
/// folders of their ld_library_path (what host::cache_ld_folders() left)
/// first in LD_LIBRARY_PATH. When they may need new mount points, a
/// read-only root gets a mount-point layer (LaunchPlan::mount_point_layer),
/// so nothing of the image is written and the root stays read-only.
///
/// @throws husk::Error on contradictory options, a relative bind target, a
///         malformed -e or env file line, or no command at all.
LaunchPlan plan(const RunOptions& opts, const image::Image& image, const HostFacts& host,
                const config::Settings& settings, const host::ContainerEdits& edits = {});

/// What the command's environment is made of (assemble_env()'s inputs):
/// host.environ, the image config's Env, host.env_files, -e and
/// --unset-env. plan() adds the generated edits' env after the image's and
/// HOME; the host stage reads NVIDIA_DRIVER_CAPABILITIES from it.
EnvInputs env_inputs(const RunOptions& opts, const image::Image& image, const HostFacts& host);

} // namespace husk::runtime
