#include "util/progress.hpp"

#include "util/log.hpp"

#include <cstdio>
#include <unistd.h>

namespace husk::log {

Progress::Progress(std::string label, uint64_t total)
    : label_(std::move(label)), total_(total),
      enabled_(::isatty(STDERR_FILENO) == 1 && level() >= Level::Normal) {}

Progress::~Progress() {
    if (drawn_) {
        std::fputs("\r\033[K", stderr); // erase the line: the result speaks for itself
        std::fflush(stderr);
    }
}

void Progress::update(uint64_t done) {
    if (!enabled_) {
        return;
    }
    auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_ < std::chrono::milliseconds(100)) {
        return;
    }
    last_ = now;
    drawn_ = true;
    const double mib = 1024.0 * 1024.0;
    if (total_ > 0) {
        const unsigned pct = static_cast<unsigned>(done >= total_ ? 100 : done * 100 / total_);
        std::fprintf(stderr, "\r\033[Khusk: %s %3u%% (%.1f of %.1f MiB)", label_.c_str(), pct,
                     static_cast<double>(done) / mib, static_cast<double>(total_) / mib);
    } else {
        std::fprintf(stderr, "\r\033[Khusk: %s (%.1f MiB)", label_.c_str(),
                     static_cast<double>(done) / mib);
    }
    std::fflush(stderr);
}

} // namespace husk::log
