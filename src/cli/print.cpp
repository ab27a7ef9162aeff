#include "cli/print.hpp"

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <nlohmann/json.hpp>

namespace husk::cli {

namespace {

const char* format_name(image::Format f) {
    return f == image::Format::Squashfs ? "squashfs" : "dir";
}

const char* kind_name(image::Kind k) {
    switch (k) {
    case image::Kind::Directory:
        return "directory";
    case image::Kind::Squashfs:
        return "squashfs";
    case image::Kind::Tar:
        return "tar";
    case image::Kind::OciLayout:
        return "oci-layout";
    }
    return "unknown";
}

std::string human(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

std::string date(int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

} // namespace

void print_images(const std::vector<image::StoredImage>& images, bool json, std::ostream& out) {
    if (json) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& i : images) {
            a.push_back({{"name", i.name},
                         {"format", format_name(i.format)},
                         {"path", i.path},
                         {"bytes", i.bytes},
                         {"created", i.created}});
        }
        out << a.dump(2) << "\n";
        return;
    }
    out << std::left << std::setw(24) << "NAME" << std::setw(10) << "FORMAT" << std::setw(12)
        << "SIZE"
        << "CREATED\n";
    for (const auto& i : images) {
        out << std::setw(24) << i.name << std::setw(10) << format_name(i.format) << std::setw(12)
            << human(i.bytes) << date(i.created) << "\n";
    }
}

void print_inspect(const image::Image& img, bool json, std::ostream& out) {
    nlohmann::json cfg = nlohmann::json::object();
    if (img.config) {
        cfg = {{"Env", img.config->env},
               {"Entrypoint", img.config->entrypoint},
               {"Cmd", img.config->cmd},
               {"WorkingDir", img.config->working_dir},
               {"User", img.config->user}};
    }
    if (json) {
        out << nlohmann::json{{"path", img.path}, {"kind", kind_name(img.kind)}, {"config", cfg}}
                   .dump(2)
            << "\n";
        return;
    }
    out << "path:        " << img.path << "\n"
        << "kind:        " << kind_name(img.kind) << "\n";
    if (!img.config) {
        out << "config:      none\n";
        return;
    }
    auto list = [](const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v) {
            s += (s.empty() ? "" : " ") + x;
        }
        return s;
    };
    out << "entrypoint:  " << list(img.config->entrypoint) << "\n"
        << "cmd:         " << list(img.config->cmd) << "\n"
        << "workingdir:  " << img.config->working_dir << "\n";
    for (const auto& e : img.config->env) {
        out << "env:         " << e << "\n";
    }
}

void print_cdi_devices(const host::cdi::Registry& registry, bool json, std::ostream& out) {
    struct Row {
        std::string name, kind, spec;
    };
    std::vector<Row> rows;
    for (const auto& name : registry.device_names()) {
        const std::string kind = name.substr(0, name.find('='));
        const std::string dev = name.substr(name.find('=') + 1);
        // The spec that offers it: the last one (a later folder wins).
        std::string file;
        for (const auto& spec : registry.specs) {
            if (spec.kind != kind) {
                continue;
            }
            for (const auto& d : spec.devices) {
                if (d.name == dev) {
                    file = spec.file;
                }
            }
        }
        rows.push_back({name, kind, file});
    }
    if (json) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& r : rows) {
            a.push_back({{"name", r.name}, {"kind", r.kind}, {"spec", r.spec}});
        }
        out << a.dump(2) << "\n";
        return;
    }
    size_t width = 0;
    for (const auto& r : rows) {
        width = std::max(width, r.name.size());
    }
    for (const auto& r : rows) {
        out << std::left << std::setw(static_cast<int>(width + 2)) << r.name << r.spec << "\n";
    }
}

void print_settings(const std::vector<config::Shown>& settings, std::ostream& out) {
    out << "settings (built-in < site config < HUSK_* environment < command line):\n";
    for (const auto& s : settings) {
        out << "  " << std::left << std::setw(20) << s.name << s.value << "  (" << s.from << ")\n";
    }
}

} // namespace husk::cli
