// Reading CDI specs: JSON with nlohmann-json, YAML through cdi_yaml.cpp,
// both into one JSON tree that one validator reads against the version the
// spec names (the reference parser's rules, cdiVersion 0.3.0 to 1.1.0);
// and the qualified device names of --device.
#include "host/cdi.hpp"
#include "host/cdi_detail.hpp"

#include "util/error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace husk::host::cdi {
namespace {

using namespace detail; // NOLINT(google-build-using-namespace): this module's own

/// Annotations of one spec or device, keys and values (the reference's limit).
constexpr size_t kMaxAnnotationBytes = 256 << 10;

json parse_json(std::string_view text, const std::string& file) {
    std::vector<std::set<std::string>> keys; // of each object open
    const json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
        if (depth > kMaxDepth) {
            throw line_error(file + ": nested deeper than " + std::to_string(kMaxDepth) +
                             " levels");
        }
        if (event == json::parse_event_t::object_start) {
            keys.emplace_back();
        } else if (event == json::parse_event_t::object_end && !keys.empty()) {
            keys.pop_back();
        } else if (event == json::parse_event_t::key && !keys.empty()) {
            const auto& key = parsed.get_ref<const std::string&>();
            if (!keys.back().insert(key).second) {
                throw line_error(file + ": key " + quote(key) + " given twice");
            }
        }
        return true;
    };
    try {
        return json::parse(text.begin(), text.end(), cb);
    } catch (const json::parse_error& e) {
        // "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..."
        std::string what = e.what();
        const size_t at = what.find("parse error at ");
        if (at != std::string::npos) {
            what = what.substr(at + std::strlen("parse error at "));
        }
        throw line_error(file + ": " + shown(what, 240));
    }
}

// ---------------------------------------------------------------------------
// The validator

/// A field of an object: its name, and the versions that have it
/// ([since, until)).
struct Field {
    const char* name;
    int since = V030;
    int until = kNumVersions;
};

/// Whether a value is "set" for the version rules: the reference asks for a
/// newer version only where the newer field has a value.
bool is_set(const json& v) {
    if (v.is_null()) {
        return false;
    }
    if (v.is_string()) {
        return !v.get_ref<const std::string&>().empty();
    }
    if (v.is_array() || v.is_object()) {
        return !v.empty();
    }
    if (v.is_boolean()) {
        return v.get<bool>();
    }
    return true;
}

/// An integer as read, before its range is checked: sign and magnitude
/// (`overflow`: more than 64 bits).
struct Integer {
    bool negative = false;
    uint64_t magnitude = 0;
    bool overflow = false;
};

/// `n` as an int64_t when it lies in [lo, hi].
std::optional<int64_t> in_range(const Integer& n, int64_t lo, int64_t hi) {
    if (n.overflow) {
        return std::nullopt;
    }
    if (!n.negative || n.magnitude == 0) {
        if (n.magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
            static_cast<int64_t>(n.magnitude) > hi || static_cast<int64_t>(n.magnitude) < lo) {
            return std::nullopt;
        }
        return static_cast<int64_t>(n.magnitude);
    }
    // -magnitude >= lo, with lo < 0: magnitude <= -(lo + 1) + 1
    if (lo >= 0 || n.magnitude - 1 > static_cast<uint64_t>(-(lo + 1))) {
        return std::nullopt;
    }
    const int64_t v = -static_cast<int64_t>(n.magnitude - 1) - 1;
    return v > hi ? std::nullopt : std::optional<int64_t>(v);
}

/// An integer of YAML's text as the reference (go-yaml, YAML 1.1) reads
/// one: [-+] then decimal, 0x hex, 0o or 0-prefixed octal, 0b binary.
std::optional<Integer> yaml_integer(std::string_view s) {
    Integer n;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        n.negative = s[0] == '-';
        s.remove_prefix(1);
    }
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s.remove_prefix(2);
    } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        base = 8;
        s.remove_prefix(2);
    } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2;
        s.remove_prefix(2);
    } else if (s.size() > 1 && s[0] == '0') {
        base = 8;
        s.remove_prefix(1);
    }
    if (s.empty()) {
        return std::nullopt;
    }
    for (const char c : s) {
        int d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            return std::nullopt;
        }
        if (d >= base) {
            return std::nullopt;
        }
        const auto b = static_cast<uint64_t>(base), digit = static_cast<uint64_t>(d);
        if (n.magnitude > (std::numeric_limits<uint64_t>::max() - digit) / b) {
            n.overflow = true;
        } else {
            n.magnitude = n.magnitude * b + digit;
        }
    }
    return n;
}

