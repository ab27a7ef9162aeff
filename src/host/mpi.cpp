#include "host/mpi.hpp"

#include "host/elf.hpp"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/path.hpp"
#include "util/text.hpp"

#include <climits>
#include <cstdlib>
#include <deque>
#include <optional>
#include <set>
#include <string_view>
#include <sys/stat.h>

namespace husk::host {

namespace {

// glibc's own libraries: the image's are used, whatever the host's MPI was
// linked with (a program cannot mix two glibcs).
const std::set<std::string> kGlibc = {"libc.so.6",
                                      "libm.so.6",
                                      "libdl.so.2",
                                      "libpthread.so.0",
                                      "librt.so.1",
                                      "libresolv.so.2",
                                      "libutil.so.1",
                                      "libanl.so.1",
                                      "libnsl.so.1",
                                      "libmvec.so.1",
                                      "libBrokenLocale.so.1",
                                      "libthread_db.so.1",
                                      "ld-linux-x86-64.so.2",
                                      "libc_malloc_debug.so.0"};

std::string family_name(MpiFamily f) {
    return f == MpiFamily::Mpich ? "MPICH ABI" : "Open MPI";
}

std::string shown(const MpiLibrary& l) {
    return family_name(l.family) + " (" + l.soname + (l.version.empty() ? "" : " " + l.version) +
           ")";
}

/// The canonical host path of `path` under `root`.
std::string host_real(const std::string& root, std::string_view path) {
    return path::canonical((root == "/" ? "" : root) + std::string(path));
}

/// The host's linker cache, read once, when first asked: a start with
/// --mpi=host asks it for the MPI library and for its dependencies, and
/// none when the site config names the libraries.
class HostCache {
  public:
    explicit HostCache(const HostMpiOptions& o) : o_(o) {}

    /// @throws husk::Error for an unreadable or malformed cache.
    const LinkerCache& get() {
        if (!cache_) {
            const std::string path = (o_.host_root == "/" ? "" : o_.host_root) + "/etc/ld.so.cache";
            cache_ = parse_ld_cache(file::read(path, kMaxLdCache), path);
        }
        return *cache_;
    }

