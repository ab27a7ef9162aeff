// Secure unpacking of image layers (tar archives, any compression libarchive
// reads) into a directory, with OCI whiteouts.
#pragma once

#include "util/config.hpp"

#include <cstdint>
#include <memory>
#include <string>

struct archive;

namespace husk::image {

/// Bounds on what one layer may unpack: a decompression bomb or an archive
/// of millions of empty files stops with an error instead of filling the
/// disk. Set from config::Settings (max_unpack_bytes, max_unpack_entries).
struct UnpackLimits {
    uint64_t max_bytes = config::kMaxUnpackBytes; ///< bytes of file data written
    uint64_t max_entries = config::kMaxUnpackEntries;
};

/// What apply_layer() did.
struct UnpackReport {
    uint64_t entries = 0;   ///< archive entries read
    uint64_t bytes = 0;     ///< bytes of file data written
    uint64_t skipped = 0;   ///< device nodes, FIFOs and sockets not created
    uint64_t whiteouts = 0; ///< whiteout and opaque-whiteout entries applied
};

/// Applies one layer, the tar archive open as `archive_fd` (plain, gzip, xz,
/// zstd, bzip2, lz4 or lzma; read to its end, not closed), onto the
/// directory open as `root_fd`, following the OCI image spec's layer
/// changeset rules (image-spec layer.md): entries are created or replace
/// what is there (a file replaces a directory and the reverse), `.wh.NAME`
/// removes NAME of lower layers, `.wh..wh..opq` hides every lower entry of
/// its directory.
///
/// Security, whatever the archive contains: nothing is written outside
/// `root_fd`. A path with `..` is an error, a leading `/` is dropped (as
/// tar(1) does), no symlink is ever followed (an entry below a symlink,
/// from this layer or an earlier one, is an error), a hard link must name a
/// file already inside the tree; device nodes, FIFOs and sockets are skipped
/// (counted in the report); setuid and setgid bits are dropped; directories
/// get at least u+rwx so the user can read and delete the tree. Ownership is
/// not restored: everything belongs to the caller.
///
/// `name` names the archive in errors: "<name>: entry <path>: <reason>".
/// @throws husk::Error for a malformed, truncated or hostile archive, a
///         limit exceeded, or a failed write (ENOSPC names the entry).
UnpackReport apply_layer(int root_fd, int archive_fd, const std::string& name,
                         const UnpackLimits& limits);

/// The tar compressions apply_layer() reads, as husk --version lists them.
inline constexpr const char* kTarCompressions = "none, gzip, xz, zstd, bzip2, lz4, lzma";

/// libarchive's version and those of its compression libraries
/// ("libarchive 3.6.2 zlib/1.2.13 liblzma/5.4.1 ...").
std::string archive_library_versions();

/// Frees a libarchive reader (for std::unique_ptr).
struct ArchiveFree {
    void operator()(struct archive* a) const;
};
using ArchiveReader = std::unique_ptr<struct archive, ArchiveFree>;

/// libarchive's reason for the last error on `a` (on one line: it may quote
/// the archive's own bytes), or "unreadable archive".
std::string archive_reason(struct archive* a);

/// A libarchive reader of tar (POSIX and GNU) in any of the compressions
/// apply_layer() takes, opened on `fd` (not owned).
/// @throws husk::Error "<name>: <libarchive's reason>".
ArchiveReader open_tar_reader(int fd, const std::string& name);

/// Removes `name` in the directory `dir_fd` and, for a directory, all below
/// it, without following symlinks (modes are widened as needed, since the
/// tree is the caller's). Nothing is done if `name` does not exist.
/// @throws husk::Error naming what could not be removed.
void remove_tree(int dir_fd, const std::string& name);

} // namespace husk::image
