#include "util/file.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::file {

std::string read_fd(int fd, const std::string& what, size_t limit, size_t size) {
    // Read straight into the string: one byte more than `size` asked, so
    // that a file that grew is read on, and at most one byte over `limit`.
    std::string out;
    size_t room = size > 0 && size < limit ? size + 1 : 4096;
    for (;;) {
        const size_t have = out.size();
        if (const size_t left = limit - std::min(limit, have); left < room) {
            room = left + 1;
        }
        out.resize(have + room);
        const ssize_t n = ::read(fd, out.data() + have, room);
        out.resize(have + static_cast<size_t>(std::max<ssize_t>(n, 0)));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw_errno("cannot read " + what);
        }
        if (out.size() > limit) {
            throw Error(what + " is larger than " + std::to_string(limit) + " bytes");
        }
        if (n == 0 || (size > 0 && out.size() == size && static_cast<size_t>(n) < room)) {
            return out;
        }
        room = std::max<size_t>(out.size(), 4096);
    }
}

std::optional<std::string> read_regular(int fd, const std::string& what, size_t limit) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        return std::nullopt;
    }
    return read_fd(fd, what, limit, static_cast<size_t>(st.st_size));
}

std::string read(const std::string& path, size_t limit) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw_errno("cannot open " + path);
    }
    return read_fd(fd.get(), path, limit);
}

void write_all(int fd, std::string_view data, const std::string& what) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw_errno("cannot write " + what);
        }
        off += static_cast<size_t>(n);
    }
}

void write(const std::string& path, std::string_view content) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) {
        throw_errno("cannot create " + path);
    }
    write_all(fd.get(), content, path);
}

void write_whole(const std::string& path, std::string_view content) {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    try {
        write(tmp, content);
    } catch (const Error&) {
        ::unlink(tmp.c_str());
        throw;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        errno = err;
        throw_errno("cannot create " + path);
    }
}

Fd lock(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) {
        throw_errno("cannot create lock " + path);
    }
    while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) {
            throw_errno("cannot lock " + path);
        }
    }
    return fd;
}

void own_directory(const std::string& path, const std::string& what, const std::string& hint) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
        throw_errno(what + ": cannot create");
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        throw_errno(what);
    }
    if (!S_ISDIR(st.st_mode)) {
        throw Error(what + ": not a directory (a symlink or file is there)");
    }
    if (st.st_uid != ::getuid()) {
        throw Error(what + ": owned by uid " + std::to_string(st.st_uid) + ", not by you; " + hint);
    }
}

} // namespace husk::file
