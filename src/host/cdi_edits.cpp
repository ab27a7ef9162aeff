// The container edits of CDI devices (`husk run --device`, and --gpu
// through its generated spec): the named devices looked up in a node's
// registry, their specs' edits applied in the reference implementation's
// order, device nodes checked against the host, and the known NVIDIA hooks
// interpreted, never run.
#include "host/cdi.hpp"
#include "host/cdi_detail.hpp"

#include "util/error.hpp"
#include "util/path.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <map>
#include <set>
#include <string>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <system_error>
#include <vector>

namespace husk::host::cdi {
namespace {

using namespace detail; // NOLINT(google-build-using-namespace): this module's own

// ---------------------------------------------------------------------------
// Container edits

/// The devices of a registry by qualified name, the winner of each name,
/// and each kind's devices in the specs' order.
struct Index {
    struct Ref {
        size_t spec;
        size_t device;
        bool operator==(const Ref&) const = default;
    };
    std::map<std::string, Ref> by_name;              // "kind=name"
    std::map<std::string, std::vector<Ref>> by_kind; // winners only, in spec order
    std::vector<std::string> kind_order;

    explicit Index(const Registry& r) {
        for (size_t s = 0; s < r.specs.size(); ++s) {
            const Spec& spec = r.specs[s];
            for (size_t d = 0; d < spec.devices.size(); ++d) {
                const std::string q = spec.kind + "=" + spec.devices[d].name;
                const auto it = by_name.find(q);
                if (it == by_name.end() || r.specs[it->second.spec].priority < spec.priority) {
                    by_name[q] = {s, d};
                }
            }
        }
        std::set<std::string> listed;
        for (size_t s = 0; s < r.specs.size(); ++s) {
            const Spec& spec = r.specs[s];
            if (by_kind.count(spec.kind) == 0) {
                kind_order.push_back(spec.kind);
            }
            auto& list = by_kind[spec.kind];
            for (size_t d = 0; d < spec.devices.size(); ++d) {
                const std::string q = spec.kind + "=" + spec.devices[d].name;
                if (by_name[q] == Ref{s, d} && listed.insert(q).second) {
                    list.push_back({s, d});
                }
            }
        }
    }
};

/// Mount options that change nothing husk needs to know, or that it
/// applies itself (ro), each between spaces.
constexpr std::string_view kHarmlessOptions =
    " rw ro readonly rro bind rbind nosuid suid nodev dev noexec exec private rprivate slave "
    "rslave shared rshared unbindable runbindable relatime norelatime noatime atime strictatime "
    "nostrictatime nodiratime diratime lazytime nolazytime ";

bool harmless_option(const std::string& o) {
    return o.find(' ') == std::string::npos &&
           kHarmlessOptions.find(" " + o + " ") != std::string_view::npos;
}

/// Turns spec edits into container edits, one spec's or device's at a time.
class Builder {
  public:
    explicit Builder(const HookContext& ctx) : ctx_(ctx) {}

    void apply(const SpecEdits& e, const Spec& spec, const std::string& name) {
        const std::string what = spec.file.empty() ? name : name + " (" + spec.file + ")";
        const std::string origin = spec.file.empty() ? name : spec.file + ": " + name;
        out_.env.insert(out_.env.end(), e.env.begin(), e.env.end());
        for (const auto& n : e.device_nodes) {
            node(n, origin, what);
        }
        for (const auto& m : e.mounts) {
            mount(m, origin, what);
        }
        for (const auto& h : e.hooks) {
            hook(h, origin, what);
        }
        if (!e.additional_gids.empty()) {
            std::vector<std::string> gids;
            for (const uint32_t g : e.additional_gids) {
                gids.push_back(std::to_string(g));
            }
            note(what + ": additionalGids " + text::join(gids, ",") +
                 " not added: the container's process keeps the user's groups");
        }
        if (!e.intel_rdt_class.empty()) {
            note(what + ": intelRdt closID " + quote(e.intel_rdt_class) +
                 " not applied: husk does not manage resctrl");
        }
        for (const auto& n : e.net_devices) {
            note(what + ": netDevices " + quote(n.host_interface_name) +
                 " not moved: the container shares the host's network namespace, where it is");
        }
    }

    /// The edits, mounts by depth then symlinks.
    ContainerEdits finish() {
        std::stable_sort(mounts_.begin(), mounts_.end(), [](const Mount& a, const Mount& b) {
            return path::depth(a.target) < path::depth(b.target);
        });
        out_.mounts = std::move(mounts_);
        out_.mounts.insert(out_.mounts.end(), symlinks_.begin(), symlinks_.end());
        out_.needs_new_paths = !out_.mounts.empty();
        return std::move(out_);
    }

