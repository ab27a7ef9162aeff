#include "host/edits.hpp"
#include "host/elf.hpp"
#include "host/ldcache.hpp"
#include "host/mpi.hpp"
#include "image/files.hpp"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/path.hpp"

#include "../support/ld_cache.hpp"
#include "../support/temp_tree.hpp"

#include <cstdio>
#include <cstring>
#include <gtest/gtest.h>

namespace husk::host {
namespace {

std::string make_cache(const std::vector<std::tuple<std::string, std::string, int>>& entries) {
    return test::make_ld_cache(entries);
}

TEST(LdCache, ParsesThisMachinesEntriesInOrder) {
    const auto cache = parse_ld_cache(make_cache({{"libmpich.so.12", "/lib/libmpich.so.12", 0x303},
                                                  {"libold.so.1", "/lib32/libold.so.1", 0x003},
                                                  {"libz.so.1", "/lib/libz.so.1", 0x303}}),
                                      "test");
    ASSERT_EQ(cache.size(), 2u); // the 32-bit entry is not for this machine
    EXPECT_EQ(cache[0].soname, "libmpich.so.12");
    EXPECT_EQ(cache[0].path, "/lib/libmpich.so.12");
    EXPECT_EQ(find_library(cache, "libz.so.1")->path, "/lib/libz.so.1");
    EXPECT_EQ(find_library(cache, "libnone.so.1"), nullptr);
}

TEST(LdCache, EntriesStayValidWhenTheCacheMoves) {
    LinkerCache cache = parse_ld_cache(make_cache({{"liba.so.1", "/lib/liba.so.1", 0x303},
                                                   {"libb.so.2", "/lib/libb.so.2", 0x303}}),
                                       "test");
    const CachedLibrary* b = find_library(cache, "libb.so.2");
    ASSERT_NE(b, nullptr);
    std::vector<LinkerCache> kept;
    kept.push_back(std::move(cache)); // the views point into bytes that did not move
    kept.emplace_back();
    EXPECT_TRUE(kept.back().empty());
    EXPECT_EQ(find_library(kept.front(), "libb.so.2"), b);
    EXPECT_EQ(b->path, "/lib/libb.so.2");
    EXPECT_EQ(kept.front()[0].soname, "liba.so.1");
}

/// This host's /etc/ld.so.cache, or "" where it has none.
std::string host_ld_cache() {
    try {
        return file::read("/etc/ld.so.cache", kMaxLdCache);
    } catch (const Error&) {
        return "";
    }
}

TEST(LdCache, ThisHostsOwnParses) {
    const std::string bytes = host_ld_cache();
    if (bytes.empty()) {
        GTEST_SKIP() << "no /etc/ld.so.cache here";
    }
    const auto cache = parse_ld_cache(bytes, "/etc/ld.so.cache");
    ASSERT_NE(find_library(cache, "libc.so.6"), nullptr);
    EXPECT_EQ(find_library(cache, "libc.so.6")->path.rfind('/', 0), 0u);
}

TEST(LdCache, HostileCachesAreOneLineErrors) {
    std::string good = make_cache({{"liba.so.1", "/lib/liba.so.1", 0x303}});
    EXPECT_THROW(parse_ld_cache("not a cache at all, no no no no no no no no no no", "c"), Error);
    EXPECT_THROW(parse_ld_cache(good.substr(0, 30), "c"), Error);
    std::string many = good;
    const uint32_t n = 1000000;
    std::memcpy(many.data() + 20, &n, 4);
    EXPECT_THROW(parse_ld_cache(many, "c"), Error);
    std::string far = good;
    const uint32_t off = 1u << 30;
    std::memcpy(far.data() + 48 + 4, &off, 4);
    EXPECT_THROW(parse_ld_cache(far, "c"), Error);
    std::string open_ended = good.substr(0, good.size() - 1); // last string unterminated
    EXPECT_THROW(parse_ld_cache(open_ended, "c"), Error);
}

TEST(ElfHeader, ASharedObjectOfThisMachineAndNothingElse) {
    const std::string so = path::canonical("/lib/x86_64-linux-gnu/libc.so.6");
    if (so.empty()) {
        GTEST_SKIP() << "no x86-64 libc here";
    }
    EXPECT_EQ(elf_header_problem(so), "");
    test::TempTree t;
    std::string bytes = file::read(so, 64 << 20);
    t.write("text", "not ELF\n");
    EXPECT_EQ(elf_header_problem((t / "text").string()), "not an ELF file");
    EXPECT_EQ(elf_header_problem((t / "none").string()), "cannot open it");
    std::string arm = bytes;
    arm[18] = static_cast<char>(183); // e_machine: EM_AARCH64
    arm[19] = 0;
    t.write("arm.so", arm);
    EXPECT_EQ(elf_header_problem((t / "arm.so").string()),
              "an ELF file of another machine or class");
    std::string exec = bytes;
    exec[16] = 2; // e_type: ET_EXEC
    exec[17] = 0;
    t.write("exec", exec);
    EXPECT_EQ(elf_header_problem((t / "exec").string()), "not a shared object");
}

TEST(MpiVersions, FromNamesAndCompared) {
    EXPECT_EQ(version_from_name("/usr/lib/libmpich.so.12.2.2", "libmpich.so.12"), "12.2.2");
    EXPECT_EQ(version_from_name("/usr/lib/libmpi.so.40.30.4", "libmpi.so.40"), "40.30.4");
    EXPECT_EQ(version_from_name("/usr/lib/libmpich.so.12", "libmpich.so.12"), "12");
    EXPECT_EQ(version_from_name("/opt/x/libmpi_cray.so", "libmpi.so.12"), "");
    EXPECT_LT(compare_versions("12.2.2", "12.10.0"), 0);
    EXPECT_EQ(compare_versions("12.2", "12.2.0"), 0);
    EXPECT_GT(compare_versions("40.30.4", "40.20.9"), 0);
}

MpiLibrary lib(MpiFamily f, std::string soname, std::string version) {
    return {f, soname, "/x/" + soname, version};
}

TEST(MpiAbi, PoliciesAsSarusHasThem) {
    const auto image = lib(MpiFamily::Mpich, "libmpi.so.12", "12.1.0");
    EXPECT_NO_THROW(
        check_mpi_abi(lib(MpiFamily::Mpich, "libmpich.so.12", "12.3.0"), image, AbiPolicy::Full));
    EXPECT_THROW(
        check_mpi_abi(lib(MpiFamily::Mpich, "libmpi.so.12", "12.0.9"), image, AbiPolicy::Full),
        Error);
    EXPECT_NO_THROW(
        check_mpi_abi(lib(MpiFamily::Mpich, "libmpi.so.12", "12.0.9"), image, AbiPolicy::Major));
    EXPECT_THROW(
        check_mpi_abi(lib(MpiFamily::Mpich, "libmpi.so.12", "12.3.0"), image, AbiPolicy::Strict),
        Error);
    EXPECT_NO_THROW(
        check_mpi_abi(lib(MpiFamily::Mpich, "libmpi.so.12", "12.1.0"), image, AbiPolicy::Strict));
    EXPECT_THROW(
        check_mpi_abi(lib(MpiFamily::OpenMpi, "libmpi.so.40", "40.30.4"), image, AbiPolicy::Major),
        Error); // another family
    // Open MPI: the host at least as new, whatever the policy
    EXPECT_THROW(check_mpi_abi(lib(MpiFamily::OpenMpi, "libmpi.so.40", "40.20.0"),
                               lib(MpiFamily::OpenMpi, "libmpi.so.40", "40.30.4"),
                               AbiPolicy::Major),
                 Error);
    EXPECT_EQ(parse_abi_policy("strict", "x"), AbiPolicy::Strict);
    EXPECT_THROW(parse_abi_policy("loose", "x"), Error);
}

TEST(LdCache, SonamesSortAsGlibcSortsThem) {
    EXPECT_EQ(ld_cache_compare("libc.so.6", "libc.so.6"), 0);
    EXPECT_LT(ld_cache_compare("libc.so.6", "libc.so.10"), 0); // numbers, not characters
    EXPECT_GT(ld_cache_compare("libfoo.so.1", "libfoo.so"), 0);
    EXPECT_LT(ld_cache_compare("libfoo.so", "libfoo.so.1"), 0);
    EXPECT_GT(ld_cache_compare("lib1", "libz"), 0); // a digit after any other character
    EXPECT_LT(ld_cache_compare("liba.so.1", "libb.so.1"), 0);
    EXPECT_EQ(ld_cache_compare("libx.so.007", "libx.so.7"), 0);
}

TEST(LdCache, WrittenReadsBackTheSame) {
    LdCache c;
    c.entries = {
        {0x303, "libz.so.1", "/lib/libz.so.1", 0, 0},
        {0x303, "libm.so.6", "/lib/glibc-hwcaps/x86-64-v3/libm.so.6", 0, (uint64_t{1} << 62) | 1},
        {0x303, "libm.so.6", "/lib/libm.so.6", 0, 0},
        {0x003, "libm.so.6", "/lib32/libm.so.6", 7, 0}};
    c.hwcaps = {"x86-64-v2", "x86-64-v3"};
    const std::string bytes = write_ld_cache(c);
    EXPECT_EQ(read_ld_cache(bytes, "w"), c);
    // what --mpi=host and --gpu look up: this machine's, no glibc-hwcaps variant
    const auto libs = parse_ld_cache(bytes, "w");
    ASSERT_EQ(libs.size(), 2u);
    EXPECT_EQ(find_library(libs, "libm.so.6")->path, "/lib/libm.so.6");
    EXPECT_EQ(read_ld_cache(write_ld_cache({}), "empty"), LdCache{});
}

TEST(LdCache, AddedLibrariesReplaceThisMachinesAndKeepTheOrder) {
    LdCache c;
    c.entries = {{0x303, "libz.so.1", "/lib/libz.so.1", 0, 0},
                 {0x303, "libcuda.so.1", "/usr/local/cuda/compat/libcuda.so.1", 0, 0},
                 {0x003, "libcuda.so.1", "/lib32/libcuda.so.1", 0, 0},
                 {0x303, "libc.so.6", "/lib/libc.so.6", 0, 0}};
    add_to_ld_cache(c, {{"libcuda.so.1", "/usr/lib/husk-gpu/libcuda.so.1"},
                        {"libnvidia-ml.so.1", "/usr/lib/husk-gpu/libnvidia-ml.so.1"},
                        {"libcuda.so.1", "/elsewhere/libcuda.so.1"}}); // the first wins
    const int native = native_ld_cache_flags();
    std::vector<std::pair<std::string, std::string>> got;
    for (const auto& e : c.entries) {
        got.emplace_back(e.key, e.value);
    }
    const std::vector<std::pair<std::string, std::string>> want = {
        {"libz.so.1", "/lib/libz.so.1"},
        {"libnvidia-ml.so.1", "/usr/lib/husk-gpu/libnvidia-ml.so.1"},
        {"libcuda.so.1", "/usr/lib/husk-gpu/libcuda.so.1"},
        {"libcuda.so.1", "/lib32/libcuda.so.1"}, // another machine's: kept
        {"libc.so.6", "/lib/libc.so.6"}};
    EXPECT_EQ(got, want);
    EXPECT_EQ(c.entries[2].flags, native);
}

/// `ldconfig -p -C CACHE`: what glibc's own reader makes of `cache`, and
/// its exit status.
std::pair<int, std::string> ldconfig_print(const std::string& cache) {
    FILE* p = ::popen(("/sbin/ldconfig -p -C " + cache + " 2>&1").c_str(), "r");
    if (p == nullptr) {
        return {-1, "cannot run /sbin/ldconfig"};
    }
    std::string out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) {
        out.append(buf, n);
    }
    return {::pclose(p), out};
}

// The real test of the format: glibc's own ldconfig reads what husk wrote,
// from this host's cache with two libraries added, in the order it needs.
TEST(LdCache, LdconfigReadsTheRewrittenCacheOfThisHost) {
    const std::string bytes = host_ld_cache();
    if (bytes.empty()) {
        GTEST_SKIP() << "no /etc/ld.so.cache here";
    }
    if (::access("/sbin/ldconfig", X_OK) != 0) {
        GTEST_SKIP() << "no /sbin/ldconfig here";
    }
    LdCache c = read_ld_cache(bytes, "/etc/ld.so.cache");
    const size_t before = c.entries.size();
    add_to_ld_cache(c, {{"libhusk-unit.so.1", "/opt/husk-unit/libhusk-unit.so.1"},
                        {"libc.so.6", "/opt/husk-unit/libc.so.6"}});
    for (size_t i = 0; i + 1 < c.entries.size(); ++i) {
        EXPECT_GE(ld_cache_compare(c.entries[i].key, c.entries[i + 1].key), 0) << i;
    }
    test::TempTree t;
    const std::string path = (t / "ld.so.cache").string();
    file::write(path, write_ld_cache(c));
    EXPECT_EQ(read_ld_cache(file::read(path, kMaxLdCache), path), c);
    const auto [status, out] = ldconfig_print(path);
    ASSERT_EQ(status, 0) << out;
    EXPECT_NE(out.find(std::to_string(c.entries.size()) + " libs found"), std::string::npos) << out;
    EXPECT_LE(c.entries.size(), before + 1); // libc.so.6 replaced, one library added
    EXPECT_NE(out.find("libhusk-unit.so.1 ("), std::string::npos) << out;
    EXPECT_NE(out.find("=> /opt/husk-unit/libhusk-unit.so.1"), std::string::npos) << out;
    EXPECT_NE(out.find("=> /opt/husk-unit/libc.so.6"), std::string::npos) << out;
    EXPECT_NE(out.find("Cache generated by: husk"), std::string::npos) << out;
}

// add_to_ld_cache_file() splices the bytes; the model (read, add, write)
// must agree with it, and ldconfig must read it.
LdCache added_model(std::string_view bytes,
                    const std::vector<std::pair<std::string, std::string>>& libs) {
    LdCache c = read_ld_cache(bytes, "model");
    add_to_ld_cache(c, libs);
    return c;
}

TEST(LdCache, TheSplicedFileIsTheModelsCache) {
    const std::vector<std::pair<std::string, std::string>> libs = {
        {"libm.so.6", "/usr/lib/husk-gpu/libm.so.6"},
        {"libcuda.so.1", "/usr/lib/husk-gpu/libcuda.so.1"},
        {"libzz.so.1", "/usr/lib/husk-gpu/libzz.so.1"},
        {"liba.so.1", "/usr/lib/husk-gpu/liba.so.1"}};
    LdCache c;
    c.entries = {
        {0x303, "libz.so.1", "/lib/glibc-hwcaps/x86-64-v3/libz.so.1", 0, (uint64_t{1} << 62) | 0},
        {0x303, "libz.so.1", "/lib/libz.so.1", 0, 0},
        {0x303, "libm.so.6", "/lib/libm.so.6", 0, 0},
        {0x003, "libm.so.6", "/lib32/libm.so.6", 0, 0},
        {0x303, "libc.so.6", "/lib/libc.so.6", 0, 0}};
    c.hwcaps = {"x86-64-v3"};
    for (const LdCache& in : {c, LdCache{c.entries, {}}, LdCache{}}) {
        const std::string bytes = write_ld_cache(in);
        EXPECT_EQ(read_ld_cache(add_to_ld_cache_file(bytes, libs, "c"), "spliced"),
                  added_model(bytes, libs));
        EXPECT_EQ(read_ld_cache(add_to_ld_cache_file(bytes, {}, "c"), "spliced"), in);
    }
    // after an old table (glibc before 2.32)
    const std::string compat =
        std::string("ld.so-1.7.0\0", 12) + std::string(4, '\0') + write_ld_cache(c);
    EXPECT_EQ(read_ld_cache(add_to_ld_cache_file(compat, libs, "c"), "spliced"),
              added_model(compat, libs));
    // a string inside the table, which grows: refused
    std::string inside = test::make_ld_cache({{"liba.so.1", "/lib/liba.so.1", 0x303}});
    const uint32_t at = 36; // the header's unused words: an empty string
    std::memcpy(inside.data() + 48 + 4, &at, 4);
    try {
        add_to_ld_cache_file(inside, libs, "image x: /etc/ld.so.cache");
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "image x: /etc/ld.so.cache: a string of its ld.so.cache lies inside its table");
    }
}