std::string at(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}
std::string at(const std::string& path, size_t index) {
    return path + "[" + std::to_string(index) + "]";
}

/// pkg/parser's rule for a vendor or a class: a letter first, a letter or
/// digit last, letters, digits, '_', '-' and '.' between. "" when valid.
std::string vendor_or_class_problem(std::string_view s) {
    if (s.empty()) {
        return "empty";
    }
    if (!is_letter(s[0])) {
        return quote(s) + " does not start with a letter";
    }
    for (size_t i = 1; i + 1 < s.size(); ++i) {
        if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.') {
            return "invalid character " + quote(s.substr(i, 1)) + " in " + quote(s);
        }
    }
    if (!is_alnum(s.back())) {
        return quote(s) + " does not end with a letter or digit";
    }
    return "";
}

/// pkg/parser's rule for a device name: a letter or digit first and last,
/// letters, digits, '_', '-', '.' and ':' between. "" when valid.
std::string device_name_problem(std::string_view s) {
    if (s.empty()) {
        return "empty";
    }
    if (!is_alnum(s[0])) {
        return quote(s) + " does not start with a letter or digit";
    }
    for (size_t i = 1; i + 1 < s.size(); ++i) {
        if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.' && s[i] != ':') {
            return "invalid character " + quote(s.substr(i, 1)) + " in " + quote(s);
        }
    }
    if (!is_alnum(s.back())) {
        return quote(s) + " does not end with a letter or digit";
    }
    return "";
}

