"""Linear sum assignment against scipy: single, batched and ragged calls, the
raw op's status contract, argument errors and op registration.

Every expected answer comes from scipy.optimize.linear_sum_assignment; the
answers must be identical, ties included.
"""

import contextlib
import os
import sys

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment as scipy_lsa

import idmatch
from conftest import (
    INFEASIBLE_MESSAGE,
    INT_DTYPES,
    INVALID_ENTRIES_MESSAGE,
    assert_child_ok,
    cpu_has_avx512,
    cpu_kernel_kind,
    cpu_kernels_env,
    describe,
    first_failure,
    oracle,
    random_cost,
    random_ragged,
    random_shape,
    random_values,
    raw_op,
    run_child,
)
from idmatch import Status
from idmatch._common import FLOATING_DTYPES

SEED = 5813

MAXIMIZE = pytest.mark.parametrize("maximize", [False, True], ids=["min", "max"])


def rng_for(*key) -> np.random.Generator:
    """A generator per test and parameter set, so one failure reproduces alone."""
    words = [SEED]
    for part in key:
        if isinstance(part, torch.dtype):
            words.append(list(FLOATING_DTYPES + INT_DTYPES).index(part))
        elif isinstance(part, str):
            words.append(sum(ord(ch) * 31**k for k, ch in enumerate(part)) % (2**32))
        else:
            words.append(int(part))
    return np.random.default_rng(words)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


# ---------------------------------------------------------------------------
# Checks shared by the tests: each compares one call form with scipy.


def check_single(cost, maximize: bool, device: str) -> None:
    """idmatch.linear_sum_assignment on a tensor equals scipy on its float64 values."""
    expected = oracle(cost, maximize)
    cost = cost.to(device)
    try:
        row_ind, col_ind = idmatch.linear_sum_assignment(cost, maximize=maximize)
    except ValueError as error:
        assert str(error) == expected.error, f"idmatch raised {error!r}\n{describe(cost, maximize)}"
        return
    assert expected.ok, f"scipy raises {expected.error!r}, idmatch does not\n{describe(cost, maximize)}"
    for out in (row_ind, col_ind):
        assert isinstance(out, torch.Tensor)
        assert out.dtype == torch.int64 and out.device == cost.device and out.dim() == 1
    assert np.array_equal(to_numpy(row_ind), expected.row_ind) and np.array_equal(
        to_numpy(col_ind), expected.col_ind
    ), (
        f"{describe(cost, maximize)}\nscipy:   {expected.row_ind}, {expected.col_ind}\n"
        f"idmatch: {to_numpy(row_ind)}, {to_numpy(col_ind)}"
    )


def raised(function, *args, **kwargs):
    """(result, None) or (None, the ValueError's message)."""
    try:
        return function(*args, **kwargs), None
    except ValueError as error:
        return None, str(error)


def check_batched(cost: torch.Tensor, maximize: bool, device: str) -> int:
    """idmatch.batch_linear_sum_assignment on (..., N, M) equals scipy per
    problem; with failing problems, the error names the first one, and the
    others, solved as a batch without it, still equal scipy. Returns the
    number of problems compared."""
    batch_shape = tuple(cost.shape[:-2])
    n, m = cost.shape[-2:]
    flat = cost.reshape(int(np.prod(batch_shape, dtype=np.int64)), n, m)
    expected = [oracle(problem, maximize) for problem in flat]
    first = first_failure(expected)
    cost = cost.to(device)
    if first is not None:
        index = ", ".join(str(int(k)) for k in np.unravel_index(first, batch_shape))
        _, error = raised(idmatch.batch_linear_sum_assignment, cost, maximize=maximize)
        assert error == f"cost[{index}]: {expected[first].error}", describe(flat[first], maximize)
        good = [k for k, answer in enumerate(expected) if answer.ok]
        if good:
            check_batched(flat[good], maximize, device)
        return len(expected)
    out, error = raised(idmatch.batch_linear_sum_assignment, cost, maximize=maximize)
    assert error is None, f"scipy solves every problem, idmatch raised {error!r}"
    assert out.dtype == torch.int64 and out.device == cost.device
    assert tuple(out.shape) == batch_shape + (n,)
    got = to_numpy(out).reshape(len(expected), n)
    for k, answer in enumerate(expected):
        assert np.array_equal(got[k], answer.col_for_row), (
            f"problem {k} of batch {batch_shape}\n{describe(flat[k], maximize)}\n"
            f"scipy:   {answer.col_for_row}\nidmatch: {got[k]}"
        )
    return len(expected)


def check_ragged(cost: torch.Tensor, offsets: torch.Tensor, maximize: bool, device: str) -> int:
    """The raw op and idmatch.ragged_linear_sum_assignment equal scipy problem
    by problem; rows outside every problem stay -1. Returns the number of
    problems compared."""
    offs = [int(k) for k in offsets]
    problems = [cost[offs[s] : offs[s + 1]] for s in range(len(offs) - 1)]
    expected = [oracle(problem, maximize) for problem in problems]
    cost_d, offsets_d = cost.to(device), offsets.to(device)

    col_for_row, status = raw_op()(cost_d, offsets_d, maximize)
    assert col_for_row.dtype == torch.int64 and tuple(col_for_row.shape) == (cost.shape[0],)
    assert status.dtype == torch.int32 and tuple(status.shape) == (len(problems),)
    assert col_for_row.device == cost_d.device and status.device == cost_d.device
    col_for_row, status = to_numpy(col_for_row), to_numpy(status)
    for s, answer in enumerate(expected):
        rows = col_for_row[offs[s] : offs[s + 1]]
        want = answer.col_for_row if answer.ok else np.full(len(rows), -1)
        assert status[s] == answer.status and np.array_equal(rows, want), (
            f"problem {s} (rows {offs[s]}:{offs[s + 1]})\n{describe(problems[s], maximize)}\n"
            f"scipy:   {answer.error or answer.col_for_row}\nidmatch: status {status[s]}, {rows}"
        )
    outside = np.ones(cost.shape[0], dtype=bool)
    outside[offs[0] : offs[-1]] = False
    assert (col_for_row[outside] == -1).all()

    first = first_failure(expected)
    if first is not None:
        _, error = raised(idmatch.ragged_linear_sum_assignment, cost_d, offsets_d, maximize=maximize)
        assert error == f"problem[{first}]: {expected[first].error}", describe(problems[first], maximize)
        good = [problems[s] for s, answer in enumerate(expected) if answer.ok]
        sizes = np.cumsum([0] + [block.shape[0] for block in good])
        check_ragged(
            torch.cat([cost[: offs[0]]] + good + [cost[offs[-1] :]]),
            torch.tensor(sizes + offs[0], dtype=torch.int64),
            maximize,
            device,
        )
        return len(expected)
    out, error = raised(idmatch.ragged_linear_sum_assignment, cost_d, offsets_d, maximize=maximize)
    assert error is None, f"scipy solves every problem, idmatch raised {error!r}"
    assert out.dtype == torch.int64 and out.device == cost_d.device
    assert np.array_equal(to_numpy(out), col_for_row)
    return len(expected)


