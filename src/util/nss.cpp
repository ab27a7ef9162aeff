#include "util/nss.hpp"

#include <cerrno>
#include <grp.h>
#include <memory>
#include <pwd.h>

namespace husk::nss {

int with_buffer(const std::function<int(char*, size_t)>& lookup, size_t first, size_t most) {
    size_t size = first > 0 ? first : 1;
    for (;;) {
        // Not zeroed: the call writes what it returns, and a page it never
        // touches is never faulted in.
        const std::unique_ptr<char[]> buf(new char[size]);
        int r = 0;
        do {
            r = lookup(buf.get(), size);
        } while (r == EINTR);
        if (r != ERANGE || size >= most) {
            return r;
        }
        size = size > most / 2 ? most : size * 2;
    }
}

std::optional<User> user_by_uid(uid_t uid) {
    std::optional<User> out;
    (void)with_buffer([&](char* buf, size_t size) {
        struct passwd pw {};
        struct passwd* res = nullptr;
        const int r = ::getpwuid_r(uid, &pw, buf, size, &res);
        if (r == 0 && res != nullptr) {
            out =
                User{pw.pw_name != nullptr ? pw.pw_name : "", pw.pw_dir != nullptr ? pw.pw_dir : "",
                     pw.pw_gecos != nullptr ? pw.pw_gecos : "", pw.pw_uid, pw.pw_gid};
        }
        return r;
    });
    return out;
}

std::optional<std::string> group_name(gid_t gid) {
    std::optional<std::string> out;
    (void)with_buffer([&](char* buf, size_t size) {
        struct group gr {};
        struct group* res = nullptr;
        const int r = ::getgrgid_r(gid, &gr, buf, size, &res);
        if (r == 0 && res != nullptr && gr.gr_name != nullptr) {
            out = gr.gr_name;
        }
        return r;
    });
    return out;
}

} // namespace husk::nss
