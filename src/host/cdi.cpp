// CDI specs: the one-line messages every step shares, writing a spec (JSON,
// or YAML through cdi_yaml.cpp), and the registry of a node's spec
// folders. Reading is in cdi_read.cpp, the container edits of the named
// devices in cdi_edits.cpp.
#include "host/cdi.hpp"
#include "host/cdi_detail.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"
#include "util/log.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <map>
#include <set>
#include <sys/stat.h>

namespace husk::host::cdi {

// ---------------------------------------------------------------------------
// Messages (cdi_detail.hpp)

namespace detail {

std::string shown(std::string_view s, size_t limit) {
    std::string out;
    for (size_t i = 0; i < s.size() && i < limit; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (s.size() > limit) {
        out += "...";
    }
    return out;
}

Error line_error(const std::string& message, int err) {
    return Error(shown(message, std::string::npos), err);
}

std::string quote(std::string_view s) {
    return "\"" + shown(s) + "\"";
}

std::string text_problem(std::string_view s) {
    if (s.find('\0') != std::string_view::npos) {
        return "a NUL byte";
    }
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t n = 0;
        uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return "not UTF-8";
        }
        if (i + n >= s.size()) {
            return "not UTF-8";
        }
        for (size_t k = 1; k <= n; ++k) {
            const auto d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xc0) != 0x80) {
                return "not UTF-8";
            }
            cp = (cp << 6) | (d & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return "not UTF-8";
        }
        if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe) {
            return "a Unicode noncharacter";
        }
        i += n + 1;
    }
    return "";
}

} // namespace detail

