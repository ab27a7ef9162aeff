// --gpu: the GPUs the environment selects from what discovery found
// (gpu_discover.cpp), and the container edits that show them.
#include "host/gpu.hpp"

#include "image/files.hpp"
#include "util/error.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <set>
#include <utility>

namespace husk::host::gpu {

namespace {

/// The value of the annotation "key=value" of `d`, or "".
std::string annotation(const cdi::SpecDevice& d, std::string_view key) {
    for (const auto& a : d.annotations) {
        if (a.size() > key.size() && a.compare(0, key.size(), key) == 0 && a[key.size()] == '=') {
            return a.substr(key.size() + 1);
        }
    }
    return "";
}

/// The variable that selects the devices, and what it selected.
struct Selection {
    std::string variable;             ///< "CUDA_VISIBLE_DEVICES"; "" when none is set
    bool listed = false;              ///< a list of devices (not all, none or unset)
    std::vector<size_t> devices;      ///< indices into spec.devices, in the order asked, once each
    std::vector<std::string> by_uuid; ///< for each of `devices`: the entry when it named a UUID
};

/// The variable that selects the devices ("" when none is set) and its
/// value, trimmed ("all" when none is set).
std::pair<std::string, std::string> selection_variable(const std::vector<std::string>& environ,
                                                       Vendor vendor) {
    // Slurm's SLURM_STEP_GPUS / SLURM_JOB_GPUS name the step's GPUs by
    // their index on the node; its CUDA_VISIBLE_DEVICES counts from 0 where
    // cgroup.conf has ConstrainDevices=yes, so it comes after them.
    const std::vector<std::string> vars =
        vendor == Vendor::Nvidia
            ? std::vector<std::string>{"NVIDIA_VISIBLE_DEVICES", "SLURM_STEP_GPUS",
                                       "SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES"}
            : std::vector<std::string>{"ROCR_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS",
                                       "HIP_VISIBLE_DEVICES"};
    for (const auto& var : vars) {
        for (const auto& kv : environ) {
            if (kv.size() > var.size() && kv.compare(0, var.size(), var) == 0 &&
                kv[var.size()] == '=') {
                return {var, std::string(text::trim(std::string_view(kv).substr(var.size() + 1)))};
            }
        }
    }
    return {"", "all"};
}

/// Whether a selection's value names devices: not all, none or void.
bool names_devices(const std::string& v) {
    return v != "all" && v != "none" && v != "void" && !v.empty();
}

/// The devices of `spec` that `chosen` (selection_variable()) selects.
Selection select(const cdi::Spec& spec, const std::pair<std::string, std::string>& chosen) {
    Selection s;
    s.variable = chosen.first;
    const std::string& v = chosen.second;
    if (v == "all") {
        for (size_t i = 0; i < spec.devices.size(); ++i) {
            s.devices.push_back(i);
            s.by_uuid.emplace_back();
        }
        return s;
    }
    if (!names_devices(v)) {
        return s;
    }
    s.listed = true;
    auto offered = [&] {
        std::string names;
        for (const auto& d : spec.devices) {
            names += (names.empty() ? "" : ", ") + d.name;
            const std::string uuid = annotation(d, "uuid");
            if (!uuid.empty()) {
                names += " (" + uuid + ")";
            }
        }
        return names.empty() ? std::string("none") : names;
    };
    std::set<size_t> seen;
    for (std::string_view piece : text::split(v, ',', text::Empty::Drop)) {
        const std::string entry(text::trim(piece));
        if (entry.empty()) {
            continue;
        }
        std::optional<size_t> match;
        bool uuid = false;
        for (size_t i = 0; i < spec.devices.size() && !match; ++i) {
            if (spec.devices[i].name == entry) {
                match = i;
            } else if (annotation(spec.devices[i], "uuid") == entry) {
                match = i;
                uuid = true;
            }
        }
        if (!match && entry.size() > 4) {
            // A unique prefix of a UUID, as CUDA takes ("GPU-8932f937").
            for (size_t i = 0; i < spec.devices.size(); ++i) {
                if (annotation(spec.devices[i], "uuid").rfind(entry, 0) == 0) {
                    if (match) {
                        throw Error(s.variable + ": \"" + entry +
                                    "\" is the beginning of more than one GPU's UUID (" +
                                    offered() + ")");
                    }
                    match = i;
                    uuid = true;
                }
            }
        }
        if (!match) {
            throw Error(s.variable + ": no GPU \"" + entry + "\" on this node (it has " +
                        offered() + ")");
        }
        if (seen.insert(*match).second) {
            s.devices.push_back(*match);
            s.by_uuid.push_back(uuid ? entry : "");
        }
    }
    return s;
}
} // namespace

Vendor parse_vendor(const std::string& text, const std::string& what) {
    if (text == "nvidia") {
        return Vendor::Nvidia;
    }
    if (text == "amd") {
        return Vendor::Amd;
    }
    throw Error(what + ": \"" + text + "\" is not a GPU vendor (nvidia or amd)");
}

std::vector<std::string> selected_devices(const cdi::Spec& spec,
                                          const std::vector<std::string>& environ, Vendor vendor) {
    std::vector<std::string> out;
    for (size_t i : select(spec, selection_variable(environ, vendor)).devices) {
        out.push_back(spec.kind + "=" + spec.devices[i].name);
    }
    return out;
}

ContainerEdits gpu_edits(Vendor vendor, const DiscoverOptions& o,
                         const std::vector<std::string>& environ, image::ImageFiles* image) {
    const bool nvidia = vendor == Vendor::Nvidia;
    // The PCI bus order is read only where a device is picked by its name.
    const auto chosen = selection_variable(environ, vendor);
    DiscoverOptions how = o;
    how.bus_order = o.bus_order && names_devices(chosen.second);
    std::optional<cdi::Spec> spec = nvidia ? discover_nvidia(how) : discover_amd(how);
    if (!spec) {
        throw Error(nvidia ? "--gpu: no NVIDIA GPU on this node: no /dev/nvidiactl or "
                             "/dev/nvidia0 under " +
                                 o.host_root
                           : "--gpu: no AMD GPU on this node: no /dev/kfd under " + o.host_root);
    }
    std::vector<std::string> notes;
    if (!nvidia && image != nullptr && image->resolve("/opt/rocm")) {
        auto& m = spec->edits.mounts;
        m.erase(
            std::remove_if(m.begin(), m.end(),
                           [](const cdi::SpecMount& x) { return x.container_path == "/opt/rocm"; }),
            m.end());
        notes.push_back("--gpu: the image has its own /opt/rocm: the host's is not bound");
    }
    const Selection sel = select(*spec, chosen);
    // The spec's host paths are real host paths, host_root included.
    const cdi::HookContext ctx{"/", /*nodes_discovered=*/true};
    ContainerEdits e;
    if (sel.devices.empty()) {
        // The spec's own edits alone: through a copy whose one device has
        // them as its own; every GPU's node hidden.
        cdi::Spec own = *spec;
        own.devices = {cdi::SpecDevice{"none", {}, spec->edits}};
        own.edits = {};
        e = cdi::device_edits(cdi::Registry{{own}, {}}, {own.kind + "=none"}, ctx);
        for (const auto& d : spec->devices) {
            for (const auto& n : d.edits.device_nodes) {
                e.hidden_device_nodes.push_back(n.path);
            }
        }
    } else {
        std::vector<std::string> names;
        for (size_t i : sel.devices) {
            names.push_back(spec->kind + "=" + spec->devices[i].name);
        }
        e = cdi::device_edits(cdi::Registry{{*spec}, {}}, names, ctx);
    }
    // A GPU runtime numbers the GPUs it can open from 0: a list of indices
    // in CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES or HIP_VISIBLE_DEVICES
    // (NVIDIA_VISIBLE_DEVICES is read by no runtime) is renumbered so that
    // it names in the container the GPUs that it named on the host, in the
    // same order; UUIDs stay.
    if (sel.listed && !sel.devices.empty() && sel.variable != "NVIDIA_VISIBLE_DEVICES") {
        std::vector<size_t> sorted = sel.devices;
        std::sort(sorted.begin(), sorted.end());
        std::string value;
        for (size_t k = 0; k < sel.devices.size(); ++k) {
            const size_t rank = static_cast<size_t>(
                std::find(sorted.begin(), sorted.end(), sel.devices[k]) - sorted.begin());
            value += (k == 0 ? "" : ",") +
                     (sel.by_uuid[k].empty() ? std::to_string(rank) : sel.by_uuid[k]);
        }
        // Slurm's selection is said to the runtime in its own variable.
        const std::string var = sel.variable.rfind("SLURM_", 0) != 0 ? sel.variable
                                : nvidia                             ? "CUDA_VISIBLE_DEVICES"
                                                                     : "ROCR_VISIBLE_DEVICES";
        e.env.push_back(var + "=" + value);
        notes.push_back("--gpu: " + var + " is " + value +
                        " in the container: its GPUs are numbered from 0 there");
    }
    std::string shown;
    for (size_t i : sel.devices) {
        shown += (shown.empty() ? "" : ", ") + spec->devices[i].name;
    }
    notes.insert(notes.begin(), std::string("--gpu: ") + (nvidia ? "NVIDIA" : "AMD") + " GPUs " +
                                    (shown.empty() ? "none" : shown) + " of " +
                                    std::to_string(spec->devices.size()) +
                                    (sel.variable.empty() ? "" : " (by " + sel.variable + ")"));
    e.notes.insert(e.notes.end(), notes.begin(), notes.end());
    // Every file discovery found is a real path, no symlink last, a regular
    // file or the persistenced socket (only /opt/rocm is a folder): bound
    // from a descriptor of that very file (edits.hpp, Mount::exact_source),
    // whose type the bind checks again.
    for (auto& m : e.mounts) {
        m.exact_source = m.kind == MountKind::Bind && m.target != "/opt/rocm";
    }
    return e;
}

} // namespace husk::host::gpu
