// Fuzz harness: what a registry (or whoever answers in its place) sends
// `husk pull`, read the way the client reads it: a WWW-Authenticate header
// (image::parse_challenge), an image index (image::index_choice, for this
// machine's platform and for linux/arm64/v8), an image manifest
// (image::manifest_blobs); and the reference a user types
// (image::parse_reference). Each must be a result or one line of error,
// never a crash; a manifest's every digest must be a safe blob file name.
//
// Input: one mode byte (mode % 4: challenge, index, manifest, reference),
// then the text.
#include "fuzz_support.hpp"

#include "image/reference.hpp"
#include "image/registry.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void safe_digest(const std::string& d) {
    if (d.size() != 71 || d.compare(0, 7, "sha256:") != 0 ||
        d.find_first_not_of("0123456789abcdef", 7) != std::string::npos) {
        std::fprintf(stderr, "registry_reply: an unsafe digest passed: %s\n", d.c_str());
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace image = husk::image;
    if (size == 0) {
        return 0;
    }
    const int mode = data[0] % 4;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        switch (mode) {
        case 0: {
            const image::Challenge c = image::parse_challenge(text);
            (void)c;
            break;
        }
        case 1: {
            image::Platform chosen;
            safe_digest(image::index_choice(text, image::Platform::host(), "r", &chosen));
            safe_digest(
                image::index_choice(text, image::Platform::parse("linux/arm64/v8"), "r", nullptr));
            break;
        }
        case 2:
            for (const auto& d : image::manifest_blobs(text, "r")) {
                safe_digest(d.digest);
            }
            break;
        case 3: {
            const image::Reference r = image::parse_reference(text);
            if (r.repository.empty() || r.registry.empty() || (r.tag.empty() && r.digest.empty())) {
                std::abort();
            }
            // What was parsed parses again to the same.
            if (image::parse_reference(r.str()).str() != r.str()) {
                std::fprintf(stderr, "registry_reply: %s does not parse to itself\n",
                             r.str().c_str());
                std::abort();
            }
            break;
        }
        }
    } catch (const husk::Error& e) {
        husk::fuzz::expect_one_line("registry_reply", e.what());
    }
    return 0;
}
