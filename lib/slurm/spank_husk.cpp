// spank_husk.so: husk as a Slurm SPANK plugin (spank(8)), with pyxis's
// option names: `srun --container-image=IMAGE CMD` runs each task of the
// step in one container per node. See doc/slurm.md.
//
// Where the work happens:
//   slurm_spank_init            every context: the plugstack.conf arguments,
//                               then the options (registered, so that sbatch
//                               and salloc take them too);
//   slurm_spank_init_post_opt   srun, sbatch, salloc: the options checked
//                               where they were typed;
//   slurm_spank_task_init       each task, as the job's user, just before
//                               Slurm executes its command: the core's
//                               prepare() and enter_joined() (the first task
//                               on the node starts the holder that prepares
//                               the container, every task enters it); then
//                               the task forks, the child returns to Slurm
//                               inside the container's PID namespace and is
//                               executed there, and the task waits for it;
//   slurm_spank_job_epilog      root, once per node at the job's end: the
//                               job's named containers are removed.

#include "options.hpp"

#include "host/gpu.hpp"
#include "image/unpack.hpp"
#include "runtime/join.hpp"
#include "runtime/launch.hpp"
#include "runtime/process.hpp"
#include "util/config.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"
#include "util/log.hpp"
#include "util/nss.hpp"
#include "util/text.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <map>
#include <set>
#include <string>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern "C" {
#include <slurm/slurm.h>
#include <slurm/spank.h>

// What Slurm looks up by name, and nothing else, is visible (the rest is
// hidden, and spank_husk.map keeps it so).
#define HUSK_EXPORT __attribute__((visibility("default")))
// Declared extern first: SPANK_PLUGIN defines const objects, which C++
// would otherwise give internal linkage.
HUSK_EXPORT extern const char plugin_name[];
HUSK_EXPORT extern const char plugin_type[];
HUSK_EXPORT extern const unsigned int plugin_version;
HUSK_EXPORT extern const unsigned int spank_plugin_version;
SPANK_PLUGIN(husk, 1)
}

using husk::Error;
namespace slurm = husk::slurm;
namespace runtime = husk::runtime;

namespace {

slurm::PluginArgs g_args;
slurm::ContainerOptions g_given; ///< the options as typed

enum OptionId {
    kImage = 1,
    kMounts,
    kWorkdir,
    kEnv,
    kName,
    kWritable,
    kReadonly,
    kRemapRoot,
    kNoRemapRoot,
    kMountHome,
    kNoMountHome,
    kEntrypoint,
    kNoEntrypoint,
};

int take_option(int id, const char* arg, int /*remote*/) {
    const std::string value = arg != nullptr ? arg : "";
    switch (id) {
    case kImage:
        g_given.image = value;
        break;
    case kMounts:
        g_given.mounts = value;
        break;
    case kWorkdir:
        g_given.workdir = value;
        break;
    case kEnv:
        g_given.env = value;
        break;
    case kName:
        g_given.name = value;
        break;
    case kWritable:
    case kReadonly:
        g_given.writable = id == kWritable;
        break;
    case kRemapRoot:
    case kNoRemapRoot:
        g_given.remap_root = id == kRemapRoot;
        break;
    case kMountHome:
    case kNoMountHome:
        g_given.mount_home = id == kMountHome;
        break;
    case kEntrypoint:
    case kNoEntrypoint:
        g_given.entrypoint = id == kEntrypoint;
        break;
    default:
        return -1;
    }
    return 0;
}

struct OptionText {
    const char* name;
    const char* arginfo; ///< nullptr: a flag
    const char* usage;
    OptionId id;
};

constexpr OptionText kOptions[] = {
    {"container-image", "IMAGE",
     "[husk] run the tasks in a container of IMAGE (a path, a stored name)", kImage},
    {"container-mounts", "SRC[:DST[:FLAGS]],...", "[husk] bind host paths (FLAGS: ro, rw)",
     kMounts},
    {"container-workdir", "DIR", "[husk] working directory inside the container", kWorkdir},
    {"container-env", "NAME,...", "[husk] these variables keep the job's value over the image's",
     kEnv},
    {"container-name", "NAME[:create|exec|auto]",
     "[husk] a container that later steps of the job reuse on each node", kName},
    {"container-writable", nullptr, "[husk] writable root (an overlay; the image is not changed)",
     kWritable},
    {"container-readonly", nullptr, "[husk] read-only root (the default)", kReadonly},
    {"container-remap-root", nullptr, "[husk] be root (uid 0) inside the container", kRemapRoot},
    {"no-container-remap-root", nullptr, "[husk] keep your own uid inside", kNoRemapRoot},
    {"container-mount-home", nullptr, "[husk] bind your home directory", kMountHome},
    {"no-container-mount-home", nullptr, "[husk] do not bind your home directory", kNoMountHome},
    {"container-entrypoint", nullptr, "[husk] not supported: use `srun husk run IMAGE`",
     kEntrypoint},
    {"no-container-entrypoint", nullptr, "[husk] run the task's command (the default)",
     kNoEntrypoint},
};

void say_error(const std::string& what) {
    slurm_error("husk: %s", husk::text::one_line(what).c_str());
}

std::optional<std::string> from_env(char** env, const char* name) {
    const size_t n = std::strlen(name);
    for (char** e = env; e != nullptr && *e != nullptr; ++e) {
        if (std::strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
            return std::string(*e + n + 1);
        }
    }
    return std::nullopt;
}

std::string replace_uid(std::string dir, uid_t uid) {
    for (size_t at = dir.find("%U"); at != std::string::npos; at = dir.find("%U", at)) {
        dir.replace(at, 2, std::to_string(uid));
    }
    return dir;
}

std::string step_text(uint32_t step) {
    if (step == SLURM_BATCH_SCRIPT) {
        return "batch";
    }
    if (step == SLURM_EXTERN_CONT) {
        return "extern";
    }
    if (step == SLURM_INTERACTIVE_STEP) {
        return "interactive";
    }
    return std::to_string(step);
}

/// A small file's text, "" if it cannot be read (it does not exist yet).
std::string read_small(const std::string& path) {
    try {
        return husk::file::read(path, 4096);
    } catch (const husk::Error&) {
        return "";
    }
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

void make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
        husk::throw_errno("cannot create " + path);
    }
}

