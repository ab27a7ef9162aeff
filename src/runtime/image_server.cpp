#include "runtime/image_server.hpp"

#include "runtime/fuse_server.hpp"
#include "runtime/idmap.hpp"
#include "util/error.hpp"
#include "util/text.hpp"
#include "util/unix_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace husk::runtime {

namespace {

void must(int rc, const std::string& what) {
    if (rc != 0) {
        throw_errno(what);
    }
}

/// The server's mount namespace: a tmpfs root with the host's root at
/// /host (moved there by pivot_root(2), so the host's /tmp stays visible
/// under it) and empty /img and /tmp for the image and for the staging
/// tmpfs of containers.
void enter_served_root() {
    // A slave of the host's mounts: later host mounts (an automounted home)
    // still arrive; nothing goes back.
    must(::mount("none", "/", nullptr, MS_REC | MS_SLAVE, nullptr),
         "cannot make the server's mount namespace a slave of the host's");
    must(::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"),
         "cannot mount the server's tmpfs");
    for (const char* d : {"/tmp/host", "/tmp/img", "/tmp/tmp"}) {
        must(::mkdir(d, 0755), std::string("cannot create ") + d);
    }
    must(::chdir("/tmp"), "cannot enter the server's tmpfs");
    must(static_cast<int>(::syscall(SYS_pivot_root, ".", "host")),
         "cannot pivot_root into the server's tmpfs");
    must(::chdir("/"), "cannot enter /");
}

[[noreturn]] void serve_image(const std::string& image_path, const std::string& dir_path,
                              const std::string& name, uint32_t linger, uint32_t cpu_limit,
                              int ready, int lock_fd) {
    ::prctl(PR_SET_NAME, "husk-sqfs");
    Fd image(::open(image_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!image) {
        throw_errno("image " + image_path + ": cannot open");
    }
    FuseServer server(std::move(image), image_path); // checks the image
    // The watchdog says on this pipe why the server must stop (a wedged
    // request); the loop below tells every client, then leaves.
    int wedge[2];
    if (::pipe2(wedge, O_CLOEXEC) != 0) {
        throw_errno("cannot make the SquashFS server's watchdog pipe");
    }
    const Fd wedged(wedge[0]);
    server.watch(cpu_limit, wedge[1]);
    // Its warnings (a corrupt block, read as EIO), for every client to show
    // on its own stderr: this process's is /dev/null.
    const Fd warnings(::memfd_create("husk-sqfs-warnings", MFD_CLOEXEC));
    if (!warnings) {
        throw_errno("cannot make the SquashFS server's warning file");
    }
    server.warn_to(warnings.get());
    Fd dir(::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        throw_errno("cannot open the runtime folder " + dir_path);
    }
    Fd listener = unix_socket::listen_at(dir_path + "/" + name);
    const uint32_t uid = ::getuid();
    const uint32_t gid = ::getgid();
    Fd userns, mntns;
    try {
        must(::unshare(CLONE_NEWUSER | CLONE_NEWNS),
             "cannot create the SquashFS server's user and mount namespaces");
        write_id_maps({{uid, uid, 1}, {gid, gid, 1}});
        enter_served_root();
        server.mount_and_serve(open_fuse_device(std::string(kServedHost) + "/dev/fuse"),
                               kServedImage, uid, gid);
        const std::string proc = std::string(kServedHost) + "/proc/self/ns/";
        userns.reset(::open((proc + "user").c_str(), O_RDONLY | O_CLOEXEC));
        mntns.reset(::open((proc + "mnt").c_str(), O_RDONLY | O_CLOEXEC));
        if (!userns || !mntns) {
            throw_errno("cannot open the SquashFS server's namespaces");
        }
    } catch (...) {
        ::unlinkat(dir.get(), name.c_str(), 0); // no socket of a server that never served
        throw;
    }
    report_ready(ready);
    ::close(lock_fd); // the spawner's lock: it lets go when it has connected

    std::vector<Fd> clients;
    int linger_ms = static_cast<int>(linger) * 1000;
    int wait_ms = linger_ms;
    for (;;) {
        std::vector<pollfd> fds{{listener.get(), POLLIN, 0}, {wedged.get(), POLLIN, 0}};
        for (const auto& c : clients) {
            fds.push_back({c.get(), POLLIN, 0});
        }
        const int n = ::poll(fds.data(), fds.size(), clients.empty() ? wait_ms : -1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0 && clients.empty()) {
            // Nobody for `linger` seconds: leave, unless somebody is just
            // connecting. Clients connect under the folder's lock only; one
            // holding it now may be about to connect, so look again soon.
            if (!ready_to_leave(dir.get(), listener.get())) {
                wait_ms = 20;
                continue;
            }
            ::unlinkat(dir.get(), name.c_str(), 0);
            ::_exit(0);
        }
        wait_ms = linger_ms;
        if (fds[1].revents != 0) {
            // A wedged request: each client hears why, then the exit ends
            // the FUSE connection (the kernel aborts it when /dev/fuse
            // closes), so no reader waits on this server any longer.
            char why[512];
            const ssize_t got = ::read(wedged.get(), why, sizeof why);
            for (const auto& c : clients) {
                (void)::send(c.get(), why, got > 0 ? static_cast<size_t>(got) : 0,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            }
            ::unlinkat(dir.get(), name.c_str(), 0);
            ::_exit(1);
        }
        for (size_t i = fds.size(); i-- > 2;) {
            if (fds[i].revents != 0) {
                // A lease ends with its connection (a client sends nothing
                // after attaching).
                clients.erase(clients.begin() + static_cast<long>(i - 2));
            }
        }
        if ((fds[0].revents & POLLIN) != 0) {
            Fd c = unix_socket::accept_one(listener.get());
            if (!c) {
                continue;
            }
            try {
                if (unix_socket::peer_uid(c.get()) != uid) {
                    continue; // another user: the folder is 0700, so never
                }
                // "attach SECONDS": a client may ask for a longer linger
                // than the server was started with (a job script's --linger
                // finds a server another run started).
                const auto m = unix_socket::receive(c.get(), "a client");
                if (m.text.rfind("attach ", 0) == 0) {
                    const long asked = std::strtol(m.text.c_str() + 7, nullptr, 10);
                    if (asked > 0 && asked <= 7 * 24 * 3600) {
                        linger_ms = std::max(linger_ms, static_cast<int>(asked) * 1000);
                    }
                }
                // "attach SECONDS warnings": the client reads the warning
                // file too (a husk before it would refuse a third fd).
                std::vector<int> lent{userns.get(), mntns.get()};
                if (m.text.find(" warnings") != std::string::npos) {
                    lent.push_back(warnings.get());
                }
                unix_socket::send(c.get(), "ok", lent, "a client");
                clients.push_back(std::move(c));
            } catch (const Error&) {
                // that client is gone; the others are served on
            }
        }
    }
}

} // namespace

ImageLease attach_image_server(const std::string& image_path, const RuntimeDir& dir,
                               uint32_t linger, uint32_t fuse_cpu_limit, int held_lock) {
    struct stat st {};
    if (::stat(image_path.c_str(), &st) != 0) {
        throw_errno("image " + image_path);
    }
    const std::string name =
        "sqfs-" +
        text::hash_hex(image_path + '\0' + std::to_string(st.st_dev) + ':' +
                       std::to_string(st.st_ino) + ':' + std::to_string(st.st_size) + ':' +
                       std::to_string(st.st_mtim.tv_sec) + '.' +
                       std::to_string(st.st_mtim.tv_nsec)) +
        ".sock";
    const std::string path = dir.socket(name);
    std::optional<RuntimeDir::Lock> lock;
    if (held_lock < 0) {
        lock.emplace(dir);
    }
    Fd c = unix_socket::connect_to(path);
    if (!c) {
        ::unlink(path.c_str()); // a server that was killed left it
        const int lock_fd = lock ? lock->fd() : held_lock;
        spawn_server("the SquashFS server of " + image_path, {lock_fd}, [&](int ready) {
            serve_image(image_path, dir.path(), name, linger, fuse_cpu_limit, ready, lock_fd);
        });
        c = unix_socket::connect_to(path);
        if (!c) {
            throw Error("the SquashFS server of " + image_path + " started but does not answer");
        }
    }
    if (unix_socket::peer_uid(c.get()) != ::getuid()) {
        throw Error("the socket " + path + " belongs to another user");
    }
    const std::string what = "the SquashFS server of " + image_path;
    unix_socket::send(c.get(), "attach " + std::to_string(linger) + " warnings", {}, what);
    unix_socket::Message m = unix_socket::receive(c.get(), what);
    // A server of an earlier husk (still lingering after an upgrade) does
    // not know "warnings" and sends no warning file: nothing to show.
    if (m.text != "ok" || m.fds.size() < 2 || m.fds.size() > 3) {
        throw Error(what + " refused: " + (m.text.empty() ? "it closed the connection" : m.text));
    }
    if (lock) {
        lock->release();
    }
    Fd warnings = m.fds.size() == 3 ? std::move(m.fds[2]) : Fd();
    return {name, std::move(c), std::move(m.fds[0]), std::move(m.fds[1]), std::move(warnings)};
}

} // namespace husk::runtime
