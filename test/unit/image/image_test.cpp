#include "image/image.hpp"
#include "util/error.hpp"

#include "../support/temp_tree.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace husk::image {
namespace {

using husk::test::TempTree;

TEST(OciConfig, ParsesTheFieldsHuskUses) {
    auto c = parse_oci_config(R"({"architecture":"amd64","config":{"Env":["A=1","PATH=/x"],
        "Entrypoint":["/bin/sh","-c"],"Cmd":["echo hi"],"WorkingDir":"/w","User":"1000"}})",
                              "cfg");
    EXPECT_EQ(c.env, (std::vector<std::string>{"A=1", "PATH=/x"}));
    EXPECT_EQ(c.entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
    EXPECT_EQ(c.cmd, (std::vector<std::string>{"echo hi"}));
    EXPECT_EQ(c.working_dir, "/w");
    EXPECT_EQ(c.user, "1000");
}

TEST(OciConfig, MissingConfigAndNullFieldsAreEmpty) {
    EXPECT_TRUE(parse_oci_config(R"({"architecture":"amd64"})", "cfg").env.empty());
    auto c = parse_oci_config(R"({"config":{"Env":null,"Cmd":null}})", "cfg");
    EXPECT_TRUE(c.env.empty());
    EXPECT_TRUE(c.cmd.empty());
}

TEST(OciConfig, ErrorsNameTheFileAndField) {
    auto message = [](const char* json) {
        try {
            parse_oci_config(json, "img/.husk/config.json");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(message("{not json"), "img/.husk/config.json: not valid JSON");
    EXPECT_EQ(message("[]"), "img/.husk/config.json: not a JSON object");
    EXPECT_EQ(message(R"({"config":{"Env":"A=1"}})"),
              "img/.husk/config.json: config.Env: not an array of strings");
    EXPECT_EQ(message(R"({"config":{"Cmd":[1]}})"),
              "img/.husk/config.json: config.Cmd: not an array of strings");
    EXPECT_EQ(message(R"({"config":{"WorkingDir":3}})"),
              "img/.husk/config.json: config.WorkingDir: not a string");
    EXPECT_EQ(message(R"({"config":{"Env":["NOEQUALS"]}})"),
              "img/.husk/config.json: config.Env: \"NOEQUALS\" is not KEY=VALUE");
}

std::optional<Kind> kind_of(const std::string& bytes) {
    TempTree t;
    t.write("f", bytes);
    int fd = ::open((t / "f").c_str(), O_RDONLY | O_CLOEXEC);
    auto k = detect_file_kind(fd);
    ::close(fd);
    return k;
}

TEST(DetectKind, ByMagicNotName) {
    EXPECT_EQ(kind_of("hsqs\x04\x00\x00\x00"), Kind::Squashfs);
    EXPECT_EQ(kind_of("\x1f\x8b\x08\x00"), Kind::Tar);
    EXPECT_EQ(kind_of(std::string("\xfd"
                                  "7zXZ\0",
                                  6)),
              Kind::Tar);
    EXPECT_EQ(kind_of("\x28\xb5\x2f\xfd"), Kind::Tar);
    EXPECT_EQ(kind_of("BZh9"), Kind::Tar);
    EXPECT_EQ(kind_of("\x04\x22\x4d\x18"), Kind::Tar); // lz4 frame
    EXPECT_EQ(kind_of("\x02\x21\x4c\x18"), Kind::Tar); // lz4 legacy
    std::string tar(512, '\0');
    tar.replace(257, 5, "ustar");
    EXPECT_EQ(kind_of(tar), Kind::Tar);
    EXPECT_EQ(kind_of("#!/bin/sh\necho\n"), std::nullopt);
    EXPECT_EQ(kind_of(""), std::nullopt);
}

TEST(Resolve, DirectoryWithAndWithoutConfig) {
    TempTree t;
    t.mkdir("img/bin");
    auto img = resolve((t / "img").string());
    EXPECT_EQ(img.kind, Kind::Directory);
    EXPECT_EQ(img.path, (t / "img").string());
    EXPECT_FALSE(img.config);

    t.write("img/.husk/config.json", R"({"config":{"Cmd":["/bin/true"]}})");
    img = resolve((t / "img").string());
    ASSERT_TRUE(img.config);
    EXPECT_EQ(img.config->cmd, (std::vector<std::string>{"/bin/true"}));
}

TEST(Resolve, SymlinkedPathIsMadeCanonical) {
    TempTree t;
    t.mkdir("real");
    t.symlink("real", "link");
    EXPECT_EQ(resolve((t / "link").string()).path, (t / "real").string());
}

TEST(Resolve, ErrorsNameTheImage) {
    TempTree t;
    t.write("notes.txt", "hello");
    auto message = [](const std::string& ref) {
        try {
            resolve(ref);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(message((t / "missing").string()),
              "image " + (t / "missing").string() + " (No such file or directory)");
    EXPECT_NE(message((t / "notes.txt").string()).find("not an image"), std::string::npos);
    EXPECT_EQ(message(""), "no image given");
    t.write("bad/.husk/config.json", "{");
    EXPECT_NE(message((t / "bad").string()).find(".husk/config.json: not valid JSON"),
              std::string::npos);
}

} // namespace
} // namespace husk::image

#include "image/store.hpp"

namespace husk::image {
namespace {

TEST(Store, ValidNames) {
    for (const char* ok : {"debian", "app-1.2_x", "A", "9lives"}) {
        EXPECT_TRUE(valid_name(ok)) << ok;
    }
    for (const char* bad : {"", "../x", "a/b", ".hidden", "-x", "x y", "name.sqfs", "a\nb"}) {
        EXPECT_FALSE(valid_name(bad)) << bad;
    }
    EXPECT_FALSE(valid_name(std::string(129, 'a')));
}

TEST(Store, FormatFromTheDestinationsName) {
    EXPECT_EQ(format_for("app.sqfs"), Format::Squashfs);
    EXPECT_EQ(format_for("/x/app.squashfs"), Format::Squashfs);
    EXPECT_EQ(format_for("app.tar"), Format::Tar);
    EXPECT_EQ(format_for("app.tar.gz"), Format::Tar);
    EXPECT_EQ(format_for("app.tgz"), Format::Tar);
    EXPECT_EQ(format_for("app"), Format::Dir);
    EXPECT_EQ(format_for(".sqfs"), Format::Dir); // a hidden name, not a suffix
}

} // namespace
} // namespace husk::image
