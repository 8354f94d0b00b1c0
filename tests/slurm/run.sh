#!/usr/bin/env bash
# lcde's SLURM scripts (scripts/slurm/) run against a real scheduler:
#   tests/slurm/run.sh [LCDE_BINARY]          (default: build/lcde)
# Brings up a one-node SLURM cluster on this machine from Debian's packages
# (munge, slurmctld, slurmd, slurm-client; installed when missing): munged,
# slurmctld and slurmd as plain processes, with their config, keys, state,
# sockets and logs in a fresh temporary directory and on free ports, so runs
# side by side do not meet. The node has this machine's CPUs; no cgroups
# (proctrack/linuxproc, task/affinity); jobs end up in a jobcomp/filetxt
# record, which the checks read instead of sacct (that needs slurmdbd).
# Jobs run as `nobody`, as on a cluster where users are not root: the binary,
# the scripts and the model are copied where that user can read them.
#
# Scenarios (each checked against the files the jobs leave):
#   1 submit.sh, 4 tasks: the merge starts after all tasks succeed, lcde
#     verify passes, shares meet their targets, and the dataset equals the
#     same 4-task build run without SLURM (--task-index/--num-tasks), byte
#     for byte
#   2 a task requeued mid-build (scontrol requeue: SIGTERM, then it runs
#     again) resumes from its checkpoint; the dataset equals scenario 1's
#   3 a task fails (its input file is unreadable): the merge is cancelled
#     (afterok); after the fix a re-submit keeps the finished tasks' parts
#     and completes the dataset
#   4 a task sizes its threads from its allocation (--cpus-per-task=1 on a
#     bigger node), bound by task/affinity or not
# Prints one line per scenario and "N passed, N failed". On exit, also on
# failure or interruption, it cancels its jobs, stops every process it
# started (by PID) and removes the temporary directory.
# Exit: 0 all passed, 1 any failed, 77 skipped (SLURM cannot run here: not
# root, or the packages are missing and there is no apt-get).
#   LCDE_SLURM_KEEP=1        keep the temporary directory to look at
#   LCDE_SLURM_SCENARIOS     the scenarios to run (default "1 2 3 4"; 2 and 3
#                            compare with the reference build of setup)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
lcde_binary=$(realpath "${1:-$root/build/lcde}")
scenarios=${LCDE_SLURM_SCENARIOS:-1 2 3 4}
readonly kSkip=77
readonly kTasks=4
readonly kPackages=(munge slurmctld slurmd slurm-client)
readonly kJobUser=nobody
# Every wait gives up by then (seconds since the start), so that the run ends,
# and cleans up, within ctest's 600 s.
readonly kDeadline=480

skip() { echo "skipped: $*"; exit "$kSkip"; }
log() { echo "[$(date +%T)] $*" >&2; }

# ---------------------------------------------------------------------------
# Packages

# Installs the missing packages like scripts/install_deps.sh. Their
# maintainer scripts must not start system-wide daemons (on a machine with
# init scripts they would, and outlive the test): a policy-rc.d that denies
# every start covers the install when the machine has none.
ensure_packages() {
  local missing=() p
  for p in "${kPackages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || skip "SLURM is not installed (${missing[*]}) and there is no apt-get"
  log "installing: ${missing[*]}"
  local policy=/usr/sbin/policy-rc.d ours=0 rc=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && ours=1
  fi
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"; } >&2 || rc=$?
  [ "$ours" -eq 1 ] && rm -f "$policy"
  [ "$rc" -eq 0 ] || { echo "installing ${missing[*]} failed" >&2; exit 1; }
}

# ---------------------------------------------------------------------------
# The cluster

dir=""           # the temporary directory: everything lives under it
conf=""          # its slurm.conf
work=""          # the job user's working directory: submissions, logs, outputs
daemon_pids=()   # munged, slurmctld, slurmd, in start order

