// The overlay's upper layer: the mount points an image lacks, made before
// the overlay is mounted (runtime::build_root() under --overlay, and the
// mount-point layer of a read-only root, LaunchPlan::mount_point_layer).
#pragma once

#include "runtime/plan.hpp"

#include <cstddef>
#include <functional>
#include <optional>
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
///
/// With `contents`, the files husk generates (MountKind::Passwd, Group and
/// File) are written into `upper` whole, at their target, instead of an
/// empty mount point, where no component of the target is a symlink in
/// the image (so that no folder of `upper` hides an image's symlink such as
/// /etc -> usr/etc): `contents` gets the op, a descriptor open for reading
/// of the image's regular file at the target (-1 where the image has none)
/// and that file's size as fstat(2) gave it (0 for none), and gives the
/// bytes, or nullopt (or throws husk::Error) to leave the op to its mount,
/// as a symlink on the way does.
/// @returns the indices into `mounts` of the files written whole: they
///          need no mount.
/// @throws husk::Error when a Symlink mount's link cannot be made, or a
///         generated file cannot be written.
using GeneratedContents =
    std::function<std::optional<std::string>(const MountOp&, int image_file, size_t image_size)>;
std::vector<size_t> prepare_overlay_upper(const std::vector<MountOp>& mounts, int image_fd,
                                          int host_root_fd, const std::string& upper,
                                          const GeneratedContents& contents = {});

} // namespace husk::runtime
