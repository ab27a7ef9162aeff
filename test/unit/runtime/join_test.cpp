#include "runtime/join.hpp"
#include "util/error.hpp"

#include <gtest/gtest.h>

namespace husk::runtime {
namespace {

TEST(SlurmTasksOnNode, CountsAndRepeats) {
    EXPECT_EQ(slurm_tasks_on_node("4(x2),3", 0), 4u);
    EXPECT_EQ(slurm_tasks_on_node("4(x2),3", 1), 4u);
    EXPECT_EQ(slurm_tasks_on_node("4(x2),3", 2), 3u);
    EXPECT_EQ(slurm_tasks_on_node("1", 0), 1u);
    EXPECT_EQ(slurm_tasks_on_node("2,16(x3)", 3), 16u);
}

TEST(SlurmTasksOnNode, MalformedOrShortListsAreErrors) {
    EXPECT_THROW(slurm_tasks_on_node("4(x2),3", 3), Error);
    EXPECT_THROW(slurm_tasks_on_node("4(2)", 0), Error);
    EXPECT_THROW(slurm_tasks_on_node("four", 0), Error);
    EXPECT_THROW(slurm_tasks_on_node("", 0), Error);
    EXPECT_THROW(slurm_tasks_on_node("4(x)", 0), Error);
}

RunOptions opts(JoinMode mode = JoinMode::Auto, std::string tag = "") {
    RunOptions o;
    o.join = mode;
    o.join_tag = std::move(tag);
    return o;
}

TEST(DetectJoin, OpenMpiWithSeveralLocalRanksJoins) {
    auto j = detect_join(opts(), {"OMPI_COMM_WORLD_LOCAL_SIZE=4", "PMIX_NAMESPACE=prterun-vm-1@1",
                                  "SLURM_JOB_ID=5", "SLURM_STEP_ID=0"});
    ASSERT_TRUE(j);
    EXPECT_EQ(j->key, "ompi:prterun-vm-1@1"); // Open MPI's own job, before Slurm's
    EXPECT_EQ(j->local_tasks, 4u);
    j = detect_join(opts(), {"OMPI_COMM_WORLD_LOCAL_SIZE=2", "OMPI_MCA_ess_base_jobid=123"});
    ASSERT_TRUE(j);
    EXPECT_EQ(j->key, "ompi:123");
}

TEST(DetectJoin, OneTaskOnTheNodeJoinsNothing) {
    EXPECT_FALSE(detect_join(opts(), {"OMPI_COMM_WORLD_LOCAL_SIZE=1", "PMIX_NAMESPACE=x"}));
    EXPECT_FALSE(detect_join(opts(), {"SLURM_JOB_ID=5", "SLURM_STEP_ID=0",
                                      "SLURM_STEP_TASKS_PER_NODE=1(x4)", "SLURM_NODEID=2"}));
    EXPECT_FALSE(detect_join(opts(), {"HOME=/home/alice"}));
}

TEST(DetectJoin, SlurmStepsCountThisNodesTasks) {
    auto j = detect_join(opts(), {"SLURM_JOB_ID=5", "SLURM_STEP_ID=1",
                                  "SLURM_STEP_TASKS_PER_NODE=8(x2),1", "SLURM_NODEID=1"});
    ASSERT_TRUE(j);
    EXPECT_EQ(j->key, "slurm:5.1");
    EXPECT_EQ(j->shown, "Slurm step 5.1");
    EXPECT_EQ(j->local_tasks, 8u);
    EXPECT_FALSE(detect_join(opts(), {"SLURM_JOB_ID=5", "SLURM_STEP_ID=1",
                                      "SLURM_STEP_TASKS_PER_NODE=8(x2),1", "SLURM_NODEID=2"}));
    EXPECT_THROW(detect_join(opts(), {"SLURM_JOB_ID=5", "SLURM_STEP_ID=1",
                                      "SLURM_STEP_TASKS_PER_NODE=8(x2", "SLURM_NODEID=0"}),
                 Error);
}

TEST(DetectJoin, SlurmNodesOfOneMachineJoinApart) {
    // slurmd -N: two nodes' tasks share a machine and its runtime folder.
    const std::vector<std::string> base = {"SLURM_JOB_ID=5", "SLURM_STEP_ID=1",
                                           "SLURM_STEP_TASKS_PER_NODE=2(x2)"};
    auto on = [&](const char* node, const char* id) {
        auto env = base;
        env.push_back(std::string("SLURMD_NODENAME=") + node);
        env.push_back(std::string("SLURM_NODEID=") + id);
        return detect_join(opts(), env);
    };
    ASSERT_TRUE(on("n1", "0"));
    ASSERT_TRUE(on("n2", "1"));
    EXPECT_EQ(on("n1", "0")->key, "slurm:5.1@n1");
    EXPECT_NE(on("n1", "0")->key, on("n2", "1")->key);
}

TEST(DetectJoin, OptionsDecideFirst) {
    const std::vector<std::string> two = {"OMPI_COMM_WORLD_LOCAL_SIZE=2", "PMIX_NAMESPACE=n"};
    EXPECT_FALSE(detect_join(opts(JoinMode::Never), two));
    auto j = detect_join(opts(JoinMode::Always, "dbg"), two);
    ASSERT_TRUE(j);
    EXPECT_EQ(j->key, "tag:dbg");
    EXPECT_EQ(j->local_tasks, 0u);
    j = detect_join(opts(JoinMode::Always), {"PMIX_NAMESPACE=n"}); // alone, but asked to
    ASSERT_TRUE(j);
    EXPECT_EQ(j->key, "pmix:n");
    EXPECT_THROW(detect_join(opts(JoinMode::Always), {}), Error);
    auto counted = opts(JoinMode::Auto);
    counted.join_count = 3;
    j = detect_join(counted, {"PMIX_NAMESPACE=n"});
    ASSERT_TRUE(j);
    EXPECT_EQ(j->local_tasks, 3u);
}

TEST(ContainerDigest, DependsOnTheContainerNotOnTheTask) {
    LaunchPlan a;
    a.image_path = "/img";
    a.mounts = {{MountKind::Bind, "/tmp", "/tmp", false, OnMissing::Warn, "/tmp"}};
    a.env = {"SLURM_PROCID=0"};
    a.cwd = "/home/a";
    a.argv = {"/hello"};
    LaunchPlan b = a;
    b.env = {"SLURM_PROCID=1"};
    b.cwd = "/";
    b.argv = {"/other"};
    EXPECT_EQ(container_digest(a), container_digest(b));
    b.mounts[0].read_only = true;
    EXPECT_NE(container_digest(a), container_digest(b));
    b = a;
    b.image_path = "/img2";
    EXPECT_NE(container_digest(a), container_digest(b));
    b = a;
    b.ids.uid.inside = 5;
    EXPECT_NE(container_digest(a), container_digest(b));
}

} // namespace
} // namespace husk::runtime
