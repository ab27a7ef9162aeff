// The dynamic linker's cache, /etc/ld.so.cache (ldconfig(8)): which file
// each soname is, on the host or in an image.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace husk::host {

/// One library of the cache.
struct CachedLibrary {
    std::string soname; ///< "libmpich.so.12"
    std::string path;   ///< as ldconfig wrote it: "/lib/x86_64-linux-gnu/libmpich.so.12"
    int flags = 0;      ///< FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 ... (glibc's ldconfig.h)
};

/// Largest cache read (a real one is tens of KiB).
inline constexpr size_t kMaxLdCache = 16 << 20;

/// Parses the bytes of an ld.so.cache: glibc's format "glibc-ld.so.cache1.1"
/// (glibc 2.32 and later write only it), alone or after the old
/// "ld.so-1.7.0" table (older glibc write both). Untrusted input: every
/// offset is checked. Only entries for this machine (x86-64 ELF, libc6) are
/// returned, in the cache's order (ldconfig's preference first).
/// @throws husk::Error "<name>: <reason>" for a cache that is not one, or
///         whose tables or strings lie outside the file.
std::vector<CachedLibrary> parse_ld_cache(std::string_view bytes, const std::string& name);

/// The first entry for `soname`, or nullptr.
const CachedLibrary* find_library(const std::vector<CachedLibrary>& cache, std::string_view soname);

} // namespace husk::host