  private:
    const HostMpiOptions& o_;
    std::optional<LinkerCache> cache_;
};

/// The image's linker cache; empty where it has none.
/// @throws husk::Error for a malformed cache.
LinkerCache image_cache(image::ImageFiles& image, const std::string& shown_image) {
    auto bytes = image.read("/etc/ld.so.cache", kMaxLdCache);
    return bytes ? parse_ld_cache(std::move(*bytes), "image " + shown_image + ": /etc/ld.so.cache")
                 : LinkerCache{};
}

std::string soname_major(const std::string& soname) {
    return soname.substr(soname.rfind(".so.") + 4);
}

} // namespace

const std::vector<std::string>& mpi_sonames(MpiFamily family) {
    static const std::vector<std::string> mpich = {"libmpi.so.12",     "libmpich.so.12",
                                                   "libmpicxx.so.12",  "libmpichcxx.so.12",
                                                   "libmpifort.so.12", "libmpichfort.so.12"};
    static const std::vector<std::string> ompi = {"libmpi.so.40",
                                                  "libopen-rte.so.40",
                                                  "libopen-pal.so.40",
                                                  "libmpi_cxx.so.40",
                                                  "libmpi_mpifh.so.40",
                                                  "libmpi_usempif08.so.40",
                                                  "libmpi_usempi_ignore_tkr.so.40"};
    return family == MpiFamily::Mpich ? mpich : ompi;
}

std::string version_from_name(const std::string& path, const std::string& soname) {
    const std::string name = path.substr(path.rfind('/') + 1);
    const std::string stem = soname.substr(0, soname.rfind(".so.") + 4); // "libmpich.so."
    if (name.rfind(stem, 0) != 0) {
        return "";
    }
    const std::string v = name.substr(stem.size());
    return v.find_first_not_of("0123456789.") == std::string::npos ? v : "";
}

int compare_versions(const std::string& a, const std::string& b) {
    const auto pa = text::split(a, '.');
    const auto pb = text::split(b, '.');
    for (size_t i = 0; i < std::max(pa.size(), pb.size()); ++i) {
        const long x = i < pa.size() ? std::strtol(std::string(pa[i]).c_str(), nullptr, 10) : 0;
        const long y = i < pb.size() ? std::strtol(std::string(pb[i]).c_str(), nullptr, 10) : 0;
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    return 0;
}

AbiPolicy parse_abi_policy(const std::string& text, const std::string& what) {
    if (text == "major") {
        return AbiPolicy::Major;
    }
    if (text == "full") {
        return AbiPolicy::Full;
    }
    if (text == "strict") {
        return AbiPolicy::Strict;
    }
    throw Error(what + ": \"" + text + "\" is not an ABI policy (major, full or strict)");
}

void check_mpi_abi(const MpiLibrary& host, const MpiLibrary& image, AbiPolicy policy) {
    const std::string both = "the image's MPI is " + shown(image) + ", the host's " + shown(host);
    if (host.family != image.family) {
        throw Error("--mpi=host: " + both + ": their ABIs differ");
    }
    if (soname_major(host.soname) != soname_major(image.soname)) {
        throw Error("--mpi=host: " + both + ": their soname majors differ");
    }
    if (host.family == MpiFamily::OpenMpi) {
        policy = AbiPolicy::Full; // Open MPI promises no more across versions
    }
    if (policy == AbiPolicy::Major || image.version.empty() || host.version.empty()) {
        return;
    }
    const int c = compare_versions(host.version, image.version);
    if (policy == AbiPolicy::Strict && c != 0) {
        throw Error("--mpi=host: " + both + ": the ABI policy strict wants the very same version");
    }
    if (c < 0) {
        throw Error("--mpi=host: " + both +
                    ": the host's is older than the image's (the ABI policy " +
                    (policy == AbiPolicy::Full ? "full" : "strict") + " wants it at least as new)");
    }
}

namespace {

/// find_image_mpi() in the image's cache, already read.
std::optional<MpiLibrary> image_mpi(const LinkerCache& cache, image::ImageFiles& image) {
    for (MpiFamily f : {MpiFamily::Mpich, MpiFamily::OpenMpi}) {
        for (const auto& soname : mpi_sonames(f)) {
            if (soname.find("cxx") != std::string::npos ||
                soname.find("fort") != std::string::npos ||
                soname.find("usempi") != std::string::npos ||
                soname.find("mpifh") != std::string::npos ||
                soname.find("open-") != std::string::npos) {
                continue; // the C library names the family
            }
            if (const CachedLibrary* l = find_library(cache, soname)) {
                const auto real = image.resolve(std::string(l->path));
                if (real) {
                    return MpiLibrary{f, soname, *real, version_from_name(*real, soname)};
                }
            }
        }
    }
    return std::nullopt;
}

/// find_host_mpi() with the host's cache read at most once.
std::optional<MpiLibrary> host_mpi(const HostMpiOptions& o, HostCache& host,
                                   std::optional<MpiFamily> family) {
    if (!o.libraries.empty()) {
        for (const auto& lib : o.libraries) {
            const std::string real = host_real("/", lib);
            if (real.empty()) {
                throw Error("site config mpi_libraries: " + lib + " does not exist on this node");
            }
            const std::string soname = read_elf_dynamic(real).soname;
            for (MpiFamily f : {MpiFamily::Mpich, MpiFamily::OpenMpi}) {
                const auto& names = mpi_sonames(f);
                if ((!family || *family == f) &&
                    (soname == names[0] || (f == MpiFamily::Mpich && soname == names[1]))) {
                    return MpiLibrary{f, soname, real, version_from_name(real, soname)};
                }
            }
        }
        throw Error("site config mpi_libraries: none is an MPI library of the family wanted");
    }
    const LinkerCache& cache = host.get();
    for (MpiFamily f : {MpiFamily::Mpich, MpiFamily::OpenMpi}) {
        if (family && *family != f) {
            continue;
        }
        const auto& names = mpi_sonames(f);
        for (size_t i = 0; i < (f == MpiFamily::Mpich ? 2U : 1U); ++i) {
            if (const CachedLibrary* l = find_library(cache, names[i])) {
                const std::string real = host_real(o.host_root, l->path);
                if (!real.empty()) {
                    return MpiLibrary{f, names[i], real, version_from_name(real, names[i])};
                }
            }
        }
    }
    return std::nullopt;
}

} // namespace

std::optional<MpiLibrary> find_image_mpi(image::ImageFiles& image, const std::string& shown_image) {
    return image_mpi(image_cache(image, shown_image), image);
}

std::optional<MpiLibrary> find_host_mpi(const HostMpiOptions& o, std::optional<MpiFamily> family) {
    HostCache host(o);
    return host_mpi(o, host, family);
}

ContainerEdits host_mpi_edits(const HostMpiOptions& o, image::ImageFiles& image,
                              const std::string& shown_image) {
    const LinkerCache images = image_cache(image, shown_image);
    const auto in_image = image_mpi(images, image);
    if (!in_image) {
        throw Error("--mpi=host: image " + shown_image +
                    " has no MPI library (libmpi.so.12, libmpich.so.12 or libmpi.so.40) in its "
                    "/etc/ld.so.cache");
    }
    HostCache host(o);
    const auto on_host = host_mpi(o, host, in_image->family);
    if (!on_host) {
        const auto other = host_mpi(o, host, std::nullopt);
        if (other) {
            check_mpi_abi(*other, *in_image, o.policy); // says why, and throws
        }
        throw Error("--mpi=host: this host has no MPI library of the " +
                    family_name(in_image->family) + " family (image " + shown_image + ": " +
                    shown(*in_image) + ")");
    }
    check_mpi_abi(*on_host, *in_image, o.policy);

    ContainerEdits e;
    e.needs_new_paths = true;
    e.ld_library_path.push_back(kHostMpiDir);
    e.notes.push_back("--mpi=host: the host's " + shown(*on_host) + " replaces the image's " +
                      shown(*in_image));
    const LinkerCache& cache = host.get(); // for the dependencies, also of site libraries

    // The family's libraries the host has, then their dependencies.
    std::deque<std::pair<std::string, std::string>> todo; // soname, host path
    todo.emplace_back(on_host->soname, on_host->path);
    for (const auto& soname : mpi_sonames(on_host->family)) {
        if (soname == on_host->soname) {
            continue;
        }
        if (const CachedLibrary* l = find_library(cache, soname)) {
            const std::string real = host_real(o.host_root, l->path);
            if (!real.empty()) {
                todo.emplace_back(soname, real);
            }
        }
    }
    std::set<std::string> seen;
    while (!todo.empty()) {
        auto [soname, path] = todo.front();
        todo.pop_front();
        if (!seen.insert(soname).second || kGlibc.count(soname) != 0) {
            continue;
        }
        e.mounts.push_back({MountKind::Bind, path, std::string(kHostMpiDir) + "/" + soname, true,
                            OnMissing::Fail, "--mpi=host: " + soname});
        // Over the image's own file too, for programs that find it by RPATH.
        if (const CachedLibrary* mine = find_library(images, soname)) {
            if (const auto real = image.resolve(std::string(mine->path))) {
                e.mounts.push_back({MountKind::Bind, path, *real, true, OnMissing::Fail,
                                    "--mpi=host: " + soname + " (image's)"});
            }
        }
        for (const auto& needed : read_elf_dynamic(path).needed) {
            if (seen.count(needed) != 0 || kGlibc.count(needed) != 0) {
                continue;
            }
            const CachedLibrary* l = find_library(cache, needed);
            const std::string real = l != nullptr ? host_real(o.host_root, l->path) : "";
            if (real.empty()) {
                e.notes.push_back("--mpi=host: " + needed + ", which " + soname +
                                  " needs, is not in the host's linker cache: the image's is used");
                continue;
            }
            todo.emplace_back(needed, real);
        }
    }
    // Open MPI's plugins and configuration, at the paths it was built for;
    // the fabric's devices and providers, where the host has them.
    const std::string libdir = on_host->path.substr(0, on_host->path.rfind('/'));
    std::vector<std::string> dirs = {"/dev/infiniband", "/etc/libibverbs.d", libdir + "/libfabric",
                                     libdir + "/ucx"};
    if (on_host->family == MpiFamily::OpenMpi) {
        dirs.push_back(libdir + "/openmpi");
        dirs.push_back("/etc/openmpi");
    }
    for (const auto& d : dirs) {
        struct stat st {};
        const std::string full = (o.host_root == "/" ? "" : o.host_root) + d;
        if (::stat(full.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            const bool device = d == "/dev/infiniband";
            e.mounts.push_back(
                {MountKind::Bind, full, d, !device, OnMissing::Fail, "--mpi=host: " + d});
        }
    }
    return e;
}

std::vector<std::string> describe_mpi(const HostMpiOptions& o, image::ImageFiles& image,
                                      const std::string& shown_image,
                                      const std::vector<std::string>& environ) {
    std::vector<std::string> out;
    std::optional<MpiLibrary> in_image;
    std::string image_pmix, host_pmix;
    try {
        const LinkerCache images = image_cache(image, shown_image);
        in_image = image_mpi(images, image);
        out.push_back("image MPI: " + (in_image ? shown(*in_image) + " at " + in_image->path
                                                : std::string("none in /etc/ld.so.cache")));
        if (const CachedLibrary* l = find_library(images, "libpmix.so.2")) {
            const auto real = image.resolve(std::string(l->path));
            image_pmix = real ? version_from_name(*real, "libpmix.so.2") : "";
            out.push_back("image PMIx: libpmix.so.2 " + image_pmix);
        }
    } catch (const Error& e) {
        out.push_back(std::string("image MPI: ") + e.what());
    }
    std::optional<MpiLibrary> on_host;
    try {
        HostCache host(o);
        on_host = host_mpi(o, host, in_image ? std::optional(in_image->family) : std::nullopt);
        out.push_back("host MPI: " + (on_host ? shown(*on_host) + " at " + on_host->path
                                              : std::string("none of the image's family")));
        if (const CachedLibrary* l = find_library(host.get(), "libpmix.so.2")) {
            host_pmix = version_from_name(host_real(o.host_root, l->path), "libpmix.so.2");
            out.push_back("host PMIx: libpmix.so.2 " + host_pmix);
        }
    } catch (const Error& e) {
        out.push_back(std::string("host MPI: ") + e.what());
    }
    for (const auto& v : environ) {
        for (const char* name : {"PMIX_VERSION=", "SLURM_MPI_TYPE=", "OMPI_VERSION="}) {
            if (v.rfind(name, 0) == 0) {
                out.push_back("launcher: " + v);
            }
        }
    }
    if (in_image && on_host) {
        try {
            check_mpi_abi(*on_host, *in_image, o.policy);
            out.push_back("verdict: ok: the image's MPI can run under this host's launcher, and "
                          "--mpi=host can replace it with the host's");
        } catch (const Error& e) {
            out.push_back(std::string("verdict: ") + e.what());
        }
    } else if (in_image) {
        out.push_back("verdict: the image brings its own " + family_name(in_image->family) +
                      "; this host has none of that family for --mpi=host");
    }
    if (!image_pmix.empty() && !host_pmix.empty()) {
        // PMIx clients and servers of v2.1 and later talk across versions.
        const bool talk =
            compare_versions(image_pmix, "2.1") >= 0 && compare_versions(host_pmix, "2.1") >= 0;
        out.push_back(std::string("verdict: PMIx ") +
                      (talk ? "ok: both are 2.1 or later, which talk across versions"
                            : "may not talk: one is older than 2.1"));
    }
    return out;
}

} // namespace husk::host
