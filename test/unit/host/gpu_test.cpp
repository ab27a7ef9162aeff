#include "host/gpu.hpp"

#include "image/files.hpp"
#include "util/error.hpp"
#include "util/path.hpp"
#include "util/text.hpp"

#include "../support/ld_cache.hpp"
#include "../support/temp_tree.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <tuple>
#include <unistd.h>

namespace husk::host::gpu {
namespace {

namespace fs = std::filesystem;

const char* const kLibDir = "/usr/lib/x86_64-linux-gnu";

/// An ld.so.cache with `entries` (soname, path), all for this machine.
std::string make_cache(const std::vector<std::pair<std::string, std::string>>& entries) {
    std::vector<std::tuple<std::string, std::string, int>> all;
    for (const auto& [soname, path] : entries) {
        all.emplace_back(soname, path, test::kX8664Libc6);
    }
    return test::make_ld_cache(all);
}

/// A real x86-64 shared object of this machine, to copy under the driver's names.
std::string real_shared_object() {
    for (const char* p : {"/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libc.so.6"}) {
        const std::string real = path::canonical(p);
        if (!real.empty()) {
            return real;
        }
    }
    return "";
}

void make_char_device(const fs::path& p, unsigned maj, unsigned min) {
    fs::create_directories(p.parent_path());
    ASSERT_EQ(::mknod(p.c_str(), S_IFCHR | 0666, makedev(maj, min)), 0) << p;
}

void make_socket(const fs::path& p) {
    fs::create_directories(p.parent_path());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    ASSERT_LT(p.string().size(), sizeof a.sun_path);
    std::strcpy(a.sun_path, p.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
    ::close(fd);
}

std::string real(const test::TempTree& t, const std::string& rel) {
    return path::canonical((t / rel).string());
}

/// A fake NVIDIA driver 550.54.15 with two GPUs whose bus order is not their
/// minor order: bus 0000:01:00.0 is /dev/nvidia1 (makedev(1, 5)), bus
/// 0000:02:00.0 /dev/nvidia0 (makedev(1, 3)).
class GpuNvidiaTree : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "making device nodes needs root";
        }
        elf_ = real_shared_object();
        if (elf_.empty()) {
            GTEST_SKIP() << "no shared object of this machine to copy";
        }
        make_char_device(t / "dev/nvidia0", 1, 3);
        make_char_device(t / "dev/nvidia1", 1, 5);
        make_char_device(t / "dev/nvidiactl", 1, 7);
        make_char_device(t / "dev/nvidia-uvm", 1, 8);
        make_char_device(t / "dev/nvidia-caps/nvidia-cap1", 1, 9);
        t.write("dev/nvidia-modeset", "not a device"); // skipped
        t.symlink("nvidia0", "dev/nvidia2");           // a link is no device
        t.write("proc/driver/nvidia/version",
                "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 "
                "22:23:56 UTC 2024\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n");
        info("0000:01:00.0", 1, "GPU-11111111-2222-3333-4444-555555555555");
        info("0000:02:00.0", 0, "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");

        lib("libcuda.so.550.54.15", "libcuda.so.1");
        t.symlink("libcuda.so.1", std::string(kLibDir).substr(1) + "/libcuda.so");
        lib("libnvidia-ml.so.550.54.15", "libnvidia-ml.so.1");
        lib("libnvidia-cfg.so.535.104.05", "libnvidia-cfg.so.1"); // of another driver
        lib("libnvidia-encode.so.550.54.15", "libnvidia-encode.so.1");
        lib("libnvidia-glcore.so.550.54.15", "");
        lib("libnvidia-ngx.so.550.54.15", "libnvidia-ngx.so.1");
        lib("libz.so.1.2.13", "libz.so.1"); // not the driver's
        write_cache();

        t.write("usr/bin/nvidia-smi", "smi");
        t.write("opt/nvidia/bin/nvidia-debugdump", "dump");
        t.symlink("/opt/nvidia/bin/nvidia-debugdump", "usr/bin/nvidia-debugdump"); // in the tree
        t.symlink("../../../../../../../../../../etc/passwd", "usr/bin/nvidia-persistenced");
        t.mkdir("usr/bin/nvidia-cuda-mps-control"); // not a file
        t.write("usr/bin/nvidia-cuda-mps-server", "mps");
        t.write("lib/firmware/nvidia/550.54.15/gsp_ga10x.bin", "fw");
        t.write("lib/firmware/nvidia/550.54.15/gsp_tu10x.bin", "fw");
        t.write("lib/firmware/nvidia/550.54.15/README", "not firmware");
        t.write("lib/firmware/nvidia/535.104.05/gsp_ga10x.bin", "old");
        make_socket(t / "run/nvidia-persistenced/socket");
        o.host_root = t.root().string();
    }

