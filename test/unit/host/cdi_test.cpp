#include "host/cdi.hpp"
#include "util/error.hpp"

#include "../support/temp_tree.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace husk::host::cdi {
namespace {

/// A one-device JSON spec of `version` whose device has `device_edits` (a
/// JSON object's members) and whose spec has `spec_edits`, `device_extra`
/// and `spec_extra` (members, each with a leading comma).
std::string json_spec(const std::string& version, const std::string& device_edits,
                      const std::string& spec_extra = "", const std::string& device_extra = "",
                      const std::string& kind = "vendor.com/device") {
    return R"({"cdiVersion": ")" + version + R"(", "kind": ")" + kind +
           R"(", "devices": [{"name": "dev0")" + device_extra + R"(, "containerEdits": {)" +
           device_edits + "}}]" + spec_extra + "}";
}

/// The message of the husk::Error that parse_spec() throws for `text`.
std::string parse_error(const std::string& text, const std::string& file = "/etc/cdi/v.json") {
    try {
        parse_spec(text, file);
    } catch (const Error& e) {
        return e.what();
    }
    return "(parsed)";
}

/// Expects one line that starts with the file name and holds `field` and `reason`.
void expect_error(const std::string& text, const std::string& field, const std::string& reason) {
    const std::string msg = parse_error(text);
    SCOPED_TRACE(text);
    EXPECT_EQ(msg.rfind("/etc/cdi/v.json: ", 0), 0u) << msg;
    EXPECT_NE(msg.find(field + ": "), std::string::npos) << msg;
    EXPECT_NE(msg.find(reason), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

const char* const kAllVersions[] = {"0.3.0", "0.4.0", "0.5.0", "0.6.0",
                                    "0.7.0", "0.8.0", "1.0.0", "1.1.0"};

// -- Reading ----------------------------------------------------------------

TEST(CdiSpec, ReadsTheFieldsOf030InEveryVersion) {
    const std::string edits = R"(
        "env": ["A=1", "B=x=y"],
        "deviceNodes": [{"path": "/dev/card0", "type": "c", "major": 226, "minor": 0,
                         "fileMode": 438, "permissions": "rw", "uid": 0, "gid": 44}],
        "mounts": [{"hostPath": "/usr/lib/libv.so.1", "containerPath": "/usr/lib/libv.so.1",
                    "options": ["ro", "nosuid", "nodev", "bind"]}],
        "hooks": [{"hookName": "createContainer", "path": "/usr/bin/vendor-hook",
                   "args": ["vendor-hook", "--x"], "env": ["D=1"], "timeout": 5}])";
    for (const char* v : kAllVersions) {
        SCOPED_TRACE(v);
        const Spec s = parse_spec(json_spec(v, edits), "/etc/cdi/v.json");
        EXPECT_EQ(s.version, v);
        EXPECT_EQ(s.kind, "vendor.com/device");
        EXPECT_EQ(s.file, "/etc/cdi/v.json");
        ASSERT_EQ(s.devices.size(), 1u);
        const SpecEdits& e = s.devices[0].edits;
        EXPECT_EQ(e.env, (std::vector<std::string>{"A=1", "B=x=y"}));
        ASSERT_EQ(e.device_nodes.size(), 1u);
        const SpecDeviceNode& n = e.device_nodes[0];
        EXPECT_EQ(n.path, "/dev/card0");
        EXPECT_EQ(n.host_path, "");
        EXPECT_EQ(n.type, "c");
        EXPECT_EQ(n.major, 226);
        EXPECT_EQ(n.minor, 0);
        EXPECT_EQ(n.file_mode, 438u);
        EXPECT_EQ(n.permissions, "rw");
        EXPECT_EQ(n.uid, 0u);
        EXPECT_EQ(n.gid, 44u);
        ASSERT_EQ(e.mounts.size(), 1u);
        EXPECT_EQ(e.mounts[0].host_path, "/usr/lib/libv.so.1");
        EXPECT_EQ(e.mounts[0].container_path, "/usr/lib/libv.so.1");
        EXPECT_EQ(e.mounts[0].options, (std::vector<std::string>{"ro", "nosuid", "nodev", "bind"}));
        ASSERT_EQ(e.hooks.size(), 1u);
        EXPECT_EQ(e.hooks[0].hook_name, "createContainer");
        EXPECT_EQ(e.hooks[0].path, "/usr/bin/vendor-hook");
        EXPECT_EQ(e.hooks[0].args, (std::vector<std::string>{"vendor-hook", "--x"}));
        EXPECT_EQ(e.hooks[0].env, std::vector<std::string>{"D=1"});
        EXPECT_EQ(e.hooks[0].timeout, 5);
    }
}

/// A field each version added, and where it goes.
struct Added {
    const char* since;
    std::string text; // a spec of version "@V@" that uses it
    const char* field;
    const char* oldest = "0.3.0"; // the oldest version tried (intelRdt's own is 0.7.0)
};

std::vector<Added> added_fields() {
    const auto with = [](const std::string& device_edits, const std::string& spec_extra = "",
                         const std::string& device_extra = "",
                         const std::string& kind = "vendor.com/device") {
        return json_spec("@V@", device_edits, spec_extra, device_extra, kind);
    };
    return {
        {"0.4.0", with(R"("mounts": [{"hostPath": "/a", "containerPath": "/a", "type": "bind"}])"),
         "devices[0].containerEdits.mounts[0].type"},
        {"0.5.0", with(R"("deviceNodes": [{"path": "/dev/a", "hostPath": "/dev/b"}])"),
         "devices[0].containerEdits.deviceNodes[0].hostPath"},
        {"0.6.0", with(R"("env": ["A=1"])", R"(, "annotations": {"a": "b"})"), "annotations"},
        {"0.6.0", with(R"("env": ["A=1"])", "", R"(, "annotations": {"a": "b"})"),
         "devices[0].annotations"},
        {"0.7.0", with(R"("additionalGids": [44])"), "devices[0].containerEdits.additionalGids"},
        {"0.7.0", with(R"("intelRdt": {"closID": "c1"})"), "devices[0].containerEdits.intelRdt"},
        {"0.7.0", with(R"("env": ["A=1"])", R"(, "containerEdits": {"additionalGids": [1]})"),
         "containerEdits.additionalGids"},
        {"1.1.0", with(R"("netDevices": [{"hostInterfaceName": "ib0", "name": "ib0"}])"),
         "devices[0].containerEdits.netDevices"},
        {"1.1.0", with(R"("intelRdt": {"closID": "c", "schemata": ["L3:0=f"]})"),
         "devices[0].containerEdits.intelRdt.schemata", "0.7.0"},
        {"1.1.0", with(R"("intelRdt": {"closID": "c", "enableMonitoring": true})"),
         "devices[0].containerEdits.intelRdt.enableMonitoring", "0.7.0"},
    };
}

std::string at_version(std::string text, const std::string& v) {
    text.replace(text.find("@V@"), 3, v);
    return text;
}

TEST(CdiSpec, AFieldIsReadFromItsVersionAndRefusedBefore) {
    for (const Added& a : added_fields()) {
        SCOPED_TRACE(a.field);
        bool newer = false, tried = false;
        for (const char* v : kAllVersions) {
            tried = tried || std::string(v) == a.oldest;
            if (!tried) {
                continue;
            }
            newer = newer || std::string(v) == a.since;
            const std::string text = at_version(a.text, v);
            if (newer) {
                EXPECT_NO_THROW(parse_spec(text, "/etc/cdi/v.json"))
                    << v << ": " << parse_error(text);
            } else {
                expect_error(text, a.field,
                             std::string("needs cdiVersion ") + a.since +
                                 " or newer; the file says " + v);
            }
        }
    }
}

TEST(CdiSpec, VersionedRulesOfNamesAndTheDroppedRdtFields) {
    // A digit first in a device name: 0.5.0.
    const std::string digit =
        json_spec("@V@", R"("env": ["A=1"])")
            .replace(json_spec("@V@", R"("env": ["A=1"])").find("dev0"), 4, "0");
    expect_error(at_version(digit, "0.4.0"), "devices[0].name",
                 "a digit first needs cdiVersion 0.5.0");
    EXPECT_EQ(parse_spec(at_version(digit, "0.5.0"), "f").devices[0].name, "0");
    // A '.' in the class: 0.6.0.
    const std::string dotted = json_spec("@V@", R"("env": ["A=1"])", "", "", "vendor.com/gpu.mig");
    expect_error(at_version(dotted, "0.5.0"), "kind", "a '.' in the class needs cdiVersion 0.6.0");
    EXPECT_EQ(parse_spec(at_version(dotted, "0.6.0"), "f").kind, "vendor.com/gpu.mig");
    // enableCMT and enableMBM: 0.7.0 to 1.0.0, dropped by 1.1.0.
    const std::string cmt =
        json_spec("@V@", R"("intelRdt": {"closID": "c", "enableCMT": true, "enableMBM": false})");
    EXPECT_EQ(parse_spec(at_version(cmt, "1.0.0"), "f").devices[0].edits.intel_rdt_class, "c");
    expect_error(at_version(cmt, "1.1.0"), "devices[0].containerEdits.intelRdt.enableCMT",
                 "was dropped in cdiVersion 1.1.0");
    // An empty newer field asks for nothing, as in the reference implementation.
    EXPECT_NO_THROW(parse_spec(
        json_spec("0.3.0", R"("env": ["A=1"], "additionalGids": [])", R"(, "annotations": {})"),
        "f"));
}

TEST(CdiSpec, ReadsTheNewerFields) {
    const Spec s = parse_spec(json_spec("1.1.0", R"(
        "additionalGids": [44, 0],
        "intelRdt": {"closID": "gpu", "l3CacheSchema": "L3:0=ff", "memBwSchema": "MB:0=50",
                     "schemata": ["L2:0=f"], "enableMonitoring": true},
        "netDevices": [{"hostInterfaceName": "ib0", "name": "net1"}],
        "deviceNodes": [{"path": "/dev/a", "hostPath": "/dev/b", "permissions": "none"}])",
                                        R"(, "annotations": {"spec": "level"})",
                                        R"(, "annotations": {"uuid": "GPU-1", "b": "2=3"})"),
                              "f");
    const SpecDevice& d = s.devices[0];
    EXPECT_EQ(d.annotations, (std::vector<std::string>{"b=2=3", "uuid=GPU-1"}));
    EXPECT_EQ(d.edits.additional_gids, (std::vector<uint32_t>{44, 0}));
    EXPECT_EQ(d.edits.intel_rdt_class, "gpu");
    ASSERT_EQ(d.edits.net_devices.size(), 1u);
    EXPECT_EQ(d.edits.net_devices[0].host_interface_name, "ib0");
    EXPECT_EQ(d.edits.net_devices[0].name, "net1");
    EXPECT_EQ(d.edits.device_nodes[0].host_path, "/dev/b");
    EXPECT_EQ(d.edits.device_nodes[0].permissions, "none");
    EXPECT_EQ(parse_spec(json_spec("v1.0.0", R"("env": ["A=1"])"), "f").version, "1.0.0");
}

const char* const kYamlSpec = R"(---
# as nvidia-ctk writes them
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
    - name: "0"
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
              hostPath: /dev/nvidia0
              major: 0xc3
              fileMode: 0666
              uid: ~
    - name: all
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
containerEdits:
    env:
        - NVIDIA_VISIBLE_DEVICES=void
    hooks:
        - hookName: createContainer
          path: /usr/bin/nvidia-cdi-hook
          args: [nvidia-cdi-hook, create-symlinks, --link, 'libcuda.so.1::/usr/lib/libcuda.so']
          timeout: 10
    mounts:
        - hostPath: /usr/lib/libcuda.so.1
          containerPath: /usr/lib/libcuda.so.1
          options: [ro, nosuid, nodev, rbind, rprivate]
)";

const char* const kJsonSpec = R"({
  "cdiVersion": "0.5.0",
  "kind": "nvidia.com/gpu",
  "devices": [
    {"name": "0", "containerEdits": {"deviceNodes": [
        {"path": "/dev/nvidia0", "hostPath": "/dev/nvidia0", "major": 195, "fileMode": 438}]}},
    {"name": "all", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0"}]}}
  ],
  "containerEdits": {
    "env": ["NVIDIA_VISIBLE_DEVICES=void"],
    "mounts": [{"hostPath": "/usr/lib/libcuda.so.1", "containerPath": "/usr/lib/libcuda.so.1",
                "options": ["ro", "nosuid", "nodev", "rbind", "rprivate"]}],
    "hooks": [{"hookName": "createContainer", "path": "/usr/bin/nvidia-cdi-hook",
               "args": ["nvidia-cdi-hook", "create-symlinks", "--link",
                        "libcuda.so.1::/usr/lib/libcuda.so"], "timeout": 10}]
  }
})";

