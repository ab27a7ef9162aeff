#include "runtime/container.hpp"

#include "runtime/idmap.hpp"
#include "runtime/mounts.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/text.hpp"
#include "util/unix_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <linux/openat2.h>
#include <memory>
#include <optional>
#include <poll.h>
#include <sched.h>
#include <string_view>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

namespace husk::runtime {

namespace {

/// One message on the control socket (a SOCK_SEQPACKET pair); a peer that
/// is gone is no error here: each side notices by the socket's end.
void write_word(int fd, const std::string& word) {
    try {
        unix_socket::send(fd, word, {}, "the container's control socket");
    } catch (const Error&) {
    }
}

// The container's init shares husk's memory (clone(2) with CLONE_VM, as
// vfork(2) children do): no copy of husk's page tables at each start, and
// no copy-on-write faults afterwards, in either process. That is safe
// because the two never run husk's code at the same time: the holder waits
// on the control socket while init builds the root (init may allocate,
// throw, log), and once init has reported, it runs only the loop below,
// which touches nothing but its own stack, through raw system calls that
// leave errno (in the thread-local storage both share) alone. Where no raw
// system call is written for the architecture, init is a fork(2)ed copy.
#if defined(__x86_64__) || defined(__aarch64__)
constexpr bool kInitSharesMemory = true;

/// A system call without glibc's wrapper: returns -errno on failure and
/// writes no memory but what the call itself writes.
long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#else
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
#endif
}
#else
constexpr bool kInitSharesMemory = false;

long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
    const long r = ::syscall(n, a, b, c, d, e, f);
    return r == -1 ? -errno : r;
}
#endif

/// Sends `len` bytes of `text` (and the descriptor `fd`, if >= 0) on the
/// control socket, from memory the caller owns. A peer that is gone is no
/// error here: each side notices by the socket's end.
void report(int control, const char* text, size_t len, int fd) {
    struct iovec iov {
        const_cast<char*>(text), len
    };
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fd >= 0) {
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof cbuf;
        struct cmsghdr* cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    sys(SYS_sendmsg, control, reinterpret_cast<long>(&msg), MSG_NOSIGNAL);
}

/// The mount points build_root() made in a -w image for the host stage
/// (TransientPath), copied out of the heap before init reports, for
/// init_loop() to remove with raw system calls when the container ends.
struct TransientList {
    static constexpr size_t kMax = 256;
    static constexpr size_t kText = 32768;
    struct Entry {
        uint64_t dev, ino;
        uint32_t type;               ///< S_IFDIR, S_IFREG or S_IFLNK
        uint32_t path, parent, name; ///< offsets of NUL-terminated strings in `text`
    };
    Entry entries[kMax];
    size_t count;
    char text[kText];
    size_t used;
};
/// Set only where there are some: then its pages are touched, not before
/// (a first touch of a page is a page fault, on every start).
TransientList* g_transient = nullptr;

/// Copies `made` into g_transient; what does not fit is said and left.
void keep_transient(const std::vector<TransientPath>& made) {
    if (made.empty()) {
        return;
    }
    static TransientList storage;
    g_transient = &storage;
    auto& t = storage;
    auto add = [&t](std::string_view s) -> std::optional<uint32_t> {
        if (t.used + s.size() + 1 > TransientList::kText) {
            return std::nullopt;
        }
        const auto at = static_cast<uint32_t>(t.used);
        std::memcpy(t.text + t.used, s.data(), s.size());
        t.text[t.used + s.size()] = '\0';
        t.used += s.size() + 1;
        return at;
    };
    for (size_t i = 0; i < made.size(); ++i) {
        const std::string_view p = made[i].path;
        const size_t slash = p.rfind('/');
        const auto path = add(p);
        const auto parent = add(slash == 0 ? "/" : p.substr(0, slash));
        const auto name = add(p.substr(slash + 1));
        if (t.count == TransientList::kMax || !path || !parent || !name) {
            log::warn("the mount points husk made in the image from " + made[i].path +
                      " on are left there when the container ends (too many)");
            return;
        }
        t.entries[t.count++] = {made[i].dev, made[i].ino, made[i].type, *path, *parent, *name};
    }
}

