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

namespace {

std::string bar_line(const std::string& label, uint64_t done, uint64_t total) {
    const double mib = 1024.0 * 1024.0;
    const unsigned pct =
        total == 0 ? 100 : static_cast<unsigned>(done >= total ? 100 : done * 100 / total);
    char buf[96];
    std::snprintf(buf, sizeof buf, " %3u%% (%.1f of %.1f MiB)", pct,
                  static_cast<double>(done) / mib, static_cast<double>(total) / mib);
    return "husk: " + label + buf;
}

} // namespace

MultiProgress::MultiProgress(std::vector<std::string> labels, std::vector<uint64_t> totals,
                             std::string title)
    : labels_(std::move(labels)), totals_(std::move(totals)), title_(std::move(title)),
      enabled_(::isatty(STDERR_FILENO) == 1 && level() >= Level::Normal) {}

MultiProgress::~MultiProgress() {
    if (drawn_ > 0) {
        // erase the lines: the result speaks for itself
        std::fprintf(stderr, "\r\033[%zuA\033[J", drawn_);
        std::fflush(stderr);
    }
}

void MultiProgress::draw(const std::vector<uint64_t>& done) {
    if (!enabled_) {
        return;
    }
    std::string out = drawn_ > 0 ? "\r\033[" + std::to_string(drawn_) + "A" : std::string("\r");
    uint64_t sum = 0;
    uint64_t all = 0;
    for (size_t i = 0; i < labels_.size() && i < done.size(); ++i) {
        out += "\033[K" + bar_line(labels_[i], done[i], totals_[i]) + "\n";
        sum += done[i];
        all += totals_[i];
    }
    out += "\033[K" + bar_line(title_, sum, all) + "\n";
    drawn_ = labels_.size() + 1;
    std::fputs(out.c_str(), stderr);
    std::fflush(stderr);
}

} // namespace husk::log