# ---------------------------------------------------------------------------
# Random problems, ties, forbidden pairs and invalid entries: identical to scipy.

SINGLE_CASES = 500  # per dtype and direction: 4000 in all
BATCHED_CALLS, BATCH_SIZE = 25, 20  # per dtype and direction: 4000 problems in all
RAGGED_CALLS, RAGGED_PROBLEMS = 4, 200  # per dtype and direction: 6400 problems in all
BATCH_SHAPES = ((20,), (4, 5), (2, 2, 5))


@MAXIMIZE
def test_random_single(device, float_dtype, maximize):
    rng = rng_for("single", float_dtype, maximize)
    for _ in range(SINGLE_CASES):
        check_single(random_cost(rng, float_dtype, maximize), maximize, device)


@MAXIMIZE
def test_random_batched(device, float_dtype, maximize):
    rng = rng_for("batched", float_dtype, maximize)
    compared = 0
    for _ in range(BATCHED_CALLS):
        batch_shape = BATCH_SHAPES[rng.integers(0, len(BATCH_SHAPES))]
        shape = random_shape(rng)
        # A rarer invalid entry per problem keeps most batches solvable.
        problems = [random_cost(rng, float_dtype, maximize, shape, invalid_probability=0.01) for _ in range(BATCH_SIZE)]
        compared += check_batched(torch.stack(problems).reshape(batch_shape + shape), maximize, device)
    assert compared == BATCHED_CALLS * BATCH_SIZE


@MAXIMIZE
def test_random_ragged(device, float_dtype, maximize):
    rng = rng_for("ragged", float_dtype, maximize)
    compared = 0
    for _ in range(RAGGED_CALLS):
        cost, offsets, _ = random_ragged(
            rng,
            float_dtype,
            maximize,
            num_problems=RAGGED_PROBLEMS,
            num_cols=int(rng.integers(0, 41)),
            lead=int(rng.integers(0, 4)),
            trail=int(rng.integers(0, 4)),
            invalid_probability=0.005,
        )
        compared += check_ragged(cost, offsets, maximize, device)
    assert compared == RAGGED_CALLS * RAGGED_PROBLEMS


def test_random_cases_cover_every_outcome():
    """The generator must produce ties, forbidden pairs, both failure kinds
    and every layout, or the random tests above prove little."""
    rng = rng_for("coverage")
    statuses, layouts = set(), set()
    for k in range(2000):
        maximize = bool(k % 2)
        cost = random_cost(rng, torch.float64, maximize)
        statuses.add(oracle(cost, maximize).status)
        n, m = cost.shape
        layouts.add("empty" if n * m == 0 else "square" if n == m else "wide" if n < m else "tall")
    assert statuses == {0, 1, 2}
    assert layouts == {"empty", "square", "wide", "tall"}


@pytest.mark.parametrize(
    ("dtype", "kind", "maximize"),
    [(torch.float32, "uniform", False), (torch.float64, "saturated", True), (torch.float16, "ties012", False)],
    ids=["float32-uniform-min", "float64-saturated-max", "float16-ties-min"],
)
def test_batch_of_10000_10x10(device, dtype, kind, maximize):
    rng = rng_for("10000x10x10", dtype, kind, maximize)
    values = np.stack([random_values(rng, (10, 10), maximize, kind, 0.0, 0.0) for _ in range(10000)])
    cost = torch.from_numpy(values).to(dtype)
    assert check_batched(cost, maximize, device) == 10000


@MAXIMIZE
def test_ragged_mixed_sizes(device, float_dtype, maximize):
    """Empty problems, one-row problems, problems on both sides of the size
    at which the CPU kernel copies the matrix (4096 entries), and rows before
    the first and after the last problem."""
    rng = rng_for("ragged-mixed", float_dtype, maximize)
    m = 64
    sizes = [0, 0, 1, 2, 7, 63, 64, 65, 0, 100, 30, 200, 1, 0]
    lead, trail = 3, 2
    blocks = [torch.full((lead, m), float("nan"), dtype=float_dtype)]
    for rows in sizes:
        kind = ["uniform", "ties012", "saturated", "duplicated_rows"][len(blocks) % 4]
        blocks.append(random_cost(rng, float_dtype, maximize, (rows, m), kind=kind, invalid_probability=0.0))
    blocks.append(torch.full((trail, m), float("nan"), dtype=float_dtype))
    offsets = torch.tensor(np.cumsum([lead] + sizes), dtype=torch.int64)
    assert check_ragged(torch.cat(blocks), offsets, maximize, device) == len(sizes)


@MAXIMIZE
@pytest.mark.parametrize("num_cols", [1, 7, 8, 9, 15, 16, 17])
def test_ragged_around_the_small_solver(device, float_dtype, maximize, num_cols):
    """The CPU kernel solves problems of up to 16 rows and columns with the
    AVX-512 small solver where the CPU has it, eight at a time, and the others
    with the shared core (IDMATCH_CPU_AVX512=0: all with the core).
    Sizes on both sides of 8 (one block of eight columns or two) and 16, in
    one batch, with problems that fail (invalid entries, infeasible) among
    them, so that the solver's lanes end and take up problems at different
    times. The same batch also runs as a view whose rows are 2M elements
    apart."""
    rng = rng_for("small-solver", float_dtype, maximize, num_cols)
    sizes = [1, 16, 17, 8, 9, 2, 15, 0, 16, 3, 30, 5, 16, 16, 1, 12, 9, 16, 7]
    blocks = []
    for k, rows in enumerate(sizes):
        kind = ["uniform", "ties012", "saturated", "near_ties", "duplicated_cols"][k % 5]
        blocks.append(random_cost(rng, float_dtype, maximize, (rows, num_cols), kind=kind, invalid_probability=0.2))
    offsets = torch.tensor(np.cumsum([0] + sizes), dtype=torch.int64)
    cost = torch.cat(blocks)
    assert check_ragged(cost, offsets, maximize, device) == len(sizes)
    strided_rows = torch.cat([cost, cost], dim=1)[:, :num_cols]
    assert strided_rows.stride() == (2 * num_cols, 1)
    assert check_ragged(strided_rows, offsets, maximize, device) == len(sizes)


