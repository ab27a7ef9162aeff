#include "image/layered.hpp"

#include "image/image.hpp"
#include "image/registry_reply.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"
#include "util/path.hpp"
#include "util/text.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <nettle/sha2.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace husk::image {

namespace {

using nlohmann::json;

constexpr size_t kMaxJson = kMaxJsonBytes;

/// The OCI architecture name of this machine (image-spec config.md, GOARCH).
std::string host_arch() {
    struct utsname u {};
    ::uname(&u);
    std::string m = u.machine;
    if (m == "x86_64") {
        return "amd64";
    }
    if (m == "aarch64") {
        return "arm64";
    }
    if (m == "ppc64le") {
        return "ppc64le";
    }
    return m;
}

/// Opens `rel` inside the store, never leaving it, as a regular file.
Fd open_blob(int store_fd, const std::string& rel, const std::string& name) {
    path::Resolved r = path::resolve_in_root(store_fd, rel);
    if (!r.missing.empty()) {
        throw Error(name + ": " + text::one_line(rel) + ": missing from the archive");
    }
    Fd fd(::open(path::fd_path(r.fd.get()).c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        throw Error(name + ": " + text::one_line(rel) + ": not a regular file");
    }
    return fd;
}

json parse(const std::string& text, const std::string& where) {
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || (!doc.is_object() && !doc.is_array())) {
        throw Error(where + ": not valid JSON");
    }
    return doc;
}

const json& field(const json& obj, const char* key, const std::string& where) {
    auto it = obj.find(key);
    if (!obj.is_object() || it == obj.end()) {
        throw Error(where + ": missing \"" + key + "\"");
    }
    return *it;
}

std::string string_field(const json& obj, const char* key, const std::string& where) {
    const json& v = field(obj, key, where);
    if (!v.is_string()) {
        throw Error(where + ": \"" + key + "\" is not a string");
    }
    return v.get<std::string>();
}

/// "sha256:HEX" checked for shape: the only algorithm husk verifies.
std::string digest_hex(const std::string& digest, const std::string& where) {
    const std::string prefix = "sha256:";
    std::string hex = digest.rfind(prefix, 0) == 0 ? digest.substr(prefix.size()) : "";
    bool ok = hex.size() == 64;
    for (char c : hex) {
        ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
    if (!ok) {
        throw Error(where + ": digest \"" + text::one_line(digest) +
                    "\" is not sha256:<64 hex digits>");
    }
    return hex;
}

/// Opens blob `digest` of an OCI layout and checks its size and digest.
Fd verified_blob(int store_fd, const json& desc, const std::string& name) {
    const std::string digest = string_field(desc, "digest", name + ": descriptor");
    const std::string hex = digest_hex(digest, name + ": descriptor");
    const std::string rel = "blobs/sha256/" + hex;
    Fd fd = open_blob(store_fd, rel, name);
    auto size = desc.find("size");
    struct stat st {};
    ::fstat(fd.get(), &st);
    if (size != desc.end() && size->is_number_integer() &&
        size->get<int64_t>() != static_cast<int64_t>(st.st_size)) {
        throw Error(name + ": " + rel + ": size " + std::to_string(st.st_size) +
                    " differs from the descriptor's " + std::to_string(size->get<int64_t>()));
    }
    if (sha256_hex(fd.get(), rel) != hex) {
        throw Error(name + ": " + rel + ": content does not match its digest " + digest);
    }
    if (::lseek(fd.get(), 0, SEEK_SET) != 0) {
        throw_errno(name + ": " + rel + ": cannot rewind");
    }
    return fd;
}

bool is_index(const json& doc, const std::string& media) {
    return media == "application/vnd.oci.image.index.v1+json" ||
           media == "application/vnd.docker.distribution.manifest.list.v2+json" ||
           (media.empty() && doc.contains("manifests"));
}

/// From an index's "manifests", the one for linux/this architecture, else
/// the first.
const json& choose(const json& manifests, const std::string& where) {
    if (!manifests.is_array() || manifests.empty()) {
        throw Error(where + ": \"manifests\" is empty");
    }
    const std::string arch = host_arch();
    for (const auto& m : manifests) {
        auto p = m.find("platform");
        if (p != m.end() && p->is_object() && p->value("os", "") == "linux" &&
            p->value("architecture", "") == arch) {
            return m;
        }
    }
    return manifests.front();
}

std::string apply_oci(int store_fd, int root_fd, const std::string& name,
                      const UnpackLimits& limits) {
    {
        Fd layout = open_blob(store_fd, "oci-layout", name);
        json l = parse(file::read_fd(layout.get(), "oci-layout", kMaxJson), name + ": oci-layout");
        if (optional_string(l, "imageLayoutVersion", name + ": oci-layout").empty()) {
            throw Error(name + ": oci-layout: no imageLayoutVersion");
        }
    }
    Fd index_fd = open_blob(store_fd, "index.json", name);
    json doc = parse(file::read_fd(index_fd.get(), "index.json", kMaxJson), name + ": index.json");
    std::string where = name + ": index.json";
    json desc = choose(field(doc, "manifests", where), where);
    // Follow nested indexes (a multi-platform image) to a manifest.
    for (int depth = 0;; ++depth) {
        if (depth > 4) {
            throw Error(name + ": image indexes nested too deep");
        }
        Fd blob = verified_blob(store_fd, desc, name);
        where = name + ": manifest " + string_field(desc, "digest", name + ": descriptor");
        doc = parse(file::read_fd(blob.get(), where, kMaxJson), where);
        std::string media_type = optional_string(desc, "mediaType", where + " (its descriptor)");
        if (media_type.empty()) {
            media_type = optional_string(doc, "mediaType", where);
        }
        if (!is_index(doc, media_type)) {
            break;
        }
        desc = choose(field(doc, "manifests", where), where);
    }
    Fd config = verified_blob(store_fd, field(doc, "config", where), name);
    std::string config_text = file::read_fd(config.get(), "config", kMaxJson);
    const json& layers = field(doc, "layers", where);
    if (!layers.is_array()) {
        throw Error(where + ": \"layers\" is not an array");
    }
    for (const auto& layer : layers) {
        Fd fd = verified_blob(store_fd, layer, name);
        apply_layer(root_fd, fd.get(), name + ": layer " + string_field(layer, "digest", name),
                    limits);
    }
    return config_text;
}

std::string apply_docker(int store_fd, int root_fd, const std::string& name,
                         const UnpackLimits& limits) {
    Fd mf = open_blob(store_fd, "manifest.json", name);
    json doc = parse(file::read_fd(mf.get(), "manifest.json", kMaxJson), name + ": manifest.json");
    const std::string where = name + ": manifest.json";
    if (!doc.is_array() || doc.empty()) {
        throw Error(where + ": not a non-empty array");
    }
    const json& image = doc.front();
    const std::string config_path = string_field(image, "Config", where);
    Fd cfg = open_blob(store_fd, config_path, name);
    std::string config_text = file::read_fd(cfg.get(), config_path, kMaxJson);
    json config = parse(config_text, name + ": " + config_path);
    const json& layers = field(image, "Layers", where);
    const json* diff_ids = nullptr;
    if (auto rootfs = config.find("rootfs"); rootfs != config.end() && rootfs->is_object()) {
        if (auto d = rootfs->find("diff_ids"); d != rootfs->end() && d->is_array()) {
            diff_ids = &*d;
        }
    }
    if (!layers.is_array() || (diff_ids != nullptr && diff_ids->size() != layers.size())) {
        throw Error(where + ": \"Layers\" does not match the config's rootfs.diff_ids");
    }
    for (size_t i = 0; i < layers.size(); ++i) {
        if (!layers[i].is_string()) {
            throw Error(where + ": \"Layers\" holds a non-string");
        }
        const std::string rel = layers[i].get<std::string>();
        Fd fd = open_blob(store_fd, rel, name);
        // docker save writes uncompressed layers, whose sha256 is the
        // config's diff_id (image-spec config.md, rootfs.diff_ids).
        if (diff_ids != nullptr && (*diff_ids)[i].is_string()) {
            const std::string want = (*diff_ids)[i].get<std::string>();
            if (sha256_hex(fd.get(), rel) != digest_hex(want, where + ": diff_ids")) {
                throw Error(name + ": " + text::one_line(rel) +
                            ": content does not match diff_id " + text::one_line(want));
            }
            ::lseek(fd.get(), 0, SEEK_SET);
        }
        apply_layer(root_fd, fd.get(), name + ": " + rel, limits);
    }
    return config_text;
}

} // namespace

static_assert(sizeof(struct sha256_ctx) <= 128, "Sha256::ctx_ too small for nettle's sha256_ctx");

Sha256::Sha256() {
    sha256_init(reinterpret_cast<struct sha256_ctx*>(ctx_));
}

void Sha256::update(const void* data, size_t size) {
    sha256_update(reinterpret_cast<struct sha256_ctx*>(ctx_), size,
                  static_cast<const uint8_t*>(data));
}

std::string Sha256::hex() {
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_digest(reinterpret_cast<struct sha256_ctx*>(ctx_), sizeof digest, digest);
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (uint8_t b : digest) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

std::string sha256_hex(int fd, const std::string& what) {
    Sha256 sum;
    std::vector<uint8_t> buf(1 << 16);
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw_errno("cannot read " + what);
        }
        if (n == 0) {
            return sum.hex();
        }
        sum.update(buf.data(), static_cast<size_t>(n));
    }
}

