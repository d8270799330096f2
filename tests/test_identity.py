"""The identity ops against the reference algorithm (idmatch.reference):
identical outputs, NaN where NaN, on thousands of random scenes."""

import platform
import sys

import numpy as np
import pytest
import torch

import idmatch
import idmatch.reference as reference
from conftest import (
    CPU_KERNELS,
    DEVICES,
    assert_child_ok,
    assert_identical,
    cpu_has_avx512,
    cpu_kernels_env,
    oracle,
    run_child,
)
from idmatch import PeakCode, Status
from idmatch._common import FLOATING_DTYPES


def random_scene(rng: np.random.Generator, map_dtype=torch.float32, point_dtype=torch.float32):
    """A random scene with the hard cases: many or few peaks per group, empty
    groups, saturated and tied probabilities, duplicated peaks, coordinates on
    .5 boundaries and outside the map."""
    n_samples = int(rng.integers(1, 4))
    n_classes = int(rng.integers(1, 6))
    n_channels = int(rng.integers(1, 5))
    height, width = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    style = rng.integers(0, 3)
    if style == 0:  # softmax over classes
        logits = rng.normal(size=(n_samples, n_classes, height, width)) * 3
        maps = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    elif style == 1:  # saturated and tied
        maps = rng.choice([0.0, 0.5, 1.0], size=(n_samples, n_classes, height, width))
    else:  # few distinct values: ties across rows and columns
        maps = rng.integers(0, 4, size=(n_samples, n_classes, height, width)) / 4.0
    class_maps = torch.from_numpy(maps).to(map_dtype)

    samples, channels = [], []
    for sample in range(n_samples):
        for channel in range(n_channels):
            count = int(rng.choice([0, 1, 2, n_classes, n_classes + 2, int(rng.integers(0, 10))]))
            samples += [sample] * count
            channels += [channel] * count
    n_peaks = len(samples)
    half = rng.random(n_peaks) < 0.4  # on .5 boundaries: round half to even decides
    xs = np.where(half, rng.integers(-2, width + 2, n_peaks) + 0.5, rng.uniform(-3, width + 3, n_peaks))
    ys = np.where(half, rng.integers(-2, height + 2, n_peaks) + 0.5, rng.uniform(-3, height + 3, n_peaks))
    points = np.stack([xs, ys], axis=1)
    if n_peaks > 1:  # duplicated peaks: same point, same group
        dup = rng.random(n_peaks) < 0.2
        source = rng.integers(0, n_peaks, n_peaks)
        same_group = (np.array(samples)[source] == np.array(samples)) & (
            np.array(channels)[source] == np.array(channels)
        )
        points[dup & same_group] = points[source[dup & same_group]]
    order = rng.permutation(n_peaks)
    peak_points = torch.from_numpy(points[order]).to(point_dtype)
    peak_vals = torch.from_numpy(rng.random(n_peaks)).to(point_dtype)
    sample_inds = torch.tensor(samples, dtype=torch.int64)[torch.from_numpy(order)]
    channel_inds = torch.tensor(channels, dtype=torch.int64)[torch.from_numpy(order)]
    return class_maps, peak_points, peak_vals, sample_inds, channel_inds, n_channels


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("map_dtype", FLOATING_DTYPES)
def test_classify_peaks_from_maps_equals_reference(device, map_dtype):
    rng = np.random.default_rng(100 + FLOATING_DTYPES.index(map_dtype))
    point_dtypes = [torch.float32, torch.float64, torch.float16]
    for case in range(400):
        scene = random_scene(rng, map_dtype, point_dtypes[case % 3])
        class_maps, peak_points, peak_vals, sample_inds, channel_inds, n_channels = scene
        expected = reference.classify_peaks_from_maps(*scene)
        index_dtype = [torch.int64, torch.int32, torch.int16][case % 3]
        actual = idmatch.classify_peaks_from_maps(
            class_maps.to(device),
            peak_points.to(device),
            peak_vals.to(device),
            sample_inds.to(device, index_dtype),
            channel_inds.to(device, index_dtype),
            n_channels,
        )
        for name, a, e in zip(["points", "point_vals", "class_probs"], actual, expected):
            assert a.device.type == device
            assert_identical(a, e, f"case {case} {name}")


