"""Property-based tests: every public function against its oracle on inputs
that hypothesis draws and shrinks.

The oracles are scipy.optimize.linear_sum_assignment (on the float64 values
of the input, as the solver sees them) for the assignment functions and
idmatch.reference for the identity functions. Inputs reach the corners: empty
and one-element dimensions, tall and wide matrices, ties, +inf and -inf, NaN,
subnormals, magnitudes near the ends of float64, float32, float16 and
bfloat16, every floating dtype, and strided, offset and expanded (stride 0)
views. Outputs must be identical (NaN where NaN, bit for bit elsewhere);
where the oracle raises, idmatch raises the same type with the message the
contract derives from the oracle's.

How many examples each test tries is set by the hypothesis profile (see
conftest.py; HYPOTHESIS_PROFILE=ci for the long run).
"""

import math
from typing import Optional, Tuple

import numpy as np
import pytest
import torch
from hypothesis import event, example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import linear_sum_assignment as scipy_lsa

import idmatch
import idmatch.reference as reference
from conftest import (
    DEVICES,
    HYPOTHESIS_LARGE,
    INFEASIBLE_MESSAGE,
    INT_DTYPES,
    INVALID_ENTRIES_MESSAGE,
    KINDS,
    assert_identical,
    cpu_copy,
    oracle,
    random_values,
)
from idmatch import PeakCode, Status
from idmatch._common import FLOATING_DTYPES, INDEX_DTYPES

INF = math.inf
NAN = math.nan

# Finite values at the edges of every floating format, and values that
# round differently in each (the oracle sees them after the conversion).
FINITE_SPECIAL = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    1.5,
    2.5,
    -2.5,
    1e300,
    -1e300,
    1e-300,
    -1e-300,
    5e-324,
    -5e-324,
    1e-310,
    2.2250738585072014e-308,  # float64 subnormals, smallest normal
    1.7976931348623157e308,
    -1.7976931348623157e308,  # float64 max
    3.4028234663852886e38,
    -3.4028234663852886e38,
    1.401298464324817e-45,
    1.1754943508222875e-38,  # float32
    65504.0,
    -65504.0,
    65520.0,
    5.960464477539063e-08,
    6.103515625e-05,  # float16 max, overflow, subnormal
    3.3895313892515355e38,
    9.183549615799121e-41,  # bfloat16 max and subnormal
    1.0000000000000002,
    0.9999999999999999,
    1.0 + 2.0**-30,  # near-ties in float64 only
]
NONFINITE = [INF, -INF, NAN]


def _ldexp(mantissa: float, exponent: int) -> float:
    return math.ldexp(mantissa, exponent)


ELEMENTS = {
    # Few distinct values: ties across rows and columns.
    "ties": st.integers(0, 2).map(float),
    "saturated": st.sampled_from([0.0, 0.5, 1.0]),
    # Distinct in float64, equal in float32: a solver that does not work in
    # float64 breaks these ties differently.
    "near_ties": st.builds(
        lambda base, step, exponent: base + step * 2.0**exponent,
        st.integers(0, 2),
        st.integers(-2, 2),
        st.sampled_from([-30, -40, -52]),
    ),
    "special": st.sampled_from(FINITE_SPECIAL),
    "floats": st.floats(allow_nan=False, allow_infinity=False),
    # Every binary exponent, subnormals included, with no overflow.
    "magnitudes": st.builds(
        lambda sign, mantissa, exponent: sign * _ldexp(mantissa, exponent),
        st.sampled_from([1.0, -1.0]),
        st.floats(0.5, 1.0, exclude_max=True),
        st.integers(-1080, 1024),
    ),
    "unit": st.floats(0.0, 1.0),
}
STYLES = sorted(ELEMENTS)

LAYOUTS = ("contiguous", "reversed", "transposed", "stepped", "expand_first", "expand_last")

# Mostly tiny, where shrinking works best; sometimes up to 17, so that every
# style meets both of the CPU small solver's column blocks (up to 8 and up to
# 16 columns) and the shared core beyond it.
SHAPES_2D = st.one_of(
    st.tuples(st.integers(0, 7), st.integers(0, 7)), st.tuples(st.integers(0, 17), st.integers(0, 17))
)


# ---------------------------------------------------------------------------
# Strategies.


