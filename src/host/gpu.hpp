// --gpu without a CDI spec: the host's NVIDIA or AMD driver found by husk
// (what libnvidia-container, Apptainer's --nv/--rocm and enroot's hooks
// find), described as a CDI spec so that `husk cdi generate --gpu` prints
// what `husk run --gpu` applies.
#pragma once

#include "host/cdi.hpp"
#include "image/files.hpp"

#include <optional>
#include <string>
#include <vector>

namespace husk::host::gpu {

enum class Vendor { Nvidia, Amd };

/// Parses "nvidia", "amd". @throws husk::Error naming `what`.
Vendor parse_vendor(const std::string& text, const std::string& what);

/// Where in the container the injected libraries are bound (each under its
/// soname), the folder of an update-ldcache hook (cache_ld_folders()).
inline constexpr const char* kNvidiaLibDir = "/usr/lib/husk-gpu";

/// What discovery reads.
struct DiscoverOptions {
    /// The host's root: "/", or a fake driver tree made by a test (a test
    /// hook: HUSK_HOST_ROOT, documented as such in doc/husk-run.md). Every
    /// host path read or bound is below it; container paths are not.
    std::string host_root = "/";
    /// NVIDIA_DRIVER_CAPABILITIES: "compute,utility" (the default, as
    /// libnvidia-container's), "all", or a list of compute, compat32,
    /// graphics, utility, video, display, ngx.
    std::string capabilities = "compute,utility";
    /// Whether to read each GPU's PCI bus and UUID from
    /// /proc/driver/nvidia/gpus (one file per GPU) to name the devices in
    /// bus order. false where no device is picked by name (every GPU shown,
    /// or none): the devices are then named in the order of N, without
    /// annotations. NVIDIA only.
    bool bus_order = true;
};

/// The GPU vendor whose driver this node has, by its control device node
/// under `host_root` (a character device, never through a symlink):
/// NVIDIA for /dev/nvidiactl or /dev/nvidia0, else AMD for /dev/kfd, else
/// nullopt. Two or three lookups, no discovery: what a launcher that
/// decides by itself whether to inject GPUs (the SPANK plugin) asks first.
std::optional<Vendor> node_vendor(const std::string& host_root);

/// Discovers the NVIDIA driver of `o.host_root`:
/// - devices: one per /dev/nvidiaN (a character device, not a link), named
///   by its index in PCI bus order (from
///   /proc/driver/nvidia/gpus/BUS/information, "Device Minor" and "GPU
///   UUID", kept as the annotations "bus=BUS" and "uuid=GPU-..."; by N
///   when that folder is missing or o.bus_order is false, and after the
///   listed ones for a node the driver does not list), each with its node
///   (type "c", its major and minor);
/// - the spec's own edits: /dev/nvidiactl, nvidia-uvm, nvidia-uvm-tools,
///   nvidia-modeset, /dev/nvidia-caps/* where present; the driver's
///   libraries for the capabilities, found by soname in the host's
///   /etc/ld.so.cache (read with parse_ld_cache), each an ELF object of
///   this machine (read_elf_dynamic), bound read-only under kNvidiaLibDir
///   with an update-ldcache hook for that folder; nvidia-smi,
///   nvidia-debugdump, nvidia-persistenced, nvidia-cuda-mps-control and
///   nvidia-cuda-mps-server from /usr/bin (read-only, at /usr/bin); the GSP
///   firmware of the running driver version (/lib/firmware/nvidia/VERSION);
///   the persistenced socket (/run/nvidia-persistenced/socket).
/// The driver version comes from /proc/driver/nvidia/version, else from
/// libcuda.so.1's file name; a library whose file is not of that version
/// (left by another driver) is skipped, as libnvidia-container does.
/// Kind "nvidia.com/gpu", cdiVersion 0.6.0 (annotations), or 0.5.0 when no
/// device has any (device names that start with a digit, hostPath).
/// Every hostPath is the real path of the file on the host, host_root
/// included (symlinks resolved inside host_root; one that leads out of it
/// is skipped): `husk cdi generate --gpu` prints a spec that --device can
/// apply as it is on this node. Files that are missing, of another type or
/// unreadable are skipped (said at -v).
/// @returns nullopt when there is no /dev/nvidiactl and no /dev/nvidia0.
/// @throws husk::Error: a malformed linker cache, a library that is not an
///         ELF object of this machine (naming it).
std::optional<cdi::Spec> discover_nvidia(const DiscoverOptions& o);

/// Discovers an AMD GPU of `o.host_root`: /dev/kfd and one device per
/// /dev/dri/renderD* (named by its index, renderD128 first), and /opt/rocm
/// (read-only) where the host has it. Kind "amd.com/gpu".
/// (gpu_edits() leaves /opt/rocm out when the image has its own.)
/// @returns nullopt without /dev/kfd.
std::optional<cdi::Spec> discover_amd(const DiscoverOptions& o);

/// The device names that the environment selects, for `spec`, by the first
/// variable set of (nvidia) NVIDIA_VISIBLE_DEVICES, SLURM_STEP_GPUS,
/// SLURM_JOB_GPUS, CUDA_VISIBLE_DEVICES or (amd) ROCR_VISIBLE_DEVICES,
/// SLURM_STEP_GPUS, SLURM_JOB_GPUS, HIP_VISIBLE_DEVICES (Slurm's name the
/// node's GPUs; its CUDA_VISIBLE_DEVICES counts from 0 under
/// ConstrainDevices=yes): a list of indices or
/// GPU UUIDs (matched against the devices' "uuid=" annotations; a unique
/// beginning of one, as CUDA takes, too); "all" or
/// unset: every device; "none", "void" or "": none (only the spec's own
/// edits). Returns fully qualified names ("nvidia.com/gpu=1").
/// @throws husk::Error naming the variable and the entry not found.
std::vector<std::string> selected_devices(const cdi::Spec& spec,
                                          const std::vector<std::string>& environ, Vendor vendor);

/// The edits of --gpu[=VENDOR]: discover, select by the environment, then
/// cdi::device_edits() over a registry of that one spec (with no device
/// selected: the spec's own edits only, every GPU node hidden). `image`
/// (may be null) is asked whether it has its own ROCm (/opt/rocm).
/// A GPU runtime numbers from 0 the GPUs it can open, so a list of indices
/// in CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES or HIP_VISIBLE_DEVICES
/// that made the selection is set again in `env`, renumbered to name the
/// same GPUs in the same order (UUIDs kept); NVIDIA_VISIBLE_DEVICES, which
/// no runtime reads, is left alone. Binds of regular files are
/// exact_source.
/// @throws husk::Error: no such GPU driver on this host ("--gpu: no NVIDIA
///         GPU on this node: no /dev/nvidiactl"), or as above.
ContainerEdits gpu_edits(Vendor vendor, const DiscoverOptions& o,
                         const std::vector<std::string>& environ, image::ImageFiles* image);

} // namespace husk::host::gpu
