#!/bin/bash
# cluster-down.sh - stop the cluster that cluster-up.sh started in DIR, by saved pid only.
# Usage: cluster-down.sh [-d DIR]      (default: $HUSK_SLURM_DIR or /tmp/husk-slurm)
# Order: cancel jobs -> slurmd(s) -> leftover slurmstepd (those holding files under DIR open)
#        -> slurmctld -> munged.  Idempotent: nothing running is not an error.
set -uo pipefail
DIR=${HUSK_SLURM_DIR:-/tmp/husk-slurm}
while getopts "d:h" opt; do
  case $opt in d) DIR=$OPTARG ;; *) sed -n '2,5p' "$0"; exit 2 ;; esac
done
[ -d "$DIR" ] || { echo "cluster-down: $DIR does not exist, nothing to do"; exit 0; }
DIR=$(cd "$DIR" && pwd)
export SLURM_CONF=$DIR/etc/slurm.conf
# a closed stdout (e.g. '| head -1') must not kill us half-way: ignore SIGPIPE and write errors
trap '' PIPE
log() { printf 'cluster-down: %s\n' "$*" 2>/dev/null || true; }
# running PID: exists and is not a zombie (the daemons are orphans; a slow PID 1 may reap late)
running() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]; }

# stop_pid NAME PID EXE [WAIT_TENTHS] : TERM, wait (default 10 s), then KILL; only if PID still runs EXE
stop_pid() {
  local name=$1 pid=$2 exe=$3 wait=${4:-100} i
  # /usr/sbin/slurmd etc. are symlinks (-> slurmd-wlm on Debian): compare resolved paths
  if ! running "$pid" || [ "$(readlink /proc/$pid/exe 2>/dev/null)" != "$(readlink -f "$exe")" ]; then
    log "$name (pid $pid) not running"; return 0
  fi
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq "$wait"); do running "$pid" || break; sleep 0.1; done
  if running "$pid"; then log "$name (pid $pid) ignored SIGTERM, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null; sleep 0.2; fi
  log "stopped $name (pid $pid)"
}

stop_file() {  # stop_file PIDFILE EXE
  local f=$1 exe=$2
  [ -s "$f" ] || return 0
  stop_pid "$(basename "$f" .pid)" "$(cat "$f")" "$exe"
  rm -f "$f"
}

# 1. cancel all jobs (best effort; only if our slurmctld is alive)
if [ -s "$DIR/pids/slurmctld.pid" ] && running "$(cat "$DIR/pids/slurmctld.pid")"; then
  if [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
    scancel --partition=debug 2>/dev/null
    for i in $(seq 50); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
    [ -z "$(squeue -h -o %i 2>/dev/null)" ] || log "warning: jobs still listed: $(squeue -h -o %i | tr '\n' ' ')"
  fi
fi

# 2. slurmd(s)
for f in "$DIR"/pids/slurmd-*.pid; do [ -e "$f" ] && stop_file "$f" /usr/sbin/slurmd; done

# 3. leftover slurmstepd (jobs that did not end when cancelled, or whose slurmd died):
#    a slurmstepd of THIS cluster keeps an fd open on DIR/log/slurmd-<node>.log (and its
#    sockets live in DIR/spool).  Kill its task tree first (tasks are children of the stepd),
#    then the stepd itself.
descendants() {  # all descendants of $1, deepest last
  local kids k
  # /proc/PID/stat = "pid (comm) state ppid ...", comm may contain spaces and ')'
  kids=$(cat /proc/[0-9]*/stat 2>/dev/null | sed -n 's/^\([0-9]*\) (.*) [A-Za-z] \([0-9]*\) .*/\1 \2/p' | awk -v p="$1" '$2==p{print $1}')
  for k in $kids; do echo "$k"; descendants "$k"; done
}
STEPD=$(readlink -f /usr/sbin/slurmstepd)
for d in /proc/[0-9]*; do
  pid=${d#/proc/}
  [ "$(readlink "$d/exe" 2>/dev/null)" = "$STEPD" ] || continue
  ls -l "$d/fd" 2>/dev/null | grep -q -- "-> $DIR/" || continue
  for k in $(descendants "$pid"); do kill -KILL "$k" 2>/dev/null; done
  stop_pid "slurmstepd$(tr '\0' ' ' < "$d/cmdline" | sed 's/^slurmstepd: //;s/ *$//')" "$pid" /usr/sbin/slurmstepd 10
done

# 4. slurmctld, 5. munged
stop_file "$DIR/pids/slurmctld.pid" /usr/sbin/slurmctld
stop_file "$DIR/pids/munged.pid" /usr/sbin/munged
rm -f "$DIR/munge/munge.socket" "$DIR/munge/munge.socket.lock"
log "down ($DIR)"