# Every command that talks to the cluster, and every process it starts,
# carries LCDE_SLURM_TEST=$dir (jobs get it through --export=ALL): cleanup
# finds stray job processes by it. This shell itself never has it.
slurm() { env SLURM_CONF="$conf" LCDE_SLURM_TEST="$dir" "$@"; }
# A command as the job user, in its working directory.
as_user() {
  (cd "$work" && env SLURM_CONF="$conf" LCDE_SLURM_TEST="$dir" HOME="$work" LCDE="$dir/bin/lcde" \
    setpriv --reuid="$(id -u $kJobUser)" --regid="$(id -g $kJobUser)" --clear-groups -- "$@")
}

free_ports() {  # prints two TCP ports free on this machine now
  python3 -c 'import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("", 0))
print(*[s.getsockname()[1] for s in socks])'
}

write_config() {
  local ctld_port slurmd_port cpus mem_mb
  read -r ctld_port slurmd_port < <(free_ports)
  cpus=$(nproc)
  mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  cat > "$conf" <<CONF
ClusterName=lcdetest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
DebugFlags=Dependency
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=3600
KillWait=30
NodeName=lcdenode NodeHostname=$(hostname -s) NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=test Nodes=lcdenode Default=YES MaxTime=INFINITE State=UP
CONF
}

start_cluster() {
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  # munged insists on a key only root reads and a socket directory others
  # may enter but not write.
  mungekey --create --keyfile="$dir/munge/munge.key" 2>/dev/null ||
    { dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none; chmod 400 "$dir/munge/munge.key"; }
  start_daemon munged --foreground --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" --log-file="$dir/log/munged.log"
  wait_for 10 "munged" test -S "$dir/munge/munge.socket" || return 1
  write_config
  start_daemon slurmctld -D -i -f "$conf"
  wait_for 20 "slurmctld" slurm scontrol ping || return 1
  start_daemon slurmd -D -N lcdenode -f "$conf"
  wait_for 30 "the node to come up idle" node_idle || return 1
}

# start_daemon NAME ARGS...: in the foreground of its own process (env execs
# it, so $! is the daemon's PID), its output in log/NAME.out.
start_daemon() {
  env SLURM_CONF="$conf" LCDE_SLURM_TEST="$dir" "$@" >>"$dir/log/$1.out" 2>&1 &
  daemon_pids+=($!)
}

node_idle() { [ "$(slurm sinfo -h -N -n lcdenode -o %t 2>/dev/null)" = idle ]; }

# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds, for at
# most SECONDS and not past kDeadline.
wait_for() {
  local limit=$1 what=$2 start=$SECONDS
  shift 2
  [ "$limit" -le $((kDeadline - SECONDS)) ] || limit=$((kDeadline - SECONDS))
  until "$@" >/dev/null 2>&1; do
    if [ $((SECONDS - start)) -ge "$limit" ]; then
      echo "timed out after ${limit}s waiting for $what" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Processes of this run that no PID was recorded for: slurmstepd and the
# jobs' processes (a killed slurmd leaves them running by design).
stray_pids() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$$" ] && continue
    { tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null | grep -qxF "LCDE_SLURM_TEST=$dir" && echo "$p"
  done
  return 0
}

stop_pid() {  # pid: TERM, then KILL after 10 s
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? i pid
  set +e
  if [ -n "$conf" ] && [ -f "$conf" ] && [ ${#daemon_pids[@]} -ge 2 ]; then
    slurm scancel --quiet --user="$kJobUser" >/dev/null 2>&1
    for i in $(seq 75); do
      [ -z "$(slurm squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  for ((i = ${#daemon_pids[@]} - 1; i >= 0; i--)); do stop_pid "${daemon_pids[$i]}"; done
  for pid in $(stray_pids); do kill -KILL "$pid" 2>/dev/null; done
  for pid in "${daemon_pids[@]}"; do wait "$pid" 2>/dev/null; done
  if [ -n "$dir" ] && [ -d "$dir" ]; then
    if [ "${LCDE_SLURM_KEEP:-0}" = 1 ]; then
      echo "kept $dir"
    else
      rm -rf "$dir"
    fi
  fi
  exit "$rc"
}

# ---------------------------------------------------------------------------
# Jobs and datasets

# submit OUTPUT_DIR: scripts/slurm/submit.sh as the job user, kTasks tasks of
# one CPU each; sets array_job and merge_job.
submit() {
  local line
  line=$(as_user env LCDE_BUILD_SBATCH_ARGS="--cpus-per-task=1 --mem=256M" \
    LCDE_MERGE_SBATCH_ARGS="--cpus-per-task=1 --mem=256M" \
    "$dir/slurm/submit.sh" "$dir/mix.yaml" "$1" "$kTasks")
  echo "$line"
  array_job=$(sed -n 's/^array job \([0-9]*\) .*/\1/p' <<< "$line")
  merge_job=$(sed -n 's/.*merge job \([0-9]*\) .*/\1/p' <<< "$line")
  [ -n "$array_job" ] && [ -n "$merge_job" ] || fail "cannot read the job ids from submit.sh: $line"
}

# Waits until none of the given jobs (array ids cover their tasks) is queued
# or running any more.
wait_gone() {
  local ids
  ids=$(IFS=,; echo "$*")
  wait_for 180 "jobs $ids to finish" jobs_gone "$ids" || { slurm squeue; fail "jobs $ids did not finish"; }
}
jobs_gone() { [ -z "$(slurm squeue -h -j "$1" -o %i 2>/dev/null)" ]; }

# The last jobcomp record of a job: "JobState ExitCode StartTime EndTime".
# An array task is named ARRAY_TASK; records of earlier runs (a requeue) come
# before the last.
job_record() {
  awk -v id="$1" '
    { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
    (v["JobId"] == id && v["ArrayTaskId"] == "") || (v["ArrayJobId"] "_" v["ArrayTaskId"] == id) {
      last = v["JobState"] " " v["ExitCode"] " " v["StartTime"] " " v["EndTime"] }
    END { if (last != "") print last }' "$dir/log/jobcomp.txt"
}

# The log of task $2 of array job $1 (build-array.sbatch's --output).
task_log() { echo "$work/lcde-build-$1_$2.log"; }

# Checks a merged dataset: lcde verify passes, every source's share is its
# target (within half a point) with no shortfall, and it is byte-identical
# to the reference build.
check_dataset() {
  local out=$1
  [ -f "$out/manifest.json" ] || fail "$out holds no merged manifest"
  [ ! -e "$out/tasks" ] || fail "$out/tasks was not removed by the merge"
  "$lcde_binary" verify "$out" >/dev/null || fail "lcde verify $out failed"
  local problems
  problems=$(python3 - "$lcde_binary" "$out" "$kTasks" <<'PY'
import json, subprocess, sys
lcde, out, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3])
stats = json.loads(subprocess.run([lcde, "stats", "--json", out], check=True, capture_output=True).stdout)
manifest = json.load(open(out + "/manifest.json"))
bad = [f"{name} {s['share']:.4f} for {s['target_share']:.4f}" for name, s in stats["sources"].items()
       if abs(s["share"] - s["target_share"]) > 0.005]
if manifest["sampling"]["shortfall"]:
    bad.append(f"shortfall {manifest['sampling']['shortfall']}")
if manifest.get("merged_from_tasks") != tasks:
    bad.append(f"merged from {manifest.get('merged_from_tasks')} tasks")
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
  ) || fail "$out misses its targets: $problems"
  diff -r "$dir/ref" "$out" >&2 || fail "$out differs from the build run without SLURM ($dir/ref)"
}

# Inode numbers of a task part's shard files (a merge hard-links them).
part_inodes() { stat -c %i "$1"/part-*.bin | sort; }
# Fails unless every inode in the list names a file in the merged dataset.
expect_linked() {  # inodes-file out what
  local inode
  while read -r inode; do
    [ -n "$(find "$2" -maxdepth 1 -inum "$inode" -print -quit)" ] || fail "$3: shard inode $inode was rewritten, not kept"
  done < "$1"
}

fail() { echo "$*" > "$dir/reason"; echo "FAILED: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# Scenarios

# The same build without SLURM: kTasks processes with --task-index/--num-tasks
# and lcde merge, the reference every SLURM run must equal byte for byte.
build_reference() {
  local i pids=() failed=0
  for ((i = 0; i < kTasks; i++)); do
    "$lcde_binary" build -q -c "$dir/mix.yaml" -o "$dir/ref" --task-index "$i" --num-tasks "$kTasks" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || failed=1; done
  [ "$failed" -eq 0 ] && "$lcde_binary" merge "$dir/ref"
}

scenario_1() {
  local out=$work/out1 i state code start end last_end=""
  submit "$out"
  # The merge waits on the whole array (afterok on the array's id).
  [[ "$(slurm squeue -h -j "$merge_job" -o %E)" == *"afterok:${array_job}_*"* ]] ||
    fail "merge job $merge_job does not depend on array $array_job: $(slurm squeue -h -j "$merge_job" -o %E)"
  wait_gone "$array_job" "$merge_job"
  for ((i = 0; i < kTasks; i++)); do
    read -r state code start end <<< "$(job_record "${array_job}_$i")"
    [ "$state $code" = "COMPLETED 0:0" ] || fail "task $i ended $state $code"
    [[ -z "$last_end" || "$end" > "$last_end" ]] && last_end=$end
  done
  read -r state code start end <<< "$(job_record "$merge_job")"
  [ "$state $code" = "COMPLETED 0:0" ] || fail "merge job ended $state $code"
  [[ ! "$start" < "$last_end" ]] || fail "merge job started at $start, before the last task ended at $last_end"
  grep -q ": OK (" "$work/lcde-merge-$merge_job.log" || fail "the merge job's lcde verify did not pass"
  check_dataset "$out"
}

# Freezes lcde of task $2 of array job $1 (part directory $3) at its first
# checkpoint with SIGSTOP, stepping it in 10 ms slices, so that the requeue
# lands mid-build on a machine of any speed or load. SLURM does not see it:
# its requeue sends SIGCONT before SIGTERM, as to any job. Prints the
# stopped PID; returns 1 when the task finished first (the caller tries
# another).
freeze_mid_build() {
  python3 - "$dir" "$1" "$2" "$3" $((kDeadline - SECONDS)) <<'PY'
import os, signal, sys, time
marker, array, task, part, seconds = sys.argv[1:]
want = {f"LCDE_SLURM_TEST={marker}", f"SLURM_ARRAY_JOB_ID={array}", f"SLURM_ARRAY_TASK_ID={task}"}

def find():  # the task's lcde process (the batch script execs it), or None
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{p}/comm").read().strip() != "lcde":
                continue
            if want <= set(open(f"/proc/{p}/environ", "rb").read().decode(errors="replace").split("\0")):
                return int(p)
        except OSError:
            pass
    return None

def stop(pid):  # returns once the process is stopped (or gone)
    os.kill(pid, signal.SIGSTOP)
    while True:
        try:
            if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] in "TtZX":
                return
        except (OSError, IndexError):
            return
        time.sleep(0.001)

def finished():
    return os.path.exists(f"{part}/manifest.json")

deadline = time.time() + min(120, int(seconds))
pid = None
while pid is None:
    if finished():
        sys.exit(1)
    if time.time() > deadline:
        sys.exit(f"task {task} of array {array} did not start in time")
    pid = find()
    time.sleep(0.002)
stop(pid)
while not os.path.exists(f"{part}/checkpoint.json") and not finished():
    if time.time() > deadline:
        os.kill(pid, signal.SIGCONT)
        sys.exit(f"task {task} wrote no checkpoint in time")
    os.kill(pid, signal.SIGCONT)
    time.sleep(0.01)
    stop(pid)
if finished():
    os.kill(pid, signal.SIGCONT)
    sys.exit(1)
print(pid)
PY
}

scenario_2() {
  local out=$work/out2 i task="" job part state pid
  submit "$out"
  # The first task caught mid-build, at its first checkpoint.
  for ((i = 0; i < kTasks; i++)); do
    part=$out/tasks/$(printf '%05d-of-%05d' "$i" "$kTasks")
    if pid=$(freeze_mid_build "$array_job" "$i" "$part"); then task=$i; break; fi
  done
  [ -n "$task" ] || fail "every task finished before it could be requeued"
  job=${array_job}_$task
  local shards
  shards=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["shards"]))' "$part/checkpoint.json")
  : > "$dir/s2-inodes"
  for ((i = 0; i < shards; i++)); do stat -c %i "$part/$(printf 'part-%05d' "$i").bin" >> "$dir/s2-inodes"; done
  # SIGCONT and SIGTERM (lcde stops at its last finished shard), then the
  # task is queued again. (Frozen by SIGSTOP, not scontrol suspend: SLURM
  # kills a suspended job without a SIGTERM.)
  slurm scontrol requeue "$job"
  echo "requeued task $task (lcde $pid, frozen after $shards checkpointed shards)"
  # SLURM delays a requeued job by 120 s; the test starts it now.
  wait_for 60 "task $task to be pending again" job_pending "$job" || fail "task $task was not requeued"
  slurm scontrol update JobId="$job" StartTime=now
  wait_gone "$array_job" "$merge_job"
  read -r state code _ <<< "$(job_record "$merge_job")"
  [ "$state $code" = "COMPLETED 0:0" ] || fail "merge job ended $state $code"
  read -r state code _ <<< "$(job_record "$job")"
  [ "$state $code" = "COMPLETED 0:0" ] || fail "task $task ended $state $code"
  slurm scontrol show job "$job" | grep -q "Restarts=1 " || fail "task $task did not restart once"
  local log
  log=$(task_log "$array_job" "$task")
  grep -q "interrupted by SIGTERM" "$log" || fail "task $task did not stop on SIGTERM ($log)"
  # SIGTERM lets the shard being written finish: it resumes from that many or more.
  local resumed
  resumed=$(sed -n 's/.*resuming in .*: \([0-9]*\) shards.*/\1/p' "$log")
  [ -n "$resumed" ] && [ "$resumed" -ge "$shards" ] ||
    fail "task $task did not resume from its $shards checkpointed shards: $(grep -E 'resum|building' "$log")"
  grep -q "run 2," "$log" || fail "task $task's log does not show its second run"
  expect_linked "$dir/s2-inodes" "$out" "task $task"
  check_dataset "$out"
}
job_pending() { [ "$(slurm squeue -h -j "$1" -o %T)" = PENDING ]; }

scenario_3() {
  local out=$work/out3 bad=2 file i state code
  # The file task `bad` reads first (files go to tasks round robin in the
  # manifest's input order).
  file=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["inputs"][int(sys.argv[2])]["path"])' \
    "$dir/ref/manifest.json" "$bad")
  chmod 600 "$file"
  trap "chmod 644 '$file'" EXIT
  submit "$out"
  wait_gone "$array_job" "$merge_job"
  for ((i = 0; i < kTasks; i++)); do
    read -r state code _ <<< "$(job_record "${array_job}_$i")"
    if [ "$i" -eq "$bad" ]; then
      [ "$state" = FAILED ] || fail "task $i with the unreadable file ended $state $code"
      grep -q "cannot open input file '$file'" "$(task_log "$array_job" "$i")" ||
        fail "task $i's log does not name the unreadable file"
    else
      [ "$state $code" = "COMPLETED 0:0" ] || fail "task $i ended $state $code (only task $bad reads $file)"
    fi
  done
  read -r state code _ <<< "$(job_record "$merge_job")"
  [ "$state" = CANCELLED ] || fail "the merge job ended $state $code, not cancelled for its failed dependency"
  slurm scontrol show job "$merge_job" | grep -q "Reason=DependencyNeverSatisfied" ||
    fail "the merge job's reason is not DependencyNeverSatisfied"
  [ ! -e "$out/manifest.json" ] || fail "a merged manifest exists after a failed task"
  : > "$dir/s3-inodes"
  for ((i = 0; i < kTasks; i++)); do
    [ "$i" -eq "$bad" ] && continue
    part_inodes "$out/tasks/$(printf '%05d-of-%05d' "$i" "$kTasks")" >> "$dir/s3-inodes"
  done

  chmod 644 "$file"
  local first_array=$array_job
  submit "$out"
  wait_gone "$array_job" "$merge_job"
  read -r state code _ <<< "$(job_record "$merge_job")"
  [ "$state $code" = "COMPLETED 0:0" ] || fail "the re-submitted merge job ended $state $code"
  for ((i = 0; i < kTasks; i++)); do
    [ "$i" -eq "$bad" ] && continue
    grep -q "already holds a complete dataset; nothing to resume" "$(task_log "$array_job" "$i")" ||
      fail "re-submitted task $i did its work again (array $first_array finished it)"
  done
  expect_linked "$dir/s3-inodes" "$out" "a finished task's part"
  check_dataset "$out"
}

