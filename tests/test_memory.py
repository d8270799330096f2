"""Memory use of the ops (CPU).

1. Thousands of calls of each op leave resident memory where it was: a leak
   of an output, a workspace or a reference would add up here.
2. Large inputs (10 million peaks, a 5000 x 5000 matrix) finish, and their
   peak resident memory stays within docs/design.md's memory model
   ("Memory"), mirrored by the *_model_bytes functions below. These are slow: they run
   only with IDMATCH_TEST_SLOW=1, each in a fresh interpreter, so that the
   process's peak resident size (VmHWM) is that of the one call.

Linux only (/proc/self/statm and /proc/self/status). Skipped under AddressSanitizer,
whose quarantine holds freed memory back and whose shadow memory grows with
every allocation; the sanitized run checks leaks with LeakSanitizer instead.
"""

import ctypes
import gc
import json
import os
import sys

import numpy as np
import pytest
import torch

import idmatch
from conftest import assert_child_ok, run_child, under_asan

MiB = 1 << 20


pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm and /proc/self/status"),
    pytest.mark.skipif(under_asan(), reason="AddressSanitizer's quarantine and shadow memory distort resident sizes"),
]

slow = pytest.mark.slow
run_slow = pytest.mark.skipif(
    os.environ.get("IDMATCH_TEST_SLOW") != "1", reason="slow (large inputs): set IDMATCH_TEST_SLOW=1 to run"
)


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_resident_bytes() -> int:
    # VmHWM, the high-water mark of this process image's own memory. Not
    # ru_maxrss: Linux carries it over fork and exec, so a child started by a
    # big parent (a long pytest session) reports the parent's size.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")


# ---------------------------------------------------------------------------
# 1. Repeated calls.

CALLS = 3000
WARM_UP = 200
# Without a leak the cases below move by a few pages at most. Keeping every
# call's outputs alive, the smallest leak of a tensor, grows each of them by
# 3 MiB or more; a leak of a few bytes per call is LeakSanitizer's to find
# (make sanitize-check).
GROWTH_TOLERANCE = 1 * MiB


def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim
    except AttributeError:  # not glibc
        return None


MALLOC_TRIM = _malloc_trim()


def settle() -> None:
    """Frees what can be freed and hands free heap pages back to the system:
    otherwise a leak would first fill memory freed by earlier tests, which
    is resident already, and go unseen."""
    gc.collect()
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)


def _repeated_cases():
    g = torch.Generator().manual_seed(0)
    batch = torch.rand(48, 9, 8, generator=g)  # tall problems: solved transposed
    # 80 x 64 = 5120 entries: large enough for the CPU kernel's dense copy.
    large = torch.rand(80, 64, generator=g)
    large64 = large.double()  # float64, minimizing: solved in place, no copy
    ragged = torch.rand(300, 12, generator=g)
    offsets = torch.tensor([0, 10, 10, 60, 300])  # a 240 x 12 problem among small ones
    maps = torch.rand(4, 3, 32, 32, generator=g)
    n = 96
    points = torch.rand(n, 2, generator=g) * 32
    vals = torch.rand(n, generator=g)
    samples = torch.randint(0, 4, (n,), generator=g)
    channels = torch.randint(0, 5, (n,), generator=g)
    probs = torch.rand(n, 3, generator=g)
    # One group of 1500 peaks x 3 classes (4500 entries): the dense copy
    # through the grouping's row index.
    crowd = torch.rand(1500, 3, generator=g)
    crowd_inds = torch.zeros(1500, dtype=torch.int64)
    vectors = torch.rand(12, 5, generator=g)
    array = large.numpy().astype(np.float64)
    ops = torch.ops.idmatch
    return {
        "raw_ragged_linear_sum_assignment": lambda: ops.ragged_linear_sum_assignment(ragged, offsets, True),
        "raw_sample_class_maps": lambda: ops.sample_class_maps(maps, points, samples),
        "raw_match_peaks_to_classes": lambda: ops.match_peaks_to_classes(probs, samples, channels, 4, 5),
        "raw_match_peaks_to_classes_one_large_group": lambda: ops.match_peaks_to_classes(
            crowd, crowd_inds, crowd_inds, 1, 1
        ),
        "raw_classify_peaks_from_maps": lambda: ops.classify_peaks_from_maps(maps, points, vals, samples, channels, 5),
        "linear_sum_assignment_dense_copy": lambda: idmatch.linear_sum_assignment(large, maximize=True),
        "linear_sum_assignment_in_place": lambda: idmatch.linear_sum_assignment(large64),
        "linear_sum_assignment_numpy": lambda: idmatch.linear_sum_assignment(array),
        "batch_linear_sum_assignment": lambda: idmatch.batch_linear_sum_assignment(batch),
        "ragged_linear_sum_assignment": lambda: idmatch.ragged_linear_sum_assignment(ragged, offsets),
        "get_class_inds_from_vectors": lambda: idmatch.get_class_inds_from_vectors(vectors),
        "sample_class_maps": lambda: idmatch.sample_class_maps(maps, points, samples),
        "group_class_peaks": lambda: idmatch.group_class_peaks(probs, samples, channels, 4, 5),
        "classify_peaks_from_maps": lambda: idmatch.classify_peaks_from_maps(maps, points, vals, samples, channels, 5),
    }


