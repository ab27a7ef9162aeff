#include "util/fd.hpp"

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

} // namespace husk
