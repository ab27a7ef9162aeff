#include "runtime/fuse_server.hpp"

#include "image/squashfs.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/text.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <limits>
#include <map>
#include <mutex>
#include <pthread.h>
#include <set>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <thread>
#include <unistd.h>
#include <vector>

#define FUSE_USE_VERSION 314
#include <fuse3/fuse_lowlevel.h>

namespace husk::runtime {

namespace {

using image::Squashfs;

// The image never changes while mounted: let the kernel keep what it got
// for as long as the mount lives (fuse(4): entry and attribute timeouts).
constexpr double kForever = 365.0 * 24 * 3600;

/// A worker thread, as the watchdog (FuseServer::watch()) sees it: which
/// request it serves. Written by its thread with two atomic stores per
/// request, no lock and no system call (the FUSE requests are the hot path).
struct Slot {
    pthread_t thread = ::pthread_self();
    std::atomic<const char*> op{"request"}; ///< "lookup", "read", ... of the latest
    std::atomic<uint64_t> served{0};        ///< odd while a request is served
};

/// What every worker thread shares: read-only once FUSE_INIT is answered
/// (the kernel sends nothing else before), but for the requests in flight.
struct Shared {
    int image_fd = -1;
    std::string name;
    Squashfs::InodeId root = 0;
    bool no_open = false;    ///< the kernel skips open/release after ENOSYS
    bool no_opendir = false; ///< the same for opendir/releasedir
    /// Decompressed blocks, shared by every thread's reader.
    image::BlockCache* blocks = nullptr;
    /// Test hook HUSK_TEST_FUSE_SPIN (doc/squashfs.md): a lookup of this
    /// name spins for ever, as a wedged reader would.
    std::string spin_name;
    int warn_fd = -1; ///< FuseServer::warn_to()
    std::mutex warn_mu;
    std::set<std::string> warned; ///< what was said there (each once)
    std::mutex slots_mu;
    std::set<Slot*> slots; ///< of the worker threads alive
};

/// This worker thread's slot, registered in `s` on its first request and
/// removed when the thread ends (libfuse ends idle workers), under
/// slots_mu, so every thread the watchdog finds there is alive.
Slot& my_slot(Shared& s) {
    struct Registered {
        Shared* shared;
        Slot slot;
        explicit Registered(Shared* sh) : shared(sh) {
            std::lock_guard<std::mutex> lock(shared->slots_mu);
            shared->slots.insert(&slot);
        }
        ~Registered() {
            std::lock_guard<std::mutex> lock(shared->slots_mu);
            shared->slots.erase(&slot);
        }
    };
    thread_local Registered r(&s); // one server per process: one Shared
    return r.slot;
}

/// Marks this worker thread busy with one request while it lives.
class Busy {
  public:
    Busy(fuse_req_t req, const char* op)
        : slot_(my_slot(*static_cast<Shared*>(fuse_req_userdata(req)))) {
        slot_.op.store(op, std::memory_order_relaxed);
        slot_.served.fetch_add(1, std::memory_order_release); // odd: busy
    }
    ~Busy() { slot_.served.fetch_add(1, std::memory_order_release); }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

