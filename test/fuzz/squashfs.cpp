// Fuzz harness: a SquashFS image read as husk's FUSE server reads it:
// image::Squashfs's checks on opening, then a walk of the whole tree
// through the same calls the server's operations make (list for readdir,
// lookup, inode and stat for getattr, readlink, read in the kernel's
// 128 KiB pieces through the shared block cache), and the image's OCI
// config. Any outcome but an error code or husk::Error is a finding.
#include "fuzz_support.hpp"

#include "image/image.hpp"
#include "image/squashfs.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

#include <set>
#include <string>
#include <sys/stat.h>
#include <utility>
#include <vector>

namespace {

using husk::image::Squashfs;

constexpr size_t kMaxInodes = 2000;       // per input: a loop or a huge tree ends here
constexpr size_t kMaxFileBytes = 1 << 20; // read of one file
constexpr size_t kPiece = 128 << 10;      // what the kernel asks of a FUSE read

void walk(Squashfs& fs) {
    std::set<Squashfs::InodeId> seen;
    std::vector<std::pair<Squashfs::InodeId, int>> todo{{fs.root(), 0}};
    std::vector<char> buf(kPiece);
    while (!todo.empty() && seen.size() < kMaxInodes) {
        auto [id, depth] = todo.back();
        todo.pop_back();
        if (!seen.insert(id).second || depth > 64) {
            continue;
        }
        Squashfs::Inode ino{};
        if (fs.inode(id, ino) != 0) {
            continue;
        }
        struct stat st {};
        if (fs.stat(ino, st) != 0) {
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            std::string target;
            fs.readlink(ino, target);
        } else if (S_ISREG(st.st_mode)) {
            for (uint64_t off = 0; off < kMaxFileBytes; off += kPiece) {
                size_t got = 0;
                if (fs.read(ino, off, kPiece, buf.data(), got) != 0 || got == 0) {
                    break;
                }
            }
        } else if (S_ISDIR(st.st_mode)) {
            std::vector<std::string> names;
            fs.list(ino, 0, [&](const Squashfs::Entry& e) {
                names.push_back(e.name);
                return names.size() < kMaxInodes;
            });
            for (const auto& n : names) {
                Squashfs::InodeId child = 0;
                if (fs.lookup(ino, n.c_str(), child) == 0) {
                    todo.emplace_back(child, depth + 1);
                }
            }
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    husk::Fd fd(husk::fuzz::memfd_of(data, size));
    try {
        husk::image::BlockCache cache(8 << 20);
        Squashfs fs(fd.get(), "image.sqfs", &cache);
        walk(fs);
        try {
            fs.read_file("/" + std::string(husk::image::kConfigPath), husk::image::kMaxJsonBytes);
        } catch (const husk::Error&) {
        }
    } catch (const husk::Error&) {
        // not SquashFS, truncated, an unsupported compression: one line
    }
    return 0;
}
