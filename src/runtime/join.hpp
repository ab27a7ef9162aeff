// Tasks of a job step on one node share one container: the first builds it
// (through a holder process), the others enter it.
#pragma once

#include "runtime/container.hpp"
#include "runtime/plan.hpp"
#include "runtime/run_options.hpp"
#include "util/fd.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace husk::runtime {

/// Which container a task joins.
struct JoinSpec {
    std::string key;      ///< "tag:TAG", "ompi:JOB", "slurm:JOB.STEP[@NODE]", "pmix:NAMESPACE"
    std::string shown;    ///< for messages: "Slurm step 123.0"
    uint32_t local_tasks; ///< tasks expected on this node; 0 when unknown
};

/// The number of tasks on node `node` (0-based) from Slurm's
/// SLURM_STEP_TASKS_PER_NODE, a list of counts each optionally repeated:
/// "4(x2),3" is 4 on nodes 0 and 1, 3 on node 2.
/// @throws husk::Error for a malformed list or a node beyond it.
uint32_t slurm_tasks_on_node(std::string_view spec, uint32_t node);

/// Decides whether and what to join, from the options and the launcher's
/// variables in `environ` (KEY=VALUE). Pure. In order:
///   --no-join: none; --join=TAG: "tag:TAG" (count from --join-count);
///   Open MPI (OMPI_COMM_WORLD_LOCAL_SIZE, with PMIX_NAMESPACE or
///   OMPI_MCA_ess_base_jobid naming the job); Slurm (SLURM_JOB_ID,
///   SLURM_STEP_ID, the node's count from SLURM_STEP_TASKS_PER_NODE and
///   SLURM_NODEID); PMIx alone (PMIX_NAMESPACE, count unknown).
/// Without --join, a launcher's step joins only when it has more than one
/// task on this node; --join without a tag takes the launcher's key.
/// @throws husk::Error for --join with no tag outside any launcher, or a
///         malformed SLURM_STEP_TASKS_PER_NODE.
std::optional<JoinSpec> detect_join(const RunOptions& opts,
                                    const std::vector<std::string>& environ);

/// A digest of what makes two tasks' containers the same: the image, how
/// its root is mounted, the id maps, the account, every mount. Not the
/// environment, the working directory or the command, which are each
/// task's own.
std::string container_digest(const LaunchPlan& p);

/// A task that has entered a joined container (enter_joined()).
struct JoinedTask {
    /// The connection to the container's holder: open while the task is
    /// in the container (the holder counts it), at end of file when the
    /// holder ended. O_CLOEXEC.
    Fd connection;
    std::string holder;      ///< "the holder of the container of ...", for messages
    std::string socket_name; ///< the holder's socket in the runtime folder
};

/// The "enter per task" half of a joined launch, shared by run_joined()
/// and the Slurm SPANK plugin: under the runtime folder's lock, connects to
/// the holder of the container that `join` names, or (the first task)
/// starts the holder, which prepares the container once for the node with
/// Container::create; sends this task's container_digest(); then enters the
/// container (enter_container(): user, mount and, for children, PID
/// namespaces) and sets PR_SET_NO_NEW_PRIVS. The working directory and the
/// environment are the caller's to set. The caller must be single-threaded
/// and should block kForwardedSignals first (BlockedSignals) when it will
/// run the command itself.
/// @throws husk::Error: the holder could not build the container (its
///         error), or this task's digest differs from the container's, or a
///         namespace was refused.
JoinedTask enter_joined(const LaunchPlan& p, const NodeContext& node, const JoinSpec& join);

/// Runs the plan's command in the container that `join` names: connects to
/// its holder, or (the first task) starts the holder, which builds the
/// container with Container::create and serves its namespaces to the tasks
/// that join, then enters it and runs the command as run_command() does.
/// The holder is no task: any task, the first included, may end or be
/// killed without harm to the others; the holder ends, killing what is left
/// in the container, when every task has left (and, with a known count,
/// all have come or none came for kJoinGrace seconds).
/// @returns the command's status.
/// @throws husk::Error: the holder could not build the container (its
///         error), or this task's container_digest() differs from the
///         container's, or the holder ended while the command ran.
int run_joined(const LaunchPlan& p, const NodeContext& node, const JoinSpec& join);

/// Seconds a holder waits for the rest of its expected tasks after all
/// present ones left.
inline constexpr int kJoinGrace = 30;

} // namespace husk::runtime
