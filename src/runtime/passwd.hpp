// The container's /etc/passwd and /etc/group: the image's lines plus the user.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace husk::runtime {

/// The caller as seen inside the container, for passwd(5) and group(5).
struct Account {
    std::string name;       ///< login name (the host's)
    uint32_t uid = 0;       ///< uid inside
    uint32_t gid = 0;       ///< primary gid inside
    std::string gecos;      ///< the host's GECOS field
    std::string home;       ///< home directory inside
    std::string shell;      ///< login shell inside
    std::string group_name; ///< name of `gid` (the host's)

    bool operator==(const Account&) const = default;
};

/// The image's passwd(5) text with the caller's entry: unchanged when the
/// image already has an entry for account.uid (so --fake-root keeps the
/// image's "root"); otherwise entries with the same name are dropped and
/// "name:x:uid:gid:gecos:home:shell" is appended. Malformed lines are kept
/// as they are. `image_passwd` may be empty (the image has none).
std::string merge_passwd(std::string_view image_passwd, const Account& account);

/// The same for group(5): adds "group_name:x:gid:name" unless the image has
/// group `gid`.
std::string merge_group(std::string_view image_group, const Account& account);

} // namespace husk::runtime
