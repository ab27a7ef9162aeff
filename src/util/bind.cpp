#include "util/bind.hpp"

#include "util/error.hpp"
#include "util/text.hpp"

namespace husk {

BindSpec parse_bind(std::string_view spec) {
    const auto parts = text::split(spec, ':');
    if (parts.size() > 3) {
        throw Error("expected SRC[:DST[:ro|rw]]");
    }
    BindSpec b;
    b.source = parts[0];
    if (b.source.empty()) {
        throw Error("the source is empty");
    }
    b.target = parts.size() >= 2 ? parts[1] : parts[0];
    if (b.target.empty()) {
        throw Error("the destination is empty");
    }
    if (parts.size() == 3) {
        if (parts[2] == "ro") {
            b.read_only = true;
        } else if (parts[2] != "rw") {
            throw Error("unknown flag \"" + std::string(parts[2]) + "\" (expected ro or rw)");
        }
    }
    return b;
}

} // namespace husk
