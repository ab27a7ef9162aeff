#include "runtime/rendezvous.hpp"
#include "util/unix_socket.hpp"

#include "../support/temp_tree.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <thread>

namespace husk::runtime {
namespace {

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

TEST(RuntimeDir, RemovesTheSocketOfAServerThatIsGone) {
    test::TempTree t;
    const RuntimeDir dir(t.root().string());
    { Fd listener = unix_socket::listen_at(dir.socket("s.sock")); }
    ASSERT_TRUE(exists(dir.socket("s.sock")));
    dir.remove_if_stale("s.sock");
    EXPECT_FALSE(exists(dir.socket("s.sock")));
    dir.remove_if_stale("missing.sock"); // nothing there: nothing happens
}

TEST(RuntimeDir, KeepsTheSocketOfALiveServer) {
    test::TempTree t;
    const RuntimeDir dir(t.root().string());
    Fd listener = unix_socket::listen_at(dir.socket("s.sock"));
    // A live server accepts and waits for the client's first message.
    std::thread server([&] {
        Fd c = unix_socket::accept_one(listener.get());
        if (c) {
            unix_socket::receive(c.get(), "a client");
        }
    });
    dir.remove_if_stale("s.sock");
    EXPECT_TRUE(exists(dir.socket("s.sock")));
    server.join();
}

TEST(RuntimeDir, RemovesTheSocketOfAListenerThatEndsRightAfterTakingAConnection) {
    // The race of a killed server: the listener still takes the
    // connection (it sits in the backlog), then the kernel releases it.
    test::TempTree t;
    const RuntimeDir dir(t.root().string());
    Fd listener = unix_socket::listen_at(dir.socket("s.sock"));
    std::thread dying([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        listener.reset();
    });
    dir.remove_if_stale("s.sock");
    dying.join();
    EXPECT_FALSE(exists(dir.socket("s.sock")));
}

} // namespace
} // namespace husk::runtime
