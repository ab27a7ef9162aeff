// --mpi=host: the host's MPI library in the container, after an ABI check.
#pragma once

#include "host/edits.hpp"
#include "host/ldcache.hpp"
#include "image/files.hpp"

#include <optional>
#include <string>
#include <vector>

namespace husk::host {

/// The two ABI families an MPI library can belong to.
enum class MpiFamily {
    Mpich, ///< the MPICH ABI: libmpi.so.12 / libmpich.so.12 (MPICH, Intel MPI, Cray MPICH, MVAPICH)
    OpenMpi, ///< Open MPI 3 to 5: libmpi.so.40
};

/// How strictly the host's MPICH-family library must match the image's
/// (Sarus's policies): the same soname major; and a host version at least
/// the image's; or the very same version. Open MPI is always checked as
/// Full: the same soname major, and the host's version at least the image's.
enum class AbiPolicy { Major, Full, Strict };

/// One MPI library of a tree (the host or an image).
struct MpiLibrary {
    MpiFamily family = MpiFamily::Mpich;
    std::string soname;  ///< "libmpich.so.12"
    std::string path;    ///< its file, symlinks resolved (inside the tree)
    std::string version; ///< from the file's name: "12.2.2" of libmpich.so.12.2.2; may be ""
};

/// The sonames by which each family is found, in order of preference.
const std::vector<std::string>& mpi_sonames(MpiFamily family);

/// "12.2.2" from ".../libmpich.so.12.2.2" given soname "libmpich.so.12";
/// "" when the file is named only by its soname.
std::string version_from_name(const std::string& path, const std::string& soname);

/// Compares dotted versions numerically: <0, 0, >0.
int compare_versions(const std::string& a, const std::string& b);

/// Whether the host's library may replace the image's, by `policy`.
/// @throws husk::Error saying why not: other families, another soname
///         major, an older host, a different version under Strict.
void check_mpi_abi(const MpiLibrary& host, const MpiLibrary& image, AbiPolicy policy);

/// Parses "major", "full", "strict". @throws husk::Error naming `what`.
AbiPolicy parse_abi_policy(const std::string& text, const std::string& what);

/// What --mpi=host needs to know of the host.
struct HostMpiOptions {
    /// Where the host's tree is (its /etc/ld.so.cache, its libraries): "/",
    /// or a tree of the caller's (unit tests).
    std::string host_root = "/";
    /// The host's MPI libraries given by the site config (mpi_libraries):
    /// when not empty, these instead of the linker cache's.
    std::vector<std::string> libraries;
    AbiPolicy policy = AbiPolicy::Full;
};

/// Finds the MPI library of the image (its /etc/ld.so.cache), or nullopt.
/// @throws husk::Error for a malformed cache.
std::optional<MpiLibrary> find_image_mpi(image::ImageFiles& image, const std::string& shown);

/// Finds the host's MPI library of `family` (or of either, when nullopt).
/// @throws husk::Error for a malformed cache or a site library that is not
///         an MPI library.
std::optional<MpiLibrary> find_host_mpi(const HostMpiOptions& o, std::optional<MpiFamily> family);

/// The edits of --mpi=host: after check_mpi_abi(), every MPI library of the
/// family that the host has (and, for Open MPI, its plugin folder and
/// configuration) and their dependencies from the host's linker cache
/// (DT_NEEDED, read with libelf; glibc's own libraries excepted, the
/// image's are used), bound read-only into /usr/lib/husk-host-mpi (in
/// ld_library_path, for cache_ld_folders()), and bound over the image's own files of the
/// same sonames (for programs with an RPATH); plus the fabric where the
/// host has it: /dev/infiniband, /etc/libibverbs.d, libfabric's and UCX's
/// provider folders. Nothing of the image is written: missing mount points
/// are made in the mount-point layer (needs_new_paths).
/// @throws husk::Error: no MPI in the image or on the host, the ABI check,
///         a library that cannot be read.
ContainerEdits host_mpi_edits(const HostMpiOptions& o, image::ImageFiles& image,
                              const std::string& shown_image);

/// The container folder of the host's libraries.
inline constexpr const char* kHostMpiDir = "/usr/lib/husk-host-mpi";

/// Lines for `husk check --mpi IMAGE`: the image's MPI and PMIx, the
/// host's, and whether they can work together. Never throws: a problem is
/// a line.
std::vector<std::string> describe_mpi(const HostMpiOptions& o, image::ImageFiles& image,
                                      const std::string& shown_image,
                                      const std::vector<std::string>& environ);

} // namespace husk::host