TEST(CdiSpec, JsonAndYamlOfTheSameSpecAreEqual) {
    const Spec y = parse_spec(kYamlSpec, "same");
    const Spec j = parse_spec(kJsonSpec, "same");
    EXPECT_EQ(y, j);
    // YAML's scalars: octal 0666, hex 0xc3, a quoted "0" (text), ~ (absent).
    EXPECT_EQ(y.devices[0].name, "0");
    EXPECT_EQ(y.devices[0].edits.device_nodes[0].major, 195);
    EXPECT_EQ(y.devices[0].edits.device_nodes[0].file_mode, 0666u);
    EXPECT_EQ(y.devices[0].edits.device_nodes[0].uid, std::nullopt);
    // An unquoted name that looks like a number is still the name.
    std::string unquoted = kYamlSpec;
    unquoted.replace(unquoted.find("\"0\""), 3, "007");
    EXPECT_EQ(parse_spec(unquoted, "f").devices[0].name, "007");
}

TEST(CdiSpec, YamlBooleansAndIntegersWhereTheFieldIsOne) {
    const std::string y = "cdiVersion: 1.1.0\nkind: a.com/b\ndevices:\n- name: d\n"
                          "  containerEdits:\n    intelRdt: {closID: c, enableMonitoring: True}\n"
                          "    additionalGids: [0b101, -0, +7]\n";
    EXPECT_EQ(parse_spec(y, "f").devices[0].edits.additional_gids,
              (std::vector<uint32_t>{5, 0, 7}));
    std::string not_bool = y;
    not_bool.replace(not_bool.find("True"), 4, "maybe");
    EXPECT_NE(parse_error(not_bool, "f").find("intelRdt.enableMonitoring: expected true or false"),
              std::string::npos);
    std::string not_int = y;
    not_int.replace(not_int.find("0b101"), 5, "1.5");
    EXPECT_NE(parse_error(not_int, "f").find("additionalGids[0]: \"1.5\" is not an integer"),
              std::string::npos);
    // In JSON a number in text is no number.
    expect_error(json_spec("0.7.0", R"("additionalGids": ["5"])"),
                 "devices[0].containerEdits.additionalGids[0]", "expected an integer");
}

