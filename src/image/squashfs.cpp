#include "image/squashfs.hpp"

#include "util/error.hpp"
#include "util/path.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <endian.h>
#include <list>
#include <map>
#include <mutex>
#include <sys/sysmacros.h>
#include <tuple>
#include <unordered_map>
#include <vector>

extern "C" {
#include <squashfuse/squashfuse.h>
}

namespace husk::image {

std::vector<std::string> squashfs_compressions() {
    sqfs_compression_type types[SQFS_COMP_MAX + 1] = {};
    sqfs_compression_supported(types);
    std::vector<std::string> out;
    for (int i = 0; i < SQFS_COMP_MAX && types[i] != SQFS_COMP_UNKNOWN; ++i) {
        const char* name = sqfs_compression_name(types[i]);
        out.emplace_back(name != nullptr ? name : "type " + std::to_string(types[i]));
    }
    return out;
}

static_assert(sizeof(sqfs_inode) <= sizeof(Squashfs::Inode::raw), "sqfs_inode grew");
static_assert(alignof(sqfs_inode) <= 8, "sqfs_inode alignment");

namespace {

sqfs_inode& raw(Squashfs::Inode& i) {
    return *reinterpret_cast<sqfs_inode*>(i.raw);
}
const sqfs_inode& raw(const Squashfs::Inode& i) {
    return *reinterpret_cast<const sqfs_inode*>(i.raw);
}
// libsquashfuse takes non-const pointers to inodes it only reads.
sqfs_inode* mut(const Squashfs::Inode& i) {
    return const_cast<sqfs_inode*>(&raw(i));
}

// libsquashfuse 0.1.105 trusts the image's metadata positions, and crafted
// ones crash it (squashfuse issues #153 and #158 are of this family). husk
// checks each position with the library's own metadata cache before the
// library uses it:
//  - sqfs_md_cache() keeps unused slots under index 0, the index it also
//    looks blocks up by: a metadata block "at 0" (the superblock's place)
//    comes back as a null block, which sqfs_md_read() and sqfs_table_get()
//    dereference. No metadata position may be below the superblock's end.
//  - sqfs_md_read() computes `block->size - offset` unchecked: an offset
//    past the end of its (short) block underflows into a huge memcpy.
//  - sqfs_table_get() reads `each` bytes at the entry's offset without
//    looking at the block's size, and indexes the table's block list
//    without looking at its length.

/// Whether libsquashfuse can start reading metadata at (`block`, `offset`):
/// the block lies after the superblock and before the image's end, it reads
/// and decompresses, and `offset` (plus `want` bytes, for a table entry
/// that must lie in one block) is within it.
bool md_readable(sqfs& fs, uint64_t block, size_t offset, size_t want = 0) {
    if (block < sizeof(squashfs_super_block) || block >= fs.sb.bytes_used) {
        return false;
    }
    auto pos = static_cast<sqfs_off_t>(block);
    sqfs_block* b = nullptr;
    if (sqfs_md_cache(&fs, &pos, &b) != SQFS_OK || b == nullptr) {
        return false;
    }
    return offset + want <= b->size;
}

/// Whether entry `idx` of `table` (of `count` entries) reads safely.
bool table_entry_readable(sqfs& fs, const sqfs_table& table, uint64_t idx, uint64_t count) {
    if (idx >= count || table.blocks == nullptr) {
        return false;
    }
    const uint64_t at = idx * table.each;
    return md_readable(fs, table.blocks[at / SQUASHFS_METADATA_SIZE], at % SQUASHFS_METADATA_SIZE,
                       table.each);
}

/// What is wrong with the layout sqfs_init() accepted, or "": the block
/// size (file offsets are divided by it), the tables' places, and every
/// block of the id, fragment and export tables.
std::string layout_problem(const sqfs& fs) {
    const auto& sb = fs.sb;
    if (sb.block_size < 4096 || sb.block_size > (1U << 20) || sb.block_log > 20 ||
        (1U << sb.block_log) != sb.block_size) {
        return "a block size of " + std::to_string(sb.block_size) + " bytes";
    }
    const uint64_t first = sizeof(squashfs_super_block);
    const auto inside = [&](uint64_t pos) { return pos >= first && pos < sb.bytes_used; };
    if (!inside(sb.inode_table_start) || !inside(sb.directory_table_start)) {
        return "its inode or directory table outside the image";
    }
    const auto table_ok = [&](const sqfs_table& t, uint64_t count) {
        const uint64_t blocks =
            (count * t.each + SQUASHFS_METADATA_SIZE - 1) / SQUASHFS_METADATA_SIZE;
        for (uint64_t i = 0; i < blocks; ++i) {
            if (!inside(t.blocks[i])) {
                return false;
            }
        }
        return true;
    };
    if ((sb.no_ids > 0 && !table_ok(fs.id_table, sb.no_ids)) ||
        (sb.fragments > 0 && fs.frag_table.blocks != nullptr &&
         !table_ok(fs.frag_table, sb.fragments)) ||
        (fs.export_table.blocks != nullptr && !table_ok(fs.export_table, sb.inodes))) {
        return "a table block outside the image";
    }
    return "";
}

/// Blocks between two saved places in a file's block list (Impl::marks).
constexpr uint64_t kMarkEvery = 1024;
/// Files whose block-list places a reader keeps (then it starts over).
constexpr size_t kMarkedFiles = 4096;
using MarkKey = std::tuple<sqfs_off_t, size_t, uint64_t, uint64_t>;
/// Everything dir_readable() reads of a directory inode: its listing's
/// block and offset, its index's length and place.
using DirKey = std::tuple<uint64_t, uint16_t, uint32_t, sqfs_off_t, size_t>;
/// The longest symlink text read (Linux's own limit is PATH_MAX).
constexpr uint64_t kMaxSymlink = 65535;

} // namespace

struct BlockCache::Impl {
    struct Slot {
        std::shared_ptr<const std::string> data;
        std::list<uint64_t>::iterator age;
    };
    std::mutex mu;
    size_t capacity = 0;
    size_t bytes = 0;
    std::unordered_map<uint64_t, Slot> slots;
    std::list<uint64_t> ages; // most recent first
};

BlockCache::BlockCache(size_t capacity) : impl_(std::make_unique<Impl>()) {
    impl_->capacity = capacity;
}
BlockCache::~BlockCache() = default;

std::shared_ptr<const std::string> BlockCache::get(uint64_t pos) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->slots.find(pos);
    if (it == impl_->slots.end()) {
        return nullptr;
    }
    impl_->ages.splice(impl_->ages.begin(), impl_->ages, it->second.age);
    return it->second.data;
}

