// Paths: lexical helpers and symlink-safe resolution inside a root.
#pragma once

#include "util/fd.hpp"

#include <fcntl.h>
#include <string>
#include <string_view>
#include <vector>

namespace husk::path {

/// Splits a path into its components, dropping empty ones and ".":
/// "/a//b/./c/" -> {"a", "b", "c"}. ".." is kept (its meaning depends on
/// symlinks, so it is resolved only while walking a real tree).
std::vector<std::string> split(std::string_view path);

/// How many components split() finds in `path`, without making them:
/// "/a//b/./c/" -> 3.
size_t depth(std::string_view path) noexcept;

/// The canonical path of `path` on this host (realpath(3): symlinks, "."
/// and ".." resolved), or "" when it does not exist or cannot be resolved.
std::string canonical(const std::string& path);

/// Joins components into an absolute path: {"a","b"} -> "/a/b", {} -> "/".
std::string join(const std::vector<std::string>& parts);

/// The text of the symlink `name` below `dir_fd` (readlinkat(2); "" for
/// the link an O_PATH|O_NOFOLLOW `dir_fd` itself is), however long.
/// @throws husk::Error "cannot read symlink <where>" with errno.
std::string read_link(int dir_fd, const char* name, const std::string& where);

/// The result of resolve_in_root().
struct Resolved {
    /// O_PATH descriptor of the deepest component that exists (the whole path
    /// when `missing` is empty). Owned.
    Fd fd;
    /// Path of that component inside the root: "/usr/lib". Symlinks are
    /// resolved when something is missing; when the whole path exists it may
    /// be the path as asked, relative symlinks and all.
    std::string path;
    /// Components still to be created below `fd`, in order; empty when the
    /// whole path exists. Never contains "." or "..".
    std::vector<std::string> missing;
};

/// Whether the last component of a path is followed when it is a symlink.
enum class Last { Follow, NoFollow };

/// Resolves `path` (absolute or relative to the root) inside the tree whose
/// root directory is open as `root_fd`, the way the kernel would after
/// chroot(2) to it: an absolute symlink restarts at the root, and each
/// component is opened with O_PATH|O_NOFOLLOW relative to its parent, so no
/// symlink or rename race can take the walk outside. Unlike openat2(2)'s
/// RESOLVE_IN_ROOT, which silently clamps "/.." to "/", a ".." or a symlink
/// that would climb above the root is an error: an image that tries it is
/// trying to escape, and the user should hear so.
///
/// Tries one openat2(2) with RESOLVE_BENEATH first, and walks component by
/// component only when that fails (a missing component, an absolute symlink,
/// a ".." above the root, or a kernel before 5.6).
///
/// Stops at the first component that does not exist and reports the rest in
/// Resolved::missing (a missing component followed by ".." is an error).
///
/// @throws husk::Error naming `path`: a component above the root, more than 40
///         symlinks (ELOOP, as path_resolution(7)), a non-directory in the
///         middle (ENOTDIR), or a failed openat/readlinkat/fstat.
Resolved resolve_in_root(int root_fd, std::string_view path, Last last = Last::Follow);

/// One openat2(2) of `path` beneath `root_fd` with RESOLVE_BENEATH |
/// RESOLVE_NO_MAGICLINKS: relative symlinks that stay beneath the root are
/// followed; an absolute symlink or a ".." above the root fails (EXDEV),
/// as on kernels before 5.6 (ENOSYS): resolve_in_root() answers those.
/// `flags` as probe_exact(). @returns the descriptor, or an empty Fd with
/// errno set. Never throws.
Fd open_beneath(int root_fd, std::string_view path, int flags = O_PATH);

/// What probe_exact() found.
enum class Probe {
    Exact,   ///< the path exists, and no component of it is a symlink
    Missing, ///< a component does not exist (and none before it is a symlink)
    Unsure,  ///< a symlink, a "..", an error or a kernel before 5.6: ask resolve_in_root()
};

/// The result of probe_exact(): `fd` is set for Probe::Exact only.
struct Probed {
    Probe state = Probe::Unsure;
    Fd fd; ///< descriptor of the path (O_PATH unless asked otherwise), owned
};

/// The cheap question before resolve_in_root(): one openat2(2) with
/// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS (O_NOFOLLOW
/// too for Last::NoFollow). For Probe::Exact the real path of the file is
/// the root's followed by `path` as written. `flags`: O_PATH, or the
/// open(2) flags of a descriptor to read through (O_RDONLY with
/// O_DIRECTORY, or with O_NONBLOCK so that a FIFO does not block; the file
/// is opened, so never for a device node); O_CLOEXEC is added. An open
/// that fails for another reason than ENOENT (ENOTDIR, ENXIO for a socket,
/// ...) is Probe::Unsure. Never throws.
Probed probe_exact(int root_fd, std::string_view path, Last last = Last::Follow,
                   int flags = O_PATH);

/// What create_missing() makes for the last missing component.
enum class Kind { Directory, File };

/// Creates the components in `r.missing` below `r.fd` — directories 0755, and
/// the last one a directory or an empty regular file 0644 — without following
/// any symlink (mkdirat, openat O_CREAT|O_EXCL|O_NOFOLLOW). A component that
/// appeared meanwhile is accepted only if it has the right type.
///
/// @returns an O_PATH descriptor of the last component, owned.
/// @throws husk::Error naming the component and the errno (EROFS, EACCES ...).
Fd create_missing(const Resolved& r, Kind last);

/// "/proc/self/fd/N": a path that names an open descriptor for calls such as
/// mount(2) that take paths. `proc` is where procfs is mounted right now.
std::string fd_path(int fd, std::string_view proc = "/proc");

} // namespace husk::path
