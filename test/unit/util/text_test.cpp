#include "util/bind.hpp"
#include "util/error.hpp"
#include "util/text.hpp"

#include <gtest/gtest.h>

namespace husk {
namespace {

using V = std::vector<std::string_view>;

TEST(Split, KeepsOrDropsEmptyPieces) {
    EXPECT_EQ(text::split("a::b", ':'), (V{"a", "", "b"}));
    EXPECT_EQ(text::split("", ':'), (V{""}));
    EXPECT_EQ(text::split(":a:", ':'), (V{"", "a", ""}));
    EXPECT_EQ(text::split("a::b", ':', text::Empty::Drop), (V{"a", "b"}));
    EXPECT_EQ(text::split("", ':', text::Empty::Drop), V{});
    EXPECT_EQ(text::split("  a  b ", ' ', text::Empty::Drop), (V{"a", "b"}));
}

TEST(Lines, AFinalNewlineEndsTheLastLine) {
    EXPECT_EQ(text::lines("a\n\nb\n"), (V{"a", "", "b"}));
    EXPECT_EQ(text::lines("a\nb"), (V{"a", "b"}));
    EXPECT_EQ(text::lines("\n"), (V{""}));
    EXPECT_EQ(text::lines(""), V{});
}

TEST(Trim, SpacesAndTabsAtTheEnds) {
    EXPECT_EQ(husk::text::trim(" a b\t"), "a b");
    EXPECT_EQ(husk::text::trim("\t \t"), "");
    EXPECT_EQ(husk::text::trim(""), "");
    EXPECT_EQ(husk::text::trim("x\n"), "x\n"); // lines() takes the newlines
}

TEST(ParseBind, Forms) {
    EXPECT_EQ(parse_bind("/scratch"), (BindSpec{"/scratch", "/scratch", false}));
    EXPECT_EQ(parse_bind("/scratch/me:/data"), (BindSpec{"/scratch/me", "/data", false}));
    EXPECT_EQ(parse_bind("/a:/b:ro"), (BindSpec{"/a", "/b", true}));
    EXPECT_EQ(parse_bind("/a:/b:rw"), (BindSpec{"/a", "/b", false}));
    EXPECT_EQ(parse_bind("rel"), (BindSpec{"rel", "rel", false}));
}

std::string error_of(std::string_view spec) {
    try {
        parse_bind(spec);
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

TEST(ParseBind, ErrorsSayWhatIsWrong) {
    EXPECT_EQ(error_of(":/b"), "the source is empty");
    EXPECT_EQ(error_of("/a:"), "the destination is empty");
    EXPECT_EQ(error_of("/a:/b:rx"), "unknown flag \"rx\" (expected ro or rw)");
    EXPECT_EQ(error_of("/a:/b:ro:x"), "expected SRC[:DST[:ro|rw]]");
}

TEST(Text, JoinPutsTheSeparatorBetweenEachTwo) {
    EXPECT_EQ(text::join({}, ", "), "");
    EXPECT_EQ(text::join({"a"}, ", "), "a");
    EXPECT_EQ(text::join({"a", "b", "c"}, ", "), "a, b, c");
    EXPECT_EQ(text::join({"", "b"}, ":"), ":b"); // an empty part still gets its separator
}

TEST(Text, OneLineEscapesControlCharacters) {
    EXPECT_EQ(text::one_line("plain: ok"), "plain: ok");
    EXPECT_EQ(text::one_line(std::string("a\nb\tc\rd\x01\x7f\0e", 11)),
              "a\\nb\\tc\\rd\\x01\\x7f\\x00e");
    EXPECT_EQ(text::one_line("caf\xc3\xa9"), "caf\xc3\xa9"); // UTF-8 stays
}

} // namespace
} // namespace husk
