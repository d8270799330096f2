"""Concurrency and determinism: the ops give the same answers whether they run
alone or from many Python threads at once, whatever torch's intra-op thread
count, and on every repetition.

Each workload calls every public function and raw op on inputs large enough
for the CPU kernels to split their work over torch's intra-op threads, and
includes calls that fail, so that the error paths run concurrently too. Its
answers are compared with those of a serial run, exactly (NaN where NaN).
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Tuple

import numpy as np
import pytest
import torch

import idmatch
from conftest import DEVICES, tensor_difference
from idmatch import Status
from idmatch._common import FLOATING_DTYPES

PYTHON_THREADS = 8
ROUNDS = 20  # calls of its whole workload per thread
INTRA_OP_THREADS = (1, 2)
REPETITIONS = 5
SEEDS = (0, 1, 2, 3)  # threads 4..7 share the tensors of threads 0..3


def _scene(gen: torch.Generator, device: str, dtype: torch.dtype):
    n_samples, n_classes, n_channels, height, width = 6, 5, 12, 48, 40
    maps = torch.softmax(torch.randn(n_samples, n_classes, height, width, generator=gen) * 3, dim=1)
    maps = torch.where(torch.rand(maps.shape, generator=gen) < 0.3, maps.round(decimals=1), maps)  # ties
    per_group = torch.randint(0, n_classes + 3, (n_samples * n_channels,), generator=gen)
    groups = torch.repeat_interleave(torch.arange(n_samples * n_channels), per_group)
    groups = groups[torch.randperm(groups.shape[0], generator=gen)]
    n_peaks = groups.shape[0]
    points = torch.rand(n_peaks, 2, generator=gen) * torch.tensor([width + 2.0, height + 2.0]) - 1
    points[::7] = points[::7].round() + 0.5  # half to even decides
    return dict(
        class_maps=maps.to(device, dtype),
        peak_points=points.to(device),
        peak_vals=torch.rand(n_peaks, generator=gen).to(device),
        peak_sample_inds=(groups // n_channels).to(device),
        peak_channel_inds=(groups % n_channels).to(device),
        n_channels=n_channels,
    )


def make_workload(seed: int, device: str) -> List[Tuple[str, Callable[[], object]]]:
    """(name, call) pairs over inputs made once, from `seed`."""
    gen = torch.Generator().manual_seed(seed)
    dtype = FLOATING_DTYPES[seed % len(FLOATING_DTYPES)]
    single = torch.randint(0, 3, (120, 90), generator=gen).to(device, torch.float64)
    batch = torch.rand(3000, 12, 10, generator=gen).to(device, dtype)
    batch_with_nan = batch.clone()
    batch_with_nan[417, 3, 4] = float("nan")
    sizes = torch.randint(0, 14, (500,), generator=gen)
    sizes[200] = 5
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(sizes, 0)]).to(device)
    ragged = torch.randint(0, 4, (int(sizes.sum()), 9), generator=gen).to(device, dtype)
    ragged[int(offsets[200]), 0] = float("nan")  # problem 200 fails
    scene = _scene(gen, device, dtype)
    probs = idmatch.sample_class_maps(scene["class_maps"], scene["peak_points"], scene["peak_sample_inds"])
    vectors = torch.rand(40, 30, generator=gen).to(device, dtype)
    names = ("class_maps", "peak_points", "peak_vals", "peak_sample_inds", "peak_channel_inds", "n_channels")
    args = [scene[name] for name in names]
    n_samples = scene["class_maps"].shape[0]
    bad_maps = scene["class_maps"].clone()
    bad_maps[:, :, :, :] = float("nan")
    return [
        ("linear_sum_assignment", lambda: idmatch.linear_sum_assignment(single, maximize=True)),
        ("linear_sum_assignment_tall", lambda: idmatch.linear_sum_assignment(single.t())),
        ("batch", lambda: idmatch.batch_linear_sum_assignment(batch)),
        ("batch_error", lambda: idmatch.batch_linear_sum_assignment(batch_with_nan, True)),
        ("raw_ragged", lambda: torch.ops.idmatch.ragged_linear_sum_assignment(ragged, offsets, False)),
        ("ragged_error", lambda: idmatch.ragged_linear_sum_assignment(ragged, offsets)),
        ("ragged", lambda: idmatch.ragged_linear_sum_assignment(ragged[: int(offsets[200])], offsets[:201])),
        ("sample_class_maps", lambda: idmatch.sample_class_maps(*args[:2], args[3])),
        ("group_class_peaks", lambda: idmatch.group_class_peaks(probs, args[3], args[4], n_samples, args[5])),
        ("raw_match", lambda: torch.ops.idmatch.match_peaks_to_classes(probs, args[3], args[4], n_samples, args[5])),
        ("classify", lambda: idmatch.classify_peaks_from_maps(*args)),
        ("raw_classify", lambda: torch.ops.idmatch.classify_peaks_from_maps(*args)),
        ("classify_error", lambda: idmatch.classify_peaks_from_maps(bad_maps, *args[1:])),
        ("get_class_inds_from_vectors", lambda: idmatch.get_class_inds_from_vectors(vectors)),
    ]


def fingerprint(call: Callable[[], object]):
    """The call's outputs on the CPU, or the type and message of its error."""
    try:
        result = call()
    except Exception as error:  # noqa: BLE001 - errors are answers here
        return ("error", type(error).__name__, str(error))
    if isinstance(result, torch.Tensor):
        result = (result,)
    return tuple(t.detach().cpu().clone() if isinstance(t, torch.Tensor) else t for t in result)


