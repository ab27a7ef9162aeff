// A temporary directory tree for unit tests, removed at scope exit.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

namespace husk::test {

/// Creates a fresh directory under $TMPDIR (or /tmp) and removes it, with
/// everything in it, when destroyed.
class TempTree {
  public:
    TempTree() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "husk-unit.XXXXXX").string();
        root_ = ::mkdtemp(tmpl.data());
    }
    ~TempTree() {
        std::error_code ec;
        std::filesystem::remove_all(root_, ec);
    }
    TempTree(const TempTree&) = delete;
    TempTree& operator=(const TempTree&) = delete;

    const std::filesystem::path& root() const { return root_; }
    std::filesystem::path operator/(const std::string& rel) const { return root_ / rel; }

    void mkdir(const std::string& rel) const { std::filesystem::create_directories(root_ / rel); }
    void write(const std::string& rel, const std::string& content) const {
        std::filesystem::create_directories((root_ / rel).parent_path());
        std::ofstream(root_ / rel) << content;
    }
    void symlink(const std::string& target, const std::string& rel) const {
        std::filesystem::create_symlink(target, root_ / rel);
    }

  private:
    std::filesystem::path root_;
};

} // namespace husk::test