TEST(CdiSpec, BadSpecsAreOneLineErrorsNamingTheFileAndField) {
    const std::string ok = R"("env": ["A=1"])";
    const auto e = [](const std::string& edits) { return json_spec("0.5.0", edits); };
    expect_error(R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [], "extra": 1})",
                 "extra",
                 "unknown field (cdiVersion 0.5.0 has cdiVersion, kind, devices, containerEdits)");
    expect_error(json_spec("0.5.0", ok).insert(1, R"("version": 1, )"), "version", "unknown field");
    expect_error(e(R"("env": ["A=1"], "devices": [])"), "devices[0].containerEdits.devices",
                 "unknown field");
    expect_error(e(R"("deviceNodes": [{"path": "/dev/a", "name": "x"}])"),
                 "devices[0].containerEdits.deviceNodes[0].name", "unknown field");
    expect_error(json_spec("0.2.0", ok), "cdiVersion", "\"0.2.0\" is not a CDI version husk reads");
    expect_error(json_spec("1.2.0", ok), "cdiVersion", "is not a CDI version");
    expect_error(R"({"kind": "a.com/b", "devices": []})", "cdiVersion", "missing");
    expect_error(R"({"cdiVersion": 5, "kind": "a.com/b", "devices": []})", "cdiVersion",
                 "expected text");
    expect_error(json_spec("0.5.0", ok, "", "", "vendor"), "kind", "is not \"vendor/class\"");
    expect_error(json_spec("0.5.0", ok, "", "", "vendor.com/a/b"), "kind",
                 "class: invalid character \"/\"");
    expect_error(json_spec("0.5.0", ok, "", "", "1vendor.com/gpu"), "kind",
                 "vendor: \"1vendor.com\" does not start with a letter");
    expect_error(json_spec("0.5.0", ok, "", "", "vendor.com/gpu-"), "kind",
                 "class: \"gpu-\" does not end with a letter or digit");
    expect_error(json_spec("0.5.0", ok, "", "", "vendor.com/"), "kind", "is not \"vendor/class\"");
    std::string bad_name = json_spec("0.5.0", ok);
    bad_name.replace(bad_name.find("dev0"), 4, "dev 0");
    expect_error(bad_name, "devices[0].name", "invalid character \" \" in \"dev 0\"");
    bad_name.replace(bad_name.find("dev 0"), 5, "-dev");
    expect_error(bad_name, "devices[0].name", "does not start with a letter or digit");
    expect_error(R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [
                     {"name": "x", "containerEdits": {"env": ["A=1"]}},
                     {"name": "x", "containerEdits": {"env": ["A=1"]}}]})",
                 "devices[1].name", "\"x\" is also devices[0]'s name");
    expect_error(R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": []})", "devices",
                 "no devices");
    expect_error(e(""), "devices[0].containerEdits", "no edits");
    expect_error(e(R"("env": ["=1"])"), "devices[0].containerEdits.env[0]", "is not KEY=VALUE");
    expect_error(e(R"("env": ["A"])"), "devices[0].containerEdits.env[0]", "is not KEY=VALUE");
    expect_error(e(R"("env": "A=1")"), "devices[0].containerEdits.env", "expected a list");
    expect_error(e(R"("deviceNodes": [{"path": "dev/a"}])"),
                 "devices[0].containerEdits.deviceNodes[0].path",
                 "\"dev/a\" is not an absolute path");
    expect_error(e(R"("deviceNodes": [{"path": "/dev/a", "hostPath": "a"}])"),
                 "devices[0].containerEdits.deviceNodes[0].hostPath", "is not an absolute path");
    expect_error(e(R"("deviceNodes": [{"hostPath": "/dev/a"}])"),
                 "devices[0].containerEdits.deviceNodes[0].path", "missing");
    expect_error(e(R"("deviceNodes": [{"path": "/dev/a", "type": "x"}])"),
                 "devices[0].containerEdits.deviceNodes[0].type", "is not one of c, u");
    expect_error(e(R"("deviceNodes": [{"path": "/dev/a", "permissions": "rwx"}])"),
                 "devices[0].containerEdits.deviceNodes[0].permissions", "\"rwx\" is not");
    expect_error(e(R"("deviceNodes": [{"path": "/dev/a", "uid": -1}])"),
                 "devices[0].containerEdits.deviceNodes[0].uid", "out of range (0 to 4294967295)");
    expect_error(e(R"("deviceNodes": [{"path": "/dev/a", "gid": 4294967296}])"),
                 "devices[0].containerEdits.deviceNodes[0].gid", "out of range");
    expect_error(e(R"("deviceNodes": [{"path": "/dev/a", "major": 1.5}])"),
                 "devices[0].containerEdits.deviceNodes[0].major", "expected an integer");
    expect_error(e(R"("mounts": [{"hostPath": "lib", "containerPath": "/lib"}])"),
                 "devices[0].containerEdits.mounts[0].hostPath", "is not an absolute path");
    expect_error(e(R"("mounts": [{"hostPath": "/lib", "containerPath": "lib"}])"),
                 "devices[0].containerEdits.mounts[0].containerPath", "is not an absolute path");
    expect_error(e(R"("mounts": [{"hostPath": "/lib"}])"),
                 "devices[0].containerEdits.mounts[0].containerPath", "missing");
    expect_error(e(R"("hooks": [{"hookName": "onStart", "path": "/bin/h"}])"),
                 "devices[0].containerEdits.hooks[0].hookName", "\"onStart\" is not an OCI hook");
    expect_error(e(R"("hooks": [{"hookName": "poststop", "path": "h"}])"),
                 "devices[0].containerEdits.hooks[0].path", "is not an absolute path");
    expect_error(e(R"("hooks": [{"hookName": "poststop", "path": "/h", "timeout": 0}])"),
                 "devices[0].containerEdits.hooks[0].timeout", "out of range");
    expect_error(e(R"("hooks": [{"hookName": "poststop", "path": "/h", "env": ["X"]}])"),
                 "devices[0].containerEdits.hooks[0].env[0]", "is not KEY=VALUE");
    expect_error(json_spec("0.7.0", R"("intelRdt": {"closID": "a/b"})"),
                 "devices[0].containerEdits.intelRdt.closID", "is not a file name");
    expect_error(json_spec("1.1.0", R"("netDevices": [{"hostInterfaceName": "a", "name": "x"},
                                                      {"hostInterfaceName": "b", "name": "x"}])"),
                 "devices[0].containerEdits.netDevices[1].name", "\"x\" twice");
    expect_error(json_spec("0.6.0", ok, "", R"(, "annotations": {"a": 1})"),
                 "devices[0].annotations.a", "expected text");
    expect_error(e(R"("env": ["A=\u0000"])"), "devices[0].containerEdits.env[0]", "a NUL byte");
    // YAML cannot write a noncharacter (a reader replaces it): refused in JSON too.
    expect_error(e(R"("env": ["A=\uffff"])"), "devices[0].containerEdits.env[0]",
                 "a Unicode noncharacter");
    expect_error(e(R"("env": ["A=\ufdd0"])"), "devices[0].containerEdits.env[0]",
                 "a Unicode noncharacter");
}

