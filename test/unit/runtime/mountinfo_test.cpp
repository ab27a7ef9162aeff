#include "runtime/mountinfo.hpp"

#include <gtest/gtest.h>
#include <sys/mount.h>

namespace husk::runtime {
namespace {

const char* kInfo = "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
                    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
                    "40 27 0:40 / /newroot ro,nosuid,nodev,relatime - fuse.husk img ro\n"
                    "41 40 0:41 / /newroot/mnt rw,nosuid,noexec,noatime - tmpfs tmpfs rw\n"
                    "42 41 0:42 / /newroot/mnt/with\\040space rw - tmpfs tmpfs rw\n"
                    "43 27 0:43 / /newroot2 rw - tmpfs tmpfs rw\n"
                    "garbage line\n";

TEST(MountInfo, ParsesAndUnescapes) {
    auto all = parse_mountinfo(kInfo);
    ASSERT_EQ(all.size(), 6u);
    EXPECT_EQ(all[0].mount_point, "/proc");
    EXPECT_EQ(all[0].options, "rw,relatime");
    EXPECT_EQ(all[4].mount_point, "/newroot/mnt/with space");
}

TEST(MountInfo, MountsUnderAPathNotItsNamesakes) {
    auto under = mounts_under(parse_mountinfo(kInfo), "/newroot/");
    ASSERT_EQ(under.size(), 3u);
    EXPECT_EQ(under[0].mount_point, "/newroot");
    EXPECT_EQ(under[1].mount_point, "/newroot/mnt");
    EXPECT_EQ(under[2].mount_point, "/newroot/mnt/with space"); // not /newroot2
    EXPECT_EQ(mounts_under(parse_mountinfo(kInfo), "/").size(), 6u);
}

TEST(MountInfo, LockedFlagsAreRepeated) {
    EXPECT_EQ(locked_flags("rw,nosuid,noexec,noatime"),
              static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC | MS_NOATIME));
    EXPECT_EQ(locked_flags("ro,nodev,relatime"),
              static_cast<unsigned long>(MS_NODEV | MS_RELATIME));
    EXPECT_EQ(locked_flags("rw"), 0ul);
}

} // namespace
} // namespace husk::runtime
