// /proc/PID/mountinfo, for kernels without mount_setattr(2).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace husk::runtime {

/// One line of /proc/PID/mountinfo (proc(5)), the fields husk needs.
struct MountInfo {
    std::string mount_point; ///< field 5, unescaped ("\040" -> ' '), relative to the root
    std::string options;     ///< field 6, per-mount options: "rw,nosuid,relatime"
};

/// Parses mountinfo text; malformed lines are skipped.
std::vector<MountInfo> parse_mountinfo(std::string_view text);

/// The mounts at `path` or below it, in the order listed (parents first).
std::vector<MountInfo> mounts_under(const std::vector<MountInfo>& all, std::string_view path);

/// The MS_* flags that a bind remount must repeat to keep per-mount options
/// that may be locked in a user namespace (nosuid, nodev, noexec and the
/// atime flags; mount_namespaces(7), "locked" mounts), from an options
/// field such as "ro,nosuid,noexec,relatime".
unsigned long locked_flags(std::string_view options);

} // namespace husk::runtime
