// Messages to standard error: warnings, -v progress, phase timings.
#pragma once

#include <chrono>
#include <string_view>

namespace husk::log {

/// How much husk says on standard error. Set once by main() from -q / -v.
enum class Level { Quiet = 0, Normal = 1, Verbose = 2, Debug = 3 };

void set_level(Level level) noexcept;
Level level() noexcept;

/// "husk: warning: <message>" unless -q.
void warn(std::string_view message);
/// "husk: <message>" at -v and above.
void info(std::string_view message);
/// "husk: <message>" at -vv and above.
void debug(std::string_view message);

/// Measures one named phase of a launch and reports its duration at -v when
/// it goes out of scope: "husk: [   0.123 ms] mount plan". Cheap when -v is
/// off (two clock reads).
class Phase {
  public:
    /// Reports at `at` and above (Verbose: -v; Debug: -vv for fine steps).
    explicit Phase(std::string_view name, Level at = Level::Verbose) noexcept;
    ~Phase();
    Phase(const Phase&) = delete;
    Phase& operator=(const Phase&) = delete;

  private:
    std::string_view name_;
    Level at_;
    std::chrono::steady_clock::time_point start_;
};

} // namespace husk::log
