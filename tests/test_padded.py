"""The padded identity ops (classify_padded_peaks, match_padded_instances)
against the reference adapters (idmatch.reference): identical outputs, NaN
where NaN, on thousands of random padded batches, every dtype and layout;
their status contract, argument checks, scripting, compiling and export."""

import numpy as np
import pytest
import torch

import idmatch
import idmatch.reference as reference
from conftest import CPU_KERNELS, DEVICES, assert_child_ok, assert_identical, cpu_kernels_env, run_child
from idmatch import Status
from idmatch._common import FLOATING_DTYPES

RAW = torch.ops.idmatch


# ---------------------------------------------------------------------------
# Random padded batches


def random_probs(rng: np.random.Generator, shape) -> np.ndarray:
    """Probabilities over the last axis, in one of the hard styles: softmax,
    a few tied values, saturated 0/1, or rows duplicated along the axis
    before it (identical slots or instances)."""
    style = rng.integers(0, 5)
    if style == 0:
        logits = rng.normal(size=shape) * 3
        return np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    if style == 1:
        return rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=shape)
    if style == 2:
        return rng.choice([0.0, 1.0], size=shape)
    if style == 3:
        values = rng.choice([0.0, 0.5, 1.0], size=shape)
        if len(shape) >= 2 and shape[-2] > 0:
            values[..., :, :] = values[..., :1, :]  # every slot a copy of the first
        return values
    return rng.random(size=shape)


def random_mask(rng: np.random.Generator, shape) -> np.ndarray:
    """Valid slots at a random density, with whole groups and whole samples
    masked out now and then."""
    mask = rng.random(shape) < rng.choice([0.0, 0.3, 0.7, 1.0])
    if mask.ndim >= 2 and mask.shape[0] > 0 and rng.random() < 0.3:
        mask[rng.integers(0, mask.shape[0])] = False
    if mask.ndim == 3 and mask.shape[1] > 0 and rng.random() < 0.3:
        mask[:, rng.integers(0, mask.shape[1])] = False
    return mask


