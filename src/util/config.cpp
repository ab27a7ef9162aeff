#include "util/config.hpp"

#include "util/error.hpp"
#include "util/file.hpp"
#include "util/nss.hpp"
#include "util/text.hpp"

#include <cerrno>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace husk::config {

namespace {

using nlohmann::json;

constexpr const char* kKeys =
    "storage, binds, cdi_spec_dirs, devices, max_unpack_bytes, "
    "max_unpack_entries, runtime_dir, linger, fuse_cpu_limit, mpi, mpi_abi_policy, "
    "mpi_libraries, legacy_mounts";
constexpr uint32_t kMaxLinger = 7 * 24 * 3600; // a week: longer is surely a typo
constexpr uint32_t kMaxFuseCpuLimit = 3600;

template <typename T> void set(Setting<T>& s, T value, Origin origin, std::string from) {
    s.value = std::move(value);
    s.origin = origin;
    s.from = std::move(from);
}

/// Reports a bad value of `key` in the site config at `path`.
[[noreturn]] void bad(const std::string& path, const std::string& key, const std::string& why) {
    throw Error(text::one_line(path + ": " + key + ": " + why));
}

std::string absolute_path(const json& v, const std::string& path, const std::string& key) {
    if (!v.is_string()) {
        bad(path, key, "not a string");
    }
    std::string s = v.get<std::string>();
    if (s.empty() || s[0] != '/') {
        bad(path, key, "\"" + s + "\" is not an absolute path");
    }
    return s;
}

/// The array at `key` ("not an array of `what`" otherwise), each element
/// checked and converted by `element(value, "key[i]")`.
template <typename Element>
std::vector<std::string> array_of(const json& v, const std::string& path, const std::string& key,
                                  const char* what, Element element) {
    if (!v.is_array()) {
        bad(path, key, std::string("not an array of ") + what);
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < v.size(); ++i) {
        out.push_back(element(v[i], key + "[" + std::to_string(i) + "]"));
    }
    return out;
}

/// An array of absolute paths at `key`, each checked by absolute_path().
std::vector<std::string> absolute_paths(const json& v, const std::string& path,
                                        const std::string& key) {
    return array_of(v, path, key, "absolute paths", [&](const json& e, const std::string& at) {
        return absolute_path(e, path, at);
    });
}

/// An array of CDI device names at `key`: "vendor.com/class=name" in shape
/// (host::cdi checks the parts when the devices are applied).
std::vector<std::string> device_names(const json& v, const std::string& path,
                                      const std::string& key) {
    return array_of(v, path, key, "CDI device names", [&](const json& e, const std::string& at) {
        if (!e.is_string()) {
            bad(path, at, "not a string");
        }
        const std::string name = e.get<std::string>();
        const size_t slash = name.find('/');
        const size_t eq = name.find('=');
        if (slash == std::string::npos || eq == std::string::npos || slash == 0 || eq < slash + 2 ||
            eq + 1 == name.size()) {
            bad(path, at, "\"" + name + "\" is not a CDI device name (vendor.com/class=name)");
        }
        return name;
    });
}

/// ${USER} and ${UID} in a site path (`key`); any other ${...} is an error.
std::string expand(std::string s, const Identity& who, const std::string& path,
                   const std::string& key) {
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
        size_t at = s.find("${", i);
        if (at == std::string::npos) {
            out.append(s, i);
            break;
        }
        size_t end = s.find('}', at);
        const std::string name = end == std::string::npos ? "" : s.substr(at + 2, end - at - 2);
        if (name == "USER") {
            out.append(s, i, at - i).append(who.user);
        } else if (name == "UID") {
            out.append(s, i, at - i).append(std::to_string(who.uid));
        } else {
            bad(path, key, "\"" + s + "\": only ${USER} and ${UID} are replaced");
        }
        i = end + 1;
    }
    return out;
}

uint64_t positive(const json& v, const std::string& path, const std::string& key) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() == 0) {
        bad(path, key, "not a positive integer");
    }
    return v.get<uint64_t>();
}

/// A site key's number of seconds, 0 to `max`.
uint32_t seconds(const json& v, const std::string& path, const std::string& key, uint32_t max) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() > max) {
        bad(path, key, "not a number of seconds from 0 to " + std::to_string(max));
    }
    return static_cast<uint32_t>(v.get<uint64_t>());
}

