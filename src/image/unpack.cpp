#include "image/unpack.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/path.hpp"
#include "util/progress.hpp"
#include "util/text.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_set>
#include <utility>
#include <vector>
#include <zlib.h>

namespace husk::image {

namespace {

constexpr std::string_view kWhiteout = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";

} // namespace

std::string archive_library_versions() {
    // Not archive_version_details(): it builds its text in a buffer it never
    // frees, which LeakSanitizer reports. These return static strings.
    std::string out = archive_version_string();
    const std::pair<const char*, const char*> libs[] = {
        {"zlib", archive_zlib_version()},       {"liblzma", archive_liblzma_version()},
        {"bz2lib", archive_bzlib_version()},    {"liblz4", archive_liblz4_version()},
        {"libzstd", archive_libzstd_version()},
    };
    for (const auto& [name, version] : libs) {
        if (version != nullptr) {
            // bzlib says "1.0.8, 13-Jul-2019": the number is enough
            std::string_view v(version);
            out += std::string(" ") + name + "/" + std::string(v.substr(0, v.find(',')));
        }
    }
    return out;
}

void ArchiveFree::operator()(struct archive* a) const {
    archive_read_free(a);
}

std::string archive_reason(struct archive* a) {
    const char* s = archive_error_string(a);
    return s != nullptr ? text::one_line(s) : "unreadable archive";
}

namespace {

/// A new libarchive reader. @throws husk::Error naming `name`.
ArchiveReader new_reader(const std::string& name) {
    ArchiveReader a(archive_read_new());
    if (!a) {
        throw Error(name + ": cannot allocate an archive reader");
    }
    return a;
}

/// tar only: an image layer is a tar (OCI image spec, layer.md), and the
/// other formats would link in more code than husk should carry.
void support_tar(struct archive* a) {
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
}

/// The compressions of kTarCompressions but gzip (which LayerStream
/// inflates itself).
void support_compressions_but_gzip(struct archive* a) {
    archive_read_support_filter_xz(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_lz4(a);
    archive_read_support_filter_lzma(a);
}

} // namespace

ArchiveReader open_tar_reader(int fd, const std::string& name) {
    ArchiveReader a = new_reader(name);
    support_tar(a.get());
    archive_read_support_filter_gzip(a.get());
    support_compressions_but_gzip(a.get());
    if (archive_read_open_fd(a.get(), fd, 1 << 16) != ARCHIVE_OK) {
        throw Error(name + ": " + archive_reason(a.get()));
    }
    return a;
}

void remove_tree(int dir, const std::string& name) {
    struct stat st {};
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {
            return;
        }
        throw_errno("cannot stat " + name);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (::unlinkat(dir, name.c_str(), 0) != 0) {
            throw_errno("cannot remove " + name);
        }
        return;
    }
    int fd = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES && ::fchmodat(dir, name.c_str(), S_IRWXU, 0) == 0) {
        // ours but unreadable (overlayfs leaves its work/work mode 0)
        fd = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
        throw_errno("cannot open directory " + name);
    }
    ::fchmod(fd, (st.st_mode & 07777) | S_IRWXU); // ours: make it listable and writable
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
        ::close(fd);
        throw_errno("cannot read directory " + name);
    }
    std::vector<std::string> children;
    while (struct dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") {
            children.emplace_back(n);
        }
    }
    for (const auto& c : children) {
        remove_tree(::dirfd(d), c);
    }
    ::closedir(d);
    if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0) {
        throw_errno("cannot remove directory " + name);
    }
}

