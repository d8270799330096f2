"""What only a GPU can show about the CUDA kernels.

The exactness suites (test_lsa, test_identity, test_properties, test_bad_input)
run on CUDA through the `device` fixture wherever a GPU is present. This file
adds what they do not cover:

- bulk agreement: 100,000 random assignment problems and 100,000 random
  (sample, channel) groups, tie-heavy, every floating dtype, through every raw
  op on CUDA (the padded ops too), bit for bit equal to the CPU op (which the other suites hold to
  scipy and the reference), NaN where the CPU op gives NaN;
- no host syncs in the raw ops (torch.cuda.set_sync_debug_mode("error"));
- CUDA graph capture and replay equal to eager runs (the padded ops too);
- torch.compile(fullgraph=True) and torch.export on CUDA;
- a non-default stream, and tensors on cuda:0 while another device is current;
- the kernel launches of a classify call, the same whatever the group count.

Skipped without a GPU (CI has none); `make gpu-check` runs it on one.
"""

import numpy as np
import pytest
import torch

import idmatch
from conftest import FLOATING_DTYPES, assert_identical

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

RAW = torch.ops.idmatch


def tie_heavy(rng: np.random.Generator, shape, dtype: torch.dtype) -> torch.Tensor:
    """Values in {0, 0.25, 0.5, 1} mostly (exact in every float dtype), some
    uniform, so that many problems have several optima."""
    ties = rng.choice(np.array([0.0, 0.25, 0.5, 1.0]), size=shape)
    uniform = rng.random(shape)
    values = np.where(rng.random(shape) < 0.7, ties, uniform)
    return torch.from_numpy(values).to(dtype)


def ragged_batch(rng: np.random.Generator, num_problems: int, num_cols: int, max_rows: int, dtype: torch.dtype):
    rows = rng.integers(0, max_rows + 1, size=num_problems)
    offsets = torch.from_numpy(np.concatenate([[0], np.cumsum(rows)])).to(torch.int64)
    cost = tie_heavy(rng, (int(offsets[-1]), num_cols), dtype)
    return cost, offsets


def identity_batch(rng: np.random.Generator, n_samples: int, n_classes: int, n_channels: int, n_peaks: int, dtype):
    maps = tie_heavy(rng, (n_samples, n_classes, 24, 24), dtype)
    # Coordinates on and near .5 boundaries and outside the map.
    points = torch.from_numpy(rng.integers(-4, 56, size=(n_peaks, 2)) / 2.0).to(dtype)
    vals = torch.from_numpy(rng.random(n_peaks)).to(dtype)
    samples = torch.from_numpy(rng.integers(0, n_samples, size=n_peaks))
    channels = torch.from_numpy(rng.integers(0, n_channels, size=n_peaks))
    return maps, points, vals, samples, channels


def paf_batch(rng: np.random.Generator, n_samples: int, n_edges: int, count: int, dtype: torch.dtype, n_peaks: int = 9):
    """PAF candidates: tie-heavy scores, some NaN, duplicate pairs, some
    indices out of range, and sparse problems (many infeasible); peak
    indices below n_peaks."""
    edges = torch.from_numpy(rng.integers(-1, n_edges + 1, size=count))
    peaks = torch.from_numpy(rng.integers(0, n_peaks, size=(count, 2)))
    scores = tie_heavy(rng, (count,), dtype)
    scores[torch.from_numpy(rng.random(count) < 0.05)] = float("nan")
    samples = torch.from_numpy(rng.integers(0, n_samples + 1, size=count))
    return edges, peaks, scores, samples


def on(device, tensors):
    return tuple(t.to(device) for t in tensors)


def assert_outputs_identical(actual, expected, what: str) -> None:
    assert len(actual) == len(expected), what
    for k, (a, e) in enumerate(zip(actual, expected)):
        assert_identical(a.cpu(), e, f"{what}, output {k}")


# ---------------------------------------------------------------------------
# Bulk agreement with the CPU op
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATING_DTYPES)
@pytest.mark.parametrize("maximize", [False, True])
def test_ragged_op_equals_cpu_on_many_problems(dtype, maximize):
    # 8 (dtype, maximize) cases x 2 widths x 6,250 problems = 100,000 problems,
    # small and mid-size, wide and tall (rows up to 3x the columns).
    rng = np.random.default_rng(17 + FLOATING_DTYPES.index(dtype) * 2 + maximize)
    for num_cols, max_rows in ((7, 20), (33, 90)):
        cost, offsets = ragged_batch(rng, 6250, num_cols, max_rows, dtype)
        expected = RAW.ragged_linear_sum_assignment(cost, offsets, maximize)
        actual = RAW.ragged_linear_sum_assignment(cost.cuda(), offsets.cuda(), maximize)
        assert_outputs_identical(actual, expected, f"{dtype} maximize={maximize} cols={num_cols}")


