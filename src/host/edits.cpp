#include "host/edits.hpp"

#include "util/error.hpp"

#include <algorithm>
#include <iterator>
#include <type_traits>
#include <utility>

namespace husk::host {

namespace {

/// Adds `from`'s elements at the end of `to`, moved (an rvalue `from`) or
/// copied.
template <typename To, typename From> void extend(To& to, From&& from) {
    if constexpr (std::is_rvalue_reference_v<From&&>) {
        to.insert(to.end(), std::make_move_iterator(from.begin()),
                  std::make_move_iterator(from.end()));
    } else {
        to.insert(to.end(), from.begin(), from.end());
    }
}

template <typename Edits> void append_to(ContainerEdits& to, Edits&& other) {
    extend(to.env, std::forward<Edits>(other).env);
    extend(to.mounts, std::forward<Edits>(other).mounts);
    extend(to.device_nodes, std::forward<Edits>(other).device_nodes);
    extend(to.hidden_device_nodes, std::forward<Edits>(other).hidden_device_nodes);
    extend(to.ld_library_path, std::forward<Edits>(other).ld_library_path);
    to.needs_new_paths = to.needs_new_paths || other.needs_new_paths;
    extend(to.notes, std::forward<Edits>(other).notes);
}

} // namespace

void ContainerEdits::append(ContainerEdits&& other) {
    append_to(*this, std::move(other));
}

void ContainerEdits::append(const ContainerEdits& other) {
    append_to(*this, other);
}

std::vector<Mount> minimal_dev_mounts() {
    std::vector<Mount> m;
    m.push_back({MountKind::Tmpfs, "", "/dev", false, OnMissing::Warn, "--dev=minimal"});
    for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
        const std::string path = std::string("/dev/") + node;
        m.push_back({MountKind::Bind, path, path, false, OnMissing::Warn, "--dev=minimal: " + path,
                     true, true});
    }
    m.push_back(
        {MountKind::Devpts, "", "/dev/pts", false, OnMissing::Warn, "--dev=minimal: /dev/pts"});
    m.push_back({MountKind::Symlink, "pts/ptmx", "/dev/ptmx", false, OnMissing::Warn,
                 "--dev=minimal: /dev/ptmx"});
    // The host's /dev/shm: MPI's shared memory between the ranks of a node,
    // which may run in separate containers.
    m.push_back({MountKind::Bind, "/dev/shm", "/dev/shm", false, OnMissing::Warn,
                 "--dev=minimal: /dev/shm"});
    const std::pair<const char*, const char*> links[] = {{"/proc/self/fd", "/dev/fd"},
                                                         {"/proc/self/fd/0", "/dev/stdin"},
                                                         {"/proc/self/fd/1", "/dev/stdout"},
                                                         {"/proc/self/fd/2", "/dev/stderr"}};
    for (const auto& [text, link] : links) {
        m.push_back({MountKind::Symlink, text, link, false, OnMissing::Warn,
                     std::string("--dev=minimal: ") + link});
    }
    return m;
}

ContainerEdits base_edits(const BaseInputs& in) {
    ContainerEdits e;
    auto& m = e.mounts;
    // A procfs of the container's PID namespace; the host's /sys and /dev,
    // recursively: MPI, PMIx and GPU drivers need the host's devices and
    // sysfs (hwloc reads /sys for the topology).
    m.push_back({MountKind::Proc, "/proc", "/proc", false, OnMissing::Warn, "/proc"});
    m.push_back({MountKind::Bind, "/sys", "/sys", false, OnMissing::Warn, "/sys"});
    if (in.dev == DevMode::Host) {
        m.push_back({MountKind::Bind, "/dev", "/dev", false, OnMissing::Warn, "/dev"});
    } else {
        const auto dev = minimal_dev_mounts();
        m.insert(m.end(), dev.begin(), dev.end());
    }
    // The host's /tmp by default: Open MPI's and PMIx's session directories
    // and sockets live there and are shared with ranks outside the container.
    if (in.private_tmp) {
        m.push_back({MountKind::Tmpfs, "", "/tmp", false, OnMissing::Warn, "--private-tmp"});
    } else {
        m.push_back({MountKind::Bind, "/tmp", "/tmp", false, OnMissing::Warn, "/tmp"});
    }
    if (!in.home.empty() && in.home != "/") {
        m.push_back(
            {MountKind::Bind, in.home, in.home, false, OnMissing::TmpfsParent, "home " + in.home});
    }
    for (const char* file : {"/etc/hosts", "/etc/resolv.conf"}) {
        m.push_back({MountKind::Bind, file, file, true, OnMissing::Quiet, file});
    }
    m.push_back({MountKind::Passwd, "", "/etc/passwd", true, OnMissing::Quiet, "/etc/passwd"});
    m.push_back({MountKind::Group, "", "/etc/group", true, OnMissing::Quiet, "/etc/group"});
    return e;
}

Mount bind_edit(const BindSpec& b, bool from_site, const std::string& shown) {
    if (b.target.empty() || b.target[0] != '/') {
        throw Error(shown + ": the destination must be an absolute path");
    }
    if (b.target.find_first_not_of('/') == std::string::npos) {
        throw Error(shown + ": cannot bind over the container's root");
    }
    const std::string& source = b.resolved.empty() ? b.source : b.resolved;
    return {MountKind::Bind,
            source,
            b.target,
            b.read_only,
            from_site ? OnMissing::Warn : OnMissing::Fail,
            shown};
}

std::vector<Mount> device_mounts(const ContainerEdits& edits, DevMode dev) {
    std::vector<Mount> m;
    std::vector<std::string> done;
    for (const auto& n : edits.device_nodes) {
        if (std::find(done.begin(), done.end(), n.path) != done.end()) {
            continue;
        }
        done.push_back(n.path);
        const bool in_host_dev = n.path.rfind("/dev/", 0) == 0;
        if (dev == DevMode::Host && in_host_dev && n.host_path == n.path) {
            continue; // the host's /dev shows it already
        }
        // Under the host's /dev a node the host lacks at that path cannot be
        // added: husk creates nothing in the host's /dev.
        m.push_back({MountKind::Bind, n.host_path, n.path, false,
                     dev == DevMode::Host && in_host_dev ? OnMissing::Warn : OnMissing::Fail,
                     n.what, true, true});
    }
    if (dev == DevMode::Host) {
        for (const auto& path : edits.hidden_device_nodes) {
            if (std::find(done.begin(), done.end(), path) == done.end()) {
                m.push_back({MountKind::Mask, "", path, true, OnMissing::Quiet,
                             "hiding the unassigned device " + path});
            }
        }
    }
    return m;
}

} // namespace husk::host