void BlockCache::put(uint64_t pos, std::shared_ptr<const std::string> data) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->slots.count(pos) != 0) {
        return; // another thread decompressed it meanwhile
    }
    impl_->bytes += data->size();
    impl_->ages.push_front(pos);
    impl_->slots.emplace(pos, Impl::Slot{std::move(data), impl_->ages.begin()});
    while (impl_->bytes > impl_->capacity && impl_->ages.size() > 1) {
        auto old = impl_->slots.find(impl_->ages.back());
        impl_->bytes -= old->second.data->size();
        impl_->slots.erase(old);
        impl_->ages.pop_back();
    }
}

struct Squashfs::Impl {
    sqfs fs{};
    bool initialised = false;
    /// Data blocks of a reader that was given no shared cache.
    BlockCache own_cache{8 << 20};
    /// Names of directory entries: a name's length is 16 bits on disk, and
    /// libsquashfuse reads it whole into the buffer it is given (#153).
    std::vector<char> name = std::vector<char>(size_t{1} << 17);
    /// Directory inodes whose index (the places sqfs_dir_lookup() and a
    /// resumed listing jump to) was checked.
    std::map<DirKey, bool> dirs;
    /// Per file, its block list as it stands after every kMarkEvery-th
    /// block: a read far into a file resumes there. (libsquashfuse's own
    /// index, sqfs_blockidx_blocklist(), keys files by their inode number,
    /// which two crafted inodes can share with different lengths.)
    std::map<MarkKey, std::vector<sqfs_blocklist>> marks;