REPEATED_CASES = _repeated_cases()


@pytest.mark.parametrize("name", list(REPEATED_CASES))
def test_repeated_calls_keep_resident_memory_flat(name):
    call = REPEATED_CASES[name]
    # The warm-up pays for what is allocated once: thread pools, dispatcher
    # caches, allocator arenas.
    for _ in range(WARM_UP):
        call()
    settle()
    before = resident_bytes()
    for _ in range(CALLS):
        call()
    settle()
    growth = resident_bytes() - before
    assert growth <= GROWTH_TOLERANCE, (
        f"{name}: resident memory grew by {growth / MiB:.1f} MiB over {CALLS} calls "
        f"({growth / CALLS:.0f} bytes per call)"
    )


# ---------------------------------------------------------------------------
# 2. Large inputs, against the memory model.
#
# The models count the bytes each op allocates beyond its inputs (see
# docs/design.md, "Memory"); `threads` is the number of intra-op threads, each of which solves
# its share of the problems with a workspace of its own.

DENSE_COPY_MIN_ENTRIES = 4096  # kDenseCopyMinEntries, csrc/core/ragged_lsa.h
# Beyond the model: allocator bookkeeping, page rounding, thread stacks of a
# first parallel region, interpreter objects.
SLACK_FRACTION = 0.10
SLACK_BYTES = 32 * MiB


def solver_workspace_bytes(largest_rows: int, cols: int, in_place: bool = False) -> int:
    """One thread's workspace: 2 doubles and 3 int32 per row and column of
    its largest problem, plus a float64 copy of the largest problem with
    kDenseCopyMinEntries entries or more, unless it is read in place
    (float64, minimizing, contiguous rows, not tall)."""
    size = 28 * (largest_rows + cols)
    if largest_rows * cols >= DENSE_COPY_MIN_ENTRIES and not in_place:
        size += 8 * largest_rows * cols
    return size


def lsa_model_bytes(rows: int, cols: int, in_place: bool = False) -> int:
    """linear_sum_assignment on one (rows, cols) tensor: workspace, the
    col_for_row (int64) and status outputs, the wrapper's offsets and row_ind."""
    return solver_workspace_bytes(rows, cols, in_place) + 8 * rows + 4 + 16 + 8 * min(rows, cols)


def match_model_bytes(peaks: int, groups: int, classes: int, largest_group: int, threads: int) -> int:
    """match_peaks_to_classes: outputs class_inds (8 P) and status (4 G);
    counting sort: group of each peak (8 P), order (8 P), offsets (8 (G + 1))
    and cursors (8 G); one workspace per thread."""
    sort = 8 * peaks + 8 * peaks + 8 * (groups + 1) + 8 * groups
    outputs = 8 * peaks + 4 * groups
    return outputs + sort + threads * solver_workspace_bytes(largest_group, classes)


def classify_model_bytes(
    peaks: int,
    samples: int,
    classes: int,
    channels: int,
    largest_group: int,
    threads: int,
    map_size: int,
    point_size: int,
    val_size: int,
) -> int:
    """classify_peaks_from_maps: the sampled probabilities (P x C in the maps'
    dtype), matching as match_peaks_to_classes, and the instance outputs
    points, point_vals and class_probs (S x C x n_channels)."""
    groups = samples * channels
    instances = samples * classes * channels
    outputs = instances * (2 * point_size + val_size + map_size)
    probs = peaks * classes * map_size
    return probs + match_model_bytes(peaks, groups, classes, largest_group, threads) + outputs


