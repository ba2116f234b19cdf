#!/usr/bin/env bash
# The GPU check: on a fresh GPU machine, in at most 8 minutes (studies/gpu_check/config.yaml, check.total_limit_s),
#   (a) installs the wheels in .whl/ when that folder exists and a package they hold is missing
#       (benchmarks/fetch_wheels.sh makes it), into a scratch folder put on PYTHONPATH;
#   (b) runs the CUDA tests (tests/test_cuda.py: MAML meta-gradient vs the task loop, exact resume, a tiny run);
#   (c) benchmarks/bench_maml.py --device cuda (our MAML against the per-task loop, gradients and speed);
#   (d) benchmarks/bench_throughput.py --device cuda (steps/s of GAN, ProtoNets, MAML; evaluation cost; 1-16
#       concurrent runs);
#   (e) ssml reproduce --profile paper-smoke (the paper profile's methods and settings at tiny budgets) on the GPU;
#   (f) writes its files into OUT_DIR and prints a one-screen summary, with the paper profile's device-time
#       estimate from the measured rates (studies/gpu_check/estimate.py).
# OUT_DIR (default studies/gpu_check/records/cuda) receives six files: gpu_check.json (the summary), gpu_check.log,
# tests.xml (JUnit), bench_maml.json, bench_throughput.json, paper_smoke.tar.gz (the smoke sweep's records, curves,
# executed notebooks and figures).
#
#   benchmarks/gpu_check.sh DATA_ROOT [OUT_DIR]      # DATA_ROOT holds omniglot-py/ (the two official zips)
#   GPU_CHECK_DEVICE=cpu benchmarks/gpu_check.sh DATA_ROOT /tmp/check   # the same stages shrunk, on the CPU
#
# Environment: GPU_CHECK_DEVICE (cuda, the default, or cpu), PYTHON (default python3). Exit code 0 when every stage
# passed, 1 when one failed or ran out of time, 2 for bad arguments.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
START=$(date +%s)
usage() { echo "usage: benchmarks/gpu_check.sh DATA_ROOT [OUT_DIR]   (GPU_CHECK_DEVICE=cuda|cpu)" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
case "$DEVICE" in cuda|cpu) ;; *) echo "gpu_check: GPU_CHECK_DEVICE must be cuda or cpu, got '$DEVICE'" >&2; exit 2;; esac
[ -d "$1/omniglot-py" ] || { echo "gpu_check: DATA_ROOT '$1' has no omniglot-py/ folder (expected the data root holding omniglot-py/images_background.zip and images_evaluation.zip)" >&2; exit 2; }
DATA_ROOT=$(cd "$1" && pwd)
OUT=${2:-$ROOT/studies/gpu_check/records/$DEVICE}
mkdir -p "$OUT" || { echo "gpu_check: cannot create OUT_DIR '$OUT'" >&2; exit 2; }
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
rm -f "$OUT"/{gpu_check.json,gpu_check.log,tests.xml,bench_maml.json,bench_throughput.json,paper_smoke.tar.gz}
exec > >(tee "$OUT/gpu_check.log") 2>&1
echo "gpu_check: device $DEVICE, data $DATA_ROOT, out $OUT, scratch $WORK, $(date -Is)"

# (a) carried wheels, when some package they hold is missing
NEEDS='import papermill, nbclient, ipykernel, dask.distributed, tyro, fastcore'
if compgen -G "$ROOT/.whl/*.whl" > /dev/null && ! "$PY" -c "$NEEDS" 2>/dev/null; then
  echo "== wheels: installing $(ls "$ROOT"/.whl/*.whl | wc -l) from .whl/ into $WORK/site"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" "$ROOT"/.whl/*.whl \
    || { echo "gpu_check: installing the wheels of .whl/ failed" >&2; exit 1; }
  export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" SSML_DATA="$DATA_ROOT" SSML_CACHE="$WORK/cache" PYTHONUNBUFFERED=1 \
       OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg
cd "$ROOT"

