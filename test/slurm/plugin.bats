#!/usr/bin/env bats
# The SPANK plugin (spank_husk.so) on a real two-node Slurm cluster of this
# machine (test/slurm/run.sh starts it), as the unprivileged test user.

load helpers
load slurm

setup() {
    cd "$BATS_TEST_TMPDIR"
}

# The PID namespace of each task, with its node: "n1 pid:[4026...]".
ns_per_task='echo "$SLURMD_NODENAME $(readlink /proc/self/ns/pid)"'

sleeping() { # at least $1 of the test user's processes are `sleep`
    [ "$(pgrep -u "$(id -u)" -c -x sleep)" -ge "$1" ]
}

no_jobs() {
    [ -z "$(squeue -h -u "$(id -un)" -o %i)" ]
}

one_container_per_node() { # output of $ns_per_task for 4 tasks on n1, n2
    [ "$(grep -c . <<<"$output")" -eq 4 ]
    [ "$(sort -u <<<"$output" | wc -l)" -eq 2 ]                   # one per node
    [ "$(cut -d' ' -f1 <<<"$output" | sort -u | wc -l)" -eq 2 ]   # on both nodes
    [ "$(readlink /proc/self/ns/pid)" != "$(cut -d' ' -f2 <<<"$output" | head -1)" ]
}

@test "srun -N2 -n4 --container-image (directory): one container per node" {
    run -0 srun -N2 -n4 --container-image="$IMG_DEBIAN" sh -c "$ns_per_task"
    echo "$output"
    one_container_per_node
    nothing_left_within 20
}

@test "srun -N2 -n4 --container-image (SquashFS): one container per node, the image's files" {
    run -0 srun -N2 -n4 --container-image="$IMG_DEBIAN_SQFS" sh -c "$ns_per_task"
    echo "$output"
    one_container_per_node
    run -0 srun -N2 -n2 --container-image="$IMG_BUSYBOX_SQFS" sh -c 'test ! -e /etc/debian_version && echo busybox'
    [ "$output" = "$(printf 'busybox\nbusybox')" ]
    nothing_left_within 20
}

@test "the task's command is found in the container's PATH; cwd, mounts, env, workdir" {
    mkdir data
    echo hello >data/in
    run -0 srun -n1 --container-image="$IMG_BUSYBOX_SQFS" --container-mounts="$PWD/data:/data:ro" \
        --container-workdir=/data sh -c 'cat in; pwd; touch x 2>/dev/null || echo read-only
            touch /y 2>/dev/null || echo the root too'
    # /data, which the image lacks, is made in the mount-point layer: the
    # root stays read-only, as without mounts.
    [ "$output" = "$(printf 'hello\n/data\nread-only\nthe root too')" ]
    run -0 srun -n1 --container-image="$IMG_BUSYBOX_SQFS" pwd
    [ "$output" = "$PWD" ]
    MY_VAR=from-job run -0 srun -n1 --container-image="$IMG_BUSYBOX_SQFS" sh -c 'echo $MY_VAR $HUSK_CONTAINER_IMAGE'
    [ "$output" = "from-job" ]
    HUSK_CONTAINER_IMAGE=$IMG_BUSYBOX_SQFS run -0 srun -n1 sh -c 'test ! -e /etc/debian_version && echo busybox'
    [ "$output" = busybox ]
    run -0 srun -n1 --container-image="$IMG_BUSYBOX_SQFS" --container-remap-root id -u
    [ "$output" = 0 ]
    run -0 srun -n1 --container-image="$IMG_BUSYBOX_SQFS" --no-container-mount-home sh -c "test -e $HOME/. || echo no home"
    [ "$output" = "no home" ]
}

@test "gpu=auto: a step given GPUs gets the node's driver and only its GPUs; one given none does not" {
    # No GRES on this cluster: the step's SLURM_STEP_GPUS is the one srun
    # passes on from here, and the node's driver a fake tree (HUSK_HOST_ROOT;
    # its device nodes are not in the host's /dev, so only said there).
    export HUSK_HOST_ROOT=$FAKE_NVIDIA
    SLURM_STEP_GPUS=1 run -0 srun -n1 --container-image="$IMG_DEBIAN_SQFS" \
        sh -c 'nvidia-smi; ls /usr/lib/husk-gpu; echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}"'
    echo "$output"
    [[ "$output" == *"fake nvidia-smi"* ]]
    [[ "$output" == *libcuda.so.1* ]]
    [[ "$output" == *"not mounting nvidia.com/gpu=1: /dev/nvidia1"* ]]
    [[ "$output" != *"nvidia.com/gpu=0"* ]] # the other GPU is not the step's
    # A step given no GPU, and a step of a job with none: the image alone.
    for given in "SLURM_STEP_GPUS=" "UNRELATED=1"; do
        env "$given" srun -n1 --container-image="$IMG_DEBIAN_SQFS" \
            sh -c 'test -e /usr/lib/husk-gpu || command -v nvidia-smi || echo no driver' >out 2>&1
        cat out
        [ "$(cat out)" = "no driver" ]
    done
}

