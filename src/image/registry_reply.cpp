// The registry client's readers of what a registry (or an auth file) says:
// platforms, WWW-Authenticate challenges, credentials, image indexes and
// manifests. Pure: no network, and fuzzed (test/fuzz/registry_reply.cpp).
#include "image/registry_reply.hpp"
#include "image/registry.hpp"

#include "image/http.hpp"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/text.hpp"

#include <cctype>
#include <cstring>
#include <optional>
#include <sys/utsname.h>

namespace husk::image {

using json = nlohmann::json;

json parse_reply(const std::string& text, const std::string& where) {
    try {
        json j = json::parse(text);
        if (!j.is_object()) {
            throw Error(where + ": not a JSON object");
        }
        return j;
    } catch (const json::exception& e) {
        throw Error(where + ": not valid JSON (" + text::one_line(e.what()) + ")");
    }
}

std::string optional_string(const json& obj, const char* key, const std::string& where) {
    if (!obj.is_object()) {
        return {};
    }
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return {};
    }
    if (!it->is_string()) {
        throw Error(where + ": \"" + key + "\" is not a string");
    }
    return it->get<std::string>();
}

bool is_sha256_digest(std::string_view d) {
    return d.size() == 71 && d.substr(0, 7) == "sha256:" &&
           d.find_first_not_of("0123456789abcdef", 7) == std::string_view::npos;
}

namespace {

/// A descriptor's digest, checked: "sha256:" and 64 lower-case hex digits
/// (the name of a file in the blob cache, so nothing else may pass).
std::string checked_digest(const json& desc, const std::string& where) {
    if (!desc.is_object() || !desc.contains("digest") || !desc["digest"].is_string()) {
        throw Error(where + ": a descriptor without a \"digest\"");
    }
    const std::string d = desc["digest"].get<std::string>();
    if (!is_sha256_digest(d)) {
        throw Error(where + ": digest " + text::one_line(d) +
                    " is not sha256:<64 lower-case hex digits>");
    }
    return d;
}

uint64_t checked_size(const json& desc, const std::string& where) {
    if (!desc.contains("size") || !desc["size"].is_number_unsigned()) {
        throw Error(where + ": a descriptor without a non-negative \"size\"");
    }
    return desc["size"].get<uint64_t>();
}

std::string env_get(const std::vector<std::string>& environ, const std::string& name) {
    for (const auto& kv : environ) {
        if (kv.size() > name.size() && kv.compare(0, name.size(), name) == 0 &&
            kv[name.size()] == '=') {
            return kv.substr(name.size() + 1);
        }
    }
    return "";
}

/// "https://index.docker.io/v1/" -> "index.docker.io"
std::string auth_key_host(std::string key) {
    for (const char* scheme : {"https://", "http://"}) {
        if (key.rfind(scheme, 0) == 0) {
            key = key.substr(std::strlen(scheme));
        }
    }
    return key.substr(0, key.find('/'));
}

/// A platform of the index, as a message shows it: "os/architecture[/variant]",
/// "?" for a part missing, on one line whatever the registry sent.
std::string platform_text(const Platform& p) {
    return text::one_line((p.os.empty() ? "?" : p.os) + "/" +
                          (p.architecture.empty() ? "?" : p.architecture) +
                          (p.variant.empty() ? "" : "/" + p.variant));
}

/// The "platform" object of an index's descriptor, its fields checked to be
/// strings.
Platform platform_of(const json& p, const std::string& where) {
    Platform out;
    out.os = optional_string(p, "os", where);
    out.architecture = optional_string(p, "architecture", where);
    out.variant = optional_string(p, "variant", where);
    return out;
}

/// A manifest descriptor of an index, and its platform.
struct Choice {
    json descriptor;
    Platform platform;
};

/// The manifest descriptor of `index` for `want`.
Choice choose_platform(const json& index, const Platform& want, const std::string& shown) {
    if (!index.contains("manifests") || !index["manifests"].is_array()) {
        throw Error(shown + ": the index has no \"manifests\" array");
    }
    std::vector<std::string> offered;
    std::optional<Choice> loose; // the os and architecture, but a variant missing on one side
    const json& manifests = index["manifests"];
    for (size_t i = 0; i < manifests.size(); ++i) {
        const json& d = manifests[i];
        if (!d.is_object() || !d.contains("platform") || !d["platform"].is_object()) {
            continue;
        }
        Platform p =
            platform_of(d["platform"], shown + ": manifests[" + std::to_string(i) + "].platform");
        offered.push_back(platform_text(p));
        if (p.os != want.os || p.architecture != want.architecture) {
            continue;
        }
        if (p.variant == want.variant) {
            return {d, std::move(p)};
        }
        if ((want.variant.empty() || p.variant.empty()) && !loose) {
            loose = Choice{d, std::move(p)};
        }
    }
    if (loose) {
        return std::move(*loose);
    }
    throw Error(
        shown + ": no image for " + want.str() + " (the index has " +
        (offered.empty() ? std::string("none with a platform") : text::join(offered, ", ")) +
        "); choose one with --platform");
}

} // namespace

Platform Platform::host() {
    Platform p;
    struct utsname u {};
    ::uname(&u);
    const std::string m = u.machine;
    if (m == "x86_64") {
        p.architecture = "amd64";
    } else if (m == "aarch64" || m == "arm64") {
        p.architecture = "arm64";
        p.variant = "v8";
    } else if (m == "i686" || m == "i386") {
        p.architecture = "386";
    } else if (m.rfind("armv7", 0) == 0) {
        p.architecture = "arm";
        p.variant = "v7";
    } else {
        p.architecture = m; // ppc64le, s390x, riscv64: the same names
    }
    return p;
}