TEST(LdCache, TheSplicedFileOfThisHostsCacheIsTheModelsAndLdconfigReadsIt) {
    const std::string bytes = host_ld_cache();
    if (bytes.empty()) {
        GTEST_SKIP() << "no /etc/ld.so.cache here";
    }
    const std::vector<std::pair<std::string, std::string>> libs = {
        {"libhusk-unit.so.1", "/opt/husk-unit/libhusk-unit.so.1"},
        {"libc.so.6", "/opt/husk-unit/libc.so.6"}};
    const std::string spliced = add_to_ld_cache_file(bytes, libs, "/etc/ld.so.cache");
    EXPECT_EQ(read_ld_cache(spliced, "spliced"), added_model(bytes, libs));
    if (::access("/sbin/ldconfig", X_OK) != 0) {
        GTEST_SKIP() << "no /sbin/ldconfig here";
    }
    test::TempTree t;
    const std::string path = (t / "ld.so.cache").string();
    file::write(path, spliced);
    const auto [status, out] = ldconfig_print(path);
    ASSERT_EQ(status, 0) << out;
    EXPECT_NE(out.find("=> /opt/husk-unit/libhusk-unit.so.1"), std::string::npos) << out;
    EXPECT_NE(out.find("=> /opt/husk-unit/libc.so.6"), std::string::npos) << out;
}