# (points, values, sample indices, channel indices): the CPU kernels read
# float32 points and values and int64 indices through typed views and every
# other dtype through its run-time kind, choosing per argument, so each
# mix of the two must give the same answers.
PEAK_DTYPE_MIXES = [
    (torch.float32, torch.float32, torch.int64, torch.int64),
    (torch.float32, torch.float64, torch.int64, torch.int32),
    (torch.float64, torch.float32, torch.int32, torch.int64),
    (torch.float64, torch.float64, torch.int64, torch.int64),
    (torch.float16, torch.float32, torch.int64, torch.uint8),
    (torch.bfloat16, torch.bfloat16, torch.int8, torch.int16),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mix", PEAK_DTYPE_MIXES, ids=lambda mix: "-".join(str(d)[6:] for d in mix))
def test_every_mix_of_peak_dtypes_equals_reference(device, mix):
    point_dtype, vals_dtype, samples_dtype, channels_dtype = mix
    rng = np.random.default_rng(300 + PEAK_DTYPE_MIXES.index(mix))
    for case in range(150):
        class_maps, peak_points, peak_vals, sample_inds, channel_inds, n_channels = random_scene(
            rng, point_dtype=point_dtype
        )
        peak_vals = peak_vals.to(vals_dtype)
        expected = reference.classify_peaks_from_maps(
            class_maps, peak_points, peak_vals, sample_inds, channel_inds, n_channels
        )
        actual = idmatch.classify_peaks_from_maps(
            class_maps.to(device),
            peak_points.to(device),
            peak_vals.to(device),
            sample_inds.to(device, samples_dtype),
            channel_inds.to(device, channels_dtype),
            n_channels,
        )
        for name, a, e in zip(["points", "point_vals", "class_probs"], actual, expected):
            assert_identical(a, e, f"case {case} {name}")
        probs = idmatch.sample_class_maps(
            class_maps.to(device), peak_points.to(device), sample_inds.to(device, samples_dtype)
        )
        assert_identical(probs, reference.sample_class_maps(class_maps, peak_points, sample_inds), f"case {case} probs")
        if peak_points.shape[0] == 0:
            continue
        # The raw op with a peak of each kind out of range (codes instead of
        # errors) and strided points: every output is the same, bit for bit,
        # through typed views (float32, int64) as through run-time kinds
        # (the same values in float64 and in the mix's index dtypes).
        samples, channels = sample_inds.clone(), channel_inds.clone()
        samples[case % samples.shape[0]] = class_maps.shape[0]
        channels[(case + 1) % channels.shape[0]] = n_channels
        points32, vals32 = peak_points.to(torch.float32), peak_vals.to(torch.float32)
        usual = torch.ops.idmatch.classify_peaks_from_maps(
            class_maps.to(device),
            torch.stack([points32, points32], 1)[:, 1].to(device),
            vals32.to(device),
            samples.to(device),
            channels.to(device),
            n_channels,
        )
        points64, vals64 = points32.double(), vals32.double()
        mixed = torch.ops.idmatch.classify_peaks_from_maps(
            class_maps.to(device),
            torch.stack([points64, points64], 1)[:, 1].to(device),
            vals64.to(device),
            samples.to(device, samples_dtype),
            channels.to(device, channels_dtype),
            n_channels,
        )
        for name, a, e in zip(["points", "point_vals"], mixed[:2], usual[:2]):
            assert_identical(a, e.double(), f"case {case} raw {name}")
        for name, a, e in zip(["class_probs", "class_inds", "status", "problems"], mixed[2:], usual[2:]):
            same = torch.equal(a.view(torch.uint8), e.view(torch.uint8)) if a.dim() else torch.equal(a, e)
            assert same, f"case {case} raw {name}"


@pytest.mark.parametrize("device", DEVICES)
def test_group_class_peaks_and_sampling_equal_reference(device):
    rng = np.random.default_rng(7)
    for case in range(1000):
        map_dtype = FLOATING_DTYPES[case % 4]
        class_maps, peak_points, _, sample_inds, channel_inds, n_channels = random_scene(rng, map_dtype)
        probs = idmatch.sample_class_maps(class_maps.to(device), peak_points.to(device), sample_inds.to(device))
        assert_identical(probs, reference.sample_class_maps(class_maps, peak_points, sample_inds), f"case {case}")
        n_samples = class_maps.shape[0]
        peak_inds, class_inds = idmatch.group_class_peaks(
            probs, sample_inds.to(device), channel_inds.to(device), n_samples, n_channels
        )
        expected_peaks, expected_classes = reference.group_class_peaks(
            probs.cpu(), sample_inds, channel_inds, n_samples, n_channels
        )
        assert peak_inds.device.type == device
        assert_identical(peak_inds, expected_peaks, f"case {case} peak_inds")
        assert_identical(class_inds, expected_classes, f"case {case} class_inds")


@pytest.mark.parametrize("device", DEVICES)
def test_get_class_inds_from_vectors_equals_reference(device):
    rng = np.random.default_rng(11)
    for case in range(1500):
        rows, cols = int(rng.integers(0, 12)), int(rng.integers(0, 8))
        dtype = FLOATING_DTYPES[case % 4]
        if case % 3 == 0:
            values = rng.choice([0.0, 0.5, 1.0], size=(rows, cols))
        else:
            values = rng.random((rows, cols))
        probs = torch.from_numpy(values).to(dtype)
        class_inds, class_probs = idmatch.get_class_inds_from_vectors(probs.to(device))
        expected_inds, expected_probs = reference.get_class_inds_from_vectors(probs)
        assert_identical(class_inds, expected_inds, f"case {case} class_inds")
        assert_identical(class_probs, expected_probs, f"case {case} class_probs")


def test_raw_match_op_is_the_grouped_reference():
    """The raw op reports per peak; kept matches are exactly the reference's."""
    rng = np.random.default_rng(3)
    for case in range(300):
        class_maps, peak_points, _, sample_inds, channel_inds, n_channels = random_scene(rng)
        probs = reference.sample_class_maps(class_maps, peak_points, sample_inds)
        class_inds, status = torch.ops.idmatch.match_peaks_to_classes(
            probs, sample_inds, channel_inds, class_maps.shape[0], n_channels
        )
        assert status.shape == (class_maps.shape[0], n_channels) and bool((status == Status.OK.value).all())
        expected_peaks, expected_classes = reference.group_class_peaks(
            probs, sample_inds, channel_inds, class_maps.shape[0], n_channels
        )
        expected = torch.full((probs.shape[0],), PeakCode.UNMATCHED.value, dtype=torch.int64)
        expected[expected_peaks] = expected_classes
        assert_identical(class_inds, expected, f"case {case}")


def test_zero_peaks_give_all_nan_outputs():
    class_maps = torch.rand(2, 3, 5, 5)
    empty = torch.empty(0, dtype=torch.int64)
    points, vals, probs = idmatch.classify_peaks_from_maps(
        class_maps, torch.empty(0, 2), torch.empty(0), empty, empty, 4
    )
    assert points.shape == (2, 3, 4, 2) and vals.shape == (2, 3, 4) and probs.shape == (2, 3, 4)
    assert bool(torch.isnan(points).all() and torch.isnan(vals).all() and torch.isnan(probs).all())
    peak_inds, class_inds = idmatch.group_class_peaks(torch.empty(0, 3), empty, empty, 2, 4)
    assert peak_inds.shape == (0,) and class_inds.shape == (0,) and peak_inds.dtype == torch.int64


def test_many_samples_few_peaks():
    """An expanded map of 2**40 samples: the work and memory follow the
    peaks, not the samples (the CPU sorts peaks by sample only when there
    are fewer samples than peaks)."""
    base = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    huge = base.expand(2**40, 2, 4, 4)
    points = torch.tensor([[1.0, 2.0], [3.0, 0.0], [0.0, 0.0]])
    samples = torch.tensor([5, 2**40 - 1, 2**40])
    probs = torch.ops.idmatch.sample_class_maps(huge, points, samples)
    expected = torch.tensor([[9.0, 25.0], [3.0, 19.0], [float("nan"), float("nan")]])
    assert_identical(probs, expected, "probs")
    # No channel, no group: nothing to sample or match, whatever n_samples.
    outputs = torch.ops.idmatch.classify_peaks_from_maps(
        huge, points[:2], torch.rand(2), samples[:2], torch.zeros(2, dtype=torch.int64), 0
    )
    assert outputs[0].shape == (2**40, 2, 0, 2) and int(outputs[5]) == 2
    assert outputs[3].tolist() == [PeakCode.CHANNEL_OUT_OF_RANGE.value] * 2


def test_non_contiguous_inputs():
    rng = np.random.default_rng(5)
    class_maps, peak_points, peak_vals, sample_inds, channel_inds, n_channels = random_scene(rng)
    while peak_points.shape[0] < 3:
        class_maps, peak_points, peak_vals, sample_inds, channel_inds, n_channels = random_scene(rng)
    expected = reference.classify_peaks_from_maps(
        class_maps, peak_points, peak_vals, sample_inds, channel_inds, n_channels
    )
    maps_view = class_maps.permute(0, 1, 3, 2).contiguous().permute(0, 1, 3, 2)  # same values, other strides
    points_view = peak_points.t().contiguous().t()
    vals_view = torch.stack([peak_vals, peak_vals], 1)[:, 1]
    samples_view = torch.stack([sample_inds, sample_inds], 1)[:, 0]
    actual = idmatch.classify_peaks_from_maps(maps_view, points_view, vals_view, samples_view, channel_inds, n_channels)
    for name, a, e in zip(["points", "point_vals", "class_probs"], actual, expected):
        assert_identical(a, e, name)


def test_half_to_even_rounding_and_clamping():
    class_maps = torch.arange(1 * 1 * 6 * 6, dtype=torch.float32).reshape(1, 1, 6, 6)
    points = torch.tensor([[2.5, 3.5], [-0.5, 0.5], [1e9, -1e9], [float("inf"), float("-inf")], [5.5, 4.5]])
    probs = idmatch.sample_class_maps(class_maps, points, torch.zeros(5, dtype=torch.int64))
    # (x, y) -> (row, col): 2.5 -> 2 and 3.5 -> 4, huge values clamp to the edges.
    expected = torch.tensor([[4 * 6 + 2], [0 * 6 + 0], [0 * 6 + 5], [0 * 6 + 5], [4 * 6 + 5]], dtype=torch.float32)
    assert_identical(probs, expected, "probs")


# Coordinates on which rounding and clamping decide: .5 boundaries on both
# sides of 0 and of the last pixel, signed zeros, subnormals, infinities,
# NaN, and float32 values too large for int32.
HARD_COORDINATES = [
    -2.5,
    -1.5,
    -0.5,
    -0.0,
    0.0,
    0.5,
    1.5,
    2.5,
    3.5,
    4.5,
    5.5,
    6.5,
    0.49999997,
    1.4999999,
    1e-45,
    -1e-45,
    3.0,
    4.0,
    2.0**23 + 1,
    2.0**24,
    2.0**31,
    -(2.0**31),
    3.4028235e38,
    float("inf"),
    float("-inf"),
    float("nan"),
]
HARD_PAIRS = torch.tensor([[x, y] for x in HARD_COORDINATES for y in HARD_COORDINATES], dtype=torch.float32)
LANES = 8  # peaks per step of the CPU's AVX-512 pixel pass


def expected_probs(class_maps: torch.Tensor, points: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """sample_class_maps by hand (numpy): round half to even, clamp, NaN rows
    where a coordinate is NaN (the reference's torch indexing cannot take
    those)."""
    height, width = class_maps.shape[2:]
    xs, ys = points.double().numpy().T
    nan = np.isnan(xs) | np.isnan(ys)
    rows = np.clip(np.rint(np.nan_to_num(ys)), 0, height - 1).astype(np.int64)
    cols = np.clip(np.rint(np.nan_to_num(xs)), 0, width - 1).astype(np.int64)
    probs = class_maps[samples.long(), :, torch.from_numpy(rows), torch.from_numpy(cols)].clone()
    probs[torch.from_numpy(nan)] = float("nan")
    return probs


def points_in_layout(points: torch.Tensor, layout: str) -> torch.Tensor:
    """The same (P, 2) points with other strides."""
    if layout == "columns":  # x and y each contiguous: a point every element
        return points.t().contiguous().t()
    if layout == "every_third":
        return torch.repeat_interleave(points, 3, dim=0)[::3]
    return points


def pairs_shifted(shift: int) -> torch.Tensor:
    """Every hard (x, y) pair, shifted `shift` peaks on (and that many more
    peaks): over shifts 0..LANES-1, with one sample (peak j in lane
    j % LANES), each pair sits in each lane of the pixel pass, and the last,
    partial step takes every length."""
    num_pairs = HARD_PAIRS.shape[0]
    return HARD_PAIRS[(torch.arange(num_pairs + shift) - shift) % num_pairs]


def check_every_pair_in_every_lane(class_maps: torch.Tensor, layout: str) -> None:
    for shift in range(LANES):
        points = points_in_layout(pairs_shifted(shift), layout)
        samples = torch.zeros(points.shape[0], dtype=torch.int64)
        assert_identical(
            torch.ops.idmatch.sample_class_maps(class_maps, points, samples),
            expected_probs(class_maps, points, samples),
            f"probs (shift {shift})",
        )


@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (1, 2, 1, 6), (1, 1, 7, 1)])
@pytest.mark.parametrize("layout", ["contiguous", "columns", "every_third"])
def test_hard_coordinates_in_every_lane(shape, layout):
    """The CPU computes float32 points' pixels eight at a time (AVX-512):
    every hard coordinate, with every other, in every lane and in partial
    steps of every length, for points of three strides; and through the
    fused op, peaks of several samples and groups."""
    class_maps = torch.from_numpy(np.random.default_rng(11).random(shape)).float()
    check_every_pair_in_every_lane(class_maps, layout)
    # The fused op reads the same pixels: each peak alone in its group is
    # matched as the reference matches it if its row has no NaN; else its
    # group fails and the peak is matched to none. Every output is checked.
    rng = np.random.default_rng(12)
    maps = torch.from_numpy(rng.random((3,) + shape[1:])).float()
    for num_peaks in range(0, 2 * LANES + 2):
        points = points_in_layout(HARD_PAIRS[torch.from_numpy(rng.integers(0, HARD_PAIRS.shape[0], num_peaks))], layout)
        samples = torch.from_numpy(rng.integers(0, 3, num_peaks))
        vals = torch.rand(num_peaks, generator=torch.Generator().manual_seed(num_peaks))
        channels = torch.arange(num_peaks)
        expected = expected_probs(maps, points, samples)
        nan_rows = torch.isnan(expected).any(dim=1)
        keep = torch.nonzero(~nan_rows).squeeze(1)
        want = reference.classify_peaks_from_maps(
            maps, points[keep], vals[keep], samples[keep], channels[keep], num_peaks
        )
        peaks, classes = reference.group_class_peaks(expected[keep], samples[keep], channels[keep], 3, num_peaks)
        want_inds = torch.full((num_peaks,), PeakCode.UNMATCHED.value, dtype=torch.int64)
        want_inds[keep[peaks]] = classes
        want_status = torch.full((3, num_peaks), Status.OK.value, dtype=torch.int32)
        want_status[samples[nan_rows], channels[nan_rows]] = Status.INVALID_ENTRIES.value
        outputs = torch.ops.idmatch.classify_peaks_from_maps(maps, points, vals, samples, channels, num_peaks)
        what = f"{num_peaks} peaks"
        for name, actual, wanted in zip(("points", "point_vals", "class_probs"), outputs, want):
            assert_identical(actual, wanted, f"{what}: {name}")
        assert_identical(outputs[3], want_inds, f"{what}: class_inds")
        assert_identical(outputs[4], want_status, f"{what}: status")
        assert int(outputs[5]) == int(nan_rows.sum()), f"{what}: problems"


