#include "runtime/mounts.hpp"

#include "runtime/mount_attrs.hpp"
#include "runtime/overlay_upper.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"
#include "util/log.hpp"
#include "util/path.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/mount.h>
#include <optional>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace husk::runtime {

namespace {

// Layout of the staging tmpfs, which is the root while the container's root
// is being assembled.
constexpr const char* kStageMount = "/tmp"; // where the staging tmpfs is mounted first
constexpr const char* kOldRoot = "/oldroot";
constexpr const char* kNewRoot = "/newroot";
constexpr const char* kFiles = "/files";     // generated files (passwd, group)
constexpr const char* kOverlay = "/overlay"; // the overlay's upper and work (or --overlay-dir)

constexpr size_t kMaxAccountFile = 16 << 20; // bytes read from an image's passwd/group

void sys_mount(const std::string& source, const std::string& target, const char* type,
               unsigned long flags, const char* data, const std::string& what) {
    if (::mount(source.c_str(), target.c_str(), type, flags, data) != 0) {
        throw_errno(what);
    }
}

void sys_mkdir(const std::string& path, mode_t mode) {
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
        throw_errno("cannot create staging directory " + path);
    }
}

Fd open_dir(const std::string& path, int flags = O_PATH) {
    Fd fd(::open(path.c_str(), flags | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        throw_errno("cannot open " + path);
    }
    return fd;
}

/// The image's regular file open for reading at `fd`, whole (at most
/// kMaxAccountFile).
std::string read_image_regular(int fd, const std::string& what) {
    std::optional<std::string> text =
        file::read_regular(fd, what + " in the image", kMaxAccountFile);
    if (!text) {
        throw Error(what + " in the image is not a regular file");
    }
    return std::move(*text);
}

/// The file `target` of the tree at `root_fd` (resolved inside it), whole;
/// nullopt when it does not exist. One openat2(2) where no symlink is on
/// the way; else resolve_in_root() and a reopen of its O_PATH descriptor
/// through `proc`'s magic link, so the file read is the one resolved.
std::optional<std::string> read_small_file(int root_fd, const std::string& target,
                                           const std::string& proc) {
    path::Probed probed =
        path::probe_exact(root_fd, target, path::Last::Follow, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (probed.state == path::Probe::Exact) {
        return read_image_regular(probed.fd.get(), target);
    }
    if (probed.state == path::Probe::Missing) {
        return std::nullopt;
    }
    path::Resolved r = path::resolve_in_root(root_fd, target);
    if (!r.missing.empty()) {
        return std::nullopt;
    }
    Fd fd(::open(path::fd_path(r.fd.get(), proc).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
        throw_errno("cannot open " + target);
    }
    return read_image_regular(fd.get(), target);
}

/// A mount target opened inside the new root, with its path there.
struct Target {
    Fd fd;
    std::string path; ///< inside the new root, for messages
};

class RootBuilder {
  public:
    RootBuilder(const LaunchPlan& p, const RootSource& src)
        : p_(p), src_(src), host_(std::string(kOldRoot) + (src.host == "/" ? "" : src.host)),
          proc_(host_ + "/proc") {}

    /// The mount points build() made in a -w image (build_root()).
    std::vector<TransientPath> transient() { return std::move(transient_); }

    void build() {
        {
            log::Phase ph("mount: staging root");
            make_mounts_slave();
            enter_staging_root();
        }
        {
            log::Phase ph("mount: image root");
            mount_image_root();
        }
        {
            log::Phase ph("mount: binds");
            for (size_t i = 0; i < p_.mounts.size(); ++i) {
                const MountOp& op = p_.mounts[i];
                if (std::binary_search(in_layer_.begin(), in_layer_.end(), i)) {
                    continue; // written whole in the mount-point layer
                }
                try {
                    log::Phase step(op.what, log::Level::Debug);
                    apply(op);
                } catch (Error& e) {
                    throw e.add_context("while mounting " + op.what);
                }
            }
        }
        {
            log::Phase ph("pivot_root");
            enter_new_root();
        }
    }

  private:
    // Nothing mounted here may reach the host's mount table: slave receives
    // the host's later mounts (an automounted /home) but sends none back.
    void make_mounts_slave() {
        sys_mount("none", "/", nullptr, MS_REC | MS_SLAVE, nullptr,
                  "cannot make the mount namespace a slave of the host's");
    }

    void enter_staging_root() {
        sys_mount("tmpfs", kStageMount, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700",
                  std::string("cannot mount the staging tmpfs on ") + kStageMount);
        for (const char* d : {kOldRoot, kNewRoot, kFiles, kOverlay}) {
            sys_mkdir(std::string(kStageMount) + d, 0700);
        }
        if (::chdir(kStageMount) != 0) {
            throw_errno(std::string("cannot enter ") + kStageMount);
        }
        // pivot_root(2): the staging tmpfs becomes "/", the host's root moves
        // to /oldroot, where every host path stays reachable for binding.
        if (::syscall(SYS_pivot_root, ".", &kOldRoot[1]) != 0) {
            throw_errno("cannot pivot_root into the staging tmpfs");
        }
        if (::chdir("/") != 0) {
            throw_errno("cannot enter the staging root");
        }
        old_root_ = open_dir(host_);
    }

    /// Where the image itself is, to bind or to put under an overlay: an
    /// O_PATH descriptor of the host directory, or of the SquashFS server's
    /// FUSE mount (src_.image_mount, in the server's namespace we copied).
    Fd image_source() {
        if (p_.image_kind == image::Kind::Squashfs) {
            if (src_.image_mount.empty()) {
                throw Error("no SquashFS server for image " + p_.image_path);
            }
            return open_dir(std::string(kOldRoot) + src_.image_mount);
        }
        path::Resolved img = path::resolve_in_root(old_root_.get(), p_.image_path);
        if (!img.missing.empty()) {
            throw Error("image " + p_.image_path + " disappeared", ENOENT);
        }
        return std::move(img.fd);
    }

    void mount_image_root() {
        Fd img = image_source();
        switch (p_.root_mode) {
        case RootMode::ReadOnly:
            if (p_.mount_point_layer) {
                mount_layered_root(img.get());
                break;
            }
            [[fallthrough]];
        case RootMode::Writable: {
            uint64_t flags = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
            if (p_.root_mode == RootMode::ReadOnly) {
                flags |= MOUNT_ATTR_RDONLY;
            }
            if (Fd at = open_dir(kNewRoot); attach_clone(img.get(), at.get(), flags)) {
                break;
            }
            sys_mount(path::fd_path(img.get(), proc_), kNewRoot, nullptr, MS_BIND | MS_REC, nullptr,
                      "cannot bind image " + p_.image_path);
            Fd root = open_dir(kNewRoot);
            mount_setattr_fd(root.get(), flags, "image " + p_.image_path, p_.legacy_mounts, proc_);
            break;
        }
        case RootMode::Overlay: {
            // The upper layer and its work folder are on the staging tmpfs
            // (one mount fewer), unless the user gave a folder for them.
            if (!p_.overlay_dir.empty()) {
                // The user's folder, found without following a symlink
                // the user could swap in below the runtime folder.
                path::Resolved dir = path::resolve_in_root(old_root_.get(), p_.overlay_dir);
                if (!dir.missing.empty()) {
                    throw Error("the overlay folder " + p_.overlay_dir + " does not exist", ENOENT);
                }
                sys_mount(path::fd_path(dir.fd.get(), proc_), kOverlay, nullptr, MS_BIND, nullptr,
                          "cannot bind the overlay folder " + p_.overlay_dir);
            }
            sys_mkdir(std::string(kOverlay) + "/upper", 0755);
            sys_mkdir(std::string(kOverlay) + "/work", 0755);
            prepare_overlay_upper(p_.mounts, img.get(), old_root_.get(),
                                  std::string(kOverlay) + "/upper");
            // lowerdir "." (the image, entered by descriptor) spares escaping
            // ',' and ':' in the image's path. userxattr: overlayfs in a user
            // namespace keeps its metadata in user.* xattrs (Linux 5.11).
            if (::fchdir(img.get()) != 0) {
                throw_errno("cannot enter image " + p_.image_path);
            }
            sys_mount("overlay", kNewRoot, "overlay", MS_NOSUID | MS_NODEV,
                      "lowerdir=.,upperdir=/overlay/upper,workdir=/overlay/work,userxattr",
                      "cannot mount overlayfs over image " + p_.image_path);
            if (::chdir("/") != 0) {
                throw_errno("cannot enter the staging root");
            }
            break;
        }
        }
        new_root_ = open_dir(kNewRoot);
        root_mount_ = mount_id(new_root_.get(), proc_);
    }

    /// The read-only root with a mount-point layer: overlayfs with two
    /// lower layers and no upper, so read-only by construction: a folder of
    /// the staging tmpfs with the mount points the image lacks and the
    /// files husk generates (passwd, group, the container's ld.so.cache)
    /// written whole, over the image. Cheaper than --overlay's upper and
    /// work folders (no work folder, no copy-up, no xattr probes), and each
    /// generated file is one write instead of a staged file and a bind.
    void mount_layered_root(int img) {
        const std::string layer = std::string(kOverlay) + "/layer";
        sys_mkdir(layer, 0755);
        {
            log::Phase step("mount-point layer", log::Level::Debug);
            in_layer_ = prepare_overlay_upper(
                p_.mounts, img, old_root_.get(), layer,
                [this](const MountOp& op, int image_file,
                       size_t image_size) -> std::optional<std::string> {
                    if (op.kind == MountKind::File) {
                        return op.source;
                    }
                    // image_file: the image's regular file, checked so
                    return account_text(
                        op, image_file < 0 ? ""
                                           : file::read_fd(image_file, op.target + " in the image",
                                                           kMaxAccountFile, image_size));
                });
            std::sort(in_layer_.begin(), in_layer_.end());
        }
        for (const size_t i : in_layer_) {
            log::debug("wrote " + p_.mounts[i].target + " in the mount-point layer");
        }
        // lowerdir "." as under --overlay; the layer's path has no ',' or ':'.
        if (::fchdir(img) != 0) {
            throw_errno("cannot enter image " + p_.image_path);
        }
        sys_mount("overlay", kNewRoot, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV,
                  ("lowerdir=" + layer + ":.,userxattr").c_str(),
                  "cannot mount overlayfs over image " + p_.image_path);
        if (::chdir("/") != 0) {
            throw_errno("cannot enter the staging root");
        }
    }

    /// Whether a missing mount point may be created below `parent` (the
    /// deepest existing directory), and if not, why. Only two kinds of mount
    /// may get new directories: the image's root under --overlay (or -w, for
    /// what the user asked with -b: a writable image is the user's own tree)
    /// and the tmpfs mounts husk made itself. Never a bind from the host,
    /// which an image symlink could point into: husk writes nothing on the
    /// host it was not asked to.
    std::optional<std::string> refuse_create(const MountOp& op, const path::Resolved& r) const {
        const uint64_t id = mount_id(r.fd.get(), proc_);
        if (std::find(own_tmpfs_.begin(), own_tmpfs_.end(), id) != own_tmpfs_.end()) {
            return std::nullopt;
        }
        if (id != root_mount_) {
            return "does not exist, and " + r.path +
                   " is not part of the image (a bind from the host, where husk creates "
                   "nothing)";
        }
        if (p_.root_mode == RootMode::Overlay ||
            (p_.root_mode == RootMode::Writable && op.on_missing == OnMissing::Fail)) {
            return std::nullopt;
        }
        return std::string("does not exist in the image");
    }

    /// Whether what `op` makes below `r` is a mount point to remove at the
    /// end: op.transient_mount_point, and `r` a folder of a -w image.
    bool transient_in_image(const MountOp& op, const path::Resolved& r) const {
        return op.transient_mount_point && p_.root_mode == RootMode::Writable &&
               mount_id(r.fd.get(), proc_) == root_mount_;
    }

    /// Records the components of `r.missing` that have just been made in
    /// the image (each a folder, the last one of type `last`), with the
    /// inode each was made as, for the container's init to remove.
    void note_transient(const path::Resolved& r, mode_t last) {
        std::string at = r.path == "/" ? "" : r.path;
        for (size_t i = 0; i < r.missing.size(); ++i) {
            at += "/" + r.missing[i];
            const path::Probed made = path::probe_exact(new_root_.get(), at, path::Last::NoFollow);
            struct stat st {};
            if (made.state != path::Probe::Exact || ::fstat(made.fd.get(), &st) != 0) {
                break; // not there as made: nothing of it is removed
            }
            transient_.push_back(
                {at, st.st_dev, st.st_ino, i + 1 < r.missing.size() ? S_IFDIR : last});
        }
    }

    /// Records a tmpfs husk mounted at `target`, where mount points may be made.
    void own_tmpfs(const MountOp& op) {
        Fd fd = reopen(op);
        own_tmpfs_.push_back(mount_id(fd.get(), proc_));
    }

    static std::string joined(const path::Resolved& r) {
        std::string out = r.path == "/" ? "" : r.path;
        for (const auto& m : r.missing) {
            out += "/" + m;
        }
        return out.empty() ? "/" : out;
    }

    /// Resolves (and where allowed creates) op.target in the new root;
    /// nullopt when the op is to be skipped.
    std::optional<Target> target(const MountOp& op, path::Kind kind) {
        path::Resolved r = path::resolve_in_root(new_root_.get(), op.target);
        if (r.missing.empty()) {
            return Target{std::move(r.fd), r.path};
        }
        auto refused = refuse_create(op, r);
        std::string why = refused.value_or("");
        if (!refused) {
            try {
                const bool transient = transient_in_image(op, r);
                Target made{path::create_missing(r, kind), joined(r)};
                if (transient) {
                    note_transient(r, kind == path::Kind::Directory ? S_IFDIR : S_IFREG);
                }
                return made;
            } catch (const Error& e) {
                why = "cannot be created (" + std::string(e.what()) + ")";
            }
        }
        switch (op.on_missing) {
        case OnMissing::Fail:
            throw Error(op.what + ": destination " + op.target + " " + why +
                        (p_.root_mode == RootMode::ReadOnly && why == "does not exist in the image"
                             ? "; create it in the image, or use -w or --overlay"
                             : ""));
        case OnMissing::Warn:
            log::warn("not mounting " + op.what + ": " + op.target + " " + why);
            return std::nullopt;
        case OnMissing::Quiet:
            log::info("not mounting " + op.what + ": " + op.target + " " + why);
            return std::nullopt;
        case OnMissing::TmpfsParent:
            if (r.path != "/") {
                // As ch-run does for /home: a tmpfs over the deepest existing
                // directory (which hides its contents in the container) to
                // hold the mount point.
                sys_mount("tmpfs", path::fd_path(r.fd.get(), proc_), "tmpfs", MS_NOSUID | MS_NODEV,
                          "mode=0755", "cannot mount a tmpfs on " + r.path + " for " + op.what);
                log::info("mounted a tmpfs on " + r.path + " to hold " + op.target);
                {
                    path::Resolved parent = path::resolve_in_root(new_root_.get(), r.path);
                    own_tmpfs_.push_back(mount_id(parent.fd.get(), proc_));
                }
                path::Resolved again = path::resolve_in_root(new_root_.get(), op.target);
                return Target{path::create_missing(again, kind), joined(again)};
            }
            log::warn("not mounting " + op.what + ": " + op.target + " " + why +
                      (op.what.rfind("home", 0) == 0 ? " (use --no-home, -w or --overlay)"
                                                     : " (use -w or --overlay)"));
            return std::nullopt;
        }
        return std::nullopt;
    }

    /// Reopens a mount point after mounting on it (the old descriptor still
    /// names the directory underneath) by resolving op.target again.
    Fd reopen(const MountOp& op) {
        path::Resolved r = path::resolve_in_root(new_root_.get(), op.target);
        if (!r.missing.empty()) {
            throw Error("mount point " + op.target + " vanished", ENOENT);
        }
        return std::move(r.fd);
    }

    /// Binds `source`, resolved inside the tree at `source_root` (the host's
    /// root, or the staging root for generated files), on op.target.
    void bind(const MountOp& op, int source_root, const std::string& source) {
        const std::string& host_source = source;
        path::Resolved src = path::resolve_in_root(
            source_root, source, op.exact_source ? path::Last::NoFollow : path::Last::Follow);
        if (!src.missing.empty()) {
            if (op.on_missing == OnMissing::Fail) {
                throw Error("bind source " + host_source + " does not exist on the host", ENOENT);
            }
            log::info("not mounting " + op.what + ": " + host_source + " missing on the host");
            return;
        }
        struct stat st {};
        if (::fstat(src.fd.get(), &st) != 0) {
            throw_errno("cannot stat " + host_source);
        }
        // A library, binary or device node the host stage found: exactly
        // that file, mounted from its O_PATH|O_NOFOLLOW descriptor, never
        // what a symlink put in its place since (CVE-2024-0132's class).
        if (op.exact_source) {
            const bool ok = op.device ? (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
                                      : (S_ISREG(st.st_mode) || S_ISSOCK(st.st_mode));
            if (!ok) {
                throw Error("bind source " + host_source + " is not " +
                            (op.device ? "a device node" : "a regular file") +
                            (S_ISLNK(st.st_mode) ? " (a symlink)" : ""));
            }
        }
        auto tgt = target(op, S_ISDIR(st.st_mode) ? path::Kind::Directory : path::Kind::File);
        if (!tgt) {
            return;
        }
        attach(op, src.fd.get(), tgt->fd.get(), tgt->path, op.read_only,
               "cannot bind " + host_source + " to " + tgt->path);
        log::debug("bound " + host_source + " on " + tgt->path + (op.read_only ? " (ro)" : ""));
    }

    /// Binds the tree at `source_fd` on `target_fd` (`at` in the new root,
    /// where op.target resolves), recursively; with `read_only`, read-only,
    /// nosuid and nodev on every submount. A detached clone where the
    /// kernel has the calls (attach_clone()), else mount(2) through /proc,
    /// then make_read_only() of the mount found again.
    /// @throws husk::Error `what` when mount(2) fails, or as attach_clone().
    void attach(const MountOp& op, int source_fd, int target_fd, const std::string& at,
                bool read_only, const std::string& what) {
        if (attach_clone(source_fd, target_fd,
                         read_only ? MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
                                   : 0)) {
            return;
        }
        sys_mount(path::fd_path(source_fd, proc_), path::fd_path(target_fd, proc_), nullptr,
                  MS_BIND | MS_REC, nullptr, what);
        if (read_only) {
            Fd mnt = reopen(op);
            make_read_only(mnt.get(), at, p_.legacy_mounts, proc_);
        }
    }

    /// bind_detached(), unless legacy_mounts is set or the kernel said it
    /// lacks the calls.
    bool attach_clone(int source_fd, int target_fd, uint64_t attrs) {
        if (p_.legacy_mounts) {
            return false;
        }
        if (new_mount_api_ && bind_detached(source_fd, target_fd, attrs)) {
            return true;
        }
        new_mount_api_ = false;
        return false;
    }

    void tmpfs(const MountOp& op) {
        auto tgt = target(op, path::Kind::Directory);
        if (!tgt) {
            return;
        }
        sys_mount("tmpfs", path::fd_path(tgt->fd.get(), proc_), "tmpfs", MS_NOSUID | MS_NODEV,
                  op.target == "/dev" ? "mode=0755" : "mode=1777",
                  "cannot mount a tmpfs on " + tgt->path);
        own_tmpfs(op);
    }

    /// A devpts of the container's own (newinstance): its ptys are not the
    /// host's. Without one (a kernel that refuses it in a user namespace),
    /// the host's /dev/pts is bound.
    void devpts(const MountOp& op) {
        auto tgt = target(op, path::Kind::Directory);
        if (!tgt) {
            return;
        }
        if (::mount("devpts", path::fd_path(tgt->fd.get(), proc_).c_str(), "devpts",
                    MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") == 0) {
            return;
        }
        log::info(std::string("cannot mount a devpts of the container's own (") +
                  std::strerror(errno) + "); binding the host's /dev/pts");
        bind(op, old_root_.get(), "/dev/pts");
    }

    /// A symlink at op.target with text op.source, where the image has
    /// nothing (CDI's create-symlinks hook, the minimal /dev's links). An
    /// entry already there is kept. Created only where a mount point could
    /// be (refuse_create): the overlay made those before it was mounted.
    void symlink(const MountOp& op) {
        path::Resolved r = path::resolve_in_root(new_root_.get(), op.target, path::Last::NoFollow);
        if (r.missing.empty()) {
            log::debug("not creating symlink " + op.target + ": it exists");
            return;
        }
        std::optional<std::string> refused = refuse_create(op, r);
        if (!refused) {
            const bool transient = transient_in_image(op, r);
            std::string last = r.missing.back();
            r.missing.pop_back();
            try {
                Fd parent = r.missing.empty() ? std::move(r.fd)
                                              : path::create_missing(r, path::Kind::Directory);
                if (::symlinkat(op.source.c_str(), parent.get(), last.c_str()) == 0) {
                    if (transient) {
                        r.missing.push_back(last);
                        note_transient(r, S_IFLNK);
                    }
                    return;
                }
                refused = std::string("cannot be created (") + std::strerror(errno) + ")";
            } catch (const Error& e) {
                refused = "cannot be created (" + std::string(e.what()) + ")";
            }
        }
        const std::string msg = "not creating symlink " + op.target + " -> " + op.source + " (" +
                                op.what + "): " + *refused;
        if (op.on_missing == OnMissing::Fail) {
            throw Error(msg);
        }
        op.on_missing == OnMissing::Warn ? log::warn(msg) : log::info(msg);
    }

    /// Hides op.target, where it exists, under an empty file nobody may
    /// open (the device nodes of GPUs not assigned, under the host's /dev).
    void mask(const MountOp& op) {
        path::Resolved r = path::resolve_in_root(new_root_.get(), op.target, path::Last::NoFollow);
        struct stat st {};
        if (!r.missing.empty() || ::fstat(r.fd.get(), &st) != 0 || S_ISDIR(st.st_mode) ||
            S_ISLNK(st.st_mode)) {
            return;
        }
        const std::string empty = std::string(kFiles) + "/masked";
        if (::access(empty.c_str(), F_OK) != 0) {
            Fd f(::open(empty.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
            if (!f) {
                throw_errno("cannot create " + empty);
            }
        }
        Fd source(::open(empty.c_str(), O_PATH | O_CLOEXEC));
        if (!source) {
            throw_errno("cannot open " + empty);
        }
        attach(op, source.get(), r.fd.get(), op.target, true, "cannot hide " + op.target);
        log::debug("hid " + op.target);
    }

    /// The container's passwd or group (op.kind): the image's `image_text`
    /// with the user's entry.
    std::string account_text(const MountOp& op, std::string_view image_text) const {
        return op.kind == MountKind::Passwd ? merge_passwd(image_text, p_.account)
                                            : merge_group(image_text, p_.account);
    }

    void account_file(const MountOp& op) {
        bind_staged(
            op, op.kind == MountKind::Passwd ? "passwd" : "group",
            account_text(op, read_small_file(new_root_.get(), op.target, proc_).value_or("")));
    }

    /// Writes `bytes` as /files/NAME on the staging tmpfs and binds that on
    /// op.target.
    void bind_staged(const MountOp& op, const std::string& name, std::string_view bytes) {
        const std::string staged = std::string(kFiles) + "/" + name;
        file::write(staged, bytes);
        Fd stage = open_dir("/");
        bind(op, stage.get(), staged);
    }

    /// A file husk made (MountKind::File: the container's ld.so.cache),
    /// written on the staging tmpfs and bound on op.target; under
    /// --overlay, where the user may write the image's own file, written
    /// into the overlay instead (its tmpfs upper layer), so that ldconfig
    /// inside can still replace it, as it cannot replace a bind.
    void generated_file(const MountOp& op) {
        if (p_.root_mode == RootMode::Overlay && write_through(op)) {
            log::debug("wrote " + op.target + " in the overlay");
            return;
        }
        bind_staged(op, "file-" + std::to_string(++files_), op.source);
    }

    /// Writes op.source over op.target where that is a regular file of the
    /// overlay itself (not a bind) that the user may write.
    bool write_through(const MountOp& op) {
        path::Resolved r;
        try {
            r = path::resolve_in_root(new_root_.get(), op.target);
        } catch (const Error&) {
            return false;
        }
        struct stat st {};
        if (!r.missing.empty() || ::fstat(r.fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != ::geteuid() || (st.st_mode & S_IWUSR) == 0 || // not the user's
            mount_id(r.fd.get(), proc_) != root_mount_) {
            return false;
        }
        Fd f(::open(path::fd_path(r.fd.get(), proc_).c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
        if (!f) {
            return false; // the image's, not the user's: bound instead
        }
        file::write_all(f.get(), op.source, op.target);
        return true;
    }

    /// A procfs of the container's PID namespace (the caller is its init),
    /// so that /proc/PID and ps agree with getpid(2). The kernel refuses it
    /// where the host's /proc has parts hidden by overmounts
    /// (mount_too_revealing()); the host's /proc is bound then.
    void proc(const MountOp& op) {
        auto tgt = target(op, path::Kind::Directory);
        if (!tgt) {
            return;
        }
        if (::mount("proc", path::fd_path(tgt->fd.get(), proc_).c_str(), "proc",
                    MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0) {
            return;
        }
        log::info(std::string("cannot mount a procfs of the container's PID namespace (") +
                  std::strerror(errno) + "); binding the host's /proc");
        bind(op, old_root_.get(), "/proc");
    }

    void apply(const MountOp& op) {
        switch (op.kind) {
        case MountKind::Proc:
            proc(op);
            return;
        case MountKind::Bind:
            bind(op, old_root_.get(), op.source);
            return;
        case MountKind::Tmpfs:
            tmpfs(op);
            return;
        case MountKind::Passwd:
        case MountKind::Group:
            account_file(op);
            return;
        case MountKind::Devpts:
            devpts(op);
            return;
        case MountKind::Symlink:
            symlink(op);
            return;
        case MountKind::Mask:
            mask(op);
            return;
        case MountKind::File:
            generated_file(op);
            return;
        }
    }

    // pivot_root(".", ".") stacks the old root on top of the new one; the
    // umount then detaches it and everything below it (crun's method, see
    // pivot_root(2) NOTES), leaving no path to the host's tree.
    void enter_new_root() {
        Fd root = open_dir(kNewRoot, O_RDONLY);
        old_root_.reset();
        new_root_.reset();
        if (::fchdir(root.get()) != 0) {
            throw_errno("cannot enter the new root");
        }
        if (::syscall(SYS_pivot_root, ".", ".") != 0) {
            throw_errno("cannot pivot_root into the image");
        }
        if (::umount2(".", MNT_DETACH) != 0) {
            throw_errno("cannot detach the old root");
        }
        if (::chdir("/") != 0) {
            throw_errno("cannot enter /");
        }
    }

    const LaunchPlan& p_;
    const RootSource& src_;
    const std::string host_; ///< the host's root while the root is built
    const std::string proc_; ///< the host's procfs then
    Fd old_root_;
    Fd new_root_;
    uint64_t root_mount_ = 0;              ///< mount id of the image's root
    std::vector<uint64_t> own_tmpfs_;      ///< mount ids of tmpfs husk mounted in the root
    std::vector<TransientPath> transient_; ///< mount points made in a -w image, outermost first
    bool new_mount_api_ = true;            ///< open_tree(2) and friends, until ENOSYS says not
    unsigned files_ = 0;                   ///< MountKind::File mounts made so far
    std::vector<size_t> in_layer_; ///< p_.mounts written whole in the mount-point layer, sorted
};

} // namespace

std::vector<TransientPath> build_root(const LaunchPlan& p, const RootSource& src) {
    RootBuilder b(p, src);
    b.build();
    return b.transient();
}

} // namespace husk::runtime
