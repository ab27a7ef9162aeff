#include "cli/cli.hpp"

#include "image/squashfs.hpp"
#include "image/unpack.hpp"
#include "runtime/fuse_server.hpp"
#include "util/error.hpp"
#include "util/text.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <functional>

#ifndef HUSK_VERSION
#define HUSK_VERSION "0.0.0"
#endif

namespace husk::cli {

std::string version_string() {
    return std::string("husk ") + HUSK_VERSION;
}

std::string version_text() {
    std::string squashfs;
    for (const auto& c : image::squashfs_compressions()) {
        squashfs += (squashfs.empty() ? "" : ", ") + c;
    }
    return version_string() + "\n" +
           "images:    directory, SquashFS file, tar archive, docker-archive, OCI image layout "
           "(archive or directory)\n" +
           "tar:       " + image::kTarCompressions + " (" + image::archive_library_versions() +
           ")\n" + "SquashFS:  " + squashfs + " (libsquashfuse; one server per image and node, " +
           runtime::fuse_library_version() + "; needs /dev/fuse)\n" +
           "overlay:   --overlay (overlayfs in a user namespace, Linux 5.11 or later)\n";
}

namespace {

/// One of husk run's options: its names as CLI11 takes them ("-b,--bind"),
/// whether it takes a value, and how to define it on the subcommand
/// (called with the subcommand and `names`).
struct RunOption {
    std::string names;
    bool takes_value;
    std::function<void(CLI::App&, const std::string&)> define;
};

/// Whether `name` ("b" for -b, "bind" for --bind) is one of `o`'s names
/// (`dashes`: 1 for a short name, 2 for a long one).
bool has_name(const RunOption& o, std::string_view name, size_t dashes) {
    for (std::string_view n : text::split(o.names, ',')) {
        const size_t d = n.rfind("--", 0) == 0 ? 2 : 1;
        if (d == dashes && n.substr(d) == name) {
            return true;
        }
    }
    return false;
}

/// The option `tok` ("-b", "--bind", "--bind=X", or "-bX", the first of a
/// cluster of short ones) names, or nullptr.
const RunOption* option_of(std::string_view tok, const std::vector<RunOption>& opts) {
    const bool is_long = tok.rfind("--", 0) == 0;
    const std::string_view name =
        is_long ? tok.substr(2, tok.find('=') == std::string_view::npos ? std::string_view::npos
                                                                        : tok.find('=') - 2)
                : tok.substr(1, 1);
    for (const auto& o : opts) {
        if (has_name(o, name, is_long ? 2 : 1)) {
            return &o;
        }
    }
    return nullptr;
}

/// Whether the word after `tok` is the value of `o`, the option `tok`
/// names: "--bind X" and "-b X" take the next word; "--bind=X", "-bX" and
/// flags do not.
bool value_follows(const RunOption* o, std::string_view tok) {
    return o != nullptr && o->takes_value && tok.find('=') == std::string_view::npos &&
           (tok.rfind("--", 0) == 0 || tok.size() == 2);
}

/// Where `husk run`'s own options end: the index of IMAGE in `args` (which
/// start after "run"), or args.size() if there is none.
size_t find_image(const std::vector<std::string>& args, const std::vector<RunOption>& opts) {
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& t = args[i];
        if (t == "--") {
            return i + 1;
        }
        if (t.size() > 1 && t[0] == '-') {
            if (value_follows(option_of(t, opts), t)) {
                ++i;
            }
            continue;
        }
        return i;
    }
    return args.size();
}

/// Which of `opts` the words args[0..end) name; all of them when a word
/// names none (CLI11 then says what is wrong with it) or asks for help.
std::vector<bool> named_options(const std::vector<std::string>& args, size_t end,
                                const std::vector<RunOption>& opts) {
    std::vector<bool> named(opts.size(), false);
    auto all = [&] { return std::vector<bool>(opts.size(), true); };
    for (size_t i = 0; i < end && i < args.size(); ++i) {
        const std::string& t = args[i];
        if (t.size() < 2 || t[0] != '-' || t == "--") {
            continue;
        }
        if (t == "-h" || t == "--help") {
            return all();
        }
        const RunOption* o = option_of(t, opts);
        if (o == nullptr) {
            return all();
        }
        named[static_cast<size_t>(o - opts.data())] = true;
        if (o->takes_value) {
            if (value_follows(o, t)) {
                ++i;
            }
            continue;
        }
        // a cluster of short flags: -vq
        if (t.rfind("--", 0) != 0) {
            for (size_t k = 2; k < t.size(); ++k) {
                const RunOption* f = option_of(std::string("-") + t[k], opts);
                if (f == nullptr || f->takes_value) {
                    return all();
                }
                named[static_cast<size_t>(f - opts.data())] = true;
            }
        }
    }
    return named;
}

template <typename T>
void parse_id(const std::string& text, const char* what, T& out, unsigned long max = 0xffffffffUL) {
    size_t pos = 0;
    unsigned long v = 0;
    try {
        v = std::stoul(text, &pos, 10);
    } catch (const std::exception&) {
        pos = 0;
    }
    if (pos != text.size() || text.empty() || text[0] == '-' || v > max) {
        throw Error(std::string(what) + " " + text + ": not a number from 0 to " +
                    std::to_string(max));
    }
    out = static_cast<T>(v);
}

} // namespace