TEST(LdCache, HostileExtensionsAreOneLineErrorsOrIgnored) {
    LdCache c;
    c.entries = {{0x303, "liba.so.1", "/lib/liba.so.1", 0, 0}};
    c.hwcaps = {"x86-64-v3"};
    const std::string good = write_ld_cache(c);
    uint32_t ext;
    std::memcpy(&ext, good.data() + 32, 4);
    std::string bad_magic = good;
    bad_magic[ext] ^= 1; // not glibc's extension: ignored, as ld.so ignores it
    EXPECT_TRUE(read_ld_cache(bad_magic, "c").hwcaps.empty());
    std::string many = good;
    const uint32_t n = 1u << 30;
    std::memcpy(many.data() + ext + 4, &n, 4);
    EXPECT_THROW(read_ld_cache(many, "c"), Error);
    std::string outside = good;
    const uint32_t far = 1u << 30;
    std::memcpy(outside.data() + ext + 8 + 16 + 8, &far, 4); // the hwcaps table's offset
    try {
        read_ld_cache(outside, "image x: /etc/ld.so.cache");
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "image x: /etc/ld.so.cache: a section of the extension of its ld.so.cache lies "
                  "outside it");
    }
    std::string other_order = good;
    other_order[28] = 3; // big-endian
    EXPECT_THROW(read_ld_cache(other_order, "c"), Error);
}

