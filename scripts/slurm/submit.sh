#!/usr/bin/env bash
# Submits an lcde build as a SLURM job array plus a dependent merge job.
#   scripts/slurm/submit.sh CONFIG OUTPUT_DIR [TASKS]
# OUTPUT_DIR must be the config's output.dir (pass it to be explicit; the
# merge job needs it). TASKS defaults to 8; keep it at most the number of
# input files.
set -euo pipefail
config=$(realpath "$1"); out=$2; tasks=${3:-8}
here=$(cd "$(dirname "$0")" && pwd)
array=$(sbatch --parsable --array=0-$((tasks - 1)) --export=ALL,CONFIG="$config" "$here/build-array.sbatch")
merge=$(sbatch --parsable --dependency=afterok:"${array%%;*}" --export=ALL,OUTPUT_DIR="$out" "$here/merge.sbatch")
echo "array job $array ($tasks tasks), merge job $merge (after all succeed)"