/// Removes, newest first, each mount point in g_transient that is still
/// what build_root() made: unmounted, then unlinked where it is the same
/// inode, of the same type, an empty file or an empty folder. Its folder is
/// opened without following a symlink. Raw system calls only.
void remove_transient() {
    if (g_transient == nullptr) {
        return;
    }
    const auto& t = *g_transient;
    for (size_t i = t.count; i-- > 0;) {
        const auto& e = t.entries[i];
        sys(SYS_umount2, reinterpret_cast<long>(t.text + e.path), MNT_DETACH | UMOUNT_NOFOLLOW);
        struct open_how how {};
        how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
        how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        const long dir = sys(SYS_openat2, AT_FDCWD, reinterpret_cast<long>(t.text + e.parent),
                             reinterpret_cast<long>(&how), sizeof how);
        if (dir < 0) {
            continue;
        }
        struct stat st {};
        const char* name = t.text + e.name;
        if (sys(SYS_newfstatat, dir, reinterpret_cast<long>(name), reinterpret_cast<long>(&st),
                AT_SYMLINK_NOFOLLOW) == 0 &&
            st.st_dev == e.dev && st.st_ino == e.ino && (st.st_mode & S_IFMT) == e.type &&
            (e.type != S_IFREG || st.st_size == 0)) {
            sys(SYS_unlinkat, dir, reinterpret_cast<long>(name),
                e.type == S_IFDIR ? AT_REMOVEDIR : 0); // a folder not empty stays
        }
        sys(SYS_close, dir);
    }
}

/// init once it has reported: reaps every orphan until the holder says to
/// drain ("d": say "e" and end when no process is left), to kill ("k"), or
/// to pass a signal to all ("s<N>"), or goes away (end of file: kill all).
/// Raw system calls only, on this stack only (see kInitSharesMemory).
[[noreturn]] void init_loop(int control, int sfd) {
    bool draining = false;
    for (;;) {
        for (;;) {
            const long r = sys(SYS_wait4, -1, 0, WNOHANG, 0);
            if (r > 0) {
                continue;
            }
            if (r == -ECHILD && draining) {
                // Empty: say so before leaving, so that the holder need
                // not wait for this exit (the teardown of the namespaces
                // and mounts this process holds the last references to).
                remove_transient();
                report(control, "e", 1, -1);
                sys(SYS_exit_group, 0);
            }
            break;
        }
        struct pollfd fds[2] = {{control, POLLIN, 0}, {sfd, POLLIN, 0}};
        if (sys(SYS_ppoll, reinterpret_cast<long>(fds), 2, 0, 0, 0) < 0) {
            continue;
        }
        if (fds[1].revents != 0) {
            signalfd_siginfo info{};
            while (sys(SYS_read, sfd, reinterpret_cast<long>(&info), sizeof info) ==
                   static_cast<long>(sizeof info)) {
            }
        }
        if (fds[0].revents != 0) {
            char buf[64];
            const long n = sys(SYS_read, control, reinterpret_cast<long>(buf), sizeof buf - 1);
            if (n <= 0) {
                if (n == -EINTR) {
                    continue;
                }
                sys(SYS_kill, -1, SIGKILL); // the holder is gone
                remove_transient();
                sys(SYS_exit_group, 0);
            }
            if (buf[0] == 'd') {
                draining = true;
            } else if (buf[0] == 'k') {
                sys(SYS_kill, -1, SIGKILL);
                remove_transient();
                sys(SYS_exit_group, 0);
            } else if (buf[0] == 's') {
                long sig = 0;
                for (long i = 1; i < n && buf[i] >= '0' && buf[i] <= '9' && sig < 1000; ++i) {
                    sig = sig * 10 + (buf[i] - '0');
                }
                sys(SYS_kill, -1, sig);
            }
        }
    }
}

/// The container's init: pid 1 of its PID namespace. It builds the root
/// (its procfs can only be mounted from inside the namespace), then says
/// "ok" with a descriptor of the PID namespace, or the error, on `control`,
/// and runs init_loop(). It never execs: a few pages of husk, sleeping in
/// ppoll(2).
[[noreturn]] void init_main(const LaunchPlan& plan, const RootSource& src, const std::string& proc,
                            int control) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Nothing of the holder's but the control socket: a copy of its
    // listening socket, of its SquashFS lease or of the runtime folder's
    // lock here would keep them alive while this init dies after the
    // holder (a task would find the socket of a killed holder answering,
    // and leave it behind).
    close_all_but({control});
    pollfd alive{control, POLLIN, 0};
    if (::poll(&alive, 1, 0) > 0) { // the holder died before the prctl
        sys(SYS_exit_group, 1);
    }
    ::prctl(PR_SET_NAME, "husk-init");
    // The error, if any, is copied here: nothing of the heap may be in use
    // once the holder runs again.
    static constexpr size_t kMaxReport = 4096;
    char failure[kMaxReport];
    size_t failure_len = 0;
    int pidns = -1;
    try {
        // The PID namespace, for the holder to hand to joining tasks: its
        // pid_for_children link exists only once a child (this) does, and
        // the holder cannot see this process in the procfs mounted below.
        Fd pidns_fd(::open((proc + "/self/ns/pid").c_str(), O_RDONLY | O_CLOEXEC));
        if (!pidns_fd) {
            throw_errno("cannot open the container's PID namespace");
        }
        keep_transient(build_root(plan, src));
        pidns = pidns_fd.release();
    } catch (const Error& e) {
        std::string why = e.what();
        for (const auto& c : e.trail()) {
            why += "\n" + c;
        }
        failure_len = std::min(why.size(), kMaxReport);
        std::memcpy(failure, why.data(), failure_len);
    }
    if (pidns < 0) {
        report(control, failure, failure_len, -1);
        sys(SYS_exit_group, 1);
    }
    // Signals are taken from a signalfd: set up now, while the holder waits.
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    const int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    // From here on the holder may run: raw system calls only.
    report(control, "ok", 2, pidns);
    sys(SYS_close, pidns);
    init_loop(control, sfd);
}

