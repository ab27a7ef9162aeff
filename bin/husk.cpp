// husk: the command-line program. Parse, call the library, map errors to
// exit codes; nothing else lives here.
#include "cli/cli.hpp"
#include "cli/print.hpp"
#include "image/store.hpp"
#include "runtime/check.hpp"
#include "runtime/launch.hpp"
#include "runtime/process.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/privilege.hpp"

#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
    using namespace husk;
    // First of all, before option parsing: a setuid or capable husk must do
    // nothing at all, not even answer --help (see privilege.hpp).
    try {
        privilege::refuse_elevated();
    } catch (const Error& e) {
        std::fprintf(stderr, "husk: error: %s\n", e.what());
        return runtime::exit_code::kHuskFailed;
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
    try {
        switch (p.command) {
        case cli::Command::Run:
            return runtime::run(p.run);
        case cli::Command::Check:
            return runtime::print_check(runtime::check_host(), std::cout);
        case cli::Command::Version:
            std::cout << cli::version_string() << "\n";
            return 0;
        case cli::Command::Import: {
            auto img = image::import_image(p.source, p.name,
                                           p.format == "squashfs" ? image::Format::Squashfs
                                                                  : image::Format::Dir);
            std::cout << img.name << " " << img.path << "\n";
            return 0;
        }
        case cli::Command::Convert:
            image::convert_image(p.source, p.dest,
                                 p.format.empty()         ? image::format_for(p.dest)
                                 : p.format == "squashfs" ? image::Format::Squashfs
                                 : p.format == "tar"      ? image::Format::Tar
                                                          : image::Format::Dir);
            return 0;
        case cli::Command::Images:
            cli::print_images(image::list_images(), p.json, std::cout);
            return 0;
        case cli::Command::Rm:
            image::remove_image(p.name);
            return 0;
        case cli::Command::Inspect:
            cli::print_inspect(image::resolve(p.name), p.json, std::cout);
            return 0;
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "husk: error: %s\n", e.what());
        if (log::level() >= log::Level::Verbose) {
            for (const auto& c : e.trail()) {
                std::fprintf(stderr, "husk:   %s\n", c.c_str());
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "husk: error: %s\n", e.what());
    }
    return runtime::exit_code::kHuskFailed;
}
