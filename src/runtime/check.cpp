#include "runtime/check.hpp"

#include "runtime/idmap.hpp"
#include "runtime/launch.hpp"
#include "runtime/mount_attrs.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <linux/mount.h>
#include <sched.h>
#include <sstream>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace husk::runtime {

namespace {

std::string read_first_line(const char* path) {
    Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return {};
    }
    char buf[128] = {};
    ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    std::string s(buf, n > 0 ? static_cast<size_t>(n) : 0);
    return s.substr(0, s.find('\n'));
}

void must(int rc, const std::string& what) {
    if (rc != 0) {
        throw_errno(what);
    }
}

struct Step {
    const char* name;
    bool required;
    std::function<std::string()> run; ///< returns a detail, throws on failure
};

/// The steps run in the child, in order; each may rely on the previous ones.
std::vector<Step> namespace_steps(const std::string& scratch) {
    const uint32_t uid = ::getuid();
    const uint32_t gid = ::getgid();
    return {
        {"user namespace with id maps", true,
         [=] {
             must(::unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)");
             write_id_maps(compute_id_maps(uid, gid, std::nullopt, std::nullopt, false));
             return "uid " + std::to_string(uid) + " and gid " + std::to_string(gid) +
                    " mapped to themselves";
         }},
        {"mount namespace", true,
         [] {
             must(::unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)");
             must(::mount("none", "/", nullptr, MS_REC | MS_SLAVE, nullptr),
                  "make / a recursive slave");
             return std::string("private mount table");
         }},
        {"tmpfs", true,
         [=] {
             must(::mount("tmpfs", scratch.c_str(), "tmpfs", 0, "mode=0755"),
                  "mount tmpfs on " + scratch);
             for (const char* d : {"/new", "/up", "/work", "/old", "/fuse"}) {
                 must(::mkdir((scratch + d).c_str(), 0755), "mkdir");
             }
             return std::string("mounted on ") + scratch;
         }},
        {"recursive bind mount", true,
         [=] {
             must(::mount("/usr", (scratch + "/new").c_str(), nullptr, MS_BIND | MS_REC, nullptr),
                  "bind /usr");
             return std::string("/usr bound");
         }},
        {"read-only bind (mount_setattr)", true,
         [=] {
             Fd fd(::open((scratch + "/new").c_str(), O_PATH | O_CLOEXEC));
             make_read_only(fd.get(), "the bind of /usr");
             must(::umount2((scratch + "/new").c_str(), MNT_DETACH), "umount");
             return std::string("recursive ro,nosuid,nodev");
         }},
        {"detached bind (open_tree, move_mount)", false,
         [=] {
             Fd usr(::open("/usr", O_PATH | O_DIRECTORY | O_CLOEXEC));
             Fd at(::open((scratch + "/new").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
             if (!usr || !at) {
                 throw_errno("open /usr and the scratch folder");
             }
             if (!bind_detached(usr.get(), at.get(),
                                MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)) {
                 throw Error("not in this kernel (before 5.12): binds use mount(2) and a remount");
             }
             must(::umount2((scratch + "/new").c_str(), MNT_DETACH), "umount");
             return std::string("/usr bound read-only before it was attached");
         }},
        {"overlayfs in a user namespace (--overlay)", false,
         [=] {
             std::string opts =
                 "lowerdir=/usr,upperdir=" + scratch + "/up,workdir=" + scratch + "/work,userxattr";
             must(::mount("overlay", (scratch + "/new").c_str(), "overlay", 0, opts.c_str()),
                  "mount overlay");
             must(::umount2((scratch + "/new").c_str(), MNT_DETACH), "umount");
             return std::string("tmpfs upper, userxattr");
         }},
        {"FUSE mount in a user namespace (SquashFS images)", false,
         [=] {
             Fd fd(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
             if (!fd) {
                 throw_errno("open /dev/fuse");
             }
             // user_id/group_id must be mapped in this namespace: our own.
             std::string opts = "fd=" + std::to_string(fd.get()) +
                                ",rootmode=40000,user_id=" + std::to_string(::getuid()) +
                                ",group_id=" + std::to_string(::getgid());
             must(::mount("husk-check", (scratch + "/fuse").c_str(), "fuse", MS_NOSUID | MS_NODEV,
                          opts.c_str()),
                  "mount fuse");
             must(::umount2((scratch + "/fuse").c_str(), MNT_DETACH), "umount fuse");
             return std::string("/dev/fuse opened and mounted");
         }},
        {"pivot_root", true,
         [=] {
             must(::chdir(scratch.c_str()), "chdir");
             must(static_cast<int>(::syscall(SYS_pivot_root, ".", "old")), "pivot_root");
             must(::umount2("/old", MNT_DETACH), "detach old root");
             return std::string("into a tmpfs, old root detached");
         }},
    };
}

/// Runs the namespace steps in a child, which reports "ok|detail" or
/// "fail|detail" per step on a pipe.
std::vector<CheckResult> run_namespace_steps() {
    auto steps = namespace_steps("/tmp");
    std::vector<CheckResult> results;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        results.push_back({"namespace checks", false, true, std::strerror(errno)});
        return results;
    }
    Fd rd(fds[0]), wr(fds[1]);
    pid_t pid = ::fork();
    if (pid == 0) {
        rd.reset();
        bool failed_required = false;
        for (auto& s : steps) {
            std::string line;
            if (failed_required) {
                line = "skip|needs the steps above\n";
            } else {
                try {
                    line = "ok|" + s.run() + "\n";
                } catch (const std::exception& e) {
                    line = std::string("fail|") + e.what() + "\n";
                    failed_required = s.required;
                }
            }
            if (::write(wr.get(), line.data(), line.size()) < 0) {
                ::_exit(2);
            }
        }
        ::_exit(0);
    }
    wr.reset();
    std::string all;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(rd.get(), buf, sizeof buf)) > 0) {
        all.append(buf, static_cast<size_t>(n));
    }
    if (pid > 0) {
        int status;
        ::waitpid(pid, &status, 0);
    }
    std::istringstream in(all);
    for (auto& s : steps) {
        std::string line;
        CheckResult r{s.name, false, s.required, "no answer from the check process"};
        if (std::getline(in, line)) {
            auto bar = line.find('|');
            r.ok = line.substr(0, bar) == "ok";
            r.detail = line.substr(bar + 1);
        }
        results.push_back(r);
    }
    return results;
}

} // namespace

