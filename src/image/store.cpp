#include "image/store.hpp"

#include "image/layered.hpp"
#include "image/unpack.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/log.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace husk::image {

namespace {

// Bumped when the unpacked trees change meaning: older entries are ignored.
constexpr const char* kUnpackFormat = "husk-unpack-1";

/// mkdir, or check that what is there is our own real directory.
void own_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
        throw_errno("storage " + path + ": cannot create");
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        throw_errno("storage " + path);
    }
    if (!S_ISDIR(st.st_mode)) {
        throw Error("storage " + path + ": not a directory (a symlink or file is there)");
    }
    if (st.st_uid != ::getuid()) {
        throw Error("storage " + path + ": owned by uid " + std::to_string(st.st_uid) +
                    ", not by you; set HUSK_STORAGE to a folder of yours");
    }
}

std::string user_name() {
    struct passwd pw {};
    struct passwd* res = nullptr;
    std::vector<char> buf(16384);
    if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &res) == 0 && res != nullptr) {
        return pw.pw_name;
    }
    return std::to_string(::getuid());
}

/// FNV-1a, 64 bits: names a cache entry; not a security boundary (the
/// storage is the user's own).
std::string key_of(const std::string& text) {
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : text) {
        h = (h ^ c) * 1099511628211ULL;
    }
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
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
void unpack_into(int root_fd, int cache_fd, const std::string& tmp, int tar_fd,
                 const std::string& tar_path) {
    const UnpackLimits limits = UnpackLimits::from_env();
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
        remove_tree(cache_fd, blobs);
    }
    if (r.skipped > 0) {
        log::warn(tar_path + ": skipped " + std::to_string(r.skipped) +
                  " device nodes, FIFOs or sockets (an unprivileged unpack cannot make them)");
    }
}

} // namespace

std::string storage_dir() {
    const char* env = std::getenv("HUSK_STORAGE");
    if (env != nullptr && *env != '\0') {
        if (env[0] != '/') {
            throw Error(std::string("HUSK_STORAGE=") + env + ": must be an absolute path");
        }
        own_dir(env);
        return env;
    }
    const std::string base = "/var/tmp/" + user_name();
    own_dir(base);
    own_dir(base + "/husk");
    return base + "/husk";
}

namespace {

/// Unpacks the archive `tar_path` as `parent`/`entry`, under the lock
/// `entry`.lock, into a temporary sibling renamed when complete. An entry
/// that exists is returned as it is with `reuse`, an error otherwise.
std::string unpack_entry(const std::string& parent, const std::string& entry,
                         const std::string& tar_path, bool reuse) {
    Fd tar(::open(tar_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!tar) {
        throw_errno("image " + tar_path + ": cannot open");
    }
    const std::string final_path = parent + "/" + entry;
    const std::string key = entry;
    const std::string& cache = parent;
    Fd lock(
        ::open((final_path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!lock) {
        throw_errno("cannot create lock " + final_path + ".lock");
    }
    // One unpacker at a time per archive; the others wait here, then find
    // the finished tree. The lock goes with the descriptor, even on SIGKILL.
    while (::flock(lock.get(), LOCK_EX) != 0) {
        if (errno != EINTR) {
            throw_errno("cannot lock " + final_path + ".lock");
        }
    }
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
        unpack_into(root.get(), cache_fd.get(), tmp, tar.get(), tar_path);
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
        throw;
    }
    return final_path;
}

} // namespace

std::string unpack_cached(const std::string& tar_path) {
    struct stat st {};
    if (::stat(tar_path.c_str(), &st) != 0) {
        throw_errno("image " + tar_path + ": cannot stat");
    }
    const std::string cache = storage_dir() + "/cache";
    own_dir(cache);
    const std::string key =
        "tar-" +
        key_of(std::string(kUnpackFormat) + '\0' + tar_path + '\0' + std::to_string(st.st_dev) +
               ':' + std::to_string(st.st_ino) + ':' + std::to_string(st.st_size) + ':' +
               std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec));
    return unpack_entry(cache, key, tar_path, /*reuse=*/true);
}

} // namespace husk::image
