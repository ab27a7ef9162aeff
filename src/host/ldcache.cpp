#include "host/ldcache.hpp"

#include "util/error.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <set>

namespace husk::host {

namespace {

// glibc's sysdeps/generic/dl-cache.h and ldconfig.h describe the format.
constexpr std::string_view kOldMagic = "ld.so-1.7.0";
constexpr std::string_view kNewMagic = "glibc-ld.so.cache1.1";
constexpr size_t kOldHeader = 16; // magic[11] + pad + uint32 nlibs
constexpr size_t kOldEntry = 12;  // int32 flags, uint32 key, uint32 value
constexpr size_t kNewHeader = 48; // magic[20], nlibs, len_strings, flags, pad[3], ext, unused[3]
constexpr size_t kNewEntry = 24;  // int32 flags, uint32 key, value, osversion, uint64 hwcap
constexpr uint32_t kExtensionMagic = 0xeaa42174;
constexpr uint32_t kTagGenerator = 0;
constexpr uint32_t kTagHwcaps = 1;
constexpr size_t kMaxSections = 1024; // glibc defines 2; more is not a cache
constexpr uint64_t kHwcapExtension = uint64_t{1} << 62;
// The header's flags byte: the byte order the cache was written in.
constexpr uint8_t kLittleEndian = 2;
constexpr uint8_t kBigEndian = 3;
// ldconfig.h: the ELF libc6 type and the machines.
constexpr int kElfLibc6 = 0x0003;
constexpr int kTypeMask = 0x00ff;
constexpr int kArchMask = 0xff00;

uint32_t u32(std::string_view b, size_t at) {
    uint32_t v;
    std::memcpy(&v, b.data() + at, sizeof v);
    return v;
}

uint64_t u64(std::string_view b, size_t at) {
    uint64_t v;
    std::memcpy(&v, b.data() + at, sizeof v);
    return v;
}

void put32(std::string& out, size_t at, uint32_t v) {
    std::memcpy(out.data() + at, &v, sizeof v);
}

void put64(std::string& out, size_t at, uint64_t v) {
    std::memcpy(out.data() + at, &v, sizeof v);
}

/// Whether `flags` are those of an ELF libc6 library of this machine.
bool native(int32_t flags) {
    const int want = native_ld_cache_flags();
    return (flags & kTypeMask) == (want & kTypeMask) && (flags & kArchMask) == (want & kArchMask);
}

constexpr uint8_t native_byte_order() {
    return std::endian::native == std::endian::little ? kLittleEndian : kBigEndian;
}

} // namespace

int native_ld_cache_flags() {
#if defined(__x86_64__)
    return kElfLibc6 | 0x0300; // FLAG_X8664_LIB64
#elif defined(__aarch64__)
    return kElfLibc6 | 0x0a00; // FLAG_AARCH64_LIB64
#else
#error "husk knows the ld.so.cache flags of x86-64 and aarch64 only"
#endif
}

LdCache read_ld_cache(std::string_view bytes, const std::string& name) {
    const std::string shown = text::one_line(name);
    auto fail = [&](const std::string& why) { return Error(shown + ": " + why); };
    size_t base = 0; // where the new format's header, and its string offsets, start
    if (bytes.substr(0, kOldMagic.size()) == kOldMagic) {
        if (bytes.size() < kOldHeader) {
            throw fail("truncated ld.so.cache");
        }
        const uint64_t n = u32(bytes, 12);
        base = kOldHeader + n * kOldEntry;
        // The new table follows, aligned to 8 bytes.
        base = (base + 7) & ~static_cast<size_t>(7);
        if (base > bytes.size()) {
            throw fail("the old table of its ld.so.cache runs past its end");
        }
    }
    const std::string_view cache = bytes.substr(base);
    if (cache.size() < kNewHeader || cache.substr(0, kNewMagic.size()) != kNewMagic) {
        throw fail("not an ld.so.cache of the glibc-ld.so.cache1.1 format");
    }
    const uint8_t order = static_cast<uint8_t>(cache[28]) & 3; // 0: not said
    if (order != 0 && order != native_byte_order()) {
        throw fail("its ld.so.cache was written for another byte order");
    }
    const uint64_t n = u32(cache, 20);
    if (n > (cache.size() - kNewHeader) / kNewEntry) {
        throw fail("its ld.so.cache has " + std::to_string(n) + " entries, more than it holds");
    }
    auto string_at = [&](uint32_t offset) -> std::string_view {
        if (offset >= cache.size()) {
            throw fail("a string offset of its ld.so.cache is past its end");
        }
        const std::string_view rest = cache.substr(offset);
        const size_t end = rest.find('\0');
        if (end == std::string_view::npos) {
            throw fail("a string of its ld.so.cache is not terminated");
        }
        return rest.substr(0, end);
    };
    LdCache out;
    out.entries.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
        const size_t at = kNewHeader + i * kNewEntry;
        LdCacheEntry e;
        e.flags = static_cast<int32_t>(u32(cache, at));
        e.key = string_at(u32(cache, at + 4));
        e.value = string_at(u32(cache, at + 8));
        e.osversion = u32(cache, at + 12);
        e.hwcap = u64(cache, at + 16);
        out.entries.push_back(std::move(e));
    }
    // The extension (glibc 2.33): only its glibc-hwcaps folders matter. Its
    // offsets count from the start of the file (after an old table too, as
    // ldconfig -c compat writes it); the folder names are strings of the
    // new table, like the others.
    const uint64_t ext = u32(cache, 32);
    if (ext != 0 && ext % 4 == 0 && ext <= bytes.size() && bytes.size() - ext >= 8 &&
        u32(bytes, ext) == kExtensionMagic) {
        const uint64_t count = u32(bytes, ext + 4);
        if (count > kMaxSections || count * 16 > bytes.size() - ext - 8) {
            throw fail("the extension of its ld.so.cache has more sections than it holds");
        }
        for (uint64_t s = 0; s < count; ++s) {
            const size_t at = ext + 8 + s * 16;
            if (u32(bytes, at) != kTagHwcaps) {
                continue;
            }
            const uint64_t offset = u32(bytes, at + 8), size = u32(bytes, at + 12);
            if (offset % 4 != 0 || size % 4 != 0 || offset > bytes.size() ||
                size > bytes.size() - offset) {
                throw fail("the glibc-hwcaps table of its ld.so.cache lies outside it");
            }
            out.hwcaps.clear();
            for (uint64_t i = 0; i < size / 4; ++i) {
                out.hwcaps.emplace_back(string_at(u32(bytes, offset + i * 4)));
            }
        }
    }
    return out;
}

