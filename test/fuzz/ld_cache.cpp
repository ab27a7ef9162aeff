// Fuzz harness: an image's /etc/ld.so.cache, read the way --gpu, CDI's
// update-ldcache hook and --mpi=host read it (host::read_ld_cache(),
// host::parse_ld_cache()). A cache that reads is written back
// (host::write_ld_cache()) and must read back equal; then two libraries
// are added (host::add_to_ld_cache()), as cache_ld_folders() adds the
// injected ones, and what is written must read back with them, each found
// by its soname. Every husk::Error must be one line.
//
// Input: the cache's bytes, as the file holds them.
#include "fuzz_support.hpp"

#include "host/ldcache.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace host = husk::host;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    host::LdCache cache;
    try {
        cache = host::read_ld_cache(bytes, "image fuzz: /etc/ld.so.cache");
        (void)host::parse_ld_cache(bytes, "image fuzz: /etc/ld.so.cache");
    } catch (const husk::Error& e) {
        husk::fuzz::expect_one_line("ld_cache", e.what()); // the expected outcome for most inputs
        return 0;
    }
    try {
        if (!(host::read_ld_cache(host::write_ld_cache(cache), "written") == cache)) {
            std::fprintf(stderr, "ld_cache: written, reads back different\n");
            std::abort();
        }
        host::add_to_ld_cache(cache,
                              {{"libcuda.so.1", "/usr/lib/husk-gpu/libcuda.so.1"},
                               {"libnvidia-ml.so.1", "/usr/lib/husk-gpu/libnvidia-ml.so.1"}});
        const auto libs = host::parse_ld_cache(host::write_ld_cache(cache), "written");
        const auto* cuda = host::find_library(libs, "libcuda.so.1");
        if (cuda == nullptr || cuda->path != "/usr/lib/husk-gpu/libcuda.so.1" ||
            host::find_library(libs, "libnvidia-ml.so.1") == nullptr) {
            std::fprintf(stderr, "ld_cache: an added library is not in the written cache\n");
            std::abort();
        }
    } catch (const husk::Error& e) {
        std::fprintf(stderr, "ld_cache: what husk wrote does not read: %s\n", e.what());
        std::abort();
    }
    return 0;
}
