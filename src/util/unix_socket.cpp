#include "util/unix_socket.hpp"

#include "util/error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace husk::unix_socket {

namespace {

sockaddr_un address(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) {
        throw Error("socket path " + path + " is longer than " +
                    std::to_string(sizeof a.sun_path - 1) + " bytes");
    }
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

Fd new_socket() {
    Fd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!fd) {
        throw_errno("cannot create a unix socket");
    }
    return fd;
}

} // namespace

Fd listen_at(const std::string& path) {
    const sockaddr_un a = address(path);
    Fd fd = new_socket();
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        throw_errno("cannot bind a socket at " + path);
    }
    if (::listen(fd.get(), 128) != 0) {
        throw_errno("cannot listen on " + path);
    }
    return fd;
}

Fd connect_to(const std::string& path) {
    const sockaddr_un a = address(path);
    Fd fd = new_socket();
    while (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        if (errno == EINTR) {
            continue;
        }
        if (errno == ENOENT || errno == ECONNREFUSED) {
            return Fd();
        }
        throw_errno("cannot connect to " + path);
    }
    return fd;
}

Fd accept_one(int listener) {
    Fd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        throw_errno("cannot accept a connection");
    }
    return fd;
}

uid_t peer_uid(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        throw_errno("cannot get the credentials of a socket's peer");
    }
    return cred.uid;
}

void send(int fd, const std::string& text, const std::vector<int>& fds, const std::string& what) {
    if (text.size() > kMaxMessage || fds.size() > kMaxFds) {
        throw Error("message to " + what + " too large");
    }
    iovec iov{const_cast<char*>(text.data()), text.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
    if (!fds.empty()) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    while (::sendmsg(fd, &msg, MSG_NOSIGNAL) < 0) {
        if (errno != EINTR) {
            throw_errno("cannot send to " + what);
        }
    }
}

Message receive(int fd, const std::string& what, bool* closed) {
    Message m;
    // The message's own length (SOCK_SEQPACKET, MSG_TRUNC), so that a short
    // one does not cost a zeroed 64 KiB buffer.
    ssize_t length;
    while ((length = ::recv(fd, nullptr, 0, MSG_PEEK | MSG_TRUNC)) < 0) {
        if (errno != EINTR) {
            throw_errno("cannot receive from " + what);
        }
    }
    m.text.resize(std::min(static_cast<size_t>(length), kMaxMessage) + 1);
    iovec iov{m.text.data(), m.text.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    while ((n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC)) < 0) {
        if (errno != EINTR) {
            throw_errno("cannot receive from " + what);
        }
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; ++i) {
                int one = -1;
                std::memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof one);
                m.fds.emplace_back(one);
            }
        }
    }
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
        throw Error("a message from " + what + " was cut short");
    }
    m.text.resize(static_cast<size_t>(n));
    if (closed != nullptr) {
        *closed = n == 0 && m.fds.empty();
    }
    return m;
}

} // namespace husk::unix_socket