TEST(CdiSpec, HostileDocumentsAreOneLineErrors) {
    const auto one_line = [](const std::string& text, const std::string& reason) {
        const std::string msg = parse_error(text, "s.yaml");
        SCOPED_TRACE(text.substr(0, 60));
        EXPECT_EQ(msg.rfind("s.yaml: ", 0), 0u) << msg;
        EXPECT_NE(msg.find(reason), std::string::npos) << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    };
    one_line("", "empty");
    one_line("\n# nothing\n", "empty");
    one_line("[1, 2]", "the document is not a mapping");
    one_line("a\n---\nb\n", "more than one document");
    one_line("cdiVersion: 0.3.0\ncdiVersion: 0.4.0\n",
             "line 2, column 1: key \"cdiVersion\" given twice");
    one_line(R"({"a": 1, "a": 2})", "key \"a\" given twice");
    one_line(R"({"cdiVersion": "0.3.0", )", "syntax error");
    one_line("key: [unclosed\n", "line ");
    one_line("? [a, b]\n: c\n", "a mapping key that is not text");
    one_line("a: \"\\x00\"\n", "a NUL byte");
    one_line(std::string("a: \"\xff\xfe\"\n"), "byte 4: invalid leading UTF-8 octet");
    one_line(std::string("a\0b", 3), "a NUL byte");
    one_line(std::string(kMaxSpecBytes + 1, ' '), "larger than 4 MiB");
    one_line(std::string(100000, '[') + std::string(100000, ']'), "nested deeper than 16 levels");
    one_line(R"({"a": )" + std::string(100000, '[') + std::string(100000, ']') + "}",
             "nested deeper");
    std::string deep_json;
    for (int i = 0; i < 100000; ++i) {
        deep_json += R"({"a":)";
    }
    one_line(deep_json, "nested deeper than 16 levels");
    std::string deep_yaml;
    for (int i = 0; i < 5000; ++i) {
        deep_yaml += "- ";
    }
    one_line(deep_yaml + "x\n", "nested deeper");
    // Aliases that would expand to 2^40 nodes.
    std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 14; ++i) {
        const std::string p = "a" + std::to_string(i - 1);
        bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*" + p + ", *" + p +
                ", *" + p + ", *" + p + ", *" + p + ", *" + p + ", *" + p + ", *" + p + "]\n";
    }
    one_line(bomb, "expands to more than");
}

// -- Writing ----------------------------------------------------------------

Spec every_field_spec() {
    Spec s;
    s.version = "1.1.0";
    s.kind = "vendor.com/gpu.mig";
    s.file = "";
    SpecDevice d;
    d.name = "0:1";
    d.annotations = {"uuid=GPU-1", "z=true"};
    d.edits.env = {"A=1", "EMPTY=", "NL=a\nb", "Q=\"x\": y # z"};
    d.edits.device_nodes = {{"/dev/a", "/host/dev/a", "c", 195, 0, "rw", 0666, 0, 44}};
    d.edits.mounts = {{"/h", "/c", "bind", {"ro", "rbind"}}, {"tmpfs", "/t", "tmpfs", {}}};
    d.edits.hooks = {
        {"createContainer", "/bin/h", {"h", "--x=1", "null", "true", "0", "", "-1"}, {"E=é"}, 30}};
    d.edits.additional_gids = {0, 4294967295u};
    d.edits.intel_rdt_class = "/";
    d.edits.net_devices = {{"ib0", "net0"}};
    s.devices.push_back(d);
    SpecDevice e;
    e.name = "yes";
    e.edits.env = {"B=~"};
    e.edits.device_nodes = {
        {"/dev/b", "", "", std::nullopt, -1, "", std::nullopt, std::nullopt, std::nullopt}};
    s.devices.push_back(e);
    s.edits.env = {"S=1"};
    return s;
}

TEST(CdiSpec, WrittenSpecsReadBackEqual) {
    const Spec s = every_field_spec();
    for (const bool yaml : {false, true}) {
        SCOPED_TRACE(yaml ? "yaml" : "json");
        const std::string text = write_spec(s, yaml);
        EXPECT_EQ(text[0], yaml ? '-' : '{');
        EXPECT_EQ(parse_spec(text, ""), s) << text;
    }
    const Spec y = parse_spec(kYamlSpec, "f");
    EXPECT_EQ(parse_spec(write_spec(y, true), "f"), y);
    EXPECT_EQ(parse_spec(write_spec(y, false), "f"), y);
}

TEST(CdiSpec, TextThatYamlWouldReadOtherwiseIsQuoted) {
    for (const std::string t : {"",
                                "~",
                                "null",
                                "Yes",
                                "off",
                                "0x1",
                                "1e3",
                                ".inf",
                                "-1",
                                "+1",
                                "-",
                                "=",
                                "<<",
                                "#c",
                                "a #b",
                                "a:",
                                "a: b",
                                "- d",
                                "? x",
                                "{}",
                                "[]",
                                "'",
                                "\"",
                                "\\",
                                "%",
                                "@",
                                "`",
                                "!tag",
                                "&a",
                                "*a",
                                "|",
                                ">",
                                " lead",
                                "trail ",
                                "\t",
                                "a\r\nb",
                                "\x1b[0m",
                                "\x7f",
                                "\xc2\x85",
                                "\xc2\xa0",
                                "\xe2\x80\xa8",
                                "\xef\xbb\xbf",
                                "\xf0\x9f\x98\x80"}) {
        SCOPED_TRACE(t);
        Spec s;
        s.version = "0.6.0";
        s.kind = "a.com/b";
        SpecDevice d;
        d.name = "d";
        d.annotations = {"k=" + t};
        d.edits.env = {"K=" + t};
        d.edits.hooks = {{"poststop", "/h", {"h", t}, {}, std::nullopt}};
        s.devices = {d};
        EXPECT_EQ(parse_spec(write_spec(s, true), ""), s) << write_spec(s, true);
        EXPECT_EQ(parse_spec(write_spec(s, false), ""), s) << write_spec(s, false);
    }
}

TEST(CdiSpec, WrittenJsonIsIndentedInTheSpecsOrderWithOnlyTheFieldsSet) {
    Spec s;
    s.version = "0.3.0";
    s.kind = "a.com/b";
    s.devices = {{"d", {}, {{"A=1"}, {}, {}, {}, {}, "", {}}}};
    EXPECT_EQ(write_spec(s, false), R"({
  "cdiVersion": "0.3.0",
  "kind": "a.com/b",
  "devices": [
    {
      "name": "d",
      "containerEdits": {
        "env": [
          "A=1"
        ]
      }
    }
  ]
}
)");
    // libyaml writes a sequence in a mapping at the key's indentation.
    EXPECT_EQ(write_spec(s, true), "---\ncdiVersion: \"0.3.0\"\nkind: a.com/b\ndevices:\n"
                                   "- name: d\n  containerEdits:\n    env:\n    - A=1\n");
}

