// Where husk keeps what it unpacks: $HUSK_STORAGE.
#pragma once

#include "image/image.hpp"
#include "image/reference.hpp"
#include "image/registry.hpp"
#include "image/unpack.hpp"
#include "util/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace husk::image {

/// Store formats of `husk import`.
enum class Format { Dir, Squashfs, Tar };

/// The format a DEST name asks for: .sqfs/.squashfs, .tar/.tar.gz/.tgz,
/// else a directory.
Format format_for(const std::string& dest);

/// One image in the store.
struct StoredImage {
    std::string name;
    Format format = Format::Dir;
    std::string path;    ///< Store::dir()/images/NAME or NAME.sqfs
    uint64_t bytes = 0;  ///< disk use (allocated blocks)
    int64_t created = 0; ///< seconds since the epoch (mtime of the entry)
};

/// Whether `name` is a valid store name: [A-Za-z0-9][A-Za-z0-9._-]*, at
/// most 128 characters (so it is never a path).
bool valid_name(const std::string& name);

/// The storage folder of one user ($HUSK_STORAGE, config::Settings::storage):
/// the image store (images/) and the unpack cache (cache/). Holds only the
/// path and the limits; each call opens what it needs, so a Store is cheap
/// and a run that names no stored image creates no storage.
class Store {
  public:
    /// `dir` absolute. `own_parent`: also create (mode 0700) and check the
    /// parent folder, as for the built-in /var/tmp/$USER/husk.
    Store(std::string dir, bool own_parent, UnpackLimits limits);

    /// The store of the settings: their storage and unpack limits.
    static Store from(const config::Settings& s);

    /// The storage folder, created mode 0700 when missing; an existing one
    /// (and the parent, with own_parent) must be a real directory owned by
    /// the caller, so another user cannot plant it.
    /// @throws husk::Error naming the folder and the reason.
    std::string dir() const;

    /// Resolves IMAGE as the command line gives it: a path (image::resolve()),
    /// else, for a word without '/', the stored image of that name.
    /// @throws husk::Error as image::resolve().
    Image resolve(const std::string& ref) const;

    /// The tar archive at `tar_path` (any compression), unpacked once into
    /// `dir()/cache/tar-KEY`, where KEY is made of the file's path, device,
    /// inode, size and mtime: a changed file gets a new entry.
    ///
    /// Many ranks may start on an uncached archive at once: one unpacks
    /// while the others wait on a lock (flock(2) on cache/tar-KEY.lock) and
    /// then use it. The unpack goes to a temporary sibling renamed into
    /// place only when complete, so a writer killed half way leaves nothing
    /// that looks finished; its leftovers are removed by the next writer.
    /// @returns the unpacked directory's path.
    /// @throws husk::Error from apply_layer(), or when the storage is
    ///         unusable (a full disk names the entry being written).
    std::string unpack_cached(const std::string& tar_path) const;

    /// `husk convert SOURCE DEST`: writes the image at `source` (any kind
    /// husk runs) to `dest` as a directory, a SquashFS file (mksquashfs
    /// -all-root -comp zstd) or a tar archive (gzip when DEST ends in .gz or
    /// .tgz), via a temporary sibling renamed when complete. Archives are
    /// unpacked as `husk run` unpacks them (apply_layer(), whiteouts,
    /// digests); SquashFS sources are read with unsquashfs (squashfs-tools).
    /// @throws husk::Error if DEST exists, the source is bad, or a tool fails.
    void convert(const std::string& source, const std::string& dest, Format format) const;

    /// `husk import SOURCE NAME`: convert() into the store, under NAME (a
    /// directory) or NAME.sqfs (Format::Squashfs).
    /// @throws husk::Error for a bad name, an existing NAME, or a failed unpack.
    StoredImage import(const std::string& source, const std::string& name, Format format) const;

    /// `husk pull REFERENCE [NAME]`: pull() the image into the blob cache
    /// (dir()/blobs, shared with later pulls), then import() it under
    /// NAME, from an OCI layout of hard links to the cached blobs that is
    /// removed afterwards. Nothing is stored under NAME when any step fails.
    /// `pulled`, when given, gets what the pull fetched.
    /// @throws husk::Error from pull() or import().
    StoredImage pull(const Reference& ref, const std::string& name, Format format,
                     const PullOptions& options, Pulled* pulled = nullptr) const;

    /// `husk run docker://REFERENCE`: pull() (a cached blob is not fetched
    /// again), an OCI layout of the manifest kept in dir()/cache/oci-HEX
    /// (HEX the manifest's digest), unpacked once by unpack_cached(). Many
    /// ranks starting at once each ask for the manifest; the blobs are
    /// downloaded once (their locks), the layout written and unpacked once.
    /// dir()/cache/resolved-TOPHEX-OS-ARCH[-VARIANT] records which manifest
    /// the digest TOPHEX (a tag's manifest or index) gave for the platform:
    /// while that layout is here, a later run of the tag sends only a HEAD
    /// (PullOptions::reuse), and one of a digest no request.
    /// @returns the unpacked directory.
    /// @throws husk::Error from pull() or unpack_cached().
    std::string pull_cached(const Reference& ref, const PullOptions& options) const;

    /// The images in the store, sorted by name; none, and no storage
    /// created, before the first import.
    std::vector<StoredImage> list() const;

    /// The stored image NAME, if there is one. Looks only: creates nothing.
    std::optional<StoredImage> find(const std::string& name) const;

    /// `husk rm NAME`. @throws husk::Error if there is no such image.
    void remove(const std::string& name) const;

  private:
    std::string images_dir() const;
    /// The unpack cache's entry name for the archive or OCI layout at
    /// `tar_path` (unpack_cached()'s KEY).
    /// @throws husk::Error when it cannot be looked at.
    std::string cache_key(const std::string& tar_path) const;
    std::string unpack_entry(const std::string& parent, const std::string& entry,
                             const std::string& tar_path, bool reuse) const;

    std::string dir_;
    bool own_parent_;
    UnpackLimits limits_;
};

} // namespace husk::image