/// An environment variable's number of seconds, 0 to `max` (decimal digits only).
uint32_t seconds(const std::string& name, const std::string& text, uint32_t max) {
    const uint64_t n = text.find_first_not_of("0123456789") == std::string::npos && !text.empty() &&
                               text.size() < 10
                           ? std::stoull(text)
                           : max + 1ULL;
    if (n > max) {
        throw Error(name + "=" + text + ": not a number of seconds from 0 to " +
                    std::to_string(max));
    }
    return static_cast<uint32_t>(n);
}

uint64_t positive(const std::string& name, const std::string& text) {
    size_t pos = 0;
    unsigned long long n = 0;
    try {
        n = std::stoull(text, &pos, 10);
    } catch (const std::exception&) {
        pos = 0;
    }
    if (pos != text.size() || text[0] == '-' || text[0] == '+' || n == 0) {
        throw Error(name + "=" + text + ": not a positive integer");
    }
    return n;
}

} // namespace

Identity Identity::current() {
    Identity who;
    who.uid = ::getuid();
    if (auto pw = nss::user_by_uid(who.uid)) {
        who.user = std::move(pw->name);
        who.known = true;
        who.home = std::move(pw->home);
        who.gecos = std::move(pw->gecos);
    } else {
        who.user = std::to_string(who.uid);
    }
    return who;
}

Environment husk_environment(char** envp) {
    Environment env;
    for (char** e = envp; e != nullptr && *e != nullptr; ++e) {
        std::string_view entry(*e);
        size_t eq = entry.find('=');
        const std::string_view name = entry.substr(0, eq);
        if (eq != std::string_view::npos &&
            (name.rfind("HUSK_", 0) == 0 || name == "XDG_RUNTIME_DIR" || name == "SLURM_JOB_ID")) {
            env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
        }
    }
    return env;
}

Settings defaults(const Identity& who, const Environment& env) {
    Settings s;
    s.storage.value = "/var/tmp/" + who.user + "/husk";
    auto xdg = env.find("XDG_RUNTIME_DIR");
    if (xdg != env.end() && !xdg->second.empty() && xdg->second[0] == '/') {
        s.runtime_dir.value = xdg->second + "/husk";
        s.runtime_dir.from = "built-in, in XDG_RUNTIME_DIR";
    } else {
        s.runtime_dir.value = "/tmp/husk-" + std::to_string(who.uid);
    }
    auto job = env.find("SLURM_JOB_ID");
    if (job != env.end() && !job->second.empty()) {
        s.linger.value = kSlurmLinger;
        s.linger.from = "built-in, in a Slurm job";
    }
    s.cdi_spec_dirs.value = {"/etc/cdi", "/var/run/cdi"};
    s.max_unpack_bytes.value = kMaxUnpackBytes;
    s.max_unpack_entries.value = kMaxUnpackEntries;
    s.mpi.value = "none";
    s.mpi_abi_policy.value = "full";
    s.fuse_cpu_limit.value = kFuseCpuLimit;

    return s;
}

