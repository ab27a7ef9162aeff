#include "runtime/plan.hpp"

#include "util/error.hpp"

#include <algorithm>

namespace husk::runtime {

namespace {

std::vector<MountOp> plan_mounts(const RunOptions& opts, const HostFacts& host,
                                 const config::Settings& settings,
                                 const host::ContainerEdits& edits) {
    host::BaseInputs base;
    base.private_tmp = opts.private_tmp;
    base.home = opts.no_home ? "" : host.home;
    base.dev = opts.dev;
    std::vector<MountOp> m = host::base_edits(base).mounts;
    for (const auto& b : host.site_binds) {
        if (!b.resolved.empty()) {
            m.push_back(host::bind_edit(
                b, true, "site bind " + b.source + " (" + settings.binds.from + ")"));
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
    for (MountOp op : edits.mounts) {
        op.transient_mount_point = true;
        m.push_back(std::move(op));
    }
    const auto devices = host::device_mounts(edits, opts.dev);
    m.insert(m.end(), devices.begin(), devices.end());
    for (const auto& b : host.binds) {
        m.push_back(host::bind_edit(b, false,
                                    opts.binds_option + " " + b.source + ":" + b.target +
                                        (b.read_only ? ":ro" : "")));
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
    p.overlay_dir = opts.overlay_dir;
    // Mount points without writing the image, and no writable root either.
    p.mount_point_layer =
        (edits.needs_new_paths || (opts.bind_mount_points && !host.binds.empty())) &&
        p.root_mode == RootMode::ReadOnly;
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

    EnvInputs in = env_inputs(opts, image, host);
    in.image.insert(in.image.end(), edits.env.begin(), edits.env.end());
    in.home = p.account.home;
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

EnvInputs env_inputs(const RunOptions& opts, const image::Image& image, const HostFacts& host) {
    EnvInputs in;
    in.host = host.environ;
    if (image.config) {
        in.image = image.config->env;
    }
    in.files = host.env_files;
    in.cli = opts.env;
    in.unset = opts.unset_env;
    return in;
}

} // namespace husk::runtime
