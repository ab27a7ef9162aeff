// An OCI distribution client (OCI distribution spec v1.1, "pull"): the /v2/
// check, manifests by tag or digest, blobs; OCI image indexes and Docker
// manifest lists with platform selection; OCI and Docker schema 2
// manifests; anonymous, bearer-token and basic auth. Blobs go into a
// digest-keyed cache, each checked by sha256 and size as it streams.
#pragma once

#include "image/reference.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace husk::image {

/// An OCI platform (image-index.md "platform").
struct Platform {
    std::string os = "linux";
    std::string architecture; ///< GOARCH names: amd64, arm64, ppc64le, s390x, ...
    std::string variant;      ///< "v8", "v7", or ""

    /// This machine's (uname(2), in GOARCH names).
    static Platform host();
    /// OS/ARCH[/VARIANT], as --platform takes it.
    /// @throws husk::Error "--platform TEXT: expected OS/ARCH[/VARIANT]".
    static Platform parse(std::string_view text);
    std::string str() const;
};

struct Pulled;

/// How a pull goes.
struct PullOptions {
    Platform platform = Platform::host();
    /// --insecure: TLS without verification, and plain HTTP when the
    /// registry has no TLS (always tried for this machine's registries).
    bool insecure = false;
    /// Show progress on a terminal (not with --quiet or --json).
    bool progress = true;
    /// Layers downloaded at once.
    unsigned parallel = 4;
    /// The most bytes of blobs one image may have (the site's
    /// max_unpack_bytes): a manifest that claims more is refused before
    /// anything is downloaded. 0: no limit.
    uint64_t max_bytes = 0;
    /// Asked, before any manifest is fetched, with the digest the reference
    /// names: its own, or for a tag the Docker-Content-Digest of a HEAD of
    /// the manifest (which Docker Hub's rate limit does not count, unlike a
    /// GET: a job's many ranks running one cached tag cost no pull). Return
    /// true with `Pulled::manifest_digest` (and `platform`) set when that
    /// image is already at hand for `platform`: nothing is fetched then. A
    /// registry that gives no digest on HEAD is simply pulled.
    std::function<bool(const std::string& digest, Pulled& out)> reuse;
};

/// What a pull fetched.
struct Pulled {
    std::string manifest_digest; ///< "sha256:..." of the image manifest
    std::string manifest;        ///< its JSON
    std::string media_type;      ///< its media type
    Platform platform;           ///< the platform it is for
    /// Every blob (config, then the layers), as "sha256:HEX".
    std::vector<std::string> blobs;
    uint64_t downloaded = 0; ///< bytes fetched from the network (0: all cached)
    /// The digest the reference resolved to first: the manifest's, or the
    /// index's it was chosen from (what PullOptions::reuse is asked with).
    std::string top_digest;
    bool reused = false; ///< PullOptions::reuse took it: nothing else is set but the digest
};

/// Fetches the image `ref` names (for `options.platform`, when it is an
/// index): the API check (GET /v2/), its manifest, its config and its layers into `blob_dir`
/// (BLOB_DIR/sha256/HEX, shared by every pull of the user; a blob already
/// there is not fetched again). A blob is written as HEX.part and renamed
/// when its size and sha256 match the manifest's descriptor; two pulls of
/// the same blob take turns (flock on HEX.lock), and an interrupted
/// download resumes (an HTTP Range request) where HEX.part ends. Network
/// failures, 429 and 5xx answers are retried four times (after 0.5, 1, 2
/// and 4 s).
/// Credentials: containers-auth.json(5) ($REGISTRY_AUTH_FILE,
/// $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json),
/// then ~/.docker/config.json; never printed. TLS: the system's CAs and
/// those of containers-certs.d(5) for the registry
/// (~/.config/containers/certs.d/HOST[:PORT]/*.crt,
/// /etc/containers/certs.d/HOST[:PORT]/*.crt).
/// @throws husk::Error, one line naming the registry, the repository and
///         what failed: no answer, a refusal (401 with the credentials
///         tried, 404), no manifest for the platform (listing those there
///         are), a malformed manifest, a digest or size mismatch naming the
///         layer.
Pulled pull(const Reference& ref, const std::string& blob_dir, const PullOptions& options);

/// Writes an OCI image layout (oci-layout, index.json naming the pulled
/// manifest, blobs/sha256/ with each blob hard-linked from `blob_dir`) into
/// the new directory `layout_dir`, for apply_image() and Store::import().
/// @throws husk::Error naming what could not be written.
void write_layout(const Pulled& pulled, const std::string& blob_dir, const std::string& layout_dir);

/// The credentials for `registry` ("host[:port]") from the auth files above,
/// as base64 "user:password" (the auth files' "auth" field), or "".
/// `home` and `environ` (KEY=VALUE) say where to look.
/// @throws husk::Error naming an auth file that is not valid JSON.
std::string find_credentials(const std::string& registry, const std::string& home,
                             const std::vector<std::string>& environ);

/// One challenge of a WWW-Authenticate header (RFC 7235): the scheme
/// ("bearer", "basic", lower-case) and its parameters (realm, service,
/// scope, ...).
struct Challenge {
    std::string scheme;
    std::string realm;
    std::string service;
    std::string scope;
};

/// Parses the first challenge of a WWW-Authenticate header value.
Challenge parse_challenge(std::string_view header);

/// A blob a manifest names.
struct Descriptor {
    std::string digest; ///< "sha256:" and 64 lower-case hex digits
    uint64_t size = 0;  ///< bytes
    std::string what;   ///< for messages: "REF: layer 2 of 5 (sha256:...)"
};

/// The blobs of an image manifest (OCI image-manifest.md, or Docker schema
/// 2), read from a registry's reply: the config, then the layers in order,
/// each digest checked to be sha256 with 64 lower-case hex digits (a file
/// name in the blob cache) and each with a size. `shown` names it in errors.
/// @throws husk::Error: not a JSON object, no config or layers, a bad
///         descriptor, a foreign layer (one with "urls").
std::vector<Descriptor> manifest_blobs(std::string_view body, const std::string& shown);

/// The digest of the manifest for `want` in an image index (OCI
/// image-index.md, or a Docker manifest list), read from a registry's
/// reply: os and architecture equal, the variant equal, else missing on
/// one side. `chosen` gets the entry's platform.
/// @throws husk::Error: not an index, or no entry for `want` (listing the
///         platforms there are).
std::string index_choice(std::string_view body, const Platform& want, const std::string& shown,
                         Platform* chosen);

} // namespace husk::image
