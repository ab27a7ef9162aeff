#!/bin/bash
# cluster-up.sh - start a throw-away single-machine Slurm cluster (munged + slurmctld + slurmd)
#
# Usage: cluster-up.sh [-d DIR] [-n NODES] [-p CTLD_PORT] [-t TIMEOUT_S]
#   -d DIR      state/spool/log/conf directory   (default: $HUSK_SLURM_DIR or /tmp/husk-slurm)
#   -n NODES    number of emulated nodes (slurmd -N <name>, one slurmd per node, each on its own port)
#               (default: $HUSK_SLURM_NODES or 1)
#   -p PORT     SlurmctldPort; slurmd ports are PORT+1 .. PORT+NODES (default: $HUSK_SLURM_PORT or 16817)
#   -t SECONDS  how long to wait for all nodes to become idle (default 60)
# Must run as root (slurmd must be able to setuid to job users).  No stdin needed.
# Environment: HUSK_SLURM_CPUS=N (claim N cores per node), HUSK_SLURM_EXTRA_CONF (lines appended to
#   slurm.conf), HUSK_SLURM_PLUGSTACK (file copied to DIR/etc/plugstack.conf.d/extra.conf)
# With several nodes, a TaskProlog gives each its own TMPDIR and Open MPI shared-memory folder.
# After it succeeds, clients need:  export SLURM_CONF=DIR/etc/slurm.conf   (or: . DIR/env.sh)
# Idempotent: if the cluster in DIR is already up and healthy, it just reports that.
# If it is partially up, it is torn down (cluster-down.sh) and started again.
set -euo pipefail

DIR=${HUSK_SLURM_DIR:-/tmp/husk-slurm}
NODES=${HUSK_SLURM_NODES:-1}
PORT=${HUSK_SLURM_PORT:-16817}
TIMEOUT=60
while getopts "d:n:p:t:h" opt; do
  case $opt in
    d) DIR=$OPTARG ;;
    n) NODES=$OPTARG ;;
    p) PORT=$OPTARG ;;
    t) TIMEOUT=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "cluster-up: must run as root" >&2; exit 1; }
case $NODES in ''|*[!0-9]*|0) echo "cluster-up: bad -n $NODES" >&2; exit 2 ;; esac
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CONF=$DIR/etc/slurm.conf
export SLURM_CONF=$CONF

t0=$(date +%s.%N)
# a closed stdout (e.g. '| head -1') must not kill us half-way: ignore SIGPIPE and write errors
trap '' PIPE
log() { printf 'cluster-up: %s\n' "$*" 2>/dev/null || true; }
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}'; }

# pid_alive PIDFILE EXE : true if the pid in PIDFILE is alive and runs EXE
pid_alive() {
  local f=$1 exe=$2 pid st
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] || return 1          # zombie = dead (orphans may be reaped late)
  # /usr/sbin/slurmd etc. are symlinks (slurmd -> slurmd-wlm on Debian): compare resolved paths
  [ "$(readlink /proc/$pid/exe 2>/dev/null)" = "$(readlink -f "$exe")" ]
}

nodes_idle() {
  # prints number of nodes in state idle (no flags like *, ~, # ...)
  sinfo -h -N -o '%N %T' 2>/dev/null | awk '$2=="idle"{c++} END{print c+0}'
}
nodes_ok() {
  # prints number of responding nodes (idle or running jobs)
  sinfo -h -N -o '%N %T' 2>/dev/null | awk '$2~/^(idle|mixed|allocated|completing)$/{c++} END{print c+0}'
}

node_names() {
  if [ "$NODES" = 1 ]; then hostname -s; else seq -f 'n%g' 1 "$NODES"; fi
}

# ---------- idempotency ----------
# the request's signature: a running cluster started with other settings is restarted
SIG=$(printf '%s|%s|%s|%s|%s' "$NODES" "$PORT" "${HUSK_SLURM_CPUS:-}" "${HUSK_SLURM_EXTRA_CONF:-}" \
      "$( [ -n "${HUSK_SLURM_PLUGSTACK:-}" ] && cat "$HUSK_SLURM_PLUGSTACK")" | md5sum | cut -d' ' -f1)
