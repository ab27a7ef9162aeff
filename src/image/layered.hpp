// Layered images: docker-archive (`docker save`, `podman save`) and OCI
// image layout archives (OCI image spec: image-layout.md, manifest.md).
#pragma once

#include "image/unpack.hpp"

#include <string>

namespace husk::image {

/// What a tar archive holds.
enum class ArchiveKind {
    Rootfs, ///< a root file system
    Docker, ///< docker-archive: manifest.json, a config, layer tars
    Oci,    ///< OCI image layout: oci-layout, index.json, blobs/ALG/HEX
};

/// Looks at the top-level names of the tar archive on `fd` (read from the
/// start; the offset is left anywhere): oci-layout and index.json make an
/// OCI layout, manifest.json a docker-archive, anything else a root file
/// system. @throws husk::Error if it is not a readable tar archive.
ArchiveKind archive_kind(int fd, const std::string& name);

/// Applies the image stored in the directory `store_fd` (an extracted
/// docker-archive or OCI layout) onto the directory `root_fd`: its layers in
/// order with apply_layer(), after checking every blob's sha256 digest (and
/// size, for OCI descriptors) against the manifest and config. Paths named
/// in the manifests are resolved inside `store_fd` and never leave it.
/// With several images, the one for linux and this machine's architecture
/// is taken (else the first).
/// @returns the image's OCI config (JSON text), to keep with the image.
/// @throws husk::Error "<name>: <file or field>: <reason>": malformed JSON, a
///         missing blob, a digest or size mismatch, or an apply_layer() error.
std::string apply_image(int store_fd, int root_fd, ArchiveKind kind, const std::string& name,
                        const UnpackLimits& limits);

/// The sha256 of everything readable from `fd` (from its current offset),
/// as 64 lower-case hex digits.
/// @throws husk::Error naming `what` on a read error.
std::string sha256_hex(int fd, const std::string& what);

/// A SHA-256 computed piece by piece (nettle's sha256), for data that
/// streams by rather than sits in one file.
class Sha256 {
  public:
    Sha256();
    void update(const void* data, size_t size);
    /// The digest of everything so far, as 64 lowercase hex digits.
    std::string hex();

  private:
    alignas(8) unsigned char ctx_[128]; ///< a struct sha256_ctx (nettle/sha2.h)
};

} // namespace husk::image