PIXELS_UNDER_FLOAT_MODES = """
import ctypes, sys, torch
import idmatch
libm = ctypes.CDLL("libm.so.6")
FE_INVALID = 0x01
ROUNDING = {"nearest": 0x000, "down": 0x400, "up": 0x800, "toward_zero": 0xc00}  # x86's fenv.h
pairs = torch.tensor([[x, y] for x in HARD for y in HARD], dtype=torch.float32)
maps = torch.rand(1, 3, 5, 7, generator=torch.Generator().manual_seed(5))
results = {}
for mode, bits in ROUNDING.items():
    for flush in (False, True):
        if flush and not torch.set_flush_denormal(True):
            continue
        assert libm.fesetround(bits) == 0
        # NaN coordinates must not raise the invalid-operation flag: with it
        # trapped, they would kill the process (SIGFPE).
        libm.feenableexcept(FE_INVALID)
        for shift in range(LANES):
            points = pairs[(torch.arange(pairs.shape[0] + shift) - shift) % pairs.shape[0]]
            samples = torch.zeros(points.shape[0], dtype=torch.int64)
            results[(mode, flush, shift)] = torch.ops.idmatch.sample_class_maps(maps, points, samples)
        libm.fedisableexcept(FE_INVALID)
        libm.fesetround(ROUNDING["nearest"])
        torch.set_flush_denormal(False)
torch.save(results, sys.argv[1])
"""


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="glibc's fenv on x86-64 through ctypes",
)
def test_pixels_under_every_rounding_mode_and_flush(tmp_path):
    """torch.round follows the current rounding mode, and so do both pixel
    paths: the AVX-512 pass (default) and the core's (IDMATCH_CPU_AVX512=0)
    agree bit for bit on every hard pair in every lane, in each of
    the four rounding modes, with subnormals flushed (torch.set_flush_denormal)
    and not, with the invalid-operation exception trapped. Child processes:
    the solver choice is read once per process, and a trap is a crash."""
    if not cpu_has_avx512():
        pytest.skip("no AVX-512 on this CPU: both runs would take the core's pixels, compared with themselves")
    script = (
        f"inf, nan = float('inf'), float('nan')\nHARD = {HARD_COORDINATES!r}\nLANES = {LANES}\n"
        + PIXELS_UNDER_FLOAT_MODES
    )
    outputs = {}
    for solver in ("default", "portable"):
        env = cpu_kernels_env(solver)
        path = tmp_path / f"{solver}.pt"
        assert_child_ok(run_child("-c", script, str(path), env=env), solver)
        outputs[solver] = torch.load(path)
    assert outputs["default"].keys() == outputs["portable"].keys()
    assert len(outputs["default"]) >= 4 * LANES
    for key, probs in outputs["default"].items():
        assert_identical(probs, outputs["portable"][key], f"probs under {key}")
    # The default mode's answers are torch.round's, as checked in-process.
    maps = torch.rand(1, 3, 5, 7, generator=torch.Generator().manual_seed(5))
    for shift in range(LANES):
        points = pairs_shifted(shift)
        expected = expected_probs(maps, points, torch.zeros(points.shape[0], dtype=torch.int64))
        assert_identical(outputs["default"][("nearest", False, shift)], expected, f"probs (shift {shift})")


