#include "image/store.hpp"

#include "image/image.hpp"
#include "image/layered.hpp"
#include "image/registry_reply.hpp"
#include "image/unpack.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"
#include "util/log.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace husk::image {

namespace {

// Bumped when the unpacked trees change meaning: older entries are ignored.
constexpr const char* kUnpackFormat = "husk-unpack-1";

/// mkdir, or check that what is there is our own real directory.
void own_dir(const std::string& path) {
    file::own_directory(path, "storage " + path, "set HUSK_STORAGE to a folder of yours");
}

/// Removes temporary siblings "<key>.tmp.*" left by writers that died.
void remove_leftovers(int cache_fd, const std::string& key) {
    int fd = ::openat(cache_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
    if (d == nullptr) {
        if (fd >= 0) {
            ::close(fd);
        }
        return;
    }
    std::vector<std::string> stale;
    const std::string prefix = key + ".tmp.";
    while (struct dirent* e = ::readdir(d)) {
        if (std::string(e->d_name).rfind(prefix, 0) == 0) {
            stale.emplace_back(e->d_name);
        }
    }
    ::closedir(d);
    for (const auto& s : stale) {
        log::info("removing " + s + ", left by an unpack that did not finish");
        remove_tree(cache_fd, s);
    }
}

/// Writes `text` as `.husk/config.json` below the directory `root_fd`.
void keep_config(int root_fd, const std::string& text) {
    if (::mkdirat(root_fd, ".husk", 0755) != 0 && errno != EEXIST) {
        throw_errno("cannot create .husk in the unpacked image");
    }
    Fd dir(::openat(root_fd, ".husk", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) {
        throw_errno("cannot open .husk in the unpacked image");
    }
    Fd f(::openat(dir.get(), "config.json", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                  0644));
    if (!f || ::write(f.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        throw_errno("cannot write .husk/config.json in the unpacked image");
    }
}

/// Unpacks the archive on `tar_fd` into `root_fd`: a root file system
/// directly; a docker-archive or OCI layout by extracting it beside (as
/// `tmp`.blobs, also a temporary sibling) and applying its layers, keeping
/// its config in the image.
/// Moves the blobs of an OCI layout extracted in `store_fd` into the blob
/// cache `blob_dir` (STORAGE/blobs, which `husk pull` fills), each whose
/// content has the sha256 its name says and which the cache lacks: a
/// later pull of the same image fetches none of them. Best effort: a blob
/// that cannot be moved stays where it is, and is removed with it.
void keep_blobs(int store_fd, const std::string& blob_dir) {
    Fd src(::openat(store_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!src) {
        return;
    }
    own_dir(blob_dir);
    const std::string dst_path = blob_dir + "/sha256";
    if (::mkdir(dst_path.c_str(), 0700) != 0 && errno != EEXIST) {
        return;
    }
    Fd dst(::open(dst_path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    DIR* d = ::fdopendir(::dup(src.get()));
    if (!dst || d == nullptr) {
        if (d != nullptr) {
            ::closedir(d);
        }
        return;
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n.size() == 64 && n.find_first_not_of("0123456789abcdef") == std::string::npos) {
            names.push_back(n);
        }
    }
    ::closedir(d);
    for (const auto& n : names) {
        struct stat st {};
        if (::fstatat(dst.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 ||
            ::fstatat(src.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode)) {
            continue;
        }
        Fd blob(::openat(src.get(), n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        try {
            if (!blob || sha256_hex(blob.get(), n) != n) {
                continue;
            }
        } catch (const Error&) {
            continue;
        }
        (void)::renameat(src.get(), n.c_str(), dst.get(), n.c_str());
    }
}

void unpack_into(int root_fd, int cache_fd, const std::string& tmp, int tar_fd,
                 const std::string& tar_path, const UnpackLimits& limits,
                 const std::string& blob_dir) {
    const ArchiveKind kind = archive_kind(tar_fd, tar_path);
    if (::lseek(tar_fd, 0, SEEK_SET) != 0) {
        throw_errno("cannot rewind " + tar_path);
    }
    UnpackReport r;
    if (kind == ArchiveKind::Rootfs) {
        r = apply_layer(root_fd, tar_fd, tar_path, limits);
    } else {
        const std::string blobs = tmp + ".blobs";
        if (::mkdirat(cache_fd, blobs.c_str(), 0700) != 0) {
            throw_errno("cannot create " + blobs);
        }
        Fd store(
            ::openat(cache_fd, blobs.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!store) {
            throw_errno("cannot open " + blobs);
        }
        apply_layer(store.get(), tar_fd, tar_path, limits);
        keep_config(root_fd, apply_image(store.get(), root_fd, kind, tar_path, limits));
        if (kind == ArchiveKind::Oci) {
            keep_blobs(store.get(), blob_dir);
        }
        remove_tree(cache_fd, blobs);
    }
    if (r.skipped > 0) {
        log::warn(tar_path + ": skipped " + std::to_string(r.skipped) +
                  " device nodes, FIFOs or sockets (an unprivileged unpack cannot make them)");
    }
}

} // namespace

Store::Store(std::string dir, bool own_parent, UnpackLimits limits)
    : dir_(std::move(dir)), own_parent_(own_parent), limits_(limits) {}

Store Store::from(const config::Settings& s) {
    return Store(s.storage.value, s.storage.origin == config::Origin::BuiltIn,
                 UnpackLimits{s.max_unpack_bytes.value, s.max_unpack_entries.value});
}

std::string Store::dir() const {
    if (own_parent_) {
        const size_t slash = dir_.rfind('/');
        if (slash != std::string::npos && slash > 0) {
            own_dir(dir_.substr(0, slash));
        }
    }
    own_dir(dir_);
    return dir_;
}

Image Store::resolve(const std::string& ref) const {
    if (ref.find('/') == std::string::npos) {
        struct stat st {};
        if (::lstat(ref.c_str(), &st) != 0 && errno == ENOENT) {
            // Not a path: a name in the store (husk import), if there is one.
            if (auto stored = find(ref)) {
                return image::resolve(stored->path);
            }
        }
    }
    return image::resolve(ref);
}

namespace {} // namespace

/// Unpacks the archive `tar_path` as `parent`/`entry`, under the lock
/// `entry`.lock, into a temporary sibling renamed when complete. An entry
/// that exists is returned as it is with `reuse`, an error otherwise.
namespace {

/// Rethrows the current exception; a full file system or quota becomes
/// an error that names the folder that filled up (what the user can act
/// on) before the archive entry being written.
[[noreturn]] void rethrow_full(const std::string& folder) {
    try {
        throw;
    } catch (const Error& e) {
        if (e.err() == ENOSPC || e.err() == EDQUOT) {
            throw Error(folder + ": " +
                            (e.err() == ENOSPC ? "its file system is full"
                                               : "your disk quota there is used up") +
                            " (" + e.message() +
                            "); set HUSK_STORAGE to a folder with room, or husk rm images you "
                            "no longer need",
                        e.err());
        }
        throw;
    }
}

} // namespace

std::string Store::unpack_entry(const std::string& parent, const std::string& entry,
                                const std::string& tar_path, bool reuse) const {
    Fd tar(::open(tar_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!tar) {
        throw_errno("image " + tar_path + ": cannot open");
    }
    const std::string final_path = parent + "/" + entry;
    const std::string key = entry;
    const std::string& cache = parent;
    // One unpacker at a time per archive; the others wait here, then find
    // the finished tree. The lock goes with the descriptor, even on SIGKILL.
    const Fd lock = file::lock(final_path + ".lock");
    struct stat done {};
    if (::lstat(final_path.c_str(), &done) == 0) {
        if (!reuse) {
            throw Error("image " + entry + " exists already (husk rm " + entry + " first)");
        }
        if (S_ISDIR(done.st_mode)) {
            log::info("using " + final_path + " (unpacked before)");
            return final_path;
        }
    }
    Fd cache_fd(::open(cache.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cache_fd) {
        throw_errno("cannot open " + cache);
    }
    remove_leftovers(cache_fd.get(), key);
    const std::string tmp = key + ".tmp." + std::to_string(::getpid());
    if (::mkdirat(cache_fd.get(), tmp.c_str(), 0700) != 0) {
        throw_errno("cannot create " + cache + "/" + tmp);
    }
    try {
        Fd root(
            ::openat(cache_fd.get(), tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!root) {
            throw_errno("cannot open " + cache + "/" + tmp);
        }
        log::info("unpacking " + tar_path + " into " + final_path);
        struct stat src {};
        if (::fstat(tar.get(), &src) == 0 && S_ISDIR(src.st_mode)) { // an OCI layout directory
            keep_config(root.get(),
                        apply_image(tar.get(), root.get(), ArchiveKind::Oci, tar_path, limits_));
        } else {
            unpack_into(root.get(), cache_fd.get(), tmp, tar.get(), tar_path, limits_,
                        dir() + "/blobs");
        }
        if (::fchmod(root.get(), 0755) != 0 || ::fsync(root.get()) != 0) {
            throw_errno("cannot finish " + cache + "/" + tmp);
        }
        if (::renameat(cache_fd.get(), tmp.c_str(), cache_fd.get(), key.c_str()) != 0) {
            throw_errno("cannot rename " + tmp + " to " + key);
        }
    } catch (...) {
        try {
            remove_tree(cache_fd.get(), tmp);
            remove_tree(cache_fd.get(), tmp + ".blobs");
        } catch (const Error&) {
            // the next writer removes it
        }
        rethrow_full(cache);
    }
    return final_path;
}

std::string Store::unpack_cached(const std::string& tar_path) const {
    const std::string cache = dir() + "/cache";
    own_dir(cache);
    return unpack_entry(cache, cache_key(tar_path), tar_path, /*reuse=*/true);
}

std::string Store::cache_key(const std::string& tar_path) const {
    struct stat st {};
    // An OCI layout directory changes with its index.json; a file, itself.
    struct stat layout {};
    if (::stat(tar_path.c_str(), &layout) == 0 && S_ISDIR(layout.st_mode)) {
        if (::stat((tar_path + "/index.json").c_str(), &st) != 0) {
            throw_errno("image " + tar_path + "/index.json: cannot stat");
        }
    } else if (::stat(tar_path.c_str(), &st) != 0) {
        throw_errno("image " + tar_path + ": cannot stat");
    }
    return "tar-" +
           text::hash_hex(std::string(kUnpackFormat) + '\0' + tar_path + '\0' +
                          std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino) + ':' +
                          std::to_string(st.st_size) + ':' + std::to_string(st.st_mtim.tv_sec) +
                          '.' + std::to_string(st.st_mtim.tv_nsec));
}

std::string Store::images_dir() const {
    const std::string images = dir() + "/images";
    own_dir(images);
    return images;
}

namespace {

uint64_t disk_use(int dir_fd, const std::string& name) {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return 0;
    }
    uint64_t total = static_cast<uint64_t>(st.st_blocks) * 512;
    if (!S_ISDIR(st.st_mode)) {
        return total;
    }
    int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
    if (d == nullptr) {
        if (fd >= 0) {
            ::close(fd);
        }
        return total;
    }
    while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") {
            total += disk_use(::dirfd(d), n);
        }
    }
    ::closedir(d);
    return total;
}

StoredImage describe(const std::string& dir, const std::string& entry) {
    StoredImage img;
    const bool sqfs = entry.size() > 5 && entry.compare(entry.size() - 5, 5, ".sqfs") == 0;
    img.name = sqfs ? entry.substr(0, entry.size() - 5) : entry;
    img.format = sqfs ? Format::Squashfs : Format::Dir;
    img.path = dir + "/" + entry;
    struct stat st {};
    if (::lstat(img.path.c_str(), &st) == 0) {
        img.created = st.st_mtim.tv_sec;
    }
    Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    img.bytes = d ? disk_use(d.get(), entry) : 0;
    return img;
}

/// Runs `argv` and waits; @throws husk::Error with its status.
void run_program(const std::vector<std::string>& argv) {
    pid_t pid = ::fork();
    if (pid < 0) {
        throw_errno("cannot start " + argv[0]);
    }
    if (pid == 0) {
        std::vector<char*> a;
        for (const auto& s : argv) {
            a.push_back(const_cast<char*>(s.c_str()));
        }
        a.push_back(nullptr);
        ::execvp(a[0], a.data());
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            throw_errno("cannot wait for " + argv[0]);
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw Error(argv[0] + " failed" +
                    (WIFEXITED(status) && WEXITSTATUS(status) == 127
                         ? " (not installed? Debian package squashfs-tools)"
                         : " (status " + std::to_string(WEXITSTATUS(status)) + ")"));
    }
}

} // namespace

bool valid_name(const std::string& name) {
    if (name.empty() || name.size() > 128 || !std::isalnum(static_cast<unsigned char>(name[0]))) {
        return false;
    }
    for (char c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
            return false;
        }
    }
    return name.size() < 5 || name.compare(name.size() - 5, 5, ".sqfs") != 0;
}

void Store::convert(const std::string& source, const std::string& dest, Format format) const {
    struct stat st {};
    if (::lstat(dest.c_str(), &st) == 0) {
        throw Error(dest + " exists already");
    }
    const size_t slash = dest.rfind('/');
    const std::string parent =
        slash == std::string::npos ? "." : (slash == 0 ? "/" : dest.substr(0, slash));
    const std::string base = slash == std::string::npos ? dest : dest.substr(slash + 1);
    if (base.empty() || base == "." || base == "..") {
        throw Error(dest + ": not a name for the result");
    }
    const Image src = resolve(source);
    const std::string tmp_name = "." + base + ".tmp." + std::to_string(::getpid());
    const std::string tmp = parent + "/" + tmp_name;
    const std::string scratch = tmp + ".tree"; // a SquashFS source unpacked, for tar output
    Fd parent_fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!parent_fd) {
        throw_errno(dest + ": cannot open its folder");
    }
    auto cleanup = [&] {
        try {
            remove_tree(parent_fd.get(), tmp_name);
            remove_tree(parent_fd.get(), tmp_name + ".tree");
        } catch (const Error&) {
        }
    };
    try {
        if (format == Format::Dir && (src.kind == Kind::Tar || src.kind == Kind::OciLayout)) {
            // unpack_entry() locks DEST.lock; it is not the user's to keep.
            const std::string lock = base + ".lock";
            try {
                unpack_entry(parent, base, src.path, /*reuse=*/false);
            } catch (...) {
                ::unlinkat(parent_fd.get(), lock.c_str(), 0);
                throw;
            }
            ::unlinkat(parent_fd.get(), lock.c_str(), 0);
            return;
        }
        // The tree to pack or copy: the directory itself, an archive unpacked
        // once into the cache, or (for tar output) a SquashFS file unpacked.
        std::string tree = src.path;
        if ((src.kind == Kind::Tar || src.kind == Kind::OciLayout)) {
            tree = unpack_cached(src.path);
        }
        switch (format) {
        case Format::Dir:
            if (src.kind == Kind::Squashfs) {
                run_program({"unsquashfs", "-no-progress", "-quiet", "-d", tmp, src.path});
            } else {
                run_program({"cp", "-a", "--reflink=auto", tree, tmp});
            }
            break;
        case Format::Squashfs:
            if (src.kind == Kind::Squashfs) {
                run_program({"cp", "--reflink=auto", src.path, tmp});
            } else {
                // mksquashfs packs with every core; -all-root as ch-convert
                // does (the files are the user's, who is root under --fake-root).
                // zstd level 3, not mksquashfs's 15: about the size of
                // ch-convert's gzip output, packed 10x faster, and read back
                // as fast (zstd decompresses at the same speed at any level).
                run_program({"mksquashfs", tree, tmp, "-noappend", "-all-root", "-comp", "zstd",
                             "-Xcompression-level", "3", "-quiet", "-no-progress"});
            }
            break;
        case Format::Tar: {
            if (src.kind == Kind::Squashfs) {
                run_program({"unsquashfs", "-no-progress", "-quiet", "-d", scratch, src.path});
                tree = scratch;
            }
            const bool gz = base.size() > 3 && (base.compare(base.size() - 3, 3, ".gz") == 0 ||
                                                base.compare(base.size() - 4, 4, ".tgz") == 0);
            run_program({"tar", "-C", tree, gz ? "-czf" : "-cf", tmp, "."});
            break;
        }
        }
        if (::renameat(parent_fd.get(), tmp_name.c_str(), parent_fd.get(), base.c_str()) != 0) {
            throw_errno("cannot rename " + tmp + " to " + dest);
        }
        remove_tree(parent_fd.get(), tmp_name + ".tree");
    } catch (...) {
        cleanup();
        throw;
    }
}

Format format_for(const std::string& dest) {
    auto ends = [&](const char* suffix) {
        std::string s(suffix);
        return dest.size() > s.size() && dest.compare(dest.size() - s.size(), s.size(), s) == 0;
    };
    if (ends(".sqfs") || ends(".squashfs")) {
        return Format::Squashfs;
    }
    if (ends(".tar") || ends(".tar.gz") || ends(".tgz")) {
        return Format::Tar;
    }
    return Format::Dir;
}

StoredImage Store::import(const std::string& source, const std::string& name, Format format) const {
    if (!valid_name(name)) {
        throw Error("image name \"" + name +
                    "\": use letters, digits, '.', '_' and '-', starting with a letter or digit");
    }
    if (find(name)) {
        throw Error("image " + name + " exists already (husk rm " + name + " first)");
    }
    if (format == Format::Tar) {
        throw Error("import: the store keeps directories and SquashFS files, not tar archives");
    }
    const std::string dir = images_dir();
    const std::string entry = format == Format::Squashfs ? name + ".sqfs" : name;
    convert(source, dir + "/" + entry, format);
    return describe(dir, entry);
}

StoredImage Store::pull(const Reference& ref, const std::string& name, Format format,
                        const PullOptions& options, Pulled* pulled) const {
    if (!valid_name(name)) {
        throw Error("image name \"" + name +
                    "\": use letters, digits, '.', '_' and '-', starting with a letter or digit");
    }
    if (find(name)) {
        throw Error("image " + name + " exists already (husk rm " + name + " first)");
    }
    const std::string blobs = dir() + "/blobs";
    own_dir(blobs);
    PullOptions o = options;
    o.max_bytes = limits_.max_bytes;
    Pulled p = image::pull(ref, blobs, o);
    const std::string cache = dir() + "/cache";
    own_dir(cache);
    const std::string layout =
        cache + "/pull-" + p.manifest_digest.substr(7, 16) + ".tmp." + std::to_string(::getpid());
    Fd cache_fd(::open(cache.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const std::string leaf = layout.substr(cache.size() + 1);
    std::string unpacked; // what a SquashFS import unpacked into the cache
    const auto tidy = [&] {
        try {
            remove_tree(cache_fd.get(), leaf);
            if (!unpacked.empty()) {
                remove_tree(cache_fd.get(), unpacked);
                ::unlinkat(cache_fd.get(), (unpacked + ".lock").c_str(), 0);
            }
        } catch (const Error&) {
        }
    };
    try {
        write_layout(p, blobs, layout);
        unpacked = cache_key(layout); // keyed by the layout, which goes: nobody reuses it
        StoredImage img = import(layout, name, format);
        tidy();
        if (pulled != nullptr) {
            *pulled = std::move(p);
        }
        return img;
    } catch (...) {
        tidy();
        throw;
    }
}

std::string Store::pull_cached(const Reference& ref, const PullOptions& options) const {
    const std::string blobs = dir() + "/blobs";
    own_dir(blobs);
    const std::string cache = dir() + "/cache";
    own_dir(cache);
    PullOptions o = options;
    o.max_bytes = limits_.max_bytes;
    // Which image manifest a digest (a tag's, or an index's) led to for
    // this platform last time: with its layout still here, a run needs no
    // manifest again (a job's ranks each resolve the tag, by HEAD).
    std::string platform = o.platform.str();
    std::replace(platform.begin(), platform.end(), '/', '-');
    const auto record = [&](const std::string& digest) {
        return cache + "/resolved-" + digest.substr(7) + "-" + platform;
    };
    // A manifest's layout, there once its index.json is (renamed in whole).
    const auto layout_of = [&](const std::string& manifest_digest) {
        return cache + "/oci-" + manifest_digest.substr(7);
    };
    const auto complete = [](const std::string& layout) {
        struct stat st {};
        return ::lstat((layout + "/index.json").c_str(), &st) == 0;
    };
    o.reuse = [&](const std::string& digest, Pulled& out) {
        std::string m;
        try {
            m = file::read(record(digest), 128);
        } catch (const Error&) {
            return false;
        }
        m = m.substr(0, m.find('\n'));
        if (!is_sha256_digest(m) || !complete(layout_of(m))) {
            return false;
        }
        out.manifest_digest = m;
        out.platform = o.platform;
        return true;
    };
    const Pulled p = image::pull(ref, blobs, o);
    const std::string layout = layout_of(p.manifest_digest);
    if (p.reused) {
        return unpack_cached(layout);
    }
    {
        const Fd lock = file::lock(layout + ".lock");
        if (!complete(layout)) {
            Fd cache_fd(::open(cache.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            const std::string leaf = layout.substr(cache.size() + 1);
            remove_tree(cache_fd.get(), leaf); // a writer killed half way
            const std::string tmp = leaf + ".tmp." + std::to_string(::getpid());
            remove_tree(cache_fd.get(), tmp);
            write_layout(p, blobs, cache + "/" + tmp);
            if (::renameat(cache_fd.get(), tmp.c_str(), cache_fd.get(), leaf.c_str()) != 0) {
                throw_errno("cannot store " + layout);
            }
        }
        // Only a shortcut: a record that cannot be written costs the next
        // run a GET.
        try {
            file::write_whole(record(p.top_digest), p.manifest_digest + "\n");
        } catch (const Error&) {
        }
    }
    return unpack_cached(layout);
}

std::vector<StoredImage> Store::list() const {
    std::vector<StoredImage> out;
    struct stat st {};
    if (::lstat((dir_ + "/images").c_str(), &st) != 0 && errno == ENOENT) {
        return out; // nothing imported yet; listing creates no storage
    }
    const std::string dir = images_dir();
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        throw_errno("cannot list " + dir);
    }
    std::vector<std::string> entries;
    while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        const bool lock = n.size() > 5 && n.compare(n.size() - 5, 5, ".lock") == 0;
        if (n[0] != '.' && !lock && n.find(".tmp.") == std::string::npos) {
            entries.push_back(n);
        }
    }
    ::closedir(d);
    for (const auto& e : entries) {
        out.push_back(describe(dir, e));
    }
    std::sort(out.begin(), out.end(),
              [](const StoredImage& a, const StoredImage& b) { return a.name < b.name; });
    return out;
}

std::optional<StoredImage> Store::find(const std::string& name) const {
    if (!valid_name(name)) {
        return std::nullopt;
    }
    // Looks only: a run that names no stored image creates no storage.
    const std::string dir = dir_ + "/images";
    struct stat st {};
    if (::lstat((dir + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        return describe(dir, name);
    }
    if (::lstat((dir + "/" + name + ".sqfs").c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        return describe(dir, name + ".sqfs");
    }
    return std::nullopt;
}

void Store::remove(const std::string& name) const {
    auto img = find(name);
    if (!img) {
        throw Error("no image " + name + " in " + images_dir());
    }
    Fd dir(::open(images_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        throw_errno("cannot open " + images_dir());
    }
    remove_tree(dir.get(), img->path.substr(img->path.rfind('/') + 1));
    ::unlinkat(dir.get(), (name + ".lock").c_str(), 0);
}

} // namespace husk::image
