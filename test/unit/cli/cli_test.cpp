#include "cli/cli.hpp"
#include "util/error.hpp"

#include <gtest/gtest.h>
#include <sstream>

namespace husk::cli {
namespace {

using runtime::RootMode;

struct Result {
    Parsed parsed;
    std::string out;
    std::string err;
};

Result parse_args(std::vector<std::string> args) {
    std::ostringstream out, err;
    Result r{parse(args, out, err), "", ""};
    r.out = out.str();
    r.err = err.str();
    return r;
}

TEST(ParseRun, OptionsImageAndCommand) {
    auto r = parse_args({"run",
                         "-b",
                         "/scratch/me:/data",
                         "-c",
                         "/data",
                         "-e",
                         "A=1",
                         "-e",
                         "B",
                         "--unset-env",
                         "SLURM_*",
                         "--env-file",
                         "x.env",
                         "-w",
                         "--no-home",
                         "--private-tmp",
                         "./debian",
                         "--",
                         "./analysis.sh",
                         "-v"});
    ASSERT_FALSE(r.parsed.exit_now) << r.err;
    const auto& o = r.parsed.run;
    EXPECT_EQ(r.parsed.command, Command::Run);
    EXPECT_EQ(o.image, "./debian");
    EXPECT_EQ(o.command, (std::vector<std::string>{"./analysis.sh", "-v"}));
    EXPECT_EQ(o.binds, (std::vector<BindSpec>{{"/scratch/me", "/data", false}}));
    EXPECT_EQ(*o.cwd, "/data");
    EXPECT_EQ(o.env, (std::vector<std::string>{"A=1", "B"}));
    EXPECT_EQ(o.unset_env, (std::vector<std::string>{"SLURM_*"}));
    EXPECT_EQ(o.env_files, (std::vector<std::string>{"x.env"}));
    EXPECT_EQ(o.root_mode, RootMode::Writable);
    EXPECT_TRUE(o.no_home);
    EXPECT_TRUE(o.private_tmp);
    EXPECT_EQ(r.parsed.verbosity, 0); // the -v after IMAGE is the command's
}

TEST(ParseRun, OptionsStopAtTheImageWithoutDoubleDash) {
    auto r = parse_args({"run", "--fake-root", "img", "grep", "-e", "x", "--overlay", "f"});
    ASSERT_FALSE(r.parsed.exit_now) << r.err;
    EXPECT_EQ(r.parsed.run.image, "img");
    EXPECT_EQ(r.parsed.run.command,
              (std::vector<std::string>{"grep", "-e", "x", "--overlay", "f"}));
    EXPECT_TRUE(r.parsed.run.env.empty());
    EXPECT_TRUE(r.parsed.run.fake_root);
    EXPECT_EQ(r.parsed.run.root_mode, RootMode::ReadOnly);
}

TEST(ParseRun, AttachedValuesAndGlobalVerbosity) {
    auto r = parse_args(
        {"-v", "run", "--bind=/a:/b:ro", "-v", "--overlay", "--uid", "5", "--gid=6", "img", "id"});
    ASSERT_FALSE(r.parsed.exit_now) << r.err;
    EXPECT_EQ(r.parsed.verbosity, 2);
    EXPECT_EQ(r.parsed.run.binds, (std::vector<BindSpec>{{"/a", "/b", true}}));
    EXPECT_EQ(r.parsed.run.root_mode, RootMode::Overlay);
    EXPECT_EQ(*r.parsed.run.uid, 5u);
    EXPECT_EQ(*r.parsed.run.gid, 6u);
    EXPECT_EQ(r.parsed.run.command, (std::vector<std::string>{"id"}));
}

TEST(ParseRun, ClustersAttachedValuesAndTagsAsCli11TakesThem) {
    // Only the options named are defined: the words must still mean what
    // they mean with all of them.
    auto r = parse_args({"run", "-vq", "-b/a:/b", "--join=t1", "-cDIR", "img", "-w", "x"});
    ASSERT_FALSE(r.parsed.exit_now) << r.err;
    EXPECT_EQ(r.parsed.verbosity, 1);
    EXPECT_TRUE(r.parsed.quiet);
    EXPECT_EQ(r.parsed.run.binds, (std::vector<BindSpec>{{"/a", "/b", false}}));
    EXPECT_EQ(r.parsed.run.join, runtime::JoinMode::Always);
    EXPECT_EQ(r.parsed.run.join_tag, "t1");
    EXPECT_EQ(*r.parsed.run.cwd, "DIR");
    EXPECT_EQ(r.parsed.run.image, "img");
    EXPECT_EQ(r.parsed.run.command, (std::vector<std::string>{"-w", "x"}));
    EXPECT_EQ(r.parsed.run.root_mode, RootMode::ReadOnly);
    // a value that looks like an option is the option's value
    r = parse_args({"run", "-e", "--overlay", "img"});
    ASSERT_FALSE(r.parsed.exit_now) << r.err;
    EXPECT_EQ(r.parsed.run.env, (std::vector<std::string>{"--overlay"}));
    EXPECT_EQ(r.parsed.run.root_mode, RootMode::ReadOnly);
    // excluding options still exclude each other
    r = parse_args({"run", "--join", "--no-join", "img"});
    ASSERT_TRUE(r.parsed.exit_now);
    EXPECT_NE(r.err.find("excludes"), std::string::npos) << r.err;
}

TEST(ParseRun, NoCommandUsesTheImages) {
    auto r = parse_args({"run", "img"});
    ASSERT_FALSE(r.parsed.exit_now) << r.err;
    EXPECT_TRUE(r.parsed.run.command.empty());
}

TEST(ParseRun, UsageErrorsExit125WithOneLine) {
    for (auto args :
         std::vector<std::vector<std::string>>{{"run"},
                                               {"run", "-w", "--overlay", "img", "true"},
                                               {"run", "--uid", "abc", "img", "true"},
                                               {"run", "--uid", "-1", "img", "true"},
                                               {"run", "-b", "/a:/b:bogus", "img", "true"},
                                               {"run", "--no-such-option", "img"},
                                               {"frobnicate"},
                                               {}}) {
        auto r = parse_args(args);
        ASSERT_TRUE(r.parsed.exit_now);
        EXPECT_EQ(*r.parsed.exit_now, 125);
        EXPECT_EQ(r.err.rfind("husk: error: ", 0), 0u) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
}

TEST(Parse, HelpAndVersion) {
    auto r = parse_args({"run", "--help"});
    ASSERT_TRUE(r.parsed.exit_now);
    EXPECT_EQ(*r.parsed.exit_now, 0);
    EXPECT_NE(r.out.find("--overlay"), std::string::npos);
    EXPECT_NE(r.out.find("--bind"), std::string::npos);

    r = parse_args({"--version"});
    EXPECT_EQ(*r.parsed.exit_now, 0);
    EXPECT_EQ(r.out, version_text());
    EXPECT_EQ(r.out.rfind(version_string() + "\nimages:", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("\nSquashFS:  "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("zstd"), std::string::npos) << r.out;

    r = parse_args({"check"});
    EXPECT_FALSE(r.parsed.exit_now);
    EXPECT_EQ(r.parsed.command, Command::Check);
}

TEST(Parse, StoreCommands) {
    auto r = parse_args({"import", "--format", "squashfs", "img.tar.gz", "app"});
    ASSERT_FALSE(r.parsed.exit_now) << r.err;
    EXPECT_EQ(r.parsed.command, Command::Import);
    EXPECT_EQ(r.parsed.source, "img.tar.gz");
    EXPECT_EQ(r.parsed.name, "app");
    EXPECT_EQ(r.parsed.format, "squashfs");
    EXPECT_EQ(*parse_args({"import", "--format", "qcow2", "a", "b"}).parsed.exit_now, 125);
    r = parse_args({"images", "--json"});
    EXPECT_EQ(r.parsed.command, Command::Images);
    EXPECT_TRUE(r.parsed.json);
    r = parse_args({"rm", "app"});
    EXPECT_EQ(r.parsed.command, Command::Rm);
    EXPECT_EQ(r.parsed.name, "app");
    r = parse_args({"inspect", "app"});
    EXPECT_EQ(r.parsed.command, Command::Inspect);
    EXPECT_EQ(*parse_args({"rm"}).parsed.exit_now, 125);
    r = parse_args({"convert", "--format", "tar", "a.sqfs", "out"});
    EXPECT_EQ(r.parsed.command, Command::Convert);
    EXPECT_EQ(r.parsed.dest, "out");
    EXPECT_EQ(r.parsed.format, "tar");
}

} // namespace
} // namespace husk::cli
