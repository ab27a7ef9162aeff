#include "image/files.hpp"

#include "image/squashfs.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"
#include "util/path.hpp"

#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::image {

namespace {

enum class Type { Missing, Directory, Link, Other };

} // namespace

struct ImageFiles::Impl {
    Image img;
    Fd dir_fd; ///< a directory image's root, O_PATH, opened at the first read()
    Fd sqfs_fd;
    std::unique_ptr<Squashfs> sqfs;

    /// The type of `path`, whose parents are symlink-free; `target`: a
    /// symlink's target.
    Type type(const std::string& path, std::string& target) {
        if (!sqfs) {
            struct stat st {};
            const std::string host = img.path + path;
            if (::lstat(host.c_str(), &st) != 0) {
                return Type::Missing;
            }
            if (S_ISLNK(st.st_mode)) {
                char buf[PATH_MAX];
                const ssize_t n = ::readlink(host.c_str(), buf, sizeof buf);
                if (n < 0) {
                    return Type::Missing;
                }
                target.assign(buf, static_cast<size_t>(n));
                return Type::Link;
            }
            return S_ISDIR(st.st_mode) ? Type::Directory : Type::Other;
        }
        Squashfs::Inode cur;
        if (sqfs->inode(sqfs->root(), cur) != 0) {
            throw Error(img.path + ": corrupt SquashFS image (cannot read the root directory)");
        }
        for (const auto& part : path::split(path)) {
            Squashfs::InodeId child = 0;
            const int err = sqfs->lookup(cur, part.c_str(), child);
            if (err == ENOENT || err == ENOTDIR) {
                return Type::Missing;
            }
            if (err != 0 || sqfs->inode(child, cur) != 0) {
                throw Error(img.path + ": corrupt SquashFS image (reading " + path + ")");
            }
        }
        struct stat st {};
        if (sqfs->stat(cur, st) != 0) {
            throw Error(img.path + ": corrupt SquashFS image (reading " + path + ")");
        }
        if (S_ISLNK(st.st_mode)) {
            if (sqfs->readlink(cur, target) != 0) {
                throw Error(img.path + ": corrupt SquashFS image (reading " + path + ")");
            }
            return Type::Link;
        }
        return S_ISDIR(st.st_mode) ? Type::Directory : Type::Other;
    }
};

ImageFiles::ImageFiles(const Image& img) : impl_(std::make_unique<Impl>()) {
    impl_->img = img;
    if (img.kind == Kind::Squashfs) {
        impl_->sqfs_fd.reset(::open(img.path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!impl_->sqfs_fd) {
            throw_errno("image " + img.path + ": cannot open");
        }
        impl_->sqfs = std::make_unique<Squashfs>(impl_->sqfs_fd.get(), img.path);
    } else if (img.kind != Kind::Directory) {
        throw Error("image " + img.path + ": only directory and SquashFS images can be read");
    }
}

ImageFiles::~ImageFiles() = default;

std::optional<std::string> ImageFiles::resolve(const std::string& path) {
    std::vector<std::string> todo = path::split(path);
    std::vector<std::string> done; // resolved components, no symlink among them
    int links = 0;
    size_t i = 0;
    while (i < todo.size()) {
        const std::string part = todo[i++];
        if (part == "..") {
            if (!done.empty()) {
                done.pop_back();
            }
            continue;
        }
        done.push_back(part);
        std::string target;
        const Type t = impl_->type(path::join(done), target);
        if (t == Type::Missing) {
            return std::nullopt;
        }
        if (t != Type::Link) {
            continue;
        }
        if (++links > 40) {
            return std::nullopt;
        }
        done.pop_back();
        if (!target.empty() && target[0] == '/') {
            done.clear();
        }
        std::vector<std::string> rest = path::split(target);
        rest.insert(rest.end(), todo.begin() + static_cast<long>(i), todo.end());
        todo = std::move(rest);
        i = 0;
    }
    return path::join(done);
}

std::optional<std::string> ImageFiles::read(const std::string& path, size_t limit) {
    if (!impl_->sqfs) {
        // One openat2(2) below the image's root where no symlink is on
        // the way (the usual case); else the walk.
        if (!impl_->dir_fd) {
            impl_->dir_fd.reset(::open(impl_->img.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        }
        path::Probed probed = impl_->dir_fd
                                  ? path::probe_exact(impl_->dir_fd.get(), path, path::Last::Follow,
                                                      O_RDONLY | O_NONBLOCK | O_NOCTTY)
                                  : path::Probed{};
        if (probed.state == path::Probe::Missing) {
            return std::nullopt;
        }
        if (probed.state == path::Probe::Exact) {
            return file::read_regular(probed.fd.get(), impl_->img.path + path, limit);
        }
    }
    const auto real = resolve(path);
    if (!real) {
        return std::nullopt;
    }
    if (impl_->sqfs) {
        return impl_->sqfs->read_file(*real, limit);
    }
    std::string target;
    if (impl_->type(*real, target) != Type::Other) {
        return std::nullopt;
    }
    return file::read(impl_->img.path + *real, limit);
}

} // namespace husk::image
