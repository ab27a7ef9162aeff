#include "util/fd.hpp"

#include <algorithm>
#include <linux/close_range.h>
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

} // namespace husk