TEST(CdiSpec, WritingRaisesTheVersionToWhatTheFieldsNeed) {
    Spec s;
    s.version = "0.3.0";
    s.kind = "a.com/b";
    s.devices = {{"0", {}, {{"A=1"}, {}, {}, {}, {}, "", {}}}};
    EXPECT_EQ(parse_spec(write_spec(s, false), "f").version, "0.5.0");
    s.devices[0].annotations = {"a=b"};
    EXPECT_EQ(parse_spec(write_spec(s, true), "f").version, "0.6.0");
    s.devices[0].edits.additional_gids = {5};
    EXPECT_EQ(parse_spec(write_spec(s, true), "f").version, "0.7.0");
    s.version = "1.0.0";
    EXPECT_EQ(parse_spec(write_spec(s, true), "f").version, "1.0.0");
    s.devices[0].edits.net_devices = {{"a", "b"}};
    EXPECT_EQ(parse_spec(write_spec(s, true), "f").version, "1.1.0");
}

// -- Names ------------------------------------------------------------------

TEST(CdiName, ParsesQualifiedNames) {
    const QualifiedName q = parse_qualified_name("nvidia.com/gpu=all");
    EXPECT_EQ(q.vendor, "nvidia.com");
    EXPECT_EQ(q.clazz, "gpu");
    EXPECT_EQ(q.name, "all");
    EXPECT_EQ(q.kind(), "nvidia.com/gpu");
    EXPECT_EQ(parse_qualified_name("a/b.c=0:1").name, "0:1");
    EXPECT_EQ(parse_qualified_name("a/b.c=0:1").clazz, "b.c");
    for (const char* bad : {"nvidia.com/gpu", "gpu=0", "/gpu=0", "nvidia.com/=0", "a/b=", "a/b/c=0",
                            "1a/b=0", "a/b=0=1", "a/b=x y", "a/b-=0", "a/b=-0", "a/b=0-", ""}) {
        SCOPED_TRACE(bad);
        try {
            parse_qualified_name(bad);
            ADD_FAILURE() << "parsed";
        } catch (const Error& e) {
            EXPECT_EQ(std::string(e.what()).rfind(std::string("--device ") + bad + ": ", 0), 0u)
                << e.what();
        }
    }
}

// -- Registry ---------------------------------------------------------------

std::string device_spec(const std::string& kind, const std::vector<std::string>& names,
                        const std::string& env) {
    std::string devices;
    for (const auto& n : names) {
        devices += (devices.empty() ? "" : ",") + std::string(R"({"name": ")") + n +
                   R"(", "containerEdits": {"env": [")" + env + R"("]}})";
    }
    return R"({"cdiVersion": "0.5.0", "kind": ")" + kind + R"(", "devices": [)" + devices + "]}";
}

TEST(CdiRegistry, FoldersInOrderFilesByNameLaterFolderWins) {
    test::TempTree t;
    t.write("etc/b.yaml", "cdiVersion: 0.5.0\nkind: v.com/gpu\ndevices:\n"
                          "- {name: '1', containerEdits: {env: [FROM=etc-b]}}\n");
    t.write("etc/a.json", device_spec("v.com/gpu", {"0", "1x"}, "FROM=etc-a"));
    t.write("etc/c.yml", device_spec("v.com/nic", {"ib0"}, "FROM=etc-c"));
    t.write("etc/notes.txt", "not a spec");
    t.mkdir("etc/dir.json");
    t.write("run/z.json", device_spec("v.com/gpu", {"0"}, "FROM=run"));
    const std::string etc = (t / "etc").string(), run = (t / "run").string();
    const Registry r = Registry::load({etc, (t / "missing").string(), run}, true);
    ASSERT_EQ(r.specs.size(), 4u);
    EXPECT_EQ(r.specs[0].file, etc + "/a.json");
    EXPECT_EQ(r.specs[1].file, etc + "/b.yaml");
    EXPECT_EQ(r.specs[2].file, etc + "/c.yml");
    EXPECT_EQ(r.specs[3].file, run + "/z.json");
    EXPECT_EQ(r.specs[0].priority, 0);
    EXPECT_EQ(r.specs[3].priority, 2);
    EXPECT_EQ(r.dirs.size(), 3u);
    EXPECT_EQ(r.device_names(), (std::vector<std::string>{"v.com/gpu=0", "v.com/gpu=1",
                                                          "v.com/gpu=1x", "v.com/nic=ib0"}));
    const ContainerEdits e = device_edits(r, {"v.com/gpu=0", "v.com/gpu=1"}, {});
    EXPECT_EQ(e.env, (std::vector<std::string>{"FROM=run", "FROM=etc-b"}));
}

TEST(CdiRegistry, TwoSpecsOfOneFolderNamingADeviceConflict) {
    test::TempTree t;
    t.write("etc/a.json", device_spec("v.com/gpu", {"0", "1"}, "FROM=a"));
    t.write("etc/b.json", device_spec("v.com/gpu", {"1", "2"}, "FROM=b"));
    const std::string etc = (t / "etc").string();
    try {
        Registry::load({etc}, true);
        ADD_FAILURE() << "loaded";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), etc + "/b.json: device v.com/gpu=1 is also in " + etc +
                                             "/a.json, in the same folder; ignored here");
    }
    testing::internal::CaptureStderr();
    const Registry r = Registry::load({etc}, false);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("husk: warning: " + etc + "/b.json: device v.com/gpu=1 is also in"),
              std::string::npos);
    EXPECT_EQ(device_edits(r, {"v.com/gpu=1"}, {}).env, std::vector<std::string>{"FROM=a"});
    EXPECT_EQ(device_edits(r, {"v.com/gpu=2"}, {}).env, std::vector<std::string>{"FROM=b"});
}

TEST(CdiRegistry, ABadSpecFailsWhenStrictAndIsSkippedOtherwise) {
    test::TempTree t;
    t.write("etc/a.json", device_spec("v.com/gpu", {"0"}, "A=1"));
    t.write("etc/bad.yaml", "cdiVersion: 0.5.0\nkind: v.com/x\nfoo: 1\n");
    const std::string etc = (t / "etc").string();
    try {
        Registry::load({etc}, true);
        ADD_FAILURE() << "loaded";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), etc + "/bad.yaml: foo: unknown field (cdiVersion 0.5.0 "
                                               "has cdiVersion, kind, devices, containerEdits)");
    }
    testing::internal::CaptureStderr();
    const Registry r = Registry::load({etc}, false);
    EXPECT_NE(testing::internal::GetCapturedStderr().find("bad.yaml: foo: unknown field"),
              std::string::npos);
    EXPECT_EQ(r.device_names(), std::vector<std::string>{"v.com/gpu=0"});
    EXPECT_TRUE(Registry::load({(t / "none").string()}, true).specs.empty());
    // A folder that is there but cannot be read is an error either way.
    t.symlink("loop", "loop");
    for (const bool strict : {true, false}) {
        try {
            Registry::load({(t / "loop").string()}, strict);
            ADD_FAILURE() << "loaded";
        } catch (const Error& e) {
            EXPECT_EQ(std::string(e.what()).rfind(
                          "cannot read the CDI spec folder " + (t / "loop").string() + " (", 0),
                      0u)
                << e.what();
        }
    }
}

// -- Container edits ----------------------------------------------------------

Registry registry_of(const std::vector<std::string>& texts) {
    Registry r;
    for (size_t i = 0; i < texts.size(); ++i) {
        r.specs.push_back(parse_spec(texts[i], "/etc/cdi/s" + std::to_string(i) + ".json"));
    }
    r.dirs = {"/etc/cdi", "/var/run/cdi"};
    return r;
}

