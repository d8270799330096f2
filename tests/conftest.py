"""Shared helpers of the test suite: devices and dtypes, the scipy oracle,
random assignment problems, the NaN-aware identity assertion and the
child-process runner.

scipy.optimize.linear_sum_assignment is the oracle for every answer. A problem
is generated in the dtype under test and the oracle sees exactly those values
converted to float64, which is what the solver works on.
"""

import ctypes
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment as scipy_lsa

import idmatch  # noqa: F401  (registers torch.ops.idmatch)
from idmatch import Status
from idmatch._common import FLOATING_DTYPES, INDEX_DTYPES
from idmatch._loader import cpu_kernel_kind

# Costs of these dtypes are solved as scipy casts them, in float64.
INT_DTYPES = (torch.bool,) + INDEX_DTYPES

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

INVALID_ENTRIES_MESSAGE = "matrix contains invalid numeric entries"
INFEASIBLE_MESSAGE = "cost matrix is infeasible"


def pytest_report_header(config):
    # Which build is under test: the installed wheel or package, never the
    # source tree (the package lives under python/, which is not on sys.path).
    from idmatch import _build_config

    # The CPU kernels run their AVX-512 versions where the CPU has AVX-512,
    # unless IDMATCH_CPU_AVX512=0 sends them to the shared core, or
    # IDMATCH_CPU_CUDA_PATH=1 to the CUDA kernels' path.
    return (
        f"idmatch {idmatch.__version__} from {idmatch.__file__}, built for torch "
        f"{_build_config.TORCH_VERSION}, CUDA {_build_config.CUDA_VERSION if _build_config.WITH_CUDA else 'off'}, "
        f"CPU kernels: {cpu_kernel_kind()} (IDMATCH_CPU_AVX512={os.environ.get('IDMATCH_CPU_AVX512', 'unset')}, "
        f"IDMATCH_CPU_CUDA_PATH={os.environ.get('IDMATCH_CPU_CUDA_PATH', 'unset')})"
    )


def under_asan() -> bool:
    """Whether this process runs under AddressSanitizer (make sanitize-check)."""
    try:
        return hasattr(ctypes.CDLL(None), "__asan_init")
    except OSError:
        return False


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture(params=FLOATING_DTYPES, ids=lambda d: str(d).replace("torch.", ""))
def float_dtype(request):
    return request.param


def raw_op():
    return torch.ops.idmatch.ragged_linear_sum_assignment


def as_float64_numpy(cost) -> np.ndarray:
    if isinstance(cost, torch.Tensor):
        return cost.detach().to(device="cpu", dtype=torch.float64).numpy()
    return np.asarray(cost, dtype=np.float64)


def describe(cost, maximize: Optional[bool] = None) -> str:
    """The matrix in a form that reproduces the failure when pasted into scipy."""
    head = []
    if isinstance(cost, torch.Tensor):
        head.append(f"dtype={cost.dtype} device={cost.device}")
    if maximize is not None:
        head.append(f"maximize={maximize}")
    array = as_float64_numpy(cost)
    body = np.array2string(array, separator=", ", threshold=sys.maxsize, floatmode="unique", max_line_width=160)
    return f"{' '.join(head)} shape={array.shape}\nnp.array({body})"


@dataclass
class Oracle:
    """scipy's answer for one matrix: either an assignment or an error."""

    row_ind: Optional[np.ndarray]
    col_ind: Optional[np.ndarray]
    col_for_row: Optional[np.ndarray]  # (N,) int64, -1 for unassigned rows
    error: Optional[str]  # scipy's ValueError message

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> int:
        """The raw op's status code for this matrix (a Status value)."""
        if self.error is None:
            return Status.OK.value
        if self.error == INVALID_ENTRIES_MESSAGE:
            return Status.INVALID_ENTRIES.value
        if self.error == INFEASIBLE_MESSAGE:
            return Status.INFEASIBLE.value
        raise AssertionError(f"unexpected scipy error: {self.error}")


def oracle(cost, maximize: bool = False) -> Oracle:
    """scipy on the float64 values of `cost` (a tensor of any dtype or an array)."""
    array = as_float64_numpy(cost)
    try:
        row_ind, col_ind = scipy_lsa(array, maximize=maximize)
    except ValueError as error:
        return Oracle(None, None, None, str(error))
    col_for_row = np.full(array.shape[0], -1, dtype=np.int64)
    col_for_row[row_ind] = col_ind
    return Oracle(row_ind, col_ind, col_for_row, None)


def first_failure(oracles: Sequence[Oracle]) -> Optional[int]:
    for index, answer in enumerate(oracles):
        if not answer.ok:
            return index
    return None


# ---------------------------------------------------------------------------
# Comparing outputs.


