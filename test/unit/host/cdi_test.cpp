#include "host/cdi.hpp"
#include "util/error.hpp"

#include "../support/cdi_spec.hpp"
#include "../support/temp_tree.hpp"

#include <gtest/gtest.h>

namespace husk::host::cdi {
namespace {

using test::json_spec;

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

TEST(CdiRegistry, ABadSpecIsSkippedAndNamedWhenADeviceIsNotFound) {
    test::TempTree t;
    t.write("etc/a.json", device_spec("v.com/gpu", {"0"}, "A=1"));
    t.write("etc/bad.yaml", "cdiVersion: 0.5.0\nkind: v.com/x\nfoo: 1\n");
    const std::string etc = (t / "etc").string();
    const std::string why = etc + "/bad.yaml: foo: unknown field (cdiVersion 0.5.0 has "
                                  "cdiVersion, kind, devices, containerEdits)";
    // husk run --device: kept for the caller, no warning yet.
    testing::internal::CaptureStderr();
    Registry r = Registry::load({etc}, true);
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
    EXPECT_EQ(r.unreadable, std::vector<std::string>{why});
    EXPECT_EQ(r.device_names(), std::vector<std::string>{"v.com/gpu=0"});
    // The other specs' devices are there; one that is not names the file.
    EXPECT_EQ(device_edits(r, {"v.com/gpu=0"}, {}).env, std::vector<std::string>{"A=1"});
    try {
        device_edits(r, {"v.com/x=a"}, {});
        ADD_FAILURE() << "applied";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "--device v.com/x=a: no CDI spec of the node offers kind v.com/x (specs "
                  "read from " +
                      etc + "; kinds offered: v.com/gpu); skipped: " + why);
    }
    try {
        device_edits(r, {"v.com/gpu=1"}, {});
        ADD_FAILURE() << "applied";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "--device v.com/gpu=1: no such device; v.com/gpu offers: 0; skipped: " + why);
    }
    // husk cdi list: a warning now.
    testing::internal::CaptureStderr();
    r = Registry::load({etc}, false);
    EXPECT_NE(testing::internal::GetCapturedStderr().find("husk: warning: " + why + " (skipped)"),
              std::string::npos);
    EXPECT_EQ(r.unreadable, std::vector<std::string>{why});
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

} // namespace
} // namespace husk::host::cdi
