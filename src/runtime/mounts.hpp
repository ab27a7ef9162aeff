// The mount executor: applies a LaunchPlan's root and mount list.
#pragma once

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

/// Sets read-only, nosuid and nodev on the mount at `fd` and every mount below
/// it, so that no submount of a read-only bind stays writable (the bubblewrap
/// lesson): mount_setattr(2) with AT_RECURSIVE on Linux 5.12 and later, a
/// bind remount of each mount listed under it in `proc`/self/mountinfo
/// before (as on RHEL 8's 4.18), or always with `legacy` (the legacy_mounts
/// setting). `proc`: where procfs is mounted now.
/// @throws husk::Error naming `what` on failure.
void make_read_only(int fd, const std::string& what, bool legacy = false,
                    std::string_view proc = "/proc");

/// Binds the tree at `source_fd` (recursively, as MS_BIND|MS_REC) on
/// `target_fd` with the new mount API: open_tree(2) clones it detached,
/// mount_setattr(2) sets `attrs` (MOUNT_ATTR_* of <linux/mount.h>, e.g.
/// RDONLY|NOSUID|NODEV; 0: none) on every submount while no one can see
/// it, and move_mount(2) attaches it. Both descriptors (O_PATH will do) are used as they are: no
/// path is looked up again, none through /proc. Ownership of the descriptors stays with the caller;
/// the clone's is closed here.
/// @returns false, having mounted nothing, where the kernel lacks the calls
///          (open_tree and move_mount: Linux 5.2; mount_setattr: 5.12): the
///          caller then binds with mount(2) and make_read_only().
/// @throws husk::Error naming the call the kernel refused.
bool bind_detached(int source_fd, int target_fd, uint64_t attrs);

} // namespace husk::runtime
