#include "runtime/passwd.hpp"

#include <gtest/gtest.h>

namespace husk::runtime {
namespace {

Account me() {
    return {"alice", 1001, 1001, "Alice A", "/home/alice", "/bin/sh", "alice"};
}

const char* kImagePasswd = "root:x:0:0:root:/root:/bin/bash\n"
                           "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                           "alice:x:500:500::/home/old:/bin/sh\n";

TEST(MergePasswd, AppendsTheUserAndDropsANameClash) {
    EXPECT_EQ(merge_passwd(kImagePasswd, me()), "root:x:0:0:root:/root:/bin/bash\n"
                                                "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                                                "alice:x:1001:1001:Alice A:/home/alice:/bin/sh\n");
}

TEST(MergePasswd, KeepsTheImagesEntryForTheSameUid) {
    Account root = me();
    root.name = "root";
    root.uid = 0;
    root.gid = 0;
    std::string no_newline = "root:x:0:0:root:/root:/bin/bash";
    EXPECT_EQ(merge_passwd(no_newline, root), no_newline + "\n");
}

TEST(MergePasswd, ImageWithoutPasswd) {
    EXPECT_EQ(merge_passwd("", me()), "alice:x:1001:1001:Alice A:/home/alice:/bin/sh\n");
}

TEST(MergePasswd, MalformedLinesAreKept) {
    EXPECT_EQ(merge_passwd("garbage\n", me()),
              "garbage\nalice:x:1001:1001:Alice A:/home/alice:/bin/sh\n");
}

TEST(MergeGroup, AddsThePrimaryGroup) {
    EXPECT_EQ(merge_group("root:x:0:\nusers:x:100:\n", me()),
              "root:x:0:\nusers:x:100:\nalice:x:1001:alice\n");
    Account in_users = me();
    in_users.gid = 100;
    EXPECT_EQ(merge_group("root:x:0:\nusers:x:100:\n", in_users), "root:x:0:\nusers:x:100:\n");
}

} // namespace
} // namespace husk::runtime
