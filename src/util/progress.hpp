// A progress line for long operations, on a terminal only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

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

} // namespace husk::log
