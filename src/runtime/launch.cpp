#include "runtime/launch.hpp"

#include "host/cdi.hpp"
#include "host/gpu.hpp"
#include "host/ldcache.hpp"
#include "host/mpi.hpp"
#include "image/files.hpp"
#include "image/image.hpp"
#include "image/reference.hpp"
#include "image/store.hpp"
#include "runtime/join.hpp"
#include "runtime/process.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <optional>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::runtime {

int launch(const LaunchPlan& p, const NodeContext& node) {
    // Before any process is forked, so that only this one takes the signals.
    BlockedSignals signals;
    // Opened while the host's paths are visible, for tidying up from inside.
    std::optional<RuntimeDir> dir;
    if (p.image_kind == image::Kind::Squashfs) {
        dir.emplace(node.runtime_dir);
    }
    Container container = Container::create(p, node);
    // no_new_privs: nothing the command executes can gain privileges
    // (prctl(2), Documentation/userspace-api/no_new_privs.rst).
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        throw_errno("cannot set no_new_privs");
    }
    // PWD names the directory the command starts in, which only now is
    // known (the host's may not exist in the image).
    Environment env(p.env);
    env.set("PWD", enter_cwd(p));
    // The image server's warnings of this run: what it appends from now on.
    const int warnings = container.warnings_fd();
    struct stat before {};
    if (warnings >= 0) {
        (void)::fstat(warnings, &before);
    }
    const auto show_warnings = [&] {
        struct stat now {};
        if (warnings < 0 || ::fstat(warnings, &now) != 0 || now.st_size <= before.st_size) {
            return;
        }
        std::string text(static_cast<size_t>(std::min<off_t>(now.st_size - before.st_size, 4096)),
                         '\0');
        const ssize_t n = ::pread(warnings, text.data(), text.size(), before.st_size);
        text.resize(n > 0 ? static_cast<size_t>(n) : 0);
        for (const auto line : text::lines(text)) {
            log::warn(text::one_line(line));
        }
    };
    int status = 0;
    try {
        status =
            run_command(p.argv, env.entries(), signals,
                        {true, container.lease_fd(), "the SquashFS server of " + p.image_path});
    } catch (const Error&) {
        show_warnings();
        if (dir) { // a killed server cannot remove its socket
            dir->remove_if_stale(container.lease_name());
        }
        throw;
    }
    // The container ends when its last process does: a background job of
    // the command keeps its image until it is done.
    container.wait_all(signals);
    show_warnings();
    return status;
}

host::HostMpiOptions host_mpi_options(const config::Settings& settings) {
    host::HostMpiOptions o;
    o.libraries = settings.mpi_libraries.value;
    o.policy = host::parse_abi_policy(settings.mpi_abi_policy.value,
                                      "mpi_abi_policy (" + settings.mpi_abi_policy.from + ")");
    return o;
}

std::string host_root(const std::vector<std::string>& environ) {
    const std::string_view v = env_value(environ, "HUSK_HOST_ROOT").value_or("");
    return v.empty() ? "/" : std::string(v);
}

namespace {

/// NVIDIA_DRIVER_CAPABILITIES as assemble_env() will give it to the
/// command, nullopt when unset.
std::optional<std::string> driver_capabilities(const RunOptions& opts, const image::Image& img,
                                               const HostFacts& host) {
    // Held here: env_value()'s view points into it.
    const std::vector<std::string> env = assemble_env(env_inputs(opts, img, host));
    if (const auto v = env_value(env, "NVIDIA_DRIVER_CAPABILITIES")) {
        return std::string(*v);
    }
    return std::nullopt;
}

} // namespace