void apply_site_config(Settings& s, std::string_view text, const std::string& path,
                       const Identity& who) {
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::exception& e) {
        // "[json.exception.parse_error.101] parse error at line 2, column 3: ...";
        // a number too large for a double is out_of_range.406, not a parse_error
        std::string why = e.what();
        size_t at = why.find("] ");
        throw Error(text::one_line(path + ": not valid JSON (" +
                                   (at == std::string::npos ? why : why.substr(at + 2)) + ")"));
    }
    if (!doc.is_object()) {
        throw Error(path + ": not a JSON object");
    }
    const Origin o = Origin::SiteConfig;
    for (const auto& [key, v] : doc.items()) {
        if (key == "storage") {
            set(s.storage, expand(absolute_path(v, path, key), who, path, key), o, path);
        } else if (key == "runtime_dir") {
            set(s.runtime_dir, expand(absolute_path(v, path, key), who, path, key), o, path);
        } else if (key == "linger") {
            set(s.linger, seconds(v, path, key, kMaxLinger), o, path);
        } else if (key == "fuse_cpu_limit") {
            set(s.fuse_cpu_limit, seconds(v, path, key, kMaxFuseCpuLimit), o, path);
        } else if (key == "binds") {
            if (!v.is_array()) {
                bad(path, key, "not an array of \"SRC[:DST[:ro|rw]]\" strings");
            }
            std::vector<BindSpec> binds;
            for (size_t i = 0; i < v.size(); ++i) {
                const std::string at = key + "[" + std::to_string(i) + "]";
                if (!v[i].is_string()) {
                    bad(path, at, "not a string");
                }
                const std::string spec = v[i].get<std::string>();
                BindSpec b;
                try {
                    b = parse_bind(spec);
                } catch (const Error& e) {
                    bad(path, at, "\"" + spec + "\": " + e.message());
                }
                if (b.source[0] != '/' || b.target[0] != '/') {
                    bad(path, at,
                        "\"" + spec +
                            "\": a relative path (site binds name absolute "
                            "host and container paths)");
                }
                binds.push_back(std::move(b));
            }
            set(s.binds, std::move(binds), o, path);
        } else if (key == "cdi_spec_dirs") {
            set(s.cdi_spec_dirs, absolute_paths(v, path, key), o, path);
        } else if (key == "devices") {
            set(s.devices, device_names(v, path, key), o, path);
        } else if (key == "max_unpack_bytes") {
            set(s.max_unpack_bytes, positive(v, path, key), o, path);
        } else if (key == "max_unpack_entries") {
            set(s.max_unpack_entries, positive(v, path, key), o, path);
        } else if (key == "mpi") {
            if (!v.is_string() || (v != "none" && v != "host")) {
                bad(path, key, "not \"none\" or \"host\"");
            }
            set(s.mpi, v.get<std::string>(), o, path);
        } else if (key == "mpi_abi_policy") {
            if (!v.is_string() || (v != "major" && v != "full" && v != "strict")) {
                bad(path, key, "not \"major\", \"full\" or \"strict\"");
            }
            set(s.mpi_abi_policy, v.get<std::string>(), o, path);
        } else if (key == "mpi_libraries") {
            set(s.mpi_libraries, absolute_paths(v, path, key), o, path);
        } else if (key == "legacy_mounts") {
            if (!v.is_boolean()) {
                bad(path, key, "not true or false");
            }
            set(s.legacy_mounts, v.get<bool>(), o, path);
        } else {
            throw Error(
                text::one_line(path + ": unknown key \"" + key + "\" (known: " + kKeys + ")"));
        }
    }
}

void apply_environment(Settings& s, const Environment& env) {
    auto get = [&](const char* name) -> const std::string* {
        auto it = env.find(name);
        return it == env.end() || it->second.empty() ? nullptr : &it->second;
    };
    const Origin o = Origin::Environment;
    if (const std::string* v = get("HUSK_STORAGE")) {
        if ((*v)[0] != '/') {
            throw Error("HUSK_STORAGE=" + *v + ": must be an absolute path");
        }
        set(s.storage, *v, o, "HUSK_STORAGE");
    }
    if (const std::string* v = get("HUSK_CDI_SPEC_DIRS")) {
        std::vector<std::string> dirs;
        for (auto d : text::split(*v, ':', text::Empty::Drop)) {
            if (d[0] != '/') {
                throw Error("HUSK_CDI_SPEC_DIRS=" + *v + ": \"" + std::string(d) +
                            "\" is not an absolute path");
            }
            dirs.emplace_back(d);
        }
        set(s.cdi_spec_dirs, std::move(dirs), o, "HUSK_CDI_SPEC_DIRS");
    }
    if (const std::string* v = get("HUSK_MAX_UNPACK_BYTES")) {
        set(s.max_unpack_bytes, positive("HUSK_MAX_UNPACK_BYTES", *v), o, "HUSK_MAX_UNPACK_BYTES");
    }
    if (const std::string* v = get("HUSK_MAX_UNPACK_ENTRIES")) {
        set(s.max_unpack_entries, positive("HUSK_MAX_UNPACK_ENTRIES", *v), o,
            "HUSK_MAX_UNPACK_ENTRIES");
    }
    if (const std::string* v = get("HUSK_RUNTIME_DIR")) {
        if ((*v)[0] != '/') {
            throw Error("HUSK_RUNTIME_DIR=" + *v + ": must be an absolute path");
        }
        set(s.runtime_dir, *v, o, "HUSK_RUNTIME_DIR");
    }
    if (const std::string* v = get("HUSK_LINGER")) {
        set(s.linger, seconds("HUSK_LINGER", *v, kMaxLinger), o, "HUSK_LINGER");
    }
    if (const std::string* v = get("HUSK_FUSE_CPU_LIMIT")) {
        set(s.fuse_cpu_limit, seconds("HUSK_FUSE_CPU_LIMIT", *v, kMaxFuseCpuLimit), o,
            "HUSK_FUSE_CPU_LIMIT");
    }
    if (const std::string* v = get("HUSK_MPI")) {
        if (*v != "none" && *v != "host") {
            throw Error("HUSK_MPI=" + *v + ": expected none or host");
        }
        set(s.mpi, *v, o, "HUSK_MPI");
    }
    if (const std::string* v = get("HUSK_MPI_ABI_POLICY")) {
        if (*v != "major" && *v != "full" && *v != "strict") {
            throw Error("HUSK_MPI_ABI_POLICY=" + *v + ": expected major, full or strict");
        }
        set(s.mpi_abi_policy, *v, o, "HUSK_MPI_ABI_POLICY");
    }
    if (const std::string* v = get("HUSK_LEGACY_MOUNTS")) {
        if (*v != "0" && *v != "1") {
            throw Error("HUSK_LEGACY_MOUNTS=" + *v + ": expected 0 or 1");
        }
        set(s.legacy_mounts, *v == "1", o, "HUSK_LEGACY_MOUNTS");
    }
}