/// A directory image with `cache` as its /etc/ld.so.cache ("" for none).
struct CacheImage {
    explicit CacheImage(const std::string& cache) {
        t.mkdir("etc");
        if (!cache.empty()) {
            t.write("etc/ld.so.cache", cache);
        }
        img.kind = image::Kind::Directory;
        img.path = t.root().string();
    }
    test::TempTree t;
    image::Image img;
};

Mount lib_bind(const std::string& source, const std::string& target) {
    return {MountKind::Bind, source, target, true, OnMissing::Fail, "test"};
}

TEST(CacheLdFolders, TheFoldersLibrariesGoIntoACopyOfTheImagesCache) {
    CacheImage im(make_cache({{"libz.so.1", "/lib/libz.so.1", 0x303}}));
    image::ImageFiles files(im.img);
    ContainerEdits e;
    e.ld_library_path = {"/usr/lib/husk-gpu", "/opt/whole"};
    e.mounts = {lib_bind("/host/libcuda.so.550.54.15", "/usr/lib/husk-gpu/libcuda.so.1"),
                lib_bind("/host/lib", "/opt/whole"), // a folder bound whole: LD_LIBRARY_PATH
                lib_bind("/host/other.so.1", "/usr/lib/other/other.so.1")};
    cache_ld_folders(e, files, "img");
    EXPECT_EQ(e.ld_library_path, std::vector<std::string>{"/opt/whole"});
    ASSERT_EQ(e.mounts.size(), 4u);
    const Mount& m = e.mounts.back();
    EXPECT_EQ(m.kind, MountKind::File);
    EXPECT_EQ(m.target, "/etc/ld.so.cache");
    EXPECT_TRUE(m.read_only);
    const auto libs = parse_ld_cache(m.source, "generated");
    ASSERT_EQ(libs.size(), 2u);
    EXPECT_EQ(find_library(libs, "libcuda.so.1")->path, "/usr/lib/husk-gpu/libcuda.so.1");
    EXPECT_EQ(find_library(libs, "libz.so.1")->path, "/lib/libz.so.1");
    EXPECT_EQ(find_library(libs, "other.so.1"), nullptr);
    // the image's own file is as it was
    EXPECT_EQ(file::read((im.t / "etc/ld.so.cache").string(), kMaxLdCache),
              make_cache({{"libz.so.1", "/lib/libz.so.1", 0x303}}));
}