    void info(const std::string& bus, int minor, const std::string& uuid) const {
        t.write("proc/driver/nvidia/gpus/" + bus + "/information",
                "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 42\nGPU UUID: \t " + uuid +
                    "\nVideo BIOS: \t 96.00.99.00.01\nBus Type: \t PCIe\nDMA Size: \t 52 "
                    "bits\nDevice Minor: \t " +
                    std::to_string(minor) + "\nBus Location: \t " + bus + "\n");
    }

    /// A copy of a real library as `file` in kLibDir, with the link `soname`
    /// to it and a cache entry (by the file's own name without a soname).
    void lib(const std::string& file, const std::string& soname) {
        t.mkdir(std::string(kLibDir).substr(1));
        fs::copy_file(elf_, t / (std::string(kLibDir).substr(1) + "/" + file),
                      fs::copy_options::overwrite_existing);
        const std::string name = soname.empty() ? file : soname;
        if (!soname.empty()) {
            t.symlink(file, std::string(kLibDir).substr(1) + "/" + soname);
        }
        cache_.emplace_back(name, std::string(kLibDir) + "/" + name);
    }

    void write_cache() const {
        auto entries = cache_;
        entries.emplace_back("libcuda.so", std::string(kLibDir) + "/libcuda.so"); // a dev link
        t.write("etc/ld.so.cache", make_cache(entries));
    }

    /// The container paths of the spec's own mounts.
    static std::vector<std::string> targets(const cdi::Spec& s) {
        std::vector<std::string> out;
        for (const auto& m : s.edits.mounts) {
            out.push_back(m.container_path);
        }
        return out;
    }

    static const cdi::SpecMount* mount_at(const cdi::Spec& s, const std::string& target) {
        for (const auto& m : s.edits.mounts) {
            if (m.container_path == target) {
                return &m;
            }
        }
        return nullptr;
    }

    static bool has(const std::vector<std::string>& v, const std::string& x) {
        return std::find(v.begin(), v.end(), x) != v.end();
    }

    test::TempTree t;
    DiscoverOptions o;
    std::string elf_;
    std::vector<std::pair<std::string, std::string>> cache_;
};

TEST(GpuVendor, Parses) {
    EXPECT_EQ(parse_vendor("nvidia", "--gpu"), Vendor::Nvidia);
    EXPECT_EQ(parse_vendor("amd", "--gpu"), Vendor::Amd);
    try {
        parse_vendor("intel", "--gpu");
        FAIL() << "intel was taken";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--gpu: \"intel\""), std::string::npos) << e.what();
    }
}

TEST(GpuDiscover, NoDriverIsNone) {
    test::TempTree t;
    t.write("dev/null-ish", "");
    EXPECT_EQ(discover_nvidia({t.root().string(), "compute,utility"}), std::nullopt);
    EXPECT_EQ(discover_amd({t.root().string(), ""}), std::nullopt);
    EXPECT_EQ(discover_nvidia({(t / "missing").string(), ""}), std::nullopt);
    // Regular files where the nodes should be are no driver either.
    t.write("dev/nvidiactl", "");
    t.write("dev/nvidia0", "");
    t.write("dev/kfd", "");
    EXPECT_EQ(discover_nvidia({t.root().string(), ""}), std::nullopt);
    EXPECT_EQ(discover_amd({t.root().string(), ""}), std::nullopt);
}

TEST(GpuNodeVendor, ByTheControlNodeNvidiaFirst) {
    test::TempTree t;
    EXPECT_EQ(node_vendor(t.root().string()), std::nullopt);
    EXPECT_EQ(node_vendor((t / "missing").string()), std::nullopt);
    t.write("dev/nvidiactl", ""); // regular files are no driver
    t.write("dev/kfd", "");
    EXPECT_EQ(node_vendor(t.root().string()), std::nullopt);
    if (::geteuid() != 0) {
        GTEST_SKIP() << "making device nodes needs root";
    }
    fs::remove(t / "dev/kfd");
    make_char_device(t / "dev/kfd", 1, 3);
    EXPECT_EQ(node_vendor(t.root().string()), Vendor::Amd);
    // A link to a device node is not the driver's node.
    make_char_device(t / "elsewhere/nvidia0", 1, 3);
    fs::create_symlink("../elsewhere/nvidia0", t / "dev/nvidia0");
    EXPECT_EQ(node_vendor(t.root().string()), Vendor::Amd);
    fs::remove(t / "dev/nvidiactl");
    make_char_device(t / "dev/nvidiactl", 1, 3);
    EXPECT_EQ(node_vendor(t.root().string()), Vendor::Nvidia);
}

