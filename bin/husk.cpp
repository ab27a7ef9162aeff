// husk: the command-line program. Parse, call the library, map errors to
// exit codes; nothing else lives here.
#include "cli/cli.hpp"
#include "cli/print.hpp"
#include "host/cdi.hpp"
#include "host/gpu.hpp"
#include "host/mpi.hpp"
#include "image/files.hpp"
#include "image/reference.hpp"
#include "image/registry.hpp"
#include "image/store.hpp"
#include "runtime/check.hpp"
#include "runtime/launch.hpp"
#include "runtime/process.hpp"
#include "util/config.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/privilege.hpp"

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

extern char** environ;

namespace {

using namespace husk;

int print_error(const std::exception& e) {
    std::fprintf(stderr, "husk: error: %s\n", e.what());
    if (const auto* he = dynamic_cast<const Error*>(&e);
        he != nullptr && log::level() >= log::Level::Verbose) {
        for (const auto& c : he->trail()) {
            std::fprintf(stderr, "husk:   %s\n", c.c_str());
        }
    }
    return runtime::exit_code::kHuskFailed;
}

image::Format store_format(const std::string& name) {
    return name == "squashfs" ? image::Format::Squashfs
           : name == "tar"    ? image::Format::Tar
                              : image::Format::Dir;
}

/// `husk check`: the kernel steps, the settings as one more step, then the
/// effective settings and where each came from.
int check(const config::Settings* settings, const std::string& settings_error,
          const std::string& mpi_image = "") {
    auto results = runtime::check_host();
    runtime::CheckResult site{"settings", settings != nullptr, true, settings_error};
    if (settings != nullptr) {
        site.detail = settings->site_config +
                      (settings->site_config_read ? " read" : " not present: built-in defaults");
    }
    results.push_back(site);
    int rc = runtime::print_check(results, std::cout);
    if (settings != nullptr) {
        cli::print_settings(config::describe(*settings), std::cout);
    }
    if (!mpi_image.empty() && settings != nullptr) {
        try {
            const image::Image img = image::Store::from(*settings).resolve(mpi_image);
            image::ImageFiles files(img);
            std::vector<std::string> env;
            for (char** e = environ; *e != nullptr; ++e) {
                env.emplace_back(*e);
            }
            std::cout << "MPI (" << img.path << "):\n";
            for (const auto& line :
                 host::describe_mpi(runtime::host_mpi_options(*settings), files, img.path, env)) {
                std::cout << "  " << line << "\n";
            }
        } catch (const Error& e) {
            std::cout << "MPI: " << e.what() << "\n";
            rc = 1;
        }
    }
    return rc;
}

/// `husk cdi list` and `husk cdi generate`.
int cdi(const cli::Parsed& p, const config::Settings& settings) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        env.emplace_back(*e);
    }
    if (!p.cdi_generate) {
        cli::print_cdi_devices(
            host::cdi::Registry::load(settings.cdi_spec_dirs.value, /*strict=*/false), p.json,
            std::cout);
        return 0;
    }
    host::gpu::DiscoverOptions o;
    o.host_root = runtime::host_root(env);
    o.capabilities = "all";
    const auto vendor = host::gpu::parse_vendor(p.run.gpu.value_or("nvidia"), "--gpu");
    const auto spec = vendor == host::gpu::Vendor::Nvidia ? host::gpu::discover_nvidia(o)
                                                          : host::gpu::discover_amd(o);
    if (!spec) {
        throw Error(std::string("cdi generate: no ") +
                    (vendor == host::gpu::Vendor::Nvidia ? "NVIDIA" : "AMD") + " GPU on this node");
    }
    std::cout << host::cdi::write_spec(*spec, p.format != "json");
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    // First of all, before option parsing: a setuid or capable husk must do
    // nothing at all, not even answer --help (see privilege.hpp).
    try {
        privilege::refuse_elevated();
    } catch (const Error& e) {
        return print_error(e);
    }
    std::vector<std::string> args(argv + 1, argv + argc);
    cli::Parsed p = cli::parse(args, std::cout, std::cerr);
    if (p.exit_now) {
        return *p.exit_now;
    }
    log::set_level(p.quiet            ? log::Level::Quiet
                   : p.verbosity >= 2 ? log::Level::Debug
                   : p.verbosity == 1 ? log::Level::Verbose
                                      : log::Level::Normal);
    if (p.command == cli::Command::Version) {
        std::cout << cli::version_text();
        return 0;
    }
    // The one reader of /etc/husk/husk.json and HUSK_* variables.
    config::Settings settings;
    const config::Identity who = config::Identity::current();
    try {
        settings = config::load(config::husk_environment(environ), who);
    } catch (const Error& e) {
        if (p.command == cli::Command::Check) {
            return check(nullptr, e.what());
        }
        return print_error(e);
    }
    try {
        const image::Store store = image::Store::from(settings);
        switch (p.command) {
        case cli::Command::Run:
            return runtime::run(p.run, settings, who);
        case cli::Command::Check:
            return check(&settings, "", p.check_mpi);
        case cli::Command::Version:
            break;
        case cli::Command::Import: {
            auto img = store.import(p.source, p.name, store_format(p.format));
            std::cout << img.name << " " << img.path << "\n";
            return 0;
        }
        case cli::Command::Pull: {
            const image::Reference ref = image::parse_reference(p.source);
            image::PullOptions o;
            if (!p.platform.empty()) {
                o.platform = image::Platform::parse(p.platform);
            }
            o.insecure = p.insecure;
            o.progress = !p.quiet && !p.json;
            std::string name = p.name;
            if (name.empty()) {
                name = ref.repository.substr(ref.repository.rfind('/') + 1);
            }
            image::Pulled pulled;
            auto img = store.pull(ref, name, store_format(p.format), o, &pulled);
            if (p.json) {
                nlohmann::json j = {{"name", img.name},
                                    {"path", img.path},
                                    {"reference", ref.str()},
                                    {"digest", pulled.manifest_digest},
                                    {"platform", pulled.platform.str()},
                                    {"downloaded_bytes", pulled.downloaded}};
                std::cout << j.dump(2) << "\n";
            } else {
                std::cout << img.name << " " << img.path << "\n";
            }
            return 0;
        }
        case cli::Command::Convert:
            store.convert(p.source, p.dest,
                          p.format.empty() ? image::format_for(p.dest) : store_format(p.format));
            return 0;
        case cli::Command::Images:
            cli::print_images(store.list(), p.json, std::cout);
            return 0;
        case cli::Command::Rm:
            store.remove(p.name);
            return 0;
        case cli::Command::Inspect:
            cli::print_inspect(store.resolve(p.name), p.json, std::cout);
            return 0;
        case cli::Command::Cdi:
            return cdi(p, settings);
        }
    } catch (const std::exception& e) {
        return print_error(e);
    }
    return runtime::exit_code::kHuskFailed;
}