std::string write_ld_cache(const LdCache& cache) {
    const size_t n = cache.entries.size();
    std::string strings;
    std::map<std::string, uint64_t, std::less<>> offsets; // each string once
    const uint64_t strings_at = kNewHeader + uint64_t{n} * kNewEntry;
    auto intern = [&](const std::string& s) -> uint64_t {
        const auto it = offsets.find(s);
        if (it != offsets.end()) {
            return it->second;
        }
        const uint64_t at = strings_at + strings.size();
        strings.append(s);
        strings.push_back('\0');
        offsets.emplace(s, at);
        return at;
    };
    std::string out(strings_at, '\0');
    for (size_t i = 0; i < n; ++i) {
        const LdCacheEntry& e = cache.entries[i];
        const size_t at = kNewHeader + i * kNewEntry;
        put32(out, at, static_cast<uint32_t>(e.flags));
        put32(out, at + 4, static_cast<uint32_t>(intern(e.key)));
        put32(out, at + 8, static_cast<uint32_t>(intern(e.value)));
        put32(out, at + 12, e.osversion);
        put64(out, at + 16, e.hwcap);
    }
    std::vector<uint64_t> hwcaps;
    for (const auto& h : cache.hwcaps) {
        hwcaps.push_back(intern(h));
    }
    const std::string generator = "husk";
    out += strings;
    out.resize((out.size() + 3) & ~size_t{3});
    const uint64_t ext = out.size();
    const uint32_t sections = hwcaps.empty() ? 1 : 2;
    const uint64_t data = ext + 8 + uint64_t{sections} * 16;
    out.resize(data);
    put32(out, ext, kExtensionMagic);
    put32(out, ext + 4, sections);
    put32(out, ext + 8, kTagGenerator);
    put32(out, ext + 16, static_cast<uint32_t>(data));
    put32(out, ext + 20, static_cast<uint32_t>(generator.size()));
    out += generator;
    if (!hwcaps.empty()) {
        out.resize((out.size() + 3) & ~size_t{3});
        const uint64_t table = out.size();
        out.resize(table + hwcaps.size() * 4);
        for (size_t i = 0; i < hwcaps.size(); ++i) {
            put32(out, table + i * 4, static_cast<uint32_t>(hwcaps[i]));
        }
        put32(out, ext + 24, kTagHwcaps);
        put32(out, ext + 32, static_cast<uint32_t>(table));
        put32(out, ext + 36, static_cast<uint32_t>(hwcaps.size() * 4));
    }
    if (out.size() > UINT32_MAX) {
        throw Error("an ld.so.cache of " + std::to_string(out.size()) +
                    " bytes is past the format's 4 GiB");
    }
    std::memcpy(out.data(), kNewMagic.data(), kNewMagic.size());
    put32(out, 20, static_cast<uint32_t>(n));
    put32(out, 24, static_cast<uint32_t>(strings.size()));
    out[28] = static_cast<char>(native_byte_order());
    put32(out, 32, static_cast<uint32_t>(ext));
    return out;
}