TEST(GpuDiscover, AnUnknownCapabilityIsAnError) {
    test::TempTree t;
    try {
        discover_nvidia({t.root().string(), "compute, graphic"});
        FAIL() << "graphic was taken";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("NVIDIA_DRIVER_CAPABILITIES"), std::string::npos) << what;
        EXPECT_NE(what.find("\"graphic\""), std::string::npos) << what;
    }
}

TEST_F(GpuNvidiaTree, DevicesInBusOrderWithTheirUuids) {
    const auto spec = discover_nvidia(o);
    ASSERT_TRUE(spec);
    EXPECT_EQ(spec->kind, "nvidia.com/gpu");
    EXPECT_EQ(spec->version, "0.6.0"); // annotations
    ASSERT_EQ(spec->devices.size(), 2U);
    const auto& d0 = spec->devices[0];
    EXPECT_EQ(d0.name, "0");
    EXPECT_EQ(d0.annotations,
              (std::vector<std::string>{"bus=0000:01:00.0",
                                        "uuid=GPU-11111111-2222-3333-4444-555555555555"}));
    ASSERT_EQ(d0.edits.device_nodes.size(), 1U);
    const auto& n0 = d0.edits.device_nodes[0];
    EXPECT_EQ(n0.path, "/dev/nvidia1");
    EXPECT_EQ(n0.host_path, real(t, "dev/nvidia1")); // the real host path
    EXPECT_EQ(n0.type, "c");
    EXPECT_EQ(n0.major, 1);
    EXPECT_EQ(n0.minor, 5);
    const auto& d1 = spec->devices[1];
    EXPECT_EQ(d1.name, "1");
    EXPECT_EQ(d1.edits.device_nodes.at(0).path, "/dev/nvidia0");
    EXPECT_EQ(d1.edits.device_nodes.at(0).minor, 3);
    EXPECT_EQ(d1.annotations.at(1), "uuid=GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");

    std::vector<std::string> own;
    for (const auto& n : spec->edits.device_nodes) {
        own.push_back(n.path);
        EXPECT_EQ(n.host_path, real(t, n.path.substr(1)));
    }
    EXPECT_EQ(own, (std::vector<std::string>{"/dev/nvidiactl", "/dev/nvidia-uvm",
                                             "/dev/nvidia-caps/nvidia-cap1"}));
}

/// `spec` written as JSON or YAML and read back: equal when it is a valid
/// spec of its cdiVersion (parse_spec() refuses fields newer than that).
void expect_round_trip(cdi::Spec spec, bool yaml) {
    const std::string text = cdi::write_spec(spec, yaml);
    spec.file = "generated";
    EXPECT_EQ(cdi::parse_spec(text, "generated"), spec) << text;
}

TEST_F(GpuNvidiaTree, TheSpecIsAValidCdiSpecOfItsVersion) {
    o.capabilities = "all";
    const auto spec = discover_nvidia(o);
    ASSERT_TRUE(spec);
    expect_round_trip(*spec, false);
    expect_round_trip(*spec, true);
    fs::remove_all(t / "proc/driver/nvidia/gpus");
    const auto older = discover_nvidia(o);
    ASSERT_TRUE(older);
    EXPECT_EQ(older->version, "0.5.0");
    expect_round_trip(*older, false);
}

/// Each device of `spec` as its node's path and its annotations.
std::vector<std::string> gpus_of(const cdi::Spec& spec) {
    std::vector<std::string> out;
    for (const auto& d : spec.devices) {
        out.push_back(d.edits.device_nodes.at(0).path + " " + text::join(d.annotations, ","));
    }
    return out;
}

TEST_F(GpuNvidiaTree, ByMinorNumberWithoutTheDriversGpuFolder) {
    fs::remove_all(t / "proc/driver/nvidia/gpus");
    const auto spec = discover_nvidia(o);
    ASSERT_TRUE(spec);
    EXPECT_EQ(spec->version, "0.5.0"); // names that start with a digit, hostPath
    EXPECT_EQ(gpus_of(*spec), (std::vector<std::string>{"/dev/nvidia0 ", "/dev/nvidia1 "}));
}

TEST_F(GpuNvidiaTree, ByMinorNumberWhenTheBusOrderIsNotAsked) {
    // The driver lists /dev/nvidia1 first (DevicesInBusOrderWithTheirUuids).
    o.bus_order = false;
    const auto spec = discover_nvidia(o);
    ASSERT_TRUE(spec);
    EXPECT_EQ(gpus_of(*spec), (std::vector<std::string>{"/dev/nvidia0 ", "/dev/nvidia1 "}));
}

