#include "runtime/plan.hpp"

#include "util/error.hpp"

#include <algorithm>

namespace husk::runtime {

namespace {

std::vector<MountOp> plan_mounts(const RunOptions& opts, const HostFacts& host,
                                 const config::Settings& settings,
                                 const host::ContainerEdits& edits) {
    std::vector<MountOp> m;
    // A procfs of the container's PID namespace; the host's /sys and /dev,
    // recursively: MPI, PMIx and GPU drivers need the host's devices and
    // sysfs (hwloc reads /sys for the topology).
    m.push_back({MountKind::Proc, "/proc", "/proc", false, OnMissing::Warn, "/proc"});
    for (const char* dir : {"/sys", "/dev"}) {
        m.push_back({MountKind::Bind, dir, dir, false, OnMissing::Warn, dir});
    }
    // The host's /tmp by default: Open MPI's and PMIx's session directories
    // and sockets live there and are shared with ranks outside the container.
    if (opts.private_tmp) {
        m.push_back({MountKind::Tmpfs, "", "/tmp", false, OnMissing::Warn, "--private-tmp"});
    } else {
        m.push_back({MountKind::Bind, "/tmp", "/tmp", false, OnMissing::Warn, "/tmp"});
    }
    if (!opts.no_home && !host.home.empty() && host.home != "/") {
        m.push_back({MountKind::Bind, host.home, host.home, false, OnMissing::TmpfsParent,
                     "home " + host.home});
    }
    for (const char* file : {"/etc/hosts", "/etc/resolv.conf"}) {
        m.push_back({MountKind::Bind, file, file, true, OnMissing::Quiet, file});
    }
    m.push_back({MountKind::Passwd, "", "/etc/passwd", true, OnMissing::Quiet, "/etc/passwd"});
    m.push_back({MountKind::Group, "", "/etc/group", true, OnMissing::Quiet, "/etc/group"});
    const auto& site = settings.binds.value;
    for (size_t i = 0; i < site.size() && i < host.site_bind_srcs.size(); ++i) {
        if (!host.site_bind_srcs[i].empty()) {
            m.push_back({MountKind::Bind, host.site_bind_srcs[i], site[i].target, site[i].read_only,
                         OnMissing::Warn,
                         "site bind " + site[i].source + " (" + settings.binds.from + ")"});
        }
    }
    // The process manager's rendezvous folders, where no bind above shows
    // them at the same path already (the host's /tmp usually does).
    for (const auto& dir : host.launcher_dirs) {
        const bool visible = std::any_of(m.begin(), m.end(), [&](const MountOp& op) {
            return op.kind == MountKind::Bind && op.source == op.target &&
                   (dir == op.source || dir.rfind(op.source + "/", 0) == 0);
        });
        if (!visible) {
            m.push_back({MountKind::Bind, dir, dir, false, OnMissing::TmpfsParent,
                         "launcher folder " + dir});
        }
    }
    for (const auto& e : edits.mounts) {
        m.push_back(
            {MountKind::Bind, e.host_path, e.container_path, e.read_only, OnMissing::Fail, e.what});
    }
    for (size_t i = 0; i < opts.binds.size(); ++i) {
        const BindSpec& b = opts.binds[i];
        std::string shown = "-b " + b.source + ":" + b.target + (b.read_only ? ":ro" : "");
        if (b.target.empty() || b.target[0] != '/') {
            throw Error(shown + ": the destination must be an absolute path");
        }
        if (b.target.find_first_not_of('/') == std::string::npos) {
            throw Error(shown + ": cannot bind over the container's root");
        }
        std::string source = i < host.bind_srcs.size() ? host.bind_srcs[i] : b.source;
        m.push_back({MountKind::Bind, source, b.target, b.read_only, OnMissing::Fail, shown});
    }
    return m;
}

} // namespace

LaunchPlan plan(const RunOptions& opts, const image::Image& image, const HostFacts& host,
                const config::Settings& settings, const host::ContainerEdits& edits) {
    if (image.kind != image::Kind::Directory && image.kind != image::Kind::Squashfs) {
        throw Error("image " + image.path + ": only directory and SquashFS images can be run");
    }
    if (image.kind == image::Kind::Squashfs && opts.root_mode == RootMode::Writable) {
        throw Error("-w: SquashFS image " + image.path +
                    " is read-only; use --overlay for a writable layer that vanishes at exit");
    }
    LaunchPlan p;
    p.image_kind = image.kind;
    p.ids = compute_id_maps(host.uid, host.gid, opts.uid, opts.gid, opts.fake_root);
    p.image_path = image.path;
    p.root_mode = opts.root_mode;
    if (edits.needs_new_paths && p.root_mode == RootMode::ReadOnly) {
        p.root_mode = RootMode::Overlay; // mount points without writing the image
    }
    p.mounts = plan_mounts(opts, host, settings, edits);
    p.legacy_mounts = settings.legacy_mounts.value;

    const bool root_inside = p.ids.uid.inside == 0;
    p.account.uid = p.ids.uid.inside;
    p.account.gid = p.ids.gid.inside;
    p.account.name = root_inside ? "root" : host.user;
    p.account.group_name = p.ids.gid.inside == 0 ? "root" : host.group;
    p.account.gecos = host.gecos;
    if (opts.no_home || host.home.empty()) {
        p.account.home = root_inside ? "/root" : "/";
    } else {
        p.account.home = host.home;
    }
    p.account.shell = "/bin/sh";

    EnvInputs in;
    in.host = host.environ;
    if (image.config) {
        in.image = image.config->env;
    }
    in.image.insert(in.image.end(), edits.env.begin(), edits.env.end());
    in.home = p.account.home;
    in.files = host.env_files;
    in.cli = opts.env;
    in.unset = opts.unset_env;
    p.env = assemble_env(in);
    if (!edits.ld_library_path.empty()) {
        Environment env(p.env);
        std::string value;
        for (const auto& d : edits.ld_library_path) {
            value += (value.empty() ? "" : ":") + d;
        }
        if (auto old = env.get("LD_LIBRARY_PATH"); old && !old->empty()) {
            value += ":" + *old;
        }
        env.set("LD_LIBRARY_PATH", value);
        p.env = env.entries();
    }

    if (!opts.command.empty()) {
        p.argv = opts.command;
    } else if (image.config) {
        p.argv = image.config->entrypoint;
        p.argv.insert(p.argv.end(), image.config->cmd.begin(), image.config->cmd.end());
    }
    if (p.argv.empty()) {
        throw Error("no command given, and image " + image.path +
                    " has no entrypoint or cmd in its config");
    }
    if (p.argv[0].empty()) {
        throw Error("the command name is empty");
    }

    if (image.config && !image.config->working_dir.empty()) {
        p.cwd_fallback = image.config->working_dir;
    }
    if (opts.cwd) {
        if (opts.cwd->empty() || (*opts.cwd)[0] != '/') {
            throw Error("--cd " + *opts.cwd + ": must be an absolute path in the container");
        }
        p.cwd = *opts.cwd;
        p.cwd_required = true;
    } else {
        p.cwd = host.cwd.empty() ? p.cwd_fallback : host.cwd;
    }
    return p;
}

} // namespace husk::runtime
