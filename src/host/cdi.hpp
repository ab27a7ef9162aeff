// The Container Device Interface (CDI, github.com/cncf-tags/container-device-interface,
// SPEC.md): specs that describe a node's devices as container edits,
// versions 0.3.0 to 1.1.0, in JSON or YAML; fully qualified device names
// "vendor.com/class=name"; husk's interpretation of the known hooks.
#pragma once

#include "host/edits.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace husk::host::cdi {

/// Oldest and newest spec versions read.
inline constexpr const char* kOldestVersion = "0.3.0";
inline constexpr const char* kNewestVersion = "1.1.0";
/// Largest spec file read (real ones are a few KiB to a few hundred).
inline constexpr size_t kMaxSpecBytes = 4 << 20;

/// A spec's "deviceNodes" entry.
struct SpecDeviceNode {
    std::string path;             ///< in the container, absolute
    std::string host_path;        ///< on the host; "" means `path`
    std::string type;             ///< "c", "b", "u", "p" or "" (not checked)
    std::optional<int64_t> major; ///< checked against the host node when given
    std::optional<int64_t> minor;
    std::string permissions; ///< a subset of "rwm", "none", or "" (rwm)
    std::optional<uint32_t> file_mode;
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;

    bool operator==(const SpecDeviceNode&) const = default;
};

/// A spec's "mounts" entry.
struct SpecMount {
    std::string host_path;      ///< absolute for a bind; else the source's name ("tmpfs")
    std::string container_path; ///< absolute
    std::string type; ///< "" or "bind" (a bind; also "none" with bind or rbind), "tmpfs", other
    std::vector<std::string> options; ///< mount(8) options: ro, rw, bind, rbind, nosuid, ...

    bool operator==(const SpecMount&) const = default;
};

/// A spec's "hooks" entry (OCI runtime spec hooks, with hookName).
struct SpecHook {
    std::string hook_name;         ///< createContainer, startContainer, ...
    std::string path;              ///< the program
    std::vector<std::string> args; ///< argv, args[0] included
    std::vector<std::string> env;
    std::optional<int64_t> timeout;

    bool operator==(const SpecHook&) const = default;
};

/// A "netDevices" entry (1.1.0+): a host network interface to move into
/// the container under `name`.
struct SpecNetDevice {
    std::string host_interface_name;
    std::string name;

    bool operator==(const SpecNetDevice&) const = default;
};

/// "containerEdits".
struct SpecEdits {
    std::vector<std::string> env;
    std::vector<SpecDeviceNode> device_nodes;
    std::vector<SpecMount> mounts;
    std::vector<SpecHook> hooks;
    std::vector<uint32_t> additional_gids;  ///< 0.7.0+: read, not applied (said at -v)
    std::string intel_rdt_class;            ///< 0.7.0+ intelRdt.closID: read, not applied
    std::vector<SpecNetDevice> net_devices; ///< 1.1.0+: read, not applied (said at -v)

    bool operator==(const SpecEdits&) const = default;
};

/// One "devices" entry.
struct SpecDevice {
    std::string name; ///< the part after '=': [A-Za-z0-9][A-Za-z0-9_.:-]*
    /// 0.6.0+: "key=value" each (the spec's map), in key order, keys unique.
    std::vector<std::string> annotations;
    SpecEdits edits;

    bool operator==(const SpecDevice&) const = default;
};

/// One spec file.
struct Spec {
    std::string version; ///< cdiVersion, kOldestVersion .. kNewestVersion
    std::string kind;    ///< "vendor.com/class"
    std::vector<SpecDevice> devices;
    SpecEdits edits;  ///< the spec's own containerEdits, applied once with any of its devices
    std::string file; ///< where it was read, for messages; "" for a generated one
    int priority = 0; ///< the index of its directory: a later directory wins

    bool operator==(const Spec&) const = default;
};