/// The task's part: runs in the forked task, as the job's user.
[[noreturn]] void fail(const std::exception& e) {
    std::fprintf(stderr, "husk: error: %s\n", e.what());
    std::fflush(stderr);
    ::_exit(runtime::exit_code::kHuskFailed);
}

int task_init(spank_t sp) {
    char** job_env = nullptr;
    if (spank_get_item(sp, S_JOB_ENV, &job_env) != ESPANK_SUCCESS) {
        return 0;
    }
    slurm::ContainerOptions o = g_given;
    try {
        slurm::apply_environment(o, [&](const char* name) { return from_env(job_env, name); });
    } catch (const std::exception& e) {
        fail(e);
    }
    if (!o.wanted()) {
        return 0; // not a container step
    }
    try {
        // Slurm made this process the user's by setuid, which cleared its
        // dumpable flag: its /proc/self files are root's, and the user
        // namespace's uid_map and setgroups could not be written. The
        // process is the user's own task (its memory a copy of this job's
        // slurmstepd), about to execute the user's command.
        if (::prctl(PR_SET_DUMPABLE, 1) != 0) {
            husk::throw_errno("cannot make the task dumpable");
        }
        uint32_t job = 0;
        uint32_t step = 0;
        uint32_t local_tasks = 0;
        int argc = 0;
        char** argv = nullptr;
        if (spank_get_item(sp, S_JOB_ID, &job) != ESPANK_SUCCESS ||
            spank_get_item(sp, S_JOB_STEPID, &step) != ESPANK_SUCCESS ||
            spank_get_item(sp, S_JOB_LOCAL_TASK_COUNT, &local_tasks) != ESPANK_SUCCESS ||
            spank_get_item(sp, S_JOB_ARGV, &argc, &argv) != ESPANK_SUCCESS) {
            throw Error("Slurm did not tell the plugin the job, step, task count or command");
        }
        // This process becomes the task's own: the job's environment is
        // what husk's host facts and settings read.
        std::vector<std::string> env_copy;
        for (char** e = job_env; *e != nullptr; ++e) {
            env_copy.emplace_back(*e);
        }
        ::clearenv();
        for (const auto& kv : env_copy) {
            const size_t eq = kv.find('=');
            if (eq != std::string::npos && eq > 0) {
                ::setenv(kv.substr(0, eq).c_str(), kv.c_str() + eq + 1, 1);
            }
        }
        const std::vector<std::string> command(argv, argv + argc);
        const std::string node =
            from_env(job_env, "SLURMD_NODENAME").value_or(std::to_string(::gethostid()));
        const std::string step_id = std::to_string(job) + "." + step_text(step);

        const husk::config::Identity who = husk::config::Identity::current();
        husk::config::Settings settings =
            husk::config::load(husk::config::husk_environment(environ), who);
        settings.runtime_dir.value = replace_uid(g_args.runtime_dir, ::getuid());
        settings.runtime_dir.from = "plugstack.conf runtime_dir";
        husk::file::own_directory(settings.runtime_dir.value,
                                  "runtime folder " + settings.runtime_dir.value,
                                  "set runtime_dir= in plugstack.conf to a node-local folder");

        // A named container: its image and its writable layer, kept on the
        // node until the job's epilog.
        slurm::NamedState named;
        std::string state;
        std::string overlay;
        if (o.name) {
            const auto n = slurm::parse_container_name(*o.name);
            const std::string job_dir =
                settings.runtime_dir.value + "/slurm-job-" + std::to_string(job);
            make_dir(job_dir);
            make_dir(job_dir + "/" + node);
            state = job_dir + "/" + node + "/" + n.name;
            named.image = trim(read_small(state + "/image"));
            const std::string made_by = trim(read_small(state + "/step"));
            named.exists = !made_by.empty();
            named.this_step = made_by == step_id;
            overlay = state + "/overlay";
            struct stat st {};
            if (!o.writable.value_or(false) && ::lstat(overlay.c_str(), &st) != 0) {
                overlay.clear();
            }
        }
        runtime::RunOptions r = slurm::run_options(o, g_args, command, named, overlay);
        r.join_tag = "slurm-" + step_id + "@" + node;
        r.join_count = local_tasks;
        // The node's GPU driver, for the tasks plugstack.conf's gpu= gives
        // it to; Slurm's variables then select the step's GPUs.
        r.gpu = slurm::task_gpu(
            g_args.gpu, [&](const char* name) { return from_env(job_env, name); },
            [&] { return husk::host::gpu::node_vendor(runtime::host_root(env_copy)); });
        if (step == SLURM_BATCH_SCRIPT && !command.empty() && command[0][0] == '/') {
            // The batch script lives in slurmd's spool: bound where Slurm
            // will execute it, on a new mount point.
            husk::BindSpec script{command[0], command[0], true};
            r.binds.insert(r.binds.begin(), script);
        }
        if (!state.empty()) {
            // Recorded before the container exists: the other tasks of this
            // step see "this step" and are not refused by :create.
            make_dir(state);
            if (!overlay.empty()) {
                make_dir(overlay);
                make_dir(overlay + "/upper");
                make_dir(overlay + "/work");
            }
            if (named.image.empty()) {
                husk::file::write_whole(state + "/image", r.image + "\n");
            }
            if (!named.exists) {
                husk::file::write_whole(state + "/step", step_id + "\n");
            }
        }
        const runtime::Prepared prepared = runtime::prepare(r, settings, who);
        if (!prepared.join) {
            throw Error("no container to join for step " + step_id);
        }
        runtime::BlockedSignals signals;
        runtime::JoinedTask joined =
            runtime::enter_joined(prepared.plan, prepared.node, *prepared.join);
        const std::string cwd = runtime::enter_cwd(prepared.plan);

        const pid_t child = ::fork();
        if (child < 0) {
            husk::throw_errno("cannot fork the task");
        }
        if (child == 0) {
            // The task proper, born in the container's PID namespace: Slurm
            // executes its command after this returns.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            std::set<std::string> keep;
            for (const auto& kv : prepared.plan.env) {
                const size_t eq = kv.find('=');
                keep.insert(kv.substr(0, eq));
                spank_setenv(sp, kv.substr(0, eq).c_str(), kv.c_str() + eq + 1, 1);
            }
            spank_setenv(sp, "PWD", cwd.c_str(), 1);
            keep.insert("PWD");
            for (const auto& kv : env_copy) {
                const std::string name = kv.substr(0, kv.find('='));
                if (keep.count(name) == 0) {
                    spank_unsetenv(sp, name.c_str());
                }
            }
            ::pthread_sigmask(SIG_SETMASK, &signals.previous(), nullptr);
            return 0;
        }
        ::prctl(PR_SET_DUMPABLE, 0); // the waiting task needs its /proc no more
        ::prctl(PR_SET_NAME, "husk-task");
        const int status =
            runtime::wait_command(child, signals, {true, joined.connection.get(), joined.holder});
        ::_exit(status);
    } catch (const std::exception& e) {
        fail(e);
    }
}