const std::set<std::string, std::less<>> kHookNames = {
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"};

/// Reads one spec's JSON tree into a Spec, checking as it goes.
class Reader {
  public:
    Reader(const std::string& file, bool yaml) : file_(file), yaml_(yaml) {}

    Spec spec(const json& doc) {
        if (!doc.is_object()) {
            fail("", "not a CDI spec: the document is not a mapping of fields");
        }
        Spec s;
        s.file = file_;
        s.version = version(doc);
        fields(doc, "",
               {{"cdiVersion"}, {"kind"}, {"annotations", V060}, {"devices"}, {"containerEdits"}});
        s.kind = kind(doc);
        annotations(doc, "");
        const json* devices = array(doc, "", "devices");
        if (devices == nullptr || devices->empty()) {
            fail("devices", "no devices (a spec needs at least one)");
        }
        std::map<std::string, size_t> seen;
        for (size_t i = 0; i < devices->size(); ++i) {
            const std::string p = at("devices", i);
            s.devices.push_back(device((*devices)[i], p));
            const auto [it, fresh] = seen.emplace(s.devices.back().name, i);
            if (!fresh) {
                fail(at(p, "name"), quote(s.devices.back().name) + " is also devices[" +
                                        std::to_string(it->second) + "]'s name");
            }
        }
        if (const json* e = object(doc, "", "containerEdits")) {
            s.edits = edits(*e, "containerEdits");
        }
        return s;
    }

  private:
    [[noreturn]] void fail(const std::string& field, const std::string& reason) const {
        std::string msg = file_.empty() ? "" : file_ + ": ";
        if (!field.empty()) {
            msg += shown(field) + ": ";
        }
        throw line_error(msg + reason);
    }

    std::string version(const json& doc) {
        const json* v = get(doc, "cdiVersion");
        if (v == nullptr) {
            fail("cdiVersion", "missing");
        }
        std::string text = string(*v, "cdiVersion");
        if (!text.empty() && text[0] == 'v') {
            text.erase(0, 1); // the reference accepts "v1.0.0"
        }
        version_ = version_index(text);
        if (version_ < 0) {
            fail("cdiVersion", quote(text) + " is not a CDI version husk reads (" + kOldestVersion +
                                   " to " + kNewestVersion + ")");
        }
        return text;
    }

    std::string kind(const json& doc) {
        const std::string k = string_field(doc, "", "kind", true);
        const size_t slash = k.find('/');
        if (slash == std::string::npos || slash == 0 || slash + 1 == k.size()) {
            fail("kind", quote(k) + " is not \"vendor/class\" (as \"nvidia.com/gpu\")");
        }
        const std::string vendor = k.substr(0, slash), clazz = k.substr(slash + 1);
        if (const std::string p = vendor_or_class_problem(vendor); !p.empty()) {
            fail("kind", "vendor: " + p);
        }
        if (const std::string p = vendor_or_class_problem(clazz); !p.empty()) {
            fail("kind", "class: " + p);
        }
        if (clazz.find('.') != std::string::npos && version_ < V060) {
            fail("kind", "a '.' in the class needs cdiVersion 0.6.0 or newer; the file says " +
                             std::string(kVersions[version_]));
        }
        return k;
    }

    SpecDevice device(const json& d, const std::string& p) {
        if (!d.is_object()) {
            fail(p, "expected a mapping of fields");
        }
        fields(d, p, {{"name"}, {"annotations", V060}, {"containerEdits"}});
        SpecDevice dev;
        dev.name = string_field(d, p, "name", true);
        if (const std::string problem = device_name_problem(dev.name); !problem.empty()) {
            fail(at(p, "name"), problem);
        }
        if (dev.name[0] >= '0' && dev.name[0] <= '9' && version_ < V050) {
            fail(at(p, "name"), "a digit first needs cdiVersion 0.5.0 or newer; the file says " +
                                    std::string(kVersions[version_]));
        }
        dev.annotations = annotations(d, p);
        const json* e = object(d, p, "containerEdits");
        if (e != nullptr) {
            dev.edits = edits(*e, at(p, "containerEdits"));
        }
        if (dev.edits == SpecEdits{}) {
            fail(at(p, "containerEdits"), "no edits (a device needs at least one)");
        }
        return dev;
    }

    std::vector<std::string> annotations(const json& obj, const std::string& p) {
        std::vector<std::string> out;
        const json* a = object(obj, p, "annotations");
        if (a == nullptr) {
            return out;
        }
        const std::string ap = at(p, "annotations");
        size_t bytes = 0;
        for (auto it = a->begin(); it != a->end(); ++it) {
            const std::string& key = it.key();
            if (key.empty() || key.find('=') != std::string::npos) {
                fail(ap, "key " + quote(key) + " is empty or has '='");
            }
            if (const std::string problem = text_problem(key); !problem.empty()) {
                fail(ap, "key " + quote(key) + ": " + problem);
            }
            const std::string value = string(it.value(), at(ap, key));
            bytes += key.size() + value.size();
            out.push_back(key + "=" + value);
        }
        if (bytes > kMaxAnnotationBytes) {
            fail(ap, "more than " + std::to_string(kMaxAnnotationBytes >> 10) + " KiB");
        }
        return out; // in key order: json objects are sorted
    }

    SpecEdits edits(const json& e, const std::string& p) {
        if (!e.is_object()) {
            fail(p, "expected a mapping of fields");
        }
        fields(e, p,
               {{"env"},
                {"deviceNodes"},
                {"mounts"},
                {"hooks"},
                {"additionalGids", V070},
                {"intelRdt", V070},
                {"netDevices", V110}});
        SpecEdits out;
        out.env = env_list(e, p, "env");
        if (const json* a = array(e, p, "deviceNodes")) {
            for (size_t i = 0; i < a->size(); ++i) {
                out.device_nodes.push_back(device_node((*a)[i], at(at(p, "deviceNodes"), i)));
            }
        }
        if (const json* a = array(e, p, "mounts")) {
            for (size_t i = 0; i < a->size(); ++i) {
                out.mounts.push_back(mount((*a)[i], at(at(p, "mounts"), i)));
            }
        }
        if (const json* a = array(e, p, "hooks")) {
            for (size_t i = 0; i < a->size(); ++i) {
                out.hooks.push_back(hook((*a)[i], at(at(p, "hooks"), i)));
            }
        }
        if (const json* a = array(e, p, "additionalGids")) {
            for (size_t i = 0; i < a->size(); ++i) {
                out.additional_gids.push_back(static_cast<uint32_t>(
                    integer((*a)[i], at(at(p, "additionalGids"), i), 0, UINT32_MAX)));
            }
        }
        if (const json* r = object(e, p, "intelRdt")) {
            out.intel_rdt_class = intel_rdt(*r, at(p, "intelRdt"));
        }
        if (const json* a = array(e, p, "netDevices")) {
            std::set<std::string> hosts, names;
            for (size_t i = 0; i < a->size(); ++i) {
                const std::string np = at(at(p, "netDevices"), i);
                const json& n = (*a)[i];
                if (!n.is_object()) {
                    fail(np, "expected a mapping of fields");
                }
                fields(n, np, {{"hostInterfaceName"}, {"name"}});
                SpecNetDevice d{string_field(n, np, "hostInterfaceName", true),
                                string_field(n, np, "name", true)};
                if (!hosts.insert(d.host_interface_name).second) {
                    fail(at(np, "hostInterfaceName"), quote(d.host_interface_name) + " twice");
                }
                if (!names.insert(d.name).second) {
                    fail(at(np, "name"), quote(d.name) + " twice");
                }
                out.net_devices.push_back(std::move(d));
            }
        }
        return out;
    }

    SpecDeviceNode device_node(const json& n, const std::string& p) {
        if (!n.is_object()) {
            fail(p, "expected a mapping of fields");
        }
        fields(n, p,
               {{"path"},
                {"hostPath", V050},
                {"type"},
                {"major"},
                {"minor"},
                {"fileMode"},
                {"permissions"},
                {"uid"},
                {"gid"}});
        SpecDeviceNode d;
        d.path = absolute_path(n, p, "path", true);
        d.host_path = absolute_path(n, p, "hostPath", false);
        d.type = string_field(n, p, "type", false);
        if (d.type != "" && d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p") {
            fail(at(p, "type"), quote(d.type) + " is not one of c, u (character), b (block), "
                                                "p (fifo)");
        }
        constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
        constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
        d.major = optional_integer(n, p, "major", kMin, kMax);
        d.minor = optional_integer(n, p, "minor", kMin, kMax);
        if (const auto m = optional_integer(n, p, "fileMode", 0, UINT32_MAX)) {
            d.file_mode = static_cast<uint32_t>(*m);
        }
        d.permissions = string_field(n, p, "permissions", false);
        if (d.permissions != "none" &&
            d.permissions.find_first_not_of("rwm") != std::string::npos) {
            fail(at(p, "permissions"),
                 quote(d.permissions) + " is not \"none\" or made of r, w and m");
        }
        if (const auto v = optional_integer(n, p, "uid", 0, UINT32_MAX)) {
            d.uid = static_cast<uint32_t>(*v);
        }
        if (const auto v = optional_integer(n, p, "gid", 0, UINT32_MAX)) {
            d.gid = static_cast<uint32_t>(*v);
        }
        return d;
    }

    SpecMount mount(const json& m, const std::string& p) {
        if (!m.is_object()) {
            fail(p, "expected a mapping of fields");
        }
        fields(m, p, {{"hostPath"}, {"containerPath"}, {"type", V040}, {"options"}});
        SpecMount out;
        out.type = string_field(m, p, "type", false);
        out.options = string_list(m, p, "options");
        const bool bind =
            out.type.empty() || out.type == "bind" ||
            std::find(out.options.begin(), out.options.end(), "bind") != out.options.end() ||
            std::find(out.options.begin(), out.options.end(), "rbind") != out.options.end();
        // A bind's source is a host path; a filesystem's ("tmpfs") is a name.
        out.host_path =
            bind ? absolute_path(m, p, "hostPath", true) : string_field(m, p, "hostPath", true);
        out.container_path = absolute_path(m, p, "containerPath", true);
        return out;
    }

    SpecHook hook(const json& h, const std::string& p) {
        if (!h.is_object()) {
            fail(p, "expected a mapping of fields");
        }
        fields(h, p, {{"hookName"}, {"path"}, {"args"}, {"env"}, {"timeout"}});
        SpecHook out;
        out.hook_name = string_field(h, p, "hookName", true);
        if (kHookNames.count(out.hook_name) == 0) {
            fail(at(p, "hookName"), quote(out.hook_name) +
                                        " is not an OCI hook (prestart, createRuntime, "
                                        "createContainer, startContainer, poststart, poststop)");
        }
        out.path = absolute_path(h, p, "path", true);
        out.args = string_list(h, p, "args");
        out.env = env_list(h, p, "env");
        out.timeout = optional_integer(h, p, "timeout", 1, std::numeric_limits<int64_t>::max());
        return out;
    }

    std::string intel_rdt(const json& r, const std::string& p) {
        fields(r, p,
               {{"closID"},
                {"l3CacheSchema"},
                {"memBwSchema"},
                {"schemata", V110},
                {"enableMonitoring", V110},
                {"enableCMT", V030, V110},
                {"enableMBM", V030, V110}});
        const std::string clos = string_field(r, p, "closID", false);
        if (clos != "/" && (clos.size() >= 4096 || clos == "." || clos == ".." ||
                            clos.find_first_of("/\n") != std::string::npos)) {
            fail(at(p, "closID"), quote(clos) + " is not a file name (or \"/\")");
        }
        string_field(r, p, "l3CacheSchema", false);
        string_field(r, p, "memBwSchema", false);
        string_list(r, p, "schemata");
        for (const char* b : {"enableMonitoring", "enableCMT", "enableMBM"}) {
            if (const json* v = get(r, b)) {
                boolean(*v, at(p, b));
            }
        }
        return clos;
    }

    /// Unknown fields refused, and fields newer (or older) than the version.
    void fields(const json& obj, const std::string& p, std::initializer_list<Field> known) const {
        for (auto it = obj.begin(); it != obj.end(); ++it) {
            const Field* f = nullptr;
            for (const Field& k : known) {
                if (it.key() == k.name) {
                    f = &k;
                }
            }
            if (f == nullptr) {
                std::string names;
                for (const Field& k : known) {
                    if (version_ >= k.since && version_ < k.until) {
                        names += (names.empty() ? "" : ", ") + std::string(k.name);
                    }
                }
                fail(at(p, it.key()), "unknown field (cdiVersion " +
                                          std::string(kVersions[version_]) + " has " + names + ")");
            }
            if (version_ < f->since && is_set(it.value())) {
                fail(at(p, it.key()), "needs cdiVersion " + std::string(kVersions[f->since]) +
                                          " or newer; the file says " + kVersions[version_]);
            }
            if (version_ >= f->until && is_set(it.value())) {
                fail(at(p, it.key()), "was dropped in cdiVersion " +
                                          std::string(kVersions[f->until]) + "; the file says " +
                                          kVersions[version_]);
            }
        }
    }

    /// obj[key], or null when absent or null.
    static const json* get(const json& obj, const char* key) {
        const auto it = obj.find(key);
        return it == obj.end() || it->is_null() ? nullptr : &*it;
    }

    const json* object(const json& obj, const std::string& p, const char* key) const {
        const json* v = get(obj, key);
        if (v != nullptr && !v->is_object()) {
            fail(at(p, key), "expected a mapping");
        }
        return v;
    }

    const json* array(const json& obj, const std::string& p, const char* key) const {
        const json* v = get(obj, key);
        if (v != nullptr && !v->is_array()) {
            fail(at(p, key), "expected a list");
        }
        return v;
    }

    std::string string(const json& v, const std::string& p) const {
        if (!v.is_string()) {
            fail(p, "expected text");
        }
        const std::string& s = v.get_ref<const std::string&>();
        if (const std::string problem = text_problem(s); !problem.empty()) {
            fail(p, problem);
        }
        return s;
    }

    std::string string_field(const json& obj, const std::string& p, const char* key,
                             bool required) const {
        const json* v = get(obj, key);
        const std::string s = v == nullptr ? "" : string(*v, at(p, key));
        if (required && s.empty()) {
            fail(at(p, key), "missing");
        }
        return s;
    }

    std::string absolute_path(const json& obj, const std::string& p, const char* key,
                              bool required) const {
        std::string s = string_field(obj, p, key, required);
        if (!s.empty() && s[0] != '/') {
            fail(at(p, key), quote(s) + " is not an absolute path");
        }
        return s;
    }

    std::vector<std::string> string_list(const json& obj, const std::string& p,
                                         const char* key) const {
        std::vector<std::string> out;
        if (const json* a = array(obj, p, key)) {
            for (size_t i = 0; i < a->size(); ++i) {
                out.push_back(string((*a)[i], at(at(p, key), i)));
            }
        }
        return out;
    }

    std::vector<std::string> env_list(const json& obj, const std::string& p,
                                      const char* key) const {
        std::vector<std::string> out = string_list(obj, p, key);
        for (size_t i = 0; i < out.size(); ++i) {
            const size_t eq = out[i].find('=');
            if (eq == 0 || eq == std::string::npos) {
                fail(at(at(p, key), i), quote(out[i]) + " is not KEY=VALUE");
            }
        }
        return out;
    }

    int64_t integer(const json& v, const std::string& p, int64_t lo, int64_t hi) const {
        Integer n;
        if (v.is_number_unsigned()) {
            n.magnitude = v.get<uint64_t>();
        } else if (v.is_number_integer()) {
            const int64_t i = v.get<int64_t>();
            n.negative = i < 0;
            n.magnitude = i < 0 ? static_cast<uint64_t>(-(i + 1)) + 1 : static_cast<uint64_t>(i);
        } else if (yaml_ && v.is_string()) {
            const auto y = yaml_integer(v.get_ref<const std::string&>());
            if (!y) {
                fail(p, quote(v.get_ref<const std::string&>()) + " is not an integer");
            }
            n = *y;
        } else {
            fail(p, "expected an integer");
        }
        const auto r = in_range(n, lo, hi);
        if (!r) {
            fail(p, "out of range (" + std::to_string(lo) + " to " + std::to_string(hi) + ")");
        }
        return *r;
    }

    std::optional<int64_t> optional_integer(const json& obj, const std::string& p, const char* key,
                                            int64_t lo, int64_t hi) const {
        const json* v = get(obj, key);
        if (v == nullptr) {
            return std::nullopt;
        }
        return integer(*v, at(p, key), lo, hi);
    }

    bool boolean(const json& v, const std::string& p) const {
        if (v.is_boolean()) {
            return v.get<bool>();
        }
        if (yaml_ && v.is_string()) {
            const std::string& s = v.get_ref<const std::string&>();
            if (s == "true" || s == "True" || s == "TRUE") {
                return true;
            }
            if (s == "false" || s == "False" || s == "FALSE") {
                return false;
            }
        }
        fail(p, "expected true or false");
    }

    const std::string& file_;
    bool yaml_;
    int version_ = 0;
};

} // namespace