@pytest.mark.parametrize("dtype", FLOATING_DTYPES)
def test_identity_ops_equal_cpu_on_many_groups(dtype):
    # 4 dtypes x 2 shapes x 12,500 groups = 100,000 groups through every
    # identity op; small groups (about 3 peaks a group) and large ones.
    rng = np.random.default_rng(29 + FLOATING_DTYPES.index(dtype))
    for n_samples, n_classes, n_channels, peaks_per_group in ((500, 3, 25, 3), (50, 20, 250, 24)):
        n_peaks = n_samples * n_channels * peaks_per_group
        inputs = identity_batch(rng, n_samples, n_classes, n_channels, n_peaks, dtype)
        maps, points, vals, samples, channels = inputs
        what = f"{dtype} S={n_samples} C={n_classes} N={n_channels}"
        expected = RAW.classify_peaks_from_maps(maps, points, vals, samples, channels, n_channels)
        actual = RAW.classify_peaks_from_maps(*on("cuda", inputs), n_channels)
        assert_outputs_identical(actual, expected, f"classify {what}")
        probs = RAW.sample_class_maps(maps, points, samples)
        assert_identical(RAW.sample_class_maps(*on("cuda", (maps, points, samples))).cpu(), probs, f"sample {what}")
        expected = RAW.match_peaks_to_classes(probs, samples, channels, n_samples, n_channels)
        actual = RAW.match_peaks_to_classes(*on("cuda", (probs, samples, channels)), n_samples, n_channels)
        assert_outputs_identical(actual, expected, f"match {what}")


def assert_paf_op_equals_cpu(inputs, n_samples: int, n_edges: int, what: str):
    """The CUDA op's outputs on `inputs` against the CPU op's; returns the
    CPU op's."""
    expected = RAW.match_paf_candidates(*inputs, n_samples, n_edges)
    actual = RAW.match_paf_candidates(*on("cuda", inputs), n_samples, n_edges)
    assert_outputs_identical(actual, expected, f"match_paf_candidates {what}")
    return expected


