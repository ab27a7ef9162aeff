#include "host/elf.hpp"
#include "host/ldcache.hpp"
#include "host/mpi.hpp"
#include "image/files.hpp"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/path.hpp"

#include "../support/ld_cache.hpp"
#include "../support/temp_tree.hpp"

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

TEST(LdCache, ThisHostsOwnParses) {
    std::string bytes;
    try {
        bytes = file::read("/etc/ld.so.cache", kMaxLdCache);
    } catch (const Error&) {
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
}

} // namespace
} // namespace husk::host