# Two one-CPU tasks on the node: bound by task/affinity, and unbound (as on a
# cluster without task binding: a wrapper widens lcde's CPU affinity to the
# whole node), where only SLURM_CPUS_PER_TASK tells the allocation.
scenario_4() {
  local cpus i variant job log
  cpus=$(nproc)
  [ "$cpus" -ge 2 ] || echo "note: a 1-CPU machine cannot tell a task's allocation from the node"
  printf '#!/bin/sh\nexec taskset -c 0-%d %s "$@"\n' $((cpus - 1)) "$dir/bin/lcde" > "$dir/bin/lcde-unbound"
  chmod 755 "$dir/bin/lcde-unbound"
  for variant in bound unbound; do
    local binary=$dir/bin/lcde
    [ "$variant" = unbound ] && binary=$dir/bin/lcde-unbound
    job=$(as_user env LCDE="$binary" sbatch --parsable --array=0-1 --cpus-per-task=1 --mem=256M \
      --export=ALL,CONFIG="$dir/tiny.yaml",OUTPUT_DIR="$work/out4-$variant" "$dir/slurm/build-array.sbatch")
    wait_gone "$job"
    for i in 0 1; do
      log=$(task_log "$job" "$i")
      read -r state code _ <<< "$(job_record "${job}_$i")"
      [ "$state $code" = "COMPLETED 0:0" ] || fail "$variant task $i ended $state $code"
      [ -f "$work/out4-$variant/tasks/0000$i-of-00002/manifest.json" ] || fail "$variant task $i wrote no part"
      grep -q "tokenizer threads: 1 (" "$log" ||
        fail "$variant task $i on a $cpus-CPU node did not size its threads to its one CPU: $(grep 'tokenizer threads' "$log")"
      if [ "$variant" = unbound ] && [ "$cpus" -ge 2 ]; then
        grep -q "SLURM_CPUS_PER_TASK=1" "$log" || fail "unbound task $i did not say SLURM_CPUS_PER_TASK capped it"
      fi
    done
  done
}

