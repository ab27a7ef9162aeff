#include "runtime/passwd.hpp"

#include "util/text.hpp"

#include <vector>

namespace husk::runtime {

namespace {

/// Field `n` (0-based) of a colon-separated line; false if it has fewer.
bool field(std::string_view line, size_t n, std::string_view& out) {
    const auto fields = text::split(line, ':');
    if (n >= fields.size()) {
        return false;
    }
    out = fields[n];
    return true;
}

/// Shared shape of passwd(5) and group(5): name is field 0, the id field 2.
std::string merge(std::string_view image_text, std::string_view name, uint32_t id,
                  const std::string& entry) {
    const std::string id_text = std::to_string(id);
    auto lines = text::lines(image_text);
    for (auto line : lines) {
        std::string_view f;
        if (field(line, 2, f) && f == id_text) {
            std::string out(image_text);
            if (!out.empty() && out.back() != '\n') {
                out += '\n';
            }
            return out;
        }
    }
    std::string out;
    for (auto line : lines) {
        std::string_view f;
        if (field(line, 0, f) && f == name) {
            continue;
        }
        out += line;
        out += '\n';
    }
    out += entry;
    out += '\n';
    return out;
}

} // namespace

std::string merge_passwd(std::string_view image_passwd, const Account& a) {
    std::string entry = a.name + ":x:" + std::to_string(a.uid) + ":" + std::to_string(a.gid) + ":" +
                        a.gecos + ":" + a.home + ":" + a.shell;
    return merge(image_passwd, a.name, a.uid, entry);
}

std::string merge_group(std::string_view image_group, const Account& a) {
    std::string entry = a.group_name + ":x:" + std::to_string(a.gid) + ":" + a.name;
    return merge(image_group, a.group_name, a.gid, entry);
}

} // namespace husk::runtime