@st.composite
def cost_values(draw, shape, maximize: bool) -> np.ndarray:
    """A float64 array of one style, with forbidden entries (+inf, or -inf
    when maximizing) sprinkled, in dense patches or on whole lines, and a few
    non-finite entries of any kind."""
    values = draw(arrays(np.float64, shape, elements=ELEMENTS[draw(st.sampled_from(STYLES))]))
    if values.size == 0:
        return values
    forbidden = -INF if maximize else INF
    mode = draw(st.sampled_from(["none", "none", "sprinkle", "dense", "line"]))
    if mode == "sprinkle":
        for position in draw(st.lists(st.integers(0, values.size - 1), max_size=4)):
            values.flat[position] = forbidden
    elif mode == "dense":
        values[draw(arrays(np.bool_, shape))] = forbidden
    elif mode == "line" and values.ndim >= 2:
        axis = draw(st.sampled_from([-1, -2]))
        index = draw(st.integers(0, values.shape[axis] - 1))
        np.moveaxis(values, axis, 0)[index] = forbidden
    for position, value in draw(
        st.lists(st.tuples(st.integers(0, values.size - 1), st.sampled_from(NONFINITE)), max_size=2)
    ):
        values.flat[position] = value
    return values


def strided_like(t: torch.Tensor, layout: str) -> torch.Tensor:
    """The values of `t` (changed only by the expanding layouts) in a tensor
    with other strides: reversed dimension order in memory, the last two
    dimensions transposed, every dimension stepped by 2 from an offset with
    NaN between the elements, or stride 0 along the first or last dimension."""
    if layout == "contiguous" or t.dim() == 0:
        return t.contiguous()
    if layout == "reversed":
        order = list(range(t.dim()))[::-1]
        return t.permute(order).contiguous().permute(order)
    if layout == "transposed":
        if t.dim() < 2:
            return t.contiguous()
        return t.transpose(-1, -2).contiguous().transpose(-1, -2)
    if layout == "stepped":
        fill = float("nan") if t.is_floating_point() else 0
        big = torch.full([2 * size + 1 for size in t.shape], fill, dtype=t.dtype, device=t.device)
        index = tuple(slice(1, None, 2) for _ in t.shape)
        big[index] = t
        return big[index]
    dim = 0 if layout == "expand_first" else t.dim() - 1
    if t.shape[dim] == 0:
        return t.contiguous()
    return t.narrow(dim, 0, 1).expand(t.shape)


# ---------------------------------------------------------------------------
# Comparisons.


def outcome(function, *args, **kwargs):
    """("ok", result) or ("error", type, message)."""
    try:
        return ("ok", function(*args, **kwargs))
    except Exception as error:  # noqa: BLE001 - the type is compared by the caller
        return ("error", type(error), str(error))


def assert_same_error(actual, expected_type, expected_message: Optional[str], context: str) -> None:
    event(f"raises {expected_type.__name__}")
    assert actual[0] == "error", f"expected {expected_type.__name__}({expected_message!r}), got a result\n{context}"
    assert actual[1] is expected_type, (
        f"{actual[1].__name__}({actual[2]!r}) instead of {expected_type.__name__}\n{context}"
    )
    if expected_message is not None:
        assert actual[2] == expected_message, f"message {actual[2]!r} instead of {expected_message!r}\n{context}"


def describe_tensor(name: str, t: torch.Tensor) -> str:
    values = t.detach().cpu().to(torch.float64).numpy() if t.is_floating_point() else t.detach().cpu().numpy()
    body = np.array2string(values, separator=", ", floatmode="unique", threshold=10**6, max_line_width=160)
    return f"{name}: dtype={t.dtype} shape={tuple(t.shape)} strides={t.stride()}\n{body}"


def scipy_outcome(array: np.ndarray, maximize: bool):
    return outcome(scipy_lsa, array, maximize=maximize)


# ---------------------------------------------------------------------------
# Linear sum assignment.


@st.composite
def single_costs(draw):
    """(cost tensor on the CPU, maximize, layout)."""
    maximize = draw(st.booleans())
    shape = draw(SHAPES_2D)
    if draw(st.integers(0, 4)) == 0:  # integer and bool costs: solved as scipy casts them
        dtype = draw(st.sampled_from(INT_DTYPES))
        if dtype == torch.bool:
            values = draw(arrays(np.bool_, shape))
        else:
            info = torch.iinfo(dtype)
            elements = st.one_of(st.integers(0, 2), st.integers(info.min, info.max))
            values = draw(arrays(np.int64, shape, elements=elements))
        cost = torch.from_numpy(values).to(dtype)
    else:
        dtype = draw(st.sampled_from(FLOATING_DTYPES))
        cost = torch.from_numpy(draw(cost_values(shape, maximize))).to(dtype)
    return cost, maximize, draw(st.sampled_from(LAYOUTS))


