#include "runtime/mount_attrs.hpp"

#include "runtime/mountinfo.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"
#include "util/path.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace husk::runtime {

namespace {

/// The pre-5.12 way to what mount_setattr(2) does: a bind remount of the
/// mount at `fd` and of each mount below it, found in mountinfo, repeating
/// the flags that a user namespace may not clear (they are locked).
void remount_each(int fd, uint64_t set, const std::string& what, std::string_view proc) {
    char buf[PATH_MAX];
    const std::string link = path::fd_path(fd, proc);
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    if (n <= 0) {
        throw_errno("cannot find where " + what + " is mounted");
    }
    const std::string at(buf, static_cast<size_t>(n));
    const auto all = parse_mountinfo(file::read(std::string(proc) + "/self/mountinfo"));
    for (const auto& m : mounts_under(all, at)) {
        unsigned long flags = MS_REMOUNT | MS_BIND | locked_flags(m.options);
        if ((set & MOUNT_ATTR_RDONLY) != 0 || m.options == "ro" || m.options.rfind("ro,", 0) == 0) {
            flags |= MS_RDONLY;
        }
        if ((set & MOUNT_ATTR_NOSUID) != 0) {
            flags |= MS_NOSUID;
        }
        if ((set & MOUNT_ATTR_NODEV) != 0) {
            flags |= MS_NODEV;
        }
        if (::mount(nullptr, m.mount_point.c_str(), nullptr, flags, nullptr) != 0) {
            throw_errno("cannot remount " + m.mount_point + " (under " + what + ")");
        }
    }
}

} // namespace

void mount_setattr_fd(int fd, uint64_t set, const std::string& what, bool legacy,
                      std::string_view proc) {
    if (!legacy) {
        struct mount_attr attr {};
        attr.attr_set = set;
        if (::syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                      sizeof attr) == 0) {
            return;
        }
        if (errno != ENOSYS) {
            throw_errno("cannot change mount flags of " + what);
        }
    }
    remount_each(fd, set, what, proc);
}

void make_read_only(int fd, const std::string& what, bool legacy, std::string_view proc) {
    mount_setattr_fd(fd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, what, legacy,
                     proc);
}

bool bind_detached(int source_fd, int target_fd, uint64_t attrs) {
    Fd tree(static_cast<int>(
        ::syscall(SYS_open_tree, source_fd, "",
                  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE)));
    if (!tree) {
        if (errno == ENOSYS) {
            return false;
        }
        throw_errno("cannot clone the mount tree to bind (open_tree)");
    }
    if (attrs != 0) {
        struct mount_attr attr {};
        attr.attr_set = attrs;
        if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                      sizeof attr) != 0) {
            if (errno == ENOSYS) {
                return false; // the clone, never attached, goes with `tree`
            }
            throw_errno("cannot set the flags of the bind (mount_setattr)");
        }
    }
    if (::syscall(SYS_move_mount, tree.get(), "", target_fd, "",
                  MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
        throw_errno("cannot attach the bind (move_mount)");
    }
    return true;
}

uint64_t mount_id(int fd, const std::string& proc) {
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) == 0 &&
        (stx.stx_mask & STATX_MNT_ID) != 0) {
        return stx.stx_mnt_id;
    }
    std::string info = proc + "/self/fdinfo/" + std::to_string(fd);
    Fd f(::open(info.c_str(), O_RDONLY | O_CLOEXEC));
    char buf[512] = {};
    ssize_t n = f ? ::read(f.get(), buf, sizeof buf - 1) : -1;
    const char* at = n > 0 ? std::strstr(buf, "mnt_id:") : nullptr;
    if (at == nullptr) {
        throw Error("cannot find the mount id of a descriptor in " + info);
    }
    return std::strtoull(at + 7, nullptr, 10);
}

} // namespace husk::runtime