host::ContainerEdits collect_edits(const RunOptions& opts, const image::Image& img,
                                   const config::Settings& settings, const HostFacts& host) {
    const std::vector<std::string>& environ = host.environ;
    host::ContainerEdits edits;
    std::optional<image::ImageFiles> files;
    auto image_files = [&]() -> image::ImageFiles& {
        if (!files) {
            files.emplace(img);
        }
        return *files;
    };
    // The site's devices, then the command line's.
    std::vector<std::string> devices = settings.devices.value;
    devices.insert(devices.end(), opts.devices.begin(), opts.devices.end());
    if (!devices.empty()) {
        log::Phase ph("host stage: --device");
        const auto registry =
            host::cdi::Registry::load(settings.cdi_spec_dirs.value, /*strict=*/true);
        // A spec names real host paths (husk cdi generate writes them with
        // the host root included): HUSK_HOST_ROOT is not applied to them.
        try {
            edits.append(host::cdi::device_edits(registry, devices, {"/"}));
        } catch (Error& e) {
            if (!settings.devices.value.empty()) {
                throw e.add_context("the site config's devices (" + settings.devices.from + ")");
            }
            throw;
        }
        registry.warn_unreadable();
    }
    if (opts.gpu) {
        log::Phase ph("host stage: --gpu");
        host::gpu::DiscoverOptions o;
        o.host_root = host_root(environ);
        if (auto caps = driver_capabilities(opts, img, host); caps && !caps->empty()) {
            o.capabilities = std::move(*caps);
        }
        const auto vendor = host::gpu::parse_vendor(*opts.gpu, "--gpu");
        edits.append(host::gpu::gpu_edits(vendor, o, environ, &image_files()));
    }
    if (opts.mpi.value_or(settings.mpi.value) == "host") {
        log::Phase ph("host stage: --mpi=host");
        edits.append(host::host_mpi_edits(host_mpi_options(settings), image_files(), img.path));
    }
    if (!edits.ld_library_path.empty()) {
        log::Phase ph("host stage: ld.so.cache");
        host::cache_ld_folders(edits, image_files(), img.path,
                               opts.root_mode == RootMode::Writable);
    }
    // Under the host's /dev (--dev=host) a node can be shown only where the
    // host has one at that path: husk creates nothing there. Said now, with
    // one lstat, not found out by a failed bind in the container.
    if (opts.dev == host::DevMode::Host) {
        auto& nodes = edits.device_nodes;
        nodes.erase(std::remove_if(nodes.begin(), nodes.end(),
                                   [](const host::DeviceNode& n) {
                                       struct stat st {};
                                       if (n.host_path == n.path || n.path.rfind("/dev/", 0) != 0 ||
                                           ::lstat(n.path.c_str(), &st) == 0) {
                                           return false;
                                       }
                                       log::warn("not mounting " + n.what + ": " + n.path +
                                                 " is not in the host's /dev, where husk "
                                                 "creates nothing (--dev=minimal shows it)");
                                       return true;
                                   }),
                    nodes.end());
    }
    for (const auto& n : edits.notes) {
        log::info(n);
    }
    return edits;
}

Prepared prepare(const RunOptions& opts, const config::Settings& settings,
                 const config::Identity& who) {
    const image::Store store = image::Store::from(settings);
    image::Image img;
    if (image::is_registry_reference(opts.image)) {
        // Pulled on first use, into the cache: many ranks pull once.
        log::Phase ph("pull image");
        check_namespaces();
        image::PullOptions o;
        o.progress = log::level() >= log::Level::Normal;
        img = image::resolve(store.pull_cached(image::parse_reference(opts.image), o));
    } else {
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
        // No unpacking where no container can start (user namespaces off).
        check_namespaces();
        log::Phase ph("unpack into the cache");
        img = image::resolve(store.unpack_cached(img.path));
    }
    Prepared out;
    {
        log::Phase ph("plan");
        const HostFacts host = gather_host_facts(opts, settings, who);
        out.plan = plan(opts, img, host, settings, collect_edits(opts, img, settings, host));
        out.join = detect_join(opts, host.environ);
    }
    out.node = NodeContext{settings.runtime_dir.value, opts.linger.value_or(settings.linger.value)};
    out.node.fuse_cpu_limit = settings.fuse_cpu_limit.value;
    return out;
}

int run(const RunOptions& opts, const config::Settings& settings, const config::Identity& who) {
    const Prepared p = prepare(opts, settings, who);
    if (p.join) {
        log::info("joining the container of " + p.join->shown +
                  (p.join->local_tasks > 0
                       ? " (" + std::to_string(p.join->local_tasks) + " tasks on this node)"
                       : ""));
        return run_joined(p.plan, p.node, *p.join);
    }
    return launch(p.plan, p.node);
}

} // namespace husk::runtime
