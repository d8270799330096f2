#!/usr/bin/env bash
# make gpu-check OUT=DIR: on a machine with an NVIDIA GPU, CUDA's compiler and
# a CUDA build of torch (no network needed), builds idmatch in place for that
# GPU, checks that every op has a CUDA kernel, runs the test suite (the
# exactness suites run on CUDA through their `device` fixture, and
# tests/test_cuda.py adds what only a GPU shows), runs compute-sanitizer
# (memcheck, racecheck, synccheck, initcheck) over tools/cuda_smoke.py, and
# runs the benchmark on CUDA with the peers that are installed. The CUDA
# tests and the benchmark run again with IDMATCH_CUDA_THREAD_SOLVER=1, one
# thread per problem, the solver the teams replace (core/lsa_team.h). Logs,
# the tests' JUnit XML, the benchmarks' JSON and summary.json go into DIR.
#
# Wheels in .whl/ (tools/fetch_gpu_wheels.sh) are installed first into a
# folder of their own: the peers and whatever the GPU machine's image lacks.
# Each step has a time limit (together 19 minutes), so that a hung step
# cannot hold the machine; a failed step does not stop the next ones.
# STEPS="tests memcheck ..." runs only the steps named there, after the
# wheels, the environment and the build (a no-op where the build is there
# already): so the check can be split over calls that each have less time.
set -uo pipefail
out=${1:?usage: tools/gpu_check.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
steps=()

# step NAME LIMIT_S COMMAND...: runs COMMAND with its output in DIR/NAME.log,
# unless STEPS leaves it out.
step() {
  local name=$1 limit=$2 start rc
  shift 2
  case " wheels environment build ${STEPS:-$name} " in
    *" $name "*) ;;
    *) return 0 ;;
  esac
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >"$out/$name.log" 2>&1
  rc=$?
  steps+=("{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $(($(date +%s) - start))}")
  # Rewritten after every step: a run cut short still leaves its summary.
  printf '{"steps": [%s]}\n' "$(IFS=,; echo "${steps[*]}")" >"$out/summary.json"
  echo "== $name: rc $rc in $(($(date +%s) - start)) s (log: $name.log)"
  tail -n 5 "$out/$name.log"
  return 0
}

if compgen -G ".whl/*.whl" >/dev/null; then
  site=$(mktemp -d)
  step wheels 60 "$python" -m pip install --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" .whl/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi

step environment 30 bash -c "nvidia-smi; $python - <<'PY'
import importlib.util, platform, torch
print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.version.cuda)
print('gpu', torch.cuda.get_device_name(0), 'capability', torch.cuda.get_device_capability(0))
for name in ('scipy', 'numpy', 'hypothesis', 'pytest', 'expecttest', 'xdist', 'lap', 'torch_linear_assignment',
             'sleap_nn'):
    print('module', name, 'present' if importlib.util.find_spec(name) else 'missing')
PY"

arch=$("$python" -c "import torch; print('%d.%d' % torch.cuda.get_device_capability(0))" 2>/dev/null || echo 9.0)
step build 180 env IDMATCH_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch" MAX_JOBS="$(nproc)" \
  "$python" setup.py build_ext --inplace
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"

step kernels 30 "$python" tools/check_kernels.py CPU CUDA

workers=()
if "$python" -c "import xdist" 2>/dev/null; then workers=(-n "$(($(nproc) > 12 ? 12 : $(nproc)))"); fi
step tests 180 "$python" -m pytest -q -p no:cacheprovider "${workers[@]}" --junitxml="$out/tests.xml" tests

step launches 60 "$python" -m pytest -q -s -p no:cacheprovider tests/test_cuda.py -k launches

sanitizer=$(command -v compute-sanitizer || echo "$CUDA_HOME/bin/compute-sanitizer")
step memcheck 60 "$sanitizer" --tool memcheck --error-exitcode 1 "$python" tools/cuda_smoke.py
step racecheck 60 "$sanitizer" --tool racecheck --error-exitcode 1 "$python" tools/cuda_smoke.py
# Barriers inside the block teams' data-dependent loops: every thread at each.
step synccheck 60 "$sanitizer" --tool synccheck --error-exitcode 1 "$python" tools/cuda_smoke.py
# racecheck sees shared memory only: a read of global memory never written,
# such as a workspace slot that holds the lane states of a wide problem.
step initcheck 60 "$sanitizer" --tool initcheck --error-exitcode 1 "$python" tools/cuda_smoke.py

step bench 150 "$python" -m idmatch bench --device cuda --json "$out/bench.json"

# The solver the teams replaced, on the workloads it serves: its answers
# and its times, for the comparison.
step thread-solver-tests 90 env IDMATCH_CUDA_THREAD_SOLVER=1 "$python" -m pytest -q -p no:cacheprovider \
  "${workers[@]}" --junitxml="$out/thread-solver-tests.xml" tests/test_cuda.py \
  -k "ragged or identity or graph or padded or paf"
step thread-solver-bench 120 env IDMATCH_CUDA_THREAD_SOLVER=1 "$python" -m idmatch bench --device cuda \
  --workloads L1,L2,L3,L4,T,W1,W2,W3,W4,X1,X2,P1,P3,P5 --json "$out/bench-thread-solver.json"

echo "== summary: $out/summary.json"
cat "$out/summary.json"
