// husk's settings: built-in defaults < site config < HUSK_* environment <
// command line. Read once at start-up by main(); modules take what they
// need from the Settings they are handed, never from getenv().
#pragma once

#include "util/bind.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace husk::config {

/// The site config read when HUSK_CONFIG is not set.
inline constexpr const char* kSiteConfig = "/etc/husk/husk.json";
/// Larger site configs are refused (a config is a few lines).
inline constexpr size_t kMaxSiteConfigBytes = 1 << 20;
/// Built-in unpack limits: a decompression bomb or an archive of millions of
/// empty files stops with an error instead of filling the disk.
inline constexpr uint64_t kMaxUnpackBytes = 64ULL << 30;
inline constexpr uint64_t kMaxUnpackEntries = 10'000'000;
/// The built-in linger of a SquashFS server inside a Slurm job, seconds.
inline constexpr uint32_t kSlurmLinger = 60;
/// The built-in fuse_cpu_limit, seconds: no request of a sound image takes
/// a thousandth of it; waiting on storage costs no CPU time.
inline constexpr uint32_t kFuseCpuLimit = 30;

/// Where a setting's value came from, in increasing precedence.
enum class Origin { BuiltIn, SiteConfig, Environment, CommandLine };

/// One setting: its value and, for `husk check` and error messages, where
/// that value came from ("built-in", "/etc/husk/husk.json", "HUSK_STORAGE").
template <typename T> struct Setting {
    T value{};
    Origin origin = Origin::BuiltIn;
    std::string from = "built-in";
};

/// Every setting of husk. See doc/husk.json.md for the site config's keys.
struct Settings {
    /// The site config file: HUSK_CONFIG, else kSiteConfig.
    std::string site_config = kSiteConfig;
    /// Whether it existed and was read (a missing kSiteConfig is no error).
    bool site_config_read = false;

    /// The storage folder (images, unpack cache): absolute. Built-in
    /// /var/tmp/$USER/husk; site key `storage` (with ${USER} and ${UID}
    /// replaced); HUSK_STORAGE.
    Setting<std::string> storage;
    /// Default binds added before the command line's -b: site key `binds`,
    /// SRC[:DST[:ro|rw]] strings with absolute paths. A default bind whose
    /// source is missing on this node is skipped.
    Setting<std::vector<BindSpec>> binds;
    /// Folders of CDI specs, later ones winning: built-in /etc/cdi then
    /// /var/run/cdi; site key `cdi_spec_dirs`; HUSK_CDI_SPEC_DIRS (colon
    /// separated).
    Setting<std::vector<std::string>> cdi_spec_dirs;
    /// CDI devices every container of this node gets, before the command
    /// line's --device: site key `devices`, fully qualified names
    /// ("vendor.com/class=name"; checked against the specs when applied).
    Setting<std::vector<std::string>> devices;
    /// Unpack limits per layer: site keys `max_unpack_bytes`,
    /// `max_unpack_entries`; HUSK_MAX_UNPACK_BYTES, HUSK_MAX_UNPACK_ENTRIES.
    Setting<uint64_t> max_unpack_bytes;
    Setting<uint64_t> max_unpack_entries;
    /// The per-user folder of the sockets by which tasks of a node find the
    /// container they join and the SquashFS server of an image. Built-in
    /// $XDG_RUNTIME_DIR/husk, else /tmp/husk-$UID; site key `runtime_dir`
    /// (${USER}, ${UID} replaced); HUSK_RUNTIME_DIR.
    Setting<std::string> runtime_dir;
    /// Seconds a SquashFS server stays after its last user, for job scripts
    /// that call husk many times. Built-in 0, or kSlurmLinger inside a
    /// Slurm job (SLURM_JOB_ID set); site key `linger`; HUSK_LINGER;
    /// --linger.
    Setting<uint32_t> linger;
    /// Seconds of CPU time one FUSE request of a SquashFS server may use
    /// before the server counts as wedged (libsquashfuse in a loop on a
    /// crafted image) and stops, aborting its connection, so that no reader
    /// waits on it forever; 0: never. Site key `fuse_cpu_limit`;
    /// HUSK_FUSE_CPU_LIMIT. Built-in kFuseCpuLimit.
    Setting<uint32_t> fuse_cpu_limit;
    /// The MPI of `husk run` without --mpi: "none" (the image's own) or
    /// "host" (--mpi=host). Site key `mpi`; HUSK_MPI.
    Setting<std::string> mpi;
    /// How strictly --mpi=host checks the host's MPICH-family library
    /// against the image's: "major", "full" or "strict". Built-in "full";
    /// site key `mpi_abi_policy`; HUSK_MPI_ABI_POLICY.
    Setting<std::string> mpi_abi_policy;
    /// The host's MPI libraries for --mpi=host, when the linker cache does
    /// not list them (a vendor's MPI): absolute paths. Site key
    /// `mpi_libraries`.
    Setting<std::vector<std::string>> mpi_libraries;
    /// Bind with mount(2) and make mounts read-only by remounting each
    /// submount, instead of a detached clone (open_tree(2)) made read-only
    /// with one mount_setattr(2) (kernels before 5.12 do that anyway): site
    /// key `legacy_mounts`; HUSK_LEGACY_MOUNTS=1.
    Setting<bool> legacy_mounts;
};

