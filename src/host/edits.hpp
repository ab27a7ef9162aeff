// Container edits: what the host lends a container, in the model of the
// Container Device Interface (CDI spec, "containerEdits"): environment,
// mounts, folders for the dynamic linker. Every host injection is a
// generator of edits; runtime::plan() takes them and stays pure.
#pragma once

#include <string>
#include <vector>

namespace husk::host {

/// One bind of a host file or folder into the container (CDI "mounts").
struct Mount {
    std::string host_path;      ///< absolute, canonical, on the host
    std::string container_path; ///< absolute, in the container
    bool read_only = true;
    std::string what; ///< for messages: "--mpi=host: libmpich.so.12"

    bool operator==(const Mount&) const = default;
};

/// Edits of one or more generators, applied in order after the base mounts.
struct ContainerEdits {
    std::vector<std::string> env; ///< KEY=VALUE, set after the image's Env
    std::vector<Mount> mounts;
    /// Folders put first in LD_LIBRARY_PATH, in this order.
    std::vector<std::string> ld_library_path;
    /// Some container_path may be missing in the image: the plan mounts a
    /// read-only root under an overlay (tmpfs upper) so that mount points
    /// can be made without writing the image.
    bool needs_new_paths = false;
    /// What the generators decided, said at -v.
    std::vector<std::string> notes;

    /// Appends `other`'s edits after these.
    void append(const ContainerEdits& other);
};

} // namespace husk::host
