// Reading a SquashFS image with libsquashfuse (Debian libsquashfuse-dev).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <sys/types.h>
#include <vector>

namespace husk::image {

/// Decompressed data and fragment blocks of one image, shared by the
/// readers of several threads, so that a block that many files or many
/// read requests touch (a fragment block packs many small files) is
/// decompressed once, not once per thread. Least recently used blocks go
/// first. Thread-safe.
class BlockCache {
  public:
    /// @param capacity  bytes of decompressed data to keep.
    explicit BlockCache(size_t capacity);
    ~BlockCache();
    BlockCache(const BlockCache&) = delete;
    BlockCache& operator=(const BlockCache&) = delete;

    /// The block at image position `pos`, or null.
    std::shared_ptr<const std::string> get(uint64_t pos);
    /// Keeps `data` as the block at `pos` (replacing nothing if present).
    void put(uint64_t pos, std::shared_ptr<const std::string> data);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The compressions this build's libsquashfuse decompresses ("zlib", "xz",
/// "lzo", "lz4", "zstd", ...), as husk --version lists them.
std::vector<std::string> squashfs_compressions();

/// One reader of a SquashFS image open as a file descriptor.
///
/// Thread safety: none. libsquashfuse 0.1.x keeps its metadata, data,
/// fragment and block-index caches in the `sqfs` struct without locks
/// ("No thread safety", its cache.h), and every read goes through them, so
/// no two threads may use one Squashfs at once. Separate instances over the
/// same descriptor are independent (reads are pread(2)), which is how the
/// FUSE server runs one per worker thread. Inode ids are positions in the
/// image, the same in every instance, so they can be passed between them.
class Squashfs {
  public:
    /// A squashfs inode id: (metadata block position << 16) | offset.
    using InodeId = uint64_t;

    /// An inode read from the image; plain data, valid in any instance.
    struct Inode;

    /// Opens the image on `fd` (not owned; must stay open) and checks it:
    /// magic, version 4.0, a compression this libsquashfuse supports, and
    /// that the file is as long as the superblock says (not truncated).
    /// `name` names the file in errors.
    /// @throws husk::Error "<name>: not a SquashFS image", "... is truncated
    ///         (N of M bytes)", "... compression X is not supported", ...
    Squashfs(int fd, std::string name);
    /// The same, with data blocks shared through `cache` (not owned; must
    /// outlive this reader; null: libsquashfuse's own per-reader caches).
    Squashfs(int fd, std::string name, BlockCache* cache);
    ~Squashfs();
    Squashfs(const Squashfs&) = delete;
    Squashfs& operator=(const Squashfs&) = delete;

    /// Name of the compression ("gzip", "zstd", ...).
    std::string compression() const;
    /// Block size in bytes.
    uint32_t block_size() const;
    /// Number of inodes.
    uint32_t inode_count() const;
    /// Bytes of the image in use.
    uint64_t bytes_used() const;
    InodeId root() const;

    /// Reads inode `id`. @returns 0 or an errno value (EIO: corrupt).
    int inode(InodeId id, Inode& out);
    /// Fills `st` for `ino` (st_ino: the inode number stored in the image).
    /// @returns 0 or EIO.
    int stat(const Inode& ino, struct stat& st);
    /// Looks up `name` in directory `dir`. @returns 0, ENOENT, ENOTDIR or EIO.
    int lookup(const Inode& dir, const char* name, InodeId& child);
    /// Reads the target of symlink `ino`. @returns 0, EINVAL or EIO.
    int readlink(const Inode& ino, std::string& target);
    /// Reads up to `size` bytes at `offset` of regular file `ino` into `buf`;
    /// `got` is how many (0 at or past the end). @returns 0 or EIO.
    int read(const Inode& ino, uint64_t offset, size_t size, char* buf, size_t& got);

    /// One directory entry, for list().
    struct Entry {
        const char* name;
        InodeId id;
        mode_t type;         ///< S_IFDIR, S_IFREG, ... (file type bits only)
        uint64_t ino_number; ///< the inode number stored in the image
        int64_t next;        ///< where list() resumes after this entry (never 0)
    };
    /// Calls `fn` for each entry of directory `dir` from position `from` (0:
    /// the start) until it returns false. @returns 0, ENOTDIR or EIO.
    template <typename Fn> int list(const Inode& dir, int64_t from, Fn fn);

    /// Reads the regular file at absolute `path` inside the image, at most
    /// `limit` bytes; nullopt when it does not exist.
    /// @throws husk::Error on a corrupt image or a file over `limit`.
    std::optional<std::string> read_file(const std::string& path, size_t limit);

    /// Type-erased form of list(), which forwards to it.
    int list_erased(const Inode& dir, int64_t from, bool (*fn)(void*, const Entry&), void* ctx);

  private:
    /// The decompressed block at `pos` (`header`: its size word), through
    /// the shared cache. Null on a read or decompression error.
    std::shared_ptr<const std::string> block(uint64_t pos, uint32_t header);
    int read_cached(const Inode& ino, uint64_t offset, size_t size, char* buf, size_t& got);
    /// Whether libsquashfuse may read directory `dir`: its first block and
    /// every place its index points to (checked once per directory).
    bool dir_readable(const Inode& dir);

    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string name_;
    BlockCache* cache_ = nullptr;
};

/// The inode struct of libsquashfuse, opaque here. Copyable.
struct Squashfs::Inode {
    alignas(8) unsigned char raw[128];
};

template <typename Fn> int Squashfs::list(const Inode& dir, int64_t from, Fn fn) {
    return list_erased(
        dir, from, [](void* ctx, const Entry& e) { return (*static_cast<Fn*>(ctx))(e); }, &fn);
}

} // namespace husk::image