# the stages' settings, from the study's config.yaml, as shell variables
eval "$("$PY" - "$DEVICE" <<'EOF'
import shlex, sys, yaml
c = yaml.safe_load(open('studies/gpu_check/config.yaml'))['check']
s = c[sys.argv[1]]
print(f"TOTAL={int(c['total_limit_s'])} RESERVE={int(c['summary_reserve_s'])}")
for k in ('tests', 'bench_maml', 'bench_throughput', 'paper_smoke'): print(f"T_{k}={int(s[k]['timeout_s'])}")
print('A_bench_maml=(' + ' '.join(shlex.quote(str(x)) for x in s['bench_maml']['args']) + ')')
print('A_bench_throughput=(' + ' '.join(shlex.quote(str(x)) for x in s['bench_throughput']['args']) + ')')
p = s['paper_smoke']
print(f"PROFILE={shlex.quote(p['profile'])} SMOKE_WORKERS={int(p['workers'])}")
print('A_set=(' + ' '.join(shlex.quote(f'--set={x}') for x in p['set']) + ')')
EOF
)" || { echo "gpu_check: could not read studies/gpu_check/config.yaml (is PyYAML there?)" >&2; exit 1; }
DEADLINE=$(( START + TOTAL - RESERVE ))
printf 'stage\trc\tseconds\tlimit_s\n' > "$WORK/stages.tsv"

stage() {  # stage NAME CAP_S CMD...: run CMD under min(CAP_S, time left), its output into the log and $WORK/NAME.out
  local name=$1 cap=$2; shift 2
  local left=$(( DEADLINE - $(date +%s) ))
  local lim=$(( cap < left ? cap : left ))
  if (( lim < 15 )); then
    echo "== $name: skipped, ${left}s left before the deadline"; printf '%s\tskipped\t0\t%s\n' "$name" "$lim" >> "$WORK/stages.tsv"; return
  fi
  echo "== $name (limit ${lim}s): $*"
  local t0=$(date +%s)
  timeout --kill-after=5 "$lim" "$@" 2>&1 | tee "$WORK/$name.out"
  local rc=${PIPESTATUS[0]}
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - t0 ))" "$lim" >> "$WORK/stages.tsv"
  echo "== $name: exit $rc in $(( $(date +%s) - t0 ))s$( (( rc == 124 || rc == 137 )) && echo ' (time limit)')"
}
last_json() {  # last_json FILE DEST: the last line of FILE, when it is a JSON object, into DEST
  "$PY" -c 'import json,sys; l=open(sys.argv[1]).read().strip().splitlines(); d=json.loads(l[-1]); assert isinstance(d, dict); open(sys.argv[2],"w").write(json.dumps(d, indent=1)+"\n")' "$1" "$2" 2>/dev/null \
    || echo "gpu_check: no JSON line at the end of $1"
}

# (b) the CUDA tests (on the CPU in cpu mode: SSML_TEST_DEVICE=cpu)
SSML_TEST_DEVICE=$DEVICE stage tests "$T_tests" "$PY" -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py --junitxml="$OUT/tests.xml"

# (c) our MAML against the per-task loop
stage bench_maml "$T_bench_maml" "$PY" benchmarks/bench_maml.py --device "$DEVICE" "${A_bench_maml[@]}"
last_json "$WORK/bench_maml.out" "$OUT/bench_maml.json"

# (d) throughput and concurrency
stage bench_throughput "$T_bench_throughput" "$PY" benchmarks/bench_throughput.py --device "$DEVICE" --root "$DATA_ROOT" \
  --out "$OUT/bench_throughput.json" "${A_bench_throughput[@]}"

# (e) the paper profile's methods at tiny budgets, through the experiment notebooks
SMOKE=$WORK/paper-smoke
stage paper_smoke "$T_paper_smoke" "$PY" -c 'import sys; from ssml.cli import main; sys.exit(main())' reproduce --profile "$PROFILE" \
  --workers "$SMOKE_WORKERS" --out-dir "$SMOKE/results" --fig-dir "$SMOKE/figures" --set "work_dir=$SMOKE/runs" --set "device=$DEVICE" \
  --set "data_root=$DATA_ROOT" "${A_set[@]}"
PACK=$(cd "$SMOKE" 2>/dev/null && ls -d results figures 2>/dev/null)
[ -n "$PACK" ] && tar -czf "$OUT/paper_smoke.tar.gz" -C "$SMOKE" $PACK

# (f) the summary
"$PY" studies/gpu_check/summarize.py --out "$OUT" --stages "$WORK/stages.tsv" --smoke "$SMOKE/results" --device "$DEVICE" \
  --seconds "$(( $(date +%s) - START ))"
rc=$?
echo "gpu_check: done in $(( $(date +%s) - START ))s; files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
rm -rf "$WORK"
exit $rc
