// Container edits: what the host lends a container, in the model of the
// Container Device Interface (CDI spec v1.1.0, "containerEdits"):
// environment, mounts, device nodes, and what the known hooks would do
// (symlinks, folders for the dynamic linker). Every host injection is a
// generator of edits: the base mounts (base_edits()), the site's default
// binds, the launcher's folders, CDI devices, --gpu, --mpi=host and the
// user's -b; runtime::plan() takes them and stays pure.
#pragma once

#include "util/bind.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace husk::host {

/// What a mount step does.
enum class MountKind {
    Proc,    ///< a procfs of the container's PID namespace (else the host's, bound)
    Bind,    ///< recursive bind of host `source` on `target`
    Tmpfs,   ///< a fresh tmpfs on `target` (mode 1777, or 0755 for a /dev)
    Passwd,  ///< generated /etc/passwd (merge_passwd of the image's own)
    Group,   ///< generated /etc/group (merge_group of the image's own)
    Devpts,  ///< a new devpts instance on `target` (newinstance, ptmxmode=0666)
    Symlink, ///< a symlink at `target` whose text is `source`, where nothing is yet
    Mask,    ///< an empty, unreadable file bound over `target` where it exists
    File,    ///< a file whose bytes are `source`, made on the staging tmpfs and bound on `target`
};

/// What to do when `target` does not exist in the image and cannot be created
/// (the root is read-only, or creating it failed).
enum class OnMissing {
    Fail,        ///< error, exit 125 (the user asked for it: -b, --device)
    Warn,        ///< warn and skip
    Quiet,       ///< skip, say so only at -v
    TmpfsParent, ///< mount a tmpfs on the deepest existing directory (not /), then create the
                 ///< rest (as ch-run does for $HOME)
};

/// One mount step (CDI "mounts", plus husk's own kinds), applied in order by
/// runtime::build_root().
struct Mount {
    MountKind kind = MountKind::Bind;
    std::string source; ///< absolute host path (Bind), link text (Symlink), bytes (File), else ""
    std::string target; ///< absolute path inside the container
    bool read_only = false;
    OnMissing on_missing = OnMissing::Fail;
    std::string what; ///< for messages: "home", "-b /scratch:/data", "--gpu: libcuda.so.1"
    /// Bind only: the source must be a regular file (or a device node, for
    /// `device`) whose last component is no symlink; it is opened with
    /// O_PATH|O_NOFOLLOW and mounted from that descriptor (CVE-2024-0132).
    bool exact_source = false;
    /// Bind only: a device node; bound without nodev even when read_only.
    bool device = false;
    /// A mount point this mount has to make in a writable image (-w) is
    /// removed again when the container ends, as far as it is still the
    /// empty file or folder husk made: set by plan() for the host stage's
    /// mounts, whose mount points are husk's, not for the user's -b binds,
    /// whose are kept (as ch-run -w keeps them).
    bool transient_mount_point = false;

    bool operator==(const Mount&) const = default;
};

/// One device node (CDI "deviceNodes"). A user namespace cannot mknod(2), so
/// the host's node is bound on `path`.
struct DeviceNode {
    std::string path;      ///< in the container: "/dev/nvidia0"
    std::string host_path; ///< on the host (CDI hostPath, else path)
    std::string what;      ///< for messages: "nvidia.com/gpu=0 (/etc/cdi/nvidia.yaml)"

    bool operator==(const DeviceNode&) const = default;
};

/// How the container's /dev is made (--dev).
enum class DevMode {
    Host,    ///< the host's /dev, bound recursively (the default, for HPC fabrics)
    Minimal, ///< a tmpfs with null zero full random urandom tty, pts, shm and the assigned devices
};

/// Edits of one or more generators, applied in order.
struct ContainerEdits {
    std::vector<std::string> env; ///< KEY=VALUE, set after the image's Env
    std::vector<Mount> mounts;
    std::vector<DeviceNode> device_nodes;
    /// Device nodes that must not be reachable inside: the nodes of the
    /// GPUs that were not selected. Under DevMode::Host they are masked.
    std::vector<std::string> hidden_device_nodes;
    /// The folders of CDI's update-ldcache hook, in this order: their
    /// libraries go into the container's ld.so.cache (cache_ld_folders(),
    /// host/ldcache.hpp), which empties this; what it leaves is put first
    /// in LD_LIBRARY_PATH (the fallback; the image is never written).
    std::vector<std::string> ld_library_path;
    /// Some target may be missing in the image: the plan gives a read-only
    /// root a mount-point layer (runtime::LaunchPlan::mount_point_layer) so
    /// that mount points can be made without writing the image.
    bool needs_new_paths = false;
    /// What the generators decided, said at -v.
    std::vector<std::string> notes;

    /// Appends `other`'s edits after these: copied, or moved from a
    /// temporary (a generator's result), which is left valid but unspecified.
    void append(const ContainerEdits& other);
    void append(ContainerEdits&& other);
};

/// What base_edits() needs to know.
struct BaseInputs {
    bool private_tmp = false; ///< --private-tmp: a tmpfs on /tmp
    std::string home;         ///< host folder bound at the same path; "" or "/": none
    DevMode dev = DevMode::Host;
};

/// The fixed mounts of every container, in order: /proc (the container's
/// own procfs), /sys (the host's, bound), /dev (the host's, bound, or the
/// minimal one), /tmp (the host's, or a tmpfs), $HOME, /etc/hosts and
/// /etc/resolv.conf (the host's, read-only), /etc/passwd and /etc/group
/// (generated). Pure.
ContainerEdits base_edits(const BaseInputs& in);

/// The minimal /dev (DevMode::Minimal): a tmpfs on /dev; the host's null,
/// zero, full, random, urandom and tty bound; a devpts of its own with
/// /dev/ptmx; the host's /dev/shm (MPI's shared memory); the fd, stdin,
/// stdout and stderr links into /proc/self/fd. Pure.
std::vector<Mount> minimal_dev_mounts();

/// A bind given by the user (-b) or the site (binds), whose source
/// runtime::gather_host_facts() resolved (b.resolved). Site binds warn where
/// the image has no mount point; -b fails. `shown` names it in messages.
/// @throws husk::Error for a relative destination or one that is the root.
Mount bind_edit(const BindSpec& b, bool from_site, const std::string& shown);

/// The device nodes as mounts: each host node bound on its path, except,
/// under DevMode::Host, one already there (the same path on the host);
/// under DevMode::Host, a node missing in the host's /dev is skipped with a
/// warning (husk creates nothing in the host's /dev). Then the hidden nodes
/// masked (DevMode::Host only). Pure.
std::vector<Mount> device_mounts(const ContainerEdits& edits, DevMode dev);

} // namespace husk::host
