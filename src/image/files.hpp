// Reading files of an image, a directory or a SquashFS file, by their path
// inside it, with symlinks resolved inside the image.
#pragma once

#include "image/image.hpp"

#include <memory>
#include <optional>
#include <string>

namespace husk::image {

/// Read-only access to the files of a directory or SquashFS image, for what
/// husk must know of an image before it runs it (its dynamic linker's
/// cache, the version of its MPI library). The image is untrusted: symlinks
/// are resolved as the kernel would after chroot(2) to the image (an
/// absolute one restarts at the image's root, ".." stops there), never on
/// the host.
class ImageFiles {
  public:
    /// @throws husk::Error for an image that is neither kind, or a SquashFS
    ///         file that cannot be opened.
    explicit ImageFiles(const Image& img);
    ~ImageFiles();
    ImageFiles(const ImageFiles&) = delete;
    ImageFiles& operator=(const ImageFiles&) = delete;

    /// `path` (absolute, in the image) with every symlink resolved, or
    /// nullopt when it does not exist (or more than 40 symlinks deep, as
    /// path_resolution(7) stops).
    /// @throws husk::Error on a corrupt SquashFS image.
    std::optional<std::string> resolve(const std::string& path);

    /// The regular file at `path` (symlinks resolved), or nullopt when there
    /// is none.
    /// @throws husk::Error on a file larger than `limit` or a corrupt image.
    std::optional<std::string> read(const std::string& path, size_t limit);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace husk::image
