// Name service lookups (getpwuid_r(3), getgrgid_r(3)) with a buffer that
// grows until the entry fits.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>

namespace husk::nss {

/// A passwd entry, copied out of the reentrant call's buffer (passwd(5)).
struct User {
    std::string name;  ///< pw_name, the login name
    std::string home;  ///< pw_dir; "" if the entry has none
    std::string gecos; ///< pw_gecos; "" if the entry has none
    uid_t uid = 0;
    gid_t gid = 0; ///< the primary group
};

/// The passwd entry of `uid` (getpwuid_r(3), so NSS may ask a directory
/// server), or nullopt when there is none or the lookup fails: callers fall
/// back to the number. Never throws but std::bad_alloc.
std::optional<User> user_by_uid(uid_t uid);

/// The name of group `gid` (getgrgid_r(3)), or nullopt when there is none or
/// the lookup fails. The entry holds every member's name, which for a
/// cluster's all-users group runs far past any fixed buffer: the buffer grows.
std::optional<std::string> group_name(gid_t gid);

/// The growth of user_by_uid() and group_name(), for other *_r lookups and
/// for tests: calls `lookup(buffer, size)`, which returns 0 or an errno value
/// as getpwuid_r(3) does, with an uninitialised buffer of `first` bytes,
/// doubled after each ERANGE up to `most` bytes (retried on EINTR), and
/// returns the last call's result (ERANGE if even `most` was too small).
/// The buffer lives until `lookup` returns: copy out what it points into.
int with_buffer(const std::function<int(char*, size_t)>& lookup, size_t first = 1024,
                size_t most = size_t{1} << 24);

} // namespace husk::nss