/// Removes the job's named containers on this node, as the job's user:
/// RUNTIME_DIR/slurm-job-JOB/NODE, then slurm-job-JOB when no other node
/// (of a machine running several slurmd) still has one there.
int job_epilog(spank_t sp) {
    uid_t uid = 0;
    uint32_t job = 0;
    if (spank_get_item(sp, S_JOB_UID, &uid) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_ID, &job) != ESPANK_SUCCESS || uid == 0) {
        return 0;
    }
    const char* node_env = std::getenv("SLURMD_NODENAME");
    const std::string node = node_env != nullptr ? node_env : "";
    const std::string dir = replace_uid(g_args.runtime_dir, uid);
    const std::string name = "slurm-job-" + std::to_string(job);
    const std::string shown = dir + "/" + name + (node.empty() ? "" : "/" + node);
    const auto pw = husk::nss::user_by_uid(uid);
    if (!pw) {
        say_error("epilog of job " + std::to_string(job) + ": no passwd entry for uid " +
                  std::to_string(uid) + "; " + shown + " is left");
        return 0;
    }
    const gid_t gid = pw->gid;
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        say_error("epilog: cannot make a pipe: " + std::string(std::strerror(errno)));
        return 0;
    }
    husk::Fd from_child(pipe_fds[0]);
    husk::Fd to_parent(pipe_fds[1]);
    const pid_t child = ::fork();
    if (child < 0) {
        say_error("epilog: cannot fork: " + std::string(std::strerror(errno)));
        return 0;
    }
    if (child == 0) {
        const auto die = [&](const std::string& why) {
            (void)!::write(to_parent.get(), why.data(), why.size());
            ::_exit(1);
        };
        // Never as root in a folder of the user's.
        if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
            ::setresuid(uid, uid, uid) != 0) {
            die(std::string("cannot become uid ") + std::to_string(uid) + ": " +
                std::strerror(errno));
        }
        husk::Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!d) {
            ::_exit(0); // no runtime folder: nothing of this job
        }
        try {
            if (node.empty()) {
                husk::image::remove_tree(d.get(), name);
            } else {
                husk::Fd j(::openat(d.get(), name.c_str(),
                                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                if (!j) {
                    ::_exit(0);
                }
                husk::image::remove_tree(j.get(), node);
                (void)::unlinkat(d.get(), name.c_str(), AT_REMOVEDIR); // fails while others remain
            }
        } catch (const std::exception& e) {
            die(e.what());
        }
        ::_exit(0);
    }
    to_parent.reset();
    char why[512];
    const ssize_t n = ::read(from_child.get(), why, sizeof why);
    int st = 0;
    while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        say_error("epilog of job " + std::to_string(job) + ": could not remove " + shown +
                  (n > 0 ? ": " + std::string(why, static_cast<size_t>(n)) : ""));
    }
    return 0;
}

} // namespace

