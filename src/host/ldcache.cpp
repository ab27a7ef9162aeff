#include "host/ldcache.hpp"

#include "util/error.hpp"

#include <cstdint>
#include <cstring>

namespace husk::host {

namespace {

constexpr std::string_view kOldMagic = "ld.so-1.7.0";
constexpr std::string_view kNewMagic = "glibc-ld.so.cache1.1";
constexpr size_t kOldHeader = 16; // magic[11] + pad + uint32 nlibs
constexpr size_t kOldEntry = 12;  // int32 flags, uint32 key, uint32 value
constexpr size_t kNewHeader = 48; // magic[20], nlibs, len_strings, flags, pad, ext, unused[3]
constexpr size_t kNewEntry = 24;  // int32 flags, uint32 key, value, osversion, uint64 hwcap
// glibc's ldconfig.h: the ELF libc6 type and the x86-64 architecture.
constexpr int kTypeMask = 0x00ff;
constexpr int kElfLibc6 = 0x0003;
constexpr int kArchMask = 0xff00;
constexpr int kX8664Lib64 = 0x0300;

uint32_t u32(std::string_view b, size_t at) {
    uint32_t v;
    std::memcpy(&v, b.data() + at, sizeof v);
    return v;
}

} // namespace

std::vector<CachedLibrary> parse_ld_cache(std::string_view bytes, const std::string& name) {
    size_t base = 0; // where the new format's header, and its string offsets, start
    if (bytes.substr(0, kOldMagic.size()) == kOldMagic) {
        if (bytes.size() < kOldHeader) {
            throw Error(name + ": truncated ld.so.cache");
        }
        const uint64_t n = u32(bytes, 12);
        base = kOldHeader + n * kOldEntry;
        // The new table follows, aligned to 8 bytes.
        base = (base + 7) & ~static_cast<size_t>(7);
        if (base > bytes.size()) {
            throw Error(name + ": the old table of its ld.so.cache runs past its end");
        }
    }
    std::string_view cache = bytes.substr(base);
    if (cache.size() < kNewHeader || cache.substr(0, kNewMagic.size()) != kNewMagic) {
        throw Error(name + ": not an ld.so.cache of the glibc-ld.so.cache1.1 format");
    }
    const uint64_t n = u32(cache, 20);
    if (n > (cache.size() - kNewHeader) / kNewEntry) {
        throw Error(name + ": its ld.so.cache has " + std::to_string(n) +
                    " entries, more than it holds");
    }
    auto string_at = [&](uint32_t offset) -> std::string_view {
        if (offset >= cache.size()) {
            throw Error(name + ": a string offset of its ld.so.cache is past its end");
        }
        const std::string_view rest = cache.substr(offset);
        const size_t end = rest.find('\0');
        if (end == std::string_view::npos) {
            throw Error(name + ": a string of its ld.so.cache is not terminated");
        }
        return rest.substr(0, end);
    };
    std::vector<CachedLibrary> out;
    for (uint64_t i = 0; i < n; ++i) {
        const size_t at = kNewHeader + i * kNewEntry;
        const int flags = static_cast<int>(u32(cache, at));
        if ((flags & kTypeMask) != kElfLibc6 || (flags & kArchMask) != kX8664Lib64) {
            continue;
        }
        out.push_back({std::string(string_at(u32(cache, at + 4))),
                       std::string(string_at(u32(cache, at + 8))), flags});
    }
    return out;
}

const CachedLibrary* find_library(const std::vector<CachedLibrary>& cache,
                                  std::string_view soname) {
    for (const auto& l : cache) {
        if (l.soname == soname) {
            return &l;
        }
    }
    return nullptr;
}

} // namespace husk::host
