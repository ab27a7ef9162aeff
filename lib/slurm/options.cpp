#include "options.hpp"

#include "util/error.hpp"
#include "util/text.hpp"

namespace husk::slurm {

bool parse_bool(std::string_view text, std::string_view what) {
    if (text == "1" || text == "yes" || text == "true") {
        return true;
    }
    if (text == "0" || text == "no" || text == "false") {
        return false;
    }
    throw Error(std::string(what) + ": not a boolean (1|0|yes|no|true|false)");
}

std::vector<BindSpec> parse_mounts(std::string_view list, std::string_view what) {
    std::vector<BindSpec> out;
    for (const auto item : text::split(list, ',')) {
        const std::string shown = std::string(what) + ": " + std::string(item);
        if (item.empty()) {
            throw Error(shown + ": an empty item");
        }
        const auto fields = text::split(item, ':');
        if (fields.size() > 3) {
            throw Error(shown + ": expected SRC[:DST[:FLAGS]]");
        }
        BindSpec b;
        b.source = std::string(fields[0]);
        b.target = fields.size() > 1 ? std::string(fields[1]) : b.source;
        if (b.source.empty() || b.target.empty()) {
            throw Error(shown + ": an empty path");
        }
        if (b.target[0] != '/') {
            throw Error(shown + ": the destination must be an absolute path in the container");
        }
        if (fields.size() == 3) {
            for (const auto flag : text::split(fields[2], '+')) {
                if (flag == "ro") {
                    b.read_only = true;
                } else if (flag == "rw") {
                    b.read_only = false;
                } else if (flag != "bind" && flag != "rbind") {
                    throw Error(shown + ": unknown flag '" + std::string(flag) +
                                "' (known: ro, rw, bind, rbind)");
                }
            }
        }
        out.push_back(std::move(b));
    }
    return out;
}

PluginArgs parse_plugin_args(const std::vector<std::string>& args) {
    PluginArgs a;
    for (const auto& arg : args) {
        const std::string shown = "plugstack.conf: " + text::one_line(arg);
        const size_t eq = arg.find('=');
        if (eq == std::string::npos) {
            throw Error(shown + ": expected KEY=VALUE");
        }
        const std::string key = arg.substr(0, eq);
        const std::string value = arg.substr(eq + 1);
        if (key == "runtime_dir") {
            if (value.empty() || value[0] != '/') {
                throw Error(shown + ": must be an absolute path");
            }
            a.runtime_dir = value;
        } else if (key == "mounts") {
            a.mounts = parse_mounts(value, shown);
        } else if (key == "sbatch_support") {
            a.sbatch_support = parse_bool(value, shown);
        } else if (key == "remap_root") {
            a.remap_root = parse_bool(value, shown);
        } else if (key == "mount_home") {
            a.mount_home = parse_bool(value, shown);
        } else if (key == "linger") {
            uint64_t n = 0;
            if (value.empty() || value.size() > 6 ||
                value.find_first_not_of("0123456789") != std::string::npos) {
                throw Error(shown + ": not a number of seconds");
            }
            n = std::stoull(value);
            a.linger = static_cast<uint32_t>(n);
        } else if (key == "gpu") {
            if (value == "auto") {
                a.gpu = GpuPolicy::Auto;
            } else if (value == "nvidia") {
                a.gpu = GpuPolicy::Nvidia;
            } else if (value == "amd") {
                a.gpu = GpuPolicy::Amd;
            } else if (value == "none") {
                a.gpu = GpuPolicy::None;
            } else {
                throw Error(shown + ": not a GPU policy (auto, nvidia, amd, none)");
            }
        } else {
            throw Error(shown + ": unknown argument (known: runtime_dir, mounts, sbatch_support, "
                                "remap_root, mount_home, linger, gpu)");
        }
    }
    return a;
}

std::optional<std::string>
task_gpu(GpuPolicy policy, const std::function<std::optional<std::string>(const char*)>& getenv,
         const std::function<std::optional<host::gpu::Vendor>()>& node) {
    std::optional<host::gpu::Vendor> wanted; // nullopt: whichever the node has
    switch (policy) {
    case GpuPolicy::Auto: {
        // The step's GPUs, else the batch step's (the job's): what
        // --gpu's selection reads first after NVIDIA_VISIBLE_DEVICES.
        std::optional<std::string> gpus;
        for (const char* var : {"SLURM_STEP_GPUS", "SLURM_JOB_GPUS"}) {
            if ((gpus = getenv(var))) {
                break;
            }
        }
        if (!gpus || gpus->empty() || *gpus == "none" || *gpus == "void") {
            return std::nullopt;
        }
        break;
    }
    case GpuPolicy::Nvidia:
        wanted = host::gpu::Vendor::Nvidia;
        break;
    case GpuPolicy::Amd:
        wanted = host::gpu::Vendor::Amd;
        break;
    case GpuPolicy::None:
        return std::nullopt;
    }
    const auto has = node();
    if (!has || (wanted && *has != *wanted)) {
        return std::nullopt;
    }
    return *has == host::gpu::Vendor::Nvidia ? "nvidia" : "amd";
}

ContainerName parse_container_name(std::string_view text) {
    const std::string shown = "--container-name=" + text::one_line(text);
    ContainerName n;
    std::string_view name = text;
    const size_t colon = text.rfind(':');
    if (colon != std::string_view::npos) {
        const std::string_view mode = text.substr(colon + 1);
        name = text.substr(0, colon);
        if (mode == "create") {
            n.mode = NameMode::Create;
        } else if (mode == "exec") {
            n.mode = NameMode::Exec;
        } else if (mode == "auto") {
            n.mode = NameMode::Auto;
        } else {
            throw Error(shown + ": unknown mode '" + text::one_line(mode) +
                        "' (known: create, exec, auto)");
        }
    }
    if (name.empty() || name.size() > 64 || name[0] == '.' ||
        name.find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
            std::string_view::npos) {
        throw Error(shown + ": a name is 1 to 64 of A-Z a-z 0-9 . _ - and does not start with '.'");
    }
    n.name = std::string(name);
    return n;
}

void apply_environment(ContainerOptions& o,
                       const std::function<std::optional<std::string>(const char*)>& getenv) {
    const auto text = [&](std::optional<std::string>& field, const char* var) {
        if (!field) {
            if (auto v = getenv(var); v && !v->empty()) {
                field = *v;
            }
        }
    };
    const auto flag = [&](std::optional<bool>& field, const char* var) {
        if (!field) {
            if (auto v = getenv(var); v && !v->empty()) {
                field = parse_bool(*v, std::string(var) + "=" + text::one_line(*v));
            }
        }
    };
    text(o.image, "HUSK_CONTAINER_IMAGE");
    text(o.mounts, "HUSK_CONTAINER_MOUNTS");
    text(o.workdir, "HUSK_CONTAINER_WORKDIR");
    text(o.env, "HUSK_CONTAINER_ENV");
    text(o.name, "HUSK_CONTAINER_NAME");
    flag(o.writable, "HUSK_CONTAINER_WRITABLE");
    flag(o.remap_root, "HUSK_CONTAINER_REMAP_ROOT");
    flag(o.mount_home, "HUSK_CONTAINER_MOUNT_HOME");
    flag(o.entrypoint, "HUSK_CONTAINER_ENTRYPOINT");
}

namespace {

std::vector<std::string> env_names(std::string_view list) {
    std::vector<std::string> out;
    for (const auto name : text::split(list, ',')) {
        if (name.empty() || name.find_first_of("=\n") != std::string_view::npos) {
            throw Error("--container-env=" + text::one_line(list) +
                        ": expected NAME[,NAME...], names without '='");
        }
        out.emplace_back(name);
    }
    return out;
}

} // namespace

void validate(const ContainerOptions& o, const PluginArgs& /*args*/) {
    if (o.name) {
        (void)parse_container_name(*o.name);
    }
    if (o.mounts) {
        (void)parse_mounts(*o.mounts, "--container-mounts");
    }
    if (o.workdir && (o.workdir->empty() || (*o.workdir)[0] != '/')) {
        throw Error("--container-workdir=" + text::one_line(*o.workdir) +
                    ": must be an absolute path in the container");
    }
    if (o.env) {
        (void)env_names(*o.env);
    }
    if (o.image && o.image->empty()) {
        throw Error("--container-image: an empty image");
    }
    if (o.entrypoint.value_or(false)) {
        throw Error("--container-entrypoint: the plugin runs the task's own command, which "
                    "Slurm executes; run the image's entrypoint with `srun husk run IMAGE`");
    }
}

runtime::RunOptions run_options(const ContainerOptions& o, const PluginArgs& args,
                                const std::vector<std::string>& argv, const NamedState& named,
                                const std::string& overlay_dir) {
    validate(o, args);
    runtime::RunOptions r;
    if (o.name) {
        const ContainerName n = parse_container_name(*o.name);
        const std::string shown = "--container-name=" + n.name;
        if (n.mode == NameMode::Create && named.exists && !named.this_step) {
            throw Error(shown + ":create: an earlier step of this job made it on this node");
        }
        if (n.mode == NameMode::Exec && !named.exists) {
            throw Error(shown + ":exec: no earlier step of this job made it on this node");
        }
        if (named.exists && !named.image.empty() && o.image && *o.image != named.image) {
            throw Error(shown + ": made from " + named.image + ", not " + *o.image +
                        "; give the same --container-image, or none");
        }
        r.image = named.exists && !named.image.empty() ? named.image : o.image.value_or("");
        if (r.image.empty()) {
            throw Error(shown + ": no container of that name on this node; give "
                                "--container-image to make it");
        }
        r.overlay_dir = overlay_dir;
    } else {
        r.image = *o.image;
    }
    r.command = argv;
    if (r.command.empty()) {
        throw Error("the task has no command");
    }
    r.binds = args.mounts;
    r.binds_option = "--container-mounts";
    // A mount point the image lacks (a --container-mounts destination, the
    // batch script's path) is made in the mount-point layer of a read-only
    // root, where enroot makes it in its copy: the image is never written,
    // and the root stays read-only.
    r.bind_mount_points = true;
    if (o.mounts) {
        const auto more = parse_mounts(*o.mounts, "--container-mounts");
        r.binds.insert(r.binds.end(), more.begin(), more.end());
    }
    if (o.workdir) {
        r.cwd = *o.workdir;
    }
    if (o.env) {
        r.env = env_names(*o.env); // NAME alone: the value of the job's environment
    }
    r.fake_root = o.remap_root.value_or(args.remap_root);
    r.no_home = !o.mount_home.value_or(args.mount_home);
    // A named container keeps what its steps wrote, in its overlay folder,
    // once one step asked for a writable root.
    const bool writable = o.writable.value_or(false) || !r.overlay_dir.empty();
    if (writable) {
        r.root_mode = runtime::RootMode::Overlay;
    } else {
        r.overlay_dir.clear();
    }
    r.join = runtime::JoinMode::Always;
    r.linger = args.linger;
    return r;
}

} // namespace husk::slurm