Parsed parse(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    Parsed p;

    // The first word that is not a global flag must name a command; say
    // which word was wrong rather than CLI11's generic message. Only that
    // command's options are defined (every rank of a job pays for the
    // definitions at each start); all of them when there is no command
    // word, for husk --help.
    static constexpr std::string_view kCommands[] = {
        "run", "check", "version", "import", "pull", "convert", "images", "rm", "inspect", "cdi"};
    std::string_view word;
    for (const auto& a : args) {
        if (a.size() > 1 && a[0] == '-') {
            continue;
        }
        if (std::find(std::begin(kCommands), std::end(kCommands), a) == std::end(kCommands)) {
            err << "husk: error: unknown command '" << a
                << "' (expected run, check, import, pull, convert, images, rm, inspect, cdi or "
                   "version; "
                   "try husk --help)\n";
            p.exit_now = 125;
            return p;
        }
        word = a;
        break;
    }
    auto wanted = [&](std::string_view name) { return word.empty() || word == name; };

    CLI::App app{"husk: run container images as an ordinary user, on HPC clusters", "husk"};
    app.require_subcommand(1);
    app.set_version_flag("--version", [] { return version_text(); });
    app.add_flag("-v,--verbose", p.verbosity, "Say more on stderr; repeat for more");
    app.add_flag("-q,--quiet", p.quiet, "Print no warnings");
    app.footer("Exit status of run: the command's own, 128+N if it died of signal N,\n"
               "125 if husk failed, 126 if the command cannot be executed, 127 if not found.\n"
               "Each command has its manual page: man husk, man husk-run, ...; the site\n"
               "config (/etc/husk/husk.json): man husk.json.");

    auto& r = p.run;
    CLI::App* run = nullptr;
    std::vector<std::string> binds, uid_text, gid_text;
    std::string image;
    bool write = false, overlay = false;
    bool join = false, no_join = false;
    bool gpu = false;
    std::string dev_text;
    std::vector<std::string> join_count_text, linger_text;
    int run_verbosity = 0;
    // husk run's options, in --help's order. Every rank of a job parses
    // this command line, and CLI11 spends about 15k instructions defining
    // an option: only those the command line names are defined (all of
    // them for --help, or for a word no option has, so that CLI11 words
    // the error). find_image() reads the same table.
    std::vector<RunOption> run_options = {
        {"-b,--bind", true,
         [&](CLI::App& a, const std::string& n) {
             a.add_option(n, binds,
                          "Bind host SRC at DST in the container (DST defaults to SRC);\n"
                          "ro: read-only on every submount. Repeatable")
                 ->type_name("SRC[:DST[:ro|rw]]");
         }},
        {"-w,--write", false,
         [&](CLI::App& a, const std::string& n) {
             a.add_flag(n, write, "Mount the image read-write (directory images)");
         }},
        {"--overlay", false,
         [&](CLI::App& a, const std::string& n) {
             a.add_flag(n, overlay,
                        "Put a tmpfs overlay over the image: writes and new mount\n"
                        "points are possible and vanish at exit; the image is unchanged");
         }},
        {"-c,--cd", true,
         [&](CLI::App& a, const std::string& n) {
             a.add_option(n, r.cwd,
                          "Start in DIR (default: the current directory if it exists\n"
                          "in the container, else the image's WorkingDir, else /)")
                 ->type_name("DIR");
         }},
        {"-e,--env", true,
         [&](CLI::App& a, const std::string& n) {
             a.add_option(n, r.env,
                          "Set KEY to VAL in the container; KEY alone copies the host's. "
                          "Repeatable")
                 ->type_name("KEY[=VAL]");
         }},
        {"--env-file", true,
         [&](CLI::App& a, const std::string& n) {
             a.add_option(n, r.env_files,
                          "Read KEY=VAL lines from FILE (docker --env-file format). Repeatable")
                 ->type_name("FILE");
         }},
        {"--unset-env", true,
         [&](CLI::App& a, const std::string& n) {
             a.add_option(n, r.unset_env,
                          "Remove variables whose name matches GLOB (e.g. 'SLURM_*'), after\n"
                          "everything else. Repeatable")
                 ->type_name("GLOB");
         }},
        {"--uid", true,
         [&](CLI::App& a, const std::string& n) {
             a.add_option(n, uid_text, "Run as user id N inside (default: your own)")
                 ->type_name("N")
                 ->expected(1);
         }},
        {"--gid", true,
         [&](CLI::App& a, const std::string& n) {
             a.add_option(n, gid_text, "Run as group id N inside (default: your own)")
                 ->type_name("N")
                 ->expected(1);
         }},
        {"--fake-root", false,
         [&](CLI::App& a, const std::string& n) {
             a.add_flag(n, r.fake_root, "Run as uid 0 and gid 0 inside (no real privilege)");
         }},
        {"--private-tmp", false,
         [&](CLI::App& a, const std::string& n) {
             a.add_flag(n, r.private_tmp,
                        "Mount an empty tmpfs on /tmp instead of the host's /tmp");
         }},
        {"--no-home", false,
         [&](CLI::App& a, const std::string& n) {
             a.add_flag(n, r.no_home, "Do not bind your home directory");
         }},
        {"--join", false,
         [&](CLI::App& a, const std::string& n) {
             a.add_flag(n, join,
                        "Share one container with the other tasks of this job step\n"
                        "on this node (default when Slurm, Open MPI or PMIx start\n"
                        "several here); --join=TAG: with every husk run --join=TAG")
                 ->type_name("[=TAG]");
         }},
        {"--no-join", false,
         [&](CLI::App& a, const std::string& n) {
             a.add_flag(n, no_join, "Always build a container of this run's own");
         }},
        {"--join-count", true,
         [&](CLI::App& a, const std::string& n) {
             a.add_option(n, join_count_text,
                          "Tasks that join on this node (default: from Slurm or Open MPI)")
                 ->type_name("N")
                 ->expected(1);
         }},
        {"--mpi", true,
         [&](CLI::App& a, const std::string& n) {
             a.add_option(n, r.mpi,
                          "host: replace the image's MPI library by the host's, after an ABI\n"
                          "check (MPICH family or Open MPI), with the fabric's devices and\n"
                          "providers; none: the image's own (default: site config mpi)")
                 ->type_name("host|none")
                 ->check(CLI::IsMember({"host", "none"}));
         }},
        {"--device", true,
         [&](CLI::App& a, const std::string& n) {
             a.add_option(n, r.devices,
                          "Give the container the CDI device NAME (vendor.com/class=name,\n"
                          "or =all) from the node's CDI specs (/etc/cdi, /var/run/cdi).\n"
                          "Repeatable")
                 ->type_name("NAME");
         }},
        {"--gpu", false,
         [&](CLI::App& a, const std::string& n) {
             a.add_flag(n, gpu,
                        "Give the container the node's GPUs without a CDI spec: device\n"
                        "nodes (those CUDA_VISIBLE_DEVICES, NVIDIA_VISIBLE_DEVICES or\n"
                        "ROCR_VISIBLE_DEVICES select), driver libraries and tools;\n"
                        "--gpu=amd for AMD (default nvidia)")
                 ->type_name("[=nvidia|amd]");
         }},
        {"--dev", true,
         [&](CLI::App& a, const std::string& n) {
             a.add_option(n, dev_text,
                          "host: the host's /dev (default, for HPC fabrics); minimal: a\n"
                          "tmpfs with null zero full random urandom tty, pts, shm and only\n"
                          "the devices assigned by --device and --gpu")
                 ->type_name("host|minimal")
                 ->check(CLI::IsMember({"host", "minimal"}));
         }},
        {"--linger", true,
         [&](CLI::App& a, const std::string& n) {
             a.add_option(n, linger_text,
                          "Keep a SquashFS image's server SECONDS after its last user\n"
                          "(default 0, or 60 inside a Slurm job; site config: linger)")
                 ->type_name("SECONDS")
                 ->expected(1);
         }},
        {"-v,--verbose", false,
         [&](CLI::App& a, const std::string& n) {
             a.add_flag(n, run_verbosity, "Say more on stderr: each phase and its duration");
         }},
        {"-q,--quiet", false,
         [&](CLI::App& a, const std::string& n) { a.add_flag(n, p.quiet, "Print no warnings"); }},
    };
    // The words after "run" (none for husk --help: all options are
    // defined), and where among them IMAGE is.
    const auto run_at = std::find(args.begin(), args.end(), "run");
    const size_t base = static_cast<size_t>(run_at - args.begin()) + (run_at != args.end());
    const std::vector<std::string> rest(args.begin() + static_cast<long>(base), args.end());
    const size_t img = find_image(rest, run_options);
    if (wanted("run")) {
        run = app.add_subcommand("run", "Run a command in an image");
        const std::vector<bool> named = named_options(rest, img, run_options);
        for (size_t i = 0; i < run_options.size(); ++i) {
            if (named[i]) {
                run_options[i].define(*run, run_options[i].names);
            }
        }
        // Options that exclude each other, where both are defined.
        for (const auto& [a, b] : {std::pair{"--write", "--overlay"}, {"--join", "--no-join"}}) {
            CLI::Option* oa = run->get_option_no_throw(a);
            CLI::Option* ob = run->get_option_no_throw(b);
            if (oa != nullptr && ob != nullptr) {
                oa->excludes(ob);
            }
        }
        run->add_option("IMAGE", image,
                        "A directory, SquashFS file, tar or docker/OCI archive, or a stored name")
            ->required();
        run->footer("Everything after IMAGE is the command and its arguments (a '--' right\n"
                    "after IMAGE is dropped). Without a command the image's Entrypoint and\n"
                    "Cmd run. Environment: the host's, then the image's Env, then\n"
                    "--env-file, then -e, then --unset-env. See man husk-run.");
    }

    // The other commands, each under its word; `parsed_as` maps the one
    // CLI11 parsed back to its Command.
    std::vector<std::pair<CLI::App*, Command>> parsed_as;
    if (run != nullptr) {
        parsed_as.emplace_back(run, Command::Run);
    }
    auto add = [&](const char* name, const char* what, Command c) -> CLI::App* {
        if (!wanted(name)) {
            return nullptr;
        }
        CLI::App* sub = app.add_subcommand(name, what);
        sub->footer(std::string("See man husk-") + name + ".");
        parsed_as.emplace_back(sub, c);
        return sub;
    };
    if (auto* check =
            add("check", "Check, step by step, what this host supports for husk", Command::Check)) {
        check
            ->add_option("--mpi", p.check_mpi,
                         "Also report IMAGE's MPI and PMIx, this host's, and whether they\n"
                         "can work together (and --mpi=host replace the image's)")
            ->type_name("IMAGE");
    }
    add("version", "Print husk's version", Command::Version);
    if (auto* import =
            add("import",
                "Store an image under NAME: a tar, docker-archive, OCI archive or SquashFS file",
                Command::Import)) {
        import->add_option("SOURCE", p.source, "The image to import")->required();
        import->add_option("NAME", p.name, "Its name in the store ($HUSK_STORAGE/images)")
            ->required();
        import->add_option("--format", p.format, "dir: unpacked (default); squashfs: one file")
            ->check(CLI::IsMember({"dir", "squashfs"}));
    }
    if (auto* pull =
            add("pull", "Store an image from a registry under NAME (docker://, OCI distribution)",
                Command::Pull)) {
        pull->add_option("REFERENCE", p.source,
                         "[docker://][REGISTRY/]REPOSITORY[:TAG][@DIGEST], as docker pull takes it")
            ->required();
        pull->add_option("NAME", p.name,
                         "Its name in the store (default: the repository's last component)");
        pull->add_option("--format", p.format, "dir: unpacked (default); squashfs: one file")
            ->check(CLI::IsMember({"dir", "squashfs"}));
        pull->add_option("--platform", p.platform,
                         "The image of an index for this platform (default: this machine's)")
            ->type_name("OS/ARCH[/VARIANT]");
        pull->add_flag("--insecure", p.insecure,
                       "TLS without verifying the registry, or plain HTTP (never for credentials\n"
                       "you care about)");
        pull->add_flag("-q,--quiet", p.quiet, "No progress line");
        pull->add_flag("--json", p.json,
                       "Print one JSON object (name, path, reference, digest, platform)");
    }
    if (auto* convert =
            add("convert", "Write an image in another shape: directory, SquashFS or tar",
                Command::Convert)) {
        convert->add_option("SOURCE", p.source, "Any image husk runs")->required();
        convert->add_option("DEST", p.dest, "Where to write it (must not exist)")->required();
        convert
            ->add_option("--format", p.format,
                         "dir, squashfs or tar (default: from DEST: .sqfs, .tar[.gz], else dir)")
            ->check(CLI::IsMember({"dir", "squashfs", "tar"}));
    }
    if (auto* images = add("images", "List the images in the store", Command::Images)) {
        images->add_flag("--json", p.json, "One JSON array");
    }
    if (auto* rm = add("rm", "Remove an image from the store", Command::Rm)) {
        rm->add_option("NAME", p.name, "The image's name")->required();
    }
    if (auto* inspect = add("inspect", "Describe an image and its OCI config", Command::Inspect)) {
        inspect->add_option("IMAGE", p.name, "A path or a name in the store")->required();
        inspect->add_flag("--json", p.json, "As JSON");
    }

    CLI::App* cdi_list = nullptr;
    CLI::App* cdi_generate = nullptr;
    bool cdi_gpu = false;
    if (auto* cdi = add("cdi", "List the node's CDI devices, or write a CDI spec of its GPUs",
                        Command::Cdi)) {
        cdi->require_subcommand(1);
        cdi_list = cdi->add_subcommand("list", "Every device the node's CDI specs offer");
        cdi_list->add_flag("--json", p.json, "As a JSON array of objects");
        cdi_generate =
            cdi->add_subcommand("generate", "Write a CDI spec of this node's GPUs on stdout");
        cdi_generate->add_flag("--gpu", cdi_gpu, "The GPUs of this vendor (default nvidia)")
            ->type_name("[=nvidia|amd]");
        cdi_generate->add_option("--format", p.format, "yaml (default, as nvidia-ctk) or json")
            ->check(CLI::IsMember({"json", "yaml"}));
    }

    // Split `husk ... run [OPTIONS] IMAGE CMD...`: CLI11 sees up to IMAGE.
    std::vector<std::string> head = args;
    std::vector<std::string> command;
    if (run != nullptr && run_at != args.end() && img < rest.size()) {
        head.assign(args.begin(), args.begin() + static_cast<long>(base + img + 1));
        size_t cmd = img + 1;
        if (cmd < rest.size() && rest[cmd] == "--") {
            ++cmd;
        }
        command.assign(rest.begin() + static_cast<long>(cmd), rest.end());
        // CLI11 would take a "--" before IMAGE as the end of options; drop it.
        if (img > 0 && rest[img - 1] == "--") {
            head.erase(head.begin() + static_cast<long>(base + img - 1));
        }
    }

    // --join=TAG: CLI11 sees the flag --join; a bare --join must never
    // take IMAGE as its value.
    // --gpu=VENDOR likewise.
    std::optional<std::string> gpu_vendor;
    for (auto& a : head) {
        if (a.rfind("--join=", 0) == 0) {
            r.join_tag = a.substr(7);
            a = "--join";
        } else if (a.rfind("--gpu=", 0) == 0) {
            gpu_vendor = a.substr(6);
            a = "--gpu";
        }
    }

    try {
        std::vector<std::string> reversed(head.rbegin(), head.rend());
        app.parse(reversed);
        p.verbosity += run_verbosity;
        r.image = image;
        r.command = std::move(command);
        for (const auto& b : binds) {
            try {
                r.binds.push_back(parse_bind(b));
            } catch (Error& e) {
                throw Error("-b " + b + ": " + e.message());
            }
        }
        if (!uid_text.empty()) {
            parse_id(uid_text.back(), "--uid", r.uid.emplace());
        }
        if (!gid_text.empty()) {
            parse_id(gid_text.back(), "--gid", r.gid.emplace());
        }
        if (join && r.join_tag.find_first_of("/") != std::string::npos) {
            throw Error("--join=" + r.join_tag + ": a tag has no '/'");
        }
        r.join = no_join ? runtime::JoinMode::Never
                 : join  ? runtime::JoinMode::Always
                         : runtime::JoinMode::Auto;
        if (!join_count_text.empty()) {
            parse_id(join_count_text.back(), "--join-count", r.join_count.emplace());
        }
        if (!linger_text.empty()) {
            parse_id(linger_text.back(), "--linger", r.linger.emplace(), 7 * 24 * 3600);
        }
        if (gpu || cdi_gpu) {
            r.gpu = gpu_vendor.value_or("nvidia");
            if (*r.gpu != "nvidia" && *r.gpu != "amd") {
                throw Error("--gpu=" + *r.gpu + ": the vendor is nvidia or amd");
            }
        }
        if (!dev_text.empty()) {
            r.dev = dev_text == "minimal" ? host::DevMode::Minimal : host::DevMode::Host;
        }
        r.root_mode = write     ? runtime::RootMode::Writable
                      : overlay ? runtime::RootMode::Overlay
                                : runtime::RootMode::ReadOnly;
    } catch (const CLI::CallForHelp&) {
        CLI::App* target = app.get_subcommands().empty() ? &app : app.get_subcommands().front();
        // "Usage: husk run ...", not "Usage: run ..."
        out << (target == &app ? app.help() : target->help("husk"));
        p.exit_now = 0;
        return p;
    } catch (const CLI::CallForVersion&) {
        out << version_text();
        p.exit_now = 0;
        return p;
    } catch (const CLI::ParseError& e) {
        std::string msg = e.what();
        if (msg.empty()) {
            msg = "invalid command line";
        }
        err << "husk: error: " << msg << " (try husk --help)\n";
        p.exit_now = 125;
        return p;
    } catch (const Error& e) {
        err << "husk: error: " << e.what() << "\n";
        p.exit_now = 125;
        return p;
    }

    for (const auto& [sub, c] : parsed_as) {
        if (sub->parsed()) {
            p.command = c;
        }
    }
    if (p.command == Command::Cdi) {
        p.cdi_generate = cdi_generate != nullptr && cdi_generate->parsed();
    }
    return p;
}

} // namespace husk::cli