  private:
    std::string host(const std::string& p) const {
        if (ctx_.host_root.empty() || ctx_.host_root == "/") {
            return p;
        }
        std::string root = ctx_.host_root;
        while (root.size() > 1 && root.back() == '/') {
            root.pop_back();
        }
        return root + p;
    }

    void note(std::string n) {
        n = shown(n, std::string::npos);
        if (std::find(out_.notes.begin(), out_.notes.end(), n) == out_.notes.end()) {
            out_.notes.push_back(std::move(n));
        }
    }

    void node(const SpecDeviceNode& n, const std::string& origin, const std::string& what) {
        const std::string hp = host(n.host_path.empty() ? n.path : n.host_path);
        auto& nodes = out_.device_nodes;
        std::erase_if(nodes, [&](const DeviceNode& d) { return d.path == n.path; });
        if (ctx_.nodes_discovered) {
            nodes.push_back({n.path, hp, what});
            return;
        }
        const std::string head = origin + ": device node " + n.path + ": host node " + hp;
        struct stat st {};
        if (::lstat(hp.c_str(), &st) != 0) {
            throw line_error(head, errno);
        }
        char type;
        const char* type_name;
        if (S_ISCHR(st.st_mode)) {
            type = 'c';
            type_name = "a character device";
        } else if (S_ISBLK(st.st_mode)) {
            type = 'b';
            type_name = "a block device";
        } else if (S_ISFIFO(st.st_mode)) {
            type = 'p';
            type_name = "a fifo";
        } else {
            throw line_error(head + ": not a device node");
        }
        const char want = n.type == "u" ? 'c' : n.type.empty() ? type : n.type[0];
        if (want != type) {
            throw line_error(head + ": " + type_name + ", the spec says type " + n.type);
        }
        const int64_t major_number = major(st.st_rdev), minor_number = minor(st.st_rdev);
        if ((n.major && *n.major != major_number) || (n.minor && *n.minor != minor_number)) {
            throw line_error(head + ": device " + std::to_string(major_number) + ":" +
                             std::to_string(minor_number) + ", the spec says " +
                             (n.major ? std::to_string(*n.major) : "*") + ":" +
                             (n.minor ? std::to_string(*n.minor) : "*"));
        }
        nodes.push_back({n.path, hp, what});
    }

    void mount(const SpecMount& m, const std::string& origin, const std::string& what) {
        const std::string head = origin + ": mount " + m.container_path;
        const auto has = [&](const char* o) {
            return std::find(m.options.begin(), m.options.end(), o) != m.options.end();
        };
        Mount out;
        if (m.type.empty() || m.type == "bind" ||
            (m.type == "none" && (has("bind") || has("rbind")))) {
            out.kind = MountKind::Bind;
            out.source = host(m.host_path);
        } else if (m.type == "tmpfs") {
            out.kind = MountKind::Tmpfs;
        } else {
            throw line_error(head + ": type " + quote(m.type) +
                             ": husk mounts only binds and tmpfs (no filesystems of other types "
                             "without privilege)");
        }
        for (const auto& o : m.options) {
            if (harmless_option(o)) {
                continue;
            }
            if (out.kind == MountKind::Tmpfs &&
                (o.starts_with("size=") || o.starts_with("mode=") || o.starts_with("nr_inodes="))) {
                note(what + ": tmpfs " + m.container_path + ": option " + quote(o) +
                     " not applied");
                continue;
            }
            throw line_error(head + ": option " + quote(o) + " is not one husk applies");
        }
        out.target = m.container_path;
        out.read_only = has("ro") || has("readonly") || has("rro");
        out.on_missing = OnMissing::Fail;
        out.what = what;
        std::erase_if(mounts_, [&](const Mount& x) { return x.target == out.target; });
        mounts_.push_back(std::move(out));
    }

    [[noreturn]] static void refuse(const SpecHook& h, const std::string& origin,
                                    const std::string& why) {
        std::string line = origin + ": hook " + shown(h.path);
        for (size_t i = 1; i < h.args.size(); ++i) {
            line += " " + shown(h.args[i]);
        }
        throw line_error(line + ": " + why);
    }

