// Local sockets between husk processes of one user on one node: the
// rendezvous of joined tasks, their holder and the SquashFS servers.
#pragma once

#include "util/fd.hpp"

#include <string>
#include <sys/types.h>
#include <vector>

namespace husk::unix_socket {

/// The longest message send()/receive() carry, in bytes.
inline constexpr size_t kMaxMessage = 64 * 1024;
/// The most descriptors one message carries.
inline constexpr size_t kMaxFds = 8;

/// Binds a SOCK_SEQPACKET unix(7) socket at `path` (which must not exist)
/// and listens on it. SEQPACKET keeps message boundaries, so a message is
/// one record, never split or merged.
/// @throws husk::Error naming `path` (a path longer than sun_path too).
Fd listen_at(const std::string& path);

/// Connects to the socket at `path`. Returns an empty Fd when nobody
/// listens there (ENOENT, ECONNREFUSED: a server that is gone).
/// @throws husk::Error for any other failure.
Fd connect_to(const std::string& path);

/// accept4(2) with SOCK_CLOEXEC; an empty Fd when none is pending (the
/// listening socket must then be non-blocking) or on EINTR.
/// @throws husk::Error for other failures.
Fd accept_one(int listener);

/// The uid of the process at the other end (SO_PEERCRED, unix(7)).
/// @throws husk::Error if the kernel does not say.
uid_t peer_uid(int fd);

/// Sends `text` and the descriptors `fds` (SCM_RIGHTS; not closed here) as
/// one message. MSG_NOSIGNAL: a peer that is gone is an error, not SIGPIPE.
/// @throws husk::Error naming `what` (the peer, for messages).
void send(int fd, const std::string& text, const std::vector<int>& fds, const std::string& what);

/// One message: its text and the descriptors it carried (owned, O_CLOEXEC).
struct Message {
    std::string text;
    std::vector<Fd> fds;
};

/// Receives one message, retrying on EINTR. An empty text and no
/// descriptors with `closed` set means the peer closed the connection.
/// @throws husk::Error naming `what` for a failed recvmsg(2) or a message
///         cut short (larger than kMaxMessage, or more than kMaxFds).
Message receive(int fd, const std::string& what, bool* closed = nullptr);

} // namespace husk::unix_socket