TEST_F(GpuNvidiaTree, AGpuTheDriverDoesNotListComesAfterTheListed) {
    fs::remove_all(t / "proc/driver/nvidia/gpus/0000:02:00.0");
    info("0000:03:00.0", 7, "GPU-77777777-0000-0000-0000-000000000000"); // no /dev/nvidia7
    const auto spec = discover_nvidia(o);
    ASSERT_TRUE(spec);
    EXPECT_EQ(gpus_of(*spec),
              (std::vector<std::string>{
                  "/dev/nvidia1 bus=0000:01:00.0,uuid=GPU-11111111-2222-3333-4444-555555555555",
                  "/dev/nvidia0 "}));
}

TEST_F(GpuNvidiaTree, LibrariesByCapability) {
    const std::string dir = kNvidiaLibDir;
    auto spec = discover_nvidia(o); // compute,utility
    ASSERT_TRUE(spec);
    auto at = targets(*spec);
    EXPECT_TRUE(has(at, dir + "/libcuda.so.1"));
    EXPECT_TRUE(has(at, dir + "/libnvidia-ml.so.1"));
    EXPECT_FALSE(has(at, dir + "/libcuda.so"));         // the development link
    EXPECT_FALSE(has(at, dir + "/libnvidia-cfg.so.1")); // another driver's
    EXPECT_FALSE(has(at, dir + "/libnvidia-encode.so.1"));
    EXPECT_FALSE(has(at, dir + "/libnvidia-glcore.so.550.54.15"));
    EXPECT_FALSE(has(at, dir + "/libnvidia-ngx.so.1"));
    EXPECT_FALSE(has(at, dir + "/libz.so.1"));
    const cdi::SpecMount* cuda = mount_at(*spec, dir + "/libcuda.so.1");
    ASSERT_NE(cuda, nullptr);
    EXPECT_EQ(cuda->host_path, real(t, std::string(kLibDir).substr(1) + "/libcuda.so.550.54.15"));
    EXPECT_EQ(cuda->options, (std::vector<std::string>{"ro", "nosuid", "nodev", "bind"}));
    ASSERT_EQ(spec->edits.hooks.size(), 1U);
    EXPECT_EQ(spec->edits.hooks[0].hook_name, "createContainer");
    EXPECT_EQ(spec->edits.hooks[0].path, "/usr/bin/nvidia-cdi-hook");
    EXPECT_EQ(spec->edits.hooks[0].args,
              (std::vector<std::string>{"nvidia-cdi-hook", "update-ldcache", "--folder", dir}));

    o.capabilities = "all";
    spec = discover_nvidia(o);
    ASSERT_TRUE(spec);
    at = targets(*spec);
    for (const char* name : {"/libcuda.so.1", "/libnvidia-ml.so.1", "/libnvidia-encode.so.1",
                             "/libnvidia-glcore.so.550.54.15", "/libnvidia-ngx.so.1"}) {
        EXPECT_TRUE(has(at, dir + name)) << name;
    }
    EXPECT_FALSE(has(at, dir + "/libnvidia-cfg.so.1"));

    o.capabilities = "video"; // implies compute, not utility
    spec = discover_nvidia(o);
    ASSERT_TRUE(spec);
    at = targets(*spec);
    EXPECT_TRUE(has(at, dir + "/libnvidia-encode.so.1"));
    EXPECT_TRUE(has(at, dir + "/libcuda.so.1"));
    EXPECT_FALSE(has(at, dir + "/libnvidia-ml.so.1"));
    EXPECT_FALSE(has(at, "/usr/bin/nvidia-smi"));
}

TEST_F(GpuNvidiaTree, ALibraryThatIsNoElfObjectIsAnErrorNamingIt) {
    t.write(std::string(kLibDir).substr(1) + "/libcuda.so.550.54.15", "not ELF\n");
    try {
        discover_nvidia(o);
        FAIL() << "a text file was taken for libcuda";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("libcuda.so.1"), std::string::npos) << e.what();
    }
}

TEST_F(GpuNvidiaTree, AMalformedLinkerCacheIsAnError) {
    t.write("etc/ld.so.cache", "glibc-ld.so.cache1.1 but short");
    EXPECT_THROW(discover_nvidia(o), Error);
}