int ld_cache_compare(std::string_view a, std::string_view b) {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    // A run of digits as a number; past 18 digits it saturates (glibc's
    // int overflows there; no soname has such a number).
    auto number = [&](std::string_view s, size_t& i) {
        int64_t v = 0;
        for (; i < s.size() && digit(s[i]); ++i) {
            v = v < 100000000000000000 ? v * 10 + (s[i] - '0') : v;
        }
        return v;
    };
    size_t i = 0, j = 0;
    while (i < a.size()) {
        const char ca = a[i];
        const char cb = j < b.size() ? b[j] : '\0';
        if (digit(ca)) {
            if (!digit(cb)) {
                return 1;
            }
            const int64_t va = number(a, i), vb = number(b, j);
            if (va != vb) {
                return va < vb ? -1 : 1;
            }
        } else if (digit(cb)) {
            return -1;
        } else if (ca != cb) {
            return ca - cb;
        } else {
            ++i;
            ++j;
        }
    }
    return j < b.size() ? -b[j] : 0;
}

void add_to_ld_cache(LdCache& cache,
                     const std::vector<std::pair<std::string, std::string>>& libraries) {
    const int32_t flags = native_ld_cache_flags();
    std::set<std::string> added;
    for (const auto& library : libraries) {
        const std::string& soname = library.first; // (clang: no lambda captures a binding)
        if (!added.insert(soname).second) {
            continue;
        }
        auto& e = cache.entries;
        std::erase_if(e, [&](const LdCacheEntry& x) { return x.key == soname && native(x.flags); });
        // Descending order; among equal sonames, larger flags first (ldconfig's).
        const auto at = std::find_if(e.begin(), e.end(), [&](const LdCacheEntry& x) {
            const int c = ld_cache_compare(x.key, soname);
            return c < 0 || (c == 0 && x.flags <= flags);
        });
        e.insert(at, LdCacheEntry{flags, soname, library.second, 0, 0});
    }
}

std::vector<CachedLibrary> parse_ld_cache(std::string_view bytes, const std::string& name) {
    std::vector<CachedLibrary> out;
    for (auto& e : read_ld_cache(bytes, name).entries) {
        // glibc-hwcaps variants are the same sonames again, built for newer CPUs.
        if (native(e.flags) && (e.hwcap & kHwcapExtension) == 0) {
            out.push_back({std::move(e.key), std::move(e.value), e.flags});
        }
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
