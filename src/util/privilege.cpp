#include "util/privilege.hpp"

#include "util/error.hpp"

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace husk::privilege {

void refuse_elevated() {
    // The ids first: they need no system call that could fail, and a
    // setuid-root start is the case that matters most.
    if (::getuid() != ::geteuid() || ::getgid() != ::getegid()) {
        throw Error("husk runs with effective ids different from the real ones (installed "
                    "setuid or setgid?); it must run without privileges: chmod u-s,g-s it");
    }
    struct stat st {};
    if (::stat("/proc/self/exe", &st) != 0) {
        throw_errno("cannot stat /proc/self/exe");
    }
    if ((st.st_mode & (S_ISUID | S_ISGID)) != 0) {
        throw Error("husk is installed setuid or setgid; it must run without privileges "
                    "(chmod u-s,g-s it)");
    }
    if (::getxattr("/proc/self/exe", "security.capability", nullptr, 0) >= 0) {
        throw Error("husk carries file capabilities; it must run without privileges "
                    "(setcap -r it)");
    }
}

} // namespace husk::privilege
