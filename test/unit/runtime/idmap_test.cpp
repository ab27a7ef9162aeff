#include "runtime/idmap.hpp"
#include "util/error.hpp"

#include <gtest/gtest.h>

namespace husk::runtime {
namespace {

TEST(IdMaps, OwnIdsByDefault) {
    auto m = compute_id_maps(1001, 100, std::nullopt, std::nullopt, false);
    EXPECT_EQ(m.uid, (IdMap{1001, 1001, 1}));
    EXPECT_EQ(m.gid, (IdMap{100, 100, 1}));
}

TEST(IdMaps, ChosenIdsInside) {
    auto m = compute_id_maps(1001, 100, 5000, 6000, false);
    EXPECT_EQ(m.uid, (IdMap{5000, 1001, 1}));
    EXPECT_EQ(m.gid, (IdMap{6000, 100, 1}));
    m = compute_id_maps(1001, 100, 5000, std::nullopt, false);
    EXPECT_EQ(m.gid, (IdMap{100, 100, 1}));
}

TEST(IdMaps, FakeRootMapsToZero) {
    auto m = compute_id_maps(1001, 100, std::nullopt, std::nullopt, true);
    EXPECT_EQ(m.uid, (IdMap{0, 1001, 1}));
    EXPECT_EQ(m.gid, (IdMap{0, 100, 1}));
    EXPECT_NO_THROW(compute_id_maps(1001, 100, 0, 0, true));
}

TEST(IdMaps, ContradictionsAreErrors) {
    EXPECT_THROW(compute_id_maps(1001, 100, 5, std::nullopt, true), Error);
    EXPECT_THROW(compute_id_maps(1001, 100, std::nullopt, 5, true), Error);
    EXPECT_THROW(compute_id_maps(1001, 100, 0xffffffffU, std::nullopt, false), Error);
}

TEST(IdMaps, FormatIsUidMapLine) {
    EXPECT_EQ(format_id_map({0, 1001, 1}), "0 1001 1\n");
}

} // namespace
} // namespace husk::runtime
