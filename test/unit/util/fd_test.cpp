#include "util/error.hpp"
#include "util/fd.hpp"

#include "../support/temp_tree.hpp"

#include <algorithm>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace husk {
namespace {

using husk::test::TempTree;

Fd open_dir(const TempTree& t, const std::string& rel) {
    return Fd(::open((t / rel).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

TEST(DirNames, ListsEveryNameButDotAndDotDot) {
    TempTree t;
    t.write("d/b", "");
    t.mkdir("d/a");
    t.symlink("nowhere", "d/c");
    Fd d = open_dir(t, "d");
    std::vector<std::string> names = dir_names(d.get(), "d");
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c"}));
    // the offset is at the end now
    EXPECT_TRUE(dir_names(d.get(), "d").empty());
    t.mkdir("empty");
    EXPECT_TRUE(dir_names(open_dir(t, "empty").get(), "empty").empty());
}

TEST(DirNames, AFolderLargerThanOneReadIsReadWhole) {
    TempTree t;
    std::vector<std::string> want;
    for (int i = 0; i < 600; ++i) { // about 600 * 64 bytes: several getdents64 calls
        want.push_back(std::string(40, 'x') + std::to_string(i));
        t.write("big/" + want.back(), "");
    }
    std::vector<std::string> names = dir_names(open_dir(t, "big").get(), "big");
    std::sort(names.begin(), names.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(names, want);
}

TEST(DirNames, ANonFolderIsAnErrorNamingIt) {
    TempTree t;
    t.write("f", "");
    Fd f(::open((t / "f").c_str(), O_RDONLY | O_CLOEXEC));
    try {
        dir_names(f.get(), "the file f");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.err(), ENOTDIR);
        EXPECT_NE(std::string(e.what()).find("cannot read the folder the file f"),
                  std::string::npos);
    }
}

} // namespace
} // namespace husk
