#include "runtime/mountinfo.hpp"

#include "util/text.hpp"

#include <sys/mount.h>

namespace husk::runtime {

namespace {

/// proc(5) escapes space, tab, newline and backslash as \ooo octal.
std::string unescape(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' &&
            s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            out +=
                static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

} // namespace

std::vector<MountInfo> parse_mountinfo(std::string_view text) {
    std::vector<MountInfo> out;
    for (auto line : text::lines(text)) {
        auto f = text::split(line, ' ', text::Empty::Drop);
        if (f.size() < 6 || f[4].empty() || f[4][0] != '/') {
            continue;
        }
        out.push_back({unescape(f[4]), std::string(f[5])});
    }
    return out;
}

std::vector<MountInfo> mounts_under(const std::vector<MountInfo>& all, std::string_view path) {
    std::string prefix(path);
    while (prefix.size() > 1 && prefix.back() == '/') {
        prefix.pop_back();
    }
    std::vector<MountInfo> out;
    for (const auto& m : all) {
        const std::string& p = m.mount_point;
        bool below =
            prefix == "/" || (p.size() > prefix.size() &&
                              p.compare(0, prefix.size(), prefix) == 0 && p[prefix.size()] == '/');
        if (p == prefix || below) {
            out.push_back(m);
        }
    }
    return out;
}

unsigned long locked_flags(std::string_view options) {
    unsigned long flags = 0;
    for (auto opt : text::split(options, ',', text::Empty::Drop)) {
        if (opt == "nosuid") {
            flags |= MS_NOSUID;
        } else if (opt == "nodev") {
            flags |= MS_NODEV;
        } else if (opt == "noexec") {
            flags |= MS_NOEXEC;
        } else if (opt == "noatime") {
            flags |= MS_NOATIME;
        } else if (opt == "nodiratime") {
            flags |= MS_NODIRATIME;
        } else if (opt == "relatime") {
            flags |= MS_RELATIME;
        } else if (opt == "strictatime") {
            flags |= MS_STRICTATIME;
        }
    }
    return flags;
}

} // namespace husk::runtime
