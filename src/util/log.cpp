#include "util/log.hpp"

#include <cstdio>
#include <string>

namespace husk::log {

namespace {
// The one piece of process-wide state in the library: set by main() once,
// before any other work, and only read afterwards.
Level g_level = Level::Normal;

void emit(std::string_view prefix, std::string_view message) {
    std::string line = "husk: ";
    line += prefix;
    line += message;
    line += '\n';
    // One write per line, so lines from concurrent ranks do not interleave.
    std::fwrite(line.data(), 1, line.size(), stderr);
}
} // namespace

void set_level(Level level) noexcept {
    g_level = level;
}
Level level() noexcept {
    return g_level;
}

void warn(std::string_view message) {
    if (g_level >= Level::Normal) {
        emit("warning: ", message);
    }
}

void info(std::string_view message) {
    if (g_level >= Level::Verbose) {
        emit("", message);
    }
}

void debug(std::string_view message) {
    if (g_level >= Level::Debug) {
        emit("", message);
    }
}

Phase::Phase(std::string_view name, Level at) noexcept
    : name_(name), at_(at), start_(std::chrono::steady_clock::now()) {}

Phase::~Phase() {
    if (g_level < at_) {
        return;
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start_)
                  .count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "[%8.3f ms] ", static_cast<double>(us) / 1000.0);
    emit(buf, name_);
}

} // namespace husk::log