def run_workload(workload) -> Dict[str, object]:
    return {name: fingerprint(call) for name, call in workload}


def identical(a, b) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return tensor_difference(a, b) is None
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def assert_same_answers(actual: Dict[str, object], expected: Dict[str, object], what: str) -> None:
    assert actual.keys() == expected.keys()
    different = [name for name in expected if not identical(actual[name], expected[name])]
    assert not different, f"{what}: different answers from {different}"


class intra_op_threads:
    """torch.set_num_threads for a block, restored afterwards."""

    def __init__(self, count: int):
        self.count = count

    def __enter__(self):
        self.before = torch.get_num_threads()
        torch.set_num_threads(self.count)

    def __exit__(self, *exc):
        torch.set_num_threads(self.before)


@pytest.fixture(scope="module", params=DEVICES)
def serial_answers(request):
    """Per seed: the workload and its answers, run alone."""
    workloads = {seed: make_workload(seed, request.param) for seed in SEEDS}
    return {seed: (workload, run_workload(workload)) for seed, workload in workloads.items()}


def test_workloads_cover_answers_and_errors(serial_answers):
    """The comparisons below mean something: every workload solves problems
    and raises where it should."""
    for _, answers in serial_answers.values():
        errors = {name for name, answer in answers.items() if answer[0] == "error"}
        assert errors == {"batch_error", "ragged_error", "classify_error"}, errors
        assert answers["batch_error"][2] == "cost[417]: matrix contains invalid numeric entries"
        assert answers["ragged_error"][2] == "problem[200]: matrix contains invalid numeric entries"
        status = answers["raw_classify"][4]
        assert bool((status == Status.OK.value).all())
        assert int((answers["raw_classify"][3] >= 0).sum()) > 100


@pytest.mark.parametrize("intra_op", INTRA_OP_THREADS)
def test_threads_give_serial_answers(serial_answers, intra_op):
    """PYTHON_THREADS threads start together, each running its workload
    ROUNDS times; threads share inputs in pairs (concurrent reads of the same
    tensors)."""
    seeds = [SEEDS[k % len(SEEDS)] for k in range(PYTHON_THREADS)]
    start = threading.Barrier(PYTHON_THREADS)

    def worker(seed: int) -> List[Dict[str, object]]:
        workload = serial_answers[seed][0]
        start.wait()
        return [run_workload(workload) for _ in range(ROUNDS)]

    with intra_op_threads(intra_op):
        with ThreadPoolExecutor(max_workers=PYTHON_THREADS) as pool:
            results = list(pool.map(worker, seeds))
    for thread, (seed, rounds) in enumerate(zip(seeds, results)):
        for k, answers in enumerate(rounds):
            assert_same_answers(answers, serial_answers[seed][1], f"thread {thread} (seed {seed}) round {k}")


@pytest.mark.parametrize("intra_op", INTRA_OP_THREADS)
def test_answers_do_not_depend_on_intra_op_threads(serial_answers, intra_op):
    before = torch.get_num_threads()
    with intra_op_threads(intra_op):
        assert torch.get_num_threads() == intra_op
        for seed, (workload, expected) in serial_answers.items():
            assert_same_answers(run_workload(workload), expected, f"seed {seed}, {intra_op} intra-op threads")
    assert torch.get_num_threads() == before


def test_repeated_runs_are_identical(serial_answers):
    for seed, (workload, expected) in serial_answers.items():
        for k in range(REPETITIONS):
            assert_same_answers(run_workload(workload), expected, f"seed {seed}, repetition {k}")
