#include "image/reference.hpp"

#include "util/error.hpp"
#include "util/text.hpp"

#include <algorithm>

namespace husk::image {

namespace {

bool lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool hex_digit(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/// One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
bool valid_component(std::string_view c) {
    if (c.empty() || !lower_alnum(c.front()) || !lower_alnum(c.back())) {
        return false;
    }
    for (size_t i = 0; i < c.size();) {
        if (lower_alnum(c[i])) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < c.size() && !lower_alnum(c[j])) {
            ++j;
        }
        const std::string_view sep = c.substr(i, j - i);
        const bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
        if (sep != "." && sep != "_" && sep != "__" && !dashes) {
            return false;
        }
        i = j;
    }
    return true;
}

bool valid_tag(std::string_view t) {
    if (t.empty() || t.size() > 128) {
        return false;
    }
    for (size_t i = 0; i < t.size(); ++i) {
        const char c = t[i];
        const bool word =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!word && (i == 0 || (c != '.' && c != '-'))) {
            return false;
        }
    }
    return true;
}

/// host[:port], the host a DNS name or an IPv4 address or [IPv6].
bool valid_registry(std::string_view r) {
    if (r.empty() || r.size() > 255) {
        return false;
    }
    std::string_view host = r;
    if (host.front() == '[') {
        const size_t close = host.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        const std::string_view rest = host.substr(close + 1);
        if (!rest.empty() &&
            (rest.front() != ':' || rest.size() < 2 ||
             rest.substr(1).find_first_not_of("0123456789") != std::string_view::npos)) {
            return false;
        }
        return host.substr(1, close - 1).find_first_not_of("0123456789abcdefABCDEF:") ==
               std::string_view::npos;
    }
    const size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) {
        const std::string_view port = host.substr(colon + 1);
        if (port.empty() || port.size() > 5 ||
            port.find_first_not_of("0123456789") != std::string_view::npos) {
            return false;
        }
        host = host.substr(0, colon);
    }
    for (const auto label : text::split(host, '.')) {
        if (label.empty() || label.front() == '-' || label.back() == '-' ||
            label.find_first_not_of(
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") !=
                std::string_view::npos) {
            return false;
        }
    }
    return true;
}

} // namespace

bool is_registry_reference(std::string_view text) {
    return text.starts_with("docker://");
}

Reference parse_reference(std::string_view text) {
    const std::string shown = "image reference " + text::one_line(text);
    std::string_view rest = text;
    if (rest.starts_with("docker://")) {
        rest.remove_prefix(9);
    }
    if (rest.empty()) {
        throw Error(shown + ": empty");
    }
    if (rest.find_first_of(" \t\n\r") != std::string_view::npos) {
        throw Error(shown + ": contains white space");
    }
    Reference r;
    if (const size_t at = rest.find('@'); at != std::string_view::npos) {
        const std::string_view d = rest.substr(at + 1);
        if (!d.starts_with("sha256:")) {
            throw Error(shown + ": the digest must be sha256:<64 hex digits>");
        }
        const std::string_view hex = d.substr(7);
        if (hex.size() != 64 ||
            !std::all_of(hex.begin(), hex.end(), [](char c) { return hex_digit(c); })) {
            throw Error(shown + ": the digest must be sha256:<64 lower-case hex digits>");
        }
        r.digest = std::string(d);
        rest = rest.substr(0, at);
    }
    // The registry: a first component with '.' or ':', or "localhost".
    const size_t slash = rest.find('/');
    if (slash != std::string_view::npos) {
        const std::string_view first = rest.substr(0, slash);
        if (first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
            first.front() == '[') {
            if (!valid_registry(first)) {
                throw Error(shown + ": '" + std::string(first) + "' is not a registry host[:port]");
            }
            r.registry = std::string(first);
            rest = rest.substr(slash + 1);
        }
    }
    if (r.registry.empty()) {
        r.registry = "docker.io";
    }
    // The tag: after a ':' in the last component.
    const size_t last = rest.rfind('/');
    const size_t colon = rest.find(':', last == std::string_view::npos ? 0 : last + 1);
    if (colon != std::string_view::npos) {
        const std::string_view tag = rest.substr(colon + 1);
        if (!valid_tag(tag)) {
            throw Error(shown + ": '" + text::one_line(tag) +
                        "' is not a tag (letters, digits, '_', '.', '-'; at most 128)");
        }
        r.tag = std::string(tag);
        rest = rest.substr(0, colon);
    }
    if (rest.empty()) {
        throw Error(shown + ": no repository");
    }
    for (const auto c : text::split(rest, '/')) {
        if (!valid_component(c)) {
            throw Error(shown + ": '" + text::one_line(c) +
                        "' is not a repository component (lower-case letters and digits, "
                        "joined by '.', '_', '__' or '-')");
        }
    }
    r.repository = std::string(rest);
    if (r.registry == "docker.io" && r.repository.find('/') == std::string::npos) {
        r.repository = "library/" + r.repository;
    }
    if (r.repository.size() > 255) {
        throw Error(shown + ": the repository is longer than 255 characters");
    }
    if (r.tag.empty() && r.digest.empty()) {
        r.tag = "latest";
    }
    return r;
}

std::string Reference::str() const {
    return registry + "/" + repository + (tag.empty() ? "" : ":" + tag) +
           (digest.empty() ? "" : "@" + digest);
}

std::string Reference::api_host() const {
    return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

bool Reference::is_local() const {
    std::string host = registry;
    if (host.starts_with("[")) {
        return host.starts_with("[::1]");
    }
    host = host.substr(0, host.find(':'));
    return host == "localhost" || host.starts_with("127.");
}

} // namespace husk::image