def garbage_where_masked(rng: np.random.Generator, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """NaN, infinities or large values in the masked-out slots: the ops must
    ignore them."""
    junk = rng.choice([np.nan, np.inf, -np.inf, 1e4, -3.0], size=values.shape)
    expanded = mask.reshape(mask.shape + (1,) * (values.ndim - mask.ndim))
    return np.where(expanded, values, junk)


def strided(rng: np.random.Generator, t: torch.Tensor) -> torch.Tensor:
    """t as it is, or the same values in a non-contiguous layout."""
    layout = rng.integers(0, 3)
    if layout == 0 or t.dim() == 0:
        return t
    if layout == 1:  # every other element of a larger tensor along the last axis
        big = torch.empty(t.shape[:-1] + (2 * t.shape[-1],), dtype=t.dtype)
        big[..., ::2] = t
        return big[..., ::2]
    return t.transpose(0, -1).contiguous().transpose(0, -1)  # reversed strides


def random_padded_peaks(rng: np.random.Generator, dtypes=None):
    b, n, k, c = (int(rng.integers(0, 4)), int(rng.integers(0, 5)), int(rng.integers(0, 7)), int(rng.integers(0, 6)))
    if rng.random() < 0.9:  # mostly non-empty
        b, n, k, c = max(b, 1), max(n, 1), max(k, 1), max(c, 1)
    if dtypes is None:
        dtypes = [FLOATING_DTYPES[int(i)] for i in rng.integers(0, len(FLOATING_DTYPES), size=3)]
    mask = random_mask(rng, (b, n, k))
    # Coordinates and values exact in every dtype (halves in a small range).
    peaks = garbage_where_masked(rng, rng.integers(-64, 64, size=(b, n, k, 2)) / 2.0, mask)
    vals = garbage_where_masked(rng, rng.integers(0, 64, size=(b, n, k)) / 64.0, mask)
    probs = garbage_where_masked(rng, random_probs(rng, (b, n, k, c)), mask)
    return (
        strided(rng, torch.from_numpy(peaks).to(dtypes[0])),
        strided(rng, torch.from_numpy(vals).to(dtypes[1])),
        strided(rng, torch.from_numpy(mask)),
        strided(rng, torch.from_numpy(probs).to(dtypes[2])),
    )


def random_padded_instances(rng: np.random.Generator, dtype=None):
    b, i, c = int(rng.integers(0, 4)), int(rng.integers(0, 9)), int(rng.integers(0, 7))
    if rng.random() < 0.9:
        b, i, c = max(b, 1), max(i, 1), max(c, 1)
    if dtype is None:
        dtype = FLOATING_DTYPES[int(rng.integers(0, len(FLOATING_DTYPES)))]
    valid = random_mask(rng, (b, i))
    probs = garbage_where_masked(rng, random_probs(rng, (b, i, c)), valid)
    return strided(rng, torch.from_numpy(probs).to(dtype)), strided(rng, torch.from_numpy(valid))


def on(device, tensors):
    return tuple(t.to(device) for t in tensors)


def assert_outputs_identical(actual, expected, what: str, device=None) -> None:
    assert len(actual) == len(expected), what
    for k, (a, e) in enumerate(zip(actual, expected)):
        assert_identical(a, e.to(a.device), f"{what}, output {k}", device)


# ---------------------------------------------------------------------------
# Agreement with the reference


@pytest.mark.parametrize("device", DEVICES)
def test_classify_padded_peaks_matches_reference(device):
    rng = np.random.default_rng(101)
    for trial in range(2000):
        inputs = random_padded_peaks(rng)
        expected = reference.classify_padded_peaks(*inputs)
        points, point_vals, class_vectors, status = RAW.classify_padded_peaks(*on(device, inputs))
        what = f"trial {trial}, shapes {[list(t.shape) for t in inputs]}"
        assert_outputs_identical((points, point_vals, class_vectors), expected, what, device)
        assert status.dtype == torch.int32 and list(status.shape) == list(inputs[2].shape[:2]), what
        assert bool((status == Status.OK.value).all()), what
        assert_outputs_identical(idmatch.classify_padded_peaks(*on(device, inputs)), expected, what, device)


@pytest.mark.parametrize("device", DEVICES)
def test_match_padded_instances_matches_reference(device):
    rng = np.random.default_rng(202)
    for trial in range(3000):
        inputs = random_padded_instances(rng)
        expected = reference.match_padded_instances(*inputs)
        class_inds, instance_inds, status = RAW.match_padded_instances(*on(device, inputs))
        what = f"trial {trial}, shapes {[list(t.shape) for t in inputs]}"
        assert_outputs_identical((class_inds, instance_inds), expected, what, device)
        assert status.dtype == torch.int32 and list(status.shape) == [inputs[0].shape[0]], what
        assert bool((status == Status.OK.value).all()), what
        assert_outputs_identical(idmatch.match_padded_instances(*on(device, inputs)), expected, what, device)


@pytest.mark.parametrize("dtype", FLOATING_DTYPES, ids=lambda d: str(d).replace("torch.", ""))
def test_every_dtype_keeps_its_dtype(dtype):
    rng = np.random.default_rng(7)
    for _ in range(50):
        inputs = random_padded_peaks(rng, dtypes=[dtype] * 3)
        out = idmatch.classify_padded_peaks(*inputs)
        assert [t.dtype for t in out] == [dtype] * 3
        assert_outputs_identical(out, reference.classify_padded_peaks(*inputs), str(dtype))
        probs, valid = random_padded_instances(rng, dtype)
        assert_outputs_identical(
            idmatch.match_padded_instances(probs, valid), reference.match_padded_instances(probs, valid), str(dtype)
        )


# Slots and classes on both sides of the CUDA kernels' team widths: a tile of
# 8, 16 or 32 lanes takes a problem of up to that many slots and classes, a
# thread block takes larger ones (core/lsa_team.h).
AROUND_THE_TEAM_WIDTHS = (
    (8, 3),
    (9, 3),
    (3, 9),
    (16, 16),
    (17, 5),
    (5, 17),
    (32, 4),
    (4, 32),
    (33, 2),
    (2, 33),
    (25, 25),
    (40, 3),
    (3, 30),
    (40, 30),
)


def around_the_team_widths(rng: np.random.Generator):
    """For each (K, C) of AROUND_THE_TEAM_WIDTHS, a classify_padded_peaks
    batch with K slots and C classes and a match_padded_instances batch with
    K instances, of dense masks and tie-heavy probabilities."""
    for k, c in AROUND_THE_TEAM_WIDTHS:
        mask = rng.random((2, 3, k)) < rng.choice([0.5, 0.9, 1.0])
        peaks = garbage_where_masked(rng, rng.integers(-64, 64, size=(2, 3, k, 2)) / 2.0, mask)
        vals = garbage_where_masked(rng, rng.random((2, 3, k)), mask)
        probs = garbage_where_masked(rng, random_probs(rng, (2, 3, k, c)), mask)
        valid = rng.random((3, k)) < rng.choice([0.5, 0.9, 1.0])
        inst = garbage_where_masked(rng, random_probs(rng, (3, k, c)), valid)
        yield (
            (torch.from_numpy(peaks), torch.from_numpy(vals), torch.from_numpy(mask), torch.from_numpy(probs).float()),
            (torch.from_numpy(inst), torch.from_numpy(valid)),
        )


@pytest.mark.parametrize("device", DEVICES)
def test_shapes_around_the_team_widths(device):
    """Tall and wide groups beyond a handful of rows, on both sides of each
    team width, many times over."""
    rng = np.random.default_rng(11)
    for trial in range(10):
        for peaks, instances in around_the_team_widths(rng):
            what = f"trial {trial}, K={peaks[0].shape[2]} C={peaks[3].shape[3]}"
            points, point_vals, class_vectors, status = RAW.classify_padded_peaks(*on(device, peaks))
            assert bool((status == Status.OK.value).all()), what
            expected = reference.classify_padded_peaks(*peaks)
            assert_outputs_identical((points, point_vals, class_vectors), expected, what, device)
            class_inds, instance_inds, status = RAW.match_padded_instances(*on(device, instances))
            assert bool((status == Status.OK.value).all()), what
            expected = reference.match_padded_instances(*instances)
            assert_outputs_identical((class_inds, instance_inds), expected, what, device)


@pytest.mark.parametrize("shape", [(0, 3, 4, 2), (2, 0, 4, 2), (2, 3, 0, 2), (2, 3, 4, 0), (0, 0, 0, 0)])
def test_empty_dimensions(shape):
    b, n, k, c = shape
    peaks, vals = torch.rand(b, n, k, 2), torch.rand(b, n, k)
    mask, probs = torch.ones(b, n, k, dtype=torch.bool), torch.rand(b, n, k, c)
    points, point_vals, class_vectors, status = RAW.classify_padded_peaks(peaks, vals, mask, probs)
    assert list(points.shape) == [b, c, n, 2] and list(point_vals.shape) == [b, c, n]
    assert list(class_vectors.shape) == [b, c, n, c] and list(status.shape) == [b, n]
    assert bool((status == 0).all())
    assert_outputs_identical(
        (points, point_vals, class_vectors), reference.classify_padded_peaks(peaks, vals, mask, probs), str(shape)
    )
    class_inds, instance_inds, status = RAW.match_padded_instances(
        probs[:, 0] if n else torch.rand(b, k, c), mask[:, 0] if n else torch.ones(b, k, dtype=torch.bool)
    )
    assert list(class_inds.shape) == [b, k] and list(instance_inds.shape) == [b, c] and list(status.shape) == [b]


def test_all_masked_gives_nan_and_minus_one():
    peaks, vals, probs = torch.rand(2, 3, 4, 2), torch.rand(2, 3, 4), torch.rand(2, 3, 4, 5)
    mask = torch.zeros(2, 3, 4, dtype=torch.bool)
    for out in idmatch.classify_padded_peaks(peaks, vals, mask, probs):
        assert bool(torch.isnan(out).all())
    class_inds, instance_inds = idmatch.match_padded_instances(probs[:, 0], mask[:, 0])
    assert bool((class_inds == -1).all()) and bool((instance_inds == -1).all())


def test_keep_best_filter_and_whole_vectors():
    """Two identical peaks that both prefer class 0: one gets it, the other is
    assigned class 1 and dropped by the keep-best filter; the kept peak's
    whole vector lands in class_vectors."""
    peaks = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    vals = torch.tensor([[[0.5, 0.25]]])
    mask = torch.tensor([[[True, True]]])
    probs = torch.tensor([[[[0.75, 0.25], [0.75, 0.25]]]])
    points, point_vals, class_vectors = idmatch.classify_padded_peaks(peaks, vals, mask, probs)
    assert points[0, 0, 0].tolist() == [1.0, 2.0] and point_vals[0, 0, 0].item() == 0.5
    assert class_vectors[0, 0, 0].tolist() == [0.75, 0.25]
    assert bool(torch.isnan(points[0, 1]).all()) and bool(torch.isnan(class_vectors[0, 1]).all())


# ---------------------------------------------------------------------------
# Status contract and bad values


def test_nan_in_masked_slots_is_ignored():
    rng = np.random.default_rng(3)
    peaks, vals, probs = torch.rand(2, 3, 4, 2), torch.rand(2, 3, 4), torch.rand(2, 3, 4, 3)
    mask = torch.from_numpy(rng.random((2, 3, 4)) < 0.5)
    for t in (peaks, vals):
        t[~mask] = float("nan")
    probs[~mask] = float("nan")
    out = idmatch.classify_padded_peaks(peaks, vals, mask, probs)
    assert_outputs_identical(out, reference.classify_padded_peaks(peaks, vals, mask, probs), "masked NaN")
    inst, valid = probs[:, 0], mask[:, 0]
    assert_outputs_identical(
        idmatch.match_padded_instances(inst, valid), reference.match_padded_instances(inst, valid), "masked NaN"
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_invalid_probabilities_in_valid_slots(device, bad):
    """The raw op reports the group (status 1) and leaves its outputs NaN;
    the other groups are solved. The Python function raises naming
    class_probs, the sample and the node."""
    torch.manual_seed(0)
    peaks, vals, probs = torch.rand(2, 3, 4, 2), torch.rand(2, 3, 4), torch.rand(2, 3, 4, 3)
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    probs[1, 2, 3, 1] = bad
    points, point_vals, class_vectors, status = RAW.classify_padded_peaks(*on(device, (peaks, vals, mask, probs)))
    expected_status = torch.zeros(2, 3, dtype=torch.int32)
    expected_status[1, 2] = Status.INVALID_ENTRIES.value
    assert torch.equal(status.cpu(), expected_status)
    good = mask.clone()
    good[1, 2] = False
    expected = reference.classify_padded_peaks(peaks, vals, good, probs)
    assert_outputs_identical((points, point_vals, class_vectors), expected, "other groups", device)
    with pytest.raises(ValueError, match="class_probs of the valid peaks of sample 1, node 2 cannot be matched"):
        idmatch.classify_padded_peaks(*on(device, (peaks, vals, mask, probs)))

    inst, valid = probs[:, 2], mask[:, 2]
    class_inds, instance_inds, status = RAW.match_padded_instances(*on(device, (inst, valid)))
    assert status.cpu().tolist() == [0, Status.INVALID_ENTRIES.value]
    assert bool((class_inds[1] == -1).all()) and bool((instance_inds[1] == -1).all())
    assert torch.equal(class_inds[0].cpu(), reference.match_padded_instances(inst[:1], valid[:1])[0][0])
    with pytest.raises(ValueError, match="class_probs of the valid instances of sample 1 cannot be matched"):
        idmatch.match_padded_instances(*on(device, (inst, valid)))


def test_minus_inf_probabilities_are_infeasible_or_forbidden():
    """-inf probabilities are forbidden pairs (+inf costs to scipy): a group
    that cannot avoid them is infeasible (status 2), one that can is solved."""
    probs = torch.tensor([[[[float("-inf"), float("-inf")], [0.5, 0.5]]]])
    peaks, vals = torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2)
    one = torch.tensor([[[True, False]]])
    assert RAW.classify_padded_peaks(peaks, vals, one, probs)[3].tolist() == [[Status.INFEASIBLE.value]]
    with pytest.raises(ValueError, match="no complete assignment"):
        idmatch.classify_padded_peaks(peaks, vals, one, probs)
    both = torch.tensor([[[False, True]]])
    assert_outputs_identical(
        idmatch.classify_padded_peaks(peaks, vals, both, probs),
        reference.classify_padded_peaks(peaks, vals, both, probs),
        "-inf avoided",
    )


# ---------------------------------------------------------------------------
# Bad arguments: the raw op, the fake kernel (meta tensors) and the Python
# function all raise the same exception naming the argument.


def peaks_args(**changes):
    args = {
        "peaks": torch.rand(2, 3, 4, 2),
        "peak_vals": torch.rand(2, 3, 4),
        "peak_mask": torch.ones(2, 3, 4, dtype=torch.bool),
        "class_probs": torch.rand(2, 3, 4, 5),
    }
    args.update(changes)
    return args


PEAKS_BAD = [
    ({"peaks": torch.rand(2, 3, 4)}, ValueError, "peaks must have shape"),
    ({"peaks": torch.rand(2, 3, 4, 3)}, ValueError, "peaks must have shape"),
    ({"peaks": torch.ones(2, 3, 4, 2, dtype=torch.int64)}, TypeError, "peaks must have a floating dtype"),
    ({"peak_vals": torch.rand(2, 3, 5)}, ValueError, "peak_vals must have shape"),
    ({"peak_vals": torch.rand(2, 3, 4, 1)}, ValueError, "peak_vals must have shape"),
    ({"peak_vals": torch.ones(2, 3, 4, dtype=torch.int32)}, TypeError, "peak_vals must have a floating dtype"),
    ({"peak_mask": torch.ones(2, 3, 4)}, TypeError, "peak_mask must be a bool tensor"),
    ({"peak_mask": torch.ones(2, 4, 4, dtype=torch.bool)}, ValueError, "peak_mask must have shape"),
    ({"peak_mask": torch.ones(2, 3, dtype=torch.bool)}, ValueError, "peak_mask must have shape"),
    ({"class_probs": torch.rand(2, 3, 4)}, ValueError, "class_probs must have shape"),
    ({"class_probs": torch.rand(2, 3, 3, 5)}, ValueError, "class_probs must have shape"),
    ({"class_probs": torch.rand(1, 3, 4, 5)}, ValueError, "class_probs must have shape"),
    ({"class_probs": torch.ones(2, 3, 4, 5, dtype=torch.int64)}, TypeError, "class_probs must have a floating"),
    ({"class_probs": torch.rand(2, 3, 4, 5).to(torch.float8_e4m3fn)}, TypeError, "class_probs must have a floating"),
    ({"class_probs": torch.rand(2, 3, 4, 5, dtype=torch.complex64)}, TypeError, "class_probs must have a floating"),
]

INSTANCES_BAD = [
    ({"class_probs": torch.rand(2, 3)}, ValueError, "class_probs must have shape"),
    ({"class_probs": torch.rand(2, 3, 4, 1)}, ValueError, "class_probs must have shape"),
    ({"class_probs": torch.ones(2, 3, 4, dtype=torch.int64)}, TypeError, "class_probs must have a floating"),
    ({"instance_valid": torch.ones(2, 3)}, TypeError, "instance_valid must be a bool tensor"),
    ({"instance_valid": torch.ones(2, 4, dtype=torch.bool)}, ValueError, "instance_valid must have shape"),
    ({"instance_valid": torch.ones(2, 3, 1, dtype=torch.bool)}, ValueError, "instance_valid must have shape"),
]


def instances_args(**changes):
    args = {"class_probs": torch.rand(2, 3, 4), "instance_valid": torch.ones(2, 3, dtype=torch.bool)}
    args.update(changes)
    return args


@pytest.mark.parametrize("where", ["raw", "python", "meta"])
@pytest.mark.parametrize("case", range(len(PEAKS_BAD)))
def test_classify_padded_peaks_bad_arguments(where, case):
    changes, error, message = PEAKS_BAD[case]
    args = peaks_args(**changes)
    if where == "meta":
        args = {name: t.to("meta") for name, t in args.items()}
    call = idmatch.classify_padded_peaks if where == "python" else RAW.classify_padded_peaks
    with pytest.raises(error, match=message):
        call(**args)


@pytest.mark.parametrize("where", ["raw", "python", "meta"])
@pytest.mark.parametrize("case", range(len(INSTANCES_BAD)))
def test_match_padded_instances_bad_arguments(where, case):
    changes, error, message = INSTANCES_BAD[case]
    args = instances_args(**changes)
    if where == "meta":
        args = {name: t.to("meta") for name, t in args.items()}
    call = idmatch.match_padded_instances if where == "python" else RAW.match_padded_instances
    with pytest.raises(error, match=message):
        call(**args)


@pytest.mark.parametrize("name", ["peak_vals", "peak_mask", "class_probs"])
def test_classify_padded_peaks_device_mismatch(name):
    args = peaks_args()
    args[name] = args[name].to("meta")
    with pytest.raises(ValueError, match=f"{name} must be on the device of peaks"):
        idmatch.classify_padded_peaks(**args)


def test_match_padded_instances_device_mismatch():
    args = instances_args()
    args["instance_valid"] = args["instance_valid"].to("meta")
    with pytest.raises(ValueError, match="instance_valid must be on the device of class_probs"):
        idmatch.match_padded_instances(**args)


@pytest.mark.parametrize("name", ["peaks", "peak_vals", "peak_mask", "class_probs"])
def test_python_function_refuses_non_tensors(name):
    args = peaks_args()
    args[name] = args[name].tolist()
    with pytest.raises(TypeError, match=f"{name} must be a torch.Tensor"):
        idmatch.classify_padded_peaks(**args)


def test_expanded_inputs_of_huge_sizes_are_refused():
    """Expanded tensors can claim any size without memory: the op refuses
    sizes whose workspace or outputs could not be indexed, before allocating."""
    args = peaks_args(
        peaks=torch.rand(1, 1, 1, 2).expand(2**20, 2**20, 2**20, 2),
        peak_vals=torch.rand(1, 1, 1).expand(2**20, 2**20, 2**20),
        peak_mask=torch.zeros(1, 1, 1, dtype=torch.bool).expand(2**20, 2**20, 2**20),
        class_probs=torch.rand(1, 1, 1, 1).expand(2**20, 2**20, 2**20, 1),
    )
    with pytest.raises(ValueError, match="too large"):
        RAW.classify_padded_peaks(**args)
    probs = torch.rand(1, 1, 1).expand(2**20, 2**31, 1)
    with pytest.raises(ValueError, match="too large"):
        RAW.match_padded_instances(probs, torch.ones(1, 1, dtype=torch.bool).expand(2**20, 2**31))


# ---------------------------------------------------------------------------
# Every CPU kernel set gives the same answers


CHILD = """
import sys
import numpy as np
import torch
import idmatch  # noqa: F401
sys.path.insert(0, sys.argv[2])
from test_padded import around_the_team_widths, random_padded_instances, random_padded_peaks
rng = np.random.default_rng(404)
cases = [(random_padded_peaks(rng), random_padded_instances(rng)) for _ in range(300)]
cases += [case for _ in range(3) for case in around_the_team_widths(rng)]
results = []
for peaks, instances in cases:
    results.append((peaks, torch.ops.idmatch.classify_padded_peaks(*peaks),
                    instances, torch.ops.idmatch.match_padded_instances(*instances)))
torch.save(results, sys.argv[1])
"""


@pytest.mark.parametrize("kernels", CPU_KERNELS)
def test_every_cpu_kernel_set_agrees(tmp_path, kernels):
    path = tmp_path / "results.pt"
    tests_dir = str(__import__("pathlib").Path(__file__).parent)
    assert_child_ok(run_child("-c", CHILD, str(path), tests_dir, env=cpu_kernels_env(kernels)), kernels)
    for peaks, got_peaks, instances, got_instances in torch.load(path):
        assert_outputs_identical(got_peaks, RAW.classify_padded_peaks(*peaks), kernels)
        assert_outputs_identical(got_instances, RAW.match_padded_instances(*instances), kernels)


# ---------------------------------------------------------------------------
# TorchScript, torch.compile, torch.export


class PaddedModel(torch.nn.Module):
    def forward(self, peaks, peak_vals, peak_mask, class_probs, logits, instance_valid):
        points, point_vals, class_vectors = idmatch.classify_padded_peaks(peaks, peak_vals, peak_mask, class_probs)
        class_inds, instance_inds = idmatch.match_padded_instances(torch.softmax(logits, dim=-1), instance_valid)
        return points, point_vals, class_vectors, class_inds, instance_inds


def model_inputs(seed: int = 0, b: int = 3, n: int = 4, k: int = 5, c: int = 3, i: int = 6):
    rng = np.random.default_rng(seed)
    peaks = torch.from_numpy(rng.random((b, n, k, 2))).float()
    vals = torch.from_numpy(rng.random((b, n, k))).float()
    mask = torch.from_numpy(rng.random((b, n, k)) < 0.6)
    probs = torch.from_numpy(random_probs(rng, (b, n, k, c))).float()
    logits = torch.from_numpy(rng.normal(size=(b, i, c))).float()
    valid = torch.from_numpy(rng.random((b, i)) < 0.6)
    return peaks, vals, mask, probs, logits, valid


def test_script_matches_eager():
    inputs = model_inputs()
    model = PaddedModel()
    scripted = torch.jit.script(model)
    assert_outputs_identical(scripted(*inputs), model(*inputs), "scripted")
    bad = inputs[3].clone()
    bad[0, 0, :, 0] = float("nan")
    mask = inputs[2].clone()
    mask[0, 0, 0] = True
    with pytest.raises(Exception, match="class_probs of the valid peaks of sample 0, node 0"):
        scripted(inputs[0], inputs[1], mask, bad, inputs[4], inputs[5])


@pytest.mark.parametrize("dynamic", [False, True])
def test_compile_fullgraph_matches_eager(dynamic):
    torch._dynamo.reset()
    model = PaddedModel()
    compiled = torch.compile(model, fullgraph=True, dynamic=dynamic, backend="aot_eager")
    for seed, shape in ((0, (3, 4, 5, 3, 6)), (1, (2, 5, 7, 4, 3))):
        inputs = model_inputs(seed, *shape)
        assert_outputs_identical(compiled(*inputs), model(*inputs), f"compiled, seed {seed}")


def test_compile_keeps_the_status_contract():
    """Under compilation the value checks are skipped: a bad group stays NaN
    instead of raising."""
    torch._dynamo.reset()
    compiled = torch.compile(idmatch.classify_padded_peaks, fullgraph=True, backend="eager")
    peaks, vals, mask, probs = model_inputs()[:4]
    mask = mask.clone()
    mask[0, 0] = True
    probs = probs.clone()
    probs[0, 0, 0, 0] = float("nan")
    points, _, _ = compiled(peaks, vals, mask, probs)
    assert bool(torch.isnan(points[0, :, 0]).all())


def test_export_matches_eager():
    inputs = model_inputs()
    model = PaddedModel()
    program = torch.export.export(model, inputs)
    assert_outputs_identical(program.module()(*inputs), model(*inputs), "exported")
    names = {
        node.target.name()
        for node in program.graph.nodes
        if node.op == "call_function" and hasattr(node.target, "name")
    }
    assert {"idmatch::classify_padded_peaks", "idmatch::match_padded_instances"} <= names
