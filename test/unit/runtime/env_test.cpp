#include "runtime/env.hpp"
#include "util/error.hpp"

#include <gtest/gtest.h>

namespace husk::runtime {
namespace {

std::optional<std::string> get(const std::vector<std::string>& env, const std::string& key) {
    return Environment(env).get(key);
}

TEST(Environment, SetReplacesInPlaceAndKeepsOrder) {
    Environment e({"A=1", "B=2", "C=3"});
    e.set("B", "two");
    e.set("D", "4");
    EXPECT_EQ(e.entries(), (std::vector<std::string>{"A=1", "B=two", "C=3", "D=4"}));
    EXPECT_FALSE(e.set_entry("NOEQ"));
    EXPECT_FALSE(e.set_entry("=x"));
    EXPECT_EQ(*e.get("C"), "3");
    EXPECT_FALSE(e.get("Z"));
}

TEST(Environment, ValueMayContainEquals) {
    Environment e({"OPTS=a=b=c"});
    EXPECT_EQ(*e.get("OPTS"), "a=b=c");
}

TEST(Environment, EnvValueAgreesWithEnvironment) {
    const std::vector<std::string> entries = {"A=1", "AB=2", "B", "A=3=4", "C=", "=5"};
    const Environment env(entries);
    for (const char* key : {"A", "AB", "B", "C", "D"}) {
        const auto v = env_value(entries, key);
        EXPECT_EQ(v ? std::optional<std::string>(*v) : std::nullopt, env.get(key)) << key;
    }
    EXPECT_EQ(env_value(entries, "A"), "3=4");
}

// env_value() of a temporary does not compile: its view would dangle.
template <typename V> constexpr bool kEnvValueTakes = requires(V&& v) {
    env_value(std::forward<V>(v), "A");
};
static_assert(kEnvValueTakes<std::vector<std::string>&>);
static_assert(kEnvValueTakes<const std::vector<std::string>&>);
static_assert(!kEnvValueTakes<std::vector<std::string>>);

TEST(Environment, UnsetMatchingUsesGlobs) {
    Environment e({"SLURM_JOB_ID=1", "SLURM_NTASKS=2", "SLURMX=3", "OTHER=4"});
    e.unset_matching("SLURM_*");
    EXPECT_EQ(e.entries(), (std::vector<std::string>{"SLURMX=3", "OTHER=4"}));
    e.unset_matching("OTHE?");
    EXPECT_EQ(e.entries(), (std::vector<std::string>{"SLURMX=3"}));
}

TEST(EnvFile, DockerFormat) {
    auto s = parse_env_file({"f.env", "# comment\n\nA=1\r\n  B=with space \nC\nD=\nE='q'\n"});
    ASSERT_EQ(s.size(), 5u);
    EXPECT_EQ(s[0].key, "A");
    EXPECT_EQ(*s[0].value, "1");
    EXPECT_EQ(*s[1].value, "with space ");
    EXPECT_EQ(s[2].key, "C");
    EXPECT_FALSE(s[2].value);
    EXPECT_EQ(*s[3].value, "");
    EXPECT_EQ(*s[4].value, "'q'"); // literal, as docker does
}

TEST(EnvFile, BadLineNamesFileAndLine) {
    try {
        parse_env_file({"job.env", "A=1\n=nokey\n"});
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "job.env:2: \"=nokey\" is not KEY=VALUE");
    }
    EXPECT_THROW(parse_env_file({"job.env", "BAD KEY=1\n"}), Error);
}

EnvInputs base() {
    EnvInputs in;
    in.host = {"HOME=/home/me",  "FOO=host",       "BAR=host", "PATH=/opt/bin:/usr/bin:/bin",
               "SLURM_JOB_ID=7", "SLURM_NTASKS=2", "KEEP=host"};
    in.home = "/home/me";
    return in;
}

TEST(AssembleEnv, HostPassesThrough) {
    auto env = assemble_env(base());
    EXPECT_EQ(*get(env, "FOO"), "host");
    EXPECT_EQ(*get(env, "SLURM_JOB_ID"), "7");
    EXPECT_EQ(*get(env, "PATH"), "/opt/bin:/usr/bin:/bin");
}

TEST(AssembleEnv, LaterStepsWin) {
    auto in = base();
    in.image = {"FOO=image", "BAR=image", "IMG=1"};
    in.files = {{"a.env", "FOO=file\nKEEP\n"}};
    in.cli = {"FOO=cli"};
    auto env = assemble_env(in);
    EXPECT_EQ(*get(env, "FOO"), "cli");
    EXPECT_EQ(*get(env, "BAR"), "image");
    EXPECT_EQ(*get(env, "IMG"), "1");
    EXPECT_EQ(*get(env, "KEEP"), "host");

    in.cli.clear();
    EXPECT_EQ(*get(assemble_env(in), "FOO"), "file");
}

TEST(AssembleEnv, EnvFilesApplyInOrder) {
    auto in = base();
    in.files = {{"a.env", "X=a\n"}, {"b.env", "X=b\n"}};
    EXPECT_EQ(*get(assemble_env(in), "X"), "b");
}

TEST(AssembleEnv, CliKeyAloneCopiesTheHostsValue) {
    auto in = base();
    in.image = {"BAR=image"};
    in.cli = {"BAR", "NOT_ON_HOST"};
    auto env = assemble_env(in);
    EXPECT_EQ(*get(env, "BAR"), "host");
    EXPECT_FALSE(get(env, "NOT_ON_HOST"));
}

TEST(AssembleEnv, UnsetComesLast) {
    auto in = base();
    in.cli = {"SLURM_EXTRA=1"};
    in.unset = {"SLURM_*"};
    auto env = assemble_env(in);
    EXPECT_FALSE(get(env, "SLURM_JOB_ID"));
    EXPECT_FALSE(get(env, "SLURM_NTASKS"));
    EXPECT_FALSE(get(env, "SLURM_EXTRA"));
    EXPECT_EQ(*get(env, "FOO"), "host");
}

TEST(AssembleEnv, HomeAndSanePath) {
    auto in = base();
    in.host = {"HOME=/elsewhere"};
    in.home = "/home/me";
    auto env = assemble_env(in);
    EXPECT_EQ(*get(env, "HOME"), "/home/me");
    EXPECT_EQ(*get(env, "PATH"), std::string(kDefaultPath));

    in.image = {"PATH=/opt/conda/bin"};
    EXPECT_EQ(*get(assemble_env(in), "PATH"), "/opt/conda/bin:/usr/bin:/bin");
}

TEST(AssembleEnv, MalformedCliEntry) {
    auto in = base();
    in.cli = {"=x"};
    EXPECT_THROW(assemble_env(in), Error);
}

} // namespace
} // namespace husk::runtime