TEST_F(GpuNvidiaTree, BinariesFirmwareAndSocketInsideTheTree) {
    auto spec = discover_nvidia(o);
    ASSERT_TRUE(spec);
    const cdi::SpecMount* smi = mount_at(*spec, "/usr/bin/nvidia-smi");
    ASSERT_NE(smi, nullptr);
    EXPECT_EQ(smi->host_path, real(t, "usr/bin/nvidia-smi"));
    EXPECT_EQ(smi->options, (std::vector<std::string>{"ro", "nosuid", "nodev", "bind"}));
    const cdi::SpecMount* dump = mount_at(*spec, "/usr/bin/nvidia-debugdump");
    ASSERT_NE(dump, nullptr); // its absolute link resolved inside the tree
    EXPECT_EQ(dump->host_path, real(t, "opt/nvidia/bin/nvidia-debugdump"));
    const auto at = targets(*spec);
    EXPECT_FALSE(has(at, "/usr/bin/nvidia-persistenced"));     // its link leaves the tree
    EXPECT_FALSE(has(at, "/usr/bin/nvidia-cuda-mps-control")); // a folder
    EXPECT_TRUE(has(at, "/usr/bin/nvidia-cuda-mps-server"));
    EXPECT_TRUE(has(at, "/lib/firmware/nvidia/550.54.15/gsp_ga10x.bin"));
    EXPECT_TRUE(has(at, "/lib/firmware/nvidia/550.54.15/gsp_tu10x.bin"));
    EXPECT_FALSE(has(at, "/lib/firmware/nvidia/550.54.15/README"));
    EXPECT_FALSE(has(at, "/lib/firmware/nvidia/535.104.05/gsp_ga10x.bin"));
    const cdi::SpecMount* sock = mount_at(*spec, "/run/nvidia-persistenced/socket");
    ASSERT_NE(sock, nullptr);
    EXPECT_EQ(sock->host_path, real(t, "run/nvidia-persistenced/socket"));

    o.capabilities = "utility";
    spec = discover_nvidia(o);
    ASSERT_TRUE(spec);
    EXPECT_FALSE(has(targets(*spec), "/usr/bin/nvidia-cuda-mps-server"));
    EXPECT_TRUE(has(targets(*spec), "/usr/bin/nvidia-smi"));
}

TEST_F(GpuNvidiaTree, TheVersionFromLibcudaWithoutTheDriversVersionFile) {
    fs::remove(t / "proc/driver/nvidia/version");
    const auto spec = discover_nvidia(o);
    ASSERT_TRUE(spec);
    EXPECT_TRUE(has(targets(*spec), "/lib/firmware/nvidia/550.54.15/gsp_ga10x.bin"));
    EXPECT_FALSE(has(targets(*spec), "/lib/firmware/nvidia/535.104.05/gsp_ga10x.bin"));
    EXPECT_FALSE(has(targets(*spec), std::string(kNvidiaLibDir) + "/libnvidia-cfg.so.1"));
}

std::vector<std::string> node_paths(const ContainerEdits& e) {
    std::vector<std::string> out;
    for (const auto& n : e.device_nodes) {
        out.push_back(n.path);
    }
    return out;
}

const Mount* mount_to(const ContainerEdits& e, const std::string& target) {
    for (const auto& m : e.mounts) {
        if (m.target == target) {
            return &m;
        }
    }
    return nullptr;
}

TEST_F(GpuNvidiaTree, EditsOfTheSelectedGpuTheOthersHidden) {
    // Device 1 is the GPU at bus 0000:02:00.0, /dev/nvidia0.
    const ContainerEdits e = gpu_edits(Vendor::Nvidia, o, {"CUDA_VISIBLE_DEVICES=1"}, nullptr);
    const auto nodes = node_paths(e);
    EXPECT_TRUE(has(nodes, "/dev/nvidia0"));
    EXPECT_TRUE(has(nodes, "/dev/nvidiactl"));
    EXPECT_TRUE(has(nodes, "/dev/nvidia-uvm"));
    EXPECT_FALSE(has(nodes, "/dev/nvidia1"));
    EXPECT_EQ(e.hidden_device_nodes, std::vector<std::string>{"/dev/nvidia1"});
    for (const auto& n : e.device_nodes) {
        EXPECT_EQ(n.host_path, real(t, n.path.substr(1)));
    }
    // CUDA numbers from 0 the GPUs it can open.
    EXPECT_EQ(e.env, std::vector<std::string>{"CUDA_VISIBLE_DEVICES=0"});
    // Slurm's selection, told to CUDA in its own variable.
    const ContainerEdits slurm =
        gpu_edits(Vendor::Nvidia, o, {"SLURM_STEP_GPUS=1", "CUDA_VISIBLE_DEVICES=0"}, nullptr);
    EXPECT_EQ(slurm.hidden_device_nodes, std::vector<std::string>{"/dev/nvidia1"});
    EXPECT_EQ(slurm.env, std::vector<std::string>{"CUDA_VISIBLE_DEVICES=0"});
    EXPECT_EQ(e.ld_library_path, std::vector<std::string>{kNvidiaLibDir});
    const Mount* cuda = mount_to(e, std::string(kNvidiaLibDir) + "/libcuda.so.1");
    ASSERT_NE(cuda, nullptr);
    EXPECT_EQ(cuda->kind, MountKind::Bind);
    EXPECT_TRUE(cuda->read_only);
    EXPECT_TRUE(cuda->exact_source);
    EXPECT_EQ(cuda->source, real(t, std::string(kLibDir).substr(1) + "/libcuda.so.550.54.15"));
    const Mount* sock = mount_to(e, "/run/nvidia-persistenced/socket");
    ASSERT_NE(sock, nullptr);
    EXPECT_TRUE(sock->exact_source); // the socket discovery found, as it is
    EXPECT_TRUE(e.needs_new_paths);
}

