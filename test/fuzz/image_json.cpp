// Fuzz harness: the JSON documents of images (OCI image config, OCI
// index.json and manifests, docker-archive manifest.json) read the way
// `husk run` and `husk import` read them, through image::parse_oci_config()
// and image::apply_image() on a scratch store.
//
// Input: one mode byte, then parts separated by the line "@@":
//   mode % 3 == 0  the parts joined: an OCI image config for parse_oci_config()
//   mode % 3 == 1  a docker-archive: part 0 is manifest.json, part i > 0 the
//                  file "pI" (a config or a layer tar, as the manifest names)
//   mode % 3 == 2  an OCI layout: a valid oci-layout, part 0 is index.json,
//                  part i > 0 a blob stored under its own sha256 digest
// In every part, "@DI" becomes "sha256:" and the digest of part I (I > the
// part's own index, single digit) and "@SI" its size, so that inputs can
// reach past the digest checks, as real images do.
#include "fuzz_support.hpp"

#include "image/image.hpp"
#include "image/layered.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace {

std::vector<std::string> split_parts(std::string_view s) {
    std::vector<std::string> parts;
    constexpr std::string_view kSep = "\n@@\n";
    for (;;) {
        const size_t at = s.find(kSep);
        parts.emplace_back(s.substr(0, at));
        if (at == std::string_view::npos || parts.size() == 10) {
            return parts;
        }
        s.remove_prefix(at + kSep.size());
    }
}

std::string digest_of(const std::string& bytes) {
    const int fd =
        husk::fuzz::memfd_of(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    std::string hex = husk::image::sha256_hex(fd, "part");
    ::close(fd);
    return hex;
}

/// Resolves the placeholders, from the last part to the first.
void substitute(std::vector<std::string>& parts, std::vector<std::string>& digests) {
    digests.assign(parts.size(), "");
    for (size_t i = parts.size(); i-- > 0;) {
        std::string out;
        const std::string& in = parts[i];
        for (size_t k = 0; k < in.size(); ++k) {
            if (in[k] == '@' && k + 2 < in.size() + 0 && (in[k + 1] == 'D' || in[k + 1] == 'S') &&
                in[k + 2] >= '0' && in[k + 2] <= '9') {
                const size_t j = static_cast<size_t>(in[k + 2] - '0');
                if (j > i && j < parts.size()) {
                    out +=
                        in[k + 1] == 'D' ? "sha256:" + digests[j] : std::to_string(parts[j].size());
                    k += 2;
                    continue;
                }
            }
            out += in[k];
        }
        parts[i] = std::move(out);
        digests[i] = digest_of(parts[i]);
    }
}

void write_file(const std::string& path, const std::string& bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
        std::abort();
    }
    ::close(fd);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    const int mode = data[0] % 3;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        if (mode == 0) {
            husk::image::parse_oci_config(rest, "config.json");
            return 0;
        }
        husk::fuzz::Scratch scratch;
        const std::string store = scratch.dir() + "/store";
        ::mkdir(store.c_str(), 0700);
        std::vector<std::string> parts = split_parts(rest);
        std::vector<std::string> digests;
        substitute(parts, digests);
        husk::image::ArchiveKind kind = husk::image::ArchiveKind::Docker;
        if (mode == 1) {
            write_file(store + "/manifest.json", parts[0]);
            for (size_t i = 1; i < parts.size(); ++i) {
                write_file(store + "/p" + std::to_string(i), parts[i]);
            }
        } else {
            kind = husk::image::ArchiveKind::Oci;
            write_file(store + "/oci-layout", "{\"imageLayoutVersion\": \"1.0.0\"}");
            write_file(store + "/index.json", parts[0]);
            ::mkdir((store + "/blobs").c_str(), 0700);
            ::mkdir((store + "/blobs/sha256").c_str(), 0700);
            for (size_t i = 1; i < parts.size(); ++i) {
                write_file(store + "/blobs/sha256/" + digests[i], parts[i]);
            }
        }
        husk::Fd store_fd(::open(store.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        husk::Fd root(::open(scratch.root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        husk::image::UnpackLimits limits;
        limits.max_bytes = 64 << 20;
        limits.max_entries = 10000;
        const std::string config =
            husk::image::apply_image(store_fd.get(), root.get(), kind, "image", limits);
        husk::image::parse_oci_config(config, "config");
    } catch (const husk::Error& e) {
        // one line naming the file or field: the expected outcome
        husk::fuzz::expect_one_line("image_json", e.what());
    }
    return 0;
}
