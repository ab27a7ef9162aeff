// The SPANK plugin's options and plugstack.conf arguments (lib/slurm).
#include "options.hpp"

#include "util/error.hpp"

#include <gtest/gtest.h>
#include <map>

using namespace husk;
using namespace husk::slurm;

TEST(PluginArgs, DefaultsAndEveryKey) {
    const PluginArgs d = parse_plugin_args({});
    EXPECT_EQ(d.runtime_dir, "/tmp/husk-%U");
    EXPECT_TRUE(d.sbatch_support);
    EXPECT_FALSE(d.remap_root);
    EXPECT_TRUE(d.mount_home);
    EXPECT_FALSE(d.linger);
    EXPECT_EQ(d.gpu, GpuPolicy::Auto);
    const PluginArgs a = parse_plugin_args(
        {"runtime_dir=/local/husk-%U", "mounts=/scratch,/apps:/opt/apps:ro", "sbatch_support=0",
         "remap_root=yes", "mount_home=false", "linger=5", "gpu=none"});
    EXPECT_EQ(a.runtime_dir, "/local/husk-%U");
    ASSERT_EQ(a.mounts.size(), 2u);
    EXPECT_EQ(a.mounts[0].target, "/scratch");
    EXPECT_EQ(a.mounts[1].target, "/opt/apps");
    EXPECT_TRUE(a.mounts[1].read_only);
    EXPECT_FALSE(a.sbatch_support);
    EXPECT_TRUE(a.remap_root);
    EXPECT_FALSE(a.mount_home);
    EXPECT_EQ(a.linger, 5u);
    EXPECT_EQ(a.gpu, GpuPolicy::None);
    EXPECT_EQ(parse_plugin_args({"gpu=nvidia"}).gpu, GpuPolicy::Nvidia);
    EXPECT_EQ(parse_plugin_args({"gpu=amd"}).gpu, GpuPolicy::Amd);
    EXPECT_EQ(parse_plugin_args({"gpu=auto"}).gpu, GpuPolicy::Auto);
}

