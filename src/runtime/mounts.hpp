// The mount executor: applies a LaunchPlan's root and mount list.
#pragma once

#include "runtime/mount_attrs.hpp"
#include "runtime/plan.hpp"
#include "util/fd.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace husk::runtime {

/// Where build_root() finds the host and the image in the mount namespace
/// it starts in.
struct RootSource {
    /// The host's root: "/" normally; the SquashFS server's kServedHost in
    /// a copy of the server's mount namespace.
    std::string host = "/";
    /// Where the SquashFS server's FUSE mount of the image is (its
    /// kServedImage), for a SquashFS image; empty otherwise.
    std::string image_mount;
};

/// A mount point that build_root() made in a writable image (-w) for a
/// mount with transient_mount_point.
struct TransientPath {
    std::string path; ///< in the container: "/usr/lib/husk-gpu"
    dev_t dev = 0;    ///< of what was made, as fstat(2) gave them
    ino_t ino = 0;
    mode_t type = 0; ///< S_IFDIR, S_IFREG (an empty file) or S_IFLNK
};

/// Builds the container's root filesystem from `p` and makes it the root of
/// the calling process's mount namespace. Call it in the container's init
/// (the first process of its PID namespace, so that its procfs can be
/// mounted), after the user and mount namespaces are made.
///
/// Steps (each a named function in mounts.cpp): make every mount a slave of
/// the host's so nothing propagates back; mount a staging tmpfs and
/// pivot_root(2) into it, the host's root then being /oldroot (or
/// /oldroot/host, see RootSource; the method of bubblewrap, so no host
/// directory is hidden while binding); mount the image at /newroot
/// (read-only bind, writable bind, overlayfs with a tmpfs upper, or a
/// read-only overlayfs of the mount-point layer over it; a SquashFS image
/// is the server's FUSE mount, used the same way); apply p.mounts in order
/// (but those the layer holds whole), resolving every target inside /newroot with
/// path::resolve_in_root; finally pivot_root(".", ".") into /newroot and
/// detach the old root, so no host path stays reachable except through the
/// binds.
///
/// Under -w, the mount points it made in the image for mounts with
/// transient_mount_point, each folder and file: the container's init
/// removes them when the container ends (container.cpp).
///
/// @returns those mount points, outermost first: a path in the container
///          with the device and inode number it was made with.
/// @throws husk::Error with the failing step, path and errno, and a trail
///         "while mounting <what>".
std::vector<TransientPath> build_root(const LaunchPlan& p, const RootSource& src);

} // namespace husk::runtime
