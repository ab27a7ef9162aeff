// make_ld_cache(): the bytes of an ld.so.cache, for the tests of its parser
// and of what reads it (--mpi=host, --gpu).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

namespace husk::test {

/// FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 (glibc's ldconfig.h): an entry for this machine.
inline constexpr int kX8664Libc6 = 0x0303;

/// An ld.so.cache of glibc's new format ("glibc-ld.so.cache1.1") with
/// `entries` (soname, path, flags), in that order: the tests' libraries are
/// copies of one real library under other names, whose sonames ldconfig
/// would read from the file, so the cache is written here.
inline std::string
make_ld_cache(const std::vector<std::tuple<std::string, std::string, int>>& entries) {
    std::string strings;
    std::vector<std::pair<uint32_t, uint32_t>> offsets;
    const size_t base = 48 + 24 * entries.size();
    for (const auto& [soname, path, flags] : entries) {
        const auto k = static_cast<uint32_t>(base + strings.size());
        strings += soname + '\0';
        const auto v = static_cast<uint32_t>(base + strings.size());
        strings += path + '\0';
        offsets.emplace_back(k, v);
    }
    std::string out(base, '\0');
    std::memcpy(out.data(), "glibc-ld.so.cache1.1", 20);
    const auto n = static_cast<uint32_t>(entries.size());
    std::memcpy(out.data() + 20, &n, 4);
    for (size_t i = 0; i < entries.size(); ++i) {
        const int32_t flags = std::get<2>(entries[i]);
        std::memcpy(out.data() + 48 + 24 * i, &flags, 4);
        std::memcpy(out.data() + 48 + 24 * i + 4, &offsets[i].first, 4);
        std::memcpy(out.data() + 48 + 24 * i + 8, &offsets[i].second, 4);
    }
    return out + strings;
}

} // namespace husk::test
