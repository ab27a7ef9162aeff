// The overlay's upper layer: the mount points an image lacks, made before
// the overlay is mounted (runtime::build_root() under --overlay).
#pragma once

#include "runtime/plan.hpp"

#include <string>
#include <vector>

namespace husk::runtime {

/// Makes, in the overlay's upper layer `upper` (a folder of the staging
/// tmpfs, or of the user's --overlay-dir) before it is mounted, the mount
/// points of `mounts` that the image open at `image_fd` lacks: once
/// mounted, a new entry in a folder of a root-owned image (/usr/lib) needs
/// a write permission the user does not have there (root is not mapped),
/// while a folder that the upper layer already has is merged with the
/// image's and shows as the user's. Only `upper` is written; targets are
/// resolved inside the image, a bind's source inside `host_root_fd` (to
/// tell a file from a folder). Targets below an earlier mount are left to
/// that mount; a mount that cannot be resolved is skipped (it says what is
/// wrong when it is made).
/// @throws husk::Error when a Symlink mount's link cannot be made.
void prepare_overlay_upper(const std::vector<MountOp>& mounts, int image_fd, int host_root_fd,
                           const std::string& upper);

} // namespace husk::runtime
