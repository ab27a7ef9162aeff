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

/// Fills the header of the new format at the start of `out`: `count`
/// entries, `strings` bytes of strings, the extension at `ext` (0: none).
void put_header(std::string& out, uint64_t count, uint64_t strings, uint64_t ext) {
    std::memcpy(out.data(), kNewMagic.data(), kNewMagic.size());
    put32(out, 20, static_cast<uint32_t>(count));
    put32(out, 24, static_cast<uint32_t>(strings));
    out[28] = static_cast<char>(native_byte_order());
    put32(out, 32, static_cast<uint32_t>(ext));
}

/// Whether a library (`soname`, `flags`) added to a table goes before its
/// entry (`key`, `key_flags`): the table is in descending order, and among
/// equal sonames larger flags come first (ldconfig's order).
bool goes_before(std::string_view key, int32_t key_flags, std::string_view soname, int32_t flags) {
    const int c = ld_cache_compare(key, soname);
    return c < 0 || (c == 0 && key_flags <= flags);
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

namespace {

/// The bytes of a cache, checked, read in place (nothing copied): where
/// its new table starts (`base`, after an old table), its entries, its
/// strings, and its extension's sections.
class CacheView {
  public:
    /// Checks the header and that the table lies inside (not the strings:
    /// string() checks each).
    CacheView(std::string_view bytes, const std::string& name)
        : bytes_(bytes), shown_(text::one_line(name)) {
        if (bytes.substr(0, kOldMagic.size()) == kOldMagic) {
            if (bytes.size() < kOldHeader) {
                throw fail("truncated ld.so.cache");
            }
            const uint64_t n = u32(bytes, 12);
            // The new table follows, aligned to 8 bytes.
            base_ = (kOldHeader + n * kOldEntry + 7) & ~uint64_t{7};
            if (base_ > bytes.size()) {
                throw fail("the old table of its ld.so.cache runs past its end");
            }
        }
        cache_ = bytes.substr(base_);
        if (cache_.size() < kNewHeader || cache_.substr(0, kNewMagic.size()) != kNewMagic) {
            throw fail("not an ld.so.cache of the glibc-ld.so.cache1.1 format");
        }
        const uint8_t order = static_cast<uint8_t>(cache_[28]) & 3; // 0: not said
        if (order != 0 && order != native_byte_order()) {
            throw fail("its ld.so.cache was written for another byte order");
        }
        n_ = u32(cache_, 20);
        if (n_ > (cache_.size() - kNewHeader) / kNewEntry) {
            throw fail("its ld.so.cache has " + std::to_string(n_) +
                       " entries, more than it holds");
        }
        find_hwcaps();
    }

    Error fail(const std::string& why) const { return Error(shown_ + ": " + why); }

    std::string_view bytes() const { return bytes_; }
    uint64_t base() const { return base_; }           ///< of the new table, in the file
    std::string_view cache() const { return cache_; } ///< from the new table on
    uint64_t size() const { return n_; }
    uint64_t table_end() const { return kNewHeader + n_ * kNewEntry; } ///< in cache()

    /// Entry `i`'s field at byte `field` (0 flags, 4 key, 8 value, 12
    /// osversion), and its hwcap.
    uint32_t field(uint64_t i, size_t field) const {
        return u32(cache_, kNewHeader + i * kNewEntry + field);
    }
    uint64_t hwcap(uint64_t i) const { return u64(cache_, kNewHeader + i * kNewEntry + 16); }

    /// The string at `offset` of the new table.
    std::string_view string(uint32_t offset) const {
        if (offset >= cache_.size()) {
            throw fail("a string offset of its ld.so.cache is past its end");
        }
        const std::string_view rest = cache_.substr(offset);
        const size_t end = rest.find('\0');
        if (end == std::string_view::npos) {
            throw fail("a string of its ld.so.cache is not terminated");
        }
        return rest.substr(0, end);
    }

    /// The extension's place in the file (glibc 2.33: its offsets count
    /// from the start of the file, after an old table too, as ldconfig -c
    /// compat writes it), or 0 when it has none that glibc would read.
    uint64_t extension() const { return ext_; }
    /// Where the glibc-hwcaps table is in the file, and its entry count
    /// (offsets of strings of the new table); 0, 0 when there is none.
    uint64_t hwcaps_at() const { return hwcaps_at_; }
    uint64_t hwcaps_count() const { return hwcaps_count_; }

  private:
    void find_hwcaps() {
        const uint64_t ext = u32(cache_, 32);
        if (ext == 0 || ext % 4 != 0 || ext > bytes_.size() || bytes_.size() - ext < 8 ||
            u32(bytes_, ext) != kExtensionMagic) {
            return; // none, or not glibc's: the dynamic linker ignores it too
        }
        ext_ = ext;
        const uint64_t count = u32(bytes_, ext + 4);
        if (count > kMaxSections || count * 16 > bytes_.size() - ext - 8) {
            throw fail("the extension of its ld.so.cache has more sections than it holds");
        }
        for (uint64_t s = 0; s < count; ++s) {
            const size_t at = ext + 8 + s * 16;
            const uint64_t offset = u32(bytes_, at + 8), size = u32(bytes_, at + 12);
            if (offset > bytes_.size() || size > bytes_.size() - offset) {
                throw fail("a section of the extension of its ld.so.cache lies outside it");
            }
            if (u32(bytes_, at) == kTagHwcaps) {
                if (offset % 4 != 0 || size % 4 != 0) {
                    throw fail("the glibc-hwcaps table of its ld.so.cache is misaligned");
                }
                hwcaps_at_ = offset;
                hwcaps_count_ = size / 4;
            }
        }
    }

    std::string_view bytes_;
    std::string shown_;
    uint64_t base_ = 0;
    std::string_view cache_;
    uint64_t n_ = 0;
    uint64_t ext_ = 0;
    uint64_t hwcaps_at_ = 0, hwcaps_count_ = 0;
};

} // namespace

LdCache read_ld_cache(std::string_view bytes, const std::string& name) {
    const CacheView v(bytes, name);
    LdCache out;
    out.entries.reserve(v.size());
    for (uint64_t i = 0; i < v.size(); ++i) {
        out.entries.push_back({static_cast<int32_t>(v.field(i, 0)),
                               std::string(v.string(v.field(i, 4))),
                               std::string(v.string(v.field(i, 8))), v.field(i, 12), v.hwcap(i)});
    }
    for (uint64_t i = 0; i < v.hwcaps_count(); ++i) {
        out.hwcaps.emplace_back(v.string(u32(bytes, v.hwcaps_at() + i * 4)));
    }
    return out;
}

std::string add_to_ld_cache_file(std::string_view bytes,
                                 const std::vector<std::pair<std::string, std::string>>& libraries,
                                 const std::string& name) {
    const CacheView v(bytes, name);
    const int32_t flags = native_ld_cache_flags();
    // The libraries, each soname once (the first wins), sorted as the
    // table is: descending.
    std::vector<const std::pair<std::string, std::string>*> add;
    for (const auto& l : libraries) {
        if (std::none_of(add.begin(), add.end(),
                         [&](const auto* a) { return a->first == l.first; })) {
            add.push_back(&l);
        }
    }
    std::stable_sort(add.begin(), add.end(), [](const auto* a, const auto* b) {
        return ld_cache_compare(a->first, b->first) > 0;
    });
    auto added = [&](std::string_view key) {
        return std::any_of(add.begin(), add.end(), [&](const auto* a) { return a->first == key; });
    };
    // Which entries stay, each string checked; the image's strings must lie
    // past its table (as ldconfig writes them), since the table grows.
    const uint64_t table_end = v.table_end();
    auto checked = [&](uint32_t offset) {
        const std::string_view s = v.string(offset);
        if (offset < table_end) {
            throw v.fail("a string of its ld.so.cache lies inside its table");
        }
        return s;
    };
    std::vector<char> keep(v.size());
    uint64_t kept = 0;
    for (uint64_t i = 0; i < v.size(); ++i) {
        const std::string_view key = checked(v.field(i, 4));
        checked(v.field(i, 8));
        keep[i] = !(native(static_cast<int32_t>(v.field(i, 0))) && added(key));
        kept += keep[i] ? 1 : 0;
    }
    for (uint64_t i = 0; i < v.hwcaps_count(); ++i) {
        checked(u32(bytes, v.hwcaps_at() + i * 4));
    }
    // The new file: header, table, then the image's new table's bytes past
    // its own table (its strings, its extension) as they are, moved by
    // `shift`, then the added libraries' strings.
    const uint64_t count = kept + add.size();
    const int64_t shift =
        static_cast<int64_t>(count * kNewEntry) - static_cast<int64_t>(v.size() * kNewEntry);
    const std::string_view tail = v.cache().substr(table_end);
    std::string out(kNewHeader + count * kNewEntry, '\0');
    out.reserve(out.size() + tail.size() + 64 * add.size());
    out += tail;
    std::vector<std::pair<uint32_t, uint32_t>> strings; // of `add`: key, value
    for (const auto* a : add) {
        const auto key = static_cast<uint64_t>(out.size());
        out.append(a->first).push_back('\0');
        const auto value = static_cast<uint64_t>(out.size());
        out.append(a->second).push_back('\0');
        if (out.size() > UINT32_MAX) {
            throw v.fail("with the libraries added, its ld.so.cache is past the format's 4 GiB");
        }
        strings.emplace_back(static_cast<uint32_t>(key), static_cast<uint32_t>(value));
    }
    auto moved = [&](uint32_t offset) { return static_cast<uint32_t>(offset + shift); };
    size_t at = kNewHeader, next = 0;
    auto put_added = [&](size_t j) {
        put32(out, at, static_cast<uint32_t>(flags));
        put32(out, at + 4, strings[j].first);
        put32(out, at + 8, strings[j].second);
        at += kNewEntry;
    };
    for (uint64_t i = 0; i < v.size(); ++i) {
        if (!keep[i]) {
            continue;
        }
        const std::string_view key = v.string(v.field(i, 4));
        const auto key_flags = static_cast<int32_t>(v.field(i, 0));
        while (next < add.size() && goes_before(key, key_flags, add[next]->first, flags)) {
            put_added(next++);
        }
        put32(out, at, v.field(i, 0));
        put32(out, at + 4, moved(v.field(i, 4)));
        put32(out, at + 8, moved(v.field(i, 8)));
        put32(out, at + 12, v.field(i, 12));
        put64(out, at + 16, v.hwcap(i));
        at += kNewEntry;
    }
    while (next < add.size()) {
        put_added(next++);
    }
    // The extension, written again at the end (nothing of the tail is
    // changed): its sections' data stays in the tail, their offsets
    // (counted from the start of the file) moved, but the glibc-hwcaps
    // table, whose entries are offsets of strings, is new.
    uint64_t ext = 0;
    if (v.extension() != 0) {
        const uint64_t tail_at = v.base() + table_end; // where the tail was
        const uint64_t sections = u32(bytes, v.extension() + 4);
        out.resize((out.size() + 3) & ~size_t{3});
        ext = out.size();
        const uint64_t hwcaps = ext + 8 + sections * 16;
        out.resize(hwcaps + v.hwcaps_count() * 4);
        put32(out, ext, kExtensionMagic);
        put32(out, ext + 4, static_cast<uint32_t>(sections));
        for (uint64_t s = 0; s < sections; ++s) {
            const uint64_t from = v.extension() + 8 + s * 16, to = ext + 8 + s * 16;
            const uint32_t tag = u32(bytes, from), offset = u32(bytes, from + 8);
            put32(out, to, tag);
            put32(out, to + 4, u32(bytes, from + 4));
            if (tag == kTagHwcaps) {
                put32(out, to + 8, static_cast<uint32_t>(hwcaps));
                put32(out, to + 12, static_cast<uint32_t>(v.hwcaps_count() * 4));
            } else if (offset >= tail_at) {
                put32(out, to + 8, static_cast<uint32_t>(offset - v.base() + shift));
                put32(out, to + 12, u32(bytes, from + 12));
            } else {
                throw v.fail("a section of the extension of its ld.so.cache lies in its table");
            }
        }
        for (uint64_t i = 0; i < v.hwcaps_count(); ++i) {
            put32(out, hwcaps + i * 4, moved(u32(bytes, v.hwcaps_at() + i * 4)));
        }
        if (out.size() > UINT32_MAX) {
            throw v.fail("with the libraries added, its ld.so.cache is past the format's 4 GiB");
        }
    }
    put_header(out, count, out.size() - kNewHeader - count * kNewEntry, ext);
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
    put_header(out, n, strings.size(), ext);
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
        const auto at = std::find_if(e.begin(), e.end(), [&](const LdCacheEntry& x) {
            return goes_before(x.key, x.flags, soname, flags);
        });
        e.insert(at, LdCacheEntry{flags, soname, library.second, 0, 0});
    }
}

LinkerCache::LinkerCache(std::string bytes, const std::string& name)
    : bytes_(std::make_unique<const std::string>(std::move(bytes))) {
    const CacheView v(*bytes_, name);
    entries_.reserve(v.size());
    for (uint64_t i = 0; i < v.size(); ++i) {
        const auto flags = static_cast<int32_t>(v.field(i, 0));
        // glibc-hwcaps variants are the same sonames again, built for newer CPUs.
        if (native(flags) && (v.hwcap(i) & kHwcapExtension) == 0) {
            entries_.push_back({v.string(v.field(i, 4)), v.string(v.field(i, 8)), flags});
        }
    }
}

LinkerCache parse_ld_cache(std::string bytes, const std::string& name) {
    return LinkerCache(std::move(bytes), name);
}

const CachedLibrary* find_library(const LinkerCache& cache, std::string_view soname) {
    for (const auto& l : cache) {
        if (l.soname == soname) {
            return &l;
        }
    }
    return nullptr;
}

} // namespace husk::host
