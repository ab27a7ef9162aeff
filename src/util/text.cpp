#include "util/text.hpp"

#include <cstdint>
#include <cstdio>

namespace husk::text {

std::vector<std::string_view> split(std::string_view text, char sep, Empty empty) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (true) {
        size_t j = text.find(sep, i);
        std::string_view piece = text.substr(i, j == std::string_view::npos ? j : j - i);
        if (!piece.empty() || empty == Empty::Keep) {
            out.push_back(piece);
        }
        if (j == std::string_view::npos) {
            return out;
        }
        i = j + 1;
    }
}

std::vector<std::string_view> lines(std::string_view text) {
    if (!text.empty() && text.back() == '\n') {
        text.remove_suffix(1);
    } else if (text.empty()) {
        return {};
    }
    return split(text, '\n');
}

std::string hash_hex(std::string_view text) {
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : text) {
        h = (h ^ c) * 1099511628211ULL;
    }
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
}

} // namespace husk::text
