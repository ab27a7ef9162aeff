#include "runtime/join.hpp"

#include "runtime/env.hpp"
#include "runtime/rendezvous.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/text.hpp"
#include "util/unix_socket.hpp"

#include <cerrno>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace husk::runtime {

namespace {

uint32_t number(std::string_view text, const std::string& what) {
    uint64_t n = 0;
    if (text.empty() || text.size() > 9) {
        throw Error(what + ": not a number");
    }
    for (char c : text) {
        if (c < '0' || c > '9') {
            throw Error(what + ": not a number");
        }
        n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    return static_cast<uint32_t>(n);
}

} // namespace

uint32_t slurm_tasks_on_node(std::string_view spec, uint32_t node) {
    const std::string shown = "SLURM_STEP_TASKS_PER_NODE=" + std::string(spec);
    uint64_t first = 0; // index of the first node of the current group
    for (auto group : text::split(spec, ',')) {
        uint32_t repeat = 1;
        const size_t paren = group.find('(');
        if (paren != std::string_view::npos) {
            if (group.size() < paren + 4 || group.substr(paren, 2) != "(x" || group.back() != ')') {
                throw Error(shown + ": expected COUNT or COUNT(xREPEAT) items");
            }
            repeat = number(group.substr(paren + 2, group.size() - paren - 3), shown);
            group = group.substr(0, paren);
        }
        const uint32_t count = number(group, shown);
        if (node < first + repeat) {
            return count;
        }
        first += repeat;
    }
    throw Error(shown + ": no count for node " + std::to_string(node));
}

std::optional<JoinSpec> detect_join(const RunOptions& opts,
                                    const std::vector<std::string>& environ) {
    if (opts.join == JoinMode::Never) {
        return std::nullopt;
    }
    const Environment env(environ);
    auto get = [&](const char* name) -> std::string {
        auto v = env.get(name);
        return v ? std::string(*v) : std::string();
    };
    std::optional<JoinSpec> found;
    if (!get("OMPI_COMM_WORLD_LOCAL_SIZE").empty()) {
        std::string job = get("PMIX_NAMESPACE");
        if (job.empty()) {
            job = get("OMPI_MCA_ess_base_jobid");
        }
        if (!job.empty()) {
            found =
                JoinSpec{"ompi:" + job, "Open MPI job " + job,
                         number(get("OMPI_COMM_WORLD_LOCAL_SIZE"), "OMPI_COMM_WORLD_LOCAL_SIZE")};
        }
    }
    if (!found && !get("SLURM_JOB_ID").empty() && !get("SLURM_STEP_ID").empty()) {
        const std::string step = get("SLURM_JOB_ID") + "." + get("SLURM_STEP_ID");
        uint32_t tasks = 0;
        const std::string per_node = get("SLURM_STEP_TASKS_PER_NODE");
        if (!per_node.empty()) {
            const std::string node_id = get("SLURM_NODEID");
            tasks = slurm_tasks_on_node(per_node,
                                        node_id.empty() ? 0 : number(node_id, "SLURM_NODEID"));
        }
        // SLURMD_NODENAME keeps apart the nodes of a cluster whose slurmds
        // share one machine and its /tmp (slurmd -N, test clusters).
        const std::string node = get("SLURMD_NODENAME");
        found = JoinSpec{"slurm:" + step + (node.empty() ? "" : "@" + node), "Slurm step " + step,
                         tasks};
    }
    if (!found && !get("PMIX_NAMESPACE").empty()) {
        found =
            JoinSpec{"pmix:" + get("PMIX_NAMESPACE"), "PMIx namespace " + get("PMIX_NAMESPACE"), 0};
    }
    if (opts.join == JoinMode::Always) {
        if (!opts.join_tag.empty()) {
            found = JoinSpec{"tag:" + opts.join_tag, "--join=" + opts.join_tag, 0};
        } else if (!found) {
            throw Error("--join: no launcher (Slurm, Open MPI, PMIx) names this task's step; "
                        "give a tag: --join=TAG");
        }
        if (opts.join_count) {
            found->local_tasks = *opts.join_count;
        }
        return found;
    }
    if (found && opts.join_count) {
        found->local_tasks = *opts.join_count;
    }
    if (found && found->local_tasks > 1) {
        return found;
    }
    return std::nullopt;
}

std::string container_digest(const LaunchPlan& p) {
    std::string s = p.image_path + '\n' + std::to_string(static_cast<int>(p.image_kind)) + ' ' +
                    std::to_string(static_cast<int>(p.root_mode)) +
                    (p.mount_point_layer ? " layer " : " ") + format_id_map(p.ids.uid) +
                    format_id_map(p.ids.gid) + p.account.name + ':' +
                    std::to_string(p.account.uid) + ':' + std::to_string(p.account.gid) + ':' +
                    p.account.home + ':' + p.account.group_name + '\n' +
                    (p.legacy_mounts ? "legacy\n" : "\n") + p.overlay_dir + '\n';
    for (const auto& m : p.mounts) {
        s += std::to_string(static_cast<int>(m.kind)) + ' ' + m.source + ' ' + m.target + ' ' +
             (m.read_only ? "ro " : "rw ") + std::to_string(static_cast<int>(m.on_missing)) +
             (m.transient_mount_point ? " transient\n" : "\n");
    }
    return text::hash_hex(s);
}

namespace {

/// The holder: builds the container, hands its namespaces to each task of
/// the same digest, and ends (killing what is left in the container) when
/// the tasks are done. Runs in the process spawn_server() made.
[[noreturn]] void hold_container(const LaunchPlan& p, const NodeContext& node, const JoinSpec& join,
                                 const std::string& name, int ready, int lock_fd) {
    ::prctl(PR_SET_NAME, "husk-holder");
    Fd dir(::open(node.runtime_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        throw_errno("cannot open the runtime folder " + node.runtime_dir);
    }
    const RuntimeDir runtime(node.runtime_dir);
    // Bound while this process still sees the host's paths.
    Fd listener = unix_socket::listen_at(node.runtime_dir + "/" + name);
    NodeContext locked = node;
    locked.held_lock = lock_fd; // the task that spawned this holds it for us
    std::optional<Container> made;
    try {
        made.emplace(Container::create(p, locked));
    } catch (...) {
        ::unlinkat(dir.get(), name.c_str(), 0); // no socket of a holder that never served
        throw;
    }
    Container& container = *made;
    const std::string digest = container_digest(p);
    report_ready(ready);
    ::close(lock_fd);

    std::vector<Fd> tasks;
    uint32_t joined = 0;
    bool grace = false;
    for (;;) {
        std::vector<pollfd> fds{{listener.get(), POLLIN, 0}, {container.lease_fd(), POLLIN, 0}};
        for (const auto& t : tasks) {
            fds.push_back({t.get(), POLLIN, 0});
        }
        const bool all_came = join.local_tasks == 0 || joined >= join.local_tasks;
        int timeout = -1;
        if (tasks.empty()) {
            timeout = all_came && joined > 0 ? 0 : kJoinGrace * 1000;
            if (grace) {
                timeout = 20;
            }
        }
        const int n = ::poll(fds.data(), fds.size(), timeout);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (fds[1].fd >= 0 && fds[1].revents != 0) {
            container.kill_all(); // the image's server is gone
            runtime.remove_if_stale(container.lease_name());
            ::unlinkat(dir.get(), name.c_str(), 0);
            ::_exit(1);
        }
        if (n == 0 && tasks.empty()) {
            // Leave, unless a task is just connecting: tasks connect under
            // the folder's lock only.
            if (!ready_to_leave(dir.get(), listener.get())) {
                grace = true;
                continue;
            }
            ::unlinkat(dir.get(), name.c_str(), 0);
            container.kill_all();
            ::_exit(0);
        }
        grace = false;
        for (size_t i = fds.size(); i-- > 2;) {
            if (fds[i].revents != 0) {
                tasks.erase(tasks.begin() + static_cast<long>(i - 2));
            }
        }
        if ((fds[0].revents & POLLIN) == 0) {
            continue;
        }
        Fd t = unix_socket::accept_one(listener.get());
        if (!t) {
            continue;
        }
        try {
            if (unix_socket::peer_uid(t.get()) != ::getuid()) {
                continue;
            }
            const auto m = unix_socket::receive(t.get(), "a task");
            if (m.text != digest) {
                unix_socket::send(
                    t.get(),
                    "--join: this task's image, options or mounts differ from those of the "
                    "container it would join (" +
                        join.shown +
                        "); give every task of the step the same image and options, or use "
                        "--no-join",
                    {}, "a task");
                continue;
            }
            unix_socket::send(t.get(), "ok", container.namespaces(), "a task");
            tasks.push_back(std::move(t));
            ++joined;
        } catch (const Error&) {
            // that task is gone; the others are served on
        }
    }
}

} // namespace

JoinedTask enter_joined(const LaunchPlan& p, const NodeContext& node, const JoinSpec& join) {
    const RuntimeDir dir(node.runtime_dir);
    JoinedTask task;
    task.socket_name = "join-" + text::hash_hex(join.key) + ".sock";
    const std::string path = dir.socket(task.socket_name);
    task.holder = "the holder of the container of " + join.shown;
    RuntimeDir::Lock lock(dir);
    Fd c;
    {
        log::Phase ph("join: connect");
        c = unix_socket::connect_to(path);
    }
    if (!c) {
        log::Phase ph("join: start the holder");
        ::unlink(path.c_str()); // a holder that was killed left it
        const int lock_fd = lock.fd();
        spawn_server(task.holder, {lock_fd}, [&](int ready) {
            hold_container(p, node, join, task.socket_name, ready, lock_fd);
        });
        c = unix_socket::connect_to(path);
        if (!c) {
            throw Error(task.holder + " started but does not answer");
        }
    }
    if (unix_socket::peer_uid(c.get()) != ::getuid()) {
        throw Error("the socket " + path + " belongs to another user");
    }
    unix_socket::send(c.get(), container_digest(p), {}, task.holder);
    unix_socket::Message m = unix_socket::receive(c.get(), task.holder);
    lock.release();
    if (m.text != "ok") {
        throw Error(m.text.empty() ? task.holder + " closed the connection" : m.text);
    }
    {
        log::Phase ph("join: enter");
        enter_container(m.fds);
    }
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        throw_errno("cannot set no_new_privs");
    }
    task.connection = std::move(c);
    return task;
}

int run_joined(const LaunchPlan& p, const NodeContext& node, const JoinSpec& join) {
    BlockedSignals signals;
    JoinedTask task = enter_joined(p, node, join);
    Environment env(p.env);
    env.set("PWD", enter_cwd(p));
    try {
        return run_command(p.argv, env.entries(), signals,
                           {true, task.connection.get(), task.holder});
    } catch (const Error&) {
        // a killed holder cannot remove its socket
        RuntimeDir(node.runtime_dir).remove_if_stale(task.socket_name);
        throw;
    }
}

} // namespace husk::runtime
