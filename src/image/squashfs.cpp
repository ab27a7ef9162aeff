#include "image/squashfs.hpp"

#include "util/error.hpp"
#include "util/path.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <sys/sysmacros.h>
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
    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    // Here, not in ~Squashfs: a constructor that throws after sqfs_init()
    // (a truncated image) runs no destructor of its own, only its members'.
    ~Impl() {
        if (initialised) {
            sqfs_destroy(&fs); // frees tables and caches; the fd is the caller's
        }
    }
};

Squashfs::Squashfs(int fd, std::string name, BlockCache* cache) : Squashfs(fd, std::move(name)) {
    cache_ = cache;
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
    const uint64_t used = impl_->fs.sb.bytes_used;
    if (static_cast<uint64_t>(st.st_size) < used) {
        throw Error(name_ + ": truncated SquashFS image (" + std::to_string(st.st_size) + " of " +
                    std::to_string(used) + " bytes)");
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
    if (i.base.uid >= impl_->fs.sb.no_ids || i.base.guid >= impl_->fs.sb.no_ids) {
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
    sqfs_name namebuf;
    sqfs_dir_entry entry;
    sqfs_dentry_init(&entry, namebuf);
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
    if (sqfs_blockidx_blocklist(&impl_->fs, in, &bl, static_cast<sqfs_off_t>(offset)) != SQFS_OK) {
        return EIO;
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
            if (sqfs_frag_entry(&impl_->fs, &frag, in->xtra.reg.frag_idx) != SQFS_OK) {
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
    if (cache_ != nullptr) {
        return read_cached(ino, offset, size, buf, got);
    }
    sqfs_off_t n = static_cast<sqfs_off_t>(std::min<uint64_t>(size, file_size - offset));
    if (sqfs_read_range(&impl_->fs, mut(ino), static_cast<sqfs_off_t>(offset), &n, buf) !=
        SQFS_OK) {
        return EIO;
    }
    got = static_cast<size_t>(n);
    return 0;
}

int Squashfs::list_erased(const Inode& dir, int64_t from, bool (*fn)(void*, const Entry&),
                          void* ctx) {
    if (!S_ISDIR(sqfs_mode(raw(dir).base.inode_type))) {
        return ENOTDIR;
    }
    sqfs_dir d;
    if (sqfs_dir_open(&impl_->fs, mut(dir), &d, from) != SQFS_OK) {
        return EIO;
    }
    sqfs_name namebuf;
    sqfs_dir_entry entry;
    sqfs_dentry_init(&entry, namebuf);
    sqfs_err err = SQFS_OK;
    while (sqfs_dir_next(&impl_->fs, &d, &entry, &err)) {
        Entry e{sqfs_dentry_name(&entry), sqfs_dentry_inode(&entry),
                static_cast<mode_t>(sqfs_dentry_mode(&entry) & S_IFMT),
                sqfs_dentry_inode_num(&entry), sqfs_dentry_next_offset(&entry)};
        if (!fn(ctx, e)) {
            return 0;
        }
    }
    return err == SQFS_OK ? 0 : EIO;
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
