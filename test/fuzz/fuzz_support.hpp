// What the fuzz harnesses share: a scratch tree per input with a canary
// beside it, checked after every input; the check that an error is one line.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::fuzz {

/// Removes `path` and everything below it (modes widened as needed),
/// without following symlinks. Harness code: failures are ignored.
inline void remove_all(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        ::chmod(path.c_str(), 0700);
        if (DIR* d = ::opendir(path.c_str())) {
            while (const dirent* e = ::readdir(d)) {
                if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
                    remove_all(path + "/" + e->d_name);
                }
            }
            ::closedir(d);
        }
        ::rmdir(path.c_str());
    } else {
        ::unlink(path.c_str());
    }
}

/// A scratch folder: DIR/root (the target), DIR/canary/keep (must stay as
/// it is whatever the input does), removed at the end of the input.
class Scratch {
  public:
    Scratch() {
        char tmpl[] = "/tmp/husk-fuzz.XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            std::abort();
        }
        dir_ = tmpl;
        ::mkdir((dir_ + "/root").c_str(), 0700);
        ::mkdir((dir_ + "/canary").c_str(), 0700);
        const int fd = ::open((dir_ + "/canary/keep").c_str(), O_WRONLY | O_CREAT, 0600);
        if (fd < 0 || ::write(fd, "canary", 6) != 6) {
            std::abort();
        }
        ::close(fd);
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() {
        check_canary();
        remove_all(dir_);
    }

    const std::string& dir() const { return dir_; }
    std::string root() const { return dir_ + "/root"; }

    /// Aborts (a finding) when anything beside the root was touched.
    void check_canary() const {
        DIR* d = ::opendir((dir_ + "/canary").c_str());
        int names = 0;
        while (d != nullptr && ::readdir(d) != nullptr) {
            ++names;
        }
        if (d != nullptr) {
            ::closedir(d);
        }
        char buf[16] = {};
        const int fd = ::open((dir_ + "/canary/keep").c_str(), O_RDONLY | O_NOFOLLOW);
        const ssize_t n = fd >= 0 ? ::read(fd, buf, sizeof buf) : -1;
        if (fd >= 0) {
            ::close(fd);
        }
        if (names != 3 || n != 6 || std::memcmp(buf, "canary", 6) != 0) {
            std::abort(); // written outside the target
        }
    }

  private:
    std::string dir_;
};

/// Aborts, a finding of `harness`, when the error message `what` is more
/// than one line: bad input gets one line of error, whatever bytes it
/// quotes (doc/design.md).
inline void expect_one_line(const char* harness, const char* what) {
    if (std::strchr(what, '\n') != nullptr) {
        std::fprintf(stderr, "%s: an error of more than one line: %s\n", harness, what);
        std::abort();
    }
}

/// A memfd holding `size` bytes of `data`, at offset 0 (the caller closes).
inline int memfd_of(const uint8_t* data, size_t size) {
    const int fd = ::memfd_create("husk-fuzz", MFD_CLOEXEC);
    if (fd < 0) {
        std::abort();
    }
    size_t done = 0;
    while (done < size) {
        const ssize_t w = ::write(fd, data + done, size - done);
        if (w <= 0) {
            std::abort();
        }
        done += static_cast<size_t>(w);
    }
    ::lseek(fd, 0, SEEK_SET);
    return fd;
}

} // namespace husk::fuzz
