// husk::Fd — a move-only owner of one file descriptor.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace husk {

/// Owns one file descriptor and closes it when destroyed. Move-only; -1 means
/// "none". Every descriptor husk opens is O_CLOEXEC, so none reaches the
/// user's command (see runtime/launch.cpp).
class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset(std::exchange(other.fd_, -1));
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    /// Gives up ownership and returns the descriptor.
    int release() noexcept { return std::exchange(fd_, -1); }
    /// Closes the owned descriptor (if any) and takes `fd`.
    void reset(int fd = -1) noexcept;

  private:
    int fd_ = -1;
};

/// Closes every descriptor of the calling process but 0, 1, 2 and those
/// in `keep` (close_range(2)). For a process forked without exec (a
/// server, a container's init), whose inherited descriptors O_CLOEXEC
/// does not close: a listening socket or a lease that such a process kept
/// open would outlive its owner. Async-signal-safe apart from sorting
/// `keep`; never fails (descriptors that are not open are skipped).
void close_all_but(std::vector<int> keep) noexcept;

/// The names in the folder open at `dir_fd` (O_RDONLY | O_DIRECTORY), but
/// "." and "..", in the order the file system gives them: read with
/// getdents64(2) from the descriptor's offset, which is left at the end
/// (the descriptor stays open; rewind it to read again). A small folder
/// costs two system calls; opendir(3) adds an fstat and two fcntl.
/// @throws husk::Error "cannot read the folder <what>" with errno.
std::vector<std::string> dir_names(int dir_fd, const std::string& what);

} // namespace husk
