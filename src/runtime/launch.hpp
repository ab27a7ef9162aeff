// The launch pipeline of `husk run`.
#pragma once

#include "host/mpi.hpp"
#include "runtime/container.hpp"
#include "runtime/join.hpp"
#include "runtime/plan.hpp"
#include "runtime/run_options.hpp"
#include "util/config.hpp"

#include <optional>

namespace husk::runtime {

/// Runs the plan's command alone in a container of its own: prepares it in
/// this process (Container::create: the SquashFS server's lease, the
/// namespaces, init and the root), sets PR_SET_NO_NEW_PRIVS, enters the
/// working directory and runs the command (run_command()), then waits for
/// every process the command left in the container.
/// @returns the command's exit status (see process.hpp).
/// @throws husk::Error for any failure of husk itself.
int launch(const LaunchPlan& p, const NodeContext& node);

/// The host stage's inputs from the settings (host root, site MPI
/// libraries, ABI policy).
/// @throws husk::Error for a bad mpi_abi_policy.
host::HostMpiOptions host_mpi_options(const config::Settings& settings);

/// The host's root for --gpu's discovery: $HUSK_HOST_ROOT in `environ` (a
/// test hook, so that tests can point --gpu at a fake driver tree;
/// documented as such in husk-run(1)), else "/". CDI specs' host paths are
/// taken as written.
std::string host_root(const std::vector<std::string>& environ);

/// The host stage: the container edits of every host injection `opts` and
/// `settings` ask for, in this order: the site's devices and --device
/// (CDI specs of settings.cdi_spec_dirs), --gpu (discovered; its GPUs
/// selected by the host's CUDA_VISIBLE_DEVICES and the like, in
/// host.environ, its library groups by NVIDIA_DRIVER_CAPABILITIES as the
/// command will see it: the host's, the image config's Env, --env-file, -e,
/// as libnvidia-container reads it from the container's environment),
/// --mpi=host; for plan().
/// @throws husk::Error from a generator (an unknown device, no GPU, an ABI
///         mismatch, a missing MPI), or assemble_env()'s (a malformed -e or
///         --env-file line) under --gpu.
host::ContainerEdits collect_edits(const RunOptions& opts, const image::Image& img,
                                   const config::Settings& settings, const HostFacts& host);

/// A launch decided and ready to start: the plan, the node's context and,
/// for a task of a job step, the container it joins.
struct Prepared {
    LaunchPlan plan;
    NodeContext node;
    std::optional<JoinSpec> join; ///< detect_join()'s answer
};

/// Everything of a launch before any namespace: resolve the image (a stored
/// name through the settings' store, an archive unpacked into its cache),
/// gather host facts (gather_host_facts(), which reads this process's
/// environment), run the host stage (collect_edits()), plan(), and
/// detect_join(). Shared by `husk run` and the Slurm SPANK plugin.
/// @throws husk::Error from any of those steps (exit 125).
Prepared prepare(const RunOptions& opts, const config::Settings& settings,
                 const config::Identity& who);

/// `husk run`: resolve the image (a stored name through the settings'
/// store, an archive unpacked into its cache), gather host facts, plan,
/// then launch() alone, or run_joined() when the task is one of several of
/// a job step on this node (detect_join()). `who` is the user running
/// husk (config::Identity::current(), looked up once per run).
/// @returns the command's exit status; @throws husk::Error (exit 125).
int run(const RunOptions& opts, const config::Settings& settings, const config::Identity& who);

} // namespace husk::runtime