AROUND_THE_TEAMS = """
import sys
import numpy as np
import torch
sys.path.insert(0, sys.argv[2])
from conftest import random_cost
from idmatch._loader import cpu_kernel_kind
assert cpu_kernel_kind() == "cuda-path", cpu_kernel_kind()
rng = np.random.default_rng(2718)
kinds = ["uniform", "ties012", "saturated", "near_ties", "duplicated_rows", "duplicated_cols"]
cases = []
for num_cols in (0, 1, 5, 8, 9, 16, 17, 31, 32, 33, 48, 70):
    for maximize in (False, True):
        for dtype in (torch.float64, torch.float32, torch.float16):
            sizes = [int(rows) for rows in rng.choice([0, 1, 7, 8, 9, 16, 17, 32, 33, 40, num_cols], size=10)]
            blocks = [
                random_cost(rng, dtype, maximize, (rows, num_cols), kind=kinds[k % len(kinds)],
                            invalid_probability=0.1)
                for k, rows in enumerate(sizes)
            ]
            cost = torch.cat(blocks)
            offsets = torch.tensor(np.cumsum([0] + sizes), dtype=torch.int64)
            raw = torch.ops.idmatch.ragged_linear_sum_assignment(cost, offsets, maximize)
            cases.append((cost, offsets, maximize, raw))
torch.save(cases, sys.argv[1])
"""


@pytest.mark.parametrize("kernels", ["cuda-path", "cuda-path-thread"])
def test_cuda_path_solvers_around_the_team_widths(tmp_path, kernels):
    """The CUDA kernels solve a problem with a tile of 8, 16 or 32 lanes up to
    32 columns in the solver's orientation and with a block beyond, or with
    one thread (IDMATCH_CUDA_THREAD_SOLVER=1). Both solvers, run on the CPU
    (the teams lane by lane), equal scipy on batches that mix every width
    class, wide and tall, tie-heavy, with failing problems among them."""
    path = tmp_path / "cases.pt"
    tests_dir = str(__import__("pathlib").Path(__file__).parent)
    env = cpu_kernels_env(kernels)
    assert_child_ok(run_child("-c", AROUND_THE_TEAMS, str(path), tests_dir, env=env), kernels)
    compared = 0
    for cost, offsets, maximize, (col_for_row, status) in torch.load(path):
        for s in range(offsets.shape[0] - 1):
            begin, end = int(offsets[s]), int(offsets[s + 1])
            answer = oracle(cost[begin:end], maximize)
            rows = col_for_row[begin:end].numpy()
            want = answer.col_for_row if answer.ok else np.full(end - begin, -1)
            assert int(status[s]) == answer.status and np.array_equal(rows, want), (
                f"{kernels}: problem {s} of {tuple(cost.shape)}, maximize={maximize}\n"
                f"{describe(cost[begin:end], maximize)}\n"
                f"scipy: {answer.error or want}\nidmatch: {int(status[s])} {rows}"
            )
            compared += 1
    assert compared == 12 * 2 * 3 * 10


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_cpu_kernel_kind_follows_cpu_and_setting():
    """The CPU kernels imitate the CUDA kernels exactly where
    IDMATCH_CPU_CUDA_PATH is "1", and else run their AVX-512 versions exactly
    where the CPU has AVX-512 and IDMATCH_CPU_AVX512 is not "0", so that
    `make test`'s later runs really hold the shared core and the CUDA path to
    scipy."""
    if os.environ.get("IDMATCH_CPU_CUDA_PATH") == "1":
        expected = "cuda-path"
    elif cpu_has_avx512() and os.environ.get("IDMATCH_CPU_AVX512") != "0":
        expected = "avx512"
    else:
        expected = "portable"
    assert cpu_kernel_kind() == expected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
@pytest.mark.parametrize("value", ["off", "false", ""])
def test_cpu_avx512_setting_other_than_0_or_1_warns(value):
    """IDMATCH_CPU_AVX512 takes "0" or "1", as torch's boolean flags; any
    other value is ignored with a warning (the kernels stay as when it is
    unset) rather than taken silently. A child process: the setting is read
    once per process."""
    script = (
        "import warnings\nimport idmatch\nfrom idmatch._loader import cpu_kernel_kind\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    kind = cpu_kernel_kind()\n"
        "print(kind)\nprint(' | '.join(str(w.message) for w in caught))\n"
    )
    env = dict(os.environ, IDMATCH_CPU_AVX512=value)
    env.pop("IDMATCH_CPU_CUDA_PATH", None)
    result = run_child("-c", script, env=env, timeout=300)
    assert_child_ok(result, f"IDMATCH_CPU_AVX512={value!r}")
    kind, warnings_text = result.stdout.splitlines()
    assert kind == ("avx512" if cpu_has_avx512() else "portable")
    assert "IDMATCH_CPU_AVX512" in warnings_text + result.stderr


EXTREME_VALUES = np.array(
    [1.7976931348623157e308, 1e308, 8e307, 1.0, 0.0, -1.0, -8e307, -1e308, -1.7976931348623157e308, np.inf]
)


@MAXIMIZE
@pytest.mark.parametrize("num_cols", [2, 5, 8, 9, 13, 16])
def test_costs_near_the_float64_limit(device, maximize, num_cols):
    """Finite costs near float64's limit overflow the duals to infinities of
    both signs, so that path costs come out NaN; scipy leaves such a column
    at +inf, and so must both CPU solvers (and the result must stay a column
    of the problem)."""
    rng = rng_for("float64-limit", maximize, num_cols)
    sizes = [int(rng.integers(1, 21)) for _ in range(150)]
    values = EXTREME_VALUES if not maximize else -EXTREME_VALUES
    blocks = [torch.from_numpy(rng.choice(values, (rows, num_cols))) for rows in sizes]
    offsets = torch.tensor(np.cumsum([0] + sizes), dtype=torch.int64)
    cost = torch.cat(blocks)
    assert check_ragged(cost, offsets, maximize, device) == len(sizes)
    col_for_row, _ = raw_op()(cost.to(device), offsets.to(device), maximize)
    assert int(col_for_row.max()) < num_cols


@MAXIMIZE
@pytest.mark.parametrize("num_cols", [1, 4, 10, 16])
def test_ragged_many_small_problems(device, maximize, num_cols):
    """Hundreds of small problems of random sizes in one call: more than the
    small solver takes per batch (128), with failing problems anywhere, so
    that batches end with lanes idle and problems of every size share one."""
    rng = rng_for("many-small", maximize, num_cols)
    sizes = [int(rng.integers(0, 18)) for _ in range(300)]
    kinds = ["uniform", "ties012", "saturated", "near_ties", "duplicated_rows"]
    blocks = [
        random_cost(rng, torch.float64, maximize, (rows, num_cols), kind=kinds[k % 5], invalid_probability=0.1)
        for k, rows in enumerate(sizes)
    ]
    offsets = torch.tensor(np.cumsum([0] + sizes), dtype=torch.int64)
    assert check_ragged(torch.cat(blocks), offsets, maximize, device) == len(sizes)


