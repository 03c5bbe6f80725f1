#!/bin/bash
# ferry push of one dataset as a Slurm job array: each task pushes the files whose
# path hash (xxh3) falls in its share. --shard auto reads SLURM_ARRAY_TASK_ID and
# SLURM_ARRAY_TASK_COUNT (an array 1-8 counts from SLURM_ARRAY_TASK_MIN), and the
# group defaults to SLURM_ARRAY_JOB_ID, which every task of one submission shares.
# The last task to finish merges the partial manifests into one snapshot.
#
#   sbatch --export=ALL,SRC=/datasets/imagenet,STORE=/stores/imagenet ferry-push-array.sh
#
# A failed task can be resubmitted alone with the same group:
#   FERRY_SHARD_GROUP=<first job id> sbatch --array=3 ferry-push-array.sh
#SBATCH --job-name=ferry-push
#SBATCH --array=0-7
#SBATCH --cpus-per-task=8
#SBATCH --mem=4G
#SBATCH --time=06:00:00
#SBATCH --output=ferry-push-%A_%a.out
set -euo pipefail
: "${SRC:?set SRC, the directory to push}"
: "${STORE:?set STORE, the ferry store}"
PASSFILE=${FERRY_PASSPHRASE_FILE:-/etc/ferry/store.passphrase}
exec ferry push --quiet --shard auto \
	--passphrase-file "$PASSFILE" \
	--log-file "ferry-push-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.log" \
	--metrics-file "ferry-push-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.prom" \
	"$SRC" "$STORE"