TEST_F(GpuNvidiaTree, EditsOfARootReachedThroughALink) {
    test::TempTree other;
    other.symlink(t.root().string() + "/", "root");
    o.host_root = (other / "root").string() + "/";
    const ContainerEdits e = gpu_edits(Vendor::Nvidia, o, {"CUDA_VISIBLE_DEVICES=0"}, nullptr);
    EXPECT_TRUE(has(node_paths(e), "/dev/nvidia1"));
    const Mount* cuda = mount_to(e, std::string(kNvidiaLibDir) + "/libcuda.so.1");
    ASSERT_NE(cuda, nullptr);
    EXPECT_EQ(cuda->source, real(t, std::string(kLibDir).substr(1) + "/libcuda.so.550.54.15"));
}

TEST_F(GpuNvidiaTree, EditsKeepUuidsAndTheOrderAsked) {
    ContainerEdits e =
        gpu_edits(Vendor::Nvidia, o,
                  {"CUDA_VISIBLE_DEVICES=1,GPU-11111111-2222-3333-4444-555555555555"}, nullptr);
    EXPECT_TRUE(e.hidden_device_nodes.empty());
    EXPECT_EQ(e.env, std::vector<std::string>{
                         "CUDA_VISIBLE_DEVICES=1,GPU-11111111-2222-3333-4444-555555555555"});
    // NVIDIA_VISIBLE_DEVICES is read by no CUDA: left alone.
    e = gpu_edits(Vendor::Nvidia, o,
                  {"NVIDIA_VISIBLE_DEVICES=GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}, nullptr);
    EXPECT_TRUE(e.env.empty());
    EXPECT_TRUE(has(node_paths(e), "/dev/nvidia0"));
    EXPECT_EQ(e.hidden_device_nodes, std::vector<std::string>{"/dev/nvidia1"});
}

TEST_F(GpuNvidiaTree, EditsWithNoGpuSelectedHideEveryGpu) {
    const ContainerEdits e = gpu_edits(Vendor::Nvidia, o, {"NVIDIA_VISIBLE_DEVICES=void"}, nullptr);
    const auto nodes = node_paths(e);
    EXPECT_TRUE(has(nodes, "/dev/nvidiactl"));
    EXPECT_FALSE(has(nodes, "/dev/nvidia0"));
    EXPECT_FALSE(has(nodes, "/dev/nvidia1"));
    // No GPU picked by name: the driver's bus order was not read.
    EXPECT_EQ(e.hidden_device_nodes, (std::vector<std::string>{"/dev/nvidia0", "/dev/nvidia1"}));
    EXPECT_NE(mount_to(e, std::string(kNvidiaLibDir) + "/libcuda.so.1"), nullptr);
    EXPECT_TRUE(e.env.empty());
}

TEST(GpuEdits, NoDriverIsAnError) {
    test::TempTree t;
    try {
        gpu_edits(Vendor::Nvidia, {t.root().string(), ""}, {}, nullptr);
        FAIL() << "a GPU was found in an empty tree";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--gpu: no NVIDIA GPU on this node"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_THROW(gpu_edits(Vendor::Amd, {t.root().string(), ""}, {}, nullptr), Error);
}

/// A spec of three NVIDIA GPUs, as discovery makes it.
cdi::Spec three_gpus() {
    cdi::Spec s;
    s.version = "0.6.0";
    s.kind = "nvidia.com/gpu";
    for (int i = 0; i < 3; ++i) {
        cdi::SpecDevice d;
        d.name = std::to_string(i);
        d.annotations = {"bus=0000:0" + std::to_string(i + 1) + ":00.0",
                         "uuid=GPU-" + std::to_string(i) + std::to_string(i) + "c0ffee-0000"};
        cdi::SpecDeviceNode n;
        n.path = "/dev/nvidia" + std::to_string(i);
        n.type = "c";
        d.edits.device_nodes.push_back(n);
        s.devices.push_back(d);
    }
    return s;
}

std::vector<std::string> fq(std::initializer_list<const char*> names,
                            const std::string& kind = "nvidia.com/gpu") {
    std::vector<std::string> out;
    for (const char* n : names) {
        out.push_back(kind + "=" + n);
    }
    return out;
}

TEST(GpuSelect, AllNoneAndLists) {
    const cdi::Spec s = three_gpus();
    const Vendor nv = Vendor::Nvidia;
    EXPECT_EQ(selected_devices(s, {}, nv), fq({"0", "1", "2"}));
    EXPECT_EQ(selected_devices(s, {"CUDA_VISIBLE_DEVICES=all"}, nv), fq({"0", "1", "2"}));
    for (const char* none : {"none", "void", ""}) {
        EXPECT_TRUE(
            selected_devices(s, {std::string("NVIDIA_VISIBLE_DEVICES=") + none}, nv).empty())
            << none;
    }
    EXPECT_EQ(selected_devices(s, {"CUDA_VISIBLE_DEVICES=2,0"}, nv), fq({"2", "0"}));
    EXPECT_EQ(selected_devices(s, {"CUDA_VISIBLE_DEVICES=1, 1"}, nv), fq({"1"}));
    // NVIDIA_VISIBLE_DEVICES first, CUDA_VISIBLE_DEVICES else.
    EXPECT_EQ(selected_devices(s, {"CUDA_VISIBLE_DEVICES=0", "NVIDIA_VISIBLE_DEVICES=1"}, nv),
              fq({"1"}));
    EXPECT_EQ(selected_devices(s, {"PATH=/bin", "CUDA_VISIBLE_DEVICES=0"}, nv), fq({"0"}));
}

TEST(GpuSelect, SlurmsGpusComeBeforeItsZeroBasedCudaVisibleDevices) {
    const cdi::Spec s = three_gpus();
    const Vendor nv = Vendor::Nvidia;
    // ConstrainDevices=yes: Slurm gives GPU 2 and says CUDA_VISIBLE_DEVICES=0.
    EXPECT_EQ(selected_devices(s, {"CUDA_VISIBLE_DEVICES=0", "SLURM_STEP_GPUS=2"}, nv), fq({"2"}));
    EXPECT_EQ(selected_devices(s, {"CUDA_VISIBLE_DEVICES=0", "SLURM_JOB_GPUS=1,2"}, nv),
              fq({"1", "2"}));
    EXPECT_EQ(selected_devices(s, {"SLURM_JOB_GPUS=1,2", "SLURM_STEP_GPUS=0"}, nv), fq({"0"}));
    EXPECT_EQ(selected_devices(s, {"SLURM_STEP_GPUS=2", "NVIDIA_VISIBLE_DEVICES=1"}, nv),
              fq({"1"}));
    cdi::Spec amd = three_gpus();
    amd.kind = "amd.com/gpu";
    EXPECT_EQ(selected_devices(amd, {"HIP_VISIBLE_DEVICES=0", "SLURM_STEP_GPUS=1"}, Vendor::Amd),
              fq({"1"}, "amd.com/gpu"));
}

TEST(GpuSelect, ByUuidAndItsBeginning) {
    const cdi::Spec s = three_gpus();
    EXPECT_EQ(selected_devices(s, {"NVIDIA_VISIBLE_DEVICES=GPU-11c0ffee-0000,0"}, Vendor::Nvidia),
              fq({"1", "0"}));
    EXPECT_EQ(selected_devices(s, {"CUDA_VISIBLE_DEVICES=GPU-22"}, Vendor::Nvidia), fq({"2"}));
    cdi::Spec twins = three_gpus();
    twins.devices[0].annotations[1] = "uuid=GPU-abc1";
    twins.devices[1].annotations[1] = "uuid=GPU-abc2";
    try {
        selected_devices(twins, {"CUDA_VISIBLE_DEVICES=GPU-abc"}, Vendor::Nvidia);
        FAIL() << "an ambiguous beginning was taken";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("more than one"), std::string::npos) << e.what();
    }
}

TEST(GpuSelect, AnUnknownEntryIsAnErrorNamingTheVariable) {
    const cdi::Spec s = three_gpus();
    try {
        selected_devices(s, {"CUDA_VISIBLE_DEVICES=0,7"}, Vendor::Nvidia);
        FAIL() << "7 was taken";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("CUDA_VISIBLE_DEVICES"), std::string::npos) << what;
        EXPECT_NE(what.find("\"7\""), std::string::npos) << what;
    }
    EXPECT_THROW(selected_devices(s, {"NVIDIA_VISIBLE_DEVICES=MIG-1"}, Vendor::Nvidia), Error);
}

TEST(GpuSelect, AmdByRocrThenHip) {
    cdi::Spec s = three_gpus();
    s.kind = "amd.com/gpu";
    const Vendor amd = Vendor::Amd;
    const std::string k = "amd.com/gpu";
    EXPECT_EQ(selected_devices(s, {"CUDA_VISIBLE_DEVICES=1"}, amd), fq({"0", "1", "2"}, k));
    EXPECT_EQ(selected_devices(s, {"HIP_VISIBLE_DEVICES=1"}, amd), fq({"1"}, k));
    EXPECT_EQ(selected_devices(s, {"HIP_VISIBLE_DEVICES=1", "ROCR_VISIBLE_DEVICES=2,0"}, amd),
              fq({"2", "0"}, k));
    EXPECT_THROW(selected_devices(s, {"ROCR_VISIBLE_DEVICES=3"}, amd), Error);
}

/// A fake AMD host: /dev/kfd, two render nodes, /opt/rocm a link to its
/// versioned folder.
class GpuAmdTree : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "making device nodes needs root";
        }
        make_char_device(t / "dev/kfd", 1, 3);
        make_char_device(t / "dev/dri/renderD129", 1, 5);
        make_char_device(t / "dev/dri/renderD128", 1, 7);
        make_char_device(t / "dev/dri/card0", 1, 8);
        t.mkdir("sys/class/drm/renderD128");
        t.symlink("../../../0000:c1:00.0", "sys/class/drm/renderD128/device");
        t.write("opt/rocm-6.0.2/bin/rocminfo", "x");
        t.symlink("rocm-6.0.2", "opt/rocm");
        o.host_root = t.root().string();
    }
    static bool has_node(const ContainerEdits& e, const std::string& p) {
        const auto v = node_paths(e);
        return std::find(v.begin(), v.end(), p) != v.end();
    }
    test::TempTree t;
    DiscoverOptions o;
};