@pytest.mark.parametrize("shape", [(16, 16), (16, 5), (5, 16), (8, 8), (9, 16), (16, 9)])
def test_tie_heavy_small_batch(device, shape):
    """Integer costs tie at almost every scan: the small solver's tie rule
    follows scipy's scan order, kept column by column as scipy changes it."""
    rng = rng_for("small-ties", *shape)
    values = np.stack([random_values(rng, shape, False, "ties012", 0.2, 0.0) for _ in range(500)])
    assert check_batched(torch.from_numpy(values), False, device) == 500


@MAXIMIZE
@pytest.mark.parametrize("shape", [(64, 64), (100, 60), (60, 100), (120, 120), (1, 200), (200, 1)])
def test_large_single(device, float_dtype, maximize, shape):
    rng = rng_for("large", float_dtype, maximize, *shape)
    for kind in ("uniform", "ties012", "saturated", "duplicated_rows"):
        check_single(random_cost(rng, float_dtype, maximize, shape, kind=kind), maximize, device)


def column_strided(cost: torch.Tensor, layout: str) -> torch.Tensor:
    """The same values as `cost` (N, M), stored so that columns are not
    contiguous: "transposed" (a transposed (M, N) array: rows 1 apart,
    columns N apart) or "every_other" (columns 2 apart)."""
    if layout == "transposed":
        view = cost.t().contiguous().t()
    else:
        view = torch.zeros(cost.shape[0], 2 * cost.shape[1], dtype=cost.dtype)[:, ::2]
        view.copy_(cost)
    torch.testing.assert_close(view, cost, rtol=0, atol=0, equal_nan=True)
    assert view.stride(1) != 1
    return view


@MAXIMIZE
@pytest.mark.parametrize("shape", [(30, 100), (100, 30), (40, 90), (70, 70), (64, 80), (90, 50)])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "every_other"])
def test_mid_size_strided(device, float_dtype, maximize, shape, layout):
    """Mid-size problems, wide and tall, on both sides of the 4096 entries
    from which the CPU copies a problem into a dense float64 buffer and the
    CUDA kernels read it in place (scans of more than 64 columns through the
    strided reader), with contiguous and strided columns: single problems,
    and ragged batches of two such problems and a small one between them."""
    rng = rng_for("mid-size", float_dtype, maximize, layout, *shape)
    n, m = shape
    for kind in ("ties012", "uniform"):
        blocks = [random_cost(rng, float_dtype, maximize, (rows, m), kind=kind) for rows in (n, 3, n)]
        cost = torch.cat(blocks)
        if layout != "contiguous":
            cost = column_strided(cost, layout)
        offsets = torch.tensor([0, n, n + 3, 2 * n + 3], dtype=torch.int64)
        assert check_ragged(cost, offsets, maximize, device) == 3
        check_single(cost[:n], maximize, device)


@pytest.mark.parametrize("num_cols", [24, 10])
def test_thread_count_does_not_change_results(num_cols):
    """With 1 thread and with 2, where the problems are shared out in chunks
    (on the shared core for 24 columns, on the small solver for 10 where the
    CPU has it), every answer is scipy's: a batch of many problems, and one
    large problem, which always runs on one thread."""
    rng = rng_for("threads", num_cols)
    cost, offsets, _ = random_ragged(
        rng, torch.float32, False, num_problems=3000, num_cols=num_cols, lead=1, trail=1, invalid_probability=0.01
    )
    big = random_cost(rng, torch.float64, True, (90, 80), kind="ties012", invalid_probability=0.0)
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            assert torch.get_num_threads() == threads
            assert check_ragged(cost, offsets, False, "cpu") == 3000
            check_single(big, True, "cpu")
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------
# Strides, empty shapes and input types.


def _views_2d(rng):
    base = random_cost(
        rng, torch.float32, False, (30, 45), kind="ties012", forbid_probability=0.0, invalid_probability=0.0
    )
    row = torch.from_numpy(rng.random((1, 12))).to(torch.float32)
    col = torch.from_numpy(rng.integers(0, 3, (9, 1)).astype(np.float32))
    return {
        "transposed": base.t(),
        "stepped": base[::2, ::3],
        "offset_stepped_transposed": base[1::3, 2::2].t(),
        "row_stride_0": row.expand(9, 12),
        "col_stride_0": col.expand(9, 12),
        "both_strides_0": torch.tensor(0.5).expand(6, 4),
    }


@pytest.mark.parametrize(
    "view", ["transposed", "stepped", "offset_stepped_transposed", "row_stride_0", "col_stride_0", "both_strides_0"]
)
@MAXIMIZE
def test_single_noncontiguous(device, view, maximize):
    cost = _views_2d(rng_for("views-2d", view, maximize))[view]
    assert not cost.is_contiguous()
    check_single(cost, maximize, device)
    # The raw op reads the strides itself.
    check_ragged(cost, torch.tensor([0, cost.shape[0]]), maximize, device)


def _views_batched(rng):
    base = random_cost(
        rng, torch.float64, False, (6, 600), kind="ties012", forbid_probability=0.0, invalid_probability=0.0
    ).reshape(6, 20, 30)
    return {
        "transposed": base.transpose(-1, -2),
        "batch_stepped": base[::2],
        "inner_stepped": base[:, ::2, 1::3],
        "batch_in_middle": base.permute(1, 0, 2),
        "batch_stride_0": base[:1].expand(5, 20, 30),
        "two_batch_dims_stride_0": base[2].expand(4, 3, 20, 30),
    }


@pytest.mark.parametrize(
    "view",
    ["transposed", "batch_stepped", "inner_stepped", "batch_in_middle", "batch_stride_0", "two_batch_dims_stride_0"],
)
@MAXIMIZE
def test_batched_noncontiguous(device, view, maximize):
    cost = _views_batched(rng_for("views-batched", view, maximize))[view]
    assert not cost.is_contiguous()
    check_batched(cost, maximize, device)


