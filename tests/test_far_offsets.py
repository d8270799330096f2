"""Inputs whose elements lie more than 2**31 (and 2**32) elements from the
start of their storage: every op must index them with 64-bit arithmetic. A
32-bit product or sum would wrap and read another element (a wrong answer)
or memory outside the storage (a crash).

The storages are several GiB of address space but cost almost no memory:
torch.empty leaves them unwritten, so only the pages that hold the views'
few elements are ever committed. CPU only: on a GPU the storage would be
real memory. Not under AddressSanitizer either: its allocator aborts
instead of failing when the address space is refused, and poisons each
freed storage's shadow, a gigabyte of real memory for 8 GiB.
"""

import numpy as np
import pytest
import torch

import idmatch
import idmatch.reference as reference
from conftest import assert_identical, oracle, under_asan

pytestmark = pytest.mark.skipif(under_asan(), reason="AddressSanitizer aborts on refused address space")


def far(n: int, beyond: int = 2**31) -> int:
    """A stride that puts the last of n elements past `beyond` (n >= 2)."""
    return beyond // (n - 1) + 1


def far_view(values: torch.Tensor, strides) -> torch.Tensor:
    """A view with `strides` (elements) on a fresh storage just large enough,
    holding `values`. The strides must not make elements overlap."""
    size = 1 + sum((n - 1) * stride for n, stride in zip(values.shape, strides))
    try:
        storage = torch.empty(size, dtype=values.dtype)
    except RuntimeError as error:  # the machine refuses that much address space
        pytest.skip(f"cannot reserve {size} elements of {values.dtype}: {error}")
    view = storage.as_strided(values.shape, strides)
    view.copy_(values)
    return view


def hard_points(rng: np.random.Generator, n: int, height: int, width: int) -> torch.Tensor:
    """Points inside, on .5 boundaries of and outside a height x width map."""
    half = rng.random(n) < 0.4
    xs = np.where(half, rng.integers(-1, width + 1, n) + 0.5, rng.uniform(-2, width + 2, n))
    ys = np.where(half, rng.integers(-1, height + 1, n) + 0.5, rng.uniform(-2, height + 2, n))
    return torch.from_numpy(np.stack([xs, ys], axis=1)).to(torch.float32)


# (shape, strides) of class maps with one dimension far apart. Samples,
# classes, rows and columns each take a turn.
FAR_MAPS = {
    "samples": ((2, 2, 4, 5), (far(2, 2**32), 20, 5, 1)),
    "classes": ((1, 3, 4, 5), (1, far(3), 5, 1)),
    "rows": ((1, 2, 3, 4), (1, 1, far(3), 2)),
    "columns": ((1, 2, 4, 3), (1, 1, 2, far(3))),
}


@pytest.mark.parametrize("layout", list(FAR_MAPS))
def test_class_maps_at_far_offsets(layout):
    shape, strides = FAR_MAPS[layout]
    rng = np.random.default_rng(list(FAR_MAPS).index(layout))
    n_samples, n_classes, height, width = shape
    values = torch.from_numpy(rng.random(shape)).to(torch.float16)
    maps = far_view(values, strides)
    n_peaks = 24 * n_samples
    points = hard_points(rng, n_peaks, height, width)
    samples = torch.from_numpy(rng.integers(0, n_samples, n_peaks))
    channels = torch.from_numpy(rng.integers(0, 2, n_peaks))
    vals = torch.rand(n_peaks)

    assert_identical(
        idmatch.sample_class_maps(maps, points, samples), reference.sample_class_maps(values, points, samples), "probs"
    )
    got = idmatch.classify_peaks_from_maps(maps, points, vals, samples, channels, 2)
    expected = reference.classify_peaks_from_maps(values, points, vals, samples, channels, 2)
    for name, a, b in zip(("points", "point_vals", "class_probs"), got, expected):
        assert_identical(a, b, name)


def test_peak_inputs_at_far_offsets():
    """Points a row or a column far apart, values, sample and channel indices
    each a peak far apart (indices of two dtypes, as they are read by kind)."""
    rng = np.random.default_rng(7)
    values = torch.from_numpy(rng.random((2, 3, 4, 5))).to(torch.float32)
    points = hard_points(rng, 3, 4, 5)
    vals = torch.rand(3)
    samples = torch.tensor([1, 0, 1])
    channels = torch.tensor([0, 1, 0])
    cases = {
        "points, rows far": dict(points=far_view(points, (far(3), 1))),
        "points, columns far": dict(points=far_view(points, (1, far(2)))),
        "peak_vals": dict(vals=far_view(vals.half(), (far(3),))),
        "peak_sample_inds (int32)": dict(samples=far_view(samples.int(), (far(3),))),
        "peak_channel_inds (int8)": dict(channels=far_view(channels.to(torch.int8), (far(3, 2**32),))),
    }
    for case, changed in cases.items():
        args = dict(points=points, vals=vals, samples=samples, channels=channels)
        args.update(changed)
        near = {name: arg.contiguous() for name, arg in args.items()}
        got = idmatch.classify_peaks_from_maps(
            values, args["points"], args["vals"], args["samples"], args["channels"], 2
        )
        want = reference.classify_peaks_from_maps(
            values, near["points"], near["vals"], near["samples"], near["channels"], 2
        )
        for name, a, b in zip(("points", "point_vals", "class_probs"), got, want):
            assert_identical(a, b, f"{case}: {name}")
        assert_identical(
            idmatch.sample_class_maps(values, args["points"], args["samples"]),
            reference.sample_class_maps(values, near["points"], near["samples"]),
            f"{case}: probs",
        )


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
@pytest.mark.parametrize("far_rows", [True, False], ids=["rows-far", "columns-far"])
@pytest.mark.parametrize(("n", "m"), [(2, 3), (3, 2)])
def test_cost_at_far_offsets(dtype, far_rows, n, m):
    """Assignment problems whose rows (or columns) are far apart: the LSA ops
    and the grouped matching give scipy's answer on the same values."""
    rng = np.random.default_rng(n * 10 + m)
    values = torch.from_numpy(rng.integers(0, 3, (n, m)) / 2.0).to(dtype)  # ties
    cost = far_view(values, (far(n), 1) if far_rows else (1, far(m)))
    answer = oracle(values)

    got_rows, got_cols = idmatch.linear_sum_assignment(cost)
    assert got_rows.tolist() == answer.row_ind.tolist() and got_cols.tolist() == answer.col_ind.tolist()

    want = answer.col_for_row.tolist()
    assert idmatch.ragged_linear_sum_assignment(cost, torch.tensor([0, n])).tolist() == want

    # The same problem twice, its rows far apart: the last row of the second
    # lies past 2**31 (strides that the batch's reshape to rows keeps).
    stride = far(2 * n)
    batch = far_view(values.expand(2, n, m), (n * stride, stride, 1))
    assert idmatch.batch_linear_sum_assignment(batch).tolist() == [want] * 2

    zeros = torch.zeros(n, dtype=torch.int64)
    peak_inds, class_inds = idmatch.group_class_peaks(cost, zeros, zeros, 1, 1)
    want_peaks, want_classes = reference.group_class_peaks(values, zeros, zeros, 1, 1)
    assert_identical(peak_inds, want_peaks, "peak_inds")
    assert_identical(class_inds, want_classes, "class_inds")
