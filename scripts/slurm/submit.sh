#!/usr/bin/env bash
# Submits an lcde build as a SLURM job array plus a dependent merge job.
#   scripts/slurm/submit.sh CONFIG OUTPUT_DIR [TASKS] [-- SBATCH_OPTION...]
# OUTPUT_DIR replaces the config's output.dir: the tasks write their parts
# under OUTPUT_DIR/tasks/ and the merge job joins them into OUTPUT_DIR. Both
# it and CONFIG (with the inputs and the tokenizer it names) must be on a
# filesystem every node sees. TASKS defaults to 8; keep it at most the number
# of input files. Options after `--` go to both sbatch calls (partition,
# account, QOS: --partition=cpu --account=proj); options for one job only
# come from the environment, word-split, and override the scripts' #SBATCH
# lines (sizes, time limits):
#   LCDE_BUILD_SBATCH_ARGS   e.g. "--cpus-per-task=32 --mem=16G --time=6:00:00"
#   LCDE_MERGE_SBATCH_ARGS   e.g. "--time=1:00:00"
#   LCDE                     the lcde binary the jobs run (default: lcde on PATH)
# Logs go to the directory this is run from (lcde-build-ARRAY_TASK.log,
# lcde-merge-JOB.log). Prints the two job ids: "array job A (N tasks), merge
# job M (after all succeed)".
set -euo pipefail
usage() { echo "usage: $0 CONFIG OUTPUT_DIR [TASKS] [-- SBATCH_OPTION...]" >&2; exit 2; }
positional=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do positional+=("$1"); shift; done
[ $# -gt 0 ] && shift  # the "--"
[ ${#positional[@]} -ge 2 ] && [ ${#positional[@]} -le 3 ] || usage
config=$(realpath "${positional[0]}")
out=$(realpath -m "${positional[1]}")
tasks=${positional[2]:-8}
[[ "$tasks" =~ ^[1-9][0-9]*$ ]] || usage
here=$(cd "$(dirname "$0")" && pwd)
read -r -a build_args <<< "${LCDE_BUILD_SBATCH_ARGS:-}"
read -r -a merge_args <<< "${LCDE_MERGE_SBATCH_ARGS:-}"
array=$(sbatch --parsable "$@" "${build_args[@]}" --array=0-$((tasks - 1)) \
  --export=ALL,CONFIG="$config",OUTPUT_DIR="$out" "$here/build-array.sbatch")
# A failed task fails the dependency for good: cancel the merge job then
# instead of leaving it pending forever (DependencyNeverSatisfied).
merge=$(sbatch --parsable "$@" "${merge_args[@]}" --dependency=afterok:"${array%%;*}" \
  --kill-on-invalid-dep=yes --export=ALL,OUTPUT_DIR="$out" "$here/merge.sbatch")
echo "array job ${array%%;*} ($tasks tasks), merge job ${merge%%;*} (after all succeed)"