std::vector<CheckResult> check_host() {
    std::vector<CheckResult> results;
    {
        std::string max = read_first_line("/proc/sys/user/max_user_namespaces");
        CheckResult r{"user.max_user_namespaces", !max.empty() && max != "0", true,
                      max.empty() ? "unknown" : max};
        std::string clone = read_first_line("/proc/sys/kernel/unprivileged_userns_clone");
        if (!clone.empty()) {
            r.detail += ", kernel.unprivileged_userns_clone = " + clone;
            r.ok = r.ok && clone != "0";
        }
        results.push_back(r);
    }
    auto ns = run_namespace_steps();
    results.insert(results.end(), ns.begin(), ns.end());
    return results;
}

int print_check(const std::vector<CheckResult>& results, std::ostream& out) {
    int rc = 0;
    for (const auto& r : results) {
        const char* tag = r.ok ? "ok  " : (r.required ? "FAIL" : "no  ");
        if (!r.ok && r.detail.rfind("needs the steps above", 0) == 0) {
            tag = "skip";
        }
        out << "  " << tag << "  " << r.name << ": " << r.detail << "\n";
        if (!r.ok && r.required) {
            rc = 1;
        }
    }
    out << (rc == 0 ? "husk can run containers on this host\n"
                    : "husk cannot run containers on this host (see FAIL above)\n");
    return rc;
}

} // namespace husk::runtime
