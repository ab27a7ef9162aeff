#include "runtime/passwd.hpp"

#include <vector>

namespace husk::runtime {

namespace {

std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < text.size()) {
        size_t j = text.find('\n', i);
        if (j == std::string_view::npos) {
            j = text.size();
        }
        out.push_back(text.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

/// Field `n` (0-based) of a colon-separated line, or nullopt-like "" + false.
bool field(std::string_view line, size_t n, std::string_view& out) {
    size_t start = 0;
    for (size_t k = 0; k < n; ++k) {
        size_t c = line.find(':', start);
        if (c == std::string_view::npos) {
            return false;
        }
        start = c + 1;
    }
    size_t end = line.find(':', start);
    out = line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    return true;
}

/// Shared shape of passwd(5) and group(5): name is field 0, the id field 2.
std::string merge(std::string_view image_text, std::string_view name, uint32_t id,
                  const std::string& entry) {
    const std::string id_text = std::to_string(id);
    auto lines = lines_of(image_text);
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
