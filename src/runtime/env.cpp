#include "runtime/env.hpp"

#include "util/error.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <fnmatch.h>

namespace husk::runtime {

namespace {

std::string_view key_of(std::string_view entry) {
    return entry.substr(0, entry.find('='));
}

bool has_path_dir(std::string_view path, std::string_view dir) {
    const auto dirs = text::split(path, ':');
    return std::find(dirs.begin(), dirs.end(), dir) != dirs.end();
}

} // namespace

Environment::Environment(const std::vector<std::string>& entries) {
    for (const auto& e : entries) {
        set_entry(e);
    }
}

void Environment::set(std::string_view key, std::string_view value) {
    std::string entry(key);
    entry += '=';
    entry += value;
    auto [at, added] = index_.try_emplace(std::string(key), entries_.size());
    if (added) {
        entries_.push_back(std::move(entry));
    } else {
        entries_[at->second] = std::move(entry);
    }
}

void Environment::reindex() {
    index_.clear();
    for (size_t i = 0; i < entries_.size(); ++i) {
        index_.emplace(std::string(key_of(entries_[i])), i);
    }
}

bool Environment::set_entry(std::string_view entry) {
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) {
        return false;
    }
    set(entry.substr(0, eq), entry.substr(eq + 1));
    return true;
}

std::optional<std::string> Environment::get(std::string_view key) const {
    const auto at = index_.find(std::string(key));
    if (at == index_.end()) {
        return std::nullopt;
    }
    return entries_[at->second].substr(key.size() + 1);
}

void Environment::unset_matching(std::string_view glob) {
    std::string pattern(glob);
    std::erase_if(entries_, [&](const std::string& e) {
        std::string key(key_of(e));
        return ::fnmatch(pattern.c_str(), key.c_str(), 0) == 0;
    });
    reindex();
}

std::optional<std::string_view> env_value(const std::vector<std::string>& entries,
                                          std::string_view key) {
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        const std::string_view e = *it;
        if (e.size() > key.size() && e[key.size()] == '=' && e.starts_with(key)) {
            return e.substr(key.size() + 1);
        }
    }
    return std::nullopt;
}

bool valid_env_name(std::string_view key) {
    if (key.empty()) {
        return false;
    }
    return std::none_of(key.begin(), key.end(), [](char c) {
        return c == '=' || c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
    });
}

std::vector<EnvSetting> parse_env_file(const EnvFile& file) {
    std::vector<EnvSetting> out;
    std::string_view text = file.content;
    size_t lineno = 0;
    size_t i = 0;
    while (i < text.size()) {
        size_t j = text.find('\n', i);
        if (j == std::string_view::npos) {
            j = text.size();
        }
        std::string_view line = text.substr(i, j - i);
        i = j + 1;
        ++lineno;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        size_t first = line.find_first_not_of(" \t");
        if (first == std::string_view::npos || line[first] == '#') {
            continue;
        }
        line.remove_prefix(first);
        size_t eq = line.find('=');
        EnvSetting s;
        s.key = std::string(line.substr(0, eq));
        if (eq != std::string_view::npos) {
            s.value = std::string(line.substr(eq + 1));
        } else {
            while (!s.key.empty() && (s.key.back() == ' ' || s.key.back() == '\t')) {
                s.key.pop_back();
            }
        }
        if (!valid_env_name(s.key)) {
            throw Error(file.name + ":" + std::to_string(lineno) + ": \"" + std::string(line) +
                        "\" is not KEY=VALUE");
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<std::string> assemble_env(const EnvInputs& in) {
    Environment env(in.host);
    Environment host(in.host);
    for (const auto& e : in.image) {
        env.set_entry(e);
    }
    env.set("HOME", in.home);
    auto path = env.get("PATH");
    if (!path || path->empty()) {
        env.set("PATH", kDefaultPath);
    } else {
        std::string p = *path;
        for (std::string_view dir : {"/usr/bin", "/bin"}) {
            if (!has_path_dir(p, dir)) {
                p += ':';
                p += dir;
            }
        }
        env.set("PATH", p);
    }
    for (const auto& f : in.files) {
        for (const auto& s : parse_env_file(f)) {
            if (s.value) {
                env.set(s.key, *s.value);
            } else if (auto v = host.get(s.key)) {
                env.set(s.key, *v);
            }
        }
    }
    for (const auto& e : in.cli) {
        size_t eq = e.find('=');
        std::string key = e.substr(0, eq);
        if (!valid_env_name(key)) {
            throw Error("--env \"" + e + "\": not KEY=VALUE or KEY");
        }
        if (eq != std::string::npos) {
            env.set(key, std::string_view(e).substr(eq + 1));
        } else if (auto v = host.get(key)) {
            env.set(key, *v);
        }
    }
    for (const auto& g : in.unset) {
        env.unset_matching(g);
    }
    return env.entries();
}

} // namespace husk::runtime
