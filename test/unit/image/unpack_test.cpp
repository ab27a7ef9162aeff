#include "image/unpack.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

#include "../support/temp_tree.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

// The archives below are written as aggregates whose trailing members keep
// their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace husk::image {
namespace {

namespace fs = std::filesystem;
using husk::test::TempTree;

/// One entry of a hand-made (hostile) test archive.
struct E {
    std::string path;
    mode_t type = AE_IFREG;
    mode_t perm = 0644;
    std::string data;
    std::string link; ///< symlink target, or hard link target with hard = true
    bool hard = false;
};

/// Writes `entries` as a (gzip-compressed when `gz`) pax tar with libarchive.
void write_tar(const fs::path& file, const std::vector<E>& entries, bool gz = false) {
    struct archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gz) {
        archive_write_add_filter_gzip(a);
    }
    ASSERT_EQ(archive_write_open_filename(a, file.c_str()), ARCHIVE_OK);
    for (const auto& x : entries) {
        struct archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, x.path.c_str());
        archive_entry_set_filetype(e, x.type);
        archive_entry_set_perm(e, x.perm);
        if (x.hard) {
            archive_entry_set_hardlink(e, x.link.c_str());
        } else if (x.type == AE_IFLNK) {
            archive_entry_set_symlink(e, x.link.c_str());
        }
        if (x.type == AE_IFREG && !x.hard) {
            archive_entry_set_size(e, static_cast<la_int64_t>(x.data.size()));
        }
        if (x.type == AE_IFCHR) {
            archive_entry_set_rdevmajor(e, 1);
            archive_entry_set_rdevminor(e, 3);
        }
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK) << x.path;
        if (!x.data.empty()) {
            archive_write_data(a, x.data.data(), x.data.size());
        }
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