@pytest.mark.parametrize("device", DEVICES)
@given(case=single_costs())
def test_linear_sum_assignment_tensor(device, case):
    cost, maximize, layout = case
    view = strided_like(cost.to(device), layout)
    # What scipy sees: numpy's own conversion of the integers, the exact
    # float64 value of every floating element.
    array = cpu_copy(view).numpy() if not view.is_floating_point() else cpu_copy(view).to(torch.float64).numpy()
    expected = scipy_outcome(array, maximize)
    actual = outcome(idmatch.linear_sum_assignment, view, maximize=maximize)
    context = f"maximize={maximize} layout={layout}\n{describe_tensor('cost', view)}"
    if expected[0] == "error":
        assert_same_error(actual, expected[1], expected[2], context)
        return
    assert actual[0] == "ok", f"scipy solves it, idmatch raised {actual[1].__name__}({actual[2]!r})\n{context}"
    want_rows, want_cols = expected[1]
    for what, got, want in zip(("row_ind", "col_ind"), actual[1], (want_rows, want_cols)):
        assert_identical(got, torch.from_numpy(want.astype(np.int64)), f"{what}\n{context}", device)


@st.composite
def array_costs(draw):
    """(numpy array of any real dtype and strides, maximize)."""
    maximize = draw(st.booleans())
    shape = draw(SHAPES_2D)
    values = draw(cost_values(shape, maximize))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, np.bool_]))
    with np.errstate(all="ignore"):
        if np.issubdtype(dtype, np.integer) or dtype is np.bool_:
            values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
            values = np.clip(values, -100, 100).astype(dtype)
        else:
            values = values.astype(dtype)
    layout = draw(st.sampled_from(["c", "fortran", "reversed", "stepped"]))
    if layout == "fortran":
        values = np.asfortranarray(values)
    elif layout == "reversed":
        values = values[::-1, ::-1]
    elif layout == "stepped":
        big = np.zeros((2 * shape[0], 2 * shape[1]), dtype=values.dtype)
        big[::2, ::2] = values
        values = big[::2, ::2]
    return values, maximize


@given(case=array_costs(), as_list=st.booleans())
# One-element views count as contiguous in numpy whatever their strides,
# negative ones included.
@example(case=(np.ones((1, 1))[::-1, ::-1], False), as_list=False)
@example(case=(np.full((1, 1), INF)[::-1, ::-1], False), as_list=False)
def test_linear_sum_assignment_array(case, as_list):
    """Arrays (and nested lists) give numpy results, exactly scipy's."""
    array, maximize = case
    cost = array.tolist() if as_list else array
    expected = outcome(scipy_lsa, cost, maximize=maximize)
    actual = outcome(idmatch.linear_sum_assignment, cost, maximize=maximize)
    context = f"maximize={maximize} list={as_list} dtype={array.dtype}\n{array!r}"
    if expected[0] == "error":
        assert_same_error(actual, expected[1], expected[2], context)
        return
    assert actual[0] == "ok", f"scipy solves it, idmatch raised {actual[1].__name__}({actual[2]!r})\n{context}"
    for got, want in zip(actual[1], expected[1]):
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype and np.array_equal(got, want), context


@st.composite
def batched_costs(draw):
    maximize = draw(st.booleans())
    batch_shape = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    n, m = draw(SHAPES_2D)
    count = int(np.prod(batch_shape, dtype=np.int64))
    problems = [draw(cost_values((n, m), maximize)) for _ in range(count)]
    values = np.stack(problems) if problems else np.zeros((0, n, m))
    dtype = draw(st.sampled_from(FLOATING_DTYPES))
    cost = torch.from_numpy(values.reshape(batch_shape + (n, m))).to(dtype)
    return cost, maximize, draw(st.sampled_from(LAYOUTS))


