// The in-process FUSE server for SquashFS images.
#pragma once

#include "util/fd.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace husk::runtime {

/// Serves a SquashFS image over FUSE with a multithreaded libfuse3 session
/// loop (fuse_session_loop_mt), in the image's server process (see
/// image_server.hpp).
///
/// Threads: libsquashfuse is not thread-safe (see image::Squashfs), so each
/// worker thread lazily opens its own reader over the shared image
/// descriptor; FUSE node ids are the image's inode ids (the root is 1), so no
/// table of inodes is shared either, and lookup counts need no bookkeeping.
/// The image is read-only, so the kernel is told to cache entries,
/// attributes, symlinks, directory listings and pages for as long as the
/// mount lives.
///
/// Lifetime: the mount lives in the server's private mount namespace (and
/// the containers' copies of it) and goes away with the last of them. The
/// server runs until its process exits: its threads block in read(2) on
/// /dev/fuse. If the process dies, the kernel aborts the connection, so a
/// reader gets an error, never a wait that cannot be interrupted.
class FuseServer {
  public:
    /// @param image  the SquashFS file, open read-only; owned from now on.
    /// @param name   the image's path, for messages.
    /// @throws husk::Error if the image is not a readable SquashFS image.
    FuseServer(Fd image, std::string name);
    ~FuseServer();
    FuseServer(const FuseServer&) = delete;
    FuseServer& operator=(const FuseServer&) = delete;

    /// Mounts the image read-only (nosuid, nodev) on `target`, a directory
    /// path in the calling process's mount namespace, through `dev`, an open
    /// /dev/fuse (owned from now on), and starts serving. `uid`/`gid` are
    /// the caller's ids in its user namespace (fuse(4) user_id, group_id).
    /// @throws husk::Error naming the step that failed.
    void mount_and_serve(Fd dev, const std::string& target, uint32_t uid, uint32_t gid);

    /// Sets up the watchdog that mount_and_serve() starts: it looks at the
    /// workers every 250 ms, and when one request has used more than
    /// `cpu_limit_s` seconds of its thread's CPU time since it first saw it
    /// (a loop in libsquashfuse on a crafted image; waiting on storage costs
    /// none), it writes one line saying which to `report_fd` (owned from
    /// now on), waits 2 s for the process to act on it, then ends the
    /// process itself (_exit 1): the kernel aborts the FUSE connection, so
    /// every waiting reader gets an error instead of an unkillable wait.
    /// The workers only bump a counter per request. 0: no watchdog.
    void watch(uint32_t cpu_limit_s, int report_fd);

    /// Where to append one line for each request that meets a corrupt part
    /// of the image (and answers EIO), the first kMaxWarnings of them: `fd`
    /// (not owned; must stay open), which the server's clients read.
    void warn_to(int fd);
    /// Corrupt reads reported at most, per server.
    static constexpr int kMaxWarnings = 5;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The libfuse this build links, "libfuse 3.14" (fuse_version(3)).
std::string fuse_library_version();

/// Opens /dev/fuse (at `path` in the caller's mount namespace) for a FUSE
/// mount.
/// @throws husk::Error with a hint when it cannot (mode 0600 is common on
///         hardened hosts; Debian ships 0666).
Fd open_fuse_device(const std::string& path = "/dev/fuse");

} // namespace husk::runtime
