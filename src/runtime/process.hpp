// The user's command: start it, forward signals, return its status.
#pragma once

#include <csignal>
#include <string>
#include <sys/types.h>
#include <vector>

namespace husk::runtime {

/// Exit statuses of `husk run`, shared with the tests (docker run's and
/// podman run's convention).
namespace exit_code {
inline constexpr int kHuskFailed = 125;    ///< husk itself failed
inline constexpr int kCannotExecute = 126; ///< found but not executable
inline constexpr int kNotFound = 127;      ///< not found in PATH
inline constexpr int kSignalBase = 128;    ///< + N when the command died of signal N
} // namespace exit_code

/// The signals husk passes on to the command: what Slurm, mpirun and a
/// terminal send to stop, hang up or notify a job.
inline constexpr int kForwardedSignals[] = {1 /*HUP*/,   2 /*INT*/,   3 /*QUIT*/,
                                            10 /*USR1*/, 12 /*USR2*/, 15 /*TERM*/};

/// Blocks kForwardedSignals and SIGCHLD in the calling thread for its
/// lifetime, so that run_command() takes them with sigwaitinfo(2). Create it
/// before starting any thread (the FUSE server's inherit the mask), so no
/// thread but the waiting one ever receives them.
/// @throws husk::Error if sigprocmask fails.
class BlockedSignals {
  public:
    BlockedSignals();
    ~BlockedSignals();
    BlockedSignals(const BlockedSignals&) = delete;
    BlockedSignals& operator=(const BlockedSignals&) = delete;

    const sigset_t& blocked() const noexcept { return set_; }
    /// The mask before, which the command gets back.
    const sigset_t& previous() const noexcept { return old_; }

  private:
    sigset_t set_;
    sigset_t old_;
};

/// Where argv[0] is looked for, in order: argv[0] itself when it contains a
/// '/', else each directory of `path` (an empty element is the current
/// directory, as execvp(3) does). `path` empty: "/usr/bin:/bin".
std::vector<std::string> exec_candidates(const std::string& argv0, const std::string& path);

/// How run_command() starts and watches the command.
struct CommandOptions {
    /// The command starts in a PID namespace that the caller is not in
    /// (after unshare or setns of CLONE_NEWPID), where its parent's pid
    /// reads as 0.
    bool new_pid_ns = false;
    /// A descriptor whose end (POLLHUP, or readable at end of file) means
    /// the container is gone (its holder or its image server died): the
    /// command is killed then. -1: none.
    int watch_fd = -1;
    /// What `watch_fd` is, for the error ("the holder of the container").
    std::string watch_what;
};

/// Starts the command with `env` (KEY=VALUE) in the current directory and
/// waits for it while forwarding kForwardedSignals to it. `signals` must be
/// alive and constructed in this thread. The child gets
/// PR_SET_PDEATHSIG(SIGKILL), so it dies if husk is killed. Every descriptor
/// husk opened is O_CLOEXEC; inherited ones (stdin/out/err, a PMI fd) pass.
/// Other children of the caller are neither reaped nor waited for.
///
/// @returns the command's exit status, 128+N if it died of signal N, 126 if
///          it could not be executed, 127 if it was not found.
/// @throws husk::Error when the command cannot be started or waited for, or
///         when `watch_fd` ended (after killing and reaping the command).
int run_command(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                const BlockedSignals& signals, const CommandOptions& options = {});

/// Waits for `child`, a child of the caller already started, as
/// run_command() does: forwards kForwardedSignals to it (not those the
/// kernel sent for the terminal, which reached it already) and watches
/// `options.watch_fd`. `signals` must be alive and constructed in this
/// thread before the child was started.
/// @returns its exit status (exit_status_of()).
/// @throws husk::Error when it cannot be waited for, or when `watch_fd`
///         ended (after killing and reaping the child).
int wait_command(pid_t child, const BlockedSignals& signals, const CommandOptions& options = {});

/// The exit status of a wait(2) status: the code, 128+N for signal N.
int exit_status_of(int wait_status);

} // namespace husk::runtime