UNDER_TRAP = """
import ctypes, sys, torch
import idmatch
libm = ctypes.CDLL("libm.so.6")
FE_INVALID = 0x01
nan, inf = float("nan"), float("inf")
generator = torch.Generator().manual_seed(3)
# The inputs are made before the trap is set: torch's own fills of NaN
# raise the flag.
# 1. Invalid entries: groups of 3 and of 20 peaks (3 classes), the small
#    solver's size and one past it, which the shared core solves on every CPU.
invalid = {}
for peaks in (3, 20):
    maps = torch.rand(2, 3, 5, 7, generator=generator)
    points = torch.rand(2 * peaks, 2, generator=generator) * 6
    points[1, 0] = nan  # a NaN coordinate in sample 0's group
    samples = torch.arange(2).repeat_interleave(peaks)
    channels = torch.zeros(2 * peaks, dtype=torch.int64)
    vals = torch.rand(2 * peaks, generator=generator)
    probs = torch.rand(2 * peaks, 3, generator=generator)
    probs[peaks + 2, 1] = nan  # NaN in sample 1's group
    cost = torch.rand(2 * peaks, peaks, generator=generator)
    cost[1, 2] = nan
    cost[peaks + 1, 0] = -inf
    offsets = torch.tensor([0, peaks, 2 * peaks])
    invalid[peaks] = (maps, points, vals, samples, channels, probs, cost, offsets)
# 2. A refused tall group of 10 peaks (NaN in its last), then one of 5 in
#    the same slot of the small solver's batch: the second problem's
#    columns 8-15 keep the first one's entries, NaN included.
stale_probs = torch.rand(15, 3, generator=generator)
stale_probs[9, 2] = nan  # solver row 2 (classes are its rows), column 9
stale_samples = torch.tensor([0] * 10 + [1] * 5)
# 3. Valid problems of every small shape class with +inf entries (forbidden
#    pairs, infeasible problems among them), and fewer problems than lanes.
valid = []
for n, m in [(3, 3), (5, 12), (12, 5), (10, 10), (16, 16), (20, 20)]:
    for count in (3, 40):
        cost = torch.randint(0, 3, (count * n, m), generator=generator).double()
        cost[torch.rand(cost.shape, generator=generator) < 0.3] = inf
        valid.append((cost, torch.arange(count + 1) * n))
results = {}
libm.feenableexcept(FE_INVALID)
for peaks, (maps, points, vals, samples, channels, probs, cost, offsets) in invalid.items():
    fused = torch.ops.idmatch.classify_peaks_from_maps(maps, points, vals, samples, channels, 1)
    matched = torch.ops.idmatch.match_peaks_to_classes(probs, samples, channels, 2, 1)
    ragged = torch.ops.idmatch.ragged_linear_sum_assignment(cost, offsets, False)
    results[peaks] = (fused[4], matched[1], ragged[1])
stale_channels = torch.zeros(15, dtype=torch.int64)
results["stale"] = torch.ops.idmatch.match_peaks_to_classes(stale_probs, stale_samples, stale_channels, 2, 1)
results["valid"] = [torch.ops.idmatch.ragged_linear_sum_assignment(cost, offsets, False) for cost, offsets in valid]
libm.fedisableexcept(FE_INVALID)
torch.save((results, valid, stale_probs, stale_samples), sys.argv[1])
"""


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="glibc's fenv on x86-64 through ctypes",
)
@pytest.mark.parametrize("solver", CPU_KERNELS)
def test_ops_raise_no_fp_exception(tmp_path, solver):
    """With the invalid-operation exception trapped (a SIGFPE on any
    operation that raises the flag, as an ordered comparison with NaN or
    inf - inf does), on every CPU kernel set: NaN and -inf entries and NaN
    coordinates give the invalid-entries status (1) for the problem that
    holds them and the others are solved; a small problem that follows a
    refused one in the batch's slot is solved; valid problems with +inf
    entries, fewer than the small solver's lanes or many, give scipy's
    answers."""
    env = cpu_kernels_env(solver)
    path = tmp_path / "results.pt"
    assert_child_ok(run_child("-c", UNDER_TRAP, str(path), env=env), solver)
    results, valid, stale_probs, stale_samples = torch.load(path)
    ok, invalid = Status.OK.value, Status.INVALID_ENTRIES.value
    for peaks in (3, 20):
        fused, matched, ragged = results[peaks]
        assert fused.tolist() == [[invalid], [ok]], f"{peaks} peaks: fused op statuses"
        assert matched.tolist() == [[ok], [invalid]], f"{peaks} peaks: match statuses"
        assert ragged.tolist() == [invalid, invalid], f"{peaks} peaks: ragged statuses"
    zeros = torch.zeros(15, dtype=torch.int64)
    for got, want in zip(
        results["stale"], torch.ops.idmatch.match_peaks_to_classes(stale_probs, stale_samples, zeros, 2, 1)
    ):
        assert got.tolist() == want.tolist(), "the group after a refused one"
    assert results["stale"][1].tolist() == [[invalid], [ok]]
    for (cost, offsets), (col_for_row, status) in zip(valid, results["valid"]):
        for s in range(offsets.shape[0] - 1):
            answer = oracle(cost[offsets[s] : offsets[s + 1]])  # ok or infeasible
            assert int(status[s]) == answer.status, f"problem {s} of {tuple(cost.shape)}: status {int(status[s])}"
            if answer.ok:
                assert col_for_row[offsets[s] : offsets[s + 1]].tolist() == answer.col_for_row.tolist(), f"problem {s}"