class UnpackTest : public ::testing::Test {
  protected:
    void SetUp() override {
        t.mkdir("root");
        t.mkdir("canary");
        t.write("canary/keep", "untouched");
        root = Fd(::open((t / "root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        ASSERT_TRUE(root);
    }
    void TearDown() override {
        // Whatever the archive tried, the canary next to the root is as it was.
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(t / "canary")) {
            names.push_back(e.path().filename());
        }
        EXPECT_EQ(names, std::vector<std::string>{"keep"});
        std::ifstream f(t / "canary/keep");
        std::stringstream ss;
        ss << f.rdbuf();
        EXPECT_EQ(ss.str(), "untouched");
    }

    UnpackReport apply(const std::vector<E>& entries, UnpackLimits limits = {}, bool gz = false) {
        const auto file = t / ("layer" + std::to_string(++layers) + ".tar");
        write_tar(file, entries, gz);
        Fd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
        return apply_layer(root.get(), in.get(), file.filename(), limits);
    }
    std::string error_of(const std::vector<E>& entries, UnpackLimits limits = {}) {
        try {
            apply(entries, limits);
        } catch (const Error& e) {
            return e.what();
        }
        return "no error";
    }
    fs::path in_root(const std::string& p) const { return t / "root" / p; }
    std::string content(const std::string& p) const {
        std::ifstream f(in_root(p));
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }

    TempTree t;
    Fd root;
    int layers = 0;
};

TEST_F(UnpackTest, FilesDirectoriesLinksAndModes) {
    auto r = apply({{"./etc/", AE_IFDIR, 0755},
                    {"./etc/passwd", AE_IFREG, 0644, "root:x:0:0\n"},
                    {"./usr/bin/su", AE_IFREG, 04755, "#!/bin/sh\n"},
                    {"./locked", AE_IFDIR, 0000},
                    {"./bin", AE_IFLNK, 0777, "", "usr/bin"},
                    {"./etc/passwd.hard", AE_IFREG, 0644, "", "etc/passwd", true}},
                   {}, /*gz=*/true);
    EXPECT_EQ(r.entries, 6u);
    EXPECT_EQ(content("etc/passwd"), "root:x:0:0\n");
    EXPECT_EQ(fs::read_symlink(in_root("bin")), "usr/bin");
    struct stat a {
    }, b{};
    ASSERT_EQ(::stat(in_root("etc/passwd").c_str(), &a), 0);
    ASSERT_EQ(::stat(in_root("etc/passwd.hard").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
    ASSERT_EQ(::stat(in_root("usr/bin/su").c_str(), &a), 0);
    EXPECT_EQ(a.st_mode & 07777, 0755u); // setuid dropped
    ASSERT_EQ(::stat(in_root("locked").c_str(), &a), 0);
    EXPECT_EQ(a.st_mode & 0700, 0700u); // the user can always clean up
}

TEST_F(UnpackTest, AFileOfModeZeroStaysReadableAndWritableByTheUser) {
    apply({{"secret", AE_IFREG, 0000, "x"}, {"tool", AE_IFREG, 0111, "#!/bin/sh\n"}});
    struct stat st {};
    ASSERT_EQ(::stat(in_root("secret").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ASSERT_EQ(::stat(in_root("tool").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0711u);
    EXPECT_EQ(content("secret"), "x");
}

TEST_F(UnpackTest, AnEntryThatWouldReplaceTheRootIsRefused) {
    // CVE-2021-29136's shape: a symlink named "." (or "./") to the host.
    for (const char* name : {".", "./", "/"}) {
        auto msg = error_of({{name, AE_IFLNK, 0777, "", (t / "canary").string()}});
        EXPECT_NE(msg.find(std::string("entry ") + name +
                           ": a symlink that would replace the image's root; refused"),
                  std::string::npos)
            << msg;
    }
    auto file = error_of({{".", AE_IFREG, 0644, "x"}});
    EXPECT_NE(file.find("a file that would replace the image's root"), std::string::npos) << file;
    // a directory entry for the root itself is ordinary
    EXPECT_EQ(error_of({{"./", AE_IFDIR, 0755}, {"./a", AE_IFREG, 0644, "x"}}), "no error");
}

TEST_F(UnpackTest, DotDotIsRefused) {
    auto msg = error_of({{"a/../../canary/evil", AE_IFREG, 0644, "x"}});
    EXPECT_NE(msg.find("entry a/../../canary/evil: '..' in the path"), std::string::npos) << msg;
}

TEST_F(UnpackTest, AbsolutePathsLandInsideTheRoot) {
    const std::string abs = (t / "canary/evil").string();
    apply({{abs, AE_IFREG, 0644, "x"}});
    EXPECT_EQ(content(abs.substr(1)), "x");
}

TEST_F(UnpackTest, NothingIsWrittenThroughASymlinkOfThisLayer) {
    auto msg = error_of({{"link", AE_IFLNK, 0777, "", (t / "canary").string()},
                         {"link/evil", AE_IFREG, 0644, "x"}});
    EXPECT_NE(msg.find("link is a symlink"), std::string::npos) << msg;
    auto rel = error_of({{"up", AE_IFLNK, 0777, "", "../../canary"}, {"up/evil", AE_IFREG}});
    EXPECT_NE(rel.find("symlink"), std::string::npos) << rel;
}

TEST_F(UnpackTest, NothingIsWrittenThroughASymlinkOfAnEarlierLayer) {
    apply({{"link", AE_IFLNK, 0777, "", (t / "canary").string()}});
    auto msg = error_of({{"link/evil", AE_IFREG, 0644, "x"}});
    EXPECT_NE(msg.find("symlink"), std::string::npos) << msg;
    // ... nor through a symlinked directory entry
    msg = error_of({{"link/sub/", AE_IFDIR, 0755}});
    EXPECT_NE(msg.find("symlink"), std::string::npos) << msg;
}

TEST_F(UnpackTest, HardLinksCannotReachOutside) {
    auto msg = error_of({{"h", AE_IFREG, 0644, "", "../canary/keep", true}});
    EXPECT_NE(msg.find("'..'"), std::string::npos) << msg;
    // an absolute target is inside the root, where it does not exist
    msg = error_of({{"h", AE_IFREG, 0644, "", (t / "canary/keep").string(), true}});
    EXPECT_NE(msg.find("hard link target"), std::string::npos) << msg;
    // nor through a symlink to a directory outside
    apply({{"out", AE_IFLNK, 0777, "", (t / "canary").string()}});
    msg = error_of({{"h2", AE_IFREG, 0644, "", "out/keep", true}});
    EXPECT_NE(msg.find("symlink"), std::string::npos) << msg;
    // a link to a symlink links the symlink itself, never its target
    apply({{"h3", AE_IFREG, 0644, "", "out", true}});
    EXPECT_TRUE(fs::is_symlink(in_root("h3")));
}

TEST_F(UnpackTest, WhiteoutsRemoveLowerEntries) {
    apply({{"a/f1", AE_IFREG, 0644, "1"},
           {"a/f2", AE_IFREG, 0644, "2"},
           {"b/deep/x", AE_IFREG, 0644, "x"}});
    auto r = apply({{"a/.wh.f1", AE_IFREG}, {".wh.b", AE_IFREG}, {"a/.wh.none", AE_IFREG}});
    EXPECT_EQ(r.whiteouts, 3u);
    EXPECT_FALSE(fs::exists(in_root("a/f1")));
    EXPECT_TRUE(fs::exists(in_root("a/f2")));
    EXPECT_FALSE(fs::exists(in_root("b")));
    EXPECT_FALSE(fs::exists(in_root("a/.wh.f1")));
}

TEST_F(UnpackTest, OpaqueWhiteoutHidesLowerEntriesOnly) {
    apply({{"d/old", AE_IFREG, 0644, "old"}, {"d/sub/old", AE_IFREG, 0644, "old"}});
    apply({{"d/", AE_IFDIR, 0755},
           {"d/new-before", AE_IFREG, 0644, "n"},
           {"d/sub/", AE_IFDIR, 0755},
           {"d/.wh..wh..opq", AE_IFREG},
           {"d/new-after", AE_IFREG, 0644, "n"}});
    EXPECT_FALSE(fs::exists(in_root("d/old")));
    EXPECT_FALSE(fs::exists(in_root("d/sub/old")));
    EXPECT_TRUE(fs::exists(in_root("d/new-before")));
    EXPECT_TRUE(fs::exists(in_root("d/new-after")));
    EXPECT_TRUE(fs::is_directory(in_root("d/sub")));
}

TEST_F(UnpackTest, MalformedWhiteoutsAreErrors) {
    EXPECT_NE(error_of({{"a/.wh.", AE_IFREG}}).find("malformed whiteout"), std::string::npos);
    EXPECT_NE(error_of({{".wh...", AE_IFREG}}).find("malformed whiteout"), std::string::npos);
}

TEST_F(UnpackTest, TypesReplaceEachOther) {
    apply({{"x/inner", AE_IFREG, 0644, "i"},
           {"y", AE_IFREG, 0644, "y"},
           {"z", AE_IFLNK, 0777, "", "/"}});
    apply({{"x", AE_IFREG, 0644, "now a file"}, {"y/", AE_IFDIR, 0755}, {"z/", AE_IFDIR, 0755}});
    EXPECT_EQ(content("x"), "now a file");
    EXPECT_TRUE(fs::is_directory(in_root("y")));
    EXPECT_TRUE(fs::is_directory(in_root("z")));
    EXPECT_FALSE(fs::is_symlink(in_root("z")));
}

TEST_F(UnpackTest, DeviceNodesAndFifosAreSkipped) {
    auto r = apply({{"dev/null", AE_IFCHR, 0666}, {"fifo", AE_IFIFO, 0644}, {"ok", AE_IFREG}});
    EXPECT_EQ(r.skipped, 2u);
    EXPECT_FALSE(fs::exists(in_root("dev/null")));
    EXPECT_TRUE(fs::exists(in_root("ok")));
}

TEST_F(UnpackTest, LimitsStopABomb) {
    UnpackLimits small;
    small.max_bytes = 1 << 20;
    auto msg = error_of({{"bomb", AE_IFREG, 0644, std::string(4 << 20, '\0')}}, small);
    EXPECT_NE(msg.find("HUSK_MAX_UNPACK_BYTES"), std::string::npos) << msg;
    UnpackLimits few;
    few.max_entries = 2;
    msg = error_of({{"a"}, {"b"}, {"c"}}, few);
    EXPECT_NE(msg.find("HUSK_MAX_UNPACK_ENTRIES"), std::string::npos) << msg;
}

TEST_F(UnpackTest, TruncatedAndCorruptStreamsAreErrors) {
    const auto good = t / "good.tar.gz";
    write_tar(good, {{"big", AE_IFREG, 0644, std::string(300000, 'q')}}, true);
    const auto size = fs::file_size(good);
    fs::copy_file(good, t / "short.tar.gz");
    fs::resize_file(t / "short.tar.gz", size / 2);
    Fd in(::open((t / "short.tar.gz").c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_THROW(apply_layer(root.get(), in.get(), "short.tar.gz", {}), Error);
    t.write("junk.tar", std::string(2000, 'j'));
    Fd junk(::open((t / "junk.tar").c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_THROW(apply_layer(root.get(), junk.get(), "junk.tar", {}), Error);
}

/// The error apply_layer() gives for `file`, or "no error".
std::string layer_error(int root, const fs::path& file) {
    Fd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    try {
        apply_layer(root, in.get(), file.filename(), {});
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

/// A copy of `from` at `to` with the byte at `offset` from its end flipped.
void flip_from_end(const fs::path& from, const fs::path& to, size_t offset) {
    std::string bytes;
    {
        std::ifstream f(from, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        bytes = ss.str();
    }
    bytes[bytes.size() - offset] ^= 0x5a;
    std::ofstream(to, std::ios::binary) << bytes;
}

TEST_F(UnpackTest, AGzipStreamIsReadToItsEndAndItsTrailerChecked) {
    // gzip -t and GNU tar reject these; libarchive alone unpacks them.
    const auto good = t / "good.tar.gz";
    write_tar(good, {{"a", AE_IFREG, 0644, std::string(100000, 'q')}}, true);
    EXPECT_EQ(layer_error(root.get(), good), "no error");
    flip_from_end(good, t / "crc.tar.gz", 8); // the CRC-32 of the trailer
    const std::string crc = layer_error(root.get(), t / "crc.tar.gz");
    EXPECT_EQ(crc.rfind("crc.tar.gz: ", 0), 0u) << crc;
    EXPECT_NE(crc.find("corrupt gzip data (incorrect data check)"), std::string::npos) << crc;
    flip_from_end(good, t / "len.tar.gz", 2); // its length
    const std::string len = layer_error(root.get(), t / "len.tar.gz");
    EXPECT_EQ(len.rfind("len.tar.gz: ", 0), 0u) << len;
    EXPECT_NE(len.find("corrupt gzip data (incorrect length check)"), std::string::npos) << len;
    // several members are one stream; zeros after the last are padding
    std::string bytes;
    {
        std::ifstream f(good, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        bytes = ss.str();
    }
    std::ofstream(t / "padded.tar.gz", std::ios::binary) << bytes << std::string(512, '\0');
    EXPECT_EQ(layer_error(root.get(), t / "padded.tar.gz"), "no error");
    std::ofstream(t / "garbage.tar.gz", std::ios::binary) << bytes << "garbage";
    EXPECT_NE(layer_error(root.get(), t / "garbage.tar.gz").find("garbage.tar.gz: "),
              std::string::npos);
}

TEST_F(UnpackTest, AnXzStreamIsReadToItsEnd) {
    const auto good = t / "good.tar.xz";
    {
        struct archive* a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        archive_write_add_filter_xz(a);
        ASSERT_EQ(archive_write_open_filename(a, good.c_str()), ARCHIVE_OK);
        struct archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, "a");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 1000);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        archive_write_data(a, std::string(1000, 'x').data(), 1000);
        archive_entry_free(e);
        archive_write_close(a);
        archive_write_free(a);
    }
    EXPECT_EQ(layer_error(root.get(), good), "no error");
    // the stream footer's CRC-32, after the tar's end
    flip_from_end(good, t / "footer.tar.xz", 10);
    EXPECT_NE(layer_error(root.get(), t / "footer.tar.xz"), "no error");
}

} // namespace
} // namespace husk::image