/// What clone(2) hands init_entry(): all of it in the holder's memory,
/// read by init before it reports.
struct InitArgs {
    const LaunchPlan* plan;
    const RootSource* src;
    const std::string* proc;
    int control;
};

int init_entry(void* arg) {
    const auto* a = static_cast<const InitArgs*>(arg);
    init_main(*a->plan, *a->src, *a->proc, a->control);
}

Error namespaces_error(int err) {
    std::string hint;
    if (err == EPERM || err == ENOSPC || err == EINVAL) {
        hint = "; unprivileged user namespaces may be disabled here "
               "(see user.max_user_namespaces, kernel.unprivileged_userns_clone, "
               "kernel.apparmor_restrict_unprivileged_userns; run husk check)";
    }
    return Error("cannot create the container's user, mount and PID namespaces" + hint, err);
}

int exit_at_once(void*) {
    ::_exit(0);
}

void enter(int fd, int type, const char* what) {
    if (::setns(fd, type) != 0) {
        throw_errno(std::string("cannot enter the container's ") + what + " namespace");
    }
}

} // namespace

void check_namespaces() {
    // A child born in new namespaces that exits at once (clone(2) with
    // CLONE_VM|CLONE_VFORK: no copy of this process), where unshare(2)
    // here would change this process for good.
    constexpr size_t kStack = 16 * 1024;
    std::unique_ptr<char[]> stack(new char[kStack]);
    const pid_t child = ::clone(
        exit_at_once, stack.get() + kStack,
        CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_VM | CLONE_VFORK | SIGCHLD, nullptr);
    if (child < 0) {
        throw namespaces_error(errno);
    }
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
}

Container Container::create(const LaunchPlan& plan, const NodeContext& node) {
    Container c;
    RootSource src;
    std::string proc = "/proc";
    if (plan.image_kind == image::Kind::Squashfs) {
        log::Phase ph("SquashFS server");
        c.lease_ = attach_image_server(plan.image_path, RuntimeDir(node.runtime_dir), node.linger,
                                       node.fuse_cpu_limit, node.held_lock);
        if (::setns(c.lease_->userns.get(), CLONE_NEWUSER) != 0 ||
            ::setns(c.lease_->mntns.get(), CLONE_NEWNS) != 0) {
            throw_errno("cannot enter the namespaces of the SquashFS server of " + plan.image_path);
        }
        src.host = kServedHost;
        src.image_mount = kServedImage;
        proc = std::string(kServedHost) + "/proc";
    }
    {
        log::Phase ph("namespaces");
        if (::unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) != 0) {
            throw namespaces_error(errno);
        }
        write_id_maps(plan.ids, proc);
        // Now, while this procfs still shows this process: once init has
        // built the root, /proc is the container's, where the holder is not.
        const std::string ns = proc + "/self/ns/";
        c.userns_.reset(::open((ns + "user").c_str(), O_RDONLY | O_CLOEXEC));
        c.mntns_.reset(::open((ns + "mnt").c_str(), O_RDONLY | O_CLOEXEC));
        if (!c.userns_ || !c.mntns_) {
            throw_errno("cannot open the container's namespaces in " + ns);
        }
    }
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        throw_errno("cannot create the container's control socket");
    }
    c.control_.reset(pair[0]);
    Fd init_end(pair[1]);
    log::Phase ph("root and init");
    if constexpr (kInitSharesMemory) {
        // init's own stack (its frames must not land on ours, which goes
        // on running): 1 MiB of address space, touched pages only, with a
        // guard page below; never unmapped, init may outlive this frame.
        constexpr size_t kStack = 1 << 20;
        void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) {
            throw_errno("cannot map a stack for the container's init");
        }
        ::mprotect(stack, static_cast<size_t>(::sysconf(_SC_PAGESIZE)), PROT_NONE);
        InitArgs args{&plan, &src, &proc, init_end.get()};
        c.init_ =
            ::clone(init_entry, static_cast<char*>(stack) + kStack, CLONE_VM | SIGCHLD, &args);
    } else {
        c.init_ = ::fork();
        if (c.init_ == 0) {
            init_main(plan, src, proc, init_end.get());
        }
    }
    if (c.init_ < 0) {
        throw_errno("cannot start the container's init");
    }
    // Nothing that allocates until init has reported (it may be using the
    // heap we share): wait for its message in the kernel, then read it.
    init_end.reset();
    pollfd told{c.control_.get(), POLLIN, 0};
    while (::poll(&told, 1, -1) < 0 && errno == EINTR) {
    }
    unix_socket::Message ns = unix_socket::receive(c.control_.get(), "the container's init");
    if (ns.text == "ok" && ns.fds.size() == 1) {
        c.pidns_ = std::move(ns.fds[0]);
    }
    const std::string word = ns.text;
    if (!c.pidns_) {
        ::waitpid(c.init_, nullptr, 0);
        c.init_ = -1;
        if (word.empty()) {
            throw Error("the container's init ended while building the root");
        }
        // "what\ncontext\ncontext": the message, then its trail.
        const auto parts = text::split(word, '\n');
        Error e{std::string(parts.front())};
        for (size_t i = 1; i < parts.size(); ++i) {
            e.add_context(std::string(parts[i]));
        }
        throw e;
    }
    return c;
}