def test_points_of_stride_zero():
    """An expanded point (stride 0): every lane reads the same coordinates."""
    class_maps = torch.rand(1, 2, 5, 7)
    for pair in HARD_PAIRS:
        points = pair.expand(LANES + 3, 2)
        samples = torch.zeros(LANES + 3, dtype=torch.int64)
        assert_identical(
            torch.ops.idmatch.sample_class_maps(class_maps, points, samples),
            expected_probs(class_maps, points, samples),
            f"probs at {pair.tolist()}",
        )


def test_maps_taller_than_float32_counts_exactly():
    """Past 2**24 rows, float32(height - 1) can round up to height, one row
    out of the map: the CPU's float32 pixel pass stops at 2**24 rows and the
    core takes taller maps. Rows at both sides of that edge clamp to the last
    row."""
    tall = torch.rand(1, 1, 2**24 + 4, 1)
    for height in (2**24, 2**24 + 4):
        maps = tall[:, :, :height]
        ys = [height - 1.0, height - 0.5, float(height), 2.0**25, 3.4028235e38, float("inf")]
        points = torch.tensor([[0.0, y] for y in ys], dtype=torch.float32)
        samples = torch.zeros(len(ys), dtype=torch.int64)
        assert_identical(
            torch.ops.idmatch.sample_class_maps(maps, points, samples),
            maps[0, :, height - 1, 0].expand(len(ys), 1),
            f"probs with {height} rows",
        )


