// A progress line for long operations, on a terminal only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace husk::log {

/// Shows "husk: LABEL  42% (12.0 of 28.5 MiB)" on standard error, redrawn in
/// place at most ten times a second, when standard error is a terminal and
/// warnings are not silenced (-q); in batch logs it prints nothing. The line
/// is cleared when the object goes away.
class Progress {
  public:
    /// @param label  what is going on ("unpacking app.tar.gz")
    /// @param total  bytes to get through; 0 if unknown (then only a count)
    Progress(std::string label, uint64_t total);
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    /// Reports `done` bytes so far.
    void update(uint64_t done);

  private:
    std::string label_;
    uint64_t total_;
    bool enabled_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point last_{};
};

/// Several progress lines at once, redrawn together in place (ANSI cursor
/// movement), on a terminal only and not with -q: one per item and a
/// total, e.g. the blobs of a pull. Not thread-safe: one thread draws.
class MultiProgress {
  public:
    /// @param labels  one per item ("layer 2/5 sha256:1a2b3c4d")
    /// @param totals  bytes of each item
    /// @param title   the total's label ("pulling REF")
    MultiProgress(std::vector<std::string> labels, std::vector<uint64_t> totals, std::string title);
    ~MultiProgress();
    MultiProgress(const MultiProgress&) = delete;
    MultiProgress& operator=(const MultiProgress&) = delete;
    /// Redraws with each item's bytes so far (`done`, in the labels' order).
    void draw(const std::vector<uint64_t>& done);
    bool enabled() const noexcept { return enabled_; }

  private:
    std::vector<std::string> labels_;
    std::vector<uint64_t> totals_;
    std::string title_;
    bool enabled_;
    size_t drawn_ = 0; ///< lines on the screen now
};

} // namespace husk::log