@pytest.mark.parametrize("device", DEVICES)
@given(case=batched_costs())
def test_batch_linear_sum_assignment(device, case):
    cost, maximize, layout = case
    view = strided_like(cost.to(device), layout)
    batch_shape = tuple(view.shape[:-2])
    n, m = view.shape[-2:]
    count = int(np.prod(batch_shape, dtype=np.int64))
    flat = cpu_copy(view).reshape(count, n, m)
    expected = [oracle(problem, maximize) for problem in flat]
    actual = outcome(idmatch.batch_linear_sum_assignment, view, maximize)
    context = f"maximize={maximize} layout={layout}\n{describe_tensor('cost', view)}"
    failed = [k for k, answer in enumerate(expected) if not answer.ok]
    if failed:
        first = failed[0]
        if batch_shape:
            index = ", ".join(str(int(k)) for k in np.unravel_index(first, batch_shape))
            message = f"cost[{index}]: {expected[first].error}"
        else:
            message = expected[first].error  # one matrix: scipy's message as it is
        assert_same_error(actual, ValueError, message, context)
        return
    assert actual[0] == "ok", f"scipy solves every problem, idmatch raised {actual[2]!r}\n{context}"
    want = torch.tensor(
        np.array([answer.col_for_row for answer in expected]).reshape(batch_shape + (n,)), dtype=torch.int64
    )
    assert_identical(actual[1], want, f"col_for_row\n{context}", device)


