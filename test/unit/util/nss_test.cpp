#include "util/nss.hpp"

#include <cerrno>
#include <gtest/gtest.h>
#include <unistd.h>
#include <vector>

using husk::nss::with_buffer;

TEST(Nss, BufferDoublesOnErangeUntilTheEntryFits) {
    std::vector<size_t> sizes;
    const int r = with_buffer(
        [&](char* buf, size_t size) {
            sizes.push_back(size);
            if (size < 20000) { // an all-users group's member list
                return ERANGE;
            }
            buf[size - 1] = 'x'; // the whole buffer is writable
            return 0;
        },
        1024, 1 << 20);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(sizes, (std::vector<size_t>{1024, 2048, 4096, 8192, 16384, 32768}));
}

TEST(Nss, GivesUpAtTheLimitWithErange) {
    std::vector<size_t> sizes;
    const int r = with_buffer(
        [&](char*, size_t size) {
            sizes.push_back(size);
            return ERANGE;
        },
        1000, 3000);
    EXPECT_EQ(r, ERANGE);
    EXPECT_EQ(sizes, (std::vector<size_t>{1000, 2000, 3000}));
}

TEST(Nss, RetriesEintrAndReturnsOtherErrorsAtOnce) {
    int calls = 0;
    EXPECT_EQ(with_buffer([&](char*, size_t) { return ++calls < 3 ? EINTR : EIO; }), EIO);
    EXPECT_EQ(calls, 3);
}

TEST(Nss, LooksUpRootAndTheRunningUser) {
    const auto root = husk::nss::user_by_uid(0);
    ASSERT_TRUE(root.has_value());
    EXPECT_EQ(root->name, "root");
    EXPECT_EQ(root->uid, 0u);
    EXPECT_EQ(husk::nss::group_name(0).value_or(""), "root");
    // No entry is nullopt, not an error.
    EXPECT_FALSE(husk::nss::user_by_uid(4123456789u).has_value());
    EXPECT_FALSE(husk::nss::group_name(4123456789u).has_value());
}
