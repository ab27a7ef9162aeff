// Fuzz harness: CDI specs, read the way `husk run --device` and `husk cdi
// list` read the files of /etc/cdi and /var/run/cdi, through
// host::cdi::parse_spec() (JSON or YAML, as the text's first character
// says). A spec that parses is written back, as JSON and as YAML
// (host::cdi::write_spec()), and must read back equal; its devices' edits
// are then made (host::cdi::device_edits(), every device and "=all"), its
// device nodes left out: they are checked against this host's /dev, which
// the input does not control, while the hooks and mounts are its own. Every
// husk::Error must be one line.
//
// Input: the spec's text, as a file holds it.
#include "fuzz_support.hpp"

#include "host/cdi.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace cdi = husk::host::cdi;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    cdi::Spec spec;
    try {
        spec = cdi::parse_spec(text, "fuzz.yaml");
    } catch (const husk::Error& e) {
        husk::fuzz::expect_one_line("cdi_spec", e.what()); // the expected outcome for most inputs
        return 0;
    }
    for (const bool yaml : {false, true}) {
        const std::string written = cdi::write_spec(spec, yaml);
        try {
            if (!(cdi::parse_spec(written, "fuzz.yaml") == spec)) {
                std::fprintf(stderr, "cdi_spec: written as %s, reads back different:\n%s\n",
                             yaml ? "YAML" : "JSON", written.c_str());
                std::abort();
            }
        } catch (const husk::Error& e) {
            std::fprintf(stderr, "cdi_spec: written as %s, does not read back: %s\n%s\n",
                         yaml ? "YAML" : "JSON", e.what(), written.c_str());
            std::abort();
        }
    }
    cdi::Registry registry;
    registry.specs.push_back(spec);
    for (auto& d : registry.specs[0].devices) {
        d.edits.device_nodes.clear();
    }
    registry.specs[0].edits.device_nodes.clear();
    std::vector<std::string> names;
    for (const auto& d : spec.devices) {
        names.push_back(spec.kind + "=" + d.name);
    }
    names.push_back(spec.kind + "=all");
    for (const auto& name : names) {
        try {
            cdi::device_edits(registry, {name}, cdi::HookContext{"/nonexistent-host-root"});
        } catch (const husk::Error& e) {
            husk::fuzz::expect_one_line("cdi_spec", e.what());
        }
    }
    return 0;
}
