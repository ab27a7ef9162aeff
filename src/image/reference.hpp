// Image references (registry/repository:tag@digest), normalised as Docker
// normalises them (distribution's reference grammar, docker/normalize.go).
#pragma once

#include <string>
#include <string_view>

namespace husk::image {

/// A parsed, normalised image reference.
struct Reference {
    /// Host and optional port: "docker.io", "ghcr.io", "127.0.0.1:5000".
    std::string registry;
    /// Slash-separated lower-case path: "library/ubuntu", "org/tool".
    std::string repository;
    /// The tag; "latest" when neither tag nor digest was given; "" when only
    /// a digest was.
    std::string tag;
    /// "sha256:<64 hex>", or "" for none.
    std::string digest;

    /// "registry/repository[:tag][@digest]".
    std::string str() const;
    /// What to ask the registry for: the digest if any, else the tag.
    const std::string& what() const { return digest.empty() ? tag : digest; }
    /// The host to talk to: registry-1.docker.io for docker.io.
    std::string api_host() const;
    /// Whether the registry is this machine (localhost, 127.0.0.0/8, ::1),
    /// where plain HTTP is tried when HTTPS is refused.
    bool is_local() const;
};

/// Parses REFERENCE as `docker pull` does, after an optional "docker://":
/// the first component is a registry only if it has a '.' or ':' or is
/// "localhost"; else the registry is docker.io, and a single-component
/// repository gets "library/". The tag defaults to "latest" unless a
/// digest is given. Repository components are [a-z0-9] runs joined by '.',
/// '_', "__" or dashes; tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127};
/// digests sha256 with 64 lower-case hex digits.
/// @throws husk::Error "image reference TEXT: reason", one line.
Reference parse_reference(std::string_view text);

/// Whether `text` names a registry image for `husk run`: it starts with
/// "docker://".
bool is_registry_reference(std::string_view text);

} // namespace husk::image
