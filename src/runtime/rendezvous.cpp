#include "runtime/rendezvous.hpp"

#include "util/error.hpp"
#include "util/file.hpp"
#include "util/unix_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace husk::runtime {

RuntimeDir::RuntimeDir(std::string path) : path_(std::move(path)) {
    file::own_directory(path_, "runtime folder " + path_,
                        "set HUSK_RUNTIME_DIR to a folder of yours");
    fd_.reset(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd_) {
        throw_errno("cannot open the runtime folder " + path_);
    }
}

// A new open file description of the folder (not a dup), so that this
// lock is this Lock's own.
RuntimeDir::Lock::Lock(const RuntimeDir& dir)
    : fd_(::openat(dir.fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (!fd_) {
        throw_errno("cannot open the runtime folder " + dir.path());
    }
    while (::flock(fd_.get(), LOCK_EX) != 0) {
        if (errno != EINTR) {
            throw_errno("cannot lock the runtime folder " + dir.path());
        }
    }
}

void RuntimeDir::Lock::release() noexcept {
    if (fd_) {
        ::flock(fd_.get(), LOCK_UN);
        fd_.reset();
    }
}

void RuntimeDir::remove_if_stale(const std::string& name) const noexcept {
    try {
        Lock lock(*this);
        // connect(2) takes a path: a relative one, from the folder itself.
        Fd here(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!here || ::fchdir(fd_.get()) != 0) {
            return;
        }
        const Fd c = unix_socket::connect_to(name);
        if (::fchdir(here.get()) != 0) {
            return;
        }
        bool stale = !c;
        if (c) {
            // A listener whose owner was just killed may still take a
            // connection for a moment: the kernel releases an exiting
            // process's files in no set order, so a task can see its own
            // connection end before the listener goes. A connection to
            // such a listener ends with it; a live server waits for our
            // first message and never ends it.
            pollfd p{c.get(), POLLIN, 0};
            stale = ::poll(&p, 1, kStaleWaitMs) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
        }
        if (stale) {
            ::unlinkat(fd_.get(), name.c_str(), 0);
        }
    } catch (const Error&) {
    }
}

bool ready_to_leave(int dir_fd, int listener) {
    if (::flock(dir_fd, LOCK_EX | LOCK_NB) != 0) {
        return false;
    }
    pollfd waiting{listener, POLLIN, 0};
    if (::poll(&waiting, 1, 0) == 0) {
        return true;
    }
    ::flock(dir_fd, LOCK_UN);
    return false;
}

void spawn_server(const std::string& what, const std::vector<int>& keep,
                  const std::function<void(int ready_fd)>& serve) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        throw_errno("cannot create a pipe for " + what);
    }
    Fd read_end(pipe_fds[0]);
    Fd write_end(pipe_fds[1]);
    const pid_t middle = ::fork();
    if (middle < 0) {
        throw_errno("cannot start " + what);
    }
    if (middle == 0) {
        // The middle process: a new session, so that no terminal or job
        // control signal meant for the caller reaches the server, then the
        // server itself, reparented away from the caller when this exits.
        ::setsid();
        const pid_t server = ::fork();
        if (server != 0) {
            ::_exit(server < 0 ? 1 : 0);
        }
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        int null = ::open("/dev/null", O_RDWR);
        if (null >= 0) {
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::dup2(null, 2);
        }
        std::vector<int> kept = keep;
        kept.push_back(write_end.get());
        close_all_but(kept);
        try {
            serve(write_end.get());
        } catch (const std::exception& e) {
            report_ready(write_end.get(), e.what());
        }
        ::_exit(1);
    }
    write_end.reset();
    int status = 0;
    while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
    }
    // One line: processes the server forks before it is ready may hold
    // the pipe open longer, so the end of the line, not of the pipe, counts.
    std::string word;
    char buf[1024];
    while (word.find('\n') == std::string::npos) {
        ssize_t n = ::read(read_end.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        word.append(buf, static_cast<size_t>(n));
    }
    word = word.substr(0, word.find('\n'));
    if (word == kReady) {
        return;
    }
    if (word.empty()) {
        throw Error(what + " ended before it was ready");
    }
    throw Error(word);
}

void report_ready(int ready_fd, const std::string& error) {
    std::string word = error.empty() ? kReady : error;
    std::replace(word.begin(), word.end(), '\n', ' ');
    word += '\n';
    try {
        file::write_all(ready_fd, word, "the spawner's pipe");
    } catch (const Error&) {
        // the spawner is gone: nobody to tell
    }
    ::close(ready_fd);
}

} // namespace husk::runtime
