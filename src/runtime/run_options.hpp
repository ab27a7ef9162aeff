// RunOptions: what `husk run` was asked to do, as plain data.
#pragma once

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

/// Options of `husk run`, filled by cli::parse(); see doc/husk-run.md.
struct RunOptions {
    std::string image;                ///< IMAGE as given (a directory for now)
    std::vector<std::string> command; ///< CMD ARG...; empty: the image's entrypoint + cmd
    std::vector<BindSpec> binds;      ///< in command-line order
    RootMode root_mode = RootMode::ReadOnly;
    std::optional<std::string> cwd;     ///< -c/--cd
    std::vector<std::string> env_files; ///< --env-file, in order
    std::vector<std::string> env;       ///< -e KEY=VAL or KEY (value from the host)
    std::vector<std::string> unset_env; ///< --unset-env GLOB (fnmatch(3) patterns)
    std::optional<uid_t> uid;           ///< --uid: user id inside
    std::optional<gid_t> gid;           ///< --gid: group id inside
    bool fake_root = false;             ///< --fake-root: uid and gid 0 inside
    bool private_tmp = false;           ///< --private-tmp: tmpfs on /tmp
    bool no_home = false;               ///< --no-home: do not bind $HOME
};

} // namespace husk::runtime
