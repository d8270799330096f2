"""The parts of `make gpu-check` that run without a GPU: the sanitizers'
script (tools/cuda_smoke.py) makes only valid calls, so that on a GPU a
failure is the sanitizer's finding, not the script's."""

from pathlib import Path

from conftest import assert_child_ok, cpu_kernels_env, run_child

SMOKE = Path(__file__).resolve().parent.parent / "tools" / "cuda_smoke.py"


def test_cuda_smoke_cases_run_on_the_cpu():
    # The CUDA kernels' path, imitated on the CPU, takes the same cases.
    for kernels in ("default", "cuda-path"):
        result = run_child(str(SMOKE), "cpu", env=cpu_kernels_env(kernels))
        assert_child_ok(result, kernels)
        assert result.stdout.rstrip().endswith("all calls returned"), result.stdout
