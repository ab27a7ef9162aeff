#include "util/error.hpp"
#include "util/unix_socket.hpp"

#include "../support/temp_tree.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::unix_socket {
namespace {

TEST(UnixSocket, MessagesKeepTheirBoundariesAndCarryDescriptors) {
    test::TempTree t;
    const std::string path = (t / "s.sock").string();
    Fd listener = listen_at(path);
    Fd client = connect_to(path);
    ASSERT_TRUE(client);
    Fd server = accept_one(listener.get());
    ASSERT_TRUE(server);
    EXPECT_EQ(peer_uid(server.get()), ::getuid());

    t.write("f", "x");
    Fd file(::open((t / "f").c_str(), O_RDONLY | O_CLOEXEC));
    send(client.get(), "first", {file.get()}, "the server");
    send(client.get(), "second", {}, "the server");
    Message m = receive(server.get(), "the client");
    EXPECT_EQ(m.text, "first");
    ASSERT_EQ(m.fds.size(), 1u);
    struct stat a {
    }, b{};
    ASSERT_EQ(::fstat(file.get(), &a), 0);
    ASSERT_EQ(::fstat(m.fds[0].get(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_NE(::fcntl(m.fds[0].get(), F_GETFD) & FD_CLOEXEC, 0);
    m = receive(server.get(), "the client");
    EXPECT_EQ(m.text, "second");
    EXPECT_TRUE(m.fds.empty());

    client.reset();
    bool closed = false;
    m = receive(server.get(), "the client", &closed);
    EXPECT_TRUE(closed);
}

TEST(UnixSocket, NobodyListeningIsAnEmptyDescriptor) {
    test::TempTree t;
    EXPECT_FALSE(connect_to((t / "none.sock").string()));
    { Fd gone = listen_at((t / "gone.sock").string()); } // closed: the file stays, nobody listens
    EXPECT_FALSE(connect_to((t / "gone.sock").string()));
    EXPECT_THROW(listen_at(std::string(200, 'x')), Error);
}

} // namespace
} // namespace husk::unix_socket