std::string edits_error(const Registry& r, const std::vector<std::string>& names,
                        const HookContext& ctx = {}) {
    try {
        device_edits(r, names, ctx);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(CdiEdits, DeviceNodesAreCheckedAgainstTheHost) {
    const auto reg = [](const std::string& node) {
        return registry_of({json_spec("0.5.0", R"("deviceNodes": [)" + node + "]")});
    };
    // /dev/null: c 1:3.
    ContainerEdits e =
        device_edits(reg(R"({"path": "/dev/null", "type": "c", "major": 1, "minor": 3})"),
                     {"vendor.com/device=dev0"}, {});
    ASSERT_EQ(e.device_nodes.size(), 1u);
    EXPECT_EQ(e.device_nodes[0],
              (DeviceNode{"/dev/null", "/dev/null", "vendor.com/device=dev0 (/etc/cdi/s0.json)"}));
    EXPECT_FALSE(e.needs_new_paths);
    e = device_edits(reg(R"({"path": "/dev/zero0", "hostPath": "/dev/null", "type": "u"})"),
                     {"vendor.com/device=dev0"}, {});
    EXPECT_EQ(e.device_nodes[0].path, "/dev/zero0");
    EXPECT_EQ(e.device_nodes[0].host_path, "/dev/null");
    EXPECT_EQ(edits_error(reg(R"({"path": "/dev/null", "type": "b"})"), {"vendor.com/device=dev0"}),
              "/etc/cdi/s0.json: vendor.com/device=dev0: device node /dev/null: host node "
              "/dev/null: a character device, the spec says type b");
    EXPECT_EQ(edits_error(reg(R"({"path": "/dev/null", "major": 1, "minor": 4})"),
                          {"vendor.com/device=dev0"}),
              "/etc/cdi/s0.json: vendor.com/device=dev0: device node /dev/null: host node "
              "/dev/null: device 1:3, the spec says 1:4");
    EXPECT_EQ(
        edits_error(reg(R"({"path": "/dev/null", "major": 195})"), {"vendor.com/device=dev0"}),
        "/etc/cdi/s0.json: vendor.com/device=dev0: device node /dev/null: host node "
        "/dev/null: device 1:3, the spec says 195:*");
    const std::string missing =
        edits_error(reg(R"({"path": "/dev/husk-no-such-node"})"), {"vendor.com/device=dev0"});
    EXPECT_EQ(missing.rfind("/etc/cdi/s0.json: vendor.com/device=dev0: device node "
                            "/dev/husk-no-such-node: host node /dev/husk-no-such-node",
                            0),
              0u)
        << missing;
    EXPECT_NE(missing.find("No such file"), std::string::npos) << missing;
}

TEST(CdiEdits, DeviceNodesBelowTheHostRoot) {
    test::TempTree t;
    t.mkdir("dev");
    ASSERT_EQ(::mkfifo((t / "dev/fifo").c_str(), 0600), 0);
    t.write("dev/file", "");
    t.symlink("fifo", "dev/link");
    const Registry r = registry_of({json_spec("0.5.0", R"("deviceNodes": [
        {"path": "/dev/fifo", "type": "p"}, {"path": "/dev/f2", "hostPath": "/dev/fifo"}])")});
    const HookContext ctx{t.root().string() + "/"};
    const ContainerEdits e = device_edits(r, {"vendor.com/device=dev0"}, ctx);
    ASSERT_EQ(e.device_nodes.size(), 2u);
    EXPECT_EQ(e.device_nodes[0].host_path, t.root().string() + "/dev/fifo");
    EXPECT_EQ(e.device_nodes[1].path, "/dev/f2");
    EXPECT_EQ(e.device_nodes[1].host_path, t.root().string() + "/dev/fifo");
    for (const char* bad : {"file", "link"}) {
        const Registry b = registry_of(
            {json_spec("0.5.0", std::string(R"("deviceNodes": [{"path": "/dev/)") + bad + "\"}]")});
        EXPECT_EQ(edits_error(b, {"vendor.com/device=dev0"}, ctx),
                  std::string("/etc/cdi/s0.json: vendor.com/device=dev0: device node /dev/") + bad +
                      ": host node " + t.root().string() + "/dev/" + bad + ": not a device node");
    }
    const Registry c =
        registry_of({json_spec("0.5.0", R"("deviceNodes": [{"path": "/dev/fifo", "type": "c"}])")});
    EXPECT_NE(edits_error(c, {"vendor.com/device=dev0"}, ctx).find("a fifo, the spec says type c"),
              std::string::npos);
}

TEST(CdiEdits, BlockDeviceNodes) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "mknod of a block device needs root";
    }
    test::TempTree t;
    t.mkdir("dev");
    ASSERT_EQ(::mknod((t / "dev/sdz").c_str(), S_IFBLK | 0600, makedev(8, 16)), 0);
    const Registry r = registry_of({json_spec(
        "0.5.0",
        R"("deviceNodes": [{"path": "/dev/sdz", "type": "b", "major": 8, "minor": 16}])")});
    const HookContext ctx{t.root().string()};
    EXPECT_EQ(device_edits(r, {"vendor.com/device=dev0"}, ctx).device_nodes[0].host_path,
              t.root().string() + "/dev/sdz");
    const Registry c =
        registry_of({json_spec("0.5.0", R"("deviceNodes": [{"path": "/dev/sdz", "type": "c"}])")});
    EXPECT_NE(edits_error(c, {"vendor.com/device=dev0"}, ctx)
                  .find("a block device, the spec says type c"),
              std::string::npos);
}

TEST(CdiEdits, MountsBindsAndTmpfsOrderedByDepth) {
    const Registry r = registry_of({json_spec("0.5.0", R"("mounts": [
        {"hostPath": "/usr/lib/x/libv.so", "containerPath": "/usr/lib/x/libv.so", "options": ["ro", "nosuid", "nodev", "rbind", "rprivate"]},
        {"hostPath": "/opt/v", "containerPath": "/opt/v", "type": "bind", "options": ["rw"]},
        {"hostPath": "tmpfs", "containerPath": "/var/v", "type": "tmpfs", "options": ["size=64m", "nosuid"]},
        {"hostPath": "/a", "containerPath": "/b", "type": "none", "options": ["readonly", "bind"]},
        {"hostPath": "/opt/w", "containerPath": "/opt/v"}])")});
    const ContainerEdits e = device_edits(r, {"vendor.com/device=dev0"}, HookContext{"/fake/"});
    const std::string what = "vendor.com/device=dev0 (/etc/cdi/s0.json)";
    ASSERT_EQ(e.mounts.size(), 4u);
    EXPECT_EQ(e.mounts[0], (Mount{MountKind::Bind, "/fake/a", "/b", true, OnMissing::Fail, what}));
    EXPECT_EQ(e.mounts[1], (Mount{MountKind::Tmpfs, "", "/var/v", false, OnMissing::Fail, what}));
    EXPECT_EQ(e.mounts[2],
              (Mount{MountKind::Bind, "/fake/opt/w", "/opt/v", false, OnMissing::Fail, what}));
    EXPECT_EQ(e.mounts[3], (Mount{MountKind::Bind, "/fake/usr/lib/x/libv.so", "/usr/lib/x/libv.so",
                                  true, OnMissing::Fail, what}));
    EXPECT_TRUE(e.needs_new_paths);
    EXPECT_NE(std::find(e.notes.begin(), e.notes.end(),
                        what + ": tmpfs /var/v: option \"size=64m\" not applied"),
              e.notes.end());
}

TEST(CdiEdits, MountsOfOtherTypesOrOptionsAreRefused) {
    const Registry proc = registry_of({json_spec(
        "0.5.0",
        R"("mounts": [{"hostPath": "proc", "containerPath": "/proc2", "type": "proc"}])")});
    EXPECT_EQ(edits_error(proc, {"vendor.com/device=dev0"}),
              "/etc/cdi/s0.json: vendor.com/device=dev0: mount /proc2: type \"proc\": husk mounts "
              "only binds and tmpfs (no filesystems of other types without privilege)");
    const Registry none = registry_of({json_spec(
        "0.5.0", R"("mounts": [{"hostPath": "/x", "containerPath": "/x", "type": "none"}])")});
    EXPECT_NE(edits_error(none, {"vendor.com/device=dev0"}).find("type \"none\""),
              std::string::npos);
    // Whatever a path holds, the message is one line.
    const Registry nl = registry_of({json_spec(
        "0.5.0", R"("mounts": [{"hostPath": "p", "containerPath": "/a\nb", "type": "proc"}])")});
    EXPECT_EQ(
        edits_error(nl, {"vendor.com/device=dev0"})
            .rfind("/etc/cdi/s0.json: vendor.com/device=dev0: mount /a\\x0ab: type \"proc\"", 0),
        0u);
    const Registry opt = registry_of({json_spec(
        "0.5.0",
        R"("mounts": [{"hostPath": "/x", "containerPath": "/x", "options": ["ro", "idmap"]}])")});
    EXPECT_EQ(
        edits_error(opt, {"vendor.com/device=dev0"}),
        "/etc/cdi/s0.json: vendor.com/device=dev0: mount /x: option \"idmap\" is not one husk "
        "applies");
}

std::string hook_spec(const std::string& path, const std::vector<std::string>& args) {
    std::string a;
    for (const auto& s : args) {
        a += (a.empty() ? "\"" : ", \"") + s + "\"";
    }
    return json_spec("0.5.0", R"("hooks": [{"hookName": "createContainer", "path": ")" + path +
                                  R"(", "args": [)" + a + "]}]");
}

