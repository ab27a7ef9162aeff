#include "runtime/process.hpp"
#include "util/error.hpp"

#include <chrono>
#include <cstdlib>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

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
    EXPECT_EQ(run_command({"true"}, kEnv, BlockedSignals()), 0);
    EXPECT_EQ(run_command({"sh", "-c", "exit 42"}, kEnv, BlockedSignals()), 42);
}

TEST(RunCommand, SignalDeathIs128PlusN) {
    EXPECT_EQ(run_command({"sh", "-c", "kill -TERM $$"}, kEnv, BlockedSignals()), 128 + 15);
    EXPECT_EQ(run_command({"sh", "-c", "kill -KILL $$"}, kEnv, BlockedSignals()), 128 + 9);
}

TEST(RunCommand, NotFoundAndNotExecutable) {
    EXPECT_EQ(run_command({"husk-no-such-command"}, kEnv, BlockedSignals()), exit_code::kNotFound);
    EXPECT_EQ(run_command({"/husk/no/such/file"}, kEnv, BlockedSignals()), exit_code::kNotFound);
    EXPECT_EQ(run_command({"/etc/passwd"}, kEnv, BlockedSignals()), exit_code::kCannotExecute);
}

TEST(RunCommand, EnvironmentIsExactlyTheGivenOne) {
    EXPECT_EQ(run_command({"sh", "-c", "test \"$ONLY\" = yes && test -z \"$HOME\""},
                          {"PATH=/usr/bin:/bin", "ONLY=yes"}, BlockedSignals()),
              0);
}

TEST(RunCommand, UsesThePathOfTheGivenEnvironment) {
    EXPECT_EQ(run_command({"true"}, {"PATH=/husk-nowhere"}, BlockedSignals()),
              exit_code::kNotFound);
}

TEST(RunCommand, TheEndOfTheWatchedDescriptorKillsTheCommand) {
    // The watched descriptor stands for the container's holder or image
    // server: when it ends, the command must not run on over a dead mount.
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
    std::thread closer([fd = pair[1]] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        ::close(fd);
    });
    BlockedSignals signals;
    try {
        run_command({"sleep", "30"}, kEnv, signals, {false, pair[0], "the holder"});
        ADD_FAILURE() << "run_command returned";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "the holder ended while the command ran; it was killed");
    }
    closer.join();
    ::close(pair[0]);
}

TEST(RunCommand, ReturnsWithTheCommandNotItsBackgroundProcesses) {
    char tmpl[] = "/tmp/husk-unit-wait.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string marker = std::string(tmpl) + "/done";
    const std::string script = "(sleep 1; echo late > " + marker + ") 2>/dev/null & exit 0";
    EXPECT_EQ(run_command({"sh", "-c", script}, kEnv, BlockedSignals()), 0);
    EXPECT_NE(::access(marker.c_str(), F_OK), 0);
    // Leave the sleeper to finish on its own: its write fails, quietly, in
    // the folder removed here.
    ::rmdir(tmpl);
}

} // namespace
} // namespace husk::runtime
