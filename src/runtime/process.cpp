#include "runtime/process.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace husk::runtime {

namespace {

std::vector<char*> c_strings(const std::vector<std::string>& v) {
    std::vector<char*> out;
    out.reserve(v.size() + 1);
    for (const auto& s : v) {
        out.push_back(const_cast<char*>(s.c_str()));
    }
    out.push_back(nullptr);
    return out;
}

void write_all(int fd, const char* s, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, s, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) {
                continue;
            }
            return;
        }
        s += w;
        n -= static_cast<size_t>(w);
    }
}

/// What the child needs, prepared by the parent before clone(2).
struct ChildArgs {
    pid_t parent; ///< what getppid() returns while husk lives (0 across PID namespaces)
    sigset_t mask;
    char* const* argv;
    char* const* envp;
    const std::vector<std::string>* candidates;
    const std::string* shown;
};

/// Runs in the child, which shares husk's memory (CLONE_VM|CLONE_VFORK) until
/// it execs: only async-signal-safe calls, no allocation, no writes to shared
/// data. Never returns.
[[noreturn]] void exec_child(const ChildArgs& a) {
    const pid_t parent = a.parent;
    const sigset_t& mask = a.mask;
    char* const* argv = a.argv;
    char* const* envp = a.envp;
    const std::vector<std::string>& candidates = *a.candidates;
    const std::string& shown = *a.shown;
    // Die with husk: a SIGKILL of husk (Slurm's last word) must not leave the
    // command running. PDEATHSIG is kept across execve(2) of non-setuid files.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) { // husk died before the prctl
        ::_exit(exit_code::kHuskFailed);
    }
    ::sigprocmask(SIG_SETMASK, &mask, nullptr);
    int err = ENOENT;
    bool denied = false;
    for (const auto& c : candidates) {
        ::execve(c.c_str(), argv, envp);
        err = errno;
        if (err == EACCES) {
            denied = true;
        } else if (err != ENOENT && err != ENOTDIR) {
            break;
        }
    }
    if (denied && (err == ENOENT || err == ENOTDIR)) {
        err = EACCES;
    }
    const bool missing = err == ENOENT || err == ENOTDIR;
    const char* why = missing ? "command not found" : ::strerrordesc_np(err);
    const char* prefix = "husk: error: cannot execute ";
    write_all(2, prefix, std::strlen(prefix));
    write_all(2, shown.data(), shown.size());
    write_all(2, ": ", 2);
    write_all(2, why, std::strlen(why));
    write_all(2, "\n", 1);
    ::_exit(missing ? exit_code::kNotFound : exit_code::kCannotExecute);
}

int child_main(void* arg) {
    exec_child(*static_cast<const ChildArgs*>(arg));
}

} // namespace

int exit_status_of(int status) {
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return exit_code::kSignalBase + WTERMSIG(status);
    }
    return exit_code::kHuskFailed;
}

std::vector<std::string> exec_candidates(const std::string& argv0, const std::string& path) {
    if (argv0.find('/') != std::string::npos) {
        return {argv0};
    }
    std::string p = path.empty() ? "/usr/bin:/bin" : path;
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= p.size()) {
        size_t j = p.find(':', i);
        if (j == std::string::npos) {
            j = p.size();
        }
        std::string dir = p.substr(i, j - i);
        out.push_back((dir.empty() ? std::string(".") : dir) + "/" + argv0);
        i = j + 1;
    }
    return out;
}

BlockedSignals::BlockedSignals() {
    sigemptyset(&set_);
    for (int sig : kForwardedSignals) {
        sigaddset(&set_, sig);
    }
    sigaddset(&set_, SIGCHLD);
    if (::pthread_sigmask(SIG_BLOCK, &set_, &old_) != 0) {
        throw Error("cannot block signals");
    }
}

BlockedSignals::~BlockedSignals() {
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

int run_command(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                const BlockedSignals& signals, const CommandOptions& options) {
    std::string path;
    for (const auto& e : env) {
        if (e.rfind("PATH=", 0) == 0) {
            path = e.substr(5);
        }
    }
    // Everything the child needs is prepared before clone(): it must not
    // allocate.
    const auto candidates = exec_candidates(argv.at(0), path);
    auto cargv = c_strings(argv);
    auto cenv = c_strings(env);
    // clone(CLONE_VM|CLONE_VFORK), as posix_spawn(3) does: no page tables
    // to copy and no copy-on-write faults afterwards; husk resumes once the
    // child has exec'd or failed. posix_spawn itself cannot set PDEATHSIG.
    ChildArgs args{options.new_pid_ns ? 0 : ::getpid(),
                   signals.previous(),
                   cargv.data(),
                   cenv.data(),
                   &candidates,
                   &argv[0]};
    // Not zeroed: only the pages the child touches are ever faulted in.
    constexpr size_t kChildStack = 64 * 1024;
    std::unique_ptr<char[]> stack(new char[kChildStack]);
    const pid_t child =
        ::clone(child_main, stack.get() + kChildStack, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    if (child < 0) {
        throw_errno("cannot start the command");
    }
    return wait_command(child, signals, options);
}

int wait_command(pid_t child, const BlockedSignals& signals, const CommandOptions& options) {
    Fd sfd(::signalfd(-1, &signals.blocked(), SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sfd) {
        ::kill(child, SIGKILL);
        int st = 0;
        while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
        }
        throw_errno("cannot create a signalfd");
    }
    // Signals are taken synchronously from a signalfd(2): no handler runs
    // at an awkward moment, and none is lost between clone and wait.
    for (;;) {
        int st = 0;
        const pid_t r = ::waitpid(child, &st, WNOHANG);
        if (r == child) {
            return exit_status_of(st);
        }
        if (r < 0 && errno != EINTR) {
            throw_errno("cannot wait for the command");
        }
        pollfd fds[2] = {{sfd.get(), POLLIN, 0}, {options.watch_fd, POLLIN, 0}};
        if (::poll(fds, options.watch_fd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno("poll");
        }
        if (options.watch_fd >= 0 && fds[1].revents != 0) {
            ::kill(child, SIGKILL);
            while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
            }
            // A server that stopped on purpose said why (one line).
            char why[512];
            const ssize_t n = ::recv(options.watch_fd, why, sizeof why, MSG_DONTWAIT);
            std::string said = n > 0 ? std::string(why, static_cast<size_t>(n)) : "";
            said = said.substr(0, said.find('\n'));
            throw Error(options.watch_what + (said.empty() ? " ended" : " stopped (" + said + ")") +
                        " while the command ran; it was killed");
        }
        signalfd_siginfo info{};
        while (::read(sfd.get(), &info, sizeof info) == sizeof info) {
            const int sig = static_cast<int>(info.ssi_signo);
            // A signal the kernel sent on behalf of the terminal (Ctrl-C,
            // Ctrl-\) already reached the command, which shares husk's
            // process group; passing it on would deliver it twice. Anything
            // sent with kill(2) (Slurm, mpirun, a user) is forwarded.
            if (sig == SIGCHLD || info.ssi_code == SI_KERNEL) {
                continue;
            }
            ::kill(child, sig);
        }
    }
}

} // namespace husk::runtime
