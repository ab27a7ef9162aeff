// Where husk keeps what it unpacks: $HUSK_STORAGE.
#pragma once

#include <string>

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

} // namespace husk::image