    /// What identifies a file's block list: where it starts, the data's
    /// start and the file's size.
    static MarkKey key(const sqfs_inode& in) {
        return {in.next.block, in.next.offset, in.xtra.reg.start_block, in.xtra.reg.file_size};
    }
    /// Keeps `bl` as the k-th mark of `in` (after k * kMarkEvery blocks).
    void mark(const sqfs_inode& in, uint64_t k, const sqfs_blocklist& bl) {
        if (marks.size() >= kMarkedFiles && marks.count(key(in)) == 0) {
            marks.clear();
        }
        auto& m = marks[key(in)];
        if (m.size() + 1 == k) {
            m.push_back(bl);
        }
    }
    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    // Here, not in ~Squashfs: a constructor that throws after sqfs_init()
    // (a truncated image) runs no destructor of its own, only its members'.
    ~Impl() {
        if (initialised) {
            sqfs_destroy(&fs); // frees tables and caches; the fd is the caller's
        }
        // libsquashfuse 0.1.105's sqfs_destroy() forgets the xattr table
        // (sqfs_init() failing after reading it, too); sqfs_init() zeroes
        // the struct first, so this is null or the table's own block list.
        sqfs_table_destroy(&fs.xattr_table);
    }
};

Squashfs::Squashfs(int fd, std::string name, BlockCache* cache) : Squashfs(fd, std::move(name)) {
    if (cache != nullptr) {
        cache_ = cache;
    }
}

Squashfs::Squashfs(int fd, std::string name)
    : impl_(std::make_unique<Impl>()), name_(std::move(name)) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        throw_errno(name_ + ": cannot stat");
    }
    sqfs_err err = sqfs_init(&impl_->fs, fd, 0);
    if (err != SQFS_OK) {
        // sqfs_init() may have filled the superblock before failing.
        const auto& sb = impl_->fs.sb;
        switch (err) {
        case SQFS_BADFORMAT:
            throw Error(name_ + ": not a SquashFS image (bad superblock)");
        case SQFS_BADVERSION:
            throw Error(name_ + ": SquashFS version " + std::to_string(sb.s_major) + "." +
                        std::to_string(sb.s_minor) + " is not supported (4.0 is)");
        case SQFS_BADCOMP: {
            const char* comp =
                sqfs_compression_name(static_cast<sqfs_compression_type>(sb.compression));
            throw Error(name_ + ": its compression, " + std::string(comp ? comp : "unknown") +
                        ", is not supported by this build's libsquashfuse");
        }
        default:
            throw Error(name_ + ": corrupt or truncated SquashFS image (cannot read its tables)");
        }
    }
    impl_->initialised = true;
    cache_ = &impl_->own_cache;
    const uint64_t used = impl_->fs.sb.bytes_used;
    if (static_cast<uint64_t>(st.st_size) < used) {
        throw Error(name_ + ": truncated SquashFS image (" + std::to_string(st.st_size) + " of " +
                    std::to_string(used) + " bytes)");
    }
    if (const std::string problem = layout_problem(impl_->fs); !problem.empty()) {
        throw Error(name_ + ": corrupt SquashFS image (" + problem + ")");
    }
}

Squashfs::~Squashfs() = default;

std::string Squashfs::compression() const {
    const char* n = sqfs_compression_name(sqfs_compression(&impl_->fs));
    return n != nullptr ? n : "unknown";
}
uint32_t Squashfs::block_size() const {
    return impl_->fs.sb.block_size;
}
uint32_t Squashfs::inode_count() const {
    return impl_->fs.sb.inodes;
}
uint64_t Squashfs::bytes_used() const {
    return impl_->fs.sb.bytes_used;
}
Squashfs::InodeId Squashfs::root() const {
    return sqfs_inode_root(&impl_->fs);
}

int Squashfs::inode(InodeId id, Inode& out) {
    std::memset(out.raw, 0, sizeof out.raw);
    if (!md_readable(impl_->fs, impl_->fs.sb.inode_table_start + (id >> 16), id & 0xffff)) {
        return EIO;
    }
    return sqfs_inode_get(&impl_->fs, &raw(out), id) == SQFS_OK ? 0 : EIO;
}

