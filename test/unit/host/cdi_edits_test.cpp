// The container edits of CDI devices (host/cdi_edits.cpp).
#include "host/cdi.hpp"
#include "util/error.hpp"

#include "../support/cdi_spec.hpp"
#include "../support/temp_tree.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace husk::host::cdi {
namespace {

using test::json_spec;

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
             {"nvidia-cdi-hook", "chmod", "--mode", "755", "--path", "/dev/dri", "--path",
              "/dev/nvidia-caps"},
             {"nvidia-ctk", "hook", "chmod", "--mode=0755", "--path=/dev/dri"},
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
    refused("/usr/bin/nvidia-cdi-hook", {"nvidia-cdi-hook", "mount-everything", "--path", "/"},
            "hook /usr/bin/nvidia-cdi-hook mount-everything --path /: husk does not run "
            "hooks, and interprets only");
    // chmod's flags, checked as the hook checks them.
    refused("/usr/bin/nvidia-cdi-hook", {"nvidia-cdi-hook", "chmod", "--path", "/dev/dri"},
            "chmod without a --mode");
    refused("/usr/bin/nvidia-cdi-hook", {"nvidia-cdi-hook", "chmod", "--mode", "", "--path", "/x"},
            "chmod without a --mode");
    refused("/usr/bin/nvidia-cdi-hook",
            {"nvidia-cdi-hook", "chmod", "--mode", "u+rwx", "--path", "/dev/dri"},
            "--mode \"u+rwx\" is not an octal file mode");
    refused("/usr/bin/nvidia-cdi-hook",
            {"nvidia-cdi-hook", "chmod", "--mode", "17777", "--path", "/dev/dri"},
            "--mode \"17777\" is not an octal file mode");
    refused("/usr/bin/nvidia-cdi-hook", {"nvidia-cdi-hook", "chmod", "--mode", "755", "--path="},
            "an empty --path");
    refused("/usr/bin/nvidia-cdi-hook",
            {"nvidia-cdi-hook", "chmod", "--mode", "755", "--recursive"},
            "unknown flag \"--recursive\" of chmod");
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