# ---------------------------------------------------------------------------

# What a failed scenario leaves to look at (the directory goes with cleanup):
# its own output, SLURM's record of every job, and the controller's word on
# jobs and dependencies.
show_failure() {
  {
    echo "scenario $1:"
    tail -n 25 "$dir/log/scenario-$1.log"
    echo "jobs (jobcomp):"
    awk '{ out = ""; for (i = 1; i <= NF; i++) if ($i ~ /^(JobId|ArrayJobId|ArrayTaskId|JobState|ExitCode|StartTime|EndTime)=/) out = out " " $i; print out }' \
      "$dir/log/jobcomp.txt" 2>/dev/null | tail -n 20
    echo "slurmctld:"
    grep -iE 'depend|requeue|cancel|kill|_job_complete' "$dir/log/slurmctld.log" 2>/dev/null | tail -n 20
  } | sed 's/^/      | /'
}

passed=0
failed=0
run_scenario() {  # number title
  local n=$1 title=$2 t0=$SECONDS rc
  rm -f "$dir/reason"
  set +e
  (
    set -eE
    trap 'echo "line $LINENO: $BASH_COMMAND failed" > "$dir/reason"' ERR
    "scenario_$n"
  ) > "$dir/log/scenario-$n.log" 2>&1
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    printf 'PASS  %s %-62s %3ds\n' "$n" "$title" $((SECONDS - t0))
  else
    failed=$((failed + 1))
    printf 'FAIL  %s %-62s %3ds: %s\n' "$n" "$title" $((SECONDS - t0)) "$(cat "$dir/reason" 2>/dev/null || echo "exit $rc")"
    show_failure "$n"
  fi
}

