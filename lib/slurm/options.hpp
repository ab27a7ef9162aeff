// The SPANK plugin's options and plugstack.conf arguments, as plain data:
// parsed and turned into a `husk run` request without any Slurm call, so
// that unit tests cover them. See doc/slurm.md.
#pragma once

#include "host/gpu.hpp"
#include "runtime/run_options.hpp"
#include "util/bind.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace husk::slurm {

/// plugstack.conf's gpu=: which tasks get the node's GPU driver.
enum class GpuPolicy {
    Auto,   ///< a task of a step that Slurm gave GPUs, with the node's driver's vendor
    Nvidia, ///< every task on a node with an NVIDIA driver (sites without GRES)
    Amd,    ///< every task on a node with an AMD driver (sites without GRES)
    None,   ///< no task
};

/// The arguments of the plugin's plugstack.conf line (spank(8)): site
/// defaults. Each is KEY=VALUE.
struct PluginArgs {
    /// runtime_dir=DIR: the per-user runtime folder on each node, where
    /// holders, image servers and named containers live; "%U" is replaced
    /// by the job's uid. Node-local. Default "/tmp/husk-%U".
    std::string runtime_dir = "/tmp/husk-%U";
    /// mounts=SRC:DST[:FLAGS],...: binds every container gets, before the
    /// user's --container-mounts.
    std::vector<BindSpec> mounts;
    /// sbatch_support=1|0: whether sbatch and salloc take the options (the
    /// batch script then runs in the container).
    bool sbatch_support = true;
    /// remap_root=1|0: the default of --container-remap-root.
    bool remap_root = false;
    /// mount_home=1|0: the default of --container-mount-home.
    bool mount_home = true;
    /// linger=SECONDS: how long a SquashFS image server stays after its
    /// last container (husk run's --linger); unset: the site config's.
    std::optional<uint32_t> linger;
    /// gpu=auto|nvidia|amd|none: which tasks get husk run's --gpu (the
    /// node's driver, and only the GPUs the step's environment selects).
    GpuPolicy gpu = GpuPolicy::Auto;
};

/// Parses the plugstack.conf arguments.
/// @throws husk::Error "plugstack.conf: ARG: reason" for an unknown key, a
///         missing '=', a bad boolean, a relative runtime_dir, a bad mount.
PluginArgs parse_plugin_args(const std::vector<std::string>& args);

/// --container-name=NAME[:create|exec|auto]: what to do when the job's
/// container of that name exists on the node, or does not.
enum class NameMode {
    Auto,   ///< use it if it exists, else create it (the default)
    Create, ///< create it; an error if an earlier step made it
    Exec,   ///< use it; an error if it does not exist
};

struct ContainerName {
    std::string name; ///< 1 to 64 of [A-Za-z0-9._-], not starting with '.'
    NameMode mode = NameMode::Auto;
};

/// @throws husk::Error "--container-name=TEXT: reason".
ContainerName parse_container_name(std::string_view text);

/// Parses --container-mounts: SRC[:DST[:FLAGS]] items separated by ','.
/// FLAGS are '+'-separated: ro, rw, bind, rbind (husk's binds are always
/// recursive). `what` names the option in errors.
/// @throws husk::Error "WHAT: ITEM: reason".
std::vector<BindSpec> parse_mounts(std::string_view list, std::string_view what);

/// The container options of one srun, sbatch or salloc, as given: unset
/// ones take the HUSK_CONTAINER_* variables, then the plugin's defaults.
struct ContainerOptions {
    std::optional<std::string> image;   ///< --container-image
    std::optional<std::string> mounts;  ///< --container-mounts
    std::optional<std::string> workdir; ///< --container-workdir
    std::optional<std::string> env;     ///< --container-env NAME,...
    std::optional<std::string> name;    ///< --container-name
    std::optional<bool> writable;       ///< --container-writable / --container-readonly
    std::optional<bool> remap_root;     ///< --[no-]container-remap-root
    std::optional<bool> mount_home;     ///< --[no-]container-mount-home
    std::optional<bool> entrypoint;     ///< --[no-]container-entrypoint

    /// Whether the step runs in a container at all.
    bool wanted() const { return image.has_value() || name.has_value(); }
};

/// Fills the options not given from the environment's HUSK_CONTAINER_IMAGE,
/// _MOUNTS, _WORKDIR, _ENV, _NAME (text) and _WRITABLE, _REMAP_ROOT,
/// _MOUNT_HOME, _ENTRYPOINT (1|0). `getenv` returns nullopt for unset.
/// @throws husk::Error "HUSK_CONTAINER_X=VALUE: reason" for a bad boolean.
void apply_environment(ContainerOptions& o,
                       const std::function<std::optional<std::string>(const char*)>& getenv);

/// Checks what can be checked where the options are given (srun, sbatch):
/// the name, the mounts, an absolute workdir, the env names.
/// @throws husk::Error naming the option and the reason.
void validate(const ContainerOptions& o, const PluginArgs& args);

/// A named container's state on a node.
struct NamedState {
    std::string image;      ///< the image it was made from ("" if none yet)
    bool exists = false;    ///< an earlier step (or this one) made it
    bool this_step = false; ///< made by this very step (another task of it)
};

/// The `husk run` request of one task: the image (or the named container's),
/// the binds (the plugin's, then --container-mounts), --container-workdir as
/// --cd, the names of --container-env taken from the job's environment
/// (they win over the image's), remap root as --fake-root, mount home as
/// the opposite of --no-home, --container-writable as an overlay (in
/// `overlay_dir` for a named container, kept for later steps; the image is
/// never written), and joining the step's container on the node. `argv` is
/// the task's command.
/// @throws husk::Error: no image and no existing named container, a named
///         container asked to be created twice or used before it exists,
///         an image that differs from the named container's,
///         --container-entrypoint (the task's command is Slurm's to exec).
runtime::RunOptions run_options(const ContainerOptions& o, const PluginArgs& args,
                                const std::vector<std::string>& argv, const NamedState& named,
                                const std::string& overlay_dir);

/// The --gpu of one task under `policy` (husk run's --gpu=VENDOR): "nvidia"
/// or "amd", or nullopt for none. Auto: when the first of SLURM_STEP_GPUS,
/// SLURM_JOB_GPUS (the batch step's) set in the task's environment
/// (`getenv`, nullopt for unset) names GPUs, and `node` (the node's driver,
/// host::gpu::node_vendor()) is known; Nvidia, Amd: when `node` is that
/// vendor; None: never. `node` is asked only when the policy leaves the
/// answer to it: a task given no GPU looks at no device node. Slurm's
/// variables then select the GPUs (see host::gpu::selected_devices()).
std::optional<std::string>
task_gpu(GpuPolicy policy, const std::function<std::optional<std::string>(const char*)>& getenv,
         const std::function<std::optional<host::gpu::Vendor>()>& node);

/// "1", "yes", "true" / "0", "no", "false".
/// @throws husk::Error "WHAT: not a boolean (1|0|yes|no|true|false)".
bool parse_bool(std::string_view text, std::string_view what);

} // namespace husk::slurm