TEST_F(GpuAmdTree, KfdRenderNodesAndRocm) {
    const auto spec = discover_amd(o);
    ASSERT_TRUE(spec);
    EXPECT_EQ(spec->kind, "amd.com/gpu");
    EXPECT_EQ(spec->version, "0.6.0");
    ASSERT_EQ(spec->edits.device_nodes.size(), 1U);
    EXPECT_EQ(spec->edits.device_nodes[0].path, "/dev/kfd");
    EXPECT_EQ(spec->edits.device_nodes[0].host_path, real(t, "dev/kfd"));
    ASSERT_EQ(spec->devices.size(), 2U);
    EXPECT_EQ(spec->devices[0].name, "0");
    EXPECT_EQ(spec->devices[0].edits.device_nodes.at(0).path, "/dev/dri/renderD128");
    EXPECT_EQ(spec->devices[0].edits.device_nodes.at(0).minor, 7);
    EXPECT_EQ(spec->devices[0].annotations, std::vector<std::string>{"bus=0000:c1:00.0"});
    EXPECT_EQ(spec->devices[1].edits.device_nodes.at(0).path, "/dev/dri/renderD129");
    ASSERT_EQ(spec->edits.mounts.size(), 1U);
    EXPECT_EQ(spec->edits.mounts[0].container_path, "/opt/rocm");
    EXPECT_EQ(spec->edits.mounts[0].host_path, real(t, "opt/rocm-6.0.2"));
}