ContainerEdits hook_edits(const std::string& path, const std::vector<std::string>& args) {
    return device_edits(registry_of({hook_spec(path, args)}), {"vendor.com/device=dev0"}, {});
}

TEST(CdiEdits, CreateSymlinksHooksAreSymlinkEdits) {
    const std::string what = "vendor.com/device=dev0 (/etc/cdi/s0.json): hook create-symlinks";
    ContainerEdits e = hook_edits("/usr/bin/nvidia-cdi-hook",
                                  {"nvidia-cdi-hook", "create-symlinks", "--link",
                                   "libcuda.so.1::/usr/lib/libcuda.so", "--link=a::b,c::/d",
                                   "-link", "libnvidia-ml.so.1::/usr/lib/libnvidia-ml.so", "--link",
                                   "other::/usr/lib/libcuda.so"});
    ASSERT_EQ(e.mounts.size(), 4u);
    EXPECT_EQ(e.mounts[0], (Mount{MountKind::Symlink, "a", "/b", false, OnMissing::Warn, what}));
    EXPECT_EQ(e.mounts[1], (Mount{MountKind::Symlink, "c", "/d", false, OnMissing::Warn, what}));
    EXPECT_EQ(e.mounts[2].target, "/usr/lib/libnvidia-ml.so");
    EXPECT_EQ(e.mounts[3], (Mount{MountKind::Symlink, "other", "/usr/lib/libcuda.so", false,
                                  OnMissing::Warn, what}));
    EXPECT_TRUE(e.needs_new_paths);
    // nvidia-ctk does not cut a link at commas; its hooks are "hook SUBCOMMAND".
    e = hook_edits("/usr/local/bin/nvidia-ctk",
                   {"nvidia-ctk", "--debug", "hook", "create-symlinks", "--link", "x,y::/z"});
    ASSERT_EQ(e.mounts.size(), 1u);
    EXPECT_EQ(e.mounts[0].source, "x,y");
    EXPECT_EQ(e.mounts[0].target, "/z");
}

TEST(CdiEdits, SymlinksComeAfterTheMounts) {
    const Registry r = registry_of({json_spec("0.5.0", R"(
        "hooks": [{"hookName": "createContainer", "path": "/usr/bin/nvidia-cdi-hook",
                   "args": ["nvidia-cdi-hook", "create-symlinks", "--link", "a::/l"]}],
        "mounts": [{"hostPath": "/x", "containerPath": "/x/y/z"}])")});
    const ContainerEdits e = device_edits(r, {"vendor.com/device=dev0"}, {});
    ASSERT_EQ(e.mounts.size(), 2u);
    EXPECT_EQ(e.mounts[0].kind, MountKind::Bind);
    EXPECT_EQ(e.mounts[1].kind, MountKind::Symlink);
}

TEST(CdiEdits, UpdateLdcacheFoldersGoToLdLibraryPathOnce) {
    const ContainerEdits e =
        hook_edits("/usr/bin/nvidia-cdi-hook",
                   {"nvidia-cdi-hook", "update-ldcache", "--folder", "/usr/lib/x86_64-linux-gnu",
                    "--folder=/usr/lib/vdpau", "--ldconfig-path", "/sbin/ldconfig", "--folder",
                    "/usr/lib/x86_64-linux-gnu"});
    EXPECT_EQ(e.ld_library_path,
              (std::vector<std::string>{"/usr/lib/x86_64-linux-gnu", "/usr/lib/vdpau"}));
    EXPECT_TRUE(e.mounts.empty());
    EXPECT_FALSE(e.needs_new_paths);
    EXPECT_EQ(hook_edits("/usr/bin/nvidia-ctk",
                         {"nvidia-ctk", "hook", "update-ldcache", "--folder", "/opt/lib"})
                  .ld_library_path,
              std::vector<std::string>{"/opt/lib"});
}

TEST(CdiEdits, HooksWithNothingToDoLeaveANote) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"nvidia-cdi-hook", "enable-cuda-compat", "--host-driver-version=570.86.15"},
             {"nvidia-cdi-hook", "disable-device-node-modification"},
             {"nvidia-cdi-hook", "update-application-profile"},
             {"nvidia-ctk", "hook", "enable-cuda-compat", "--host-driver-version", "570"}}) {
        SCOPED_TRACE(args[1]);
        const ContainerEdits e = hook_edits("/usr/bin/" + args[0], args);
        EXPECT_TRUE(e.mounts.empty());
        EXPECT_TRUE(e.ld_library_path.empty());
        ASSERT_EQ(e.notes.size(), 1u);
        EXPECT_EQ(e.notes[0].rfind("vendor.com/device=dev0 (/etc/cdi/s0.json): hook ", 0), 0u);
    }
}