@MAXIMIZE
def test_ragged_noncontiguous(device, maximize):
    rng = rng_for("views-ragged", maximize)
    cost, offsets, _ = random_ragged(rng, torch.float32, maximize, num_problems=50, num_cols=17, lead=2, trail=1)
    transposed = cost.t().contiguous().t()
    assert not transposed.is_contiguous()
    check_ragged(transposed, offsets, maximize, device)

    interleaved = torch.stack([offsets, torch.full_like(offsets, -7)], dim=1).reshape(-1)
    stepped_offsets = interleaved[::2]
    assert not stepped_offsets.is_contiguous() and torch.equal(stepped_offsets, offsets)
    col, status = raw_op()(transposed.to(device), stepped_offsets.to(device), maximize)
    want_col, want_status = raw_op()(cost, offsets, maximize)
    assert torch.equal(col.cpu(), want_col) and torch.equal(status.cpu(), want_status)

    stepped_cols = torch.cat([cost, cost], dim=1)[:, ::2]
    assert not stepped_cols.is_contiguous()
    check_ragged(stepped_cols, offsets, maximize, device)

    expanded = cost[5:6].expand(40, cost.shape[1])
    check_ragged(expanded, torch.tensor([0, 3, 3, 20, 40]), maximize, device)


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0)])
def test_single_empty(device, float_dtype, shape):
    cost = torch.zeros(shape, dtype=float_dtype, device=device)
    check_single(cost, False, device)
    row_ind, col_ind = idmatch.linear_sum_assignment(cost, maximize=True)
    assert row_ind.shape == (0,) and col_ind.shape == (0,)


@pytest.mark.parametrize("shape", [(0, 3, 4), (3, 0, 4), (3, 4, 0), (2, 0, 0), (0, 0, 0), (2, 0, 3, 5), (2, 3, 0, 5)])
def test_batched_empty(device, float_dtype, shape):
    cost = torch.ones(shape, dtype=float_dtype, device=device)
    out = idmatch.batch_linear_sum_assignment(cost)
    assert out.dtype == torch.int64 and out.device == cost.device and tuple(out.shape) == shape[:-1]
    check_batched(cost, True, device)


@pytest.mark.parametrize(
    ("num_rows", "num_cols", "offsets"),
    [(0, 0, [0]), (0, 4, [0]), (0, 4, [0, 0, 0]), (3, 4, [1]), (6, 0, [0, 2, 5]), (6, 0, [1, 1, 6]), (4, 3, [2, 2, 2])],
)
def test_ragged_empty(device, float_dtype, num_rows, num_cols, offsets):
    cost = torch.rand(num_rows, num_cols).to(float_dtype)
    assert check_ragged(cost, torch.tensor(offsets), False, device) == len(offsets) - 1


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@MAXIMIZE
def test_integer_and_bool_tensors(device, dtype, maximize):
    """Integer and bool costs are solved as scipy solves their numpy arrays."""
    rng = rng_for("int", dtype, maximize)
    if dtype == torch.bool:
        values = [rng.random((n, m)) < 0.5 for n, m in [(7, 7), (5, 9), (9, 5), (30, 30)]]
    else:
        info = torch.iinfo(dtype)
        values = [rng.integers(0, 3, (7, 7)), rng.integers(-2, 3, (5, 9)), rng.integers(0, 4, (9, 5))]
        values += [rng.integers(info.min, info.max, (12, 10), endpoint=True)]
    for array in values:
        cost = torch.from_numpy(np.asarray(array)).to(dtype)
        expected = oracle(cost.numpy(), maximize)  # scipy's own conversion of the integers
        row_ind, col_ind = idmatch.linear_sum_assignment(cost.to(device), maximize=maximize)
        assert np.array_equal(to_numpy(row_ind), expected.row_ind) and np.array_equal(
            to_numpy(col_ind), expected.col_ind
        ), describe(cost, maximize)
        batched = idmatch.batch_linear_sum_assignment(torch.stack([cost, cost.flip(0)]).to(device), maximize)
        assert np.array_equal(to_numpy(batched[0]), expected.col_for_row)
        assert np.array_equal(to_numpy(batched[1]), oracle(cost.flip(0).numpy(), maximize).col_for_row)
        ragged = idmatch.ragged_linear_sum_assignment(
            cost.to(device), torch.tensor([0, cost.shape[0]], device=device), maximize
        )
        assert np.array_equal(to_numpy(ragged), expected.col_for_row)


def test_int64_beyond_float64_precision(device):
    """int64 costs round to float64 exactly as numpy rounds them for scipy."""
    big = 2**53
    values = np.array([[big + 1, big, big + 3], [big + 2, big + 1, big], [big, big + 3, big + 1]], dtype=np.int64)
    for maximize in (False, True):
        expected = oracle(values, maximize)
        row_ind, col_ind = idmatch.linear_sum_assignment(torch.from_numpy(values).to(device), maximize)
        assert np.array_equal(to_numpy(col_ind), expected.col_ind) and np.array_equal(
            to_numpy(row_ind), expected.row_ind
        )


def _array_inputs(rng):
    ties = rng.integers(0, 3, (6, 8))
    uniform = rng.random((9, 5))
    return {
        "float64": uniform,
        "float32": uniform.astype(np.float32),
        "float16": uniform.astype(np.float16),
        "int64": ties,
        "uint8": ties.astype(np.uint8),
        "bool": ties > 0,
        "fortran": np.asfortranarray(uniform),
        "transposed": uniform.T,
        "negative_strides": uniform[::-1, ::-2],
        "list": ties.tolist(),
        "tuple": tuple(tuple(row) for row in uniform.tolist()),
        "list_of_arrays": list(uniform),
        "empty_list": [[]],
        "empty_rows": np.zeros((0, 3)),
        "with_inf": np.where(ties == 0, np.inf, ties),
        "with_nan": np.where(ties == 0, np.nan, ties),
        "infeasible": np.full((3, 4), np.inf),
    }


@pytest.mark.parametrize("name", list(_array_inputs(np.random.default_rng(0))))
@MAXIMIZE
def test_array_like_inputs(name, maximize):
    """Anything but a tensor gives numpy arrays, exactly scipy's."""
    cost = _array_inputs(rng_for("array-like", name))[name]
    try:
        scipy_row, scipy_col = scipy_lsa(cost, maximize=maximize)
    except ValueError as error:
        with pytest.raises(ValueError) as info:
            idmatch.linear_sum_assignment(cost, maximize=maximize)
        assert str(info.value) == str(error)
        return
    row_ind, col_ind = idmatch.linear_sum_assignment(cost, maximize=maximize)
    for got, expected in ((row_ind, scipy_row), (col_ind, scipy_col)):
        assert isinstance(got, np.ndarray) and got.dtype == expected.dtype and got.ndim == 1
        assert np.array_equal(got, expected), describe(np.asarray(cost, dtype=np.float64), maximize)


