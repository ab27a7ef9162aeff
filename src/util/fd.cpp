#include "util/fd.hpp"

#include "util/error.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <linux/close_range.h>
#include <memory>
#include <sys/syscall.h>
#include <unistd.h>

namespace husk {

void Fd::reset(int fd) noexcept {
    if (fd_ >= 0) {
        // close(2): the descriptor is released even when close reports EINTR,
        // so retrying would close somebody else's descriptor.
        ::close(fd_);
    }
    fd_ = fd;
}

void close_all_but(std::vector<int> keep) noexcept {
    std::sort(keep.begin(), keep.end());
    unsigned from = 3;
    for (int k : keep) {
        if (k >= 0 && static_cast<unsigned>(k) >= from) {
            if (static_cast<unsigned>(k) > from) {
                ::syscall(SYS_close_range, from, static_cast<unsigned>(k) - 1, 0);
            }
            from = static_cast<unsigned>(k) + 1;
        }
    }
    ::syscall(SYS_close_range, from, ~0U, 0);
}

std::vector<std::string> dir_names(int dir_fd, const std::string& what) {
    // struct linux_dirent64 (getdents64(2)): d_ino, d_off, d_reclen,
    // d_type, then the name, NUL-terminated, the record 8-byte aligned.
    constexpr size_t kName = 8 + 8 + 2 + 1;
    // On the heap, not the stack: a 16 KiB frame would push every deeper
    // call onto stack pages the process has not touched yet.
    constexpr size_t kBuf = 16384;
    const std::unique_ptr<char[]> owned(new char[kBuf]);
    char* const buf = owned.get();
    std::vector<std::string> names;
    for (;;) {
        const long n = ::syscall(SYS_getdents64, dir_fd, buf, kBuf);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno("cannot read the folder " + what);
        }
        if (n == 0) {
            return names;
        }
        for (long at = 0; at < n;) {
            unsigned short reclen = 0;
            std::memcpy(&reclen, buf + at + 16, sizeof reclen);
            if (reclen <= kName || at + reclen > n) {
                throw Error("cannot read the folder " + what + ": a malformed directory entry");
            }
            const char* name = buf + at + kName;
            const size_t len = ::strnlen(name, reclen - kName);
            if (!(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.')) {
                names.emplace_back(name, len);
            }
            at += reclen;
        }
    }
}

} // namespace husk