TEST(CdiEdits, OtherHooksAreRefused) {
    const auto refused = [](const std::string& path, const std::vector<std::string>& args,
                            const std::string& expected) {
        const std::string msg =
            edits_error(registry_of({hook_spec(path, args)}), {"vendor.com/device=dev0"});
        SCOPED_TRACE(path);
        EXPECT_EQ(msg.rfind("/etc/cdi/s0.json: vendor.com/device=dev0: hook " + path, 0), 0u)
            << msg;
        EXPECT_NE(msg.find(expected), std::string::npos) << msg;
    };
    refused("/usr/bin/nvidia-cdi-hook",
            {"nvidia-cdi-hook", "chmod", "--mode", "755", "--path", "/dev/dri"},
            "hook /usr/bin/nvidia-cdi-hook chmod --mode 755 --path /dev/dri: husk does not run "
            "hooks, and interprets only");
    refused("/usr/bin/vendor-hook", {"vendor-hook", "setup"}, "husk does not run hooks");
    refused("/usr/bin/nvidia-ctk", {"nvidia-ctk", "cdi", "generate"}, "husk does not run hooks");
    refused("/usr/bin/nvidia-cdi-hook", {"nvidia-cdi-hook"}, "no hook named");
    refused("/usr/bin/nvidia-cdi-hook", {"nvidia-cdi-hook", "create-symlinks", "--force"},
            "unknown flag \"--force\" of create-symlinks");
    refused("/usr/bin/nvidia-cdi-hook", {"nvidia-cdi-hook", "create-symlinks", "--link"},
            "flag \"--link\" without its value");
    refused("/usr/bin/nvidia-cdi-hook", {"nvidia-cdi-hook", "create-symlinks", "--link", "a:/b"},
            "--link \"a:/b\" is not TARGET::LINK");
    refused("/usr/bin/nvidia-cdi-hook", {"nvidia-cdi-hook", "create-symlinks", "--link", "a::b::c"},
            "is not TARGET::LINK");
    refused("/usr/bin/nvidia-cdi-hook", {"nvidia-cdi-hook", "update-ldcache", "--folder", "lib"},
            "--folder \"lib\" is not an absolute path");
    refused("/usr/bin/nvidia-cdi-hook", {"nvidia-cdi-hook", "update-ldcache", "/lib"},
            "unexpected argument \"/lib\" of update-ldcache");
}

/// Two GPUs and a control node, as nvidia-ctk describes them (with its own
/// "all" device when `with_all`).
std::string gpus(bool with_all) {
    std::string s = R"({"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "devices": [
        {"name": "0", "containerEdits": {"env": ["G0=1"], "deviceNodes": [{"path": "/dev/null"}]}},
        {"name": "1", "containerEdits": {"env": ["G1=1"], "deviceNodes": [{"path": "/dev/zero"}]}},
        {"name": "2", "containerEdits": {"env": ["G2=1"], "deviceNodes": [{"path": "/dev/full"}]}})";
    if (with_all) {
        s += R"(, {"name": "all", "containerEdits": {"env": ["ALL=1"], "deviceNodes": [
            {"path": "/dev/null"}, {"path": "/dev/zero"}, {"path": "/dev/full"}]}})";
    }
    return s +
           R"(], "containerEdits": {"env": ["SPEC=1"], "deviceNodes": [{"path": "/dev/full"}]}})";
}

std::vector<std::string> paths(const std::vector<DeviceNode>& nodes) {
    std::vector<std::string> out;
    for (const auto& n : nodes) {
        out.push_back(n.path);
    }
    return out;
}

TEST(CdiEdits, SpecEditsOncePerSpecDevicesInTheOrderAskedHiddenNodes) {
    const Registry r =
        registry_of({gpus(false), json_spec("0.5.0", R"("env": ["NIC=1"])", "", "", "v.com/nic")});
    ContainerEdits e = device_edits(
        r, {"nvidia.com/gpu=1", "v.com/nic=dev0", "nvidia.com/gpu=0", "nvidia.com/gpu=1"}, {});
    EXPECT_EQ(e.env, (std::vector<std::string>{"SPEC=1", "G1=1", "NIC=1", "G0=1"}));
    EXPECT_EQ(paths(e.device_nodes),
              (std::vector<std::string>{"/dev/full", "/dev/zero", "/dev/null"}));
    // /dev/full is GPU 2's, and also the spec's own: not hidden.
    EXPECT_TRUE(e.hidden_device_nodes.empty());
    e = device_edits(r, {"nvidia.com/gpu=0"}, {});
    EXPECT_EQ(e.hidden_device_nodes, std::vector<std::string>{"/dev/zero"});
    EXPECT_TRUE(device_edits(r, {}, {}).env.empty());
}

TEST(CdiEdits, AllIsEveryDeviceUnlessTheSpecHasOne) {
    ContainerEdits e = device_edits(registry_of({gpus(false)}), {"nvidia.com/gpu=all"}, {});
    EXPECT_EQ(e.env, (std::vector<std::string>{"SPEC=1", "G0=1", "G1=1", "G2=1"}));
    EXPECT_TRUE(e.hidden_device_nodes.empty());
    e = device_edits(registry_of({gpus(true)}), {"nvidia.com/gpu=all", "nvidia.com/gpu=0"}, {});
    EXPECT_EQ(e.env, (std::vector<std::string>{"SPEC=1", "ALL=1", "G0=1"}));
    EXPECT_EQ(paths(e.device_nodes),
              (std::vector<std::string>{"/dev/zero", "/dev/full", "/dev/null"}));
    EXPECT_TRUE(e.hidden_device_nodes.empty());
    e = device_edits(registry_of({gpus(true)}), {"nvidia.com/gpu=1"}, {});
    EXPECT_EQ(e.hidden_device_nodes, std::vector<std::string>{"/dev/null"});
}

TEST(CdiEdits, UnknownNamesListWhatIsOffered) {
    const Registry r =
        registry_of({gpus(true), json_spec("0.5.0", R"("env": ["NIC=1"])", "", "", "v.com/nic")});
    EXPECT_EQ(edits_error(r, {"nvidia.com/gpu=0", "nvidia.com/gpu=7"}),
              "--device nvidia.com/gpu=7: no such device; nvidia.com/gpu offers: 0, 1, 2, all");
    EXPECT_EQ(edits_error(r, {"amd.com/gpu=0"}),
              "--device amd.com/gpu=0: no CDI spec of the node offers kind amd.com/gpu (specs read "
              "from /etc/cdi, /var/run/cdi; kinds offered: nvidia.com/gpu, v.com/nic)");
    EXPECT_EQ(edits_error(Registry{}, {"amd.com/gpu=all"}),
              "--device amd.com/gpu=all: no CDI spec of the node offers kind amd.com/gpu (kinds "
              "offered: none)");
    EXPECT_EQ(
        edits_error(r, {"nvidia.com/gpu"}),
        "--device nvidia.com/gpu: not a fully qualified CDI device name (vendor.com/class=name)");
}

TEST(CdiEdits, GidsRdtAndNetDevicesAreNotes) {
    const Registry r = registry_of({json_spec("1.1.0", R"(
        "additionalGids": [44, 45], "intelRdt": {"closID": "gpu"},
        "netDevices": [{"hostInterfaceName": "ib0", "name": "ib0"}])")});
    const ContainerEdits e = device_edits(r, {"vendor.com/device=dev0"}, {});
    ASSERT_EQ(e.notes.size(), 3u);
    EXPECT_NE(e.notes[0].find("additionalGids 44,45 not added"), std::string::npos);
    EXPECT_NE(e.notes[1].find("intelRdt closID \"gpu\" not applied"), std::string::npos);
    EXPECT_NE(e.notes[2].find("netDevices \"ib0\" not moved"), std::string::npos);
}

} // namespace
} // namespace husk::host::cdi