TEST_F(GpuAmdTree, EditsLeaveRocmOutWhenTheImageHasItsOwn) {
    ContainerEdits e = gpu_edits(Vendor::Amd, o, {"ROCR_VISIBLE_DEVICES=1"}, nullptr);
    EXPECT_TRUE(has_node(e, "/dev/kfd"));
    EXPECT_TRUE(has_node(e, "/dev/dri/renderD129"));
    EXPECT_FALSE(has_node(e, "/dev/dri/renderD128"));
    EXPECT_EQ(e.hidden_device_nodes, std::vector<std::string>{"/dev/dri/renderD128"});
    EXPECT_EQ(e.env, std::vector<std::string>{"ROCR_VISIBLE_DEVICES=0"});
    ASSERT_NE(mount_to(e, "/opt/rocm"), nullptr);
    EXPECT_EQ(mount_to(e, "/opt/rocm")->source, real(t, "opt/rocm-6.0.2"));

    test::TempTree img;
    img.mkdir("opt/rocm/lib");
    image::Image i;
    i.kind = image::Kind::Directory;
    i.path = img.root().string();
    image::ImageFiles files(i);
    e = gpu_edits(Vendor::Amd, o, {}, &files);
    EXPECT_EQ(mount_to(e, "/opt/rocm"), nullptr);
    EXPECT_TRUE(has_node(e, "/dev/dri/renderD128"));
    EXPECT_TRUE(has_node(e, "/dev/dri/renderD129"));
}

TEST_F(GpuAmdTree, TheSpecIsAValidCdiSpec) {
    const auto spec = discover_amd(o);
    ASSERT_TRUE(spec);
    expect_round_trip(*spec, true);
}

TEST_F(GpuAmdTree, NoRocmFolderNoMount) {
    fs::remove(t / "opt/rocm");
    t.symlink("/../../../../../../../../../usr", "opt/rocm"); // out of the tree
    const auto spec = discover_amd(o);
    ASSERT_TRUE(spec);
    EXPECT_TRUE(spec->edits.mounts.empty());
}

} // namespace
} // namespace husk::host::gpu