Spec parse_spec(std::string_view text, const std::string& file) {
    if (text.size() > kMaxSpecBytes) {
        throw line_error(file + ": larger than " + std::to_string(kMaxSpecBytes >> 20) +
                         " MiB: not a CDI spec");
    }
    if (text.find('\0') != std::string_view::npos) {
        throw line_error(file + ": a NUL byte: not a CDI spec");
    }
    std::string_view rest = text;
    if (rest.starts_with("\xef\xbb\xbf")) {
        rest.remove_prefix(3);
    }
    const size_t first = rest.find_first_not_of(" \t\r\n");
    const bool is_json = first != std::string_view::npos && rest[first] == '{';
    json doc;
    try {
        doc = is_json ? parse_json(text, file) : parse_yaml(text, file);
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw line_error(file + ": not a valid " + (is_json ? "JSON" : "YAML") +
                         " document: " + shown(e.what()));
    }
    return Reader(file, !is_json).spec(doc);
}

QualifiedName parse_qualified_name(std::string_view text) {
    const std::string head = "--device " + shown(text) + ": ";
    const size_t eq = text.find('=');
    const size_t slash = text.substr(0, eq).find('/');
    if (eq == std::string_view::npos || slash == std::string_view::npos || slash == 0 ||
        slash + 1 == eq || eq + 1 == text.size()) {
        throw line_error(head + "not a fully qualified CDI device name (vendor.com/class=name)");
    }
    QualifiedName q{std::string(text.substr(0, slash)),
                    std::string(text.substr(slash + 1, eq - slash - 1)),
                    std::string(text.substr(eq + 1))};
    if (const std::string p = vendor_or_class_problem(q.vendor); !p.empty()) {
        throw line_error(head + "vendor: " + p);
    }
    if (const std::string p = vendor_or_class_problem(q.clazz); !p.empty()) {
        throw line_error(head + "class: " + p);
    }
    if (const std::string p = device_name_problem(q.name); !p.empty()) {
        throw line_error(head + "device name: " + p);
    }
    return q;
}

} // namespace husk::host::cdi