TEST(CacheLdFolders, ALibraryNamedOtherwiseIsEnteredByItsSoname) {
    // libc.so.6 mounted under another name, as nvidia-ctk mounts libcuda.so.550.54.15
    const std::string libc = "/lib/x86_64-linux-gnu/libc.so.6";
    if (::access(libc.c_str(), R_OK) != 0) {
        GTEST_SKIP() << "no " << libc;
    }
    CacheImage im(make_cache({}));
    image::ImageFiles files(im.img);
    ContainerEdits e;
    e.ld_library_path = {"/opt/lib"};
    e.mounts = {lib_bind(libc, "/opt/lib/libc-2.36.so")};
    cache_ld_folders(e, files, "img");
    ASSERT_EQ(e.mounts.back().kind, MountKind::File);
    const auto libs = parse_ld_cache(e.mounts.back().source, "generated");
    ASSERT_EQ(libs.size(), 1u);
    EXPECT_EQ(libs[0].soname, "libc.so.6");
    EXPECT_EQ(libs[0].path, "/opt/lib/libc-2.36.so");
}

TEST(CacheLdFolders, AWritableImageKeepsItsCacheAndGetsLdLibraryPath) {
    CacheImage im(make_cache({{"libz.so.1", "/lib/libz.so.1", 0x303}}));
    image::ImageFiles files(im.img);
    ContainerEdits e;
    e.ld_library_path = {"/usr/lib/husk-gpu"};
    e.mounts = {lib_bind("/host/libcuda.so.1", "/usr/lib/husk-gpu/libcuda.so.1")};
    cache_ld_folders(e, files, "img", /*writable=*/true);
    EXPECT_EQ(e.ld_library_path, std::vector<std::string>{"/usr/lib/husk-gpu"});
    EXPECT_EQ(e.mounts.size(), 1u);
    ASSERT_FALSE(e.notes.empty());
    EXPECT_NE(e.notes.back().find("writable (-w)"), std::string::npos) << e.notes.back();
}

