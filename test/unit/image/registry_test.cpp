// Image references, registry replies and credentials (src/image/reference,
// registry, http): the pure parts of `husk pull`.
#include "image/http.hpp"
#include "image/reference.hpp"
#include "image/registry.hpp"
#include "image/registry_reply.hpp"
#include "util/error.hpp"

#include "../support/temp_tree.hpp"

#include <gtest/gtest.h>

namespace husk::image {
namespace {

TEST(Reference, NormalisedAsDockerDoes) {
    auto r = parse_reference("ubuntu");
    EXPECT_EQ(r.registry, "docker.io");
    EXPECT_EQ(r.repository, "library/ubuntu");
    EXPECT_EQ(r.tag, "latest");
    EXPECT_EQ(r.str(), "docker.io/library/ubuntu:latest");
    EXPECT_EQ(r.api_host(), "registry-1.docker.io");
    r = parse_reference("docker://ubuntu:24.04");
    EXPECT_EQ(r.str(), "docker.io/library/ubuntu:24.04");
    r = parse_reference("org/tool:1.2");
    EXPECT_EQ(r.str(), "docker.io/org/tool:1.2");
    r = parse_reference("registry.example.org/group/app:1.2");
    EXPECT_EQ(r.registry, "registry.example.org");
    EXPECT_EQ(r.repository, "group/app");
    r = parse_reference("127.0.0.1:5000/app:1");
    EXPECT_EQ(r.registry, "127.0.0.1:5000");
    EXPECT_TRUE(r.is_local());
    r = parse_reference("localhost/app");
    EXPECT_EQ(r.registry, "localhost");
    EXPECT_TRUE(r.is_local());
    EXPECT_FALSE(parse_reference("ghcr.io/org/tool").is_local());
    const std::string hex(64, 'a');
    r = parse_reference("ghcr.io/org/tool@sha256:" + hex);
    EXPECT_EQ(r.tag, "");
    EXPECT_EQ(r.digest, "sha256:" + hex);
    EXPECT_EQ(r.what(), "sha256:" + hex);
    r = parse_reference("ghcr.io/org/tool:v1@sha256:" + hex);
    EXPECT_EQ(r.tag, "v1");
    EXPECT_EQ(r.str(), "ghcr.io/org/tool:v1@sha256:" + hex);
    // a port is a registry, not a tag
    EXPECT_EQ(parse_reference("host:5000/a/b").repository, "a/b");
    EXPECT_EQ(parse_reference("a__b/c-d--e/f.g").repository, "a__b/c-d--e/f.g");
}

TEST(Reference, MalformedOnesSayWhy) {
    const auto message = [](const std::string& text) {
        try {
            parse_reference(text);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(message(""), "image reference : empty");
    EXPECT_EQ(message("Ubuntu"),
              "image reference Ubuntu: 'Ubuntu' is not a repository component "
              "(lower-case letters and digits, joined by '.', '_', '__' or '-')");
    EXPECT_NE(message("ubuntu:").find("is not a tag"), std::string::npos);
    EXPECT_NE(message("ubuntu:-x").find("is not a tag"), std::string::npos);
    EXPECT_NE(message("ubuntu@sha256:abc").find("digest"), std::string::npos);
    EXPECT_NE(message("ubuntu@md5:" + std::string(32, 'a')).find("sha256"), std::string::npos);
    EXPECT_NE(message("a//b").find("repository component"), std::string::npos);
    EXPECT_NE(message("a/b_").find("repository component"), std::string::npos);
    EXPECT_NE(message("a b").find("white space"), std::string::npos);
    EXPECT_NE(message("host:99999x/a").find("registry"), std::string::npos);
    EXPECT_NE(message("ubuntu:" + std::string(129, 'a')).find("is not a tag"), std::string::npos);
}

TEST(Challenge, BearerAndBasic) {
    auto c = parse_challenge(
        R"(Bearer realm="https://auth.example.org/token",service="registry.example.org",scope="repository:a/b:pull")");
    EXPECT_EQ(c.scheme, "bearer");
    EXPECT_EQ(c.realm, "https://auth.example.org/token");
    EXPECT_EQ(c.service, "registry.example.org");
    EXPECT_EQ(c.scope, "repository:a/b:pull");
    c = parse_challenge(R"(Basic realm="Registry Realm")");
    EXPECT_EQ(c.scheme, "basic");
    EXPECT_EQ(c.realm, "Registry Realm");
    c = parse_challenge("Bearer realm=http://127.0.0.1:1/t, service=x");
    EXPECT_EQ(c.realm, "http://127.0.0.1:1/t");
    EXPECT_EQ(c.service, "x");
    EXPECT_EQ(parse_challenge("").scheme, "");
    EXPECT_EQ(parse_challenge("Bearer realm=\"unterminated").realm, "unterminated");
}

TEST(Base64, RoundTrips) {
    for (const std::string& s :
         std::vector<std::string>{"", "a", "ab", "abc", "user:pa:ss", std::string("\0\xff", 2)}) {
        bool ok = false;
        EXPECT_EQ(http::unbase64(http::base64(s), ok), s);
        EXPECT_TRUE(ok);
    }
    EXPECT_EQ(http::base64("user:pass"), "dXNlcjpwYXNz");
    bool ok = true;
    http::unbase64("a*b", ok);
    EXPECT_FALSE(ok);
}

TEST(Credentials, AuthFilesInOrder) {
    test::TempTree t;
    const std::string home = (t / "home").string();
    t.write("home/.docker/config.json",
            R"({"auths": {"https://index.docker.io/v1/": {"auth": "aHViOmh1Yg=="},
                          "reg.example:5000": {"auth": "ZG9ja2VyOmQ="}}})");
    t.write("home/.config/containers/auth.json",
            R"({"auths": {"reg.example:5000": {"auth": "cG9kbWFuOnA="}}})");
    t.write("explicit.json", R"({"auths": {"reg.example:5000": {"auth": "ZXhwbGljaXQ6ZQ=="}}})");
    EXPECT_EQ(find_credentials("reg.example:5000", home, {}), "cG9kbWFuOnA="); // containers first
    EXPECT_EQ(find_credentials("docker.io", home, {}), "aHViOmh1Yg==");
    EXPECT_EQ(find_credentials("reg.example:5000", home,
                               {"REGISTRY_AUTH_FILE=" + (t / "explicit.json").string()}),
              "ZXhwbGljaXQ6ZQ==");
    EXPECT_EQ(find_credentials("other.example", home, {}), "");
    t.write("bad.json", "{not json");
    EXPECT_THROW(find_credentials("x", home, {"REGISTRY_AUTH_FILE=" + (t / "bad.json").string()}),
                 Error);
}

TEST(RegistryReplies, IndexChoosesThePlatform) {
    const std::string a(64, 'a'), b(64, 'b'), c(64, 'c');
    const std::string index =
        R"({"schemaVersion": 2, "manifests": [
        {"digest": "sha256:)" +
        a + R"(", "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "sha256:)" +
        b + R"(", "size": 1, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"digest": "sha256:)" +
        c +
        R"(", "size": 1, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}]})";
    Platform chosen;
    EXPECT_EQ(index_choice(index, Platform::parse("linux/amd64"), "x", &chosen), "sha256:" + a);
    EXPECT_EQ(chosen.str(), "linux/amd64");
    EXPECT_EQ(index_choice(index, Platform::parse("linux/arm64"), "x", &chosen), "sha256:" + b);
    EXPECT_EQ(chosen.str(), "linux/arm64/v8");
    EXPECT_EQ(index_choice(index, Platform::parse("linux/arm64/v8"), "x", nullptr), "sha256:" + b);
    try {
        index_choice(index, Platform::parse("linux/s390x"), "reg/app:1", nullptr);
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "reg/app:1: no image for linux/s390x (the index has linux/amd64, "
                  "linux/arm64/v8, linux/arm/v7); choose one with --platform");
    }
    EXPECT_THROW(index_choice("[]", Platform::host(), "x", nullptr), Error);
    EXPECT_THROW(Platform::parse("linux"), Error);
    EXPECT_THROW(Platform::parse("linux//v8"), Error);
}

