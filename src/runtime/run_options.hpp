// RunOptions: what `husk run` was asked to do, as plain data.
#pragma once

#include "host/edits.hpp"
#include "util/bind.hpp"

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace husk::runtime {

/// How the image's root filesystem is mounted.
enum class RootMode {
    ReadOnly, ///< default: bind read-only, nosuid, nodev
    Writable, ///< -w/--write: writes go to the image itself
    Overlay,  ///< --overlay: kernel overlayfs, tmpfs upper; the image stays unchanged
};

/// Whether the tasks of a job step on a node share one container.
enum class JoinMode {
    Auto,   ///< when the launcher says there are several (Slurm, Open MPI, PMIx)
    Never,  ///< --no-join
    Always, ///< --join[=TAG]
};

/// Options of `husk run`, filled by cli::parse(); see doc/husk-run.md.
struct RunOptions {
    std::string image;                ///< IMAGE as given (a directory for now)
    std::vector<std::string> command; ///< CMD ARG...; empty: the image's entrypoint + cmd
    std::vector<BindSpec> binds;      ///< in command-line order
    /// How the binds are named in messages: "-b", or the option they came
    /// from ("--container-mounts" for the Slurm plugin).
    std::string binds_option = "-b";
    /// A bind's destination that a read-only image lacks is made in the
    /// mount-point layer, as the host stage's are, and the root stays
    /// read-only (the Slurm plugin's --container-mounts, as pyxis's make
    /// them). false: such a bind fails unless -w or --overlay (husk run -b).
    bool bind_mount_points = false;
    RootMode root_mode = RootMode::ReadOnly;
    /// With RootMode::Overlay: a host folder of the user's whose upper/ and
    /// work/ hold the overlay's writable layer, kept after the container
    /// (the Slurm plugin's named containers); "": a tmpfs, gone at exit.
    std::string overlay_dir;
    std::optional<std::string> cwd;     ///< -c/--cd
    std::vector<std::string> env_files; ///< --env-file, in order
    std::vector<std::string> env;       ///< -e KEY=VAL or KEY (value from the host)
    std::vector<std::string> unset_env; ///< --unset-env GLOB (fnmatch(3) patterns)
    std::optional<uid_t> uid;           ///< --uid: user id inside
    std::optional<gid_t> gid;           ///< --gid: group id inside
    bool fake_root = false;             ///< --fake-root: uid and gid 0 inside
    bool private_tmp = false;           ///< --private-tmp: tmpfs on /tmp
    bool no_home = false;               ///< --no-home: do not bind $HOME
    JoinMode join = JoinMode::Auto;     ///< --join[=TAG], --no-join
    std::string join_tag;               ///< --join=TAG: join the container of that tag
    std::optional<uint32_t> join_count; ///< --join-count N: tasks expected on this node
    std::optional<uint32_t> linger;     ///< --linger SECONDS (SquashFS server)
    std::optional<std::string> mpi;     ///< --mpi=host|none (default: the settings' mpi)
    std::vector<std::string> devices;   ///< --device NAME: fully qualified CDI names, in order
    std::optional<std::string> gpu; ///< --gpu[=nvidia|amd]: the vendor ("nvidia" for bare --gpu)
    host::DevMode dev = host::DevMode::Host; ///< --dev=host|minimal
};

} // namespace husk::runtime