/// Who runs husk, for the built-in storage path, the placeholders and the
/// container's passwd entry: one passwd lookup per run (NSS may ask a
/// directory server).
struct Identity {
    std::string user; ///< login name, or the uid in decimal when it has none
    uint32_t uid = 0;
    bool known = false; ///< the uid has a passwd entry (home and gecos come from it)
    std::string home;   ///< its passwd home directory; "" if none
    std::string gecos;  ///< its passwd GECOS field; "" if none

    /// The real uid and its passwd entry (getpwuid_r(3), so NSS may answer).
    static Identity current();
};

/// Environment variables by name: the HUSK_* ones, and the two that built-in
/// defaults depend on (XDG_RUNTIME_DIR, SLURM_JOB_ID).
using Environment = std::map<std::string, std::string, std::less<>>;

/// The variables of a NULL-terminated environ array that settings read.
Environment husk_environment(char** envp);

/// The built-in defaults for `who`, in the environment `env` (where the
/// runtime folder and the linger depend on XDG_RUNTIME_DIR and SLURM_JOB_ID).
Settings defaults(const Identity& who, const Environment& env = {});

/// Applies the site config document `json`, read from `path`: an object
/// whose keys are storage, binds, cdi_spec_dirs, devices, max_unpack_bytes,
/// max_unpack_entries, runtime_dir, linger, fuse_cpu_limit, mpi, mpi_abi_policy,
/// mpi_libraries, legacy_mounts. Pure (no I/O).
/// @throws husk::Error as one line naming `path`, the key and the reason:
///         not valid JSON (with line and column), not an object, an unknown
///         key, a value of the wrong type, a relative path, a bad bind.
void apply_site_config(Settings& s, std::string_view json, const std::string& path,
                       const Identity& who);

/// Applies the HUSK_* variables of `env` (empty values are ignored). Pure.
/// @throws husk::Error "HUSK_X=value: reason" for a value that is not valid.
void apply_environment(Settings& s, const Environment& env);

/// The start-up: defaults(), then the site config (HUSK_CONFIG if set, which
/// must exist; else kSiteConfig, if it exists), then apply_environment().
/// @throws husk::Error from the two above, or naming a site config that
///         cannot be read or is larger than kMaxSiteConfigBytes.
Settings load(const Environment& env, const Identity& who);

/// One line of `husk check`'s settings: name, value as text, origin.
struct Shown {
    std::string name;
    std::string value;
    std::string from;
};

/// The settings as `husk check` prints them, in a fixed order.
std::vector<Shown> describe(const Settings& s);

} // namespace husk::config
