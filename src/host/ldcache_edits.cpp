// cache_ld_folders(): the update-ldcache hook as a rewritten copy of the
// image's ld.so.cache, bound over it.
#include "host/edits.hpp"
#include "host/elf.hpp"
#include "host/ldcache.hpp"
#include "image/files.hpp"
#include "util/error.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <optional>

namespace husk::host {

namespace {

/// Whether `name` reads NAME.so.DIGITS: "libcuda.so.1", not
/// "libcuda.so.550.54.15" (whose soname is libcuda.so.1).
bool soname_form(std::string_view name) {
    const size_t so = name.rfind(".so.");
    if (so == std::string_view::npos || so == 0) {
        return false;
    }
    const std::string_view n = name.substr(so + 4);
    return !n.empty() && n.find_first_not_of("0123456789") == std::string_view::npos;
}

std::string parent_of(const std::string& p) {
    const size_t slash = p.rfind('/');
    return slash == 0 ? "/" : p.substr(0, slash);
}

std::string name_of(const std::string& p) {
    return p.substr(p.rfind('/') + 1);
}

} // namespace

void cache_ld_folders(ContainerEdits& edits, image::ImageFiles& image,
                      const std::string& shown_image, bool writable) {
    if (edits.ld_library_path.empty()) {
        return;
    }
    const std::string where = "image " + shown_image + ": /etc/ld.so.cache";
    auto fallback = [&](const std::string& why) {
        edits.notes.push_back("dynamic linker: " + why + "; LD_LIBRARY_PATH names the folders " +
                              text::one_line(text::join(edits.ld_library_path, ", ")));
    };
    if (writable) {
        fallback("the image is writable (-w), its ld.so.cache left as it is");
        return;
    }
    std::optional<std::string> bytes;
    try {
        bytes = image.read("/etc/ld.so.cache", kMaxLdCache);
    } catch (const Error& e) {
        fallback(e.what());
        return;
    }
    if (!bytes) {
        fallback("the image " + shown_image + " has no /etc/ld.so.cache");
        return;
    }
    std::vector<std::pair<std::string, std::string>> libraries; // soname, path inside
    std::vector<std::string> kept;                              // folders left to LD_LIBRARY_PATH
    for (const auto& folder : edits.ld_library_path) {
        const std::string prefix = folder == "/" ? "/" : folder + "/";
        // A folder bound whole (or below a bound folder) holds what husk
        // has not listed: it stays in LD_LIBRARY_PATH.
        const bool whole =
            std::any_of(edits.mounts.begin(), edits.mounts.end(), [&](const Mount& m) {
                return m.kind == MountKind::Bind &&
                       (m.target == folder || prefix.rfind(m.target + "/", 0) == 0);
            });
        if (whole) {
            kept.push_back(folder);
            continue;
        }
        for (const auto& m : edits.mounts) {
            if (m.kind != MountKind::Bind || parent_of(m.target) != folder) {
                continue;
            }
            const std::string name = name_of(m.target);
            std::string soname = name;
            if (!soname_form(name)) {
                try {
                    const ElfDynamic d = read_elf_dynamic(m.source);
                    if (!d.soname.empty()) {
                        soname = d.soname;
                    }
                } catch (const Error& e) {
                    edits.notes.push_back("dynamic linker: " + m.target + " is not in the " +
                                          "cache: " + e.what());
                    continue;
                }
            }
            // ldconfig points the cache at FOLDER/SONAME, a symlink it
            // makes; where nothing of the edits is there, at the file.
            std::string path = m.target;
            if (soname != name) {
                const std::string link = prefix + soname;
                if (std::any_of(edits.mounts.begin(), edits.mounts.end(),
                                [&](const Mount& x) { return x.target == link; })) {
                    path = link;
                }
            }
            libraries.emplace_back(soname, path);
        }
    }
    if (libraries.empty() && kept.size() == edits.ld_library_path.size()) {
        fallback("the folders are bound whole from the host");
        return;
    }
    std::string cache;
    try {
        cache = add_to_ld_cache_file(*bytes, libraries, where);
    } catch (const Error& e) {
        fallback(e.what());
        return;
    }
    Mount m{MountKind::File,    std::move(cache),
            "/etc/ld.so.cache", true,
            OnMissing::Warn,    "the dynamic linker's cache"};
    edits.mounts.push_back(std::move(m));
    std::vector<std::string> covered;
    for (const auto& f : edits.ld_library_path) {
        if (std::find(kept.begin(), kept.end(), f) == kept.end()) {
            covered.push_back(f);
        }
    }
    edits.notes.push_back("dynamic linker: " + std::to_string(libraries.size()) + " libraries of " +
                          text::one_line(text::join(covered, ", ")) +
                          " added to a copy of the image's /etc/ld.so.cache" +
                          (kept.empty()
                               ? std::string()
                               : "; LD_LIBRARY_PATH names " +
                                     text::one_line(text::join(kept, ", ")) + ", bound whole"));
    edits.ld_library_path = std::move(kept);
}

} // namespace husk::host
