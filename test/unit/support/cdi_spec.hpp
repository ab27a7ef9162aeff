// CDI spec texts the host tests build (cdi_test.cpp, cdi_edits_test.cpp).
#pragma once

#include <string>

namespace husk::test {

/// A one-device JSON spec of `version` whose device has `device_edits` (a
/// JSON object's members) and whose spec has `spec_extra` and whose device
/// has `device_extra` (members, each with a leading comma).
inline std::string json_spec(const std::string& version, const std::string& device_edits,
                             const std::string& spec_extra = "",
                             const std::string& device_extra = "",
                             const std::string& kind = "vendor.com/device") {
    return R"({"cdiVersion": ")" + version + R"(", "kind": ")" + kind +
           R"(", "devices": [{"name": "dev0")" + device_extra + R"(, "containerEdits": {)" +
           device_edits + "}}]" + spec_extra + "}";
}

} // namespace husk::test