@test "srun --mpi=pmix -N2 -n4: hello and an 8 MiB allreduce, directory and SquashFS" {
    mpi_step() { # it takes 1 s; a hang (see twice, slurm.bash) is cut at 60
        run timeout 60 srun --mpi=pmix -N2 -n4 --container-image="$1" /hello
        echo "$output"
        [ "$status" -eq 0 ] && [ "$(grep -c '^rank ' <<<"$output")" -eq 4 ] &&
            [[ "$output" == *"allreduce ok"* ]]
    }
    for img in "$IMG_MPI" "$IMG_MPI_SQFS"; do
        twice mpi_step "$img"
    done
}

@test "--container-name: a later step of the job reuses the container; the epilog removes it" {
    cat >job.sh <<JOB
#!/bin/sh
srun -N2 -n2 --container-image=$IMG_DEBIAN_OWNED --container-name=work --container-writable \
    --container-remap-root sh -c 'echo made-in-step-0 >/etc/husk-slurm-test; echo made'
srun -N2 -n2 --container-name=work cat /etc/husk-slurm-test
srun -N1 -n1 --container-name=work:create true || echo create refused
srun -N1 -n1 --container-name=other:exec true || echo exec refused
test ! -e $IMG_DEBIAN_OWNED/etc/husk-slurm-test && echo image unchanged
ls /tmp/husk-\$(id -u)/slurm-job-\$SLURM_JOB_ID
JOB
    sbatch_wait out -N2 job.sh
    cat out
    [ "$JOB_EXIT" = 0:0 ]
    [ "$(grep -c '^made$' out)" -eq 2 ]
    [ "$(grep -c '^made-in-step-0$' out)" -eq 2 ]
    grep -qx 'create refused' out
    grep -qx 'exec refused' out
    grep -q 'an earlier step of this job made it on this node' out
    grep -qx 'image unchanged' out
    grep -qx n1 out
    grep -qx n2 out
    # the job's epilog, on each node, removed them
    wait_until 20 test ! -e "/tmp/husk-$(id -u)/slurm-job-$JOB"
}

@test "#SBATCH --container-image: the batch script runs in the container" {
    cat >batch.sh <<JOB
#!/bin/sh
#SBATCH --container-image=$IMG_BUSYBOX_SQFS
test ! -e /etc/debian_version && echo "batch in busybox as \$(id -un)"
JOB
    sbatch_wait out batch.sh
    cat out
    [ "$JOB_EXIT" = 0:0 ]
    [ "$(cat out)" = "batch in busybox as $(id -un)" ]
}

@test "a bad image: one line on the task's stderr, the step fails with 125, nothing left" {
    run -125 srun -N2 -n2 --container-image="$BATS_TEST_TMPDIR/missing.sqfs" true
    echo "$output"
    [ "$(grep -c '^husk: error: .*missing.sqfs' <<<"$output")" -eq 2 ] # one per task
    [[ "$output" == *"Exited with exit code 125"* ]]
    run -1 srun -n1 --container-image="$IMG_BUSYBOX_SQFS" --container-name='a/b' true
    [[ "$output" == *"husk: --container-name=a/b: a name is 1 to 64 of"* ]]
    run -1 srun -n1 --container-image="$IMG_BUSYBOX_SQFS" --container-entrypoint true
    [[ "$output" == *"--container-entrypoint: the plugin runs the task's own command"* ]]
    nothing_left_within 20
}

@test "a container that cannot be built: every task of both nodes says why, none hangs" {
    # /proc is the host's, where husk makes no mount point: the holder fails
    run -125 timeout 60 srun -N2 -n4 --container-image="$IMG_BUSYBOX_SQFS" \
        --container-mounts=/etc:/proc/husk-no-such true
    echo "$output"
    [ "$(grep -c '^husk: error: --container-mounts /etc:/proc/husk-no-such: destination /proc/husk-no-such does not exist' <<<"$output")" -eq 4 ]
    nothing_left_within 20
}

@test "an unknown plugstack.conf argument stops the plugin with one clear line" {
    sed "s|^PlugStackConfig=.*|PlugStackConfig=$PWD/plugstack.conf|" "$SLURM_CONF" >slurm.conf
    echo "required $HUSK_SPANK color=blue" >plugstack.conf
    SLURM_CONF=$PWD/slurm.conf run -1 srun -n1 true
    echo "$output"
    [[ "$output" == *"husk: plugstack.conf: color=blue: unknown argument (known: runtime_dir,"* ]]
}

@test "scancel mid-run: no process and no mount left on either node, the next job starts" {
    start_bg srun.out srun -N2 -n4 --container-image="$IMG_DEBIAN_SQFS" \
        sh -c 'trap "" TERM; setsid sleep 1000 & sleep 1000'
    wait_until 30 sleeping 8
    scancel "$(squeue -h -u "$(id -un)" -o %i | head -1)"
    nothing_left_within 30
    # (srun may say first that it waits for the nodes to finish the old job)
    run -0 timeout 30 srun -N2 -n2 --container-image="$IMG_DEBIAN_SQFS" echo next
    echo "$output"
    [ "$(grep -cx next <<<"$output")" -eq 2 ]
}

@test "a time limit (TERM, KillWait, KILL): nothing left on either node" {
    start_bg srun.out srun -N2 -n2 --time=1 --container-image="$IMG_DEBIAN_SQFS" \
        sh -c 'trap "" TERM; sleep 1000'
    wait_until 30 sleeping 2
    # Slurm ends the job a minute after it started, at its next check
    wait_until 150 no_jobs
    nothing_left_within 30
    grep -q 'DUE TO TIME LIMIT' srun.out
}