int Squashfs::stat(const Inode& in, struct stat& st) {
    const sqfs_inode& i = raw(in);
    std::memset(&st, 0, sizeof st);
    st.st_mode = i.base.mode | sqfs_mode(i.base.inode_type);
    st.st_nlink = static_cast<nlink_t>(i.nlink);
    st.st_ino = i.base.inode_number;
    st.st_mtim.tv_sec = st.st_ctim.tv_sec = st.st_atim.tv_sec = i.base.mtime;
    sqfs_id_t id = 0;
    // libsquashfuse 0.1.105 (sqfs_table_get) indexes the id table's block
    // list with the inode's uid and gid indexes unchecked: an index past
    // the superblock's id count reads past the list (or a null one).
    if (!table_entry_readable(impl_->fs, impl_->fs.id_table, i.base.uid, impl_->fs.sb.no_ids) ||
        !table_entry_readable(impl_->fs, impl_->fs.id_table, i.base.guid, impl_->fs.sb.no_ids)) {
        return EIO;
    }
    if (sqfs_id_get(&impl_->fs, i.base.uid, &id) != SQFS_OK) {
        return EIO;
    }
    st.st_uid = id;
    if (sqfs_id_get(&impl_->fs, i.base.guid, &id) != SQFS_OK) {
        return EIO;
    }
    st.st_gid = id;
    if (S_ISREG(st.st_mode)) {
        st.st_size = static_cast<off_t>(i.xtra.reg.file_size);
    } else if (S_ISLNK(st.st_mode)) {
        st.st_size = static_cast<off_t>(i.xtra.symlink_size);
    } else if (S_ISDIR(st.st_mode)) {
        st.st_size = static_cast<off_t>(i.xtra.dir.dir_size);
    } else if (S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode)) {
        st.st_rdev = makedev(static_cast<unsigned>(i.xtra.dev.major),
                             static_cast<unsigned>(i.xtra.dev.minor));
    }
    st.st_blksize = static_cast<blksize_t>(impl_->fs.sb.block_size);
    st.st_blocks = (st.st_size + 511) / 512;
    return 0;
}

int Squashfs::lookup(const Inode& dir, const char* name, InodeId& child) {
    if (!S_ISDIR(sqfs_mode(raw(dir).base.inode_type))) {
        return ENOTDIR;
    }
    if (!dir_readable(dir)) {
        return EIO;
    }
    sqfs_dir_entry entry;
    sqfs_dentry_init(&entry, impl_->name.data());
    bool found = false;
    if (sqfs_dir_lookup(&impl_->fs, mut(dir), name, std::strlen(name), &entry, &found) != SQFS_OK) {
        return EIO;
    }
    if (!found) {
        return ENOENT;
    }
    child = sqfs_dentry_inode(&entry);
    return 0;
}

int Squashfs::readlink(const Inode& ino, std::string& target) {
    if (!S_ISLNK(sqfs_mode(raw(ino).base.inode_type))) {
        return EINVAL;
    }
    if (raw(ino).xtra.symlink_size > kMaxSymlink) {
        return EIO;
    }
    size_t size = raw(ino).xtra.symlink_size + 1;
    std::vector<char> buf(size);
    if (sqfs_readlink(&impl_->fs, mut(ino), buf.data(), &size) != SQFS_OK) {
        return EIO;
    }
    target.assign(buf.data(), ::strnlen(buf.data(), buf.size()));
    return 0;
}

std::shared_ptr<const std::string> Squashfs::block(uint64_t pos, uint32_t header) {
    if (auto hit = cache_->get(pos)) {
        return hit;
    }
    // libsquashfuse 0.1.105 (sqfs_block_read) allocates the on-disk size
    // the header gives, up to 4 GiB, before reading: a data block is never
    // larger than the image's block size, nor past the image's end.
    const uint64_t on_disk = header & ~static_cast<uint32_t>(SQUASHFS_COMPRESSED_BIT_BLOCK);
    if (on_disk > impl_->fs.sb.block_size || pos > impl_->fs.sb.bytes_used ||
        on_disk > impl_->fs.sb.bytes_used - pos) {
        return nullptr;
    }
    sqfs_block* b = nullptr;
    if (sqfs_data_block_read(&impl_->fs, static_cast<sqfs_off_t>(pos), header, &b) != SQFS_OK) {
        return nullptr;
    }
    auto data = std::make_shared<const std::string>(static_cast<const char*>(b->data), b->size);
    sqfs_block_dispose(b);
    cache_->put(pos, data);
    return data;
}

