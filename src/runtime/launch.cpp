#include "runtime/launch.hpp"

#include "image/image.hpp"
#include "image/store.hpp"
#include "runtime/fuse_server.hpp"
#include "runtime/mounts.hpp"
#include "runtime/process.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::runtime {

void enter_namespaces(const IdMaps& ids) {
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
        int err = errno;
        std::string hint;
        if (err == EPERM || err == ENOSPC || err == EINVAL) {
            hint = "; unprivileged user namespaces may be disabled here "
                   "(see user.max_user_namespaces, kernel.unprivileged_userns_clone, "
                   "kernel.apparmor_restrict_unprivileged_userns; run husk check)";
        }
        throw Error("cannot create a user and mount namespace" + hint, err);
    }
    write_id_maps(ids);
}

namespace {

/// Enters the plan's directory, or its fallback; returns the one entered.
std::string enter_cwd(const LaunchPlan& p) {
    if (::chdir(p.cwd.c_str()) == 0) {
        return p.cwd;
    }
    if (p.cwd_required) {
        throw_errno("--cd " + p.cwd + ": cannot enter it in the container");
    }
    log::info("starting in " + p.cwd_fallback + ": " + p.cwd + " does not exist in the container");
    if (::chdir(p.cwd_fallback.c_str()) == 0) {
        return p.cwd_fallback;
    }
    if (::chdir("/") != 0) {
        throw_errno("cannot enter / in the container");
    }
    return "/";
}

} // namespace

int launch(const LaunchPlan& p, FuseServer* server) {
    const bool squashfs = p.image_kind == image::Kind::Squashfs;
    // Before any thread starts, so that only this one takes the signals.
    BlockedSignals signals;
    {
        log::Phase ph("namespaces");
        enter_namespaces(p.ids);
    }
    // Inside the new user namespace: the kernel accepts a FUSE mount only
    // through a /dev/fuse opened by a process of the mount's namespace
    // (fuse_fill_super() compares the file's credentials).
    Fd fuse_dev;
    if (squashfs) {
        fuse_dev = open_fuse_device();
    }
    build_root(p, server, std::move(fuse_dev));
    // no_new_privs: nothing the command executes can gain privileges
    // (prctl(2), Documentation/userspace-api/no_new_privs.rst).
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        throw_errno("cannot set no_new_privs");
    }
    // PWD names the directory the command starts in, which only now is
    // known (the host's may not exist in the image).
    Environment env(p.env);
    env.set("PWD", enter_cwd(p));
    // A FUSE-served image must outlive every process that may read it.
    return run_command(p.argv, env.entries(), signals, squashfs ? WaitFor::All : WaitFor::Command);
}

int run(const RunOptions& opts, const config::Settings& settings) {
    const image::Store store = image::Store::from(settings);
    image::Image img;
    {
        log::Phase ph("resolve image");
        img = store.resolve(opts.image);
    }
    if (img.kind == image::Kind::Tar || img.kind == image::Kind::OciLayout) {
        // A tarball is unpacked once into the cache and run from there.
        if (opts.root_mode == RootMode::Writable) {
            throw Error("-w: " + img.path +
                        " is an archive, run from a cached copy; use --overlay for a writable "
                        "layer, or unpack it into a directory of yours");
        }
        log::Phase ph("unpack into the cache");
        img = image::resolve(store.unpack_cached(img.path));
    }
    LaunchPlan p;
    {
        log::Phase ph("plan");
        p = plan(opts, img, gather_host_facts(opts, settings), settings);
    }
    std::unique_ptr<FuseServer> server;
    if (img.kind == image::Kind::Squashfs) {
        log::Phase ph("open SquashFS");
        Fd fd(::open(img.path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) {
            throw_errno("image " + img.path + ": cannot open");
        }
        server = std::make_unique<FuseServer>(std::move(fd), img.path);
    }
    return launch(p, server.get());
}

} // namespace husk::runtime
