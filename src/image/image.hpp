// What an image is: its kind, where it lives, and its OCI image config.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace husk::image {

/// The kinds of image husk recognises, by content (never by file name).
enum class Kind {
    Directory, ///< an unpacked root filesystem
    Squashfs,  ///< a SquashFS file (magic "hsqs")
    Tar,       ///< a tar archive, plain or compressed
    OciLayout, ///< an OCI image layout directory (oci-layout, index.json, blobs/)
};

/// The part of an OCI image config ("config" object of
/// application/vnd.oci.image.config.v1+json, OCI image spec, config.md) that
/// husk run uses. Absent fields are empty.
struct OciConfig {
    std::vector<std::string> env;        ///< "Env": KEY=VALUE strings
    std::vector<std::string> entrypoint; ///< "Entrypoint"
    std::vector<std::string> cmd;        ///< "Cmd"
    std::string working_dir;             ///< "WorkingDir"
    std::string user;                    ///< "User" (informational: husk runs as the caller)
};

/// A resolved image. `path` is absolute and free of symlinks.
struct Image {
    Kind kind = Kind::Directory;
    std::string path;
    std::optional<OciConfig> config; ///< present when the image carries one
};

/// The most bytes husk reads of any JSON document of an image: an OCI
/// image config, manifest or index, a docker-archive manifest.json (OCI
/// blobs of these kinds are capped alike by registries). A larger one is
/// an error naming the file, never read whole.
inline constexpr size_t kMaxJsonBytes = 16 << 20;

/// Where a directory image keeps its OCI image config, relative to its root.
/// Inside the image, so it travels with it (e.g. into a SquashFS file).
inline constexpr std::string_view kConfigPath = ".husk/config.json";

/// Resolves the image at the path `ref` to an Image: checks that it exists,
/// detects its kind by content and loads its OCI config if any. (A name in
/// the store is resolved by Store::resolve().)
///
/// @throws husk::Error naming the path: missing, unreadable, not an image, a
///         kind this build cannot run yet, or a malformed config.
Image resolve(const std::string& ref);

/// Detects the kind of the file open as `fd` from its first bytes.
/// @returns nullopt when it is none of the kinds husk knows.
std::optional<Kind> detect_file_kind(int fd);

/// Parses an OCI image config JSON document. `where` names it in errors.
/// @throws husk::Error "<where>: <field>: <reason>" on malformed JSON or
///         fields of the wrong type.
OciConfig parse_oci_config(std::string_view json, std::string_view where);

} // namespace husk::image