  private:
    Slot& slot_;
};

/// What the watchdog remembers of each busy worker: the request it first
/// saw it serve, and the thread's CPU time then.
struct Sighting {
    uint64_t served = 0;
    double cpu = 0;
};

/// The first request seen to use more than `limit` seconds of its
/// thread's CPU time since the watchdog first saw it (so up to one look
/// more than the limit), as a line for the user; "" when none has.
/// `seen`: the watchdog's own record, kept between looks.
std::string overdue(Shared& s, uint32_t limit, std::map<Slot*, Sighting>& seen) {
    std::lock_guard<std::mutex> lock(s.slots_mu);
    std::map<Slot*, Sighting> now_seen;
    for (Slot* slot : s.slots) {
        const uint64_t served = slot->served.load(std::memory_order_acquire);
        clockid_t clock;
        timespec now{};
        if (served % 2 == 0 || ::pthread_getcpuclockid(slot->thread, &clock) != 0 ||
            ::clock_gettime(clock, &now) != 0) {
            continue;
        }
        const double cpu = static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
        const auto it = seen.find(slot);
        Sighting first{served, cpu};
        if (it != seen.end() && it->second.served == served) {
            first = it->second;
        }
        if (cpu - first.cpu > limit) {
            return std::string("a FUSE ") + slot->op.load(std::memory_order_relaxed) +
                   " request used more than " + std::to_string(limit) +
                   " s of CPU, the fuse_cpu_limit: a corrupt or crafted image?";
        }
        now_seen[slot] = first;
    }
    seen = std::move(now_seen);
    return "";
}

// Bytes of decompressed blocks kept for all threads: enough for a few
// hundred 64-128 KiB blocks, small next to a compute node's memory.
constexpr size_t kBlockCacheBytes = 64 << 20;

// FUSE node ids: the root must be FUSE_ROOT_ID (1); every other inode id
// (a position in the image, so unique) is shifted by 2 to keep clear of 0
// and 1. Stateless, so forget needs no bookkeeping and threads share nothing.
fuse_ino_t to_fuse(const Shared& s, Squashfs::InodeId id) {
    return id == s.root ? FUSE_ROOT_ID : static_cast<fuse_ino_t>(id + 2);
}
Squashfs::InodeId to_sqfs(const Shared& s, fuse_ino_t ino) {
    return ino == FUSE_ROOT_ID ? s.root : static_cast<Squashfs::InodeId>(ino - 2);
}

const Shared& shared(fuse_req_t req) {
    return *static_cast<Shared*>(fuse_req_userdata(req));
}

/// This worker thread's own reader (libsquashfuse's caches are not
/// thread-safe); nullptr if it cannot be opened (then requests get EIO).
Squashfs* reader(fuse_req_t req) {
    thread_local std::unique_ptr<Squashfs> fs;
    if (!fs) {
        const Shared& s = shared(req);
        try {
            fs = std::make_unique<Squashfs>(s.image_fd, s.name, s.blocks);
        } catch (const std::exception& e) {
            log::warn(std::string("SquashFS server: ") + e.what());
            return nullptr;
        }
    }
    return fs.get();
}

/// One line to the clients (FuseServer::warn_to()): `what` (for example
/// "reading the file of inode number 12") met a corrupt part of the image
/// and answered EIO. Each `what` once, the first kMaxWarnings of them.
void corrupt(fuse_req_t req, const std::string& what) {
    auto& s = *static_cast<Shared*>(fuse_req_userdata(req));
    std::lock_guard<std::mutex> lock(s.warn_mu);
    if (s.warn_fd < 0 || s.warned.size() >= FuseServer::kMaxWarnings ||
        !s.warned.insert(what).second) {
        return;
    }
    std::string line = text::one_line("image " + s.name + " is corrupt: " + what + " gave EIO");
    if (s.warned.size() == FuseServer::kMaxWarnings) {
        line += " (further ones are not reported)";
    }
    line += "\n";
    (void)::write(s.warn_fd, line.data(), line.size());
}

/// "of inode number N" for messages: the number `ls -i` shows in the
/// container, or "" when it cannot be read.
std::string numbered(Squashfs* fs, const Squashfs::Inode& in) {
    struct stat st {};
    return fs->stat(in, st) == 0 ? " of inode number " + std::to_string(st.st_ino) : "";
}

/// Reads the inode behind `ino` into `out`; on failure replies with the
/// error and returns false.
bool get_inode(fuse_req_t req, fuse_ino_t ino, Squashfs*& fs, Squashfs::Inode& out) {
    fs = reader(req);
    int err = fs == nullptr ? EIO : fs->inode(to_sqfs(shared(req), ino), out);
    if (err == EIO && fs != nullptr) {
        corrupt(req, "reading an inode");
    }
    if (err != 0) {
        fuse_reply_err(req, err);
        return false;
    }
    return true;
}

void op_init(void* userdata, struct fuse_conn_info* conn) {
    // Symlink targets are cached like pages; directory operations may run
    // in parallel (the image cannot change under them).
    // No open/opendir round trips (op_open answers ENOSYS once, the kernel
    // then keeps pages and listings cached as with keep_cache); listings
    // come with attributes (readdirplus), sparing a lookup per entry.
    for (unsigned cap :
         {FUSE_CAP_CACHE_SYMLINKS, FUSE_CAP_PARALLEL_DIROPS, FUSE_CAP_NO_OPEN_SUPPORT,
          FUSE_CAP_NO_OPENDIR_SUPPORT, FUSE_CAP_READDIRPLUS}) {
        if ((conn->capable & cap) != 0) {
            conn->want |= cap;
        }
    }
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO; // always plus: the attributes are cheap here
    auto& s = *static_cast<Shared*>(userdata);
    s.no_open = (conn->want & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
    s.no_opendir = (conn->want & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
    // Nothing in the image changes: never drop cached pages on an mtime check.
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Busy busy(req, "lookup");
    if (!shared(req).spin_name.empty() && shared(req).spin_name == name) {
        volatile unsigned long spins = 0;
        for (;;) {
            spins = spins + 1U; // a side effect: the loop may not be optimised away
        }
    }
    Squashfs* fs = nullptr;
    Squashfs::Inode dir, child;
    if (!get_inode(req, parent, fs, dir)) {
        return;
    }
    Squashfs::InodeId id = 0;
    int err = fs->lookup(dir, name, id);
    if (err == 0) {
        err = fs->inode(id, child);
    }
    struct fuse_entry_param e {};
    if (err == 0) {
        err = fs->stat(child, e.attr);
    }
    if (err == EIO) {
        corrupt(req, std::string("looking up \"") + name + "\" in the folder" + numbered(fs, dir));
    }
    if (err == ENOENT) {
        // A negative entry, cached as long as the positive ones.
        e.ino = 0;
        e.entry_timeout = kForever;
        fuse_reply_entry(req, &e);
        return;
    }
    if (err != 0) {
        fuse_reply_err(req, err);
        return;
    }
    e.ino = to_fuse(shared(req), id);
    e.attr_timeout = kForever;
    e.entry_timeout = kForever;
    fuse_reply_entry(req, &e);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
    Busy busy(req, "getattr");
    Squashfs* fs = nullptr;
    Squashfs::Inode in;
    if (!get_inode(req, ino, fs, in)) {
        return;
    }
    struct stat st {};
    int err = fs->stat(in, st);
    if (err != 0) {
        fuse_reply_err(req, err);
        return;
    }
    fuse_reply_attr(req, &st, kForever);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
    Busy busy(req, "readlink");
    Squashfs* fs = nullptr;
    Squashfs::Inode in;
    if (!get_inode(req, ino, fs, in)) {
        return;
    }
    std::string target;
    int err = fs->readlink(in, target);
    if (err == EIO) {
        corrupt(req, "reading the symlink" + numbered(fs, in));
    }
    if (err != 0) {
        fuse_reply_err(req, err);
        return;
    }
    fuse_reply_readlink(req, target.c_str());
}

// Opening keeps no state: reads fetch their inode from the metadata cache.
// Where the kernel offers FUSE_CAP_NO_OPEN_SUPPORT, ENOSYS here makes it
// stop sending open and release; elsewhere files open read-only with their
// pages kept across opens.
void op_open(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
        fuse_reply_err(req, EROFS);
        return;
    }
    if (shared(req).no_open) {
        fuse_reply_err(req, ENOSYS);
        return;
    }
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
}

void op_opendir(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
    if (shared(req).no_opendir) {
        fuse_reply_err(req, ENOSYS);
        return;
    }
    fi->keep_cache = 1;
    fi->cache_readdir = 1;
    fuse_reply_open(req, fi);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
    Busy busy(req, "read");
    Squashfs* fs = nullptr;
    Squashfs::Inode in;
    if (!get_inode(req, ino, fs, in)) {
        return;
    }
    thread_local std::vector<char> buf;
    if (buf.size() < size) {
        buf.resize(size);
    }
    size_t got = 0;
    int err = fs->read(in, static_cast<uint64_t>(off), size, buf.data(), got);
    if (err == EIO) {
        corrupt(req, "reading the file" + numbered(fs, in));
    }
    if (err != 0) {
        fuse_reply_err(req, err);
        return;
    }
    fuse_reply_buf(req, buf.data(), got);
}

/// readdir and readdirplus: the entries of `ino` from `off`, as many as fit
/// in `size` bytes; with `plus`, each with its attributes.
void list_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
    Busy busy(req, "readdir");
    Squashfs* fs = nullptr;
    Squashfs::Inode in;
    if (!get_inode(req, ino, fs, in)) {
        return;
    }
    std::vector<char> buf(size);
    size_t used = 0;
    const Shared& s = shared(req);
    int failed = 0;
    int err = fs->list(in, off, [&](const Squashfs::Entry& e) {
        struct fuse_entry_param p {};
        p.ino = to_fuse(s, e.id);
        p.attr.st_ino = p.ino;
        p.attr.st_mode = e.type;
        size_t need = 0;
        const auto next = static_cast<off_t>(e.next);
        if (plus) {
            Squashfs::Inode child;
            failed = fs->inode(e.id, child);
            if (failed == 0) {
                failed = fs->stat(child, p.attr);
            }
            if (failed != 0) {
                return false;
            }
            p.attr_timeout = kForever;
            p.entry_timeout = kForever;
            need = fuse_add_direntry_plus(req, buf.data() + used, size - used, e.name, &p, next);
        } else {
            need = fuse_add_direntry(req, buf.data() + used, size - used, e.name, &p.attr, next);
        }
        if (need > size - used) {
            return false; // the kernel asks again from this entry's offset
        }
        used += need;
        return true;
    });
    if (err == 0) {
        err = failed;
    }
    if (err == EIO) {
        corrupt(req, "listing the folder" + numbered(fs, in));
    }
    if (err != 0 && used == 0) {
        fuse_reply_err(req, err);
        return;
    }
    fuse_reply_buf(req, buf.data(), used);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
    list_dir(req, ino, size, off, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info*) {
    list_dir(req, ino, size, off, true);
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
    Busy busy(req, "statfs");
    Squashfs* fs = reader(req);
    if (fs == nullptr) {
        fuse_reply_err(req, EIO);
        return;
    }
    struct statvfs st {};
    st.f_bsize = st.f_frsize = fs->block_size();
    st.f_blocks = (fs->bytes_used() + fs->block_size() - 1) / fs->block_size();
    st.f_files = fs->inode_count();
    st.f_namemax = 256;
    fuse_reply_statfs(req, &st);
}

void op_forget(fuse_req_t req, fuse_ino_t, uint64_t) {
    fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t, struct fuse_forget_data*) {
    fuse_reply_none(req);
}

struct fuse_lowlevel_ops make_ops() {
    struct fuse_lowlevel_ops ops {};
    ops.init = op_init;
    ops.lookup = op_lookup;
    ops.getattr = op_getattr;
    ops.readlink = op_readlink;
    ops.open = op_open;
    ops.opendir = op_opendir;
    ops.read = op_read;
    ops.readdir = op_readdir;
    ops.readdirplus = op_readdirplus;
    ops.statfs = op_statfs;
    ops.forget = op_forget;
    ops.forget_multi = op_forget_multi;
    return ops;
}

} // namespace

struct FuseServer::Impl {
    Fd image;
    image::BlockCache blocks{kBlockCacheBytes};
    Shared shared;
    struct fuse_session* session = nullptr;
    std::thread loop;
    uint32_t cpu_limit = 0; ///< watch()'s
    Fd report;              ///< watch()'s
    void start_watchdog();
};

FuseServer::FuseServer(Fd image, std::string name) : impl_(std::make_unique<Impl>()) {
    impl_->shared.image_fd = image.get();
    impl_->shared.blocks = &impl_->blocks;
    impl_->shared.name = std::move(name);
    impl_->image = std::move(image);
    if (const char* spin = std::getenv("HUSK_TEST_FUSE_SPIN"); spin != nullptr) {
        impl_->shared.spin_name = spin;
    }
    // Check the image here, where an error still reaches the user as such,
    // rather than as EIO in the container.
    Squashfs probe(impl_->shared.image_fd, impl_->shared.name);
    impl_->shared.root = probe.root();
    Squashfs::Inode root;
    if (probe.inode(probe.root(), root) != 0) {
        throw Error(impl_->shared.name +
                    ": corrupt SquashFS image (cannot read the root directory)");
    }
}

FuseServer::~FuseServer() {
    // See the class comment: the loop's threads block in read(2) on
    // /dev/fuse until the mount namespace goes away with the process, so
    // they are let go rather than joined, and the session they use is kept.
    if (impl_->loop.joinable()) {
        impl_->loop.detach();
        (void)impl_.release();
    }
}

void FuseServer::mount_and_serve(Fd dev, const std::string& target, uint32_t uid, uint32_t gid) {
    // fuse(4) mount options: the fd of /dev/fuse, the root's file type, the
    // ids of the mounting user (in its namespace); default_permissions lets
    // the kernel check modes; allow_other admits every process of this user
    // namespace (the kernel admits no other).
    const std::string opts =
        "fd=" + std::to_string(dev.get()) + ",rootmode=40000,user_id=" + std::to_string(uid) +
        ",group_id=" + std::to_string(gid) + ",default_permissions,allow_other";
    if (::mount(impl_->shared.name.c_str(), target.c_str(), "fuse.husk",
                MS_RDONLY | MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
        throw_errno("cannot mount SquashFS image " + impl_->shared.name + " with FUSE on " +
                    target);
    }
    const char* argv[] = {"husk", nullptr};
    struct fuse_args args = FUSE_ARGS_INIT(1, const_cast<char**>(argv));
    const auto ops = make_ops();
    impl_->session = fuse_session_new(&args, &ops, sizeof ops, &impl_->shared);
    if (impl_->session == nullptr) {
        throw Error("cannot create a FUSE session for " + impl_->shared.name);
    }
    // "/dev/fd/N": libfuse takes the descriptor we mounted with and mounts
    // nothing itself (no fusermount3, no setuid helper).
    const std::string fd_name = "/dev/fd/" + std::to_string(dev.get());
    if (fuse_session_mount(impl_->session, fd_name.c_str()) != 0) {
        throw Error("cannot attach the FUSE session to " + fd_name);
    }
    (void)dev.release(); // the session owns it now
    impl_->loop = std::thread([session = impl_->session] {
        struct fuse_loop_config* cfg = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(cfg, 0);
        fuse_loop_cfg_set_idle_threads(cfg, 4);
        fuse_session_loop_mt(session, cfg);
        fuse_loop_cfg_destroy(cfg);
    });
    impl_->start_watchdog();
}

void FuseServer::warn_to(int fd) {
    impl_->shared.warn_fd = fd;
}

void FuseServer::watch(uint32_t cpu_limit_s, int report_fd) {
    impl_->cpu_limit = cpu_limit_s;
    impl_->report.reset(report_fd);
}

void FuseServer::Impl::start_watchdog() {
    if (cpu_limit == 0 || !report) {
        return;
    }
    // Detached: it runs until the process ends, like the session's threads
    // (see the destructor), and only reads the shared table under its lock.
    // Started after the namespaces: unshare(CLONE_NEWUSER) refuses a
    // process with more than one thread.
    std::thread([s = &shared, limit = cpu_limit, fd = report.release()] {
        std::map<Slot*, Sighting> seen;
        for (;;) {
            ::usleep(250 * 1000);
            std::string why = overdue(*s, limit, seen);
            if (why.empty()) {
                continue;
            }
            why += "\n";
            (void)::write(fd, why.data(), why.size());
            ::sleep(2);
            ::_exit(1);
        }
    }).detach();
}

std::string fuse_library_version() {
    const int v = fuse_version();
    return "libfuse " + std::to_string(v / 100) + "." +
           std::to_string(v % 100); // FUSE_MAKE_VERSION
}

Fd open_fuse_device(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd) {
        int err = errno;
        throw Error("cannot open /dev/fuse, which SquashFS images need" +
                        std::string(err == EACCES
                                        ? " (the host has it 0600; ask the admins for 0666, "
                                          "as Debian ships it, or unpack the image)"
                                        : ""),
                    err);
    }
    return fd;
}

} // namespace husk::runtime