@MAXIMIZE
def test_scipy_keywords(device, maximize):
    """scipy's keywords, cost_matrix and maximize, name the same arguments."""
    cost = _array_inputs(rng_for("keywords"))["int64"]  # tie-heavy
    want_row, want_col = scipy_lsa(cost_matrix=cost, maximize=maximize)
    row_ind, col_ind = idmatch.linear_sum_assignment(cost_matrix=cost, maximize=maximize)
    assert np.array_equal(row_ind, want_row) and np.array_equal(col_ind, want_col)
    tensor = torch.from_numpy(cost).to(device)
    row_ind, col_ind = idmatch.linear_sum_assignment(cost_matrix=tensor, maximize=maximize)
    assert np.array_equal(to_numpy(row_ind), want_row) and np.array_equal(to_numpy(col_ind), want_col)
    with pytest.raises(TypeError, match="^cost_matrix must be a real"):
        idmatch.linear_sum_assignment(cost_matrix=tensor.to(torch.complex64), maximize=maximize)


def test_output_types(device):
    cost = torch.rand(4, 6, device=device)
    row_ind, col_ind = idmatch.linear_sum_assignment(cost)
    assert row_ind.dtype == col_ind.dtype == torch.int64
    assert row_ind.device == col_ind.device == cost.device
    assert row_ind.shape == col_ind.shape == (4,)
    tall_row, tall_col = idmatch.linear_sum_assignment(cost.t())
    assert tall_row.shape == tall_col.shape == (4,)
    assert bool((tall_row[1:] > tall_row[:-1]).all())  # ascending rows, as scipy

    batched = idmatch.batch_linear_sum_assignment(torch.rand(2, 3, 5, 4, device=device))
    assert batched.dtype == torch.int64 and batched.device == cost.device and batched.shape == (2, 3, 5)
    assert int((batched >= 0).sum()) == 2 * 3 * 4

    ragged = idmatch.ragged_linear_sum_assignment(
        torch.rand(9, 3, device=device), torch.tensor([1, 4, 8], dtype=torch.int32, device=device)
    )
    assert ragged.dtype == torch.int64 and ragged.device == cost.device and ragged.shape == (9,)


@MAXIMIZE
def test_requires_grad_input(device, maximize):
    """Costs built by differentiable code (DETR-style matchers) are accepted;
    the integer answers carry no gradient."""
    cost = torch.rand(5, 7, dtype=torch.float64, device=device, requires_grad=True)
    expected = oracle(cost, maximize)
    _, col_ind = idmatch.linear_sum_assignment(cost, maximize=maximize)
    assert np.array_equal(to_numpy(col_ind), expected.col_ind)
    batched = idmatch.batch_linear_sum_assignment(cost[None] * 2, maximize=maximize)
    assert np.array_equal(to_numpy(batched[0]), expected.col_for_row)
    assert not batched.requires_grad


# ---------------------------------------------------------------------------
# The raw op's status contract.


@MAXIMIZE
def test_raw_op_status_codes(device, float_dtype, maximize):
    """Every outcome in one call: solvable, NaN, the invalid infinity, the
    forbidden infinity making a problem infeasible, empty problems."""
    forbidden = -np.inf if maximize else np.inf
    problems = [
        np.array([[1.0, 2.0], [3.0, 0.5]]),
        np.array([[1.0, np.nan], [3.0, 0.5]]),
        np.array([[1.0, -forbidden], [3.0, 0.5]]),
        np.array([[forbidden, forbidden], [3.0, 0.5]]),
        np.array([[forbidden, 2.0], [forbidden, 0.5]]),
        np.array([[forbidden, 2.0], [1.0, forbidden]]),
        np.zeros((0, 2)),
        np.array([[np.nan, forbidden], [forbidden, forbidden]]),
        np.array([[forbidden, forbidden]]),
        np.array([[0.0, 0.0]]),
    ]
    cost = torch.from_numpy(np.concatenate(problems)).to(float_dtype)
    offsets = torch.tensor(np.cumsum([0] + [len(p) for p in problems]))
    expected = {oracle(torch.from_numpy(p).to(float_dtype), maximize).status for p in problems}
    assert expected == {Status.OK.value, Status.INVALID_ENTRIES.value, Status.INFEASIBLE.value}
    check_ragged(cost, offsets, maximize, device)


BAD_OFFSETS = {
    "decreasing": lambda rows: [0, 3, 2, rows],
    "negative_first": lambda rows: [-1, 2, rows],
    "negative_inner": lambda rows: [0, -5, rows],
    "beyond_rows": lambda rows: [0, 2, rows + 1],
    "huge": lambda rows: [0, 2**62],
    "most_negative": lambda rows: [-(2**63), 0, rows],
    "all_beyond": lambda rows: [rows + 1, rows + 5],
    "last_pair_bad": lambda rows: [0, 1, 2, 3, 1],
    "reversed_span": lambda rows: [rows, 0],
}


@pytest.mark.parametrize("name", list(BAD_OFFSETS))
def test_raw_op_invalid_offsets(device, name):
    """Offsets that cannot describe a batch fail every problem (a bad pair can
    make the others overlap) and leave every row unassigned, without
    crashing, reading out of bounds or raising."""
    rows = 6
    cost = torch.rand(rows, 4, device=device)
    offsets = torch.tensor(BAD_OFFSETS[name](rows), dtype=torch.int64, device=device)
    col_for_row, status = raw_op()(cost, offsets, False)
    assert tuple(status.shape) == (offsets.shape[0] - 1,)
    assert bool((status == Status.INVALID_PROBLEM.value).all())
    assert bool((col_for_row == -1).all()) and tuple(col_for_row.shape) == (rows,)
    with pytest.raises(ValueError, match="offsets"):
        idmatch.ragged_linear_sum_assignment(cost, offsets)


@contextlib.contextmanager
def poisoned_allocations():
    """Every tensor torch.empty (and at::empty, in the ops) allocates meanwhile
    holds a known non-zero value (the dtype's largest integer, or NaN), not
    whatever the allocator left there: torch's fill of uninitialized memory
    under its deterministic mode, which changes no op used here otherwise."""
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_filling = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    try:
        assert int(torch.empty(1, dtype=torch.int64)[0]) == torch.iinfo(torch.int64).max
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = was_filling
        torch.use_deterministic_algorithms(was_deterministic)


@pytest.mark.parametrize("num_cols", [3, 20])  # the CPU small solver takes up to 16 columns
@MAXIMIZE
def test_raw_op_writes_every_unassigned_row(device, num_cols, maximize):
    """Every row that gets no column reads -1: rows before and after the
    problems, the rows of failing problems (NaN, infeasible), of empty
    problems and the rows left over by tall ones, in batches that also solve
    problems. The CPU op does not pre-fill its output: it is allocated
    poisoned here, so that a row any one of the fills forgets reads
    2**63 - 1."""
    with poisoned_allocations():
        check_every_unassigned_row(device, num_cols, maximize)


