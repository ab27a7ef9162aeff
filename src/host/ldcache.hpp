// The dynamic linker's cache, /etc/ld.so.cache (ldconfig(8), ld.so(8)):
// which file each soname is, on the host or in an image; read, and written
// again with more libraries for a container.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace husk::host {

/// One library of the cache: views into the bytes of the LinkerCache
/// that holds it, valid as long as that is.
struct CachedLibrary {
    std::string_view soname; ///< "libmpich.so.12"
    std::string_view path;   ///< as ldconfig wrote it: "/lib/x86_64-linux-gnu/libmpich.so.12"
    int flags = 0;           ///< FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 ... (glibc's ldconfig.h)
};

/// The libraries of this machine in an ld.so.cache, read in place: the
/// cache's bytes (owned; moving the LinkerCache keeps them where they are)
/// and, in the cache's order (ldconfig's preference first), each entry's
/// soname and path as views into them. Nothing is copied per entry: a
/// host's cache has hundreds to thousands.
class LinkerCache {
  public:
    LinkerCache() = default;
    /// @throws husk::Error as read_ld_cache().
    LinkerCache(std::string bytes, const std::string& name);

    std::vector<CachedLibrary>::const_iterator begin() const { return entries_.begin(); }
    std::vector<CachedLibrary>::const_iterator end() const { return entries_.end(); }
    size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }
    const CachedLibrary& operator[](size_t i) const { return entries_[i]; }

  private:
    std::unique_ptr<const std::string> bytes_;
    std::vector<CachedLibrary> entries_;
};

/// Largest cache read (a real one is tens of KiB).
inline constexpr size_t kMaxLdCache = 16 << 20;

/// The cache's flags for a library of this machine: FLAG_ELF_LIBC6 with
/// FLAG_X8664_LIB64 (x86-64) or FLAG_AARCH64_LIB64 (aarch64), as built.
int native_ld_cache_flags();

/// One entry of the "glibc-ld.so.cache1.1" table, whatever its machine.
struct LdCacheEntry {
    int32_t flags = 0; ///< library type and machine (glibc's ldconfig.h FLAG_*)
    std::string key;   ///< the soname: "libc.so.6"
    std::string value; ///< the file: "/lib/x86_64-linux-gnu/libc.so.6"
    uint32_t osversion = 0;
    /// Hardware capabilities; with bit 62 set, its low 32 bits index
    /// LdCache::hwcaps (a glibc-hwcaps subfolder, glibc 2.33 and later).
    uint64_t hwcap = 0;

    bool operator==(const LdCacheEntry&) const = default;
};

/// A whole cache, as read_ld_cache() reads it and write_ld_cache() writes it.
struct LdCache {
    /// In the cache's order: descending by ld_cache_compare() of the keys,
    /// which the dynamic linker's binary search needs.
    std::vector<LdCacheEntry> entries;
    /// The glibc-hwcaps subfolder names of the cache's extension
    /// ("x86-64-v3"), in their order; empty when it has none.
    std::vector<std::string> hwcaps;

    bool operator==(const LdCache&) const = default;
};

/// Reads the bytes of an ld.so.cache: glibc's format "glibc-ld.so.cache1.1"
/// (glibc 2.32 and later write only it), alone or after the old
/// "ld.so-1.7.0" table (older glibc write both; the old table is skipped),
/// with its extension's glibc-hwcaps folders where it has them (an
/// extension without glibc's magic is ignored, as the dynamic linker
/// ignores it). Untrusted input (an image's file): every offset is checked.
/// @throws husk::Error "<name>: <reason>", one line, for a cache that is not
///         one, or whose tables or strings lie outside the file.
LdCache read_ld_cache(std::string_view bytes, const std::string& name);

/// The bytes of `cache` in the "glibc-ld.so.cache1.1" format of glibc 2.33
/// and later, this machine's byte order: the header, the entries in the
/// given order, the strings, then an extension with the generator "husk"
/// and, when there are any, the glibc-hwcaps folders. glibc before 2.33
/// reads it too (it ignores the extension).
/// @throws husk::Error when the cache would pass 4 GiB (the format's offsets
///         are 32 bits).
std::string write_ld_cache(const LdCache& cache);

/// glibc's order of sonames in the cache (_dl_cache_libcmp): character by
/// character, except that runs of digits compare as numbers, and a digit
/// sorts after any other character. <0, 0 or >0.
int ld_cache_compare(std::string_view a, std::string_view b);

/// Puts each (soname, path) of `libraries` into `cache` as a library of
/// this machine (native_ld_cache_flags()), where the binary search finds
/// it, in place of the cache's own entries of this machine for that
/// soname. The first of two with one soname wins.
void add_to_ld_cache(LdCache& cache,
                     const std::vector<std::pair<std::string, std::string>>& libraries);

/// The bytes of the cache `bytes` (read_ld_cache()'s input) with
/// `libraries` added as add_to_ld_cache() adds them, in glibc 2.33's
/// format: what husk binds over an image's cache. Made without reading the
/// cache into entries (an image's has thousands): its table is copied with
/// the added entries merged in, then the bytes past it (its strings) as
/// they are, the added strings, and its extension written again.
/// @throws husk::Error "<name>: <reason>" as read_ld_cache(), and for a
///         layout ldconfig never writes: a string or an extension section
///         inside the table (which grows).
std::string add_to_ld_cache_file(std::string_view bytes,
                                 const std::vector<std::pair<std::string, std::string>>& libraries,
                                 const std::string& name);

/// The libraries of this machine in the ld.so.cache `bytes` (glibc-hwcaps
/// variants, the same sonames built for newer CPUs, left out).
/// @throws husk::Error as read_ld_cache().
LinkerCache parse_ld_cache(std::string bytes, const std::string& name);

/// The first entry for `soname`, or nullptr.
const CachedLibrary* find_library(const LinkerCache& cache, std::string_view soname);

} // namespace husk::host

namespace husk::image {
class ImageFiles;
} // namespace husk::image

namespace husk::host {

struct ContainerEdits;

/// CDI's update-ldcache hook done without running ldconfig in the
/// container: the libraries that `edits` bind into its ld_library_path
/// folders go into a copy of the image's /etc/ld.so.cache
/// (add_to_ld_cache()), which a MountKind::File mount puts over the
/// image's (runtime::build_root() binds it, writes it in the mount-point
/// layer of a read-only root, or writes it into an --overlay where the
/// user may write the file); the folders so covered leave ld_library_path, so no
/// LD_LIBRARY_PATH is set for them. A library's soname is its name in the
/// folder when that reads NAME.so.DIGITS (what husk's own generators bind),
/// else its DT_SONAME (read_elf_dynamic(), as ldconfig reads it), else its
/// name.
///
/// The documented fallback, LD_LIBRARY_PATH (`edits` left as they are, a
/// note saying why): the image has no /etc/ld.so.cache (musl, BusyBox) or
/// one husk cannot read, or the folder's contents are not only files bound
/// by the edits (a folder bound whole from the host), or the image is
/// `writable` (-w: ldconfig inside would write the image's own cache, which
/// a bind would make fail). Never throws for what the image holds: a file
/// it cannot read is the fallback.
void cache_ld_folders(ContainerEdits& edits, image::ImageFiles& image,
                      const std::string& shown_image, bool writable = false);

} // namespace husk::host
