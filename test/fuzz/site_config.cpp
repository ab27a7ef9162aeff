// Fuzz harness: the site config, /etc/husk/husk.json (husk.json(5)), read
// the way every husk start reads it: config::apply_site_config() on the
// built-in settings, then config::describe(), which `husk check` prints. An
// admin's file is trusted more than an image, but a typo must still be one
// line naming the file and the key, never a crash, and a file that passes
// must describe without one.
//
// Input: the file's text.
#include "util/config.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace config = husk::config;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    config::Identity who;
    who.user = "alice";
    who.uid = 1001;
    who.known = true;
    who.home = "/home/alice";
    config::Settings s = config::defaults(who);
    try {
        config::apply_site_config(s, text, "/etc/husk/husk.json", who);
    } catch (const husk::Error& e) {
        const std::string_view msg = e.what();
        if (msg.find('\n') != std::string_view::npos || msg.rfind("/etc/husk/husk.json", 0) != 0) {
            std::fprintf(stderr, "site_config: not one line naming the file: %s\n", e.what());
            std::abort();
        }
        return 0;
    }
    for (const auto& row : config::describe(s)) {
        if (row.name.empty()) {
            std::abort();
        }
    }
    return 0;
}