    void hook(const SpecHook& h, const std::string& origin, const std::string& what) {
        static const std::string kRefused =
            "husk does not run hooks, and interprets only nvidia-cdi-hook's and nvidia-ctk "
            "hook's create-symlinks, update-ldcache, chmod, enable-cuda-compat, "
            "disable-device-node-modification, update-application-profile and noop";
        const size_t slash = h.path.rfind('/');
        const std::string base = h.path.substr(slash == std::string::npos ? 0 : slash + 1);
        if (base != "nvidia-cdi-hook" && base != "nvidia-ctk") {
            refuse(h, origin, kRefused);
        }
        // The command line, by urfave/cli's rules: global flags, [hook,]
        // the subcommand, its flags ("-f V", "--f V", "--f=V").
        size_t i = 1;
        const auto skip_global_flags = [&] {
            while (i < h.args.size() &&
                   (h.args[i] == "--debug" || h.args[i] == "-d" || h.args[i] == "--quiet" ||
                    h.args[i] == "-debug" || h.args[i] == "-quiet")) {
                ++i;
            }
        };
        skip_global_flags();
        if (base == "nvidia-ctk") {
            if (i >= h.args.size() || h.args[i] != "hook") {
                refuse(h, origin, kRefused);
            }
            ++i;
            skip_global_flags();
        }
        if (i >= h.args.size()) {
            refuse(h, origin, "no hook named; " + kRefused);
        }
        const std::string sub = h.args[i++];
        // Each subcommand's flags: the slices it reads, the strings it reads
        // (the last one given wins), the strings it ignores.
        std::vector<std::string> slices, strings, ignored;
        if (sub == "create-symlinks") {
            slices = {"link"};
            ignored = {"container-spec"};
        } else if (sub == "update-ldcache") {
            slices = {"folder"};
            ignored = {"ldconfig-path", "container-spec"};
        } else if (sub == "chmod") {
            slices = {"path"};
            strings = {"mode"};
            ignored = {"container-spec"};
        } else if (sub == "enable-cuda-compat") {
            ignored = {"host-driver-version", "host-cuda-version", "cuda-compat-container-root",
                       "container-spec"};
        } else if (sub == "disable-device-node-modification" ||
                   sub == "update-application-profile" || sub == "noop") {
            ignored = {"container-spec"};
        } else {
            refuse(h, origin, kRefused);
        }
        std::map<std::string, std::vector<std::string>> values;
        for (; i < h.args.size(); ++i) {
            std::string a = h.args[i];
            if (a.size() < 2 || a[0] != '-') {
                refuse(h, origin, "unexpected argument " + quote(a) + " of " + sub);
            }
            a.erase(0, a[1] == '-' ? 2 : 1);
            std::string value;
            const size_t eq = a.find('=');
            const bool inline_value = eq != std::string::npos;
            if (inline_value) {
                value = a.substr(eq + 1);
                a.resize(eq);
            }
            const bool slice = std::find(slices.begin(), slices.end(), a) != slices.end();
            const bool string = std::find(strings.begin(), strings.end(), a) != strings.end();
            if (!slice && !string &&
                std::find(ignored.begin(), ignored.end(), a) == ignored.end()) {
                refuse(h, origin, "unknown flag " + quote(h.args[i]) + " of " + sub);
            }
            if (!inline_value) {
                if (i + 1 >= h.args.size()) {
                    refuse(h, origin, "flag " + quote(h.args[i]) + " without its value");
                }
                value = h.args[++i];
            }
            if (string) {
                values[a] = {value};
                continue;
            }
            if (!slice) {
                continue;
            }
            // nvidia-cdi-hook splits a slice flag's value at commas;
            // nvidia-ctk turns that off.
            if (base == "nvidia-cdi-hook") {
                for (const auto piece : text::split(value, ',')) {
                    values[a].emplace_back(piece);
                }
            } else {
                values[a].push_back(value);
            }
        }
        const std::string hw = what + ": hook " + sub;
        if (sub == "create-symlinks") {
            for (const auto& l : values["link"]) {
                const size_t sep = l.find("::");
                if (sep == std::string::npos || l.find("::", sep + 2) != std::string::npos ||
                    sep == 0 || sep + 2 == l.size()) {
                    refuse(h, origin, "--link " + quote(l) + " is not TARGET::LINK");
                }
                std::string link = l.substr(sep + 2);
                if (link[0] != '/') {
                    link.insert(0, "/"); // the hook joins it to the container's root
                }
                Mount m{MountKind::Symlink, l.substr(0, sep), link, false, OnMissing::Warn, hw};
                std::erase_if(symlinks_, [&](const Mount& x) { return x.target == m.target; });
                symlinks_.push_back(std::move(m));
            }
        } else if (sub == "update-ldcache") {
            for (const auto& f : values["folder"]) {
                if (f.empty() || f[0] != '/') {
                    refuse(h, origin, "--folder " + quote(f) + " is not an absolute path");
                }
                auto& ld = out_.ld_library_path;
                if (std::find(ld.begin(), ld.end(), f) == ld.end()) {
                    ld.push_back(f);
                }
            }
            note(hw + ": its folders' libraries go into the container's ld.so.cache");
        } else if (sub == "chmod") {
            // nvidia-ctk 1.13 to 1.17 write "--mode 755 --path /dev/dri" (and
            // /dev/nvidia-caps) for the folders of nested device nodes: a
            // workaround for crun under rootless podman. Checked as the hook
            // checks its flags.
            const auto& mode = values["mode"];
            if (mode.empty() || mode.back().empty()) {
                refuse(h, origin, "chmod without a --mode");
            }
            const std::string& m = mode.back();
            unsigned bits = 0;
            const auto [end, ec] = std::from_chars(m.data(), m.data() + m.size(), bits, 8);
            if (ec != std::errc() || end != m.data() + m.size() || bits > 07777) {
                refuse(h, origin, "--mode " + quote(m) + " is not an octal file mode");
            }
            for (const auto& p : values["path"]) {
                if (p.empty()) {
                    refuse(h, origin, "an empty --path");
                }
            }
            note(hw + ": nothing done: the folders husk makes for device nodes are the "
                      "user's own, the container's only user; the host's and the image's are "
                      "never changed");
        } else if (sub == "enable-cuda-compat") {
            note(hw + ": nothing done: husk does not set up CUDA's forward-compatibility "
                      "libraries");
        } else if (sub == "disable-device-node-modification") {
            note(hw + ": nothing to do: the driver cannot make device nodes in a user "
                      "namespace");
        } else if (sub == "update-application-profile") {
            note(hw + ": nothing done: EGL cannot open the GPUs whose nodes are hidden");
        }
    }

