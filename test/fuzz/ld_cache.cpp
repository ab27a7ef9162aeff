// Fuzz harness: an image's /etc/ld.so.cache, read the way --gpu, CDI's
// update-ldcache hook and --mpi=host read it (host::read_ld_cache(),
// host::parse_ld_cache()). A cache that reads is written back
// (host::write_ld_cache()) and must read back equal. Then two libraries
// are added as cache_ld_folders() adds the injected ones
// (host::add_to_ld_cache_file(), which splices the bytes): the result must
// read back with them, each found by its soname, and, for a cache whose
// table is in glibc's order (as ldconfig writes it), be what the model
// gives (read, host::add_to_ld_cache()). Every husk::Error must be one line.
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
#include <utility>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace host = husk::host;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    host::LdCache cache;
    host::LinkerCache linker;
    try {
        cache = host::read_ld_cache(bytes, "image fuzz: /etc/ld.so.cache");
        linker = host::parse_ld_cache(std::string(bytes), "image fuzz: /etc/ld.so.cache");
    } catch (const husk::Error& e) {
        husk::fuzz::expect_one_line("ld_cache", e.what()); // the expected outcome for most inputs
        return 0;
    }
    // The in-place reader sees the model's entries of this machine (glibc-hwcaps
    // variants left out: bit 62 of hwcap), in order.
    auto in_place = linker.begin();
    for (const auto& e : cache.entries) {
        if ((e.flags & 0xff00) != (host::native_ld_cache_flags() & 0xff00) ||
            (e.flags & 0xff) != (host::native_ld_cache_flags() & 0xff) ||
            (e.hwcap & (uint64_t{1} << 62)) != 0) {
            continue;
        }
        if (in_place == linker.end() || in_place->soname != e.key || in_place->path != e.value ||
            in_place->flags != e.flags) {
            std::fprintf(stderr, "ld_cache: the in-place reader differs from the model\n");
            std::abort();
        }
        ++in_place;
    }
    if (in_place != linker.end()) {
        std::fprintf(stderr, "ld_cache: the in-place reader has more entries than the model\n");
        std::abort();
    }
    const std::vector<std::pair<std::string, std::string>> libs = {
        {"libcuda.so.1", "/usr/lib/husk-gpu/libcuda.so.1"},
        {"libnvidia-ml.so.1", "/usr/lib/husk-gpu/libnvidia-ml.so.1"}};
    std::string spliced;
    try {
        spliced = host::add_to_ld_cache_file(bytes, libs, "image fuzz: /etc/ld.so.cache");
    } catch (const husk::Error& e) {
        husk::fuzz::expect_one_line("ld_cache", e.what()); // a layout ldconfig never writes
        spliced.clear();
    }
    try {
        if (!(host::read_ld_cache(host::write_ld_cache(cache), "written") == cache)) {
            std::fprintf(stderr, "ld_cache: written, reads back different\n");
            std::abort();
        }
        if (spliced.empty()) {
            return 0;
        }
        const auto found = host::parse_ld_cache(spliced, "spliced");
        const auto* cuda = host::find_library(found, "libcuda.so.1");
        if (cuda == nullptr || cuda->path != "/usr/lib/husk-gpu/libcuda.so.1" ||
            host::find_library(found, "libnvidia-ml.so.1") == nullptr) {
            std::fprintf(stderr, "ld_cache: an added library is not in the spliced cache\n");
            std::abort();
        }
        bool sorted = true;
        for (size_t i = 0; i + 1 < cache.entries.size(); ++i) {
            sorted = sorted &&
                     host::ld_cache_compare(cache.entries[i].key, cache.entries[i + 1].key) >= 0;
        }
        host::add_to_ld_cache(cache, libs);
        if (sorted && !(host::read_ld_cache(spliced, "spliced") == cache)) {
            std::fprintf(stderr, "ld_cache: the spliced cache is not the model's\n");
            std::abort();
        }
    } catch (const husk::Error& e) {
        std::fprintf(stderr, "ld_cache: what husk wrote does not read: %s\n", e.what());
        std::abort();
    }
    return 0;
}