/// Parses a spec from `text` (at most kMaxSpecBytes): JSON when the first
/// non-blank character is '{', else YAML (one document; its scalars are
/// text, read as an integer where the field is one in YAML 1.1's forms, as
/// the reference implementation reads them: 0666 is octal, 0x1f hex, 0b101
/// binary; as a boolean where the field is one: true or false; a plain ~,
/// null or empty value is null; aliases are copies, up to 8 times
/// kMaxSpecBytes in all). In both, null means absent. Validating
/// every field by SPEC.md and the reference implementation
/// (container-device-interface pkg/cdi, pkg/parser): cdiVersion one of
/// 0.3.0 .. 1.1.0 (a leading "v" is dropped); kind "vendor/class", each
/// starting with a letter, ending with a letter or digit, of letters,
/// digits, '_', '-' and '.' (a '.' in the class from 0.6.0); at least one
/// device, names unique, of letters, digits, '_', '-', '.' and ':', starting
/// and ending with a letter or digit (a digit first from 0.5.0), each with
/// edits; absolute paths; env "KEY=VALUE"; hook names of the OCI runtime
/// spec; known field names (an unknown one is an error, as in the reference
/// implementation's strict mode); a field newer than cdiVersion (set, not
/// empty) refused, as are enableCMT and enableMBM of intelRdt from 1.1.0,
/// which dropped them. Spec-level annotations are checked, then dropped.
/// Duplicate keys, NUL bytes, text that is not UTF-8 and nesting deeper
/// than the schema are refused.
/// @throws husk::Error "<file>: <field>: <reason>", one line, the field as
///         "devices[2].containerEdits.deviceNodes[0].path".
Spec parse_spec(std::string_view text, const std::string& file);

/// Serialises `spec` as cdiVersion `spec.version`, raised to the oldest
/// version that has every field set (so that the text is a valid spec),
/// JSON (`yaml` false, two-space indentation) or YAML, fields in SPEC.md's
/// order, with only the fields that are set: what `husk cdi generate`
/// prints. parse_spec() reads a valid spec back equal (`file` and
/// `priority` aside, which are not written).
std::string write_spec(const Spec& spec, bool yaml);

/// The specs of a node: every *.json, *.yaml and *.yml file of each folder
/// of `dirs`, in order (default /etc/cdi, then /var/run/cdi; a missing
/// folder is skipped), each folder's files in name order. A later folder
/// wins for a device named in two (CDI's priority rule); two specs of one
/// folder naming the same device are an error (when not `strict`, a
/// warning, and the later file's device is dropped).
struct Registry {
    std::vector<Spec> specs;
    /// The folders read (load()'s `dirs`), for messages.
    std::vector<std::string> dirs = {};
    /// One line per spec file that did not parse, naming the file and the
    /// reason; those files are skipped, as CDI's reference implementation
    /// skips them, so that one vendor's broken or newer spec does not take
    /// the node's other devices away. device_edits() names them when a
    /// device asked for is not found.
    std::vector<std::string> unreadable = {};

    /// Reads the folders: regular files (symlinks followed), at most
    /// kMaxSpecBytes each. A file that does not parse goes to
    /// `unreadable`, and warn_unreadable() says so unless `strict` (husk
    /// run --device, which calls it only when its devices are found
    /// elsewhere). `priority` is the folder's index.
    /// @throws husk::Error naming the file: two specs of one folder naming
    ///         a device, when `strict`; naming the folder when one that
    ///         exists cannot be read (either way).
    static Registry load(const std::vector<std::string>& dirs, bool strict);

    /// A warning for each of `unreadable`: "FILE: REASON (skipped)".
    void warn_unreadable() const;

    /// Every fully qualified device name the specs offer, sorted.
    std::vector<std::string> device_names() const;
};

/// A fully qualified device name, split: "nvidia.com/gpu=all" gives
/// vendor "nvidia.com", class "gpu", name "all".
struct QualifiedName {
    std::string vendor;
    std::string clazz;
    std::string name;

