// User-namespace id maps (user_namespaces(7), "User and group ID mappings").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace husk::runtime {

/// One line of /proc/PID/uid_map or gid_map: ids [inside, inside+count) in the
/// new namespace are ids [outside, outside+count) in the parent.
struct IdMap {
    uint32_t inside = 0;
    uint32_t outside = 0;
    uint32_t count = 1;

    bool operator==(const IdMap&) const = default;
};

/// The uid and gid maps of a launch.
struct IdMaps {
    IdMap uid;
    IdMap gid;

    bool operator==(const IdMaps&) const = default;
};

/// The maps an unprivileged caller may write: its own uid and gid, each mapped
/// once. Inside they become `want_uid`/`want_gid` when given (--uid/--gid),
/// 0 with `fake_root`, and the caller's own ids otherwise.
/// @throws husk::Error when --uid/--gid is combined with --fake-root
///         differently (fake root means 0) or is 2^32-1 (the invalid id).
IdMaps compute_id_maps(uint32_t host_uid, uint32_t host_gid, std::optional<uint32_t> want_uid,
                       std::optional<uint32_t> want_gid, bool fake_root);

/// "inside outside count\n", the format of uid_map(5).
std::string format_id_map(const IdMap& map);

/// Writes "deny" to /proc/self/setgroups, then gid_map and uid_map, for the
/// calling process right after unshare(CLONE_NEWUSER). Since Linux 3.19 an
/// unprivileged process must deny setgroups(2) before it may write gid_map.
/// `proc`: where procfs is mounted in the caller's mount namespace.
/// @throws husk::Error naming the file and the errno.
void write_id_maps(const IdMaps& maps, const std::string& proc = "/proc");

} // namespace husk::runtime
