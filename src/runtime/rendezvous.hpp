// Where husk processes of one user on one node find each other: the
// runtime folder, its lock, and spawning a detached server process.
#pragma once

#include "util/fd.hpp"

#include <functional>
#include <string>

namespace husk::runtime {

/// The per-user runtime folder (config::Settings::runtime_dir), holding the
/// sockets of the SquashFS servers ("sqfs-KEY.sock") and of the holders of
/// joined containers ("join-KEY.sock"). Created mode 0700; must be the
/// caller's own. Nothing else is kept there: a server removes its socket
/// when it ends, and a stale one (its server killed) is removed by the next
/// user that finds nobody listening.
class RuntimeDir {
  public:
    /// @throws husk::Error naming the folder (not a directory, not yours).
    explicit RuntimeDir(std::string path);

    const std::string& path() const noexcept { return path_; }
    /// A socket's path in the folder.
    std::string socket(const std::string& name) const { return path_ + "/" + name; }

    /// Holds flock(2) LOCK_EX on the folder itself (no lock file to leave
    /// behind) while it lives: every connect, spawn and server exit happens
    /// under it, so a client never connects to a server that is leaving,
    /// and one process spawns a server that many want. The lock belongs to
    /// the open file description: a process forked while it is held shares
    /// it, so the holder it spawns works under it until both have let go,
    /// and a process that dies lets go.
    class Lock {
      public:
        explicit Lock(const RuntimeDir& dir);
        int fd() const noexcept { return fd_.get(); }
        /// Unlocks for everyone sharing it (flock LOCK_UN).
        void release() noexcept;

      private:
        Fd fd_;
    };

    /// Removes the socket `name` when nobody listens on it any more (its
    /// server was killed), under the lock. A listener that still takes a
    /// connection but ends it within kStaleWaitMs (it is being released)
    /// counts as gone; a live server is waited for that long. Works from
    /// any mount namespace (through the folder's descriptor), so from
    /// inside a container too. Never throws: it tidies up.
    void remove_if_stale(const std::string& name) const noexcept;

    /// How long remove_if_stale() waits for a listener that accepted a
    /// connection to show that it is dying, in milliseconds.
    static constexpr int kStaleWaitMs = 500;

  private:
    std::string path_;
    Fd fd_; ///< the folder, opened when the host's paths were visible
};

/// What a spawned server reports to its spawner: "ok", or an error line.
inline constexpr const char* kReady = "ok";

/// For a server (a holder, a SquashFS server) about to leave its socket in
/// the runtime folder `dir_fd`: takes the folder's flock(2) without
/// waiting, and checks that no client is waiting on `listener`. True:
/// nobody can connect any more (clients connect under the lock, which is
/// now held until this process exits): remove the socket and exit. False:
/// a client holds the lock or is connecting (the lock is let go): look
/// again soon.
bool ready_to_leave(int dir_fd, int listener);

/// Starts `serve` in a new process that is no child of the caller (fork,
/// setsid, fork), with standard input, output and error on /dev/null and no
/// descriptor of the caller but those in `keep` (so it holds no pipe of a
/// job's output open). `serve` gets the write end of a pipe on which it must
/// write kReady once it serves, or one error line; it never returns.
/// Waits for that word.
/// @throws husk::Error with the server's error line, or "<what> ended
///         before it was ready" when it died first.
void spawn_server(const std::string& what, const std::vector<int>& keep,
                  const std::function<void(int ready_fd)>& serve);

/// Tells the spawner of a server that it is ready (`error` empty) or why it
/// failed, on the descriptor spawn_server() gave it, and closes it.
void report_ready(int ready_fd, const std::string& error = "");

} // namespace husk::runtime
