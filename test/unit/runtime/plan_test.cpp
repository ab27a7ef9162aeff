#include "runtime/plan.hpp"
#include "util/error.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace husk::runtime {
namespace {

HostFacts host() {
    HostFacts h;
    h.uid = 1001;
    h.gid = 1001;
    h.user = "alice";
    h.group = "alice";
    h.gecos = "Alice";
    h.home = "/home/alice";
    h.cwd = "/home/alice/project";
    h.environ = {"HOME=/home/alice", "PATH=/usr/bin:/bin", "SLURM_JOB_ID=3"};
    return h;
}

config::Settings settings() {
    return config::defaults({"alice", 1001, true, "/home/alice", "Alice"});
}

image::Image dir_image() {
    image::Image img;
    img.kind = image::Kind::Directory;
    img.path = "/images/debian";
    return img;
}

RunOptions opts(std::vector<std::string> cmd = {"/bin/true"}) {
    RunOptions o;
    o.image = "/images/debian";
    o.command = std::move(cmd);
    return o;
}

std::vector<std::string> targets(const LaunchPlan& p) {
    std::vector<std::string> t;
    for (const auto& m : p.mounts) {
        t.push_back(m.target);
    }
    return t;
}

const MountOp* find(const LaunchPlan& p, const std::string& target) {
    const MountOp* found = nullptr;
    for (const auto& m : p.mounts) {
        if (m.target == target) {
            found = &m; // the last one wins, as when mounting
        }
    }
    return found;
}

TEST(Plan, DefaultMountOrder) {
    auto p = plan(opts(), dir_image(), host(), settings());
    EXPECT_EQ(targets(p), (std::vector<std::string>{"/proc", "/sys", "/dev", "/tmp", "/home/alice",
                                                    "/etc/hosts", "/etc/resolv.conf", "/etc/passwd",
                                                    "/etc/group"}));
    EXPECT_EQ(p.image_path, "/images/debian");
    EXPECT_EQ(p.root_mode, RootMode::ReadOnly);
    const MountOp* home = find(p, "/home/alice");
    ASSERT_NE(home, nullptr);
    EXPECT_EQ(home->source, "/home/alice");
    EXPECT_EQ(home->on_missing, OnMissing::TmpfsParent);
    EXPECT_TRUE(find(p, "/etc/hosts")->read_only);
    EXPECT_EQ(find(p, "/etc/passwd")->kind, MountKind::Passwd);
    EXPECT_EQ(find(p, "/tmp")->kind, MountKind::Bind);
    EXPECT_EQ(find(p, "/tmp")->source, "/tmp");
}

TEST(Plan, PrivateTmpAndNoHome) {
    auto o = opts();
    o.private_tmp = true;
    o.no_home = true;
    auto p = plan(o, dir_image(), host(), settings());
    EXPECT_EQ(find(p, "/tmp")->kind, MountKind::Tmpfs);
    EXPECT_EQ(find(p, "/home/alice"), nullptr);
    EXPECT_EQ(p.account.home, "/");
    EXPECT_EQ(*Environment(p.env).get("HOME"), "/");
}

TEST(Plan, UserBindsComeLastInOrderAndUseCanonicalSources) {
    auto o = opts();
    o.binds = {{"scratch", "/data", false}, {"/etc", "/tmp", true}};
    auto h = host();
    h.binds = o.binds;
    h.binds[0].resolved = "/lustre/alice/scratch";
    h.binds[1].resolved = "/etc";
    auto p = plan(o, dir_image(), h, settings());
    ASSERT_GE(p.mounts.size(), 2u);
    const auto& a = p.mounts[p.mounts.size() - 2];
    const auto& b = p.mounts.back();
    EXPECT_EQ(a.source, "/lustre/alice/scratch");
    EXPECT_EQ(a.target, "/data");
    EXPECT_FALSE(a.read_only);
    EXPECT_EQ(a.on_missing, OnMissing::Fail);
    EXPECT_EQ(b.target, "/tmp");
    EXPECT_TRUE(b.read_only);
    EXPECT_EQ(find(p, "/tmp"), &b); // covers the default /tmp
}

TEST(Plan, SiteBindsComeBeforeUserBindsAndAreSkippedWhereMissing) {
    auto o = opts();
    o.binds = {{"/scratch", "/scratch", true}};
    auto h = host();
    h.binds = o.binds;
    h.binds[0].resolved = "/scratch";
    auto s = settings();
    s.binds = {
        {{"/scratch", "/scratch", false}, {"/projects", "/p", true}, {"/gone", "/gone", false}},
        config::Origin::SiteConfig,
        "/etc/husk/husk.json"};
    h.site_binds = s.binds.value;
    h.site_binds[0].resolved = "/lustre/scratch";
    h.site_binds[1].resolved = "/projects";
    auto p = plan(o, dir_image(), h, s);
    ASSERT_GE(p.mounts.size(), 3u);
    const auto& site1 = p.mounts[p.mounts.size() - 3];
    const auto& site2 = p.mounts[p.mounts.size() - 2];
    EXPECT_EQ(site1.source, "/lustre/scratch");
    EXPECT_EQ(site1.target, "/scratch");
    EXPECT_EQ(site1.on_missing, OnMissing::Warn);
    EXPECT_EQ(site1.what, "site bind /scratch (/etc/husk/husk.json)");
    EXPECT_EQ(site2.target, "/p");
    EXPECT_TRUE(site2.read_only);
    EXPECT_EQ(find(p, "/gone"), nullptr);
    EXPECT_EQ(p.mounts.back().what, "-b /scratch:/scratch:ro"); // the user's -b wins
    EXPECT_EQ(find(p, "/scratch"), &p.mounts.back());
}

TEST(Plan, LauncherFoldersAreBoundWhereNoBindShowsThemAlready) {
    auto h = host();
    h.launcher_dirs = {"/tmp/pmix.1", "/var/spool/slurmd/pmix.7.0", "/run/munge",
                       "/home/alice/pmix"};
    auto p = plan(opts(), dir_image(), h, settings());
    EXPECT_EQ(find(p, "/tmp/pmix.1"), nullptr);      // the host's /tmp shows it
    EXPECT_EQ(find(p, "/home/alice/pmix"), nullptr); // so does home
    const MountOp* spool = find(p, "/var/spool/slurmd/pmix.7.0");
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(spool->source, "/var/spool/slurmd/pmix.7.0");
    EXPECT_EQ(spool->on_missing, OnMissing::TmpfsParent);
    EXPECT_NE(find(p, "/run/munge"), nullptr);
    auto o = opts();
    o.private_tmp = true; // now /tmp is not the host's
    EXPECT_NE(find(plan(o, dir_image(), h, settings()), "/tmp/pmix.1"), nullptr);
}

TEST(Plan, LegacyMountsFromSettings) {
    EXPECT_FALSE(plan(opts(), dir_image(), host(), settings()).legacy_mounts);
    auto s = settings();
    s.legacy_mounts.value = true;
    EXPECT_TRUE(plan(opts(), dir_image(), host(), s).legacy_mounts);
}

TEST(Plan, BindTargetsMustBeAbsoluteAndNotRoot) {
    auto h = host();
    h.binds = {{"/x", "relative", false, "/x"}};
    EXPECT_THROW(plan(opts(), dir_image(), h, settings()), Error);
    h.binds = {{"/x", "//", false, "/x"}};
    EXPECT_THROW(plan(opts(), dir_image(), h, settings()), Error);
}

host::ContainerEdits gpu_edits() {
    host::ContainerEdits e;
    e.mounts.push_back({MountKind::Bind, "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15",
                        "/usr/lib/husk-gpu/libcuda.so.1", true, OnMissing::Fail,
                        "--gpu: libcuda.so.1", true});
    e.device_nodes = {{"/dev/nvidiactl", "/dev/nvidiactl", "--gpu"},
                      {"/dev/nvidia1", "/dev/nvidia1", "--gpu"},
                      {"/dev/nvidia2", "/fake/dev/nvidia2", "--gpu"}};
    e.hidden_device_nodes = {"/dev/nvidia0"};
    e.needs_new_paths = true;
    e.ld_library_path = {"/usr/lib/husk-gpu"};
    return e;
}

TEST(Plan, EditsComeAfterTheBaseAndBeforeUserBinds) {
    auto o = opts();
    o.binds = {{"/scratch", "/usr/lib/husk-gpu/libcuda.so.1", true}};
    auto h = host();
    h.binds = o.binds;
    h.binds[0].resolved = "/scratch";
    auto p = plan(o, dir_image(), h, settings(), gpu_edits());
    auto t = targets(p);
    const auto at = [&](const std::string& x) {
        return std::find(t.begin(), t.end(), x) - t.begin();
    };
    EXPECT_LT(at("/etc/group"), at("/usr/lib/husk-gpu/libcuda.so.1"));
    EXPECT_EQ(find(p, "/usr/lib/husk-gpu/libcuda.so.1")->what,
              "-b /scratch:/usr/lib/husk-gpu/libcuda.so.1:ro");
    // Under -w, only the host stage's mount points are removed at the end.
    for (const MountOp& op : p.mounts) {
        EXPECT_EQ(op.transient_mount_point, op.what == "--gpu: libcuda.so.1") << op.what;
    }
    // Under the host's /dev, a node the host has at that path is there
    // already; one from elsewhere is bound (warning where /dev lacks it);
    // an unassigned GPU is masked.
    EXPECT_EQ(find(p, "/dev/nvidiactl"), nullptr);
    EXPECT_EQ(find(p, "/dev/nvidia1"), nullptr);
    const MountOp* n2 = find(p, "/dev/nvidia2");
    ASSERT_NE(n2, nullptr);
    EXPECT_EQ(n2->source, "/fake/dev/nvidia2");
    EXPECT_TRUE(n2->device);
    EXPECT_FALSE(n2->read_only);
    EXPECT_EQ(n2->on_missing, OnMissing::Warn);
    ASSERT_NE(find(p, "/dev/nvidia0"), nullptr);
    EXPECT_EQ(find(p, "/dev/nvidia0")->kind, MountKind::Mask);
    // New mount points without writing the image, in a layer that keeps
    // the root read-only; none where the root is writable anyway.
    EXPECT_EQ(p.root_mode, RootMode::ReadOnly);
    EXPECT_TRUE(p.mount_point_layer);
    for (const RootMode mode : {RootMode::Writable, RootMode::Overlay}) {
        RunOptions writable = o;
        writable.root_mode = mode;
        const LaunchPlan w = plan(writable, dir_image(), h, settings(), gpu_edits());
        EXPECT_EQ(w.root_mode, mode);
        EXPECT_FALSE(w.mount_point_layer);
    }
    EXPECT_FALSE(plan(o, dir_image(), h, settings()).mount_point_layer);
    // The Slurm plugin's binds get theirs in the layer too, without edits.
    o.bind_mount_points = true;
    EXPECT_TRUE(plan(o, dir_image(), h, settings()).mount_point_layer);
    h.binds.clear();
    EXPECT_FALSE(plan(o, dir_image(), h, settings()).mount_point_layer);
    EXPECT_EQ(Environment(p.env).get("LD_LIBRARY_PATH").value_or(""), "/usr/lib/husk-gpu");
}

TEST(Plan, MinimalDevHoldsOnlyTheStandardNodesAndTheAssignedOnes) {
    auto o = opts();
    o.dev = host::DevMode::Minimal;
    auto p = plan(o, dir_image(), host(), settings(), gpu_edits());
    const MountOp* dev = find(p, "/dev");
    ASSERT_NE(dev, nullptr);
    EXPECT_EQ(dev->kind, MountKind::Tmpfs);
    for (const char* n : {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                          "/dev/tty", "/dev/shm"}) {
        ASSERT_NE(find(p, n), nullptr) << n;
        EXPECT_EQ(find(p, n)->source, n);
    }
    EXPECT_EQ(find(p, "/dev/pts")->kind, MountKind::Devpts);
    EXPECT_EQ(find(p, "/dev/ptmx")->kind, MountKind::Symlink);
    EXPECT_EQ(find(p, "/dev/ptmx")->source, "pts/ptmx");
    // Every assigned node is bound, a missing one is an error; nothing is
    // masked, since nothing else is there.
    for (const char* n : {"/dev/nvidiactl", "/dev/nvidia1", "/dev/nvidia2"}) {
        ASSERT_NE(find(p, n), nullptr) << n;
        EXPECT_EQ(find(p, n)->on_missing, OnMissing::Fail);
        EXPECT_TRUE(find(p, n)->exact_source);
    }
    EXPECT_EQ(find(p, "/dev/nvidia0"), nullptr);
    const auto t = targets(p);
    EXPECT_LT(std::find(t.begin(), t.end(), "/dev") - t.begin(),
              std::find(t.begin(), t.end(), "/dev/nvidia2") - t.begin());
}

TEST(Plan, IdsAndAccount) {
    auto p = plan(opts(), dir_image(), host(), settings());
    EXPECT_EQ(p.ids.uid, (IdMap{1001, 1001, 1}));
    EXPECT_EQ(p.account,
              (Account{"alice", 1001, 1001, "Alice", "/home/alice", "/bin/sh", "alice"}));

    auto o = opts();
    o.fake_root = true;
    p = plan(o, dir_image(), host(), settings());
    EXPECT_EQ(p.ids.uid, (IdMap{0, 1001, 1}));
    EXPECT_EQ(p.account.name, "root");
    EXPECT_EQ(p.account.group_name, "root");
    EXPECT_EQ(p.account.home, "/home/alice");
}

TEST(Plan, EnvironmentIncludesImageAndOptions) {
    auto img = dir_image();
    img.config = image::OciConfig{};
    img.config->env = {"LANG=C.UTF-8", "PATH=/opt/app/bin"};
    auto o = opts();
    o.env = {"OMP_NUM_THREADS=4"};
    o.unset_env = {"SLURM_*"};
    auto p = plan(o, img, host(), settings());
    Environment e(p.env);
    EXPECT_EQ(*e.get("LANG"), "C.UTF-8");
    EXPECT_EQ(*e.get("PATH"), "/opt/app/bin:/usr/bin:/bin");
    EXPECT_EQ(*e.get("OMP_NUM_THREADS"), "4");
    EXPECT_FALSE(e.get("SLURM_JOB_ID"));
    EXPECT_EQ(*e.get("HOME"), "/home/alice");
}

TEST(Plan, CommandFromOptionsOrImage) {
    auto img = dir_image();
    img.config = image::OciConfig{};
    img.config->entrypoint = {"/entry"};
    img.config->cmd = {"--flag"};
    EXPECT_EQ(plan(opts({}), img, host(), settings()).argv,
              (std::vector<std::string>{"/entry", "--flag"}));
    EXPECT_EQ(plan(opts({"ls"}), img, host(), settings()).argv, (std::vector<std::string>{"ls"}));
    EXPECT_THROW(plan(opts({}), dir_image(), host(), settings()), Error);
    EXPECT_THROW(plan(opts({""}), dir_image(), host(), settings()), Error);
}

TEST(Plan, WorkingDirectory) {
    auto p = plan(opts(), dir_image(), host(), settings());
    EXPECT_EQ(p.cwd, "/home/alice/project");
    EXPECT_FALSE(p.cwd_required);
    EXPECT_EQ(p.cwd_fallback, "/");

    auto img = dir_image();
    img.config = image::OciConfig{};
    img.config->working_dir = "/work";
    EXPECT_EQ(plan(opts(), img, host(), settings()).cwd_fallback, "/work");

    auto o = opts();
    o.cwd = "/data";
    p = plan(o, dir_image(), host(), settings());
    EXPECT_EQ(p.cwd, "/data");
    EXPECT_TRUE(p.cwd_required);
    o.cwd = "data";
    EXPECT_THROW(plan(o, dir_image(), host(), settings()), Error);
}

TEST(Plan, DirectoryAndSquashfsImages) {
    auto img = dir_image();
    img.kind = image::Kind::Squashfs;
    EXPECT_EQ(plan(opts(), img, host(), settings()).image_kind, image::Kind::Squashfs);
    auto o = opts();
    o.root_mode = RootMode::Overlay;
    EXPECT_EQ(plan(o, img, host(), settings()).root_mode, RootMode::Overlay);
    o.root_mode = RootMode::Writable; // a SquashFS file is read-only
    EXPECT_THROW(plan(o, img, host(), settings()), Error);
    img.kind = image::Kind::Tar;
    EXPECT_THROW(plan(opts(), img, host(), settings()), Error);
}

TEST(Plan, RootModeIsKept) {
    auto o = opts();
    o.root_mode = RootMode::Overlay;
    EXPECT_EQ(plan(o, dir_image(), host(), settings()).root_mode, RootMode::Overlay);
}

} // namespace
} // namespace husk::runtime