TEST(RegistryReplies, AnIndexPlatformOfTheWrongTypeOrOnManyLinesIsOneLineOfError) {
    // Found by the registry_reply fuzz harness: a number where a string
    // goes was nlohmann's own type_error, and a newline in a platform made
    // the "no image for" message two lines.
    const std::string a(64, 'a');
    const std::string head = R"({"manifests": [{"digest": "sha256:)" + a + R"(", "size": 1, )";
    try {
        index_choice(head + R"("platform": {"os": 5, "architecture": "amd64"}}]})",
                     Platform::parse("linux/amd64"), "reg/app:1", nullptr);
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "reg/app:1: manifests[0].platform: \"os\" is not a string");
    }
    try {
        index_choice(head + R"("platform": {"os": "linux\nx", "architecture": "amd64"}}]})",
                     Platform::parse("linux/amd64"), "reg/app:1", nullptr);
        FAIL();
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.find('\n'), std::string::npos) << what;
        EXPECT_NE(what.find("no image for linux/amd64 (the index has linux"), std::string::npos)
            << what;
    }
    EXPECT_EQ(optional_string(nlohmann::json::parse(R"({"k": null})"), "k", "w"), "");
    EXPECT_EQ(optional_string(nlohmann::json::parse("[1]"), "k", "w"), "");
    EXPECT_THROW(optional_string(nlohmann::json::parse(R"({"k": [1]})"), "k", "w"), Error);
}

TEST(RegistryReplies, ManifestBlobsAreChecked) {
    const std::string a(64, 'a'), b(64, 'b');
    const auto blobs = manifest_blobs(R"({"config": {"digest": "sha256:)" + a +
                                          R"(", "size": 10}, "layers": [{"digest": "sha256:)" + b +
                                          R"(", "size": 20}]})",
                                      "reg/app:1");
    ASSERT_EQ(blobs.size(), 2u);
    EXPECT_EQ(blobs[0].digest, "sha256:" + a);
    EXPECT_EQ(blobs[1].size, 20u);
    EXPECT_EQ(blobs[1].what, "reg/app:1: layer 1 of 1 (sha256:" + b + ")");
    // a digest is a file name in the blob cache: nothing but sha256 hex
    EXPECT_THROW(
        manifest_blobs(R"({"config": {"digest": "sha256:../../x", "size": 1}, "layers": []})", "m"),
        Error);
    EXPECT_THROW(
        manifest_blobs(R"({"config": {"digest": "sha256:)" + a + R"(", "size": -1}, "layers": []})",
                       "m"),
        Error);
    EXPECT_THROW(manifest_blobs(R"({"config": {"digest": "sha256:)" + a +
                                    R"(", "size": 1}, "layers": [{"digest": "sha256:)" + b +
                                    R"(", "size": 1, "urls": ["http://x"]}]})",
                                "m"),
                 Error);
    EXPECT_THROW(manifest_blobs("{}", "m"), Error);
    EXPECT_THROW(manifest_blobs("not json", "m"), Error);
}

} // namespace
} // namespace husk::image