extern "C" {

HUSK_EXPORT int slurm_spank_init(spank_t sp, int ac, char** av) {
    try {
        g_args = slurm::parse_plugin_args(std::vector<std::string>(av, av + ac));
    } catch (const std::exception& e) {
        say_error(e.what());
        return -1;
    }
    const spank_context_t ctx = spank_context();
    if (ctx == S_CTX_JOB_SCRIPT || ctx == S_CTX_SLURMD) {
        return 0;
    }
    if (ctx == S_CTX_ALLOCATOR && !g_args.sbatch_support) {
        return 0;
    }
    for (const auto& t : kOptions) {
        struct spank_option opt {};
        opt.name = const_cast<char*>(t.name);
        opt.arginfo = const_cast<char*>(t.arginfo);
        opt.usage = const_cast<char*>(t.usage);
        opt.has_arg = t.arginfo != nullptr ? 1 : 0;
        opt.val = t.id;
        opt.cb = take_option;
        if (spank_option_register(sp, &opt) != ESPANK_SUCCESS) {
            say_error(std::string("cannot register --") + t.name);
            return -1;
        }
    }
    return 0;
}

HUSK_EXPORT int slurm_spank_init_post_opt(spank_t sp, int /*ac*/, char** /*av*/) {
    if (spank_remote(sp)) {
        return 0;
    }
    slurm::ContainerOptions o = g_given;
    try {
        slurm::apply_environment(o, [](const char* name) -> std::optional<std::string> {
            const char* v = std::getenv(name);
            return v != nullptr ? std::optional<std::string>(v) : std::nullopt;
        });
        if (o.wanted()) {
            slurm::validate(o, g_args);
        }
    } catch (const std::exception& e) {
        say_error(e.what());
        return -1;
    }
    return 0;
}

HUSK_EXPORT int slurm_spank_task_init(spank_t sp, int /*ac*/, char** /*av*/) {
    if (!spank_remote(sp)) {
        return 0;
    }
    return task_init(sp);
}

HUSK_EXPORT int slurm_spank_job_epilog(spank_t sp, int /*ac*/, char** /*av*/) {
    return job_epilog(sp);
}

} // extern "C"