def check_every_unassigned_row(device, num_cols, maximize):
    rng = np.random.default_rng(num_cols)
    forbidden = -np.inf if maximize else np.inf
    blocks = [
        rng.random((2, num_cols)),  # solved
        np.full((2, num_cols), np.nan),  # invalid entries
        np.full((3, num_cols), forbidden),  # infeasible
        rng.random((num_cols + 2, num_cols)),  # tall: two rows stay unassigned
        np.zeros((0, num_cols)),
    ]
    body = np.concatenate(blocks)
    head, tail = 3, 2
    cost = torch.from_numpy(np.concatenate([rng.random((head, num_cols)), body, rng.random((tail, num_cols))]))
    offsets = head + np.cumsum([0] + [len(block) for block in blocks])
    expected = [oracle(block, maximize) for block in blocks]
    col_for_row, status = raw_op()(cost.to(device), torch.tensor(offsets).to(device), maximize)
    col_for_row, status = to_numpy(col_for_row), to_numpy(status)
    assert status.tolist() == [answer.status for answer in expected]
    for s, answer in enumerate(expected):
        want = answer.col_for_row if answer.ok else np.full(len(blocks[s]), -1)
        assert np.array_equal(col_for_row[offsets[s] : offsets[s + 1]], want), s
    assert (col_for_row[:head] == -1).all() and (col_for_row[offsets[-1] :] == -1).all()
    # Offsets that fail every problem leave every row unassigned.
    col_for_row, status = raw_op()(cost.to(device), torch.tensor([0, 4, 2]).to(device), maximize)
    assert bool((col_for_row == -1).all()) and bool((status == Status.INVALID_PROBLEM.value).all())
    # No problems: no row is in one, whatever the lone offset says (out of
    # range included, as no offset pair is there to be checked).
    for lone in (0, 4, -1, cost.shape[0] + 5, 2**62):
        col_for_row, status = raw_op()(cost.to(device), torch.tensor([lone]).to(device), maximize)
        assert bool((col_for_row == -1).all()) and tuple(status.shape) == (0,), lone


def test_raw_op_never_raises_on_values(device, float_dtype):
    cost = torch.full((5, 3), float("nan"), dtype=float_dtype, device=device)
    col_for_row, status = raw_op()(cost, torch.tensor([0, 2, 5], device=device), True)
    assert bool((col_for_row == -1).all())
    assert to_numpy(status).tolist() == [oracle(cost[:2], True).status, oracle(cost[2:], True).status]


def test_raw_op_default_maximize_and_no_problems(device):
    cost = torch.rand(5, 5, device=device)
    col_for_row, status = raw_op()(cost, torch.tensor([0, 5], device=device))
    assert np.array_equal(to_numpy(col_for_row), oracle(cost, False).col_for_row)
    assert to_numpy(status).tolist() == [Status.OK.value]
    col_for_row, status = raw_op()(cost, torch.tensor([2], device=device), False)
    assert status.shape == (0,) and bool((col_for_row == -1).all())


# ---------------------------------------------------------------------------
# Argument errors.


@pytest.mark.parametrize("shape", [(), (3,), (2, 3, 4), (1, 1, 1, 1)])
def test_single_wrong_rank_matches_scipy(device, shape):
    array = np.zeros(shape)
    with pytest.raises(ValueError) as scipy_info:
        scipy_lsa(array)
    for cost in (array, torch.zeros(shape, device=device), array.tolist()):
        with pytest.raises(ValueError) as info:
            idmatch.linear_sum_assignment(cost)
        assert str(info.value) == str(scipy_info.value)


ARRAY_ERRORS = {
    "complex": lambda: np.ones((2, 2), dtype=np.complex128),
    "complex_3d": lambda: np.ones((2, 2, 2), dtype=np.complex64),
    "complex_1d": lambda: np.ones(3, dtype=np.complex64),
    "longdouble": lambda: np.ones((2, 2), dtype=np.longdouble),
    "text": lambda: np.array([["a", "b"]]),
    "object": lambda: np.array([[1.0, None]], dtype=object),
    "timedelta": lambda: np.zeros((2, 2), dtype="m8[s]"),
    "list_with_text": lambda: [[1.0, "a"]],
    "list_with_complex": lambda: [[1.0, 1j]],
    "list_3d_with_text": lambda: [[[1.0, "a"]]],
    "ragged_list": lambda: [[1.0, 2.0], [3.0]],
    "list_with_none": lambda: [[1.0, None], [2.0, 3.0]],
    "text_scalar": lambda: "abc",
}


@pytest.mark.parametrize("name", list(ARRAY_ERRORS))
def test_single_array_errors_match_scipy(name):
    with pytest.raises((TypeError, ValueError)) as scipy_info:
        scipy_lsa(ARRAY_ERRORS[name]())
    with pytest.raises(scipy_info.type) as info:
        idmatch.linear_sum_assignment(ARRAY_ERRORS[name]())
    assert str(info.value) == str(scipy_info.value)


ARRAY_ACCEPTED = {
    "numeric_text": lambda: [["1.5", "2"], ["0.25", "3"]],
    "big_python_int": lambda: [[2**70, 1], [3, 2**64]],
    "longdouble_scalars": lambda: [[np.longdouble(1), np.longdouble(2)], [np.longdouble(0.5), 1.0]],
}


@pytest.mark.parametrize("name", list(ARRAY_ACCEPTED))
@MAXIMIZE
def test_sequences_convert_like_scipy(name, maximize):
    """scipy converts nested sequences element by element to float64, so it
    takes values a numpy array of them would not cast safely."""
    want_row, want_col = scipy_lsa(ARRAY_ACCEPTED[name](), maximize=maximize)
    row_ind, col_ind = idmatch.linear_sum_assignment(ARRAY_ACCEPTED[name](), maximize=maximize)
    assert np.array_equal(row_ind, want_row) and np.array_equal(col_ind, want_col)


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_complex_tensors_rejected(device, dtype):
    for shape in [(2, 2), (2, 2, 2)]:
        cost = torch.ones(shape, dtype=dtype, device=device)
        with pytest.raises(TypeError):
            idmatch.linear_sum_assignment(cost)
        with pytest.raises(TypeError):
            idmatch.batch_linear_sum_assignment(cost)
    with pytest.raises(TypeError):
        idmatch.ragged_linear_sum_assignment(
            torch.ones(3, 2, dtype=dtype, device=device), torch.tensor([0, 3], device=device)
        )


@pytest.mark.parametrize("shape", [(), (4,)])
def test_batched_wrong_rank(device, shape):
    with pytest.raises(ValueError, match="cost must have shape"):
        idmatch.batch_linear_sum_assignment(torch.zeros(shape, device=device))