TEST(CacheLdFolders, WithoutAUsableCacheLdLibraryPathStays) {
    for (const std::string& cache : {std::string(), std::string("not a cache, not at all, no")}) {
        CacheImage im(cache);
        image::ImageFiles files(im.img);
        ContainerEdits e;
        e.ld_library_path = {"/usr/lib/husk-gpu"};
        e.mounts = {lib_bind("/host/libcuda.so.1", "/usr/lib/husk-gpu/libcuda.so.1")};
        cache_ld_folders(e, files, "img");
        EXPECT_EQ(e.ld_library_path, std::vector<std::string>{"/usr/lib/husk-gpu"});
        EXPECT_EQ(e.mounts.size(), 1u);
        ASSERT_FALSE(e.notes.empty());
        EXPECT_NE(e.notes.back().find("LD_LIBRARY_PATH"), std::string::npos) << e.notes.back();
    }
}

TEST(ImageFiles, SymlinksResolveInsideTheImage) {
    test::TempTree t;
    t.mkdir("usr/lib");
    t.write("usr/lib/libx.so.1.2", "x");
    t.symlink("libx.so.1.2", "usr/lib/libx.so.1");
    t.symlink("usr/lib", "lib");                  // relative, at the top
    t.symlink("/usr/lib/libx.so.1", "abs");       // absolute: from the image's root
    t.symlink("../../../../etc/passwd", "climb"); // stops at the image's root
    t.symlink("loop", "loop");
    image::Image img;
    img.kind = image::Kind::Directory;
    img.path = t.root().string();
    image::ImageFiles files(img);
    EXPECT_EQ(files.resolve("/lib/libx.so.1"), "/usr/lib/libx.so.1.2");
    EXPECT_EQ(files.resolve("/abs"), "/usr/lib/libx.so.1.2");
    EXPECT_EQ(files.resolve("/climb"), std::nullopt); // /etc/passwd is not in the image
    EXPECT_EQ(files.resolve("/loop"), std::nullopt);
    EXPECT_EQ(files.read("/lib/libx.so.1", 10), "x");
    EXPECT_THROW(files.read("/lib/libx.so.1", 0), Error);
    EXPECT_EQ(files.read("/usr", 10), std::nullopt);
    // No symlink on the way: one open below the image's root.
    EXPECT_EQ(files.read("/usr/lib/libx.so.1.2", 10), "x");
    EXPECT_THROW(files.read("/usr/lib/libx.so.1.2", 0), Error);
    EXPECT_EQ(files.read("/usr/lib", 10), std::nullopt);
    EXPECT_EQ(files.read("/usr/lib/missing", 10), std::nullopt);
    EXPECT_EQ(files.read("/climb", 10), std::nullopt);
    EXPECT_EQ(files.read("/abs", 10), "x");
}

} // namespace
} // namespace husk::host