@st.composite
def seeded_values(draw, shape, maximize: bool) -> np.ndarray:
    """Values too many to draw entry by entry: one of conftest's random
    problems (a kind, forbidden and invalid entries) from a drawn seed."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return random_values(rng, shape, maximize, kind=draw(st.sampled_from(KINDS)))


@st.composite
def ragged_costs(draw):
    maximize = draw(st.booleans())
    # The long profile: a quarter of its batches large, wider than the CPU
    # small solver's 16 columns, or of more problems than its 128-problem
    # batch (a few seconds per hundred such examples).
    if HYPOTHESIS_LARGE and draw(st.integers(0, 3)) == 0:
        m = draw(st.integers(0, 24))
        many = st.lists(st.integers(0, 5), min_size=129, max_size=160)
        sizes = draw(st.one_of(st.lists(st.integers(0, 30), max_size=5), many))
        values = seeded_values
    else:
        m = draw(st.integers(0, 6))
        sizes = draw(st.lists(st.integers(0, 6), max_size=5))
        values = cost_values
    lead, trail = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    blocks = [np.full((lead, m), NAN)]  # rows outside every problem: never read
    blocks += [draw(values((rows, m), maximize)) for rows in sizes]
    blocks.append(np.full((trail, m), NAN))
    dtype = draw(st.sampled_from(FLOATING_DTYPES))
    cost = torch.from_numpy(np.concatenate(blocks)).to(dtype)
    offsets = torch.tensor(np.cumsum([lead] + sizes), dtype=torch.int64)
    offsets_dtype = draw(st.sampled_from(INDEX_DTYPES if int(offsets[-1]) < 128 else INDEX_DTYPES[:3]))
    return cost, offsets, offsets_dtype, maximize, draw(st.sampled_from(LAYOUTS)), draw(st.booleans())


@pytest.mark.parametrize("device", DEVICES)
@given(case=ragged_costs())
def test_ragged_linear_sum_assignment(device, case):
    """The Python function and the raw op under it, problem by problem."""
    cost, offsets, offsets_dtype, maximize, layout, step_offsets = case
    view = strided_like(cost.to(device), layout)
    offsets_view = offsets.to(device, offsets_dtype)
    if step_offsets:
        offsets_view = strided_like(offsets_view, "stepped")
    bounds = offsets.tolist()
    values = cpu_copy(view)
    expected = [oracle(values[bounds[s] : bounds[s + 1]], maximize) for s in range(len(bounds) - 1)]
    context = f"maximize={maximize} layout={layout} offsets={bounds}\n{describe_tensor('cost', view)}"

    col_for_row, status = torch.ops.idmatch.ragged_linear_sum_assignment(view, offsets_view.to(torch.int64), maximize)
    want_rows = np.full(values.shape[0], -1, dtype=np.int64)
    for s, answer in enumerate(expected):
        if answer.ok:
            want_rows[bounds[s] : bounds[s + 1]] = answer.col_for_row
    assert_identical(
        status, torch.tensor([answer.status for answer in expected], dtype=torch.int32), f"status\n{context}", device
    )
    assert_identical(col_for_row, torch.from_numpy(want_rows), f"raw col_for_row\n{context}", device)

    actual = outcome(idmatch.ragged_linear_sum_assignment, view, offsets_view, maximize)
    failed = [s for s, answer in enumerate(expected) if not answer.ok]
    if failed:
        assert_same_error(actual, ValueError, f"problem[{failed[0]}]: {expected[failed[0]].error}", context)
        return
    assert actual[0] == "ok", f"scipy solves every problem, idmatch raised {actual[2]!r}\n{context}"
    assert_identical(actual[1], torch.from_numpy(want_rows), f"col_for_row\n{context}", device)


# ---------------------------------------------------------------------------
# Identity functions.

COORDINATES = st.one_of(
    st.floats(-3.0, 9.0),
    st.integers(-2, 8).map(lambda k: k + 0.5),  # half to even decides
    st.sampled_from(
        [
            INF,
            -INF,
            1e300,
            -1e300,
            65504.0,
            -65504.0,
            1e-300,
            5e-324,
            -0.0,
            0.49999999999999994,
            2.5,
            3.5,
            1e10,
            -1e10,
            float(2**31),
            float(2**63),
        ]
    ),
)


@st.composite
def class_maps_values(draw, shape):
    style = draw(st.sampled_from(["unit", "saturated", "ties", "special"]))
    values = draw(arrays(np.float64, shape, elements=ELEMENTS[style]))
    if values.size and draw(st.integers(0, 5)) == 0:
        for position, value in draw(
            st.lists(st.tuples(st.integers(0, values.size - 1), st.sampled_from(NONFINITE)), min_size=1, max_size=3)
        ):
            values.flat[position] = value
    return values


@st.composite
def scenes(draw, allow_nan_points=True):
    """Class maps, peaks of any dtype and strides, indices in range."""
    n_samples = draw(st.integers(1, 3))
    n_classes = draw(st.integers(0, 4))
    height, width = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    n_channels = draw(st.integers(0, 3))
    n_peaks = draw(st.integers(0, 12)) if n_channels > 0 else 0
    map_dtype, point_dtype, val_dtype = (draw(st.sampled_from(FLOATING_DTYPES)) for _ in range(3))
    index_dtype = draw(st.sampled_from(INDEX_DTYPES))
    maps = draw(class_maps_values((n_samples, n_classes, height, width)))
    coordinates = (
        st.one_of(COORDINATES, st.just(NAN)) if allow_nan_points and draw(st.integers(0, 5)) == 0 else (COORDINATES)
    )
    points = draw(arrays(np.float64, (n_peaks, 2), elements=coordinates))
    if n_peaks > 1:  # duplicated peaks
        for target, source in draw(
            st.lists(st.tuples(st.integers(0, n_peaks - 1), st.integers(0, n_peaks - 1)), max_size=3)
        ):
            points[target] = points[source]
    vals = draw(arrays(np.float64, (n_peaks,), elements=st.one_of(ELEMENTS["unit"], st.sampled_from(NONFINITE))))
    samples = draw(arrays(np.int64, (n_peaks,), elements=st.integers(0, n_samples - 1)))
    channels = draw(arrays(np.int64, (n_peaks,), elements=st.integers(0, max(n_channels - 1, 0))))
    tensors = {
        "class_maps": torch.from_numpy(maps).to(map_dtype),
        "peak_points": torch.from_numpy(points).to(point_dtype),
        "peak_vals": torch.from_numpy(vals).to(val_dtype),
        "peak_sample_inds": torch.from_numpy(samples).to(index_dtype),
        "peak_channel_inds": torch.from_numpy(channels).to(index_dtype),
    }
    layouts = {name: draw(st.sampled_from(LAYOUTS)) for name in tensors}
    return tensors, layouts, n_channels


def place(tensors, layouts, device):
    """Each tensor on the device in its layout, and its CPU copy (the values
    the oracle sees: the expanding layouts change them)."""
    views = {name: strided_like(t.to(device), layouts[name]) for name, t in tensors.items()}
    return views, {name: cpu_copy(t) for name, t in views.items()}


def describe_scene(views, n_channels) -> str:
    return "\n".join([f"n_channels={n_channels}"] + [describe_tensor(name, t) for name, t in views.items()])


def first_failing_group(
    probs: torch.Tensor, samples: torch.Tensor, channels: torch.Tensor, n_samples: int, n_channels: int
) -> Optional[Tuple[int, int, str]]:
    """The first (sample, channel) group, in the reference's loop order, on
    which scipy raises, and scipy's message."""
    for sample in range(n_samples):
        for channel in range(n_channels):
            mask = (samples.long() == sample) & (channels.long() == channel)
            if bool(mask.any()):
                try:
                    scipy_lsa(-probs[mask].double().numpy())
                except ValueError as error:
                    return sample, channel, str(error)
    return None