namespace {

/// A layer's tar stream, decompressed and read to its very end, so that
/// corrupt data is an error even where it only shows in a stream's
/// trailer: libarchive stops reading at the tar's end-of-archive blocks,
/// before a compressed stream's trailer, and never checks a gzip trailer
/// (its reader leaves "Verify the length and CRC" to do). gzip (RFC 1952,
/// one or more members) is inflated here with zlib, which checks each
/// member's CRC-32 and length; every other compression goes through
/// libarchive's filters in its "raw" format, whose libraries check their
/// own checksums (xz, zstd, bzip2, lz4) when the stream is read to the end.
/// The tar reader (get()) reads from this stream.
class LayerStream {
  public:
    LayerStream(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
        unsigned char magic[2] = {0, 0};
        gzip_ = ::pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        if (gzip_) {
            in_.resize(kChunk);
            out_.resize(kChunk);
            if (::inflateInit2(&zs_, 15 + 16) != Z_OK) {
                throw Error(name_ + ": cannot start the gzip decompressor");
            }
            inflater_.zs = &zs_;
        } else {
            raw_ = new_reader(name_);
            archive_read_support_format_raw(raw_.get());
            support_compressions_but_gzip(raw_.get());
            struct archive_entry* e = nullptr;
            if (archive_read_open_fd(raw_.get(), fd, 1 << 16) != ARCHIVE_OK ||
                archive_read_next_header(raw_.get(), &e) != ARCHIVE_OK) {
                throw Error(name_ + ": " + archive_reason(raw_.get()));
            }
        }
        tar_ = new_reader(name_);
        support_tar(tar_.get());
        if (archive_read_open(tar_.get(), this, nullptr, &LayerStream::read_cb, nullptr) !=
            ARCHIVE_OK) {
            throw Error(name_ + ": " + archive_reason(tar_.get()));
        }
    }
    LayerStream(const LayerStream&) = delete;
    LayerStream& operator=(const LayerStream&) = delete;
    ~LayerStream() = default; // tar_, declared last, goes first

    struct archive* get() const noexcept {
        return tar_.get();
    }

    /// Bytes of the file consumed so far, for progress.
    uint64_t bytes_read() const {
        return gzip_ ? file_bytes_ : static_cast<uint64_t>(archive_filter_bytes(raw_.get(), -1));
    }

    /// After the tar's end: reads the rest of the stream, so its trailer
    /// is checked. @throws husk::Error naming the archive.
    void finish() {
        while (!next().empty()) {
        }
    }

  private:
    static constexpr size_t kChunk = 1 << 16;

    static la_ssize_t read_cb(struct archive* a, void* self, const void** buf) {
        auto* s = static_cast<LayerStream*>(self);
        try {
            const std::string_view data = s->next();
            *buf = data.data();
            return static_cast<la_ssize_t>(data.size());
        } catch (const Error& e) {
            archive_set_error(a, EIO, "%s", e.message().c_str());
            return -1;
        }
    }

    /// The next piece of the decompressed stream; empty at its end.
    std::string_view next() {
        if (!gzip_) {
            const void* block = nullptr;
            size_t size = 0;
            la_int64_t off = 0;
            const int r = archive_read_data_block(raw_.get(), &block, &size, &off);
            if (r == ARCHIVE_EOF) {
                return {};
            }
            if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
                throw Error(archive_reason(raw_.get()));
            }
            return {static_cast<const char*>(block), size};
        }
        for (;;) {
            if (zs_.avail_in == 0 && !in_eof_) {
                ssize_t n;
                while ((n = ::read(fd_, in_.data(), in_.size())) < 0 && errno == EINTR) {
                }
                if (n < 0) {
                    throw_errno("cannot read");
                }
                in_eof_ = n == 0;
                file_bytes_ += static_cast<uint64_t>(n);
                zs_.next_in = reinterpret_cast<Bytef*>(in_.data());
                zs_.avail_in = static_cast<uInt>(n);
            }
            if (member_done_) {
                // After a member: another member, zeros (padding some
                // writers add), or the end.
                while (zs_.avail_in > 0 && zs_.next_in[0] == 0) {
                    ++zs_.next_in;
                    --zs_.avail_in;
                    padded_ = true;
                }
                if (zs_.avail_in == 0) {
                    if (in_eof_) {
                        return {};
                    }
                    continue;
                }
                if (padded_) {
                    throw Error("data after the end of the gzip stream");
                }
                ::inflateReset(&zs_);
                member_done_ = false;
            }
            if (zs_.avail_in == 0 && in_eof_) {
                throw Error("truncated gzip stream (unexpected end of file)");
            }
            zs_.next_out = reinterpret_cast<Bytef*>(out_.data());
            zs_.avail_out = static_cast<uInt>(out_.size());
            const int r = ::inflate(&zs_, Z_NO_FLUSH);
            const size_t got = out_.size() - zs_.avail_out;
            if (r == Z_STREAM_END) {
                member_done_ = true; // CRC-32 and length checked by zlib
            } else if (r != Z_OK && !(r == Z_BUF_ERROR && got == 0 && zs_.avail_in == 0)) {
                throw Error(std::string("corrupt gzip data (") +
                            (zs_.msg != nullptr ? zs_.msg : "inflate failed") + ")");
            }
            if (got > 0) {
                return {out_.data(), got};
            }
        }
    }