namespace {

using namespace detail; // NOLINT(google-build-using-namespace): this module's own

// ---------------------------------------------------------------------------
// Writing

/// The oldest version that has every field `s` sets.
int required_version(const Spec& s) {
    int v = V030;
    const auto edits = [&](const SpecEdits& e) {
        if (!e.net_devices.empty()) {
            v = std::max(v, int{V110});
        }
        if (!e.additional_gids.empty() || !e.intel_rdt_class.empty()) {
            v = std::max(v, int{V070});
        }
        for (const auto& n : e.device_nodes) {
            if (!n.host_path.empty()) {
                v = std::max(v, int{V050});
            }
        }
        for (const auto& m : e.mounts) {
            if (!m.type.empty()) {
                v = std::max(v, int{V040});
            }
        }
    };
    const size_t slash = s.kind.find('/');
    if (slash != std::string::npos && s.kind.find('.', slash) != std::string::npos) {
        v = std::max(v, int{V060});
    }
    edits(s.edits);
    for (const auto& d : s.devices) {
        if (!d.annotations.empty()) {
            v = std::max(v, int{V060});
        }
        if (!d.name.empty() && d.name[0] >= '0' && d.name[0] <= '9') {
            v = std::max(v, int{V050});
        }
        edits(d.edits);
    }
    return v;
}

ojson edits_json(const SpecEdits& e) {
    ojson j = ojson::object();
    if (!e.env.empty()) {
        j["env"] = e.env;
    }
    if (!e.device_nodes.empty()) {
        ojson a = ojson::array();
        for (const auto& n : e.device_nodes) {
            ojson o = ojson::object();
            o["path"] = n.path;
            if (!n.host_path.empty()) {
                o["hostPath"] = n.host_path;
            }
            if (!n.type.empty()) {
                o["type"] = n.type;
            }
            if (n.major) {
                o["major"] = *n.major;
            }
            if (n.minor) {
                o["minor"] = *n.minor;
            }
            if (n.file_mode) {
                o["fileMode"] = *n.file_mode;
            }
            if (!n.permissions.empty()) {
                o["permissions"] = n.permissions;
            }
            if (n.uid) {
                o["uid"] = *n.uid;
            }
            if (n.gid) {
                o["gid"] = *n.gid;
            }
            a.push_back(std::move(o));
        }
        j["deviceNodes"] = std::move(a);
    }
    if (!e.mounts.empty()) {
        ojson a = ojson::array();
        for (const auto& m : e.mounts) {
            ojson o = ojson::object();
            o["hostPath"] = m.host_path;
            o["containerPath"] = m.container_path;
            if (!m.type.empty()) {
                o["type"] = m.type;
            }
            if (!m.options.empty()) {
                o["options"] = m.options;
            }
            a.push_back(std::move(o));
        }
        j["mounts"] = std::move(a);
    }
    if (!e.hooks.empty()) {
        ojson a = ojson::array();
        for (const auto& h : e.hooks) {
            ojson o = ojson::object();
            o["hookName"] = h.hook_name;
            o["path"] = h.path;
            if (!h.args.empty()) {
                o["args"] = h.args;
            }
            if (!h.env.empty()) {
                o["env"] = h.env;
            }
            if (h.timeout) {
                o["timeout"] = *h.timeout;
            }
            a.push_back(std::move(o));
        }
        j["hooks"] = std::move(a);
    }
    if (!e.additional_gids.empty()) {
        j["additionalGids"] = e.additional_gids;
    }
    if (!e.intel_rdt_class.empty()) {
        j["intelRdt"] = ojson{{"closID", e.intel_rdt_class}};
    }
    if (!e.net_devices.empty()) {
        ojson a = ojson::array();
        for (const auto& n : e.net_devices) {
            a.push_back(ojson{{"hostInterfaceName", n.host_interface_name}, {"name", n.name}});
        }
        j["netDevices"] = std::move(a);
    }
    return j;
}

ojson spec_json(const Spec& s) {
    const int v = std::max(version_index(s.version), required_version(s));
    ojson j = ojson::object();
    j["cdiVersion"] = kVersions[v];
    j["kind"] = s.kind;
    ojson devices = ojson::array();
    for (const auto& d : s.devices) {
        ojson o = ojson::object();
        o["name"] = d.name;
        if (!d.annotations.empty()) {
            ojson a = ojson::object();
            for (const auto& kv : d.annotations) {
                const size_t eq = kv.find('=');
                a[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
            }
            o["annotations"] = std::move(a);
        }
        o["containerEdits"] = edits_json(d.edits);
        devices.push_back(std::move(o));
    }
    j["devices"] = std::move(devices);
    ojson e = edits_json(s.edits);
    if (!e.empty()) {
        j["containerEdits"] = std::move(e);
    }
    return j;
}

} // namespace

// ---------------------------------------------------------------------------

std::string write_spec(const Spec& spec, bool yaml) {
    const ojson j = spec_json(spec);
    if (!yaml) {
        return j.dump(2, ' ', false, ojson::error_handler_t::replace) + "\n";
    }
    return write_yaml(j);
}

Registry Registry::load(const std::vector<std::string>& dirs, bool strict) {
    Registry r;
    r.dirs = dirs;
    const auto trouble = [&](const std::string& message) {
        if (strict) {
            throw line_error(message);
        }
        log::warn(shown(message, std::string::npos));
    };
    for (size_t d = 0; d < dirs.size(); ++d) {
        const Fd dir(::open(dirs[d].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir) {
            if (errno == ENOENT || errno == ENOTDIR) {
                continue;
            }
            throw line_error("cannot read the CDI spec folder " + dirs[d], errno);
        }
        std::vector<std::string> names;
        try {
            names = dir_names(dir.get(), dirs[d]);
        } catch (const Error& e) {
            throw line_error("cannot read the CDI spec folder " + dirs[d], e.err());
        }
        std::erase_if(names, [](const std::string& n) {
            return !n.ends_with(".json") && !n.ends_with(".yaml") && !n.ends_with(".yml");
        });
        std::sort(names.begin(), names.end());
        std::map<std::string, std::string> in_this_dir; // qualified name -> file
        for (const auto& n : names) {
            const std::string p = dirs[d] + (dirs[d].ends_with("/") ? "" : "/") + n;
            struct stat st {};
            if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
                continue; // a dangling link, a folder named x.json
            }
            Spec spec;
            try {
                spec = parse_spec(file::read(p, kMaxSpecBytes), p);
            } catch (const Error& e) {
                r.unreadable.emplace_back(shown(e.what(), std::string::npos));
                continue;
            }
            spec.priority = static_cast<int>(d);
            std::erase_if(spec.devices, [&](const SpecDevice& dev) {
                const std::string q = spec.kind + "=" + dev.name;
                const auto [it, fresh] = in_this_dir.emplace(q, p);
                if (!fresh) {
                    trouble(p + ": device " + q + " is also in " + it->second +
                            ", in the same folder; ignored here");
                }
                return !fresh;
            });
            if (!spec.devices.empty()) {
                r.specs.push_back(std::move(spec));
            }
        }
    }
    if (!strict) {
        r.warn_unreadable();
    }
    return r;
}

void Registry::warn_unreadable() const {
    for (const auto& u : unreadable) {
        log::warn(u + " (skipped)");
    }
}

std::vector<std::string> Registry::device_names() const {
    std::set<std::string> names;
    for (const auto& s : specs) {
        for (const auto& d : s.devices) {
            names.insert(s.kind + "=" + d.name);
        }
    }
    return {names.begin(), names.end()};
}

} // namespace husk::host::cdi
