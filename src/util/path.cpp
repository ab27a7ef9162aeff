#include "util/path.hpp"

#include "util/error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <linux/openat2.h>
#include <optional>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace husk::path {

namespace {

/// Calls `fn` with each component of `path` that split() keeps (not empty,
/// not "."), in order, as a view into `path`.
template <class Fn> void each_part(std::string_view path, Fn fn) {
    for (size_t at = 0; at < path.size();) {
        const size_t end = std::min(path.find('/', at), path.size());
        const std::string_view part = path.substr(at, end - at);
        at = end + 1;
        if (!part.empty() && part != ".") {
            fn(part);
        }
    }
}

} // namespace

std::vector<std::string> split(std::string_view path) {
    std::vector<std::string> parts;
    each_part(path, [&parts](std::string_view part) { parts.emplace_back(part); });
    return parts;
}

size_t depth(std::string_view path) noexcept {
    size_t n = 0;
    each_part(path, [&n](std::string_view) { ++n; });
    return n;
}

std::string canonical(const std::string& path) {
    char* real = ::realpath(path.c_str(), nullptr);
    if (real == nullptr) {
        return {};
    }
    std::string out(real);
    std::free(real);
    return out;
}

std::string join(const std::vector<std::string>& parts) {
    if (parts.empty()) {
        return "/";
    }
    std::string out;
    for (const auto& p : parts) {
        out += '/';
        out += p;
    }
    return out;
}

std::string read_link(int dir_fd, const char* name, const std::string& where) {
    std::string buf(256, '\0');
    for (;;) {
        ssize_t n = ::readlinkat(dir_fd, name, buf.data(), buf.size());
        if (n < 0) {
            throw_errno("cannot read symlink " + where);
        }
        if (static_cast<size_t>(n) < buf.size()) {
            buf.resize(static_cast<size_t>(n));
            return buf;
        }
        buf.resize(buf.size() * 2);
    }
}

namespace {

constexpr int kMaxSymlinks = 40; // path_resolution(7)

/// The fast path: one openat2(2) with RESOLVE_BENEATH, which fails (EXDEV)
/// on exactly the walks the slow path has to look at closely: a ".." above
/// the root or any absolute symlink. When it succeeds the result is the one
/// the component walk would give. -1 (errno set) otherwise, or on kernels
/// before 5.6 (ENOSYS).
/// `rel`: components joined by "/", no empty ones ("." for the root).
/// `resolve`: more RESOLVE_* flags (probes add RESOLVE_NO_SYMLINKS).
int open_relative(int root_fd, const std::string& rel, Last last, uint64_t resolve, int flags) {
    struct open_how how {};
    how.flags =
        static_cast<uint64_t>(flags) | O_CLOEXEC | (last == Last::NoFollow ? O_NOFOLLOW : 0);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | resolve;
    return static_cast<int>(::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how));
}

/// Split components joined as open_relative() takes them.
std::string joined_relative(const std::vector<std::string>& parts) {
    std::string rel = parts.empty() ? "." : parts.front();
    for (size_t i = 1; i < parts.size(); ++i) {
        rel += '/';
        rel += parts[i];
    }
    return rel;
}

/// open_relative() of split components.
int open_beneath(int root_fd, const std::vector<std::string>& parts, Last last,
                 uint64_t resolve = 0, int flags = O_PATH) {
    return open_relative(root_fd, joined_relative(parts), last, resolve, flags);
}

/// The components split() keeps, joined by "/" ("." for none), made in one
/// pass; nullopt where one is "..".
std::optional<std::string> relative(std::string_view path) {
    std::string rel;
    rel.reserve(path.size());
    bool climbs = false;
    each_part(path, [&](std::string_view part) {
        climbs = climbs || part == "..";
        rel += rel.empty() ? "" : "/";
        rel += part;
    });
    if (climbs) {
        return std::nullopt;
    }
    return rel.empty() ? "." : rel;
}

/// probe_exact() of a relative path as open_relative() takes it.
Probed probe_relative(int root_fd, const std::string& rel, Last last, int flags = O_PATH) {
    Probed out;
    const int fd = open_relative(root_fd, rel, last, RESOLVE_NO_SYMLINKS, flags);
    if (fd >= 0) {
        out.state = Probe::Exact;
        out.fd = Fd(fd);
    } else if (errno == ENOENT) {
        out.state = Probe::Missing;
    }
    return out;
}

} // namespace

