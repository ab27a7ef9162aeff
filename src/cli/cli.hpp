// The command line: CLI11 definitions of every subcommand, filling plain
// option structs. No system calls.
#pragma once

#include "runtime/run_options.hpp"

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace husk::cli {

/// Which subcommand was given.
enum class Command { Run, Check, Version, Import, Pull, Images, Rm, Inspect, Convert, Cdi };

/// The parsed command line.
struct Parsed {
    Command command = Command::Version;
    runtime::RunOptions run; ///< for Command::Run
    std::string source;      ///< import SOURCE, pull REFERENCE
    std::string name;        ///< import NAME, rm NAME, inspect IMAGE
    std::string
        format; ///< import/convert --format: dir, squashfs (tar: convert); cdi generate: json, yaml
    std::string dest;          ///< convert DEST
    bool json = false;         ///< images, inspect, pull --json; cdi list --json
    std::string platform;      ///< pull --platform OS/ARCH[/VARIANT]
    bool insecure = false;     ///< pull --insecure
    bool cdi_generate = false; ///< cdi generate (else cdi list); its --gpu is run.gpu
    std::string check_mpi;     ///< check --mpi IMAGE
    int verbosity = 0;         ///< number of -v
    bool quiet = false;        ///< -q
    /// Set when parsing already finished the job (--help, --version, or a
    /// usage error, already printed): main() exits with it.
    std::optional<int> exit_now;
};

/// Parses argv. Help and version go to `out`; usage errors are printed to
/// `err` as one "husk: error: ..." line and give exit_now = 125.
/// For `run`, option parsing stops at IMAGE: everything after it (after an
/// optional "--") is the command, so `husk run IMG grep -e x f` passes -e to
/// grep, as `docker run` does.
Parsed parse(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// The version string, "husk 0.1.0".
std::string version_string();

/// What husk --version and husk version print: the version string, then
/// one line each for the image kinds, the tar and SquashFS compressions
/// this build reads (with its libraries' versions) and overlay support.
std::string version_text();

} // namespace husk::cli