@pytest.mark.parametrize("bad", ["nan", "invalid_inf", "infeasible"])
@MAXIMIZE
def test_batched_error_names_first_problem(device, bad, maximize):
    """With a batch of shape (3, 4), the message carries the 2-D index of the
    first failing problem in row-major order, and scipy's words."""
    rng = rng_for("batched-error", bad, maximize)
    cost = torch.from_numpy(rng.random((3, 4, 5, 6)))
    forbidden = -np.inf if maximize else np.inf
    value = {"nan": np.nan, "invalid_inf": -forbidden, "infeasible": forbidden}[bad]
    for i, j in [(2, 1), (1, 3)]:
        if bad == "infeasible":
            cost[i, j, :, 2:] = value  # five rows, two usable columns
        else:
            cost[i, j, 4, 5] = value
    assert check_batched(cost, maximize, device) == 12
    with pytest.raises(ValueError) as info:
        idmatch.batch_linear_sum_assignment(cost.to(device), maximize)
    message = oracle(cost[1, 3], maximize).error
    assert message in (INVALID_ENTRIES_MESSAGE, INFEASIBLE_MESSAGE)
    assert str(info.value) == f"cost[1, 3]: {message}"


@MAXIMIZE
def test_ragged_error_names_first_problem(device, maximize):
    cost = torch.rand(10, 3, dtype=torch.float64)
    cost[7, 1] = float("nan")
    cost[3:6, :] = -float("inf") if maximize else float("inf")
    offsets = torch.tensor([0, 2, 3, 6, 10])
    assert check_ragged(cost, offsets, maximize, device) == 4
    with pytest.raises(ValueError, match=r"^problem\[2\]: cost matrix is infeasible$"):
        idmatch.ragged_linear_sum_assignment(cost.to(device), offsets.to(device), maximize)


@pytest.mark.parametrize("shape", [(), (5,), (2, 5, 3)])
def test_ragged_cost_wrong_rank(device, shape):
    with pytest.raises(ValueError, match="cost must be a 2-D tensor"):
        idmatch.ragged_linear_sum_assignment(torch.zeros(shape, device=device), torch.tensor([0], device=device))


@pytest.mark.parametrize(
    "offsets", [torch.tensor(0), torch.zeros((2, 2), dtype=torch.int64), torch.zeros(0, dtype=torch.int64)]
)
def test_ragged_offsets_wrong_shape(device, offsets):
    with pytest.raises(ValueError, match="offsets must be a 1-D tensor"):
        idmatch.ragged_linear_sum_assignment(torch.zeros(4, 3, device=device), offsets.to(device))
    with pytest.raises(ValueError):
        raw_op()(torch.zeros(4, 3, device=device), offsets.to(device), False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bool, torch.complex64])
def test_ragged_offsets_wrong_dtype(device, dtype):
    offsets = torch.tensor([0, 2, 4], device=device).to(dtype)
    with pytest.raises(TypeError, match="offsets must be an integer tensor"):
        idmatch.ragged_linear_sum_assignment(torch.zeros(4, 3, device=device), offsets)


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32, torch.uint8])
def test_ragged_offsets_narrow_integers(device, dtype):
    """The Python API widens any integer offsets; the raw op takes int64 only."""
    cost = torch.rand(5, 4, dtype=torch.float64)
    offsets = torch.tensor([0, 2, 5]).to(dtype)
    out = idmatch.ragged_linear_sum_assignment(cost.to(device), offsets.to(device))
    assert np.array_equal(to_numpy(out[:2]), oracle(cost[:2]).col_for_row)
    assert np.array_equal(to_numpy(out[2:]), oracle(cost[2:]).col_for_row)
    with pytest.raises(TypeError):
        raw_op()(cost.to(device), offsets.to(device), False)


@pytest.mark.parametrize("offsets", [[-1, 3], [0, 6], [0, 3, 2], [4, 2, 5], [0, 2**40]])
def test_ragged_offsets_invalid_values(device, offsets):
    with pytest.raises(ValueError, match="offsets must"):
        idmatch.ragged_linear_sum_assignment(torch.zeros(5, 3, device=device), torch.tensor(offsets, device=device))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool])
def test_raw_op_rejects_non_floating_cost(device, dtype):
    with pytest.raises(TypeError):
        raw_op()(torch.ones(3, 3, dtype=dtype, device=device), torch.tensor([0, 3], device=device), False)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 3)])
def test_raw_op_rejects_wrong_rank(device, shape):
    with pytest.raises(ValueError):
        raw_op()(torch.ones(shape, device=device), torch.tensor([0, 1], device=device), False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device")
def test_offsets_on_another_device():
    cost = torch.rand(4, 3, device="cuda")
    with pytest.raises(ValueError, match="offsets must be on cost's device"):
        idmatch.ragged_linear_sum_assignment(cost, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="offsets must be on cost's device"):
        idmatch.ragged_linear_sum_assignment(cost.cpu(), torch.tensor([0, 4], device="cuda"))
    with pytest.raises((ValueError, RuntimeError)):
        raw_op()(cost, torch.tensor([0, 4]), False)


# ---------------------------------------------------------------------------
# Registration: schema, fake kernel and dispatch agree with the real kernel.


def _opcheck_inputs():
    gen = torch.Generator().manual_seed(SEED)
    wide = torch.rand(7, 5, generator=gen)
    ties = torch.randint(0, 3, (12, 4), generator=gen).to(torch.float64)
    return {
        "float32": (wide, torch.tensor([0, 3, 7]), False),
        "float64_ties_max": (ties, torch.tensor([0, 2, 2, 9, 12]), True),
        "float16": (wide.half(), torch.tensor([1, 4, 6]), False),
        "bfloat16": (wide.bfloat16(), torch.tensor([0, 7]), True),
        "empty": (torch.empty(0, 0), torch.tensor([0]), False),
        "empty_columns": (torch.empty(3, 0), torch.tensor([0, 1, 3]), False),
        "no_problems": (wide, torch.tensor([2]), False),
        "transposed": (torch.rand(5, 9, generator=gen).t(), torch.tensor([0, 4, 9]), True),
        "stepped_offsets": (wide, torch.tensor([0, 9, 3, 9, 7])[::2], False),
        "invalid_offsets": (wide, torch.tensor([0, 6, 2]), False),
        "nan": (torch.full((3, 3), float("nan")), torch.tensor([0, 3]), False),
        "requires_grad": (wide.clone().requires_grad_(), torch.tensor([0, 7]), False),
    }


@pytest.mark.parametrize("name", list(_opcheck_inputs()))
def test_opcheck(name):
    cost, offsets, maximize = _opcheck_inputs()[name]
    torch.library.opcheck(torch.ops.idmatch.ragged_linear_sum_assignment.default, (cost, offsets, maximize))