def _run_large_case(case: str, **params) -> dict:
    """Runs one large case in a fresh interpreter (this file, as a script)."""
    result = run_child(os.path.abspath(__file__), case, json.dumps(params), timeout=1800)
    assert_child_ok(result, case)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _check_bound(name: str, measured: dict, model: int) -> None:
    used = measured["peak"] - measured["before"]
    bound = int(model * (1 + SLACK_FRACTION)) + SLACK_BYTES
    print(
        f"\n{name}: {measured['threads']} threads, peak resident "
        f"{measured['peak'] / MiB:.0f} MiB (before the call {measured['peak_before'] / MiB:.0f} MiB), "
        f"inputs and interpreter {measured['before'] / MiB:.0f} MiB, "
        f"op {used / MiB:.0f} MiB, model {model / MiB:.0f} MiB, bound {bound / MiB:.0f} MiB"
    )
    assert used <= bound, (
        f"{name}: the call took {used / MiB:.0f} MiB of resident memory beyond its inputs; "
        f"the memory model says {model / MiB:.0f} MiB (bound {bound / MiB:.0f} MiB)"
    )


TEN_MILLION = 10_000_000


@slow
@run_slow
def test_large_match_peaks_to_classes():
    # 10 million peaks in 10,000 (sample, channel) groups of about 1000
    # peaks, 5 classes: the groups are tall, so they are solved transposed.
    params = dict(peaks=TEN_MILLION, samples=1000, channels=10, classes=5)
    measured = _run_large_case("match", **params)
    model = match_model_bytes(
        params["peaks"],
        params["samples"] * params["channels"],
        params["classes"],
        measured["largest_group"],
        measured["threads"],
    )
    _check_bound("match_peaks_to_classes, 10M peaks", measured, model)


@slow
@run_slow
def test_large_classify_peaks_from_maps():
    params = dict(peaks=TEN_MILLION, samples=100, channels=50, classes=5, size=64)
    measured = _run_large_case("classify", **params)
    model = classify_model_bytes(
        params["peaks"],
        params["samples"],
        params["classes"],
        params["channels"],
        measured["largest_group"],
        measured["threads"],
        map_size=4,
        point_size=4,
        val_size=4,
    )
    _check_bound("classify_peaks_from_maps, 10M peaks", measured, model)


@slow
@run_slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_linear_sum_assignment(dtype):
    # float32 is copied into a float64 matrix (200 MB here); contiguous
    # float64 is read in place.
    n = 5000
    measured = _run_large_case("lsa", n=n, dtype=dtype)
    model = lsa_model_bytes(n, n, in_place=dtype == "float64")
    _check_bound(f"linear_sum_assignment, {n} x {n} {dtype}", measured, model)


# ---------------------------------------------------------------------------
# The child side of the large cases. Inputs are generated in place, without
# temporaries, so that the peak before the call is the resident size before it.


def _largest_group(samples: torch.Tensor, channels: torch.Tensor, n_channels: int) -> int:
    return int(torch.bincount(samples * n_channels + channels).max())


def _child(case: str, params: dict) -> dict:
    torch.manual_seed(0)
    if case == "lsa":
        cost = torch.rand(params["n"], params["n"], dtype=getattr(torch, params["dtype"]))

        def call():
            return idmatch.linear_sum_assignment(cost)

    else:
        peaks, samples, channels, classes = params["peaks"], params["samples"], params["channels"], params["classes"]
        sample_inds = torch.randint(0, samples, (peaks,))
        channel_inds = torch.randint(0, channels, (peaks,))
        if case == "match":
            probs = torch.rand(peaks, classes)

            def call():
                return torch.ops.idmatch.match_peaks_to_classes(probs, sample_inds, channel_inds, samples, channels)

        else:
            size = params["size"]
            maps = torch.rand(samples, classes, size, size)
            points = torch.rand(peaks, 2).mul_(size - 1)
            vals = torch.rand(peaks)

            def call():
                return idmatch.classify_peaks_from_maps(maps, points, vals, sample_inds, channel_inds, channels)

    gc.collect()
    before = resident_bytes()
    peak_before = peak_resident_bytes()
    outputs = call()
    peak = peak_resident_bytes()
    del outputs
    largest = None if case == "lsa" else _largest_group(sample_inds, channel_inds, channels)
    return dict(
        before=before, peak_before=peak_before, peak=peak, threads=torch.get_num_threads(), largest_group=largest
    )


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], json.loads(sys.argv[2]))))
