// --gpu discovery: what a node's GPU driver offers (device nodes, /proc,
// the linker cache, tools, firmware), read from its files into a CDI spec.
// Selection and the container edits are in gpu.cpp.
#include "host/gpu.hpp"

#include "host/elf.hpp"
#include "host/ldcache.hpp"
#include "host/mpi.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"
#include "util/log.hpp"
#include "util/path.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fcntl.h>
#include <map>
#include <set>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace husk::host::gpu {

namespace {

// The host paths of a discovered spec are the real paths of the files on
// the host as the kernel sees them, host_root included, symlinks resolved
// inside host_root: what `husk cdi generate --gpu` prints is usable as it
// is by --device on that node (where --device runs without HUSK_HOST_ROOT),
// so gpu_edits() hands cdi::device_edits() the root "/".

/// The driver's libraries by capability, as name prefixes ("libcuda.so"
/// matches the sonames "libcuda.so.1", ...): the lists of
/// libnvidia-container (src/nvc_info.c) and Apptainer (etc/nvliblist.conf).
/// The X server's modules, nvidia-settings' GTK libraries and
/// libnvidia-egl-wayland (versioned apart from the driver) are left out, as
/// libnvidia-container leaves them.
const std::vector<std::string> kUtilityLibs = {"libnvidia-ml.so", "libnvidia-cfg.so",
                                               "libnvidia-nscq.so"};
const std::vector<std::string> kComputeLibs = {"libcuda.so",
                                               "libcudadebugger.so",
                                               "libnvidia-opencl.so",
                                               "libnvidia-gpucomp.so",
                                               "libnvidia-ptxjitcompiler.so",
                                               "libnvidia-fatbinaryloader.so",
                                               "libnvidia-allocator.so",
                                               "libnvidia-compiler.so",
                                               "libnvidia-pkcs11.so",
                                               "libnvidia-pkcs11-openssl3.so",
                                               "libnvidia-nvvm.so",
                                               "libnvidia-tileiras.so"};
const std::vector<std::string> kVideoLibs = {"libvdpau_nvidia.so", "libnvidia-encode.so",
                                             "libnvidia-opticalflow.so", "libnvcuvid.so"};
const std::vector<std::string> kGraphicsLibs = {
    "libnvidia-eglcore.so",   "libnvidia-glcore.so", "libnvidia-tls.so",
    "libnvidia-glsi.so",      "libnvidia-fbc.so",    "libnvidia-ifr.so",
    "libnvidia-rtcore.so",    "libnvoptix.so",       "libGLX_nvidia.so",
    "libEGL_nvidia.so",       "libGLESv2_nvidia.so", "libGLESv1_CM_nvidia.so",
    "libnvidia-glvkspirv.so", "libnvidia-cbl.so"};
const std::vector<std::string> kNgxLibs = {"libnvidia-ngx.so"};

const std::vector<std::string> kUtilityBins = {"nvidia-smi", "nvidia-debugdump",
                                               "nvidia-persistenced"};
const std::vector<std::string> kComputeBins = {"nvidia-cuda-mps-control", "nvidia-cuda-mps-server"};

/// The control nodes of the NVIDIA driver, the spec's own.
const std::vector<std::string> kNvidiaControlNodes = {
    "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"};

const std::vector<std::string> kReadOnlyBind = {"ro", "nosuid", "nodev", "bind"};

/// NVIDIA_DRIVER_CAPABILITIES, parsed.
struct Capabilities {
    bool utility = false, compute = false, video = false, graphics = false, ngx = false;
    bool compat32 = false;
};

Capabilities parse_capabilities(const std::string& text) {
    // An empty value means the default, as in the NVIDIA Container Toolkit.
    const std::string value = text.empty() ? "compute,utility" : text;
    Capabilities c;
    for (std::string_view piece : text::split(value, ',', text::Empty::Drop)) {
        piece = text::trim(piece);
        if (piece.empty()) {
            continue;
        }
        if (piece == "all") {
            c = {true, true, true, true, true, true};
        } else if (piece == "utility") {
            c.utility = true;
        } else if (piece == "compute") {
            c.compute = true;
        } else if (piece == "video") { // video implies compute (libnvidia-container's options.h)
            c.video = c.compute = true;
        } else if (piece == "graphics" || piece == "display") { // display implies graphics
            c.graphics = true;
        } else if (piece == "ngx") {
            c.ngx = true;
        } else if (piece == "compat32") {
            c.compat32 = true;
        } else {
            throw Error("NVIDIA_DRIVER_CAPABILITIES: \"" + std::string(piece) +
                        "\" is not a driver capability (compute, compat32, graphics, utility, "
                        "video, display, ngx or all)");
        }
    }
    return c;
}

/// What find() found of a path of the host's tree.
struct Found {
    std::string real; ///< its real path on the host, host_root included
    struct stat st {};
};

/// The host's tree that discovery reads: its canonical root, open.
class HostTree {
  public:
    /// @returns false when the root does not exist.
    bool open(const std::string& host_root) {
        root_ = path::canonical(host_root);
        if (root_.empty()) {
            return false;
        }
        fd_.reset(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        return static_cast<bool>(fd_);
    }

    const std::string& root() const { return root_; }

    /// `p` (absolute, in the tree) as a host path, lexically.
    std::string host(const std::string& p) const { return root_ == "/" ? p : root_ + p; }

    /// `p` with its symlinks resolved inside the tree (the last one too for
    /// Last::Follow), when it exists and is of `type` (S_IFREG, S_IFCHR,
    /// ...); nullopt otherwise, said at -v when it is there but of another
    /// type or cannot be resolved inside the tree.
    std::optional<Found> find(const std::string& p, mode_t type,
                              path::Last last = path::Last::Follow) const {
        try {
            // Most driver files are reached without a symlink: one openat2,
            // and the real path is the one asked for.
            path::Probed probed = path::probe_exact(fd_.get(), p, last);
            if (probed.state == path::Probe::Missing) {
                return std::nullopt;
            }
            path::Resolved r;
            if (probed.state == path::Probe::Exact) {
                r.fd = std::move(probed.fd);
            } else {
                r = path::resolve_in_root(fd_.get(), p, last);
            }
            if (!r.missing.empty()) {
                return std::nullopt;
            }
            Found f;
            if (::fstat(r.fd.get(), &f.st) != 0) {
                log::info("--gpu: skipping " + host(p) + ": cannot stat it");
                return std::nullopt;
            }
            if ((f.st.st_mode & S_IFMT) != type) {
                log::info("--gpu: skipping " + host(p) + ": not a " + type_name(type));
                return std::nullopt;
            }
            if (probed.state == path::Probe::Exact) {
                f.real = host(path::join(path::split(p)));
                return f;
            }
            std::optional<std::string> real = real_path(r.fd.get());
            if (!real) {
                log::info("--gpu: skipping " + host(p) + ": cannot tell its real path");
                return std::nullopt;
            }
            f.real = std::move(*real);
            if (root_ != "/" && f.real != root_ && f.real.rfind(root_ + "/", 0) != 0) {
                log::info("--gpu: skipping " + host(p) + ": it is outside " + root_);
                return std::nullopt;
            }
            return f;
        } catch (const Error& e) {
            log::info(std::string("--gpu: skipping ") + host(p) + ": " + e.what());
            return std::nullopt;
        }
    }

    /// The regular file `p` opened for reading, with its real path: in
    /// one openat2(2) beneath the tree where only relative symlinks that
    /// stay in it are on the way (a driver's libraries: libcuda.so.1 ->
    /// libcuda.so.550.54.15), else as find() resolves it. nullopt as find().
    std::optional<std::pair<Found, Fd>> open_file(const std::string& p) const {
        if (Fd fd = path::open_beneath(fd_.get(), p, O_RDONLY | O_NONBLOCK | O_NOCTTY); fd) {
            Found f;
            std::optional<std::string> real = real_path(fd.get());
            if (::fstat(fd.get(), &f.st) != 0 || !S_ISREG(f.st.st_mode) || !real) {
                log::info("--gpu: skipping " + host(p) + ": not a regular file");
                return std::nullopt;
            }
            f.real = std::move(*real);
            return std::pair<Found, Fd>{std::move(f), std::move(fd)};
        } else if (errno == ENOENT) {
            return std::nullopt;
        }
        auto f = find(p, S_IFREG);
        if (!f) {
            return std::nullopt;
        }
        Fd fd(::open(f->real.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
        if (!fd) {
            log::info("--gpu: skipping " + f->real + ": cannot open it");
            return std::nullopt;
        }
        return std::pair<Found, Fd>{std::move(*f), std::move(fd)};
    }

    /// The names in the folder `p` of the tree (symlinks resolved inside
    /// it), sorted; empty when there is none. Read through the descriptor
    /// that the check opened where no symlink is on the way.
    std::vector<std::string> list(const std::string& p) const {
        std::vector<std::string> out;
        path::Probed probed =
            path::probe_exact(fd_.get(), p, path::Last::Follow, O_RDONLY | O_DIRECTORY);
        Fd dir;
        if (probed.state == path::Probe::Exact) {
            dir = std::move(probed.fd);
        } else if (probed.state == path::Probe::Unsure) {
            if (const auto found = find(p, S_IFDIR)) {
                dir.reset(::open(found->real.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            }
        } else {
            return out;
        }
        try {
            if (!dir) {
                throw Error("cannot open it");
            }
            out = dir_names(dir.get(), host(p));
        } catch (const Error& e) {
            log::info("--gpu: cannot list " + host(p) + ": " + e.what());
            return out;
        }
        if (p == "/dev" && probed.state == path::Probe::Exact && !dev_checked_) {
            // dev_node()'s folder: this one, no symlink on the way.
            dev_checked_ = true;
            dev_ = std::move(dir);
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    /// The text of the regular file `p`, or nullopt; read through the
    /// descriptor that the check opened where no symlink is on the way.
    std::optional<std::string> read(const std::string& p, size_t limit = 1 << 20) const {
        try {
            path::Probed probed =
                path::probe_exact(fd_.get(), p, path::Last::Follow, O_RDONLY | O_NONBLOCK);
            if (probed.state == path::Probe::Missing) {
                return std::nullopt;
            }
            if (probed.state == path::Probe::Exact) {
                auto text = file::read_regular(probed.fd.get(), host(p), limit);
                if (!text) {
                    log::info("--gpu: skipping " + host(p) + ": not a regular file");
                }
                return text;
            }
            const auto f = find(p, S_IFREG);
            if (!f) {
                return std::nullopt;
            }
            return file::read(f->real, limit);
        } catch (const Error& e) {
            log::info(std::string("--gpu: skipping ") + e.what());
            return std::nullopt;
        }
    }

    /// The character device /dev/NAME of the tree, never through a
    /// symlink: one fstatat(2) in the tree's /dev, opened once, where that
    /// has no symlink on the way; else find().
    std::optional<Found> dev_node(const std::string& name) const {
        if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
            return std::nullopt;
        }
        if (!dev_checked_) {
            dev_checked_ = true;
            path::Probed probed =
                path::probe_exact(fd_.get(), "/dev", path::Last::Follow, O_PATH | O_DIRECTORY);
            if (probed.state == path::Probe::Exact) {
                dev_ = std::move(probed.fd);
            }
        }
        if (!dev_) {
            return find("/dev/" + name, S_IFCHR, path::Last::NoFollow);
        }
        Found f;
        if (::fstatat(dev_.get(), name.c_str(), &f.st, AT_SYMLINK_NOFOLLOW) != 0) {
            return std::nullopt;
        }
        if (!S_ISCHR(f.st.st_mode)) {
            log::info("--gpu: skipping " + host("/dev/" + name) + ": not a character device");
            return std::nullopt;
        }
        f.real = host("/dev/" + name);
        return f;
    }

  private:
    /// The path of the file open on `fd`, as the kernel tells it
    /// (/proc/self/fd), or nullopt.
    static std::optional<std::string> real_path(int fd) {
        const std::string link = path::fd_path(fd);
        try {
            std::string real = path::read_link(AT_FDCWD, link.c_str(), link);
            if (!real.empty() && real.size() < PATH_MAX) {
                return real;
            }
        } catch (const Error&) {
            // the caller says, at -v, that it cannot tell the real path
        }
        return std::nullopt;
    }

    static std::string type_name(mode_t type) {
        switch (type) {
        case S_IFREG:
            return "regular file";
        case S_IFDIR:
            return "folder";
        case S_IFCHR:
            return "character device";
        case S_IFSOCK:
            return "socket";
        default:
            return "file of the kind wanted";
        }
    }

    std::string root_;
    Fd fd_;
    mutable bool dev_checked_ = false;
    mutable Fd dev_; ///< the tree's /dev, when no symlink is on the way
};

/// Whether `s` is a dotted version: digits and dots, at least one dot.
bool is_dotted_version(std::string_view s) {
    return !s.empty() && std::isdigit(static_cast<unsigned char>(s.front())) != 0 &&
           std::isdigit(static_cast<unsigned char>(s.back())) != 0 &&
           s.find('.') != std::string_view::npos &&
           s.find_first_not_of("0123456789.") == std::string_view::npos;
}

/// The driver's version in /proc/driver/nvidia/version: the first dotted
/// number of its "NVRM version:" line ("NVRM version: NVIDIA UNIX x86_64
/// Kernel Module  550.54.15  Tue Mar  5 ..."; the open module's line reads
/// "... Open Kernel Module for x86_64  550.54.15  Release Build ...").
std::string version_from_proc(const std::string& text) {
    for (std::string_view line : text::lines(text)) {
        if (line.rfind("NVRM version:", 0) != 0) {
            continue;
        }
        for (std::string_view word : text::split(line, ' ', text::Empty::Drop)) {
            word = text::trim(word);
            if (is_dotted_version(word)) {
                return std::string(word);
            }
        }
    }
    return "";
}

/// The value of `key` in a "Key: value" text (/proc/driver/nvidia/gpus/BUS/information).
std::string field(const std::string& text, std::string_view key) {
    for (std::string_view line : text::lines(text)) {
        const size_t colon = line.find(':');
        if (colon != std::string_view::npos && text::trim(line.substr(0, colon)) == key) {
            return std::string(text::trim(line.substr(colon + 1)));
        }
    }
    return "";
}

/// The decimal number `s` (at most 6 digits), or -1.
long parse_number(std::string_view s) {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string_view::npos) {
        return -1;
    }
    return std::strtol(std::string(s).c_str(), nullptr, 10);
}

/// The number N of a name "<prefix>N", or -1.
long number_after(std::string_view name, std::string_view prefix) {
    if (name.substr(0, prefix.size()) != prefix) {
        return -1;
    }
    return parse_number(name.substr(prefix.size()));
}

/// The node `p` of the tree as a CDI device node, when it is a character
/// device (never through a symlink).
std::optional<cdi::SpecDeviceNode> char_node(const HostTree& tree, const std::string& p) {
    const std::optional<Found> f = p.rfind("/dev/", 0) == 0 && p.find('/', 5) == std::string::npos
                                       ? tree.dev_node(p.substr(5))
                                       : tree.find(p, S_IFCHR, path::Last::NoFollow);
    if (!f) {
        return std::nullopt;
    }
    cdi::SpecDeviceNode n;
    n.path = p;
    n.host_path = f->real;
    n.type = "c";
    n.major = static_cast<int64_t>(major(f->st.st_rdev));
    n.minor = static_cast<int64_t>(minor(f->st.st_rdev));
    return n;
}

cdi::SpecMount read_only_bind(const std::string& host, const std::string& container) {
    return {host, container, "", kReadOnlyBind};
}

/// The lowest cdiVersion that has every field `spec` uses: device names
/// that start with a digit and hostPath on device nodes are v0.5.0's,
/// annotations v0.6.0's (the CDI repository's specs-go/version.go).
std::string minimum_version(const cdi::Spec& spec) {
    for (const auto& d : spec.devices) {
        if (!d.annotations.empty()) {
            return "0.6.0";
        }
    }
    return "0.5.0";
}

/// The libraries of the capabilities `c`, found in the host's linker cache.
void add_libraries(const HostTree& tree, const LinkerCache& cache, const Capabilities& c,
                   const std::string& version, cdi::SpecEdits& edits) {
    std::vector<std::string> prefixes;
    auto add = [&](bool on, const std::vector<std::string>& group) {
        if (on) {
            prefixes.insert(prefixes.end(), group.begin(), group.end());
        }
    };
    add(c.utility, kUtilityLibs);
    add(c.compute, kComputeLibs);
    add(c.video, kVideoLibs);
    add(c.graphics, kGraphicsLibs);
    add(c.ngx, kNgxLibs);
    if (c.compat32) {
        log::info("--gpu: NVIDIA_DRIVER_CAPABILITIES compat32: husk injects no 32-bit libraries");
    }
    std::set<std::string, std::less<>> done;
    for (const auto& prefix : prefixes) {
        for (const auto& entry : cache) {
            // "libcuda.so.1", not the link "libcuda.so" that development packages add.
            if (entry.soname.size() <= prefix.size() + 1 || !entry.soname.starts_with(prefix) ||
                entry.soname[prefix.size()] != '.' || done.count(entry.soname) != 0) {
                continue;
            }
            if (entry.path.empty() || entry.path[0] != '/') {
                continue; // ldconfig writes absolute paths
            }
            const std::string soname(entry.soname);
            const auto opened = tree.open_file(std::string(entry.path));
            if (!opened) {
                continue;
            }
            const Found* f = &opened->first;
            const std::string name = f->real.substr(f->real.rfind('/') + 1);
            if (!version.empty() && (name.size() <= version.size() ||
                                     name.compare(name.size() - version.size() - 1,
                                                  std::string::npos, "." + version) != 0)) {
                // As libnvidia-container: only the running driver's own files.
                log::info("--gpu: skipping " + f->real + " (" + soname +
                          "): not of the running driver " + version);
                continue;
            }
            if (const std::string problem = elf_header_problem(opened->second.get());
                !problem.empty()) {
                throw Error("--gpu: the NVIDIA driver library " + soname + " (" + f->real +
                            ") is not a shared object of this machine: " + problem);
            }
            done.insert(soname);
            edits.mounts.push_back(
                read_only_bind(f->real, std::string(kNvidiaLibDir) + "/" + soname));
        }
    }
    if (!done.empty()) {
        edits.hooks.push_back({"createContainer",
                               "/usr/bin/nvidia-cdi-hook",
                               {"nvidia-cdi-hook", "update-ldcache", "--folder", kNvidiaLibDir},
                               {},
                               std::nullopt});
    }
}

} // namespace

std::optional<Vendor> node_vendor(const std::string& host_root) {
    HostTree tree;
    if (!tree.open(host_root)) {
        return std::nullopt;
    }
    if (char_node(tree, "/dev/nvidiactl") || char_node(tree, "/dev/nvidia0")) {
        return Vendor::Nvidia;
    }
    if (char_node(tree, "/dev/kfd")) {
        return Vendor::Amd;
    }
    return std::nullopt;
}

std::optional<cdi::Spec> discover_nvidia(const DiscoverOptions& o) {
    const Capabilities caps = parse_capabilities(o.capabilities);
    HostTree tree;
    if (!tree.open(o.host_root)) {
        return std::nullopt;
    }
    cdi::Spec spec;
    spec.kind = "nvidia.com/gpu";

    // The GPUs: /dev/nvidiaN, in PCI bus order where the driver says which
    // minor each bus has, else by N.
    std::map<long, cdi::SpecDeviceNode> nodes; // by minor number N
    for (const auto& name : tree.list("/dev")) {
        const long n = number_after(name, "nvidia");
        if (n >= 0) {
            if (auto node = char_node(tree, "/dev/" + name)) {
                nodes.emplace(n, std::move(*node));
            }
        }
    }
    const auto ctl = char_node(tree, "/dev/nvidiactl");
    if (!ctl && nodes.count(0) == 0) {
        return std::nullopt;
    }
    std::vector<std::pair<long, std::vector<std::string>>> order; // minor, annotations
    const std::string gpus = "/proc/driver/nvidia/gpus";
    for (const auto& bus : o.bus_order ? tree.list(gpus) : std::vector<std::string>{}) {
        // Sorted: "0000:01:00.0" < "0000:02:00.0".
        const auto info = tree.read(gpus + "/" + bus + "/information");
        if (!info) {
            continue;
        }
        const std::string minor_text = field(*info, "Device Minor");
        const long n = parse_number(minor_text);
        if (n < 0 || nodes.count(n) == 0) {
            log::info("--gpu: skipping the GPU at " + bus + ": no /dev/nvidia" + minor_text +
                      " under " + tree.root());
            continue;
        }
        // "key=value", in key order (cdi.hpp).
        std::vector<std::string> ann = {"bus=" + bus};
        const std::string uuid = field(*info, "GPU UUID");
        if (!uuid.empty()) {
            ann.push_back("uuid=" + uuid);
        }
        order.emplace_back(n, std::move(ann));
    }
    for (const auto& entry : nodes) { // the nodes the driver said nothing of
        const auto n = entry.first;
        if (std::none_of(order.begin(), order.end(), [n](const auto& x) { return x.first == n; })) {
            order.emplace_back(n, std::vector<std::string>{});
        }
    }
    for (auto& [n, ann] : order) {
        cdi::SpecDevice d;
        d.name = std::to_string(spec.devices.size());
        d.annotations = std::move(ann);
        d.edits.device_nodes.push_back(nodes.at(n));
        spec.devices.push_back(std::move(d));
    }

    // The spec's own edits: the control nodes, ...
    for (const auto& p : kNvidiaControlNodes) {
        if (auto node = char_node(tree, p)) {
            spec.edits.device_nodes.push_back(std::move(*node));
        }
    }
    for (const auto& name : tree.list("/dev/nvidia-caps")) {
        if (auto node = char_node(tree, "/dev/nvidia-caps/" + name)) {
            spec.edits.device_nodes.push_back(std::move(*node));
        }
    }
    // ... the libraries of the running driver, ...
    std::string version;
    if (const auto text = tree.read("/proc/driver/nvidia/version")) {
        version = version_from_proc(*text);
    }
    LinkerCache cache;
    const std::string cache_path = tree.host("/etc/ld.so.cache");
    if (auto bytes = tree.read("/etc/ld.so.cache", kMaxLdCache)) {
        cache = parse_ld_cache(std::move(*bytes), cache_path);
    } else {
        log::info("--gpu: no " + cache_path + ": no NVIDIA libraries");
    }
    if (version.empty()) {
        if (const CachedLibrary* l = find_library(cache, "libcuda.so.1")) {
            if (const auto f = tree.find(std::string(l->path), S_IFREG)) {
                version = version_from_name(f->real, "libcuda.so.1");
            }
        }
    }
    add_libraries(tree, cache, caps, version, spec.edits);
    // ... the tools, ...
    std::vector<std::string> bins;
    if (caps.utility) {
        bins.insert(bins.end(), kUtilityBins.begin(), kUtilityBins.end());
    }
    if (caps.compute) {
        bins.insert(bins.end(), kComputeBins.begin(), kComputeBins.end());
    }
    for (const auto& name : bins) {
        if (const auto f = tree.find("/usr/bin/" + name, S_IFREG)) {
            spec.edits.mounts.push_back(read_only_bind(f->real, "/usr/bin/" + name));
        }
    }
    // ... the GSP firmware of the running driver, and persistenced's socket.
    if (!version.empty()) {
        const std::string dir = "/lib/firmware/nvidia/" + version;
        for (const auto& name : tree.list(dir)) {
            if (name.size() > 4 && name.compare(name.size() - 4, 4, ".bin") == 0) {
                if (const auto f = tree.find(dir + "/" + name, S_IFREG)) {
                    spec.edits.mounts.push_back(read_only_bind(f->real, dir + "/" + name));
                }
            }
        }
    }
    const std::string socket = "/run/nvidia-persistenced/socket";
    if (const auto f = tree.find(socket, S_IFSOCK)) {
        spec.edits.mounts.push_back(
            {f->real, socket, "", {"ro", "nosuid", "nodev", "bind", "noexec"}});
    }
    spec.version = minimum_version(spec);
    return spec;
}

std::optional<cdi::Spec> discover_amd(const DiscoverOptions& o) {
    HostTree tree;
    if (!tree.open(o.host_root)) {
        return std::nullopt;
    }
    const auto kfd = char_node(tree, "/dev/kfd");
    if (!kfd) {
        return std::nullopt;
    }
    cdi::Spec spec;
    spec.kind = "amd.com/gpu";
    spec.edits.device_nodes.push_back(*kfd);
    std::map<long, std::string> render; // by number: 128, 129, ...
    for (const auto& name : tree.list("/dev/dri")) {
        const long n = number_after(name, "renderD");
        if (n >= 0) {
            render.emplace(n, name);
        }
    }
    for (const auto& [n, name] : render) {
        auto node = char_node(tree, "/dev/dri/" + name);
        if (!node) {
            continue;
        }
        cdi::SpecDevice d;
        d.name = std::to_string(spec.devices.size());
        // The PCI address of the GPU: the last component of the link
        // /sys/class/drm/renderDN/device ("../../../0000:03:00.0").
        char buf[PATH_MAX];
        const std::string link = tree.host("/sys/class/drm/" + name + "/device");
        const ssize_t len = ::readlink(link.c_str(), buf, sizeof buf);
        if (len > 0 && static_cast<size_t>(len) < sizeof buf) {
            const std::string target(buf, static_cast<size_t>(len));
            const std::string bus = target.substr(target.rfind('/') + 1);
            if (!bus.empty() &&
                bus.find_first_not_of("0123456789abcdefABCDEF:.") == std::string::npos) {
                d.annotations.push_back("bus=" + bus);
            }
        }
        d.edits.device_nodes.push_back(std::move(*node));
        spec.devices.push_back(std::move(d));
    }
    if (const auto rocm = tree.find("/opt/rocm", S_IFDIR)) {
        spec.edits.mounts.push_back(read_only_bind(rocm->real, "/opt/rocm"));
    }
    spec.version = minimum_version(spec);
    return spec;
}

} // namespace husk::host::gpu
