// Mount attributes and detached binds: the mount-level steps that
// build_root() (mounts.cpp) and husk check (check.cpp) share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace husk::runtime {

/// Adds mount attributes `set` (MOUNT_ATTR_* of <linux/mount.h>) to the
/// mount at `fd` and every mount below it: mount_setattr(2) (Linux 5.12)
/// does it atomically; older kernels, or `legacy` (the legacy_mounts
/// setting, to test that path), remount one by one as listed in
/// `proc`/self/mountinfo, repeating the flags that a user namespace may not
/// clear (they are locked). `proc`: where procfs is mounted now.
/// @throws husk::Error naming `what` on failure.
void mount_setattr_fd(int fd, uint64_t set, const std::string& what, bool legacy,
                      std::string_view proc);

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
/// it, and move_mount(2) attaches it. Both descriptors (O_PATH will do)
/// are used as they are: no path is looked up again, none through /proc.
/// Ownership of the descriptors stays with the caller; the clone's is
/// closed here.
/// @returns false, having mounted nothing, where the kernel lacks the calls
///          (open_tree and move_mount: Linux 5.2; mount_setattr: 5.12): the
///          caller then binds with mount(2) and make_read_only().
/// @throws husk::Error naming the call the kernel refused.
bool bind_detached(int source_fd, int target_fd, uint64_t attrs);

/// The id of the mount that `fd` lies on (statx(2) STATX_MNT_ID, Linux 5.8;
/// the "mnt_id:" line of `proc`/self/fdinfo before that).
/// @throws husk::Error where neither tells it.
uint64_t mount_id(int fd, const std::string& proc);

} // namespace husk::runtime
