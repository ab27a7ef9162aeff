// Where husk keeps what it unpacks: $HUSK_STORAGE.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace husk::image {

/// The storage folder: $HUSK_STORAGE, default /var/tmp/$USER/husk (node-local,
/// as Charliecloud does). Created mode 0700 when missing; an existing one
/// (and /var/tmp/$USER) must be a real directory owned by the caller, so
/// another user cannot plant it.
/// @throws husk::Error naming the folder and the reason.
std::string storage_dir();

/// The tar archive at `tar_path` (any compression), unpacked once into
/// `storage_dir()/cache/tar-KEY`, where KEY is made of the file's path,
/// device, inode, size and mtime: a changed file gets a new entry.
///
/// Many ranks may start on an uncached archive at once: one unpacks while
/// the others wait on a lock (flock(2) on cache/tar-KEY.lock) and then use
/// it. The unpack goes to a temporary sibling renamed into place only when
/// complete, so a writer killed half way leaves nothing that looks finished;
/// its leftovers are removed by the next writer.
/// @returns the unpacked directory's path.
/// @throws husk::Error from apply_layer(), or when the storage is unusable
///         (a full disk names the entry being written).
std::string unpack_cached(const std::string& tar_path);

/// Store formats of `husk import`.
enum class Format { Dir, Squashfs, Tar };

/// `husk convert SOURCE DEST`: writes the image at `source` (any kind husk
/// runs) to `dest` as a directory, a SquashFS file (mksquashfs -all-root
/// -comp zstd) or a tar archive (gzip when DEST ends in .gz or .tgz), via a
/// temporary sibling renamed when complete. Archives are unpacked as
/// `husk run` unpacks them (apply_layer(), whiteouts, digests); SquashFS
/// sources are read with unsquashfs (squashfs-tools).
/// @throws husk::Error if DEST exists, the source is bad, or a tool fails.
void convert_image(const std::string& source, const std::string& dest, Format format);

/// The format a DEST name asks for: .sqfs/.squashfs, .tar/.tar.gz/.tgz,
/// else a directory.
Format format_for(const std::string& dest);

/// One image in the store.
struct StoredImage {
    std::string name;
    Format format = Format::Dir;
    std::string path;    ///< storage_dir()/images/NAME or NAME.sqfs
    uint64_t bytes = 0;  ///< disk use (allocated blocks)
    int64_t created = 0; ///< seconds since the epoch (mtime of the entry)
};

/// Whether `name` is a valid store name: [A-Za-z0-9][A-Za-z0-9._-]*, at
/// most 128 characters (so it is never a path).
bool valid_name(const std::string& name);

/// `husk import SOURCE NAME`: convert_image() into the store, under NAME
/// (a directory) or NAME.sqfs (Format::Squashfs).
/// @throws husk::Error for a bad name, an existing NAME, or a failed unpack.
StoredImage import_image(const std::string& source, const std::string& name, Format format);

/// The images in the store, sorted by name.
std::vector<StoredImage> list_images();

/// The stored image NAME, if there is one.
std::optional<StoredImage> find_image(const std::string& name);

/// `husk rm NAME`. @throws husk::Error if there is no such image.
void remove_image(const std::string& name);

} // namespace husk::image
