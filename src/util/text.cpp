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

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) {
            out += sep;
        }
        out += parts[i];
    }
    return out;
}

std::string_view trim(std::string_view text) {
    const size_t b = text.find_first_not_of(" \t");
    if (b == std::string_view::npos) {
        return {};
    }
    return text.substr(b, text.find_last_not_of(" \t") - b + 1);
}

std::string one_line(std::string_view text) {
    static const char* const kHex = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c != 0x7f) {
            out += ch;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

} // namespace husk::text