    int fd_;
    std::string name_;
    bool gzip_ = false;
    z_stream zs_{};
    /// Ends zs_ once inflateInit2() has set it up, also when the
    /// constructor throws after that.
    struct Inflater {
        z_stream* zs = nullptr;
        Inflater() = default;
        Inflater(const Inflater&) = delete;
        Inflater& operator=(const Inflater&) = delete;
        ~Inflater() {
            if (zs != nullptr) {
                ::inflateEnd(zs);
            }
        }
    } inflater_;
    std::vector<char> in_, out_;
    bool in_eof_ = false;
    bool member_done_ = false;
    bool padded_ = false;
    uint64_t file_bytes_ = 0;
    ArchiveReader raw_;
    ArchiveReader tar_;
};

class LayerWriter {
  public:
    LayerWriter(int root_fd, std::string name, const UnpackLimits& limits)
        : root_(root_fd), name_(std::move(name)), limits_(limits) {}

    UnpackReport run(int archive_fd) {
        LayerStream a(archive_fd, name_);
        struct stat in {};
        ::fstat(archive_fd, &in);
        log::Progress progress("unpacking " + name_, S_ISREG(in.st_mode) ? in.st_size : 0);
        for (;;) {
            // Bytes read from the file itself, against its size.
            progress.update(a.bytes_read());
            struct archive_entry* e = nullptr;
            int r = archive_read_next_header(a.get(), &e);
            if (r == ARCHIVE_EOF) {
                try {
                    a.finish();
                } catch (const Error& err) {
                    throw Error(name_ + ": " + err.message(), err.err());
                }
                break;
            }
            if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
                throw Error(name_ + ": " + archive_reason(a.get()));
            }
            if (++report_.entries > limits_.max_entries) {
                throw Error(name_ + ": more than " + std::to_string(limits_.max_entries) +
                            " entries (raise HUSK_MAX_UNPACK_ENTRIES if this is expected)");
            }
            const char* raw = archive_entry_pathname(e);
            const std::string shown = raw != nullptr ? raw : "";
            try {
                entry(a.get(), e);
            } catch (Error& err) {
                // The entry's path and a link's target are the archive's
                // bytes: a newline in one must not start a second line.
                throw Error(text::one_line(name_ + ": entry " + shown + ": " + err.message()),
                            err.err());
            }
        }
        return report_;
    }

  private:
    static std::string type_name(struct archive_entry* e) {
        if (archive_entry_hardlink(e) != nullptr) {
            return "hard link";
        }
        switch (archive_entry_filetype(e)) {
        case AE_IFREG:
            return "file";
        case AE_IFLNK:
            return "symlink";
        case AE_IFDIR:
            return "directory";
        default:
            return "special file";
        }
    }

    /// The entry's path as components: a leading '/' dropped, "." and empty
    /// components ignored, ".." refused.
    static std::vector<std::string> components(const char* raw) {
        if (raw == nullptr) {
            throw Error("entry without a path");
        }
        auto parts = path::split(raw);
        for (const auto& p : parts) {
            if (p == "..") {
                throw Error("'..' in the path");
            }
        }
        return parts;
    }

    static std::string joined(const std::vector<std::string>& parts, size_t n) {
        std::string out;
        for (size_t i = 0; i < n; ++i) {
            out += (i ? "/" : "") + parts[i];
        }
        return out;
    }

    /// Opens the directory holding parts[0..n), creating missing ones
    /// (tar may omit directory entries); never through a symlink.
    Fd parent(const std::vector<std::string>& parts, size_t n, bool create) {
        Fd cur(::fcntl(root_, F_DUPFD_CLOEXEC, 0));
        if (!cur) {
            throw_errno("cannot duplicate the root descriptor");
        }
        for (size_t i = 0; i < n; ++i) {
            const char* c = parts[i].c_str();
            int fd = ::openat(cur.get(), c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0 && errno == ENOENT && create) {
                if (::mkdirat(cur.get(), c, 0755) != 0 && errno != EEXIST) {
                    throw_errno("cannot create directory " + joined(parts, i + 1));
                }
                created_.insert(joined(parts, i + 1));
                fd = ::openat(cur.get(), c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            }
            if (fd < 0) {
                struct stat st {};
                if (::fstatat(cur.get(), c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
                    throw Error(joined(parts, i + 1) +
                                " is a symlink; nothing is written through one");
                }
                throw_errno("cannot open directory " + joined(parts, i + 1));
            }
            cur = Fd(fd);
        }
        return cur;
    }

    void entry(struct archive* a, struct archive_entry* e) {
        auto parts = components(archive_entry_pathname(e));
        if (parts.empty()) {
            // The root itself ("./"): a directory entry changes nothing;
            // anything else would replace the image's root (a symlink "."
            // pointing at the host is CVE-2021-29136's shape).
            if (archive_entry_filetype(e) != AE_IFDIR || archive_entry_hardlink(e) != nullptr) {
                throw Error("a " + type_name(e) + " that would replace the image's root; refused");
            }
            return;
        }
        const std::string name = parts.back();
        const std::string full = joined(parts, parts.size());
        if (name == kOpaque) {
            Fd dir = parent(parts, parts.size() - 1, true);
            opaque(dir.get(), joined(parts, parts.size() - 1));
            ++report_.whiteouts;
            return;
        }
        if (name.rfind(kWhiteout, 0) == 0) {
            const std::string target = name.substr(kWhiteout.size());
            if (target.empty() || target == "." || target == ".." ||
                target.rfind(kWhiteout, 0) == 0) {
                throw Error("malformed whiteout");
            }
            Fd dir = parent(parts, parts.size() - 1, true);
            std::string target_full = joined(parts, parts.size() - 1);
            target_full += (target_full.empty() ? "" : "/") + target;
            if (created_.count(target_full) == 0) { // only lower layers' entries
                remove_tree(dir.get(), target);
            }
            ++report_.whiteouts;
            return;
        }
        Fd dir = parent(parts, parts.size() - 1, true);
        const char* link = archive_entry_hardlink(e);
        if (link != nullptr) {
            hard_link(dir.get(), name, link);
        } else {
            switch (archive_entry_filetype(e)) {
            case AE_IFDIR:
                directory(dir.get(), name, archive_entry_perm(e));
                break;
            case AE_IFREG:
                regular(a, e, dir.get(), name);
                break;
            case AE_IFLNK:
                symlink(e, dir.get(), name);
                break;
            default: // device nodes, FIFOs, sockets: not ours to create
                ++report_.skipped;
                return;
            }
        }
        created_.insert(full);
    }

    void directory(int dir, const std::string& name, mode_t perm) {
        struct stat st {};
        if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
            remove_tree(dir, name); // a directory replaces a file or link
        }
        if (::mkdirat(dir, name.c_str(), 0700) != 0 && errno != EEXIST) {
            throw_errno("cannot create directory");
        }
        Fd d(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!d || ::fchmod(d.get(), (perm & 01777) | S_IRWXU) != 0) {
            throw_errno("cannot set the directory's mode");
        }
    }

    void regular(struct archive* a, struct archive_entry* e, int dir, const std::string& name) {
        remove_tree(dir, name); // a file replaces whatever was there
        Fd out(::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0600));
        if (!out) {
            throw_errno("cannot create file");
        }
        for (;;) {
            const void* buf = nullptr;
            size_t size = 0;
            la_int64_t off = 0;
            int r = archive_read_data_block(a, &buf, &size, &off);
            if (r == ARCHIVE_EOF) {
                break;
            }
            if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
                throw Error(archive_reason(a));
            }
            report_.bytes += size;
            if (report_.bytes > limits_.max_bytes) {
                throw Error("more than " + std::to_string(limits_.max_bytes) +
                            " bytes unpacked (raise HUSK_MAX_UNPACK_BYTES if this is expected)");
            }
            const char* p = static_cast<const char*>(buf);
            while (size > 0) {
                ssize_t w = ::pwrite(out.get(), p, size, off);
                if (w < 0 && errno == EINTR) {
                    continue;
                }
                if (w < 0) {
                    throw_errno("cannot write");
                }
                p += w;
                off += w;
                size -= static_cast<size_t>(w);
            }
        }
        // Sparse files end in a hole that no data block covers.
        if (::ftruncate(out.get(), archive_entry_size(e)) != 0) {
            throw_errno("cannot set the file's size");
        }
        // setuid and setgid never survive: they mean nothing to an
        // unprivileged user and are a risk when the tree is copied. The
        // user can always read and write what is theirs (a layer's mode
        // 0000 file would be unreadable in the container, where nobody is
        // root over it), as directories are always u+rwx.
        if (::fchmod(out.get(), (archive_entry_perm(e) & 01777) | S_IRUSR | S_IWUSR) != 0) {
            throw_errno("cannot set the file's mode");
        }
        struct timespec times[2] = {{archive_entry_mtime(e), 0}, {archive_entry_mtime(e), 0}};
        ::futimens(out.get(), times);
    }

    void symlink(struct archive_entry* e, int dir, const std::string& name) {
        const char* target = archive_entry_symlink(e);
        if (target == nullptr) {
            throw Error("symlink without a target");
        }
        remove_tree(dir, name);
        // The target is stored as it is and never followed while unpacking.
        if (::symlinkat(target, dir, name.c_str()) != 0) {
            throw_errno("cannot create symlink");
        }
    }

    void hard_link(int dir, const std::string& name, const char* target) {
        auto parts = components(target); // ".." refused: the link stays inside
        if (parts.empty()) {
            throw Error("hard link to the root");
        }
        Fd tdir;
        try {
            tdir = parent(parts, parts.size() - 1, false);
        } catch (const Error& e) {
            throw Error("hard link target " + joined(parts, parts.size()) + ": " + e.what());
        }
        struct stat st {};
        if (::fstatat(tdir.get(), parts.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            throw_errno("hard link target " + joined(parts, parts.size()));
        }
        if (S_ISDIR(st.st_mode)) {
            throw Error("hard link to directory " + joined(parts, parts.size()));
        }
        remove_tree(dir, name);
        // linkat without AT_SYMLINK_FOLLOW links the entry itself, even a
        // symlink, so a link can never reach outside the tree.
        if (::linkat(tdir.get(), parts.back().c_str(), dir, name.c_str(), 0) != 0) {
            throw_errno("cannot create hard link to " + joined(parts, parts.size()));
        }
    }

    /// `.wh..wh..opq` in `dir_path`: remove every entry below it that this
    /// layer did not create, keeping this layer's own.
    void opaque(int dir, const std::string& dir_path) {
        int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            throw_errno("cannot open directory " + dir_path);
        }
        DIR* d = ::fdopendir(fd);
        if (d == nullptr) {
            ::close(fd);
            throw_errno("cannot read directory " + dir_path);
        }
        std::vector<std::pair<std::string, bool>> children;
        while (struct dirent* e = ::readdir(d)) {
            std::string_view n = e->d_name;
            if (n != "." && n != "..") {
                children.emplace_back(std::string(n), e->d_type == DT_DIR);
            }
        }
        for (const auto& [child, is_dir] : children) {
            const std::string full = dir_path.empty() ? child : dir_path + "/" + child;
            if (created_.count(full) == 0) {
                remove_tree(::dirfd(d), child);
            } else if (is_dir) {
                int sub = ::openat(::dirfd(d), child.c_str(),
                                   O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub >= 0) {
                    Fd s(sub);
                    opaque(s.get(), full);
                }
            }
        }
        ::closedir(d);
    }

    int root_;
    std::string name_;
    UnpackLimits limits_;
    UnpackReport report_;
    std::unordered_set<std::string> created_; ///< paths this layer wrote
};

} // namespace

UnpackReport apply_layer(int root_fd, int archive_fd, const std::string& name,
                         const UnpackLimits& limits) {
    return LayerWriter(root_fd, name, limits).run(archive_fd);
}

} // namespace husk::image