GUARDED_POINTS = """
import ctypes, mmap, sys, torch
import idmatch
page = mmap.PAGESIZE
memory = mmap.mmap(-1, 2 * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
start = ctypes.addressof(ctypes.c_char.from_buffer(memory))
libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
if libc.mprotect(start + page, page, 0) != 0:  # PROT_NONE
    sys.exit(77)
maps = torch.rand(1, 2, 5, 7)
for num_peaks in range(1, 3 * LANES + 1):
    # The last point ends where the unreadable page begins.
    points = torch.frombuffer(memory, dtype=torch.float32, count=2 * num_peaks,
                              offset=page - 8 * num_peaks).view(num_peaks, 2)
    points.uniform_(-1.0, 8.0)
    torch.ops.idmatch.sample_class_maps(maps, points, torch.zeros(num_peaks, dtype=torch.int64))
    torch.ops.idmatch.classify_peaks_from_maps(maps, points, torch.zeros(num_peaks),
                                               torch.zeros(num_peaks, dtype=torch.int64),
                                               torch.zeros(num_peaks, dtype=torch.int64), 1)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect through ctypes")
def test_pixel_pass_reads_no_point_past_the_last():
    """Points that end at an unreadable page: a step that read one lane too
    many would fault (masked loads and gathers cannot be checked by
    AddressSanitizer). Run in a child process, so a fault is a failure
    with a message rather than a crash of the suite."""
    result = run_child("-c", f"LANES = {LANES}\n" + GUARDED_POINTS)
    if result.returncode == 77:
        pytest.skip("mprotect failed")
    assert_child_ok(result, "guarded points")


@pytest.mark.parametrize("device", DEVICES)
def test_errors_name_the_argument(device):
    maps = torch.rand(2, 3, 4, 4, device=device)
    points = torch.rand(5, 2, device=device) * 4
    vals = torch.rand(5, device=device)
    samples = torch.tensor([0, 1, 0, 1, 0], device=device)
    channels = torch.tensor([0, 0, 1, 1, 2], device=device)

    def classify(**changes):
        args = dict(
            class_maps=maps,
            peak_points=points,
            peak_vals=vals,
            peak_sample_inds=samples,
            peak_channel_inds=channels,
            n_channels=3,
        )
        args.update(changes)
        return idmatch.classify_peaks_from_maps(**args)

    cases = [
        (dict(class_maps=maps[0]), ValueError, "class_maps"),
        (dict(class_maps=maps.to(torch.int64)), TypeError, "class_maps"),
        (dict(peak_points=points[:, :1]), ValueError, "peak_points"),
        (dict(peak_points=points[:4]), ValueError, "peak_sample_inds"),
        (dict(peak_vals=vals[:4]), ValueError, "peak_vals"),
        (dict(peak_vals=vals.to(torch.int32)), TypeError, "peak_vals"),
        (dict(peak_sample_inds=samples.float()), TypeError, "peak_sample_inds"),
        (dict(peak_sample_inds=samples.bool()), TypeError, "peak_sample_inds"),
        (dict(peak_channel_inds=channels[:, None]), ValueError, "peak_channel_inds"),
        (dict(n_channels=-1), ValueError, "n_channels"),
        (dict(peak_sample_inds=torch.tensor([0, 1, 0, 2, 0], device=device)), IndexError, "peak_sample_inds\\[3\\]"),
        (dict(peak_sample_inds=torch.tensor([0, -1, 0, 1, 0], device=device)), IndexError, "peak_sample_inds\\[1\\]"),
        (dict(peak_channel_inds=torch.tensor([0, 0, 1, 3, 2], device=device)), IndexError, "peak_channel_inds\\[3\\]"),
        (dict(n_channels=2), IndexError, "peak_channel_inds\\[4\\]"),
        (dict(peak_points=torch.tensor([[0.0, float("nan")]] * 5, device=device)), ValueError, "peak_points"),
        (dict(class_maps=torch.full((2, 3, 4, 4), float("nan"), device=device)), ValueError, "class_maps"),
    ]
    if device == "cuda":
        cases.append((dict(peak_vals=vals.cpu()), ValueError, "peak_vals"))
    for changes, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            classify(**changes)
    # The process keeps working afterwards.
    assert classify()[0].shape == (2, 3, 3, 2)

    probs = torch.rand(5, 3, device=device)
    with pytest.raises(IndexError, match="peak_sample_inds\\[3\\]"):
        idmatch.group_class_peaks(probs, torch.tensor([0, 1, 0, 2, 0], device=device), channels, 2, 3)
    with pytest.raises(ValueError, match="peak_class_probs"):
        idmatch.group_class_peaks(torch.full((5, 3), float("nan"), device=device), samples, channels, 2, 3)
    with pytest.raises(ValueError, match="n_samples"):
        idmatch.group_class_peaks(probs, samples, channels, -1, 3)
    with pytest.raises(IndexError, match="peak_sample_inds\\[3\\]"):
        idmatch.sample_class_maps(maps, points, torch.tensor([0, 1, 0, 2, 0], device=device))
    with pytest.raises(ValueError, match="peak_class_probs"):
        idmatch.get_class_inds_from_vectors(torch.rand(3, device=device))
    with pytest.raises(ValueError, match="peak_class_probs"):
        idmatch.get_class_inds_from_vectors(torch.tensor([[0.5, float("nan")]], device=device))
    with pytest.raises(TypeError, match="peak_class_probs"):
        idmatch.get_class_inds_from_vectors(torch.ones(2, 2, dtype=torch.int64, device=device))


def test_raw_ops_report_instead_of_raising():
    """Out-of-range indices and NaN coordinates never reach memory: the raw ops
    report them per peak and per group."""
    maps = torch.rand(2, 3, 4, 4)
    points = torch.tensor([[1.0, 1.0], [2.0, float("nan")], [0.0, 0.0], [3.0, 3.0]])
    samples = torch.tensor([0, 0, 5, -7])
    channels = torch.tensor([0, 0, 0, 1])
    probs = torch.ops.idmatch.sample_class_maps(maps, points, samples)
    assert bool(torch.isnan(probs[1:]).all())
    assert_identical(probs[:1], reference.sample_class_maps(maps, points[:1], samples[:1]), "probs of peak 0")
    points_out, vals_out, probs_out, class_inds, status, problems = torch.ops.idmatch.classify_peaks_from_maps(
        maps, points, torch.rand(4), samples, channels, 2
    )
    # No peak is kept: group (0, 0) holds a NaN row, the others are ignored.
    for name, out in (("points", points_out), ("point_vals", vals_out), ("class_probs", probs_out)):
        assert bool(torch.isnan(out).all()), name
    unmatched, sample_out = PeakCode.UNMATCHED.value, PeakCode.SAMPLE_OUT_OF_RANGE.value
    assert class_inds.tolist() == [unmatched, unmatched, sample_out, sample_out]
    ok, invalid = Status.OK.value, Status.INVALID_ENTRIES.value
    assert status.tolist() == [[invalid, ok], [ok, ok]]
    assert int(problems) == 3  # two ignored peaks and one failed group
    probs = torch.tensor([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]])
    class_inds, status = torch.ops.idmatch.match_peaks_to_classes(
        probs, torch.tensor([0, 0, 1]), torch.tensor([0, 9, -1]), 2, 2
    )
    peaks, classes = reference.group_class_peaks(probs[:1], torch.tensor([0]), torch.tensor([0]), 2, 2)
    assert peaks.tolist() == [0]
    assert class_inds.tolist() == [int(classes[0])] + [PeakCode.CHANNEL_OUT_OF_RANGE.value] * 2
    assert status.tolist() == [[ok, ok], [ok, ok]]


def full_scene(dtype=torch.float32, n_samples=2, n_classes=3, n_channels=2):
    """A scene in which every (sample, class, channel) slot gets a peak, so
    that no output is NaN (opcheck compares outputs without equal_nan): peak
    c of each group sits at pixel (c, 0), where class c is the likeliest."""
    class_maps = torch.full((n_samples, n_classes, 3, n_classes), 0.1, dtype=dtype)
    for c in range(n_classes):
        class_maps[:, c, 0, c] = 0.8
    groups = [(s, ch, c) for s in range(n_samples) for ch in range(n_channels) for c in range(n_classes)]
    order = torch.randperm(len(groups), generator=torch.Generator().manual_seed(0))
    samples = torch.tensor([groups[i][0] for i in order])
    channels = torch.tensor([groups[i][1] for i in order])
    points = torch.tensor([[float(groups[i][2]), 0.0] for i in order])
    return class_maps, points, torch.rand(len(groups)), samples, channels, n_channels


def test_full_scene_fills_every_slot():
    points, point_vals, class_probs = idmatch.classify_peaks_from_maps(*full_scene())
    assert not bool(torch.isnan(points).any() or torch.isnan(point_vals).any() or torch.isnan(class_probs).any())


@pytest.mark.parametrize(
    ("op", "make_args"),
    [
        ("sample_class_maps", lambda: (torch.rand(2, 3, 5, 4), torch.rand(6, 2) * 5, torch.tensor([0, 1, 1, 0, 1, 0]))),
        (
            "sample_class_maps",
            lambda: (
                torch.rand(2, 4, 3, 5).transpose(2, 3),
                torch.rand(2, 6).t() * 5,
                torch.tensor([1, 0, 1, 0, 1, 1]),
            ),
        ),
        (
            "match_peaks_to_classes",
            lambda: (torch.rand(6, 3), torch.tensor([0, 1, 1, 0, 1, 0]), torch.tensor([0, 0, 1, 1, 1, 0]), 2, 2),
        ),
        (
            "match_peaks_to_classes",
            lambda: (
                torch.rand(6, 3, dtype=torch.float16),
                torch.tensor([0, 1, 1, 0, 1, 0], dtype=torch.int32),
                torch.tensor([0, 0, 1, 1, 1, 0], dtype=torch.int32),
                2,
                2,
            ),
        ),
        ("classify_peaks_from_maps", lambda: full_scene()),
        ("classify_peaks_from_maps", lambda: full_scene(torch.float64, n_samples=3, n_classes=2, n_channels=4)),
        (
            "classify_peaks_from_maps",
            lambda: (
                torch.rand(2, 3, 5, 4),
                torch.empty(0, 2),
                torch.empty(0),
                torch.empty(0, dtype=torch.int64),
                torch.empty(0, dtype=torch.int64),
                0,
            ),
        ),
    ],
)
def test_opcheck(op, make_args):
    torch.library.opcheck(getattr(torch.ops.idmatch, op).default, make_args())


def large_group_scene(rng: np.random.Generator, group_peaks: int, n_classes: int, map_dtype):
    """Two samples and two channels; group (0, 1) holds `group_peaks` peaks,
    the others a few each, in shuffled peak order. Maps of few distinct
    values (ties across peaks and classes) on a grid with fewer pixels than
    the big group has peaks, so peaks share pixels and rows repeat."""
    n_samples, n_channels, height, width = 2, 2, 5, 9
    maps = rng.integers(0, 5, size=(n_samples, n_classes, height, width)) / 4.0
    counts = {(0, 0): 3, (0, 1): group_peaks, (1, 0): int(rng.integers(0, n_classes + 3)), (1, 1): 1}
    samples = np.concatenate([np.full(count, sample) for (sample, _), count in counts.items()])
    channels = np.concatenate([np.full(count, channel) for (_, channel), count in counts.items()])
    order = rng.permutation(len(samples))
    n_peaks = len(samples)
    points = np.stack([rng.integers(0, width, n_peaks), rng.integers(0, height, n_peaks)], axis=1).astype(np.float32)
    return (
        torch.from_numpy(maps).to(map_dtype),
        torch.from_numpy(points[order]),
        torch.from_numpy(rng.random(n_peaks).astype(np.float32)),
        torch.from_numpy(samples[order].astype(np.int64)),
        torch.from_numpy(channels[order].astype(np.int64)),
        n_channels,
    )


# Across the CPU's small-solver boundary (16 rows and columns), the CUDA
# kernel's row index through groups of any size and the dense-copy size
# (4096 entries); classes from 2 to 20, and more classes than peaks.
LARGE_GROUPS = [
    (peaks, classes)
    for peaks in (15, 16, 17, 64, 65, 800, 1500)
    for classes in (2, 7, 16, 20) + ((peaks + 1,) if peaks <= 65 else ())
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("group_peaks", "n_classes"), LARGE_GROUPS)
def test_large_groups_equal_reference(device, group_peaks, n_classes):
    """Every output of the three identity ops (the raw ones included) on a
    group of up to 1500 tied peaks equals the reference's."""
    rng = np.random.default_rng([group_peaks, n_classes])
    map_dtype = FLOATING_DTYPES[(group_peaks + n_classes) % len(FLOATING_DTYPES)]
    scene = large_group_scene(rng, group_peaks, n_classes, map_dtype)
    class_maps, peak_points, peak_vals, sample_inds, channel_inds, n_channels = scene
    n_samples = class_maps.shape[0]
    what = f"{group_peaks} peaks, {n_classes} classes, {map_dtype}"
    on_device = [t.to(device) for t in scene[:5]]

    probs = reference.sample_class_maps(class_maps, peak_points, sample_inds)
    expected_peaks, expected_classes = reference.group_class_peaks(
        probs, sample_inds, channel_inds, n_samples, n_channels
    )
    assert expected_peaks.numel() > 0
    expected_inds = torch.full((probs.shape[0],), PeakCode.UNMATCHED.value, dtype=torch.int64)
    expected_inds[expected_peaks] = expected_classes
    ok_status = torch.full((n_samples, n_channels), Status.OK.value, dtype=torch.int32)

    assert_identical(idmatch.sample_class_maps(*on_device[:2], on_device[3]), probs, f"{what}: probs")
    peak_inds, class_inds = idmatch.group_class_peaks(
        probs.to(device), on_device[3], on_device[4], n_samples, n_channels
    )
    assert_identical(peak_inds, expected_peaks, f"{what}: peak_inds")
    assert_identical(class_inds, expected_classes, f"{what}: class_inds")
    raw_inds, raw_status = torch.ops.idmatch.match_peaks_to_classes(
        probs.to(device), on_device[3], on_device[4], n_samples, n_channels
    )
    assert_identical(raw_inds, expected_inds, f"{what}: raw class_inds")
    assert_identical(raw_status, ok_status, f"{what}: raw status")

    expected_outputs = reference.classify_peaks_from_maps(*scene)
    actual = idmatch.classify_peaks_from_maps(*on_device, n_channels)
    for name, a, e in zip(["points", "point_vals", "class_probs"], actual, expected_outputs):
        assert_identical(a, e, f"{what}: {name}")
    raw = torch.ops.idmatch.classify_peaks_from_maps(*on_device, n_channels)
    for name, a, e in zip(["points", "point_vals", "class_probs"], raw[:3], expected_outputs):
        assert_identical(a, e, f"{what}: raw {name}")
    assert_identical(raw[3], expected_inds, f"{what}: raw class_inds")
    assert_identical(raw[4], ok_status, f"{what}: raw status")
    assert int(raw[5]) == 0, f"{what}: raw problems"