def group_message(name: str, failure: Tuple[int, int, str]) -> str:
    sample, channel, scipy_message = failure
    if scipy_message == INFEASIBLE_MESSAGE:
        problem = "has no complete assignment (infinite probabilities)"
    else:
        assert scipy_message == INVALID_ENTRIES_MESSAGE
        problem = f"cannot be matched: {scipy_message} (NaN or +inf)"
    return f"{name} of the peaks of sample {sample}, channel {channel} {problem}"


def nan_point_rows(points: torch.Tensor) -> torch.Tensor:
    return torch.isnan(points.double()).any(dim=1)


@pytest.mark.parametrize("device", DEVICES)
@given(scene=scenes())
def test_sample_class_maps(device, scene):
    tensors, layouts, n_channels = scene
    views, cpu = place(tensors, layouts, device)
    args = (views["class_maps"], views["peak_points"], views["peak_sample_inds"])
    context = describe_scene(views, n_channels)
    nan_rows = nan_point_rows(cpu["peak_points"])

    # The raw op: NaN rows where a coordinate is NaN, the reference elsewhere.
    raw = torch.ops.idmatch.sample_class_maps(*args)
    points = cpu["peak_points"].clone()
    points[nan_rows] = 0.0
    want = reference.sample_class_maps(cpu["class_maps"], points, cpu["peak_sample_inds"])
    want[nan_rows] = float("nan")
    assert_identical(raw, want, f"raw probs\n{context}", device)

    actual = outcome(idmatch.sample_class_maps, *args)
    if bool(nan_rows.any()):
        assert_same_error(actual, ValueError, "peak_points contains NaN coordinates", context)
        return
    assert actual[0] == "ok", f"{actual[1].__name__}({actual[2]!r})\n{context}"
    assert_identical(actual[1], want, f"probs\n{context}", device)


@st.composite
def grouped_probs(draw):
    # The long profile: half its inputs large, groups of tens of peaks past
    # the CPU small solver's 16 rows and columns, up to 20 classes, or more
    # groups than its 128-problem batch.
    large = HYPOTHESIS_LARGE and draw(st.booleans())
    max_groups, max_classes, max_peaks = (12, 20, 400) if large else (3, 4, 12)
    n_samples, n_channels = draw(st.integers(0, max_groups)), draw(st.integers(0, max_groups))
    n_classes = draw(st.integers(0, max_classes))
    n_peaks = draw(st.integers(0, max_peaks)) if n_samples * n_channels > 0 else 0
    dtype = draw(st.sampled_from(FLOATING_DTYPES))
    index_dtype = draw(st.sampled_from(INDEX_DTYPES))
    if large:
        probs = draw(seeded_values((n_peaks, n_classes), maximize=True))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        # Few groups hold most peaks (tens each), or every group a few.
        spread = draw(st.sampled_from([1, 2, max(n_samples, 1)]))
        samples = rng.integers(0, max(min(spread, n_samples), 1), n_peaks)
        channels = rng.integers(0, max(min(spread, n_channels), 1), n_peaks)
    else:
        probs = draw(cost_values((n_peaks, n_classes), maximize=True))
        samples = draw(arrays(np.int64, (n_peaks,), elements=st.integers(0, max(n_samples - 1, 0))))
        channels = draw(arrays(np.int64, (n_peaks,), elements=st.integers(0, max(n_channels - 1, 0))))
    tensors = {
        "peak_class_probs": torch.from_numpy(probs).to(dtype),
        "peak_sample_inds": torch.from_numpy(samples).to(index_dtype),
        "peak_channel_inds": torch.from_numpy(channels).to(index_dtype),
    }
    layouts = {name: draw(st.sampled_from(LAYOUTS)) for name in tensors}
    return tensors, layouts, n_samples, n_channels


@pytest.mark.parametrize("device", DEVICES)
@given(case=grouped_probs())
def test_group_class_peaks(device, case):
    tensors, layouts, n_samples, n_channels = case
    views, cpu = place(tensors, layouts, device)
    probs, samples, channels = cpu["peak_class_probs"], cpu["peak_sample_inds"], cpu["peak_channel_inds"]
    context = f"n_samples={n_samples}\n" + describe_scene(views, n_channels)
    actual = outcome(
        idmatch.group_class_peaks,
        views["peak_class_probs"],
        views["peak_sample_inds"],
        views["peak_channel_inds"],
        n_samples,
        n_channels,
    )
    expected = outcome(reference.group_class_peaks, probs, samples, channels, n_samples, n_channels)
    if expected[0] == "error":
        assert expected[1] is ValueError, expected
        failure = first_failing_group(probs, samples, channels, n_samples, n_channels)
        assert failure is not None and failure[2] == expected[2]
        assert_same_error(actual, ValueError, group_message("peak_class_probs", failure), context)
        return
    assert actual[0] == "ok", f"{actual[1].__name__}({actual[2]!r})\n{context}"
    for what, got, want in zip(("peak_inds", "class_inds"), actual[1], expected[1]):
        assert_identical(got, want, f"{what}\n{context}", device)