Container::Container(Container&& other) noexcept
    : lease_(std::move(other.lease_)), userns_(std::move(other.userns_)),
      mntns_(std::move(other.mntns_)), pidns_(std::move(other.pidns_)),
      control_(std::move(other.control_)), init_(std::exchange(other.init_, -1)) {}

Container::~Container() {
    if (init_ > 0) {
        kill_all();
    }
}

std::vector<int> Container::namespaces() const {
    return {userns_.get(), mntns_.get(), pidns_.get()};
}

void Container::kill_all() {
    if (init_ <= 0) {
        return;
    }
    write_word(control_.get(), "k");
    ::kill(init_, SIGKILL);
    // Every process of the container is dead now, but init's exit waits
    // until all of them are reaped (zap_pid_ns_processes()), and a task's
    // command whose task (outside the namespace) died is reaped by the
    // task's reaper, not by init: where that reaper is slow, or does not
    // reap at all (a container's pid 1 that is no init), init could wait
    // long. Wait a second at most; a process that leaves reparents its
    // children, init included, to the same reaper.
    for (int i = 0; i < 100; ++i) {
        const pid_t r = ::waitpid(init_, nullptr, WNOHANG);
        if (r == init_ || (r < 0 && errno != EINTR)) {
            break;
        }
        ::usleep(10'000);
    }
    init_ = -1;
}

void Container::wait_all(const BlockedSignals& signals) {
    if (init_ <= 0) {
        return;
    }
    write_word(control_.get(), "d");
    Fd sfd(::signalfd(-1, &signals.blocked(), SFD_CLOEXEC | SFD_NONBLOCK));
    for (;;) {
        // "e": the container is empty and init is leaving; its exit (the
        // teardown of the namespaces and mounts) is not waited for. End of
        // file: init died.
        pollfd fds[2] = {{control_.get(), POLLIN, 0}, {sfd.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            continue;
        }
        if (fds[0].revents != 0) {
            char word[8];
            const ssize_t n = ::recv(control_.get(), word, sizeof word, MSG_DONTWAIT);
            if (n >= 0 || (errno != EAGAIN && errno != EINTR)) {
                // Reaped later, by whoever reaps this process's orphans.
                init_ = -1;
                return;
            }
        }
        signalfd_siginfo info{};
        while (::read(sfd.get(), &info, sizeof info) == sizeof info) {
            const int sig = static_cast<int>(info.ssi_signo);
            if (sig != SIGCHLD && info.ssi_code != SI_KERNEL) {
                write_word(control_.get(), "s" + std::to_string(sig));
            }
        }
    }
}

void enter_container(const std::vector<Fd>& namespaces) {
    if (namespaces.size() != 3) {
        throw Error("the holder of the container sent " + std::to_string(namespaces.size()) +
                    " namespaces, not 3");
    }
    enter(namespaces[0].get(), CLONE_NEWUSER, "user");
    enter(namespaces[1].get(), CLONE_NEWNS, "mount");
    enter(namespaces[2].get(), CLONE_NEWPID, "PID");
}

std::string enter_cwd(const LaunchPlan& p) {
    if (::chdir(p.cwd.c_str()) == 0) {
        return p.cwd;
    }
    if (p.cwd_required) {
        throw_errno("--cd " + p.cwd + ": cannot enter it in the container");
    }
    log::info("starting in " + p.cwd_fallback + ": " + p.cwd + " does not exist in the container");
    if (::chdir(p.cwd_fallback.c_str()) == 0) {
        return p.cwd_fallback;
    }
    if (::chdir("/") != 0) {
        throw_errno("cannot enter / in the container");
    }
    return "/";
}

} // namespace husk::runtime
