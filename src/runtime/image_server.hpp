// One SquashFS server per image file, per user, per node, shared by every
// container of that image: one FUSE mount, one page cache.
#pragma once

#include "runtime/rendezvous.hpp"
#include "util/fd.hpp"

#include <cstdint>
#include <string>

namespace husk::runtime {

/// Where the server's mount namespace keeps the image and the host's root.
inline constexpr const char* kServedImage = "/img";
inline constexpr const char* kServedHost = "/host";

/// A lease on the server of one image. While `connection` is open the
/// server keeps serving; when the last lease of a server closes, the server
/// waits its linger time and ends.
///
/// The server lives in a user namespace of its own (the caller's uid and
/// gid mapped to themselves) and a mount namespace whose root is a tmpfs
/// holding the image's FUSE mount at kServedImage and the host's root at
/// kServedHost. A container joins both (setns(2)) and then makes its own
/// nested user, mount and PID namespaces: its mount namespace is a copy of
/// the server's, so it shares the FUSE mount (the same superblock, so the
/// same page cache) without a mount of its own. The kernel admits it to the
/// FUSE mount because its user namespace descends from the server's
/// (allow_other) and maps to the same user (fuse(4)).
struct ImageLease {
    std::string name; ///< the server's socket in the runtime folder
    Fd connection;
    Fd userns; ///< the server's user namespace (setns(2) CLONE_NEWUSER)
    Fd mntns;  ///< the server's mount namespace (setns(2) CLONE_NEWNS)
    /// The server's warnings (a memfd it appends lines to: corrupt blocks
    /// met while serving), readable with pread(2) from any offset.
    Fd warnings;
};

/// Connects to the server of the SquashFS file `image_path` (absolute,
/// canonical) for this user on this node, starting one when there is none
/// (under the runtime folder's lock, so concurrent first users start one).
/// A server is one image file as it is now: its path, device, inode, size
/// and mtime; a replaced file gets a server of its own. `linger`: seconds
/// the server stays after its last lease (the longest any client asked).
/// `fuse_cpu_limit`: seconds of CPU one FUSE request may use before the
/// server counts as wedged and stops (0: never; the starting client's
/// value holds). A client whose server stopped reads why on its lease.
/// @throws husk::Error: the image is not a valid SquashFS file (the
///         server's own check), /dev/fuse cannot be opened, the kernel
///         refuses the namespaces or the mount.
ImageLease attach_image_server(const std::string& image_path, const RuntimeDir& dir,
                               uint32_t linger, uint32_t fuse_cpu_limit, int held_lock = -1);

} // namespace husk::runtime
