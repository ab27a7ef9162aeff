// The overlay's upper layer, made before the overlay is mounted: the
// mount points that the image lacks (runtime::build_root(), --overlay).
#include "runtime/overlay_upper.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"
#include "util/path.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <map>
#include <set>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::runtime {

std::vector<size_t> prepare_overlay_upper(const std::vector<MountOp>& mounts, int image_fd,
                                          int host_root_fd, const std::string& upper,
                                          const GeneratedContents& contents) {
    std::vector<size_t> written;            // generated files written whole
    std::set<std::string> made;             // folders of the upper layer made so far
    std::vector<std::string_view> covering; // targets of earlier mounts
    // Folders the image lacks, found so far: the path asked (a
    // target's leading parts) -> that folder in the upper layer.
    // Nothing below one is in the image either, so a later target
    // there (the next library in /usr/lib/husk-gpu) is not looked up.
    std::map<std::string, std::string> lacking;
    const auto folder = [&made](const std::string& at) {
        if (made.insert(at).second) {
            ::mkdir(at.c_str(), 0755);
        }
    };
    // The bytes of a generated file the image lacks, or nullopt.
    const auto new_contents = [&contents](const MountOp& op) -> std::optional<std::string> {
        try {
            return contents(op, -1, 0);
        } catch (const Error&) {
            return std::nullopt; // the mount says what is wrong
        }
    };
    // The image's folders, probed once each (probe_exact(): Exact with
    // its descriptor, Missing, or Unsure where a symlink is on the way).
    struct Folder {
        path::Probe state = path::Probe::Unsure;
        Fd fd;
    };
    std::map<std::string, Folder> folders;
    // How many leading parts of `parts` are folders of the image with no
    // symlink on the way, the rest missing; parts.size() when the target
    // itself is there (a symlink last counts only for Last::NoFollow).
    // nullopt where a symlink is on the way: resolve_in_root() answers.
    // One openat2(2) per folder asked first, then one fstatat(2) per
    // target: /etc/hosts and /etc/resolv.conf share /etc.
    const auto in_image = [&](const std::vector<std::string>& parts,
                              path::Last last) -> std::optional<size_t> {
        for (size_t n = parts.size(); n-- > 0;) {
            int dir = image_fd;
            if (n > 0) {
                auto [it, fresh] = folders.try_emplace(
                    path::join({parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(n)}));
                if (fresh) {
                    path::Probed p = path::probe_exact(image_fd, it->first, path::Last::Follow,
                                                       O_PATH | O_DIRECTORY);
                    it->second = {p.state, std::move(p.fd)};
                }
                if (it->second.state == path::Probe::Missing) {
                    continue; // a shorter folder, then
                }
                if (it->second.state != path::Probe::Exact) {
                    return std::nullopt;
                }
                dir = it->second.fd.get();
            }
            if (n + 1 < parts.size()) {
                return n; // parts[n] is missing: its probe said so
            }
            struct stat st {};
            if (::fstatat(dir, parts.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
                return S_ISLNK(st.st_mode) && last == path::Last::Follow
                           ? std::nullopt
                           : std::optional<size_t>(parts.size());
            }
            return errno == ENOENT ? std::optional<size_t>(n) : std::nullopt;
        }
        return std::nullopt; // no parts: the root
    };
    for (size_t index = 0; index < mounts.size(); ++index) {
        const MountOp& op = mounts[index];
        bool generated = contents && (op.kind == MountKind::Passwd || op.kind == MountKind::Group ||
                                      op.kind == MountKind::File);
        if (op.kind == MountKind::Mask || op.kind == MountKind::Devpts ||
            op.kind == MountKind::Proc) {
            covering.push_back(op.target);
            continue;
        }
        // Below an earlier mount (/dev/nvidia0 below the /dev bind) the
        // mount point is made in that mount, if anywhere, never here:
        // the path resolves through the same folder either way.
        const bool below = std::any_of(covering.begin(), covering.end(), [&](auto t) {
            return t != "/" && op.target.size() > t.size() && op.target.starts_with(t) &&
                   op.target[t.size()] == '/';
        });
        if (op.kind != MountKind::Symlink) {
            covering.push_back(op.target);
        }
        if (below) {
            continue;
        }
        const std::vector<std::string> parts = path::split(op.target);
        if (generated) {
            // Written whole only where no symlink is on the way, so that
            // its folders in the layer are the image's own (a layer folder
            // /etc would hide an image's /etc -> usr/etc); elsewhere it is
            // left to its mount.
            path::Probed probed = path::probe_exact(image_fd, op.target, path::Last::Follow,
                                                    O_RDONLY | O_NONBLOCK | O_NOCTTY);
            if (probed.state == path::Probe::Exact) {
                struct stat st {};
                std::optional<std::string> bytes;
                if (::fstat(probed.fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
                    try {
                        bytes = contents(op, probed.fd.get(), static_cast<size_t>(st.st_size));
                    } catch (const Error&) {
                        // the mount says what is wrong
                    }
                }
                if (bytes && !parts.empty()) {
                    std::string at = upper;
                    for (size_t i = 0; i + 1 < parts.size(); ++i) {
                        at += "/" + parts[i];
                        folder(at);
                    }
                    file::write(at + "/" + parts.back(), *bytes);
                    written.push_back(index);
                }
                continue;
            }
            generated = probed.state == path::Probe::Missing;
        }
        const bool plain = std::find(parts.begin(), parts.end(), "..") == parts.end();
        std::string at;                    // where `existing` starts in the upper layer
        std::vector<std::string> existing; // the deepest folder the image has, as parts
        std::vector<std::string> missing;  // the parts below it, the last one the target
        // missing[i] is parts[known + i]; 0 when it is not (a dangling
        // symlink's parts), or starts at the root (not remembered then)
        size_t known = 0;
        for (size_t n = plain ? parts.size() - std::min<size_t>(parts.size(), 1) : 0; n > 0; --n) {
            auto it = lacking.find(path::join({parts.begin(), parts.begin() + n}));
            if (it != lacking.end()) {
                at = it->second;
                known = n;
                break;
            }
        }
        const path::Last follow =
            op.kind == MountKind::Symlink ? path::Last::NoFollow : path::Last::Follow;
        std::optional<size_t> have;
        if (known > 0) {
            missing.assign(parts.begin() + static_cast<std::ptrdiff_t>(known), parts.end());
        } else if (plain && (have = in_image(parts, follow))) {
            if (*have == parts.size()) {
                continue;
            }
            at = upper;
            existing.assign(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(*have));
            missing.assign(parts.begin() + static_cast<std::ptrdiff_t>(*have), parts.end());
            known = *have;
        } else {
            path::Resolved r;
            try {
                r = path::resolve_in_root(image_fd, op.target, follow);
            } catch (const Error&) {
                continue; // the mount itself says what is wrong
            }
            if (r.missing.empty()) {
                continue;
            }
            at = upper;
            existing = path::split(r.path);
            missing = std::move(r.missing);
            // Found missing only if they are the target's own last parts
            // (not those of a dangling symlink's text on the way).
            known = plain && missing.size() <= parts.size() &&
                            std::equal(missing.begin(), missing.end(),
                                       parts.end() - static_cast<std::ptrdiff_t>(missing.size()))
                        ? parts.size() - missing.size()
                        : 0;
        }
        bool file = op.kind == MountKind::Passwd || op.kind == MountKind::Group ||
                    op.kind == MountKind::File ||
                    (op.kind == MountKind::Bind && op.exact_source); // a file, checked later
        if (op.kind == MountKind::Bind && !op.exact_source) {
            try {
                path::Resolved src = path::resolve_in_root(host_root_fd, op.source);
                struct stat st {};
                file =
                    src.missing.empty() && ::fstat(src.fd.get(), &st) == 0 && !S_ISDIR(st.st_mode);
            } catch (const Error&) {
                continue;
            }
        }
        for (const auto& part : existing) {
            at += "/" + part;
            folder(at);
        }
        for (size_t i = 0; i < missing.size(); ++i) {
            at += "/" + missing[i];
            const bool last = i + 1 == missing.size();
            if (last && op.kind == MountKind::Symlink) {
                if (::symlink(op.source.c_str(), at.c_str()) != 0 && errno != EEXIST) {
                    throw_errno("cannot create symlink " + op.target + " in the overlay");
                }
            } else if (!last || !file) {
                folder(at);
                if (known > 0) {
                    lacking.emplace(
                        path::join({parts.begin(),
                                    parts.begin() + static_cast<std::ptrdiff_t>(known + i + 1)}),
                        at);
                }
            } else if (std::optional<std::string> bytes =
                           generated ? new_contents(op) : std::nullopt) {
                file::write(at, *bytes);
                written.push_back(index);
            } else {
                // An empty file to bind over: mknod(2) makes it without an
                // open and a close, and follows no symlink.
                ::mknod(at.c_str(), S_IFREG | 0644, 0);
            }
        }
    }
    return written;
}

} // namespace husk::runtime
