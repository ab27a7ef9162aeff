// A container: prepared once (namespaces, root, init), entered by each task.
#pragma once

#include "runtime/image_server.hpp"
#include "runtime/plan.hpp"
#include "runtime/process.hpp"
#include "util/fd.hpp"

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace husk::runtime {

/// What a container's tasks need to know of the node: where the runtime
/// folder is and how long an image server lingers.
struct NodeContext {
    std::string runtime_dir;
    uint32_t linger = 0;
    /// The SquashFS server's fuse_cpu_limit (config::Settings), seconds.
    uint32_t fuse_cpu_limit = 0;
    /// A descriptor of the runtime folder whose lock this process already
    /// holds (see RuntimeDir::Lock), or -1.
    int held_lock = -1;
};

/// Checks that this process may create the user, mount and PID namespaces
/// a container needs (a child made in them exits at once), before work
/// that would be wasted without them (unpacking an archive into the cache).
/// @throws husk::Error as Container::create() does when they are refused,
///         with the sysctls to look at.
void check_namespaces();

/// A container as its holder sees it: the process that made it (the one
/// husk of a single run, or the holder daemon of joined tasks) stays in its
/// user and mount namespaces, its children go to its PID namespace, whose
/// first process, the container's init, built the root and reaps orphans.
///
/// Lifetime, the rule "no process outlives its container": init dies with
/// the holder (PR_SET_PDEATHSIG), and when the init of a PID namespace dies
/// the kernel kills every process in it, setsid daemons included
/// (pid_namespaces(7)). So whether the holder ends, fails or is killed
/// (SIGKILL included), nothing of the container keeps running, and nothing
/// runs over a SquashFS mount whose server is gone.
class Container {
  public:
    /// Prepares the container of `plan` in the calling process, which must
    /// be single-threaded: for a SquashFS image, a lease on the image's
    /// server and its namespaces (setns); then new user, mount and PID
    /// namespaces (unshare(2)) with the plan's id maps; then init, which
    /// builds the root (build_root()) and mounts the PID namespace's procfs.
    /// Afterwards the caller is in the container's user and mount
    /// namespaces, with its root as "/", and its children are born in the
    /// container's PID namespace.
    /// @throws husk::Error from any step, init's included (by message).
    static Container create(const LaunchPlan& plan, const NodeContext& node);

    Container(Container&& other) noexcept;
    Container& operator=(Container&&) = delete;
    Container(const Container&) = delete;
    Container& operator=(const Container&) = delete;
    /// Kills what is left in the container and reaps init.
    ~Container();

    /// Descriptors of the user, mount and PID namespaces (the last being
    /// the holder's pid_for_children), for tasks that join: setns(2) them
    /// in that order.
    std::vector<int> namespaces() const;

    /// The lease on the image's SquashFS server, whose end means the image
    /// is gone (for run_command()'s watch), or -1.
    int lease_fd() const noexcept { return lease_ ? lease_->connection.get() : -1; }
    /// The image server's warnings (ImageLease::warnings), or -1.
    int warnings_fd() const noexcept { return lease_ ? lease_->warnings.get() : -1; }
    /// The image server's socket name in the runtime folder, or "".
    std::string lease_name() const { return lease_ ? lease_->name : ""; }

    /// Waits until every process left in the container has exited (init
    /// reaps them, then says so and exits), forwarding kForwardedSignals
    /// to all of them meanwhile. Init's own exit, which tears the
    /// container's namespaces and mounts down, is not waited for: init is
    /// left to be reaped as this process's orphan.
    void wait_all(const BlockedSignals& signals);

    /// Kills every process in the container (init's kill(-1, SIGKILL)) and
    /// waits for init.
    void kill_all();

    pid_t init_pid() const noexcept { return init_; }

  private:
    Container() = default;

    std::optional<ImageLease> lease_;
    Fd userns_, mntns_, pidns_; ///< opened while this process's /proc still showed itself
    Fd control_;                ///< socketpair to init: "d" drain, "k" kill, "s<N>" signal
    pid_t init_ = -1;
};

/// Enters a container prepared by another process (a holder), given its
/// namespaces as Container::namespaces() lists them: setns(2) into the
/// user, mount and PID namespaces. Afterwards the caller's root is the
/// container's and its children are born in the container's PID namespace.
/// The caller must be single-threaded.
/// @throws husk::Error naming the namespace the kernel refused.
void enter_container(const std::vector<Fd>& namespaces);

/// Enters the plan's working directory, or its fallback, and returns the one
/// entered (for PWD).
/// @throws husk::Error when -c named one that cannot be entered.
std::string enter_cwd(const LaunchPlan& p);

} // namespace husk::runtime
