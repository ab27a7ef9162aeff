#include "runtime/overlay_upper.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"

#include "../support/temp_tree.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <filesystem>
#include <set>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::runtime {
namespace {

namespace fs = std::filesystem;

/// An image folder and a layer folder, removed at the end.
class Layer : public ::testing::Test {
  protected:
    void SetUp() override {
        tree_.mkdir("image/etc");
        tree_.mkdir("image/usr/lib");
        tree_.mkdir("image/usr/bin");
        tree_.mkdir("layer");
        tree_.symlink("usr/lib", "image/lib"); // merged /usr
        tree_.write("image/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        image_ = (tree_ / "image").string();
        layer_ = (tree_ / "layer").string();
        image_fd_.reset(::open(image_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        host_fd_.reset(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
        ASSERT_TRUE(image_fd_);
    }

    husk::test::TempTree tree_;
    std::string image_, layer_;
    Fd image_fd_, host_fd_;
};

MountOp op(MountKind kind, const std::string& target, const std::string& source = "") {
    MountOp m;
    m.kind = kind;
    m.target = target;
    m.source = source;
    m.exact_source = kind == MountKind::Bind;
    return m;
}

/// What is in `root`, sorted: "path" for folders, "path=bytes" for files.
std::string listing(const std::string& root) {
    std::set<std::string> lines;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
         ++it) {
        const std::string rel = it->path().string().substr(root.size());
        if (it->is_symlink()) {
            lines.insert(rel + "->" + fs::read_symlink(it->path()).string() + "\n");
        } else if (it->is_directory()) {
            lines.insert(rel + "\n");
        } else {
            lines.insert(rel + "=" + file::read(it->path()) + "\n");
        }
    }
    std::string out;
    for (const auto& l : lines) {
        out += l;
    }
    return out;
}

TEST_F(Layer, GeneratedFilesAreWrittenWholeAtTheirTargets) {
    const std::vector<MountOp> mounts = {
        op(MountKind::Proc, "/proc"),
        op(MountKind::Passwd, "/etc/passwd"),
        op(MountKind::File, "/etc/ld.so.cache", "CACHE"),
        op(MountKind::Bind, "/usr/lib/husk-gpu/libcuda.so.1", "/usr/lib/libcuda.so.1"),
        op(MountKind::Bind, "/lib/firmware/nvidia/1.0/gsp.bin", "/lib/firmware/gsp.bin"),
        op(MountKind::File, "/usr/bin", "NOT A FOLDER"), // the image has a folder there
        op(MountKind::Group, "/etc/group"),              // contents gives nullopt: a mount point
    };
    const std::string before = listing(image_);
    std::vector<std::string> asked;
    const auto written = prepare_overlay_upper(
        mounts, image_fd_.get(), host_fd_.get(), layer_,
        [&](const MountOp& m, int image_file, size_t size) -> std::optional<std::string> {
            asked.push_back(m.target + (image_file >= 0 ? " (image's)" : ""));
            struct stat st {};
            EXPECT_EQ(size, image_file >= 0 && ::fstat(image_file, &st) == 0
                                ? static_cast<size_t>(st.st_size)
                                : 0U)
                << m.target;
            if (m.kind == MountKind::Group) {
                return std::nullopt;
            }
            if (m.kind == MountKind::File) {
                return m.source;
            }
            return file::read("/proc/self/fd/" + std::to_string(image_file)) + "alice:x:1001\n";
        });
    EXPECT_EQ(written, (std::vector<size_t>{1, 2}));
    EXPECT_EQ(asked, (std::vector<std::string>{"/etc/passwd (image's)", "/etc/ld.so.cache",
                                               "/etc/group"}));
    // The firmware's folders are made under the image's real /usr/lib, so
    // that its /lib symlink is not covered by a folder of the layer.
    EXPECT_EQ(listing(layer_), "/etc\n"
                               "/etc/group=\n"
                               "/etc/ld.so.cache=CACHE\n"
                               "/etc/passwd=root:x:0:0:root:/root:/bin/sh\nalice:x:1001\n\n"
                               "/usr\n"
                               "/usr/lib\n"
                               "/usr/lib/firmware\n"
                               "/usr/lib/firmware/nvidia\n"
                               "/usr/lib/firmware/nvidia/1.0\n"
                               "/usr/lib/firmware/nvidia/1.0/gsp.bin=\n"
                               "/usr/lib/husk-gpu\n"
                               "/usr/lib/husk-gpu/libcuda.so.1=\n");
    EXPECT_EQ(listing(image_), before);
}

TEST_F(Layer, ASymlinkOnTheWayLeavesTheGeneratedFileToItsMount) {
    // /etc -> usr/etc: a folder /etc in the layer would hide the image's.
    fs::create_directories(image_ + "/usr/etc");
    fs::rename(image_ + "/etc/passwd", image_ + "/usr/etc/passwd");
    fs::remove(image_ + "/etc");
    fs::create_symlink("usr/etc", image_ + "/etc");
    const std::vector<MountOp> mounts = {op(MountKind::Passwd, "/etc/passwd"),
                                         op(MountKind::File, "/etc/ld.so.cache", "CACHE")};
    int asked = 0;
    const auto written =
        prepare_overlay_upper(mounts, image_fd_.get(), host_fd_.get(), layer_,
                              [&](const MountOp&, int, size_t) -> std::optional<std::string> {
                                  ++asked;
                                  return "X";
                              });
    EXPECT_TRUE(written.empty());
    EXPECT_EQ(asked, 0);
    // the missing one's mount point is made where the symlink leads
    EXPECT_EQ(listing(layer_), "/usr\n/usr/etc\n/usr/etc/ld.so.cache=\n");
}

TEST_F(Layer, TargetsInTheImagesOwnFoldersAndThroughSymlinks) {
    tree_.write("image/etc/hosts", "");
    tree_.symlink("../run/resolv.conf", "image/etc/resolv.conf"); // dangling in the image
    const std::vector<MountOp> mounts = {
        op(MountKind::Bind, "/etc/hosts", "/etc/hosts"),             // there: nothing to make
        op(MountKind::Symlink, "/etc/resolv.conf", "elsewhere"),     // there, as a link
        op(MountKind::Bind, "/usr/bin/tool", "/bin/sh"),             // missing from /usr/bin
        op(MountKind::Bind, "/usr/bin/tool2", "/bin/sh"),            // the same folder
        op(MountKind::Bind, "/etc/resolv.conf", "/etc/resolv.conf"), // followed to /run
        op(MountKind::Symlink, "/usr/bin/link", "tool"),             // a new link
        op(MountKind::Bind, "/top", "/bin/sh"),                      // at the root
    };
    const std::string before = listing(image_);
    EXPECT_TRUE(prepare_overlay_upper(mounts, image_fd_.get(), host_fd_.get(), layer_).empty());
    EXPECT_EQ(listing(layer_), "/run\n"
                               "/run/resolv.conf=\n"
                               "/top=\n"
                               "/usr\n"
                               "/usr/bin\n"
                               "/usr/bin/link->tool\n"
                               "/usr/bin/tool2=\n"
                               "/usr/bin/tool=\n");
    EXPECT_EQ(listing(image_), before);
}

TEST_F(Layer, WithoutContentsOnlyMissingMountPointsAreMade) {
    const std::vector<MountOp> mounts = {op(MountKind::Passwd, "/etc/passwd"),
                                         op(MountKind::File, "/etc/ld.so.cache", "CACHE")};
    EXPECT_TRUE(prepare_overlay_upper(mounts, image_fd_.get(), host_fd_.get(), layer_).empty());
    EXPECT_EQ(listing(layer_), "/etc\n/etc/ld.so.cache=\n");
}

TEST_F(Layer, AContentsThatThrowsLeavesTheOpToItsMount) {
    const std::vector<MountOp> mounts = {op(MountKind::Passwd, "/etc/passwd"),
                                         op(MountKind::Group, "/etc/group")};
    const auto written =
        prepare_overlay_upper(mounts, image_fd_.get(), host_fd_.get(), layer_,
                              [](const MountOp&, int, size_t) -> std::optional<std::string> {
                                  throw Error("unreadable");
                              });
    EXPECT_TRUE(written.empty());
    // the missing one still gets its (empty) mount point
    EXPECT_EQ(listing(layer_), "/etc\n/etc/group=\n");
}

} // namespace
} // namespace husk::runtime
