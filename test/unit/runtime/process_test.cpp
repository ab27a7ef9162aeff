#include "runtime/process.hpp"

#include <gtest/gtest.h>

namespace husk::runtime {
namespace {

TEST(ExecCandidates, SlashMeansNoSearch) {
    EXPECT_EQ(exec_candidates("./run.sh", "/a:/b"), (std::vector<std::string>{"./run.sh"}));
    EXPECT_EQ(exec_candidates("/bin/ls", "/a"), (std::vector<std::string>{"/bin/ls"}));
}

TEST(ExecCandidates, SearchesPathInOrderEmptyIsCwd) {
    EXPECT_EQ(exec_candidates("ls", "/a::/b"),
              (std::vector<std::string>{"/a/ls", "./ls", "/b/ls"}));
    EXPECT_EQ(exec_candidates("ls", ""), (std::vector<std::string>{"/usr/bin/ls", "/bin/ls"}));
}

// run_command needs no namespace: these run real processes as the test user.
const std::vector<std::string> kEnv = {"PATH=/usr/bin:/bin"};

TEST(RunCommand, ExitStatusIsTheCommands) {
    EXPECT_EQ(run_command({"true"}, kEnv), 0);
    EXPECT_EQ(run_command({"sh", "-c", "exit 42"}, kEnv), 42);
}

TEST(RunCommand, SignalDeathIs128PlusN) {
    EXPECT_EQ(run_command({"sh", "-c", "kill -TERM $$"}, kEnv), 128 + 15);
    EXPECT_EQ(run_command({"sh", "-c", "kill -KILL $$"}, kEnv), 128 + 9);
}

TEST(RunCommand, NotFoundAndNotExecutable) {
    EXPECT_EQ(run_command({"husk-no-such-command"}, kEnv), exit_code::kNotFound);
    EXPECT_EQ(run_command({"/husk/no/such/file"}, kEnv), exit_code::kNotFound);
    EXPECT_EQ(run_command({"/etc/passwd"}, kEnv), exit_code::kCannotExecute);
}

TEST(RunCommand, EnvironmentIsExactlyTheGivenOne) {
    EXPECT_EQ(run_command({"sh", "-c", "test \"$ONLY\" = yes && test -z \"$HOME\""},
                          {"PATH=/usr/bin:/bin", "ONLY=yes"}),
              0);
}

TEST(RunCommand, UsesThePathOfTheGivenEnvironment) {
    EXPECT_EQ(run_command({"true"}, {"PATH=/husk-nowhere"}), exit_code::kNotFound);
}

} // namespace
} // namespace husk::runtime