// The walk of sqfs_read_range(), with blocks from the shared cache: full
// blocks through the file's block list, then the tail in its fragment block.
int Squashfs::read_cached(const Inode& ino, uint64_t offset, size_t size, char* buf, size_t& got) {
    sqfs_inode* in = mut(ino);
    const uint64_t file_size = in->xtra.reg.file_size;
    const uint64_t block_size = impl_->fs.sb.block_size;
    size = static_cast<size_t>(std::min<uint64_t>(size, file_size - offset));
    sqfs_blocklist bl;
    sqfs_blocklist_init(&impl_->fs, in, &bl);
    uint64_t taken = 0; // sqfs_blocklist_next() calls made on bl
    const uint64_t first = offset / block_size;
    if (first >= bl.remain) {
        bl.remain = 0; // the tail, in a fragment
    } else if (first >= kMarkEvery) {
        auto& marks = impl_->marks[Impl::key(*in)];
        const size_t k = std::min<uint64_t>(first / kMarkEvery, marks.size());
        if (k > 0) {
            bl = marks[k - 1];
            taken = k * kMarkEvery;
        }
    }
    size_t skip = offset % block_size; // into the first block used
    while (size > 0) {
        std::shared_ptr<const std::string> data;
        size_t data_off = 0;
        size_t data_size = 0;
        if (bl.remain == 0) { // the tail, in a fragment block
            if (in->xtra.reg.frag_idx == SQUASHFS_INVALID_FRAG) {
                break;
            }
            struct squashfs_fragment_entry frag;
            if (!table_entry_readable(impl_->fs, impl_->fs.frag_table, in->xtra.reg.frag_idx,
                                      impl_->fs.sb.fragments) ||
                sqfs_frag_entry(&impl_->fs, &frag, in->xtra.reg.frag_idx) != SQFS_OK) {
                return EIO;
            }
            data = block(frag.start_block, frag.size);
            data_off = in->xtra.reg.frag_off;
            data_size = file_size % block_size;
            if (!data || data_off + data_size > data->size()) {
                return EIO;
            }
        } else {
            if (sqfs_blocklist_next(&bl) != SQFS_OK) {
                return EIO;
            }
            if (++taken % kMarkEvery == 0) {
                impl_->mark(*in, taken / kMarkEvery, bl);
            }
            if (bl.pos + block_size <= offset) {
                continue;
            }
            if (bl.input_size == 0) { // a hole: zeros
                data_size = static_cast<size_t>(std::min<uint64_t>(block_size, file_size - bl.pos));
            } else {
                data = block(bl.block, bl.header);
                if (!data) {
                    return EIO;
                }
                data_size = data->size();
            }
        }
        if (skip >= data_size) {
            return EIO;
        }
        const size_t take = std::min(data_size - skip, size);
        if (data) {
            std::memcpy(buf + got, data->data() + data_off + skip, take);
        } else {
            std::memset(buf + got, 0, take);
        }
        got += take;
        size -= take;
        skip = 0;
    }
    return 0;
}

int Squashfs::read(const Inode& ino, uint64_t offset, size_t size, char* buf, size_t& got) {
    got = 0;
    const uint64_t file_size = raw(ino).xtra.reg.file_size;
    if (offset >= file_size || size == 0) {
        return 0;
    }
    // Never sqfs_read_range(): its fragment and data caches have the
    // metadata cache's index-0 slots, and its block index the inode-number
    // keys (above).
    return read_cached(ino, offset, size, buf, got);
}

