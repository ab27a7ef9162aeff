#include "util/error.hpp"
#include "util/path.hpp"

#include "../support/temp_tree.hpp"

#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::path {
namespace {

using husk::test::TempTree;

class ResolveTest : public ::testing::Test {
  protected:
    void SetUp() override {
        tree.mkdir("usr/lib");
        tree.mkdir("etc");
        tree.write("etc/passwd", "root:x:0:0::/root:/bin/sh\n");
        tree.symlink("usr/lib", "lib");           // relative, inside
        tree.symlink("/usr/lib", "abs-lib");      // absolute: restarts at the root
        tree.symlink("../../../../etc", "climb"); // climbs above the root
        tree.symlink("/../..", "abs-climb");
        tree.symlink("loop-b", "loop-a");
        tree.symlink("loop-a", "loop-b");
        root = Fd(::open(tree.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        ASSERT_TRUE(root);
    }

    /// The inode of what `fd` names, to compare with a path in the tree.
    static ino_t inode_of_fd(const Fd& fd) {
        struct stat st {};
        EXPECT_EQ(::fstat(fd.get(), &st), 0);
        return st.st_ino;
    }
    ino_t inode_of(const std::string& rel) const {
        struct stat st {};
        EXPECT_EQ(::lstat((tree / rel).c_str(), &st), 0);
        return st.st_ino;
    }

    TempTree tree;
    Fd root;
};

TEST(PathSplit, DropsEmptyAndDotKeepsDotDot) {
    EXPECT_EQ(split("/a//b/./c/"), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(split("a/../b"), (std::vector<std::string>{"a", "..", "b"}));
    EXPECT_TRUE(split("/").empty());
    EXPECT_EQ(join({}), "/");
    EXPECT_EQ(join({"a", "b"}), "/a/b");
}

TEST(PathDepth, CountsWhatSplitKeeps) {
    for (const char* p : {"/a//b/./c/", "a/../b", "/", "", ".", "./", "/usr/lib/x.so", "a", "..",
                          "//a//", "/./.", "/.a/b."}) {
        EXPECT_EQ(depth(p), split(p).size()) << p;
    }
}

TEST(PathReadLink, ReadsATextOfAnyLengthAndNamesTheLinkInErrors) {
    TempTree t;
    const std::string long_target(1000, 'x');
    t.symlink(long_target, "long");
    t.symlink("usr/lib", "lib");
    const Fd dir(::open(t.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    EXPECT_EQ(read_link(dir.get(), "long", "long"), long_target);
    const Fd lib(::openat(dir.get(), "lib", O_PATH | O_NOFOLLOW | O_CLOEXEC));
    EXPECT_EQ(read_link(lib.get(), "", "lib"), "usr/lib");
    try {
        read_link(dir.get(), "missing", "the missing link");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.err(), ENOENT);
        EXPECT_NE(std::string(e.what()).find("the missing link"), std::string::npos);
    }
}

TEST_F(ResolveTest, PlainPath) {
    auto r = resolve_in_root(root.get(), "/usr/lib");
    EXPECT_TRUE(r.missing.empty());
    EXPECT_EQ(r.path, "/usr/lib");
    EXPECT_EQ(inode_of_fd(r.fd), inode_of("usr/lib"));
}

TEST_F(ResolveTest, RelativeSymlinkStaysInside) {
    auto r = resolve_in_root(root.get(), "/lib");
    EXPECT_TRUE(r.missing.empty());
    EXPECT_EQ(inode_of_fd(r.fd), inode_of("usr/lib"));
    r = resolve_in_root(root.get(), "/lib/missing");
    EXPECT_EQ(r.path, "/usr/lib"); // the slow path reports the resolved path
    EXPECT_EQ(r.missing, (std::vector<std::string>{"missing"}));
}

TEST_F(ResolveTest, AbsoluteSymlinkRestartsAtTheRootNotTheHost) {
    auto r = resolve_in_root(root.get(), "/abs-lib");
    EXPECT_EQ(r.path, "/usr/lib");
    EXPECT_EQ(inode_of_fd(r.fd), inode_of("usr/lib"));
}

TEST_F(ResolveTest, DotDotInsideIsFine) {
    auto r = resolve_in_root(root.get(), "/usr/lib/../../etc/passwd");
    EXPECT_TRUE(r.missing.empty());
    EXPECT_EQ(inode_of_fd(r.fd), inode_of("etc/passwd"));
}

TEST_F(ResolveTest, DotDotAboveTheRootIsAnError) {
    EXPECT_THROW(resolve_in_root(root.get(), "/../etc"), Error);
    EXPECT_THROW(resolve_in_root(root.get(), "/usr/../../etc"), Error);
}

TEST_F(ResolveTest, SymlinkThatClimbsAboveTheRootIsAnError) {
    try {
        resolve_in_root(root.get(), "/climb/x");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("leaves the root"), std::string::npos) << e.what();
    }
    EXPECT_THROW(resolve_in_root(root.get(), "/abs-climb"), Error);
}

TEST_F(ResolveTest, LastSymlinkNotFollowedOnRequest) {
    auto r = resolve_in_root(root.get(), "/climb", Last::NoFollow);
    EXPECT_EQ(r.path, "/climb");
    EXPECT_EQ(inode_of_fd(r.fd), inode_of("climb"));
}

TEST_F(ResolveTest, SymlinkLoopIsEloop) {
    try {
        resolve_in_root(root.get(), "/loop-a");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.err(), ELOOP);
    }
}

TEST_F(ResolveTest, FileInTheMiddleIsEnotdir) {
    try {
        resolve_in_root(root.get(), "/etc/passwd/x");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.err(), ENOTDIR);
    }
}

TEST_F(ResolveTest, MissingComponentsAreReported) {
    auto r = resolve_in_root(root.get(), "/usr/lib/a/b");
    EXPECT_EQ(r.path, "/usr/lib");
    EXPECT_EQ(r.missing, (std::vector<std::string>{"a", "b"}));
    EXPECT_THROW(resolve_in_root(root.get(), "/usr/a/../b"), Error);
}

TEST_F(ResolveTest, MissingThroughDanglingSymlinkResolvesItsTarget) {
    tree.symlink("../usr/new/file", "etc/dangling");
    auto r = resolve_in_root(root.get(), "/etc/dangling");
    EXPECT_EQ(r.path, "/usr");
    EXPECT_EQ(r.missing, (std::vector<std::string>{"new", "file"}));
}

TEST_F(ResolveTest, MissingBelowASymlinkedFolderIsResolvedThroughIt) {
    // The quick answer for a missing path holds only without symlinks on
    // the way; through one, the walk answers.
    auto r = resolve_in_root(root.get(), "/lib/a/b");
    EXPECT_EQ(r.path, "/usr/lib");
    EXPECT_EQ(r.missing, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(inode_of_fd(r.fd), inode_of("usr/lib"));
    auto top = resolve_in_root(root.get(), "/new");
    EXPECT_EQ(top.path, "/");
    EXPECT_EQ(top.missing, (std::vector<std::string>{"new"}));
}

TEST_F(ResolveTest, ProbeExactAnswersOnlyWithoutSymlinks) {
    Probed p = probe_exact(root.get(), "/usr/lib");
    ASSERT_EQ(p.state, Probe::Exact);
    EXPECT_EQ(inode_of_fd(p.fd), inode_of("usr/lib"));
    EXPECT_EQ(probe_exact(root.get(), "/usr/lib/none/x").state, Probe::Missing);
    EXPECT_EQ(probe_exact(root.get(), "/lib").state, Probe::Unsure);          // a symlink
    EXPECT_EQ(probe_exact(root.get(), "/lib/none").state, Probe::Unsure);     // through one
    EXPECT_EQ(probe_exact(root.get(), "/usr/../etc").state, Probe::Unsure);   // ".."
    EXPECT_EQ(probe_exact(root.get(), "/etc/passwd/x").state, Probe::Unsure); // ENOTDIR
    tree.symlink("gone", "etc/dangling");
    EXPECT_EQ(probe_exact(root.get(), "/etc/dangling").state, Probe::Unsure);
    // Not followed: the symlink itself, where it is.
    Probed link = probe_exact(root.get(), "/lib", Last::NoFollow);
    ASSERT_EQ(link.state, Probe::Exact);
    EXPECT_EQ(inode_of_fd(link.fd), inode_of("lib"));
}

TEST_F(ResolveTest, ProbeExactOpensForReadingWhenAsked) {
    Probed dir = probe_exact(root.get(), "/usr/lib", Last::Follow, O_RDONLY | O_DIRECTORY);
    ASSERT_EQ(dir.state, Probe::Exact);
    EXPECT_EQ(::fcntl(dir.fd.get(), F_GETFL) & O_PATH, 0); // a descriptor to read through
    EXPECT_NE(::fcntl(dir.fd.get(), F_GETFD) & FD_CLOEXEC, 0);
    // A file asked for as a folder: not found out here (ENOTDIR), the walk answers.
    EXPECT_EQ(probe_exact(root.get(), "/etc/passwd", Last::Follow, O_RDONLY | O_DIRECTORY).state,
              Probe::Unsure);
    Probed file = probe_exact(root.get(), "/etc/passwd", Last::Follow, O_RDONLY | O_NONBLOCK);
    ASSERT_EQ(file.state, Probe::Exact);
    char c;
    EXPECT_GE(::read(file.fd.get(), &c, 1), 0);
    EXPECT_EQ(probe_exact(root.get(), "/lib", Last::Follow, O_RDONLY | O_DIRECTORY).state,
              Probe::Unsure); // still no symlink followed
}

TEST_F(ResolveTest, CreateMissingMakesDirectoriesAndFile) {
    auto r = resolve_in_root(root.get(), "/opt/x/y");
    Fd made = create_missing(r, Kind::File);
    ASSERT_TRUE(made);
    EXPECT_TRUE(std::filesystem::is_directory(tree / "opt/x"));
    EXPECT_TRUE(std::filesystem::is_regular_file(tree / "opt/x/y"));
    auto d = resolve_in_root(root.get(), "/opt/d");
    create_missing(d, Kind::Directory);
    EXPECT_TRUE(std::filesystem::is_directory(tree / "opt/d"));
}

TEST_F(ResolveTest, CreateMissingRefusesASymlinkPlantedMeanwhile) {
    auto r = resolve_in_root(root.get(), "/planted/sub");
    tree.symlink("/", "planted"); // appears after resolution
    EXPECT_THROW(create_missing(r, Kind::Directory), Error);
}

TEST(FdPath, NamesTheDescriptor) {
    EXPECT_EQ(fd_path(7, "/oldroot/proc"), "/oldroot/proc/self/fd/7");
}

} // namespace
} // namespace husk::path
