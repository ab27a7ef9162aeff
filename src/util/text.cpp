#include "util/text.hpp"

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

} // namespace husk::text