TEST(PluginArgs, BadArgumentsSayWhichAndWhy) {
    const auto message = [](std::vector<std::string> args) {
        try {
            parse_plugin_args(args);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(message({"color=blue"}),
              "plugstack.conf: color=blue: unknown argument (known: runtime_dir, mounts, "
              "sbatch_support, remap_root, mount_home, linger, gpu)");
    EXPECT_EQ(message({"runtime_dir"}), "plugstack.conf: runtime_dir: expected KEY=VALUE");
    EXPECT_EQ(message({"runtime_dir=tmp"}),
              "plugstack.conf: runtime_dir=tmp: must be an absolute path");
    EXPECT_EQ(message({"sbatch_support=maybe"}),
              "plugstack.conf: sbatch_support=maybe: not a boolean (1|0|yes|no|true|false)");
    EXPECT_EQ(message({"linger=-1"}), "plugstack.conf: linger=-1: not a number of seconds");
    EXPECT_NE(message({"mounts=/a:b"}).find("absolute"), std::string::npos);
    EXPECT_EQ(message({"gpu=yes"}),
              "plugstack.conf: gpu=yes: not a GPU policy (auto, nvidia, amd, none)");
}

TEST(PluginArgs, GpuPolicyPicksTheTasksThatGetTheNodesDriver) {
    using host::gpu::Vendor;
    std::map<std::string, std::string> env;
    const auto getenv = [&](const char* name) -> std::optional<std::string> {
        const auto it = env.find(name);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    int asked = 0; // how often the node's device nodes were looked at
    const auto node = [&](std::optional<Vendor> v) {
        return std::function<std::optional<Vendor>()>([&asked, v] {
            ++asked;
            return v;
        });
    };
    // auto: only a step Slurm gave GPUs, with the vendor of the node's driver.
    EXPECT_EQ(task_gpu(GpuPolicy::Auto, getenv, node(Vendor::Nvidia)), std::nullopt);
    env["CUDA_VISIBLE_DEVICES"] = "0"; // not Slurm's word on the step
    EXPECT_EQ(task_gpu(GpuPolicy::Auto, getenv, node(Vendor::Nvidia)), std::nullopt);
    EXPECT_EQ(asked, 0);           // a task given no GPU looks at no device node
    env["SLURM_JOB_GPUS"] = "2,3"; // the batch step's
    EXPECT_EQ(task_gpu(GpuPolicy::Auto, getenv, node(Vendor::Nvidia)), "nvidia");
    EXPECT_EQ(task_gpu(GpuPolicy::Auto, getenv, node(Vendor::Amd)), "amd");
    EXPECT_EQ(task_gpu(GpuPolicy::Auto, getenv, node(std::nullopt)), std::nullopt); // no driver
    EXPECT_EQ(asked, 3);
    env["SLURM_STEP_GPUS"] = ""; // a step of that job given none
    EXPECT_EQ(task_gpu(GpuPolicy::Auto, getenv, node(Vendor::Nvidia)), std::nullopt);
    env["SLURM_STEP_GPUS"] = "3";
    EXPECT_EQ(task_gpu(GpuPolicy::Auto, getenv, node(Vendor::Nvidia)), "nvidia");
    // nvidia, amd: every task on a node with that driver, GPUs given or not.
    env.clear();
    EXPECT_EQ(task_gpu(GpuPolicy::Nvidia, getenv, node(Vendor::Nvidia)), "nvidia");
    EXPECT_EQ(task_gpu(GpuPolicy::Nvidia, getenv, node(Vendor::Amd)), std::nullopt);
    EXPECT_EQ(task_gpu(GpuPolicy::Amd, getenv, node(Vendor::Amd)), "amd");
    EXPECT_EQ(task_gpu(GpuPolicy::Amd, getenv, node(std::nullopt)), std::nullopt);
    // none: never, and without looking.
    env["SLURM_STEP_GPUS"] = "0";
    asked = 0;
    EXPECT_EQ(task_gpu(GpuPolicy::None, getenv, node(Vendor::Nvidia)), std::nullopt);
    EXPECT_EQ(asked, 0);
}

TEST(ContainerMounts, PyxisSyntax) {
    const auto m = parse_mounts("/scratch/me:/data:ro,/apps,/x:/y:rbind+ro,/w:/w:rw", "m");
    ASSERT_EQ(m.size(), 4u);
    EXPECT_EQ(m[0].source, "/scratch/me");
    EXPECT_EQ(m[0].target, "/data");
    EXPECT_TRUE(m[0].read_only);
    EXPECT_EQ(m[1].target, "/apps");
    EXPECT_FALSE(m[1].read_only);
    EXPECT_TRUE(m[2].read_only);
    EXPECT_FALSE(m[3].read_only);
    EXPECT_THROW(parse_mounts("/a:/b:private", "m"), Error);
    EXPECT_THROW(parse_mounts("/a:/b:ro:x", "m"), Error);
    EXPECT_THROW(parse_mounts("/a,,/b", "m"), Error);
    EXPECT_THROW(parse_mounts(":/b", "m"), Error);
}

TEST(ContainerName, NamesAndModes) {
    EXPECT_EQ(parse_container_name("work").mode, NameMode::Auto);
    EXPECT_EQ(parse_container_name("work:create").mode, NameMode::Create);
    EXPECT_EQ(parse_container_name("work:exec").mode, NameMode::Exec);
    EXPECT_EQ(parse_container_name("a.b_c-1:auto").name, "a.b_c-1");
    EXPECT_THROW(parse_container_name("work:later"), Error);
    EXPECT_THROW(parse_container_name("../x"), Error);
    EXPECT_THROW(parse_container_name(".hidden"), Error);
    EXPECT_THROW(parse_container_name(""), Error);
    EXPECT_THROW(parse_container_name(std::string(65, 'a')), Error);
}

TEST(ContainerOptions, EnvironmentFillsWhatWasNotGiven) {
    std::map<std::string, std::string> env = {{"HUSK_CONTAINER_IMAGE", "/env.sqfs"},
                                              {"HUSK_CONTAINER_WRITABLE", "1"},
                                              {"HUSK_CONTAINER_NAME", "w"}};
    const auto get = [&](const char* n) -> std::optional<std::string> {
        auto it = env.find(n);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    ContainerOptions o;
    o.image = "/given.sqfs";
    apply_environment(o, get);
    EXPECT_EQ(o.image, "/given.sqfs");
    EXPECT_EQ(o.writable, true);
    EXPECT_EQ(o.name, "w");
    env["HUSK_CONTAINER_MOUNT_HOME"] = "perhaps";
    ContainerOptions bad;
    EXPECT_THROW(apply_environment(bad, get), Error);
    EXPECT_FALSE(ContainerOptions{}.wanted());
}

TEST(ContainerOptions, BecomeAHuskRun) {
    ContainerOptions o;
    o.image = "/img.sqfs";
    o.mounts = "/scratch/me:/data:ro";
    o.workdir = "/data";
    o.env = "OMP_NUM_THREADS,PATH";
    o.remap_root = true;
    PluginArgs a;
    a.mounts = parse_mounts("/apps", "site");
    a.mount_home = false;
    a.linger = 3;
    const auto r = run_options(o, a, {"./solver", "-v"}, {}, "");
    EXPECT_EQ(r.image, "/img.sqfs");
    EXPECT_EQ(r.command, (std::vector<std::string>{"./solver", "-v"}));
    ASSERT_EQ(r.binds.size(), 2u); // the site's first, then the user's
    EXPECT_EQ(r.binds[0].target, "/apps");
    EXPECT_EQ(r.binds[1].target, "/data");
    EXPECT_EQ(r.binds_option, "--container-mounts"); // how errors name them
    EXPECT_EQ(r.cwd, "/data");
    EXPECT_EQ(r.env, (std::vector<std::string>{"OMP_NUM_THREADS", "PATH"}));
    EXPECT_TRUE(r.fake_root);
    EXPECT_TRUE(r.no_home);
    EXPECT_EQ(r.root_mode, runtime::RootMode::ReadOnly); // with mount points in the layer
    EXPECT_TRUE(r.bind_mount_points);
    EXPECT_EQ(r.join, runtime::JoinMode::Always);
    EXPECT_EQ(r.linger, 3u);
    o.writable = true;
    EXPECT_EQ(run_options(o, a, {"x"}, {}, "").root_mode, runtime::RootMode::Overlay);
    o.workdir = "data";
    EXPECT_THROW(run_options(o, a, {"x"}, {}, ""), Error);
    ContainerOptions e;
    e.image = "/img";
    e.entrypoint = true;
    EXPECT_THROW(run_options(e, a, {"x"}, {}, ""), Error);
}

TEST(ContainerOptions, NamedContainersKeepTheirImageAndLayer) {
    PluginArgs a;
    ContainerOptions o;
    o.name = "work";
    // Not made yet: needs an image.
    EXPECT_THROW(run_options(o, a, {"x"}, {}, ""), Error);
    o.image = "/img.sqfs";
    o.writable = true;
    auto r = run_options(o, a, {"x"}, {}, "/run/w/overlay");
    EXPECT_EQ(r.overlay_dir, "/run/w/overlay");
    EXPECT_EQ(r.root_mode, runtime::RootMode::Overlay);
    // A later step: the image is the container's, its layer is kept.
    ContainerOptions later;
    later.name = "work";
    NamedState made{"/img.sqfs", true, false};
    r = run_options(later, a, {"x"}, made, "/run/w/overlay");
    EXPECT_EQ(r.image, "/img.sqfs");
    EXPECT_EQ(r.root_mode, runtime::RootMode::Overlay);
    // Never written: a plain read-only container of the same image.
    r = run_options(later, a, {"x"}, made, "");
    EXPECT_EQ(r.root_mode, runtime::RootMode::ReadOnly);
    EXPECT_EQ(r.overlay_dir, "");
    later.image = "/other.sqfs";
    EXPECT_THROW(run_options(later, a, {"x"}, made, ""), Error);
    ContainerOptions create;
    create.name = "work:create";
    EXPECT_THROW(run_options(create, a, {"x"}, made, ""), Error);
    EXPECT_NO_THROW(run_options(create, a, {"x"}, {"/img.sqfs", true, true}, "")); // same step
    ContainerOptions exec;
    exec.name = "fresh:exec";
    exec.image = "/img.sqfs";
    EXPECT_THROW(run_options(exec, a, {"x"}, {}, ""), Error);
}