ArchiveKind archive_kind(int fd, const std::string& name) {
    ArchiveReader a = open_tar_reader(fd, name);
    bool layout = false, index = false, manifest = false;
    struct archive_entry* e = nullptr;
    int r = 0;
    while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        auto parts = path::split(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
        if (parts.size() == 1) {
            layout = layout || parts[0] == "oci-layout";
            index = index || parts[0] == "index.json";
            manifest = manifest || parts[0] == "manifest.json";
        }
        // A root file system has /bin or /usr near the top; stop early.
        if (parts.size() == 1 && (parts[0] == "bin" || parts[0] == "usr" || parts[0] == "etc")) {
            return ArchiveKind::Rootfs;
        }
    }
    if (r != ARCHIVE_EOF) {
        throw Error(name + ": " + archive_reason(a.get()));
    }
    if (layout && index) {
        return ArchiveKind::Oci;
    }
    return manifest ? ArchiveKind::Docker : ArchiveKind::Rootfs;
}

std::string apply_image(int store_fd, int root_fd, ArchiveKind kind, const std::string& name,
                        const UnpackLimits& limits) {
    switch (kind) {
    case ArchiveKind::Oci:
        return apply_oci(store_fd, root_fd, name, limits);
    case ArchiveKind::Docker:
        return apply_docker(store_fd, root_fd, name, limits);
    case ArchiveKind::Rootfs:
        break;
    }
    throw Error(name + ": not a layered image");
}

} // namespace husk::image