@pytest.mark.parametrize("device", DEVICES)
@given(scene=scenes())
def test_classify_peaks_from_maps(device, scene):
    tensors, layouts, n_channels = scene
    views, cpu = place(tensors, layouts, device)
    names = ("class_maps", "peak_points", "peak_vals", "peak_sample_inds", "peak_channel_inds")
    context = describe_scene(views, n_channels)
    actual = outcome(idmatch.classify_peaks_from_maps, *(views[name] for name in names), n_channels)
    n_samples, n_classes = cpu["class_maps"].shape[:2]
    if bool(nan_point_rows(cpu["peak_points"]).any()):
        # The reference converts NaN to an integer index (undefined); the
        # contract raises instead, when there is a class to match at all.
        if n_classes > 0:
            assert_same_error(actual, ValueError, "peak_points contains NaN coordinates", context)
        else:
            assert actual[0] == "ok", f"{actual[1].__name__}({actual[2]!r})\n{context}"
            for got in actual[1]:
                assert got.shape[:3] == (n_samples, 0, n_channels)
        return
    expected = outcome(reference.classify_peaks_from_maps, *(cpu[name] for name in names), n_channels)
    if expected[0] == "error":
        assert expected[1] is ValueError, expected
        probs = reference.sample_class_maps(cpu["class_maps"], cpu["peak_points"], cpu["peak_sample_inds"])
        failure = first_failing_group(probs, cpu["peak_sample_inds"], cpu["peak_channel_inds"], n_samples, n_channels)
        assert failure is not None and failure[2] == expected[2]
        assert_same_error(actual, ValueError, group_message("class_maps", failure), context)
        return
    assert actual[0] == "ok", f"{actual[1].__name__}({actual[2]!r})\n{context}"
    for what, got, want in zip(("points", "point_vals", "class_probs"), actual[1], expected[1]):
        assert_identical(got, want, f"{what}\n{context}", device)


@st.composite
def class_vectors(draw):
    shape = draw(SHAPES_2D)
    values = draw(cost_values(shape, maximize=True))
    return torch.from_numpy(values).to(draw(st.sampled_from(FLOATING_DTYPES))), draw(st.sampled_from(LAYOUTS))


@pytest.mark.parametrize("device", DEVICES)
@given(case=class_vectors())
def test_get_class_inds_from_vectors(device, case):
    probs, layout = case
    view = strided_like(probs.to(device), layout)
    values = cpu_copy(view)
    context = f"layout={layout}\n{describe_tensor('peak_class_probs', view)}"
    actual = outcome(idmatch.get_class_inds_from_vectors, view)
    expected = outcome(reference.get_class_inds_from_vectors, values)
    if expected[0] == "error":
        assert expected[1] is ValueError, expected
        assert_same_error(actual, ValueError, f"peak_class_probs cannot be matched: {expected[2]}", context)
        return
    assert actual[0] == "ok", f"{actual[1].__name__}({actual[2]!r})\n{context}"
    for what, got, want in zip(("class_inds", "class_probs"), actual[1], expected[1]):
        assert_identical(got, want, f"{what}\n{context}", device)


# ---------------------------------------------------------------------------
# The raw identity ops with indices out of range (any int64, the extremes
# included): reported per peak and per group, never an exception.

WILD_INDEX = st.one_of(
    st.integers(-2, 4),
    st.sampled_from([2**31 - 1, 2**31, 2**31 + 5, 2**32, 2**40, 2**63 - 1, -(2**31), -(2**31) - 5, -(2**40), -(2**63)]),
)


@st.composite
def wild_scenes(draw):
    tensors, layouts, n_channels = draw(scenes())
    n_peaks = tensors["peak_points"].shape[0]
    for name in ("peak_sample_inds", "peak_channel_inds"):
        wild = draw(arrays(np.int64, (n_peaks,), elements=WILD_INDEX))
        tensors[name] = torch.from_numpy(wild)  # int64: the extremes do not fit the narrow dtypes
    return tensors, layouts, n_channels