Settings load(const Environment& env, const Identity& who) {
    Settings s = defaults(who, env);
    auto it = env.find("HUSK_CONFIG");
    const bool chosen = it != env.end() && !it->second.empty();
    if (chosen) {
        s.site_config = it->second;
    }
    std::string text;
    // The usual case, no site config, without an exception on the way.
    if (!chosen && ::access(s.site_config.c_str(), F_OK) != 0 && errno == ENOENT) {
        apply_environment(s, env);
        return s;
    }
    try {
        text = file::read(s.site_config, kMaxSiteConfigBytes);
        s.site_config_read = true;
    } catch (const Error& e) {
        if (chosen || e.err() != ENOENT) {
            throw Error((chosen ? "HUSK_CONFIG=" : "site config ") + s.site_config +
                            (e.err() == 0 ? ": larger than 1 MiB" : ": cannot read it"),
                        e.err());
        }
    }
    if (s.site_config_read) {
        apply_site_config(s, text, s.site_config, who);
    }
    apply_environment(s, env);
    return s;
}

std::vector<Shown> describe(const Settings& s) {
    std::vector<std::string> binds;
    for (const auto& b : s.binds.value) {
        binds.push_back(b.source + (b.target != b.source || b.read_only ? ":" + b.target : "") +
                        (b.read_only ? ":ro" : ""));
    }
    return {
        {"site config", s.site_config, s.site_config_read ? "read" : "not present"},
        {"storage", s.storage.value, s.storage.from},
        {"binds", binds.empty() ? "(none)" : text::join(binds, ", "), s.binds.from},
        {"cdi_spec_dirs", text::join(s.cdi_spec_dirs.value, ":"), s.cdi_spec_dirs.from},
        {"devices", s.devices.value.empty() ? "(none)" : text::join(s.devices.value, ", "),
         s.devices.from},
        {"max_unpack_bytes", std::to_string(s.max_unpack_bytes.value), s.max_unpack_bytes.from},
        {"max_unpack_entries", std::to_string(s.max_unpack_entries.value),
         s.max_unpack_entries.from},
        {"runtime_dir", s.runtime_dir.value, s.runtime_dir.from},
        {"linger", std::to_string(s.linger.value) + " s", s.linger.from},
        {"fuse_cpu_limit",
         s.fuse_cpu_limit.value == 0 ? std::string("off")
                                     : std::to_string(s.fuse_cpu_limit.value) + " s",
         s.fuse_cpu_limit.from},
        {"mpi", s.mpi.value, s.mpi.from},
        {"mpi_abi_policy", s.mpi_abi_policy.value, s.mpi_abi_policy.from},
        {"mpi_libraries",
         s.mpi_libraries.value.empty() ? "(the linker cache's)"
                                       : text::join(s.mpi_libraries.value, ", "),
         s.mpi_libraries.from},
        {"legacy_mounts", s.legacy_mounts.value ? "true" : "false", s.legacy_mounts.from},
    };
}

} // namespace husk::config