Platform Platform::parse(std::string_view text) {
    const auto parts = text::split(text, '/');
    if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty() ||
        (parts.size() == 3 && parts[2].empty())) {
        throw Error("--platform " + text::one_line(text) + ": expected OS/ARCH[/VARIANT]");
    }
    Platform p;
    p.os = std::string(parts[0]);
    p.architecture = std::string(parts[1]);
    p.variant = parts.size() == 3 ? std::string(parts[2]) : "";
    return p;
}

std::string Platform::str() const {
    return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

Challenge parse_challenge(std::string_view h) {
    Challenge c;
    size_t i = 0;
    while (i < h.size() && h[i] == ' ') {
        ++i;
    }
    const size_t sp = h.find(' ', i);
    std::string scheme(h.substr(i, sp == std::string_view::npos ? h.size() - i : sp - i));
    for (auto& ch : scheme) {
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    c.scheme = scheme;
    if (sp == std::string_view::npos) {
        return c;
    }
    i = sp + 1;
    while (i < h.size()) {
        while (i < h.size() && (h[i] == ' ' || h[i] == ',')) {
            ++i;
        }
        const size_t eq = h.find('=', i);
        if (eq == std::string_view::npos) {
            break;
        }
        std::string key(h.substr(i, eq - i));
        for (auto& ch : key) {
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        }
        i = eq + 1;
        std::string value;
        if (i < h.size() && h[i] == '"') {
            ++i;
            while (i < h.size() && h[i] != '"') {
                if (h[i] == '\\' && i + 1 < h.size()) {
                    ++i;
                }
                value += h[i++];
            }
            ++i;
        } else {
            while (i < h.size() && h[i] != ',') {
                value += h[i++];
            }
        }
        if (key == "realm") {
            c.realm = value;
        } else if (key == "service") {
            c.service = value;
        } else if (key == "scope") {
            c.scope = value;
        }
        if (key.find(' ') != std::string::npos) {
            break; // a second challenge began
        }
    }
    return c;
}

std::string find_credentials(const std::string& registry, const std::string& home,
                             const std::vector<std::string>& environ) {
    std::vector<std::string> files;
    if (const std::string f = env_get(environ, "REGISTRY_AUTH_FILE"); !f.empty()) {
        files.push_back(f);
    }
    if (const std::string x = env_get(environ, "XDG_RUNTIME_DIR"); !x.empty()) {
        files.push_back(x + "/containers/auth.json");
    }
    if (!home.empty()) {
        files.push_back(home + "/.config/containers/auth.json");
        files.push_back(home + "/.docker/config.json");
    }
    const bool hub = registry == "docker.io";
    for (const auto& f : files) {
        std::string text;
        try {
            text = file::read(f, 1 << 20);
        } catch (const Error&) {
            continue; // not there
        }
        const json j = parse_reply(text, "auth file " + f);
        if (!j.contains("auths") || !j["auths"].is_object()) {
            continue;
        }
        for (const auto& [key, entry] : j["auths"].items()) {
            const std::string host = auth_key_host(key);
            const bool match =
                host == registry ||
                (hub && (host == "index.docker.io" || host == "registry-1.docker.io"));
            if (match && entry.is_object() && entry.contains("auth") && entry["auth"].is_string()) {
                const std::string auth = entry["auth"].get<std::string>();
                bool ok = false;
                const std::string plain = http::unbase64(auth, ok);
                if (!ok || plain.find(':') == std::string::npos) {
                    throw Error("auth file " + f + ": \"auths\" of " + key +
                                ": \"auth\" is not base64 of USER:PASSWORD");
                }
                return auth;
            }
        }
    }
    return "";
}

std::string index_choice(std::string_view body, const Platform& want, const std::string& shown,
                         Platform* chosen) {
    const json doc = parse_reply(std::string(body), shown);
    Choice c = choose_platform(doc, want, shown);
    const std::string digest = checked_digest(c.descriptor, shown);
    if (chosen != nullptr) {
        *chosen = std::move(c.platform);
    }
    return digest;
}

std::vector<Descriptor> manifest_blobs(std::string_view body, const std::string& shown) {
    const json doc = parse_reply(std::string(body), shown);
    if (!doc.contains("config") || !doc.contains("layers") || !doc["layers"].is_array()) {
        throw Error(shown + ": the manifest has no \"config\" or \"layers\"");
    }
    std::vector<Descriptor> out;
    out.push_back({checked_digest(doc["config"], shown + ": config"),
                   checked_size(doc["config"], shown + ": config"), shown + ": config"});
    const size_t n = doc["layers"].size();
    for (size_t i = 0; i < n; ++i) {
        const json& l = doc["layers"][i];
        const std::string where =
            shown + ": layer " + std::to_string(i + 1) + " of " + std::to_string(n);
        const std::string digest = checked_digest(l, where);
        if (l.contains("urls")) {
            throw Error(where + " (" + digest + ") is a foreign layer, which husk does not fetch");
        }
        out.push_back({digest, checked_size(l, where), where + " (" + digest + ")"});
    }
    return out;
}

} // namespace husk::image
