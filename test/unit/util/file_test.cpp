#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"

#include "../support/temp_tree.hpp"

#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <unistd.h>

namespace husk::file {
namespace {

using husk::test::TempTree;

TEST(File, WriteThenRead) {
    TempTree t;
    const std::string p = (t / "f").string();
    write(p, "one\ntwo\n");
    EXPECT_EQ(read(p), "one\ntwo\n");
    write(p, "x");
    EXPECT_EQ(read(p), "x");
}

TEST(File, ReadRegularReadsOnlyARegularFile) {
    TempTree t;
    t.write("f", "text");
    t.mkdir("d");
    Fd f(::open((t / "f").c_str(), O_RDONLY | O_CLOEXEC));
    Fd d(::open((t / "d").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    EXPECT_EQ(read_regular(f.get(), "f"), "text");
    EXPECT_EQ(read_regular(d.get(), "d"), std::nullopt);
    EXPECT_EQ(read_regular(-1, "none"), std::nullopt);
    Fd again(::open((t / "f").c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_THROW(read_regular(again.get(), "f", 2), Error); // larger than the limit
}

TEST(File, ReadFdTakesTheSizeAsAHintOnly) {
    TempTree t;
    const std::string text(10000, 'x');
    t.write("f", text);
    auto read_with = [&](size_t size, size_t limit = SIZE_MAX) {
        Fd f(::open((t / "f").c_str(), O_RDONLY | O_CLOEXEC));
        return read_fd(f.get(), "f", limit, size);
    };
    EXPECT_EQ(read_with(10000), text);
    EXPECT_EQ(read_with(0), text);
    EXPECT_EQ(read_with(10), text);    // grew since the fstat: read on
    EXPECT_EQ(read_with(50000), text); // shrank: read to the end
    EXPECT_EQ(read_with(10000, 10000), text);
    EXPECT_THROW(read_with(10000, 9999), Error);
    EXPECT_THROW(read_with(0, 9999), Error);
    EXPECT_THROW(read_with(10, 4096), Error);

    // A pipe, written in pieces: read to its end.
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    Fd rd(p[0]), wr(p[1]);
    ASSERT_EQ(::write(wr.get(), text.data(), 3000), 3000);
    ASSERT_EQ(::write(wr.get(), text.data(), 3000), 3000);
    wr.reset();
    EXPECT_EQ(read_fd(rd.get(), "pipe"), std::string(6000, 'x'));
}

TEST(File, LimitAndErrorsNameTheFile) {
    TempTree t;
    t.write("big", std::string(100, 'a'));
    try {
        read((t / "big").string(), 10);
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), (t / "big").string() + " is larger than 10 bytes");
    }
    try {
        read((t / "missing").string());
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.err(), ENOENT);
        EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos);
    }
}

TEST(File, WriteWholeReplacesAndLeavesNoTemporaryName) {
    TempTree t;
    const std::string p = (t / "state").string();
    write_whole(p, "one\n");
    write_whole(p, "two\n");
    EXPECT_EQ(read(p), "two\n");
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(t.root()),
                            std::filesystem::directory_iterator()),
              1);
    // A link where the file was is replaced, its target left alone.
    t.write("target", "keep");
    t.symlink((t / "target").string(), "link");
    write_whole((t / "link").string(), "new");
    EXPECT_EQ(read((t / "target").string()), "keep");
    EXPECT_EQ(read((t / "link").string()), "new");
    try {
        write_whole((t / "missing" / "f").string(), "x");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.err(), ENOENT);
        EXPECT_NE(std::string(e.what()).find("missing/f"), std::string::npos);
    }
}

TEST(File, WriteNeverFollowsASymlink) {
    TempTree t;
    t.write("target", "keep");
    t.symlink((t / "target").string(), "link");
    EXPECT_THROW(write((t / "link").string(), "changed"), Error);
    EXPECT_EQ(read((t / "target").string()), "keep");
}

} // namespace
} // namespace husk::file
