// gather_host_facts(): the only I/O that plan() depends on.
#include "runtime/plan.hpp"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/log.hpp"
#include "util/nss.hpp"
#include "util/path.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

extern char** environ;

namespace husk::runtime {

using path::canonical;

HostFacts gather_host_facts(const RunOptions& opts, const config::Settings& settings,
                            const config::Identity& who) {
    HostFacts h;
    h.uid = who.uid;
    h.gid = ::getgid();

    // The passwd entry was looked up once (NSS may ask LDAP or sssd on a
    // cluster); a missing entry is not an error, the user just gets a
    // synthetic name.
    h.user = who.known ? who.user : "uid" + std::to_string(h.uid);
    h.gecos = who.gecos;
    const std::string& pw_home = who.home;
    h.group = nss::group_name(h.gid).value_or("gid" + std::to_string(h.gid));

    const char* home = std::getenv("HOME");
    std::string home_raw = home != nullptr && home[0] == '/' ? home : pw_home;
    // HOME as the user knows it (often a symlink into a parallel filesystem):
    // it is bound at that path, and the executor follows the host's symlinks
    // to find what to bind.
    if (!home_raw.empty() && ::access(home_raw.c_str(), F_OK) == 0) {
        h.home = home_raw;
    }

    // The current directory by the name the shell uses ($PWD) when that still
    // names it, as getcwd(1) does; the canonical path otherwise.
    h.cwd = canonical(".");
    const char* pwd = std::getenv("PWD");
    if (pwd != nullptr && pwd[0] == '/') {
        struct stat a {
        }, b{};
        if (::stat(pwd, &a) == 0 && ::stat(".", &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            h.cwd = pwd;
        }
    }

    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        h.environ.emplace_back(*e);
    }
    for (const auto& f : opts.env_files) {
        try {
            h.env_files.push_back({f, file::read(f)});
        } catch (Error& e) {
            throw e.add_context("reading --env-file " + f);
        }
    }
    for (const auto& b : opts.binds) {
        char* real = ::realpath(b.source.c_str(), nullptr);
        if (real == nullptr) {
            throw_errno(opts.binds_option + " " + b.source + ": bind source");
        }
        h.binds.push_back(b);
        h.binds.back().resolved = real;
        std::free(real);
    }
    for (const char* var : {"PMIX_SERVER_TMPDIR", "PMIX_SYSTEM_TMPDIR"}) {
        const char* v = std::getenv(var);
        if (v != nullptr && v[0] == '/') {
            std::string dir = canonical(v);
            if (!dir.empty()) {
                h.launcher_dirs.push_back(dir);
            }
        }
    }
    if (std::string munge = canonical("/run/munge"); !munge.empty()) {
        h.launcher_dirs.push_back(munge);
    }
    for (const auto& b : settings.binds.value) {
        h.site_binds.push_back(b);
        h.site_binds.back().resolved = canonical(b.source);
        if (h.site_binds.back().resolved.empty()) {
            log::info("site bind " + b.source + " (" + settings.binds.from +
                      "): not on this node, skipped");
        }
    }
    return h;
}

} // namespace husk::runtime