Resolved resolve_in_root(int root_fd, std::string_view path, Last last) {
    const std::string shown(path);
    {
        auto parts = split(path);
        int fd = open_beneath(root_fd, parts, last);
        if (fd >= 0) {
            Resolved r;
            r.fd = Fd(fd);
            // No ".." climbed out and no absolute symlink was crossed, but
            // relative symlinks may have been: the path is the one asked for.
            r.path = join(parts);
            return r;
        }
        // Missing: when no symlink is on the way, the deepest existing
        // folder is the longest prefix that one openat2 with
        // RESOLVE_NO_SYMLINKS finds; each longer probe, the whole path
        // first, must fail with ENOENT (ELOOP: a symlink, dangling ones
        // included, which the walk follows).
        if (errno == ENOENT && !parts.empty() &&
            std::find(parts.begin(), parts.end(), "..") == parts.end()) {
            for (size_t n = parts.size() + 1; n-- > 0;) {
                const std::vector<std::string> head(parts.begin(),
                                                    parts.begin() + static_cast<std::ptrdiff_t>(n));
                Probed p = probe_relative(root_fd, joined_relative(head), Last::Follow);
                if (p.state == Probe::Exact && n < parts.size()) {
                    Resolved r;
                    r.fd = std::move(p.fd);
                    r.path = join(head);
                    r.missing.assign(parts.begin() + static_cast<std::ptrdiff_t>(n), parts.end());
                    return r;
                }
                if (p.state != Probe::Missing) {
                    break; // a symlink on the way: walk
                }
            }
        }
    }
    std::deque<std::string> todo;
    for (auto& p : split(path)) {
        todo.push_back(std::move(p));
    }

    // The walked directories, root first; ".." pops one. names[i] is the name
    // of dirs[i + 1].
    std::vector<Fd> dirs;
    std::vector<std::string> names;
    int root_copy = ::fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
    if (root_copy < 0) {
        throw_errno("cannot duplicate root descriptor");
    }
    dirs.emplace_back(root_copy);

    int links = 0;
    while (!todo.empty()) {
        std::string name = std::move(todo.front());
        todo.pop_front();
        if (name == "..") {
            if (dirs.size() == 1) {
                throw Error("path " + shown + " leaves the root through '..'");
            }
            dirs.pop_back();
            names.pop_back();
            continue;
        }
        int fd = ::openat(dirs.back().get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT) {
                throw_errno("cannot open " + join(names) + (names.empty() ? "" : "/") + name +
                            " while resolving " + shown);
            }
            Resolved r;
            r.missing.push_back(name);
            for (auto& rest : todo) {
                if (rest == "..") {
                    throw Error("path " + shown + " uses '..' below a missing directory " +
                                join(names) + (names.empty() ? "" : "/") + name);
                }
                r.missing.push_back(std::move(rest));
            }
            r.path = join(names);
            r.fd = std::move(dirs.back());
            return r;
        }
        Fd child(fd);
        struct stat st {};
        if (::fstat(child.get(), &st) != 0) {
            throw_errno("cannot stat " + join(names) + "/" + name);
        }
        bool is_last = todo.empty();
        if (S_ISLNK(st.st_mode) && (!is_last || last == Last::Follow)) {
            if (++links > kMaxSymlinks) {
                throw Error("too many symlinks while resolving " + shown, ELOOP);
            }
            // An empty name reads the symlink that the O_PATH|O_NOFOLLOW
            // descriptor refers to (Linux >= 2.6.39): the link read is the
            // one opened.
            std::string target = read_link(child.get(), "", join(names) + "/" + name);
            if (!target.empty() && target[0] == '/') {
                dirs.resize(1);
                names.clear();
            }
            auto parts = split(target);
            for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
                todo.push_front(std::move(*it));
            }
            continue;
        }
        if (!is_last && !S_ISDIR(st.st_mode)) {
            throw Error("cannot resolve " + shown + ": " + join(names) + "/" + name +
                            " is not a directory",
                        ENOTDIR);
        }
        dirs.push_back(std::move(child));
        names.push_back(std::move(name));
    }
    Resolved r;
    r.path = join(names);
    r.fd = std::move(dirs.back());
    return r;
}

Fd open_beneath(int root_fd, std::string_view path, int flags) {
    const std::optional<std::string> rel = relative(path);
    return Fd(rel ? open_relative(root_fd, *rel, Last::Follow, 0, flags)
                  : open_beneath(root_fd, split(path), Last::Follow, 0, flags));
}

Probed probe_exact(int root_fd, std::string_view path, Last last, int flags) {
    const std::optional<std::string> rel = relative(path);
    return rel ? probe_relative(root_fd, *rel, last, flags) : Probed{};
}

Fd create_missing(const Resolved& r, Kind last) {
    int dup = ::fcntl(r.fd.get(), F_DUPFD_CLOEXEC, 0);
    if (dup < 0) {
        throw_errno("cannot duplicate descriptor of " + r.path);
    }
    Fd cur(dup);
    std::string where = r.path == "/" ? "" : r.path;
    for (size_t i = 0; i < r.missing.size(); ++i) {
        const std::string& name = r.missing[i];
        where += "/" + name;
        bool is_last = i + 1 == r.missing.size();
        if (is_last && last == Kind::File) {
            int fd = ::openat(cur.get(), name.c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd < 0 && errno != EEXIST) {
                throw_errno("cannot create file " + where);
            }
            if (fd >= 0) {
                ::close(fd);
            }
        } else if (::mkdirat(cur.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
            throw_errno("cannot create directory " + where);
        }
        int flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
        if (!is_last || last == Kind::Directory) {
            flags |= O_DIRECTORY;
        }
        int fd = ::openat(cur.get(), name.c_str(), flags);
        if (fd < 0) {
            throw_errno("cannot open " + where + " after creating it");
        }
        Fd next(fd);
        if (is_last && last == Kind::File) {
            struct stat st {};
            if (::fstat(next.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
                throw Error("cannot create file " + where + ": something else is there");
            }
        }
        cur = std::move(next);
    }
    return cur;
}

std::string fd_path(int fd, std::string_view proc) {
    std::string p(proc);
    p += "/self/fd/";
    p += std::to_string(fd);
    return p;
}

} // namespace husk::path