@pytest.mark.parametrize("dtype", FLOATING_DTYPES)
def test_paf_op_equals_cpu_on_many_problems(dtype):
    # 4 dtypes x 25,000 (sample, edge) problems of a few candidates each,
    # then 1,000 of about 30 sources and destinations: both sides of the
    # kernel's tile of 32 columns.
    rng = np.random.default_rng(23 + FLOATING_DTYPES.index(dtype))
    for n_samples, n_edges, count, n_peaks in ((2500, 10, 200_000, 9), (200, 5, 60_000, 40)):
        inputs = paf_batch(rng, n_samples, n_edges, count, dtype, n_peaks)
        assert_paf_op_equals_cpu(inputs, n_samples, n_edges, f"{dtype} peaks < {n_peaks}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_paf_op_equals_cpu_on_wide_problems(dtype):
    # Problems wider than the tile, which the kernel's thread block solves:
    # about 40 columns with a third of the cells filled, about 67 sparse
    # ones (lane states in shared memory) and about 900 (in the workspace).
    rng = np.random.default_rng(31 + (dtype == torch.float64))
    for n_samples, n_edges, count, n_peaks in ((20, 2, 60_000, 40), (50, 4, 30_000, 120), (1, 2, 11_000, 1500)):
        inputs = paf_batch(rng, n_samples, n_edges, count, dtype, n_peaks)
        assert_paf_op_equals_cpu(inputs, n_samples, n_edges, f"{dtype} peaks < {n_peaks}")


def test_paf_op_equals_cpu_past_one_grid():
    # More problems than one grid's tiles (65535 blocks of 4), so that blocks
    # take a second round, with a wide problem (handed to the block) in each.
    rng = np.random.default_rng(37)
    n_samples, n_edges, count = 27_000, 10, 900  # 270,000 problems
    batch = paf_batch(rng, n_samples, n_edges, 150_000, torch.float32)
    parts = [batch]
    for sample in (3, 26_500):  # problem 30 in the first round, 265,000 in the second
        parts.append(
            (
                torch.zeros(count, dtype=torch.int64),
                torch.from_numpy(rng.integers(0, 40, size=(count, 2))),
                tie_heavy(rng, (count,), torch.float32),
                torch.full((count,), sample, dtype=torch.int64),
            )
        )
    inputs = tuple(torch.cat([part[k] for part in parts]) for k in range(4))
    expected = assert_paf_op_equals_cpu(inputs, n_samples, n_edges, "past one grid")
    for k in (1, 2):  # the solver's columns: past the tile's 32
        first, last = len(inputs[0]) - (3 - k) * count, len(inputs[0]) - (2 - k) * count
        assert max(int(expected[1][first:last].max()), int(expected[2][first:last].max())) >= 32


def padded_batch(rng: np.random.Generator, n_samples: int, n_nodes: int, n_slots: int, n_classes: int, dtype):
    """Padded peaks with about a third of the slots masked out, NaN in
    those."""
    mask = torch.from_numpy(rng.random((n_samples, n_nodes, n_slots)) < 0.65)
    peaks = torch.from_numpy(rng.integers(-4, 56, size=(n_samples, n_nodes, n_slots, 2)) / 2.0).to(dtype)
    vals = torch.from_numpy(rng.random((n_samples, n_nodes, n_slots))).to(dtype)
    probs = tie_heavy(rng, (n_samples, n_nodes, n_slots, n_classes), dtype)
    probs[~mask] = float("nan")
    return peaks, vals, mask, probs


@pytest.mark.parametrize("dtype", FLOATING_DTYPES)
def test_padded_ops_equal_cpu_on_many_groups(dtype):
    # 4 dtypes x 2 shapes x 12,500 groups (or samples) = 100,000 problems
    # through each padded op; groups with fewer and more slots than classes.
    # Then smaller batches for the other teams: tiles of 16 lanes, tiles of
    # 32 that hand the groups of over 32 valid slots to their block (lane
    # states in shared memory, and past its size in the workspace), and
    # blocks for more than 32 classes.
    rng = np.random.default_rng(41 + FLOATING_DTYPES.index(dtype))
    shapes = (
        (500, 25, 3, 4),
        (50, 250, 24, 20),
        (40, 25, 12, 9),
        (10, 25, 40, 6),
        (10, 25, 48, 6),
        (2, 2, 2000, 6),
        (10, 20, 5, 36),
    )
    for n_samples, n_nodes, n_slots, n_classes in shapes:
        inputs = padded_batch(rng, n_samples, n_nodes, n_slots, n_classes, dtype)
        what = f"{dtype} B={n_samples} N={n_nodes} K={n_slots} C={n_classes}"
        expected = RAW.classify_padded_peaks(*inputs)
        actual = RAW.classify_padded_peaks(*on("cuda", inputs))
        assert_outputs_identical(actual, expected, f"classify padded {what}")
        probs, valid = inputs[3].flatten(0, 1), inputs[2].flatten(0, 1)
        expected = RAW.match_padded_instances(probs, valid)
        actual = RAW.match_padded_instances(*on("cuda", (probs, valid)))
        assert_outputs_identical(actual, expected, f"match padded {what}")


# ---------------------------------------------------------------------------
# The raw-op contract on a GPU
# ---------------------------------------------------------------------------


def raw_calls(device):
    """(name, thunk) for every raw op on small tie-heavy inputs on `device`."""
    rng = np.random.default_rng(5)
    cost, offsets = on(device, ragged_batch(rng, 40, 6, 9, torch.float32))
    maps, points, vals, samples, channels = on(device, identity_batch(rng, 4, 3, 5, 60, torch.float32))
    probs = RAW.sample_class_maps(maps, points, samples)
    paf = on(device, paf_batch(rng, 6, 4, 200, torch.float32))
    padded = on(device, padded_batch(rng, 3, 4, 5, 3, torch.float32))
    return [
        ("match_paf_candidates", lambda: RAW.match_paf_candidates(*paf, 6, 4)),
        ("ragged_linear_sum_assignment", lambda: RAW.ragged_linear_sum_assignment(cost, offsets, False)),
        ("sample_class_maps", lambda: (RAW.sample_class_maps(maps, points, samples),)),
        ("match_peaks_to_classes", lambda: RAW.match_peaks_to_classes(probs, samples, channels, 4, 5)),
        ("classify_peaks_from_maps", lambda: RAW.classify_peaks_from_maps(maps, points, vals, samples, channels, 5)),
        ("classify_padded_peaks", lambda: RAW.classify_padded_peaks(*padded)),
        ("match_padded_instances", lambda: RAW.match_padded_instances(padded[3][:, 0], padded[2][:, 0])),
    ]


def test_raw_ops_do_not_sync():
    expected = {name: call() for name, call in raw_calls("cpu")}
    calls = raw_calls("cuda")
    torch.cuda.synchronize()
    results = {}
    torch.cuda.set_sync_debug_mode("error")
    try:
        for name, call in calls:
            results[name] = call()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for name, outputs in results.items():
        assert_outputs_identical(outputs, expected[name], name)


def test_graph_replay_equals_eager():
    rng = np.random.default_rng(11)
    cost, offsets = on("cuda", ragged_batch(rng, 300, 10, 12, torch.float32))
    inputs = on("cuda", identity_batch(rng, 8, 4, 13, 300, torch.float32))
    static_cost, static_inputs = cost.clone(), tuple(t.clone() for t in inputs)

    def step():
        return (
            RAW.ragged_linear_sum_assignment(static_cost, offsets, False),
            RAW.classify_peaks_from_maps(*static_inputs, 13),
        )

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()  # warm-up outside capture (allocator pools, lazy init)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = step()
    for round_ in range(3):
        new_cost = tie_heavy(np.random.default_rng(200 + round_), tuple(cost.shape), torch.float32).cuda()
        new_inputs = on("cuda", identity_batch(np.random.default_rng(300 + round_), 8, 4, 13, 300, torch.float32))
        static_cost.copy_(new_cost)
        for static, new in zip(static_inputs, new_inputs):
            static.copy_(new)
        graph.replay()
        eager = (
            RAW.ragged_linear_sum_assignment(new_cost, offsets, False),
            RAW.classify_peaks_from_maps(*new_inputs, 13),
        )
        torch.cuda.synchronize()
        assert_outputs_identical(captured[0], [t.cpu() for t in eager[0]], f"ragged, replay {round_}")
        assert_outputs_identical(captured[1], [t.cpu() for t in eager[1]], f"classify, replay {round_}")


def test_padded_graph_replay_equals_eager():
    static = on("cuda", padded_batch(np.random.default_rng(12), 8, 5, 6, 4, torch.float32))

    def run(inputs):
        return (
            RAW.classify_padded_peaks(*inputs),
            RAW.match_padded_instances(inputs[3][:, 0], inputs[2][:, 0]),
        )

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        run(static)  # warm-up outside capture
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = run(static)
    for round_ in range(3):
        new = on("cuda", padded_batch(np.random.default_rng(400 + round_), 8, 5, 6, 4, torch.float32))
        for old, fresh in zip(static, new):
            old.copy_(fresh)
        graph.replay()
        eager = run(new)
        torch.cuda.synchronize()
        assert_outputs_identical(captured[0], [t.cpu() for t in eager[0]], f"classify padded, replay {round_}")
        assert_outputs_identical(captured[1], [t.cpu() for t in eager[1]], f"match padded, replay {round_}")


class Classify(torch.nn.Module):
    def forward(self, class_maps, peak_points, peak_vals, sample_inds, channel_inds):
        return idmatch.classify_peaks_from_maps(class_maps, peak_points, peak_vals, sample_inds, channel_inds, 13)


def test_compile_and_export_on_cuda():
    rng = np.random.default_rng(3)
    cost = tie_heavy(rng, (64, 10, 10), torch.float32).cuda()
    solve = torch.compile(idmatch.batch_linear_sum_assignment, fullgraph=True)
    assert_identical(solve(cost).cpu(), idmatch.batch_linear_sum_assignment(cost.cpu()), "compiled batch LSA")
    inputs = on("cuda", identity_batch(rng, 8, 4, 13, 200, torch.float32))
    expected = Classify()(*(t.cpu() for t in inputs))
    compiled = torch.compile(Classify(), fullgraph=True)
    assert_outputs_identical(compiled(*inputs), expected, "compiled classify")
    exported = torch.export.export(Classify(), inputs).module()
    assert_outputs_identical(exported(*inputs), expected, "exported classify")


class Padded(torch.nn.Module):
    def forward(self, peaks, peak_vals, peak_mask, class_probs):
        points, point_vals, class_vectors = idmatch.classify_padded_peaks(peaks, peak_vals, peak_mask, class_probs)
        class_inds, instance_inds = idmatch.match_padded_instances(class_probs[:, 0], peak_mask[:, 0])
        return points, point_vals, class_vectors, class_inds, instance_inds


def test_padded_ops_compile_and_export_on_cuda():
    inputs = on("cuda", padded_batch(np.random.default_rng(4), 6, 5, 7, 4, torch.float32))
    expected = Padded()(*(t.cpu() for t in inputs))
    compiled = torch.compile(Padded(), fullgraph=True)
    assert_outputs_identical(compiled(*inputs), expected, "compiled padded")
    exported = torch.export.export(Padded(), inputs).module()
    assert_outputs_identical(exported(*inputs), expected, "exported padded")


def test_non_default_stream():
    expected = {name: call() for name, call in raw_calls("cpu")}
    calls = raw_calls("cuda")
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        results = {name: call() for name, call in calls}
    stream.synchronize()
    for name, outputs in results.items():
        assert_outputs_identical(outputs, expected[name], f"{name} on a side stream")


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_tensors_off_the_current_device():
    expected = {name: call() for name, call in raw_calls("cpu")}
    calls = raw_calls("cuda:0")
    with torch.cuda.device(1):
        results = {name: call() for name, call in calls}
    torch.cuda.synchronize(0)
    for name, outputs in results.items():
        assert all(t.device == torch.device("cuda:0") for t in outputs), name
        assert_outputs_identical(outputs, expected[name], f"{name} on cuda:0 with cuda:1 current")


def classify_launches(n_samples: int, n_classes: int, n_channels: int, peaks_per_group: int) -> dict:
    """Kernel launches and memory operations of one classify_peaks_from_maps
    call on CUDA, by name, from torch's profiler."""
    from torch.profiler import ProfilerActivity, profile

    rng = np.random.default_rng(n_samples)
    maps, points, vals, samples, channels = on(
        "cuda",
        identity_batch(rng, n_samples, n_classes, n_channels, n_samples * n_channels * peaks_per_group, torch.float32),
    )
    RAW.classify_peaks_from_maps(maps, points, vals, samples, channels, n_channels)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        RAW.classify_peaks_from_maps(maps, points, vals, samples, channels, n_channels)
        torch.cuda.synchronize()
    counts = {}
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            counts[event.name] = counts.get(event.name, 0) + 1
    return counts


def test_classify_launches_do_not_grow_with_groups():
    """Grouping and scatter launch a fixed set of kernels whatever the number
    of (sample, channel) groups: 16 frames and 64 frames of 30 nodes launch
    the same kernels, as many times each. (The class count and the peak
    count bound the problems' widths, which decide the tile widths and
    whether a block kernel runs, see ragged_lsa_kernel.cu; and torch's sort
    takes another path below 4096 elements: both batches have more.) The
    counts of one frame of 2 animals (W1's shape) are printed for the README
    (make gpu-check keeps the log)."""
    w1 = classify_launches(1, 2, 13, 2)
    print(f"\nclassify_peaks_from_maps on CUDA, W1's shape: {sum(w1.values())} launches: {w1}")
    assert sum(w1.values()) > 0, "the profiler saw no CUDA activity"
    fewer = classify_launches(16, 2, 30, 10)
    more = classify_launches(64, 2, 30, 10)
    print(f"16 frames: {sum(fewer.values())} launches: {fewer}")
    assert fewer == more


@pytest.mark.parametrize("name", ["L1", "L4", "W1"])
def test_benchmark_runners_on_cuda_give_the_oracles_answers(name):
    """idmatch's runners and sleap-nn's in the CUDA benchmark answer as the
    oracle does, those that only CUDA runs have included: the raw op under
    CUDA graph replay, idmatch's CPU op on host copies ("idmatch cpu") and,
    where sleap-nn's identity module is there, sleap-nn on the GPU. (The
    other peers' answers are theirs.)"""
    pytest.importorskip("scipy")
    from idmatch.bench import runners, sleap, workloads

    ctx = workloads.SetupContext(name, torch.device("cuda"), 0.1 if name.startswith("L") else 1.0, 0)
    prepared = runners.prepare(workloads.WORKLOADS[name], ctx)
    expected = {"idmatch cpu"}
    if name == "W1":
        expected |= {"idmatch graph replay"} | ({"sleap-nn"} if sleap.sleap_nn_identity_module() else set())
    assert expected <= set(prepared.runners)
    checks = runners.check_answers(prepared, ctx.device)
    ours = {"idmatch", "idmatch raw op", "idmatch graph replay", "idmatch cpu", "sleap-nn"} & set(checks)
    assert {runner: checks[runner].status for runner in ours} == dict.fromkeys(ours, "exact"), checks