if [ -d "$DIR/pids" ] && ls "$DIR"/pids/*.pid >/dev/null 2>&1; then
  all=1
  for f in "$DIR"/pids/*.pid; do
    n=$(basename "$f" .pid)
    case $n in munged) exe=/usr/sbin/munged ;; slurmctld) exe=/usr/sbin/slurmctld ;; *) exe=/usr/sbin/slurmd ;; esac
    pid_alive "$f" "$exe" || all=0
  done
  want=$(node_names | wc -l)
  have=$(ls "$DIR"/pids/slurmd-*.pid 2>/dev/null | wc -l)
  if [ $all = 1 ] && [ "$want" = "$have" ] && [ "$(cat "$DIR/signature" 2>/dev/null)" = "$SIG" ] \
     && [ "$(nodes_ok)" = "$want" ]; then
    log "already up in $DIR ($(sinfo -h -o '%D nodes %T' | tr '\n' ' '))"
    exit 0
  fi
  log "found a partial/different cluster in $DIR, tearing it down first"
  "$HERE/cluster-down.sh" -d "$DIR"
fi

# ---------- layout ----------
# on any failure from here on, stop whatever this run started (logs stay in DIR/log)
trap 'rc=$?; if [ $rc != 0 ]; then log "failed (rc=$rc), stopping what was started"; "$HERE/cluster-down.sh" -d "$DIR" >&2; fi' EXIT
rm -rf "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/pids" "$DIR/munge" "$DIR/etc" "$DIR/tmp"
mkdir -p "$DIR/etc" "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/pids" "$DIR/munge" "$DIR/tmp"
chmod 755 "$DIR" "$DIR/etc" "$DIR/munge" "$DIR/tmp"  # job users must read slurm.conf and reach the munge socket
chmod 700 "$DIR/state" "$DIR/log"

# ---------- munge ----------
# munged refuses keys that are group/other readable; generate a fresh key every time
dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$DIR/munge/munge.key"
MUNGE_SOCK=$DIR/munge/munge.socket
# -F: foreground, so that $! is the daemon's own pid; setsid: own session, survives the caller's Ctrl-C
setsid /usr/sbin/munged -F --socket="$MUNGE_SOCK" --key-file="$DIR/munge/munge.key" \
   --log-file="$DIR/log/munged.log" --pid-file="$DIR/munge/munged.pid" \
   --seed-file="$DIR/munge/munged.seed" </dev/null >>"$DIR/log/munged.out" 2>&1 &
echo $! > "$DIR/pids/munged.pid"
for i in $(seq 100); do [ -S "$MUNGE_SOCK" ] && break; sleep 0.05; done
munge -S "$MUNGE_SOCK" -n </dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null \
  || { log "munge self-test failed"; cat "$DIR/log/munged.out" "$DIR/log/munged.log" >&2; exit 1; }

# ---------- slurm.conf ----------
SHORT=$(hostname -s)
read -r CPUS SOCK CORES THREADS MEM < <(slurmd -C | awk '/^NodeName/{for(i=1;i<=NF;i++){split($i,a,"=");v[a[1]]=a[2]} print v["CPUs"],v["SocketsPerBoard"],v["CoresPerSocket"],v["ThreadsPerCore"],v["RealMemory"]}')
if [ "$NODES" -gt 1 ]; then MEM=$(( MEM / NODES )); fi
# HUSK_SLURM_CPUS=N: claim N cores per node regardless of the hardware (needs config_overrides,
# otherwise a node claiming more CPUs than it has is drained), e.g. to run srun -n 8 on 2 cores
OVERRIDE=
if [ -n "${HUSK_SLURM_CPUS:-}" ]; then CPUS=$HUSK_SLURM_CPUS SOCK=1 CORES=$HUSK_SLURM_CPUS THREADS=1 OVERRIDE=1; fi
{
cat <<EOF
# generated by cluster-up.sh
ClusterName=lab
SlurmctldHost=$SHORT(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT+1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/state/slurmctld.pid
SlurmdPidFile=$DIR/spool/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
# per-node TmpFS: mpi/pmix puts its per-step client dir (spmix_appdir_<uid>_<job>.<step>) under
# TmpFS; with the default /tmp, emulated nodes (and concurrent test clusters) collide on it
TmpFS=$DIR/tmp/%n
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# default batch_sched_delay=3 made batch jobs start 0.6-2.6 s after submit; with 0 it is ~0.55 s
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
PlugStackConfig=$DIR/etc/plugstack.conf
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=30
KillWait=2
Waittime=0
EOF
if [ "$NODES" = 1 ]; then
  echo "NodeName=$SHORT NodeAddr=127.0.0.1 CPUs=$CPUS Sockets=$SOCK CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEM State=UNKNOWN"
else
  i=0
  for n in $(node_names); do
    i=$((i+1))
    echo "NodeName=$n NodeHostname=$SHORT NodeAddr=127.0.0.1 Port=$((PORT+i)) CPUs=$CPUS Sockets=$SOCK CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEM State=UNKNOWN"
  done
fi
echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO"
# extra slurm.conf lines from the caller, e.g. HUSK_SLURM_EXTRA_CONF=$'MpiDefault=pmix\nSchedulerParameters=...'
if [ -n "$OVERRIDE" ]; then echo "SlurmdParameters=config_overrides"; fi
if [ -n "${HUSK_SLURM_EXTRA_CONF:-}" ]; then printf '%s\n' "$HUSK_SLURM_EXTRA_CONF"; fi
} > "$CONF"
# SPANK plugins: add lines to $DIR/etc/plugstack.conf.d/*.conf (empty by default)
mkdir -p "$DIR/etc/plugstack.conf.d"
echo "include $DIR/etc/plugstack.conf.d/*.conf" > "$DIR/etc/plugstack.conf"
if [ -n "${HUSK_SLURM_PLUGSTACK:-}" ]; then cp "$HUSK_SLURM_PLUGSTACK" "$DIR/etc/plugstack.conf.d/extra.conf"; fi
chmod 644 "$CONF" "$DIR/etc/plugstack.conf"

# Several nodes on one machine share its host name and /tmp, by which Open
# MPI names its session folder (TMPDIR/ompi.HOST.UID) and its shared-memory
# files (/dev/shm/vader_segment.HOST.UID.JOB.RANK): ranks of two nodes would
# share them, and crash or find them gone. A task prolog gives each node
# its own, in its TmpFS folder, as separate machines would have.
if [ "$NODES" -gt 1 ]; then
  cat > "$DIR/etc/task-prolog.sh" <<PROLOG
#!/bin/sh
echo "export TMPDIR=$DIR/tmp/\$SLURMD_NODENAME"
echo "export OMPI_MCA_btl_vader_backing_directory=$DIR/tmp/\$SLURMD_NODENAME"
PROLOG
  chmod 755 "$DIR/etc/task-prolog.sh"
  echo "TaskProlog=$DIR/etc/task-prolog.sh" >> "$CONF"
fi

# ---------- slurmctld ----------
# -D foreground (own pid), -i ignore unreadable state, -f config
setsid /usr/sbin/slurmctld -D -i -f "$CONF" </dev/null >>"$DIR/log/slurmctld.out" 2>&1 &
echo $! > "$DIR/pids/slurmctld.pid"
for i in $(seq 200); do
  scontrol ping 2>/dev/null | grep -q 'is UP' && break
  pid_alive "$DIR/pids/slurmctld.pid" /usr/sbin/slurmctld || break     # e.g. port already in use
  sleep 0.1
done
scontrol ping | grep -q 'is UP' || { log "slurmctld did not come up"; tail -n 30 "$DIR/log/slurmctld.log" "$DIR/log/slurmctld.out" >&2; exit 1; }

# ---------- slurmd(s) ----------
for n in $(node_names); do
  mkdir -p "$DIR/spool/$n" "$DIR/tmp/$n"; chmod 1777 "$DIR/tmp/$n"
  setsid /usr/sbin/slurmd -D -f "$CONF" -N "$n" </dev/null >>"$DIR/log/slurmd-$n.out" 2>&1 &
  echo $! > "$DIR/pids/slurmd-$n.pid"
done

# ---------- wait for idle ----------
want=$(node_names | wc -l)
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
  have=$(nodes_idle)
  [ "$have" -ge "$want" ] && break
  for f in "$DIR"/pids/*.pid; do
    pid=$(cat "$f"); st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo X)
    [ "$st" != X ] && [ "$st" != Z ] || { log "$(basename "$f" .pid) (pid $pid) died"; tail -n 30 "$DIR"/log/*.out "$DIR"/log/*.log >&2; exit 1; }
  done
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "timeout: $have/$want nodes idle after ${TIMEOUT}s"; sinfo -N -l >&2 || true
    tail -n 30 "$DIR"/log/*.log >&2; exit 1
  fi
  sleep 0.2
done

echo "$SIG" > "$DIR/signature"
cat > "$DIR/env.sh" <<EOF
export SLURM_CONF=$CONF
EOF
chmod 644 "$DIR/env.sh"
log "up in $(elapsed)s: $want node(s) idle; conf $CONF (export SLURM_CONF=$CONF, or . $DIR/env.sh)"
sinfo -N -o '%N %P %T %c %m' || true