def expected_match(
    probs: torch.Tensor, samples: torch.Tensor, channels: torch.Tensor, n_samples: int, n_channels: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """class_inds and status of match_peaks_to_classes, from scipy per group."""
    class_inds = torch.full((probs.shape[0],), PeakCode.UNMATCHED.value, dtype=torch.int64)
    samples, channels = samples.long(), channels.long()
    class_inds[(channels < 0) | (channels >= n_channels)] = PeakCode.CHANNEL_OUT_OF_RANGE.value
    class_inds[(samples < 0) | (samples >= n_samples)] = PeakCode.SAMPLE_OUT_OF_RANGE.value
    status = torch.full((n_samples, n_channels), Status.OK.value, dtype=torch.int32)
    for sample in range(n_samples):
        for channel in range(n_channels):
            members = torch.nonzero((samples == sample) & (channels == channel)).squeeze(1)
            answer = oracle(probs[members], maximize=True)
            status[sample, channel] = answer.status
            if not answer.ok or probs.shape[1] == 0:
                continue
            for row, col in zip(answer.row_ind, answer.col_ind):
                peak = int(members[row])
                if probs[peak, col] == probs[peak].max():  # the keep-best filter
                    class_inds[peak] = int(col)
    return class_inds, status


@pytest.mark.parametrize("device", DEVICES)
@given(scene=wild_scenes())
def test_raw_identity_ops_report_out_of_range_indices(device, scene):
    tensors, layouts, n_channels = scene
    views, cpu = place(tensors, layouts, device)
    context = describe_scene(views, n_channels)
    n_samples = cpu["class_maps"].shape[0]
    samples, channels = cpu["peak_sample_inds"], cpu["peak_channel_inds"]

    probs = torch.ops.idmatch.sample_class_maps(views["class_maps"], views["peak_points"], views["peak_sample_inds"])
    bad_rows = nan_point_rows(cpu["peak_points"]) | (samples < 0) | (samples >= n_samples)
    points = cpu["peak_points"].clone()
    points[bad_rows] = 0.0
    want_probs = reference.sample_class_maps(cpu["class_maps"], points, samples.clamp(0, n_samples - 1))
    want_probs[bad_rows] = float("nan")
    assert_identical(probs, want_probs, f"probs\n{context}", device)

    want_inds, want_status = expected_match(want_probs, samples, channels, n_samples, n_channels)
    class_inds, status = torch.ops.idmatch.match_peaks_to_classes(
        probs, views["peak_sample_inds"], views["peak_channel_inds"], n_samples, n_channels
    )
    assert_identical(class_inds, want_inds, f"match class_inds\n{context}", device)
    assert_identical(status, want_status, f"match status\n{context}", device)

    names = ("class_maps", "peak_points", "peak_vals", "peak_sample_inds", "peak_channel_inds")
    outputs = torch.ops.idmatch.classify_peaks_from_maps(*(views[name] for name in names), n_channels)
    assert_identical(outputs[3], want_inds, f"classify class_inds\n{context}", device)
    assert_identical(outputs[4], want_status, f"classify status\n{context}", device)
    want_problems = int((want_inds < -1).sum()) + int((want_status != 0).sum())
    assert int(outputs[5]) == want_problems, f"classify problems {int(outputs[5])} != {want_problems}\n{context}"
    n_classes = cpu["class_maps"].shape[1]
    want_points = torch.full((n_samples, n_classes, n_channels, 2), float("nan"), dtype=points.dtype)
    want_vals = torch.full((n_samples, n_classes, n_channels), float("nan"), dtype=cpu["peak_vals"].dtype)
    want_class_probs = torch.full((n_samples, n_classes, n_channels), float("nan"), dtype=want_probs.dtype)
    for peak in torch.nonzero(want_inds >= 0).squeeze(1).tolist():
        slot = (int(samples[peak]), int(want_inds[peak]), int(channels[peak]))
        want_points[slot] = cpu["peak_points"][peak]
        want_vals[slot] = cpu["peak_vals"][peak]
        want_class_probs[slot] = want_probs[peak, slot[1]]
    for what, got, want in zip(
        ("points", "point_vals", "class_probs"), outputs[:3], (want_points, want_vals, want_class_probs)
    ):
        assert_identical(got, want, f"classify {what}\n{context}", device)