int Squashfs::list_erased(const Inode& dir, int64_t from, bool (*fn)(void*, const Entry&),
                          void* ctx) {
    if (!S_ISDIR(sqfs_mode(raw(dir).base.inode_type))) {
        return ENOTDIR;
    }
    if (!dir_readable(dir)) {
        return EIO;
    }
    sqfs_dir d;
    if (sqfs_dir_open(&impl_->fs, mut(dir), &d, from) != SQFS_OK) {
        return EIO;
    }
    sqfs_dir_entry entry;
    sqfs_dentry_init(&entry, impl_->name.data());
    sqfs_err err = SQFS_OK;
    while (sqfs_dir_next(&impl_->fs, &d, &entry, &err)) {
        if (sqfs_dentry_name_size(&entry) > SQUASHFS_NAME_LEN) {
            return EIO;
        }
        Entry e{sqfs_dentry_name(&entry), sqfs_dentry_inode(&entry),
                static_cast<mode_t>(sqfs_dentry_mode(&entry) & S_IFMT),
                sqfs_dentry_inode_num(&entry), sqfs_dentry_next_offset(&entry)};
        if (!fn(ctx, e)) {
            return 0;
        }
    }
    return err == SQFS_OK ? 0 : EIO;
}

bool Squashfs::dir_readable(const Inode& dir) {
    sqfs& fs = impl_->fs;
    const sqfs_inode& in = raw(dir);
    const uint64_t start = fs.sb.directory_table_start + in.xtra.dir.start_block;
    // Exactly what is checked below: a crafted inode that shares its
    // listing with a checked one but has an index of its own is checked.
    const DirKey key{start, in.xtra.dir.offset, in.xtra.dir.idx_count, in.next.block,
                     in.next.offset};
    if (auto it = impl_->dirs.find(key); it != impl_->dirs.end()) {
        return it->second;
    }
    bool ok = md_readable(fs, start, in.xtra.dir.offset);
    // The index of a large directory: each entry is a place the library
    // jumps to, at the listing's offset plus the entry's, modulo a block.
    sqfs_md_cursor cur = in.next;
    for (uint32_t i = 0; ok && i < in.xtra.dir.idx_count; ++i) {
        struct squashfs_dir_index idx {};
        ok = sqfs_md_read(&fs, &cur, &idx, sizeof idx) == SQFS_OK &&
             md_readable(fs, fs.sb.directory_table_start + le32toh(idx.start_block),
                         (in.xtra.dir.offset + le32toh(idx.index)) % SQUASHFS_METADATA_SIZE) &&
             sqfs_md_read(&fs, &cur, nullptr, le32toh(idx.size) + 1) == SQFS_OK;
    }
    if (impl_->dirs.size() >= kMarkedFiles) {
        impl_->dirs.clear();
    }
    impl_->dirs.emplace(key, ok);
    return ok;
}

std::optional<std::string> Squashfs::read_file(const std::string& path, size_t limit) {
    Inode cur;
    if (inode(root(), cur) != 0) {
        throw Error(name_ + ": corrupt SquashFS image (cannot read the root directory)");
    }
    std::vector<std::string> parts = husk::path::split(path);
    for (size_t k = 0; k < parts.size(); ++k) {
        InodeId child = 0;
        int err = lookup(cur, parts[k].c_str(), child);
        if (err == ENOENT || err == ENOTDIR) {
            return std::nullopt;
        }
        if (err != 0 || inode(child, cur) != 0) {
            throw Error(name_ + ": corrupt SquashFS image (reading " + path + ")");
        }
        // Symlinks are not followed: the files husk reads from an image
        // (its config) are regular files at fixed places.
        if (S_ISLNK(sqfs_mode(raw(cur).base.inode_type))) {
            throw Error(name_ + ": " + path + " in the image is a symlink, not a file");
        }
    }
    if (!S_ISREG(sqfs_mode(raw(cur).base.inode_type))) {
        throw Error(name_ + ": " + path + " in the image is not a regular file");
    }
    const uint64_t size = raw(cur).xtra.reg.file_size;
    if (size > limit) {
        throw Error(name_ + ": " + path + " in the image is larger than " + std::to_string(limit) +
                    " bytes");
    }
    std::string out(size, '\0');
    size_t got = 0;
    if (read(cur, 0, size, out.data(), got) != 0 || got != size) {
        throw Error(name_ + ": corrupt SquashFS image (reading " + path + ")");
    }
    return out;
}

} // namespace husk::image