    const HookContext& ctx_;
    ContainerEdits out_;
    std::vector<Mount> mounts_;
    std::vector<Mount> symlinks_;
};

} // namespace

ContainerEdits device_edits(const Registry& registry, const std::vector<std::string>& names,
                            const HookContext& ctx) {
    const Index index(registry);
    std::vector<Index::Ref> selected;
    std::vector<std::string> kinds_used;
    const auto select = [&](const Index::Ref& r) {
        if (std::find(selected.begin(), selected.end(), r) == selected.end()) {
            selected.push_back(r);
        }
    };
    // Where a device is missing, a spec that could not be read may be why.
    std::string skipped;
    if (!registry.unreadable.empty()) {
        skipped = "; skipped: " + text::join(registry.unreadable, "; ");
    }
    for (const auto& text : names) {
        const QualifiedName q = parse_qualified_name(text);
        const std::string kind = q.kind();
        const auto k = index.by_kind.find(kind);
        if (k == index.by_kind.end()) {
            std::string from;
            if (!registry.dirs.empty()) {
                from = "specs read from " + text::join(registry.dirs, ", ") + "; ";
            }
            throw line_error(
                "--device " + text + ": no CDI spec of the node offers kind " + kind + " (" + from +
                "kinds offered: " +
                (index.kind_order.empty() ? "none" : text::join(index.kind_order, ", ")) + ")" +
                skipped);
        }
        if (std::find(kinds_used.begin(), kinds_used.end(), kind) == kinds_used.end()) {
            kinds_used.push_back(kind);
        }
        const auto it = index.by_name.find(kind + "=" + q.name);
        if (it != index.by_name.end()) {
            select(it->second);
        } else if (q.name == "all") {
            for (const auto& r : k->second) {
                select(r);
            }
        } else {
            std::vector<std::string> offered;
            for (const auto& r : k->second) {
                offered.push_back(registry.specs[r.spec].devices[r.device].name);
            }
            throw line_error("--device " + text + ": no such device; " + kind +
                             " offers: " + text::join(offered, ", ") + skipped);
        }
    }
    Builder b(ctx);
    std::set<size_t> specs_applied;
    for (const auto& r : selected) {
        const Spec& spec = registry.specs[r.spec];
        if (specs_applied.insert(r.spec).second) {
            b.apply(spec.edits, spec, spec.kind);
        }
        b.apply(spec.devices[r.device].edits, spec, spec.kind + "=" + spec.devices[r.device].name);
    }
    ContainerEdits out = b.finish();
    std::set<std::string> present;
    for (const auto& n : out.device_nodes) {
        present.insert(n.path);
    }
    for (const auto& kind : kinds_used) {
        for (const auto& r : index.by_kind.at(kind)) {
            if (std::find(selected.begin(), selected.end(), r) != selected.end()) {
                continue;
            }
            for (const auto& n : registry.specs[r.spec].devices[r.device].edits.device_nodes) {
                if (present.insert(n.path).second) {
                    out.hidden_device_nodes.push_back(n.path);
                }
            }
        }
    }
    return out;
}

} // namespace husk::host::cdi
