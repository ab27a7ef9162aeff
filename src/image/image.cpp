#include "image/image.hpp"

#include "image/squashfs.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"

#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::image {

namespace {

std::vector<std::string> string_array(const nlohmann::json& obj, const char* key,
                                      std::string_view where) {
    std::vector<std::string> out;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return out;
    }
    if (!it->is_array()) {
        throw Error(std::string(where) + ": config." + key + ": not an array of strings");
    }
    for (const auto& v : *it) {
        if (!v.is_string()) {
            throw Error(std::string(where) + ": config." + key + ": not an array of strings");
        }
        out.push_back(v.get<std::string>());
    }
    return out;
}

std::string string_field(const nlohmann::json& obj, const char* key, std::string_view where) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return {};
    }
    if (!it->is_string()) {
        throw Error(std::string(where) + ": config." + key + ": not a string");
    }
    return it->get<std::string>();
}

} // namespace

OciConfig parse_oci_config(std::string_view json, std::string_view where) {
    nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
        throw Error(std::string(where) + ": not valid JSON");
    }
    if (!doc.is_object()) {
        throw Error(std::string(where) + ": not a JSON object");
    }
    OciConfig cfg;
    auto it = doc.find("config");
    if (it == doc.end() || it->is_null()) {
        return cfg; // "config" is optional (OCI image spec, config.md)
    }
    if (!it->is_object()) {
        throw Error(std::string(where) + ": config: not an object");
    }
    cfg.env = string_array(*it, "Env", where);
    for (const auto& kv : cfg.env) {
        if (kv.find('=') == std::string::npos || kv.front() == '=') {
            throw Error(std::string(where) + ": config.Env: \"" + kv + "\" is not KEY=VALUE");
        }
    }
    cfg.entrypoint = string_array(*it, "Entrypoint", where);
    cfg.cmd = string_array(*it, "Cmd", where);
    cfg.working_dir = string_field(*it, "WorkingDir", where);
    cfg.user = string_field(*it, "User", where);
    return cfg;
}

std::optional<Kind> detect_file_kind(int fd) {
    std::array<unsigned char, 512> head{};
    ssize_t n = ::pread(fd, head.data(), head.size(), 0);
    if (n < 0) {
        return std::nullopt;
    }
    auto starts = [&](std::initializer_list<unsigned char> magic) {
        if (static_cast<size_t>(n) < magic.size()) {
            return false;
        }
        return std::equal(magic.begin(), magic.end(), head.begin());
    };
    if (starts({'h', 's', 'q', 's'})) { // SquashFS superblock, little-endian
        return Kind::Squashfs;
    }
    if (starts({0x1f, 0x8b}) ||                                   // gzip
        starts({0xfd, '7', 'z', 'X', 'Z', 0x00}) ||               // xz
        starts({0x28, 0xb5, 0x2f, 0xfd}) ||                       // zstd
        starts({'B', 'Z', 'h'}) ||                                // bzip2
        starts({0x5d, 0x00, 0x00}) ||                             // lzma
        starts({0x04, 0x22, 0x4d, 0x18}) ||                       // lz4 frame
        starts({0x02, 0x21, 0x4c, 0x18}) ||                       // lz4 legacy (lz4 -l)
        (n >= 262 && std::memcmp(&head[257], "ustar", 5) == 0)) { // POSIX tar
        return Kind::Tar;
    }
    return std::nullopt;
}

Image resolve(const std::string& ref) {
    if (ref.empty()) {
        throw Error("no image given");
    }
    char* real = ::realpath(ref.c_str(), nullptr);
    if (real == nullptr) {
        throw_errno("image " + ref);
    }
    Image img;
    img.path = real;
    std::free(real);

    Fd fd(::open(img.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd) {
        throw_errno("image " + ref + ": cannot open");
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        throw_errno("image " + ref + ": cannot stat");
    }
    if (S_ISDIR(st.st_mode)) {
        // An OCI image layout (image-spec image-layout.md) rather than a
        // root file system: unpacked like an archive.
        struct stat probe {};
        if (::fstatat(fd.get(), "oci-layout", &probe, AT_SYMLINK_NOFOLLOW) == 0 &&
            ::fstatat(fd.get(), "index.json", &probe, AT_SYMLINK_NOFOLLOW) == 0) {
            img.kind = Kind::OciLayout;
            return img;
        }
        img.kind = Kind::Directory;
        Fd cfg(::openat(fd.get(), std::string(kConfigPath).c_str(),
                        O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (cfg) {
            std::string where = img.path + "/" + std::string(kConfigPath);
            img.config = parse_oci_config(file::read_fd(cfg.get(), where, kMaxJsonBytes), where);
        } else if (errno != ENOENT) {
            throw_errno("image " + ref + ": cannot open " + std::string(kConfigPath));
        }
        return img;
    }
    if (!S_ISREG(st.st_mode)) {
        throw Error("image " + ref + ": not a directory or a regular file");
    }
    auto kind = detect_file_kind(fd.get());
    if (!kind) {
        throw Error("image " + ref +
                    ": not an image (neither a directory, a SquashFS file nor a tar archive)");
    }
    img.kind = *kind;
    if (img.kind == Kind::Squashfs) {
        // Checks the superblock, compression and length now, so a bad file
        // is a clear error here and never a hang or EIO in the container.
        Squashfs fs(fd.get(), img.path);
        std::string where = img.path + ":/" + std::string(kConfigPath);
        if (auto text = fs.read_file("/" + std::string(kConfigPath), kMaxJsonBytes)) {
            img.config = parse_oci_config(*text, where);
        }
        return img;
    }
    return img; // Kind::Tar: image::unpack_cached() unpacks it
}

} // namespace husk::image