main() {
  [ "$(id -u)" -eq 0 ] || skip "needs root to start munged, slurmctld and slurmd"
  [ -x "$lcde_binary" ] || { echo "no lcde binary at $lcde_binary" >&2; exit 1; }
  id "$kJobUser" >/dev/null 2>&1 || skip "no user '$kJobUser' to run the jobs as"
  ensure_packages
  dir=$(mktemp -d "${TMPDIR:-/tmp}/lcde-slurm.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  chmod 755 "$dir"
  conf=$dir/slurm.conf
  work=$dir/work
  local t0=$SECONDS

  # What the job user runs and reads, where it can.
  mkdir -p "$dir/bin" "$dir/slurm" "$dir/log" "$work"
  cp "$lcde_binary" "$dir/bin/lcde"
  cp "$root"/scripts/slurm/* "$dir/slurm/"
  cp "$root/models/demo.model" "$dir/"
  chown "$kJobUser" "$work"
  python3 "$root/scripts/make_sample_corpus.py" --out "$dir/corpus" --tokens 4M --files 8 --seed 8 \
    > "$dir/log/corpus.log" 2>&1 || { cat "$dir/log/corpus.log" >&2; exit 1; }
  chmod -R a+rX "$dir/corpus"
  # 39 shards of one 4K chunk per task: many checkpoints to requeue between.
  cat > "$dir/mix.yaml" <<YAML
seed: 21
input: {paths: [$dir/corpus]}
tokenizer: {model: $dir/demo.model}
mixture:
  total_tokens: 640K
  strategy: per_source
  short_keep_ratio: 0.3
  weights: {RedPajamaCommonCrawl: 0.6, RedPajamaC4: 0.25, RedPajamaGithub: 0.1, RedPajamaWikipedia: 0.05}
output: {dir: $work/unused, sequence_length: 4K, chunks_per_shard: 1}
YAML
  sed -e 's/total_tokens: 640K/total_tokens: 32K/' "$dir/mix.yaml" > "$dir/tiny.yaml"
  chmod 644 "$dir"/*.yaml "$dir/demo.model"

  if ! start_cluster; then
    echo "the SLURM daemons did not come up; their logs:" >&2
    tail -n 15 "$dir"/log/*.out "$dir"/log/*.log >&2 2>/dev/null || true
    exit 1
  fi
  build_reference > "$dir/log/reference.log" 2>&1 || { cat "$dir/log/reference.log" >&2; exit 1; }
  log "cluster and reference build ready in $((SECONDS - t0))s ($dir)"

  local n
  declare -A titles=(
    [1]="submit.sh, 4 tasks: merge after all, verify, shares, = no-SLURM"
    [2]="a task requeued mid-build resumes from its checkpoint, same bytes"
    [3]="a failed task cancels the merge; re-submit keeps finished parts"
    [4]="a task sizes its threads from its allocation, not the node"
  )
  for n in $scenarios; do run_scenario "$n" "${titles[$n]}"; done
  echo "$passed passed, $failed failed ($((SECONDS - t0))s)"
  [ "$failed" -eq 0 ]
}

main "$@"
