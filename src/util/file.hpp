// Reading and writing whole small files.
#pragma once

#include "util/fd.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace husk::file {

/// Reads everything from `fd` (retrying on EINTR). `what` names the file in
/// errors. Does not close `fd`.
/// `size`: what fstat(2) says of a regular file, 0 where unknown. A read
/// that ends exactly there, short of the room asked for, is taken as the
/// end of the file: no further read(2) returns 0 to confirm it.
/// @throws husk::Error "cannot read <what>" with errno, or "<what> is larger
///         than <limit> bytes" when it exceeds `limit`.
std::string read_fd(int fd, const std::string& what, size_t limit = SIZE_MAX, size_t size = 0);

/// read_fd() of `fd` where it is a regular file (fstat(2)); nullopt where
/// it is not (a folder, a FIFO, a device node) or cannot be stat'ed.
/// @throws husk::Error as read_fd().
std::optional<std::string> read_regular(int fd, const std::string& what, size_t limit = SIZE_MAX);

/// Opens `path` read-only (O_CLOEXEC) and reads it whole.
/// @throws husk::Error "cannot open <path>" / "cannot read <path>".
std::string read(const std::string& path, size_t limit = SIZE_MAX);

/// Writes all of `data` to `fd`, retrying on EINTR and short writes.
/// @throws husk::Error "cannot write <what>" with errno.
void write_all(int fd, std::string_view data, const std::string& what);

/// Creates or truncates `path` (mode 0644, never through a symlink) and
/// writes `content`.
/// @throws husk::Error "cannot create <path>" / "cannot write <path>".
void write(const std::string& path, std::string_view content);

/// Writes `path` whole or not at all: write()s `content` under a temporary
/// name of this process beside it (PATH.tmp.PID), then renames that over
/// `path`, so a reader never sees half of it; the temporary name is removed
/// on failure.
/// @throws husk::Error "cannot create <path>" / "cannot write <path>".
void write_whole(const std::string& path, std::string_view content);

/// Opens (creating it mode 0600, never through a symlink) the lock file
/// `path` and waits for flock(2) LOCK_EX on it. The lock lasts as long as
/// the returned descriptor, and a killed holder drops it; the file stays.
/// @throws husk::Error "cannot create lock <path>" / "cannot lock <path>".
Fd lock(const std::string& path);

/// Creates the directory `path` mode 0700 (its parent must exist), or checks
/// that what is there is a real directory (not a symlink) owned by the
/// caller, so that another user cannot plant it. `what` names it in errors
/// ("storage /var/tmp/alice/husk"), `hint` says what to do instead.
/// @throws husk::Error "<what>: owned by uid N, not by you; <hint>", ...
void own_directory(const std::string& path, const std::string& what, const std::string& hint);

} // namespace husk::file