    std::string kind() const { return vendor + "/" + clazz; }
};

/// Parses and validates "vendor.com/class=name" (split at the first '='
/// and the first '/' before it), by pkg/parser's rules: vendor and class as
/// parse_spec() checks a kind's (a '.' in the class allowed), the name as a
/// device's.
/// @throws husk::Error "--device <text>: <reason>".
QualifiedName parse_qualified_name(std::string_view text);

/// What interpreting a spec's hooks needs to know.
struct HookContext {
    /// Where the host's tree is: "/" or a test's fake tree (see gpu.hpp).
    std::string host_root = "/";
    /// The spec was made a moment ago by discovery (gpu.hpp), from device
    /// nodes it has just stat'ed itself, never through a symlink: they are
    /// taken as the spec gives them, without an lstat of each again.
    bool nodes_discovered = false;
};

/// The edits of the named devices (`--device`, repeatable), in the order
/// asked, as the reference implementation injects them: before a spec's
/// first device, the spec's own containerEdits (once per spec); a name
/// asked twice counts once. "KIND=all" is the device "all" of a spec that
/// has one (nvidia-ctk writes one), else every device of that kind, in the
/// specs' order. A device named in two folders' specs is the later folder's.
/// - env: appended.
/// - device nodes: the host's node at hostPath (else path), below
///   ctx.host_root, must exist (lstat) and be a character ("c", "u"),
///   block ("b") or fifo ("p") device, of `type`, `major` and `minor` where
///   the spec gives them (unless ctx.nodes_discovered); a later node on
///   the same path replaces an earlier.
/// - mounts: type "" or "bind" ("none" with bind or rbind) a bind of
///   hostPath below ctx.host_root, read-only with "ro", "readonly" or "rro";
///   "tmpfs" a tmpfs; any other type, or an option that is not one of the
///   harmless ones (rw, bind, nosuid, nodev, propagation, atime, tmpfs's
///   size and mode), is refused. A later mount on the same containerPath
///   replaces an earlier; then stably ordered by depth, as the reference
///   implementation orders them.
/// - hooks of nvidia-cdi-hook (args [argv0, SUBCOMMAND, ...]) and nvidia-ctk
///   ([argv0, "hook", SUBCOMMAND, ...]), known by the basename of `path`,
///   are interpreted, never run: `create-symlinks --link TARGET::LINK`
///   (symlink edits, after the mounts, a later one on the same path
///   replacing an earlier), `update-ldcache --folder DIR` (DIR appended to
///   ld_library_path, once); `chmod --mode OCTAL --path P` (the folders
///   husk makes are the user's own, the container's only user; the host's
///   and the image's are never changed), `enable-cuda-compat` (husk does
///   not set up CUDA's forward-compatibility libraries),
///   `disable-device-node-modification` (the driver cannot make nodes in a
///   user namespace anyway),
///   `update-application-profile` (EGL cannot open the hidden nodes) and
///   `noop`: a note. Any other hook is refused.
/// - additionalGids, intelRdt and netDevices: a note each (husk runs as the
///   user, in the host's network namespace).
/// needs_new_paths is set when a mount or symlink is added. For each kind
/// asked, the device nodes of its devices that were not asked for (and are
/// not nodes of the edits) are listed in hidden_device_nodes.
/// @throws husk::Error, one line: an unknown name ("--device K=n: no such
///         device; K offers: a, b", or "--device K=n: no CDI spec of the node
///         offers kind K (specs read from DIRS; kinds offered: ...)", either
///         followed by "; skipped: " and registry.unreadable), a node
///         that does not match, a refused hook or mount, each naming the
///         spec file and the device.
ContainerEdits device_edits(const Registry& registry, const std::vector<std::string>& names,
                            const HookContext& ctx);

} // namespace husk::host::cdi