def cpu_copy(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().contiguous().clone()


def tensor_difference(actual: torch.Tensor, expected: torch.Tensor) -> Optional[str]:
    """None when the two are identical: the same dtype and shape, NaN where
    NaN and the same bits elsewhere (so -0.0 is not 0.0); otherwise what
    differs."""
    if actual.dtype != expected.dtype:
        return f"dtype {actual.dtype} != {expected.dtype}"
    if tuple(actual.shape) != tuple(expected.shape):
        return f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    a, e = cpu_copy(actual), cpu_copy(expected)
    if a.is_floating_point():
        nan_a, nan_e = torch.isnan(a), torch.isnan(e)
        if not torch.equal(nan_a, nan_e):
            return f"NaN at {torch.nonzero(nan_a != nan_e)[:5].tolist()}\n{a}\n{e}"
        bits = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
        same = (a.view(bits) == e.view(bits)) | nan_a
    else:
        same = a == e
    if not bool(same.all()):
        return f"differs at {torch.nonzero(~same)[:5].tolist()}\n{a}\n{e}"
    return None


def assert_identical(actual: torch.Tensor, expected: torch.Tensor, what: str, device=None) -> None:
    """actual is a tensor identical to expected (see tensor_difference), on
    `device`'s type when one is given."""
    assert isinstance(actual, torch.Tensor), f"{what}: {type(actual)}"
    if device is not None:
        assert actual.device.type == torch.device(device).type, f"{what}: on {actual.device}"
    difference = tensor_difference(actual, expected)
    assert difference is None, f"{what}: {difference}"


# ---------------------------------------------------------------------------
# Child processes: a fault, a trap or a per-process setting stays out of the
# suite's process.


def run_child(*args: str, env=None, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs this interpreter with `args` (``"-c", script, ...``, ``"-m",
    module, ...`` or a file and its arguments); output captured as text."""
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def cpu_has_avx512() -> bool:
    """Whether the CPU has the AVX-512 features the CPU kernels' AVX-512
    versions need (F, DQ, VL), from /proc/cpuinfo; skips the test where
    there is none to read."""
    try:
        with open("/proc/cpuinfo") as info:
            flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    except OSError:
        pytest.skip("no /proc/cpuinfo to read the CPU's features from")
    return all(flag in flags for flag in ("avx512f", "avx512dq", "avx512vl"))


# The CPU kernels a child process runs, by name: "default" (AVX-512 where the
# CPU has it), "portable" (the shared core everywhere), "cuda-path" (the CUDA
# kernels' path, imitated serially, with the teams' solver lane by lane) and
# "cuda-path-thread" (the same with the CUDA kernels' one-thread-per-problem
# solver). The switches are read once per process, so a test that compares
# kernels runs each in a child.
CPU_KERNELS = ("default", "portable", "cuda-path", "cuda-path-thread")


def cpu_kernels_env(kernels: str) -> dict:
    env = dict(os.environ)
    for name in ("IDMATCH_CPU_AVX512", "IDMATCH_CPU_CUDA_PATH", "IDMATCH_CUDA_THREAD_SOLVER"):
        env.pop(name, None)
    if kernels == "portable":
        env["IDMATCH_CPU_AVX512"] = "0"
    elif kernels in ("cuda-path", "cuda-path-thread"):
        env["IDMATCH_CPU_CUDA_PATH"] = "1"
        env["IDMATCH_CUDA_THREAD_SOLVER"] = "1" if kernels == "cuda-path-thread" else "0"
    else:
        assert kernels == "default", kernels
    return env


def assert_child_ok(result: subprocess.CompletedProcess, what: str) -> None:
    assert result.returncode == 0, (
        f"{what}: child exited with {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    )


# ---------------------------------------------------------------------------
# Random problems.

KINDS = ("uniform", "signed_wide", "ties012", "near_ties", "saturated", "duplicated_rows", "duplicated_cols")


def random_shape(rng: np.random.Generator, max_dim: int = 40) -> Tuple[int, int]:
    layout = rng.choice(["square", "wide", "tall", "any"])
    n = int(rng.integers(0, max_dim + 1))
    if layout == "square":
        return n, n
    m = int(rng.integers(0, max_dim + 1))
    if layout == "wide":
        return min(n, m), max(n, m)
    if layout == "tall":
        return max(n, m), min(n, m)
    return n, m


def _values(rng: np.random.Generator, kind: str, n: int, m: int) -> np.ndarray:
    if kind == "uniform":
        return rng.random((n, m))
    if kind == "signed_wide":
        # Magnitudes over several decades make the dual updates round.
        return rng.standard_normal((n, m)) * 10.0 ** rng.uniform(-3, 4, (n, m))
    if kind == "ties012":
        return rng.integers(0, 3, (n, m)).astype(np.float64)
    if kind == "near_ties":
        # Distinct in float64, equal in float32: a solver that does not
        # accumulate in float64 breaks these ties differently.
        return rng.integers(0, 3, (n, m)) + rng.integers(-2, 3, (n, m)) * 2.0**-30
    if kind == "saturated":
        return rng.choice([0.0, 0.5, 1.0], (n, m))
    if kind == "duplicated_rows":
        distinct = max(1, int(rng.integers(1, 4)))
        base = _values(rng, rng.choice(["uniform", "ties012", "saturated"]), distinct, m)
        return base[rng.integers(0, distinct, n)]
    if kind == "duplicated_cols":
        distinct = max(1, int(rng.integers(1, 4)))
        base = _values(rng, rng.choice(["uniform", "ties012", "saturated"]), n, distinct)
        return base[:, rng.integers(0, distinct, m)]
    raise ValueError(kind)


def random_values(
    rng: np.random.Generator,
    shape: Tuple[int, int],
    maximize: bool,
    kind: Optional[str] = None,
    forbid_probability: float = 0.3,
    invalid_probability: float = 0.04,
) -> np.ndarray:
    """A float64 matrix of one kind, with forbidden pairs sprinkled in (+inf,
    or -inf when maximizing) and, rarely, invalid entries (NaN, or the
    infinity of the wrong sign)."""
    n, m = shape
    if kind is None:
        kind = str(rng.choice(KINDS))
    values = _values(rng, kind, n, m)
    if rng.random() < 0.3:
        values = -values
    if n * m == 0:
        return values
    forbidden = np.inf if not maximize else -np.inf
    if rng.random() < forbid_probability:
        density = rng.choice([0.02, 0.1, 0.3, 0.6, 0.9])
        values[rng.random((n, m)) < density] = forbidden
        if rng.random() < 0.2:
            # A whole forbidden row or column: infeasible unless it can stay unassigned.
            if rng.random() < 0.5:
                values[rng.integers(0, n), :] = forbidden
            else:
                values[:, rng.integers(0, m)] = forbidden
    if rng.random() < invalid_probability:
        bad = np.nan if rng.random() < 0.6 else -forbidden
        values[rng.integers(0, n), rng.integers(0, m)] = bad
    return values


def random_cost(
    rng: np.random.Generator,
    dtype: torch.dtype,
    maximize: bool,
    shape: Optional[Tuple[int, int]] = None,
    **kwargs,
) -> torch.Tensor:
    """A random problem stored in `dtype` (so every value is representable in
    it; the oracle sees these rounded values)."""
    if shape is None:
        shape = random_shape(rng)
    return torch.from_numpy(random_values(rng, shape, maximize, **kwargs)).to(dtype)


def _outside_rows(rng: np.random.Generator, dtype: torch.dtype, rows: int, cols: int) -> torch.Tensor:
    # NaN here must not matter: these rows belong to no problem.
    values = rng.random((rows, cols))
    values[rng.random((rows, cols)) < 0.3] = np.nan
    return torch.from_numpy(values).to(dtype)


def random_ragged(
    rng: np.random.Generator,
    dtype: torch.dtype,
    maximize: bool,
    num_problems: int,
    num_cols: int,
    max_rows: int = 40,
    lead: int = 0,
    trail: int = 0,
    **kwargs,
) -> Tuple[torch.Tensor, torch.Tensor, List[torch.Tensor]]:
    """Problems of `num_cols` columns and 0..max_rows rows stacked into one
    (P, num_cols) matrix, with `lead` and `trail` rows outside every problem.
    Returns (cost, offsets, per-problem costs)."""
    blocks = [_outside_rows(rng, dtype, lead, num_cols)]
    problems = []
    for _ in range(num_problems):
        rows = int(rng.integers(0, max_rows + 1)) if rng.random() < 0.9 else 0
        block = random_cost(rng, dtype, maximize, (rows, num_cols), **kwargs)
        problems.append(block)
        blocks.append(block)
    blocks.append(_outside_rows(rng, dtype, trail, num_cols))
    sizes = [block.shape[0] for block in problems]
    offsets = torch.tensor(np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]) + lead, dtype=torch.int64)
    return torch.cat(blocks, dim=0), offsets, problems


# ---------------------------------------------------------------------------
# Hypothesis profiles, chosen with HYPOTHESIS_PROFILE (default: "default").
# "default" is derandomized so that every run tries the same examples and a
# failure reproduces without a database; "ci" tries ten times as many, drawn
# afresh each run. No deadline in either: timings on a shared machine say
# nothing about correctness.


from hypothesis import HealthCheck, settings  # noqa: E402

HYPOTHESIS_EXAMPLES = {"default": 200, "ci": 2000}

settings.register_profile(
    "default",
    max_examples=HYPOTHESIS_EXAMPLES["default"],
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=HYPOTHESIS_EXAMPLES["ci"],
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
# The long profile also draws large inputs: ragged batches past the CPU small
# solver's 16 columns and its 128-problem batch, groups of tens of peaks and
# up to 20 classes, more than 128 groups.
HYPOTHESIS_LARGE = os.environ.get("HYPOTHESIS_PROFILE", "default") == "ci"
