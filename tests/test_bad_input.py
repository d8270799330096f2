"""Bad input, argument by argument, for every public function and every raw op.

Two lists drive the tests:

- BAD_INPUT_CASES: calls that must raise, each with the exception type (exactly
  that type, not a subclass) and a pattern that names the offending argument:
  wrong rank, shape, dtype or device, not a tensor, lengths that disagree,
  negative or huge sizes, indices out of range (up to the extremes of int64),
  NaN and infinities. linear_sum_assignment raises scipy's own type and
  message instead, checked against scipy on the same input. After every
  case, a normal call of every function still gives the right answer.
- REPORT_CASES: bad values given to the raw ops, which never raise on values:
  they report per problem (Status), per peak (PeakCode) or per row (NaN), and
  leave every other answer as it would be without the bad value.

A tensor on the meta device stands in for "another device" (and CUDA too
when present): the raw ops dispatch such calls to their fake kernels, which
must refuse them as the real kernels do.
"""

import re
from typing import Any, Callable, List, NamedTuple, Optional

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment as scipy_lsa

import idmatch
import idmatch.reference as reference
from conftest import assert_identical
from idmatch import PeakCode, Status
from idmatch._common import FLOATING_DTYPES, INDEX_DTYPES

OTHER_DEVICES = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])

INT64_EXTREMES = [2**31 - 1, 2**31, 2**31 + 5, 2**32, 2**40, 2**63 - 1, -1, -(2**31), -(2**31) - 5, -(2**40), -(2**63)]

INVALID = "matrix contains invalid numeric entries"
INFEASIBLE = "cost matrix is infeasible"
NAN, INF = float("nan"), float("inf")


class Case(NamedTuple):
    id: str
    call: Callable[[], Any]
    error: type
    match: str  # regular expression searched in the message
    # For scipy's API: scipy's own call on the same input, which must raise
    # the same type with the same message.
    scipy_call: Optional[Callable[[], Any]] = None


class Report(NamedTuple):
    id: str
    check: Callable[[], None]


BAD_INPUT_CASES: List[Case] = []
REPORT_CASES: List[Report] = []


def bad(id_: str, call: Callable[[], Any], error: type, match: str, scipy_call=None) -> None:
    BAD_INPUT_CASES.append(Case(id_, call, error, match, scipy_call))


def report(id_: str):
    def register(check):
        REPORT_CASES.append(Report(id_, check))
        return check

    return register


# ---------------------------------------------------------------------------
# Valid inputs, rebuilt for every call so that no case sees another's changes.


def lsa_cost() -> torch.Tensor:
    return torch.tensor([[4.0, 1.0, 3.0, 2.5], [2.0, 0.0, 5.0, 1.0], [3.0, 2.0, 2.0, 0.5]])


def lsa_offsets() -> torch.Tensor:
    return torch.tensor([0, 1, 3])


def identity_scene() -> dict:
    """Two samples, three classes, three channels, five peaks, all valid."""
    gen = torch.Generator().manual_seed(1)
    return dict(
        class_maps=torch.rand(2, 3, 4, 4, generator=gen),
        peak_points=torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [1.0, 2.0]]),
        peak_vals=torch.rand(5, generator=gen),
        peak_sample_inds=torch.tensor([0, 1, 0, 1, 0]),
        peak_channel_inds=torch.tensor([0, 0, 1, 1, 2]),
        n_channels=3,
    )


def match_scene() -> dict:
    gen = torch.Generator().manual_seed(2)
    return dict(
        peak_class_probs=torch.rand(5, 3, generator=gen),
        peak_sample_inds=torch.tensor([0, 1, 0, 1, 0]),
        peak_channel_inds=torch.tensor([0, 0, 1, 1, 0]),
        n_samples=2,
        n_channels=3,
    )


SAMPLE_ARGS = ("class_maps", "peak_points", "peak_sample_inds")
MATCH_ARGS = ("peak_class_probs", "peak_sample_inds", "peak_channel_inds", "n_samples", "n_channels")
CLASSIFY_ARGS = ("class_maps", "peak_points", "peak_vals", "peak_sample_inds", "peak_channel_inds", "n_channels")

# name: (function, argument names, valid arguments)
IDENTITY_FUNCTIONS = {
    "sample_class_maps": (idmatch.sample_class_maps, SAMPLE_ARGS, identity_scene),
    "raw.sample_class_maps": (torch.ops.idmatch.sample_class_maps, SAMPLE_ARGS, identity_scene),
    "group_class_peaks": (idmatch.group_class_peaks, MATCH_ARGS, match_scene),
    "raw.match_peaks_to_classes": (torch.ops.idmatch.match_peaks_to_classes, MATCH_ARGS, match_scene),
    "classify_peaks_from_maps": (idmatch.classify_peaks_from_maps, CLASSIFY_ARGS, identity_scene),
    "raw.classify_peaks_from_maps": (torch.ops.idmatch.classify_peaks_from_maps, CLASSIFY_ARGS, identity_scene),
}


def call_with(function_name: str, changes: Callable[[dict], dict], device: Optional[str] = None):
    """A call of the named function on its valid arguments with `changes`
    applied; with `device`, every tensor moves there first."""
    function, names, scene = IDENTITY_FUNCTIONS[function_name]

    def call():
        args = scene()
        if device is not None:
            args = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in args.items()}
        args.update(changes(args))
        return function(*(args[name] for name in names))

    return call


def reference_outputs(function_name: str, args: dict):
    """What the public function returns on valid arguments, by the reference."""
    if function_name == "sample_class_maps":
        return (reference.sample_class_maps(*(args[n] for n in SAMPLE_ARGS)),)
    if function_name == "group_class_peaks":
        return reference.group_class_peaks(*(args[n] for n in MATCH_ARGS))
    return reference.classify_peaks_from_maps(*(args[n] for n in CLASSIFY_ARGS))


def assert_still_working() -> None:
    """A normal call of every public function right after a failed one."""
    cost = lsa_cost()
    rows, cols = scipy_lsa(cost.numpy())
    row_ind, col_ind = idmatch.linear_sum_assignment(cost)
    assert row_ind.tolist() == rows.tolist() and col_ind.tolist() == cols.tolist()
    assert idmatch.batch_linear_sum_assignment(cost[None]).tolist() == [cols.tolist()]
    first, second = scipy_lsa(cost[:1].numpy())[1], scipy_lsa(cost[1:].numpy())[1]
    assert idmatch.ragged_linear_sum_assignment(cost, lsa_offsets()).tolist() == first.tolist() + second.tolist()
    for name in ("sample_class_maps", "group_class_peaks", "classify_peaks_from_maps"):
        function, names, scene = IDENTITY_FUNCTIONS[name]
        args = scene()
        actual = function(*(args[n] for n in names))
        actual = actual if isinstance(actual, tuple) else (actual,)
        for k, (a, e) in enumerate(zip(actual, reference_outputs(name, args))):
            assert_identical(a, e, f"{name} output {k}")
    inds, probs = idmatch.get_class_inds_from_vectors(match_scene()["peak_class_probs"])
    expected_inds, expected_probs = reference.get_class_inds_from_vectors(match_scene()["peak_class_probs"])
    assert_identical(inds, expected_inds, "class_inds")
    assert_identical(probs, expected_probs, "class_probs")


# ---------------------------------------------------------------------------
# Identity functions and ops: shape, dtype, device and type of each argument.
# These checks need no values, so the raw ops raise them as the public
# functions do, with the same messages.


def float_mutations(name: str, wrong_shapes: List[tuple], device_pattern: str):
    """(label, change, error, pattern) for a floating tensor argument."""
    out = []
    for label, reshape in wrong_shapes:
        out.append((f"shape {label}", reshape, ValueError, rf"{name} must have shape"))
    # float8 is floating to torch, but no kernel reads it.
    for dtype in (torch.int64, torch.int32, torch.uint8, torch.bool, torch.complex64, torch.float8_e4m3fn):
        out.append((f"dtype {dtype}", lambda t, d=dtype: t.to(d), TypeError, rf"{name} must have a floating dtype"))
    for device in OTHER_DEVICES:
        out.append((f"device {device}", lambda t, d=device: t.to(d), ValueError, device_pattern))
    out.append(("numpy", lambda t: t.numpy(), RuntimeError, rf"argument '{name}'"))
    out.append(("list", lambda t: t.tolist(), RuntimeError, rf"argument '{name}'"))
    return out


def index_mutations(name: str, ref_name: str):
    out = [
        ("short", lambda t: t[:-1], ValueError, rf"{name} must have shape \(5,\)"),
        ("long", lambda t: torch.cat([t, t[:1]]), ValueError, rf"{name} must have shape \(5,\)"),
        ("rank 2", lambda t: t[:, None], ValueError, rf"{name} must have shape \(5,\)"),
        ("rank 0", lambda t: t[0], ValueError, rf"{name} must have shape \(5,\)"),
    ]
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.bool, torch.complex64):
        out.append((f"dtype {dtype}", lambda t, d=dtype: t.to(d), TypeError, rf"{name} must have an integer dtype"))
    for dtype in (torch.uint16, torch.uint32, torch.uint64):
        out.append((f"dtype {dtype}", lambda t, d=dtype: t.to(d), TypeError, rf"{name} has an unsupported dtype"))
    for device in OTHER_DEVICES:
        out.append(
            (
                f"device {device}",
                lambda t, d=device: t.to(d),
                ValueError,
                rf"{name} must be on the device of {ref_name}",
            )
        )
    out.append(("numpy", lambda t: t.numpy(), RuntimeError, rf"argument '{name}'"))
    out.append(("list", lambda t: t.tolist(), RuntimeError, rf"argument '{name}'"))
    return out


# Checks that only the real kernels make: they guard allocations, and the
# fake kernels allocate nothing.
REAL_KERNEL_ONLY = ("2**40", "2**31", "2**63-1", "too-large-batch", "too-large-batch-int64-max-columns")


def size_mutations(name: str):
    return [
        ("-1", lambda v: -1, ValueError, rf"{name} must be >= 0, got -1"),
        ("-2**63", lambda v: -(2**63), ValueError, rf"{name} must be >= 0"),
        # More groups than the solver's dimension limit: refused before any
        # allocation (terabytes of status and offsets otherwise).
        ("2**40", lambda v: 2**40, ValueError, rf"{name}=1099511627776"),
        ("2**31", lambda v: 2**31, ValueError, rf"{name}=2147483648"),
        ("2**63-1", lambda v: 2**63 - 1, ValueError, rf"{name}=9223372036854775807"),
        ("2**63", lambda v: 2**63, RuntimeError, rf"argument '{name}'"),
        ("2.5", lambda v: 2.5, RuntimeError, rf"argument '{name}'"),
        ("3.0", lambda v: 3.0, RuntimeError, rf"argument '{name}'"),
        ("None", lambda v: None, RuntimeError, rf"argument '{name}'"),
        ("str", lambda v: "3", RuntimeError, rf"argument '{name}'"),
    ]


ARGUMENT_MUTATIONS = {
    "class_maps": float_mutations(
        "class_maps",
        [("3-D", lambda t: t[0]), ("5-D", lambda t: t[None]), ("2-D", lambda t: t[0, 0])],
        "must be on the device of class_maps",
    ),
    "peak_points": float_mutations(
        "peak_points",
        [
            ("1-D", lambda t: t[:, 0]),
            ("(5, 1)", lambda t: t[:, :1]),
            ("(5, 3)", lambda t: torch.cat([t, t[:, :1]], 1)),
            ("3-D", lambda t: t[None]),
        ],
        "peak_points must be on the device of class_maps",
    ),
    "peak_vals": float_mutations(
        "peak_vals",
        [
            ("2-D", lambda t: t[:, None]),
            ("short", lambda t: t[:-1]),
            ("long", lambda t: torch.cat([t, t[:1]])),
            ("0-D", lambda t: t[0]),
        ],
        "peak_vals must be on the device of class_maps",
    ),
    "peak_class_probs": float_mutations(
        "peak_class_probs",
        [("1-D", lambda t: t[0]), ("3-D", lambda t: t[None])],
        "must be on the device of peak_class_probs",
    ),
    "n_samples": size_mutations("n_samples"),
    "n_channels": size_mutations("n_channels"),
}

# Fewer rows than the index tensors have entries: the first per-peak
# argument compared with them is the one named.
ROW_MISMATCH = {
    "peak_points": (lambda t: t[:-1], "peak_sample_inds must have shape \\(4,\\)"),
    "peak_class_probs": (lambda t: t[:-1], "peak_sample_inds must have shape \\(4,\\)"),
}

for function_name, (_, argument_names, _) in IDENTITY_FUNCTIONS.items():
    reference_argument = "peak_class_probs" if "peak_class_probs" in argument_names else "class_maps"
    for argument in argument_names:
        if argument in ("peak_sample_inds", "peak_channel_inds"):
            mutations = index_mutations(argument, reference_argument)
        else:
            mutations = ARGUMENT_MUTATIONS[argument]
        for label, change, error, pattern in mutations:
            bad(
                f"{function_name}-{argument}-{label}",
                call_with(function_name, lambda a, arg=argument, ch=change: {arg: ch(a[arg])}),
                error,
                pattern,
            )
            # The fake kernels hold the same checks: with every tensor on the
            # meta device, the same error.
            if (
                function_name.startswith("raw.")
                and "device" not in label
                and label not in ("numpy", "list") + REAL_KERNEL_ONLY
            ):
                bad(
                    f"{function_name}-{argument}-{label}-all-meta",
                    call_with(function_name, lambda a, arg=argument, ch=change: {arg: ch(a[arg])}, "meta"),
                    error,
                    pattern,
                )
        if argument in ROW_MISMATCH:
            change, pattern = ROW_MISMATCH[argument]
            bad(
                f"{function_name}-{argument}-fewer-rows",
                call_with(function_name, lambda a, arg=argument, ch=change: {arg: ch(a[arg])}),
                ValueError,
                pattern,
            )


# A class count so large that the outputs (n_samples, n_classes, n_channels, 2)
# could not be indexed: refused, not overflowed (the tensors are empty, so
# they cost nothing).
for function_name in ("classify_peaks_from_maps", "raw.classify_peaks_from_maps"):
    bad(
        f"{function_name}-class_maps-2**62-classes",
        call_with(
            function_name,
            lambda a: dict(
                class_maps=torch.empty(1, 2**62, 0, 0),
                peak_points=torch.empty(0, 2),
                peak_vals=torch.empty(0),
                peak_sample_inds=torch.empty(0, dtype=torch.int64),
                peak_channel_inds=torch.empty(0, dtype=torch.int64),
            ),
        ),
        ValueError,
        "n_classes=4611686018427387904",
    )
for function_name in ("group_class_peaks", "raw.match_peaks_to_classes"):
    bad(
        f"{function_name}-peak_class_probs-2**62-classes",
        call_with(
            function_name,
            lambda a: dict(
                peak_class_probs=torch.empty(0, 2**62),
                peak_sample_inds=torch.empty(0, dtype=torch.int64),
                peak_channel_inds=torch.empty(0, dtype=torch.int64),
            ),
        ),
        ValueError,
        "n_classes=4611686018427387904",
    )


# ---------------------------------------------------------------------------
# Identity functions: bad values. The public functions raise; the raw ops
# report (REPORT_CASES below).


def wild_index_values(dtype: torch.dtype) -> List[int]:
    """Out-of-range values of an index dtype: the extremes and just past the range."""
    if dtype == torch.int64:
        return INT64_EXTREMES
    if dtype == torch.int32:
        return [2**31 - 1, -(2**31), -1, 2, 3]
    if dtype == torch.uint8:
        return [255, 3]
    return [torch.iinfo(dtype).max, torch.iinfo(dtype).min, -1, 3]


WILD_INDICES = [(dtype, value) for dtype in INDEX_DTYPES for value in wild_index_values(dtype)]


def with_index(t: torch.Tensor, dtype: torch.dtype, value: int, peak: int = 3) -> torch.Tensor:
    t = t.to(dtype).clone()
    t[peak] = value
    return t


for dtype, value in WILD_INDICES:
    tag = f"{str(dtype).replace('torch.', '')}={value}"
    for name, bound in (
        ("sample_class_maps", "class_maps.shape\\[0\\]"),
        ("group_class_peaks", "n_samples"),
        ("classify_peaks_from_maps", "n_samples"),
    ):
        bad(
            f"{name}-peak_sample_inds-{tag}",
            call_with(name, lambda a, d=dtype, v=value: {"peak_sample_inds": with_index(a["peak_sample_inds"], d, v)}),
            IndexError,
            rf"^peak_sample_inds\[3\] is {value}, outside \[0, 2\) \({bound}\)$",
        )
    if value == 2:
        continue  # a valid channel
    for name in ("group_class_peaks", "classify_peaks_from_maps"):
        bad(
            f"{name}-peak_channel_inds-{tag}",
            call_with(
                name, lambda a, d=dtype, v=value: {"peak_channel_inds": with_index(a["peak_channel_inds"], d, v)}
            ),
            IndexError,
            rf"^peak_channel_inds\[3\] is {value}, outside \[0, 3\) \(n_channels\)$",
        )

# Sizes smaller than the indices need.
bad(
    "group_class_peaks-n_samples-too-small",
    call_with("group_class_peaks", lambda a: {"n_samples": 1}),
    IndexError,
    r"^peak_sample_inds\[1\] is 1, outside \[0, 1\) \(n_samples\)$",
)
bad(
    "group_class_peaks-n_channels-too-small",
    call_with("group_class_peaks", lambda a: {"n_channels": 0}),
    IndexError,
    r"^peak_channel_inds\[0\] is 0, outside \[0, 0\) \(n_channels\)$",
)
bad(
    "classify_peaks_from_maps-n_channels-too-small",
    call_with("classify_peaks_from_maps", lambda a: {"n_channels": 2}),
    IndexError,
    r"^peak_channel_inds\[4\] is 2, outside \[0, 2\) \(n_channels\)$",
)
for name, bound in (("sample_class_maps", "class_maps.shape\\[0\\]"), ("classify_peaks_from_maps", "n_samples")):
    bad(
        f"{name}-class_maps-no-samples",
        call_with(name, lambda a: {"class_maps": a["class_maps"][:0]}),
        IndexError,
        rf"^peak_sample_inds\[0\] is 0, outside \[0, 0\) \({bound}\)$",
    )
    for label, maps in (("height-0", lambda m: m[:, :, :0]), ("width-0", lambda m: m[..., :0])):
        bad(
            f"{name}-class_maps-{label}",
            call_with(name, lambda a, f=maps: {"class_maps": f(a["class_maps"])}),
            ValueError,
            r"^class_maps has an empty spatial size \[\d, \d\] but there are peaks$",
        )


def with_point(points: torch.Tensor, dtype: torch.dtype, column: int, value: float) -> torch.Tensor:
    points = points.to(dtype).clone()
    points[2, column] = value
    return points


for dtype in FLOATING_DTYPES:
    for column in (0, 1):
        for name in ("sample_class_maps", "classify_peaks_from_maps"):
            bad(
                f"{name}-peak_points-nan-{'xy'[column]}-{dtype}",
                call_with(name, lambda a, d=dtype, c=column: {"peak_points": with_point(a["peak_points"], d, c, NAN)}),
                ValueError,
                r"^peak_points contains NaN coordinates$",
            )


def with_map_value(maps: torch.Tensor, value: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`value` where peak 2 (sample 0, channel 1, at pixel (2, 2)) reads class 1."""
    maps = maps.to(dtype).clone()
    maps[0, 1, 2, 2] = value
    return maps


def with_forbidden_row(maps: torch.Tensor) -> torch.Tensor:
    """Every class of peak 2's pixel at -inf: its group (sample 0, channel 1)
    has one peak and no class it may take."""
    maps = maps.clone()
    maps[0, :, 2, 2] = -INF
    return maps


GROUP_INVALID = "of the peaks of sample 0, channel 1 cannot be matched: matrix contains invalid numeric entries"
GROUP_INFEASIBLE = "of the peaks of sample 0, channel 1 has no complete assignment"
for dtype in FLOATING_DTYPES:
    for label, value in (("nan", NAN), ("+inf", INF)):
        bad(
            f"classify_peaks_from_maps-class_maps-{label}-{dtype}",
            call_with(
                "classify_peaks_from_maps",
                lambda a, v=value, d=dtype: {"class_maps": with_map_value(a["class_maps"], v, d)},
            ),
            ValueError,
            f"^class_maps {GROUP_INVALID}",
        )
bad(
    "classify_peaks_from_maps-class_maps-forbidden",
    call_with("classify_peaks_from_maps", lambda a: {"class_maps": with_forbidden_row(a["class_maps"])}),
    ValueError,
    f"^class_maps {GROUP_INFEASIBLE}",
)


def with_prob(probs: torch.Tensor, value: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`value` in peak 2's row; peak 2 is alone in group (sample 0, channel 1)."""
    probs = probs.to(dtype).clone()
    probs[2, 1] = value
    return probs


for dtype in FLOATING_DTYPES:
    for label, value in (("nan", NAN), ("+inf", INF)):
        bad(
            f"group_class_peaks-peak_class_probs-{label}-{dtype}",
            call_with(
                "group_class_peaks",
                lambda a, v=value, d=dtype: {"peak_class_probs": with_prob(a["peak_class_probs"], v, d)},
            ),
            ValueError,
            f"^peak_class_probs {GROUP_INVALID}",
        )
        bad(
            f"get_class_inds_from_vectors-{label}-{dtype}",
            lambda v=value, d=dtype: idmatch.get_class_inds_from_vectors(
                with_prob(match_scene()["peak_class_probs"], v, d)
            ),
            ValueError,
            f"^peak_class_probs cannot be matched: {INVALID}$",
        )


def with_forbidden_prob_row(probs: torch.Tensor) -> torch.Tensor:
    """Peak 2, alone in its group, may take no class."""
    probs = probs.clone()
    probs[2] = -INF
    return probs


bad(
    "group_class_peaks-peak_class_probs-forbidden",
    call_with("group_class_peaks", lambda a: {"peak_class_probs": with_forbidden_prob_row(a["peak_class_probs"])}),
    ValueError,
    f"^peak_class_probs {GROUP_INFEASIBLE}",
)
bad(
    "get_class_inds_from_vectors-forbidden-row",
    lambda: idmatch.get_class_inds_from_vectors(torch.tensor([[0.5, 0.5], [-INF, -INF]])),
    ValueError,
    f"^peak_class_probs cannot be matched: {INFEASIBLE}$",
)


# get_class_inds_from_vectors: its argument itself.
for label, value in (("numpy", lambda: np.ones((2, 2))), ("list", lambda: [[0.5, 0.5]]), ("None", lambda: None)):
    bad(
        f"get_class_inds_from_vectors-{label}",
        lambda v=value: idmatch.get_class_inds_from_vectors(v()),
        TypeError,
        "^peak_class_probs must be a torch.Tensor",
    )
for label, shape in (("0-D", ()), ("1-D", (3,)), ("3-D", (1, 2, 2))):
    bad(
        f"get_class_inds_from_vectors-{label}",
        lambda s=shape: idmatch.get_class_inds_from_vectors(torch.rand(s)),
        ValueError,
        "^peak_class_probs must have shape",
    )
for dtype in (torch.int64, torch.uint8, torch.bool, torch.complex64, torch.float8_e4m3fn):
    bad(
        f"get_class_inds_from_vectors-{dtype}",
        lambda d=dtype: idmatch.get_class_inds_from_vectors(torch.ones(2, 2, dtype=d)),
        TypeError,
        "^peak_class_probs must have a floating dtype",
    )
bad(
    "get_class_inds_from_vectors-2**31-classes",
    lambda: idmatch.get_class_inds_from_vectors(torch.empty(0, 2**31)),
    ValueError,
    r"^peak_class_probs cannot be matched: problem is too large \(a dimension over 2\*\*31 - 1\)",
)
bad(
    "get_class_inds_from_vectors-2**62-classes",
    lambda: idmatch.get_class_inds_from_vectors(torch.empty(0, 2**62)),
    ValueError,
    "cost and offsets describe too large a batch",
)


# ---------------------------------------------------------------------------
# linear_sum_assignment: scipy's errors, type and message, for tensors and
# arrays alike.


def as_scipy_input(value):
    if isinstance(value, torch.Tensor):
        return value.numpy()
    return value


BOTH = (False, True)
# label: (cost, the maximize values for which scipy refuses it)
SCIPY_ERRORS = {
    "0-D": (lambda: torch.tensor(1.0), BOTH),
    "1-D": (lambda: torch.ones(3), BOTH),
    "3-D": (lambda: torch.ones(2, 2, 2), BOTH),
    "4-D-empty": (lambda: torch.ones(0, 2, 2, 0), BOTH),
    "nan": (lambda: torch.tensor([[1.0, NAN], [0.0, 1.0]]), BOTH),
    "-inf": (lambda: torch.tensor([[1.0, -INF], [0.0, 1.0]]), (False,)),
    "+inf": (lambda: torch.tensor([[1.0, INF], [0.0, 1.0]]), (True,)),
    "all-+inf": (lambda: torch.full((2, 3), INF), BOTH),
    "all--inf": (lambda: torch.full((3, 2), -INF), BOTH),
    "+inf-column": (lambda: torch.tensor([[INF, 1.0], [INF, 0.0]]), BOTH),
    "nan-float16": (lambda: torch.tensor([[1.0, NAN]], dtype=torch.float16), BOTH),
    "-inf-float64": (lambda: torch.tensor([[-INF]], dtype=torch.float64), BOTH),
    "float16-overflow": (lambda: torch.tensor([[1e5, -1e5]]).half(), BOTH),  # +inf and -inf once stored
    "1-D-list": (lambda: [1.0, 2.0], BOTH),
    "None": (lambda: None, BOTH),
    "text": (lambda: "abc", BOTH),
    "complex-array": (lambda: np.ones((2, 2), dtype=np.complex64), BOTH),
    "object-array": (lambda: np.array([[1.0, None]], dtype=object), BOTH),
    "ragged-list": (lambda: [[1.0, 2.0], [3.0]], BOTH),
}
for label, (value, maximizes) in SCIPY_ERRORS.items():
    for maximize in maximizes:
        bad(
            f"linear_sum_assignment-{label}-max={maximize}",
            lambda v=value, m=maximize: idmatch.linear_sum_assignment(v(), maximize=m),
            None,
            "",
            lambda v=value, m=maximize: scipy_lsa(as_scipy_input(v()), maximize=m),
        )
bad(
    "linear_sum_assignment-maximize-array",
    lambda: idmatch.linear_sum_assignment(lsa_cost(), np.array([1, 0])),
    None,
    "",
    lambda: scipy_lsa(lsa_cost().numpy(), np.array([1, 0])),
)
for dtype in (torch.complex64, torch.complex128):
    bad(
        f"linear_sum_assignment-{dtype}",
        lambda d=dtype: idmatch.linear_sum_assignment(torch.ones(2, 2, dtype=d)),
        TypeError,
        "^cost_matrix must be a real",
    )
bad(
    "linear_sum_assignment-2**31-columns",
    lambda: idmatch.linear_sum_assignment(torch.empty(0, 2**31)),
    ValueError,
    r"^problem is too large \(a dimension over 2\*\*31 - 1\)",
)


# ---------------------------------------------------------------------------
# batch_linear_sum_assignment.

for label, value in (("numpy", lambda: np.ones((1, 2, 2))), ("list", lambda: [[[1.0]]]), ("None", lambda: None)):
    bad(
        f"batch_linear_sum_assignment-{label}",
        lambda v=value: idmatch.batch_linear_sum_assignment(v()),
        TypeError,
        "^cost must be a torch.Tensor",
    )
for label, shape in (("0-D", ()), ("1-D", (4,))):
    bad(
        f"batch_linear_sum_assignment-{label}",
        lambda s=shape: idmatch.batch_linear_sum_assignment(torch.ones(s)),
        ValueError,
        r"^cost must have shape \(\.\.\., N, M\)",
    )
for dtype in (torch.complex64, torch.complex128):
    bad(
        f"batch_linear_sum_assignment-{dtype}",
        lambda d=dtype: idmatch.batch_linear_sum_assignment(torch.ones(2, 2, 2, dtype=d)),
        TypeError,
        "^cost must be",
    )


def batch_with(value: float, dtype=torch.float32) -> torch.Tensor:
    cost = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(3)).to(dtype)
    cost[1, 2, 3, 0] = value
    return cost


for dtype in FLOATING_DTYPES:
    bad(
        f"batch_linear_sum_assignment-nan-{dtype}",
        lambda d=dtype: idmatch.batch_linear_sum_assignment(batch_with(NAN, d)),
        ValueError,
        rf"^cost\[1, 2\]: {INVALID}$",
    )
    bad(
        f"batch_linear_sum_assignment--inf-{dtype}",
        lambda d=dtype: idmatch.batch_linear_sum_assignment(batch_with(-INF, d)),
        ValueError,
        rf"^cost\[1, 2\]: {INVALID}$",
    )
    bad(
        f"batch_linear_sum_assignment-+inf-maximize-{dtype}",
        lambda d=dtype: idmatch.batch_linear_sum_assignment(batch_with(INF, d), True),
        ValueError,
        rf"^cost\[1, 2\]: {INVALID}$",
    )
bad(
    "batch_linear_sum_assignment-infeasible",
    lambda: idmatch.batch_linear_sum_assignment(batch_with(0.0).index_fill(-1, torch.tensor([1, 2, 3]), INF)),
    ValueError,
    rf"^cost\[0, 0\]: {INFEASIBLE}$",
)
bad(
    "batch_linear_sum_assignment-maximize-str",
    lambda: idmatch.batch_linear_sum_assignment(batch_with(0.0), "yes"),
    RuntimeError,
    "argument 'maximize'",
)
bad(
    "batch_linear_sum_assignment-2**31-columns",
    lambda: idmatch.batch_linear_sum_assignment(torch.empty(1, 0, 2**31)),
    ValueError,
    r"^cost\[0\]: problem is too large",
)


# ---------------------------------------------------------------------------
# ragged_linear_sum_assignment: the public function and the raw op.

RAGGED = "ragged_linear_sum_assignment"
RAW_RAGGED = torch.ops.idmatch.ragged_linear_sum_assignment

for label, cost, offsets, pattern in (
    ("cost-numpy", lambda: lsa_cost().numpy(), lsa_offsets, "^cost must be a torch.Tensor"),
    ("cost-None", lambda: None, lsa_offsets, "^cost must be a torch.Tensor"),
    ("offsets-list", lsa_cost, lambda: [0, 1, 3], "^offsets must be a torch.Tensor"),
    ("offsets-numpy", lsa_cost, lambda: np.array([0, 1, 3]), "^offsets must be a torch.Tensor"),
    ("offsets-None", lsa_cost, lambda: None, "^offsets must be a torch.Tensor"),
):
    bad(
        f"{RAGGED}-{label}",
        lambda c=cost, o=offsets: idmatch.ragged_linear_sum_assignment(c(), o()),
        TypeError,
        pattern,
    )
for label, cost, offsets, pattern in (
    ("cost-numpy", lambda: lsa_cost().numpy(), lsa_offsets, "argument 'cost'"),
    ("offsets-list", lsa_cost, lambda: [0, 1, 3], "argument 'offsets'"),
):
    bad(f"raw.{RAGGED}-{label}", lambda c=cost, o=offsets: RAW_RAGGED(c(), o(), False), RuntimeError, pattern)
bad(
    f"{RAGGED}-maximize-str",
    lambda: idmatch.ragged_linear_sum_assignment(lsa_cost(), lsa_offsets(), "yes"),
    RuntimeError,
    "argument 'maximize'",
)
bad(
    f"raw.{RAGGED}-maximize-str",
    lambda: RAW_RAGGED(lsa_cost(), lsa_offsets(), "yes"),
    RuntimeError,
    "argument 'maximize'",
)

# (label, cost, offsets, public error, public pattern, raw error, raw pattern); None: the raw op accepts it.
RAGGED_ARGUMENTS = (
    [
        (
            "cost-1-D",
            lambda: torch.ones(3),
            lsa_offsets,
            ValueError,
            "^cost must be a 2-D tensor",
            ValueError,
            "^cost must be a 2-D tensor",
        ),
        (
            "cost-3-D",
            lambda: torch.ones(3, 2, 2),
            lsa_offsets,
            ValueError,
            "^cost must be a 2-D tensor",
            ValueError,
            "^cost must be a 2-D tensor",
        ),
        (
            "offsets-0-D",
            lsa_cost,
            lambda: torch.tensor(0),
            ValueError,
            "^offsets must be a 1-D tensor",
            ValueError,
            "^offsets must be a 1-D tensor",
        ),
        (
            "offsets-2-D",
            lsa_cost,
            lambda: torch.zeros(2, 2, dtype=torch.int64),
            ValueError,
            "^offsets must be a 1-D",
            ValueError,
            "^offsets must be a 1-D",
        ),
        (
            "offsets-empty",
            lsa_cost,
            lambda: torch.zeros(0, dtype=torch.int64),
            ValueError,
            "^offsets must be a 1-D",
            ValueError,
            "^offsets must be a 1-D",
        ),
        (
            "cost-complex",
            lambda: lsa_cost().to(torch.complex64),
            lsa_offsets,
            TypeError,
            "^cost must be a real",
            TypeError,
            "^cost must have a floating dtype",
        ),
        (
            "cost-int64",
            lambda: lsa_cost().long(),
            lsa_offsets,
            None,
            None,
            TypeError,
            "^cost must have a floating dtype",
        ),
        (
            "cost-float8",
            lambda: lsa_cost().to(torch.float8_e4m3fn),
            lsa_offsets,
            TypeError,
            "^cost must have a floating dtype",
            TypeError,
            "^cost must have a floating dtype",
        ),
        (
            "cost-bool",
            lambda: lsa_cost().bool(),
            lsa_offsets,
            None,
            None,
            TypeError,
            "^cost must have a floating dtype",
        ),
        ("offsets-int32", lsa_cost, lambda: lsa_offsets().int(), None, None, TypeError, "^offsets must be int64"),
        (
            "offsets-uint8",
            lsa_cost,
            lambda: lsa_offsets().to(torch.uint8),
            None,
            None,
            TypeError,
            "^offsets must be int64",
        ),
    ]
    + [
        (
            f"offsets-{dtype}",
            lsa_cost,
            lambda d=dtype: lsa_offsets().to(d),
            TypeError,
            "^offsets must be an integer",
            TypeError,
            "^offsets must be int64",
        )
        for dtype in (torch.float32, torch.float64, torch.bool, torch.complex64)
    ]
    + [
        (
            f"offsets-{device}",
            lsa_cost,
            lambda d=device: lsa_offsets().to(d),
            ValueError,
            r"^offsets must be on cost's device \(cpu\)",
            ValueError,
            r"^offsets must be on the device of cost \(cpu\)",
        )
        for device in OTHER_DEVICES
    ]
    + [
        (
            f"cost-{device}",
            lambda d=device: lsa_cost().to(d),
            lsa_offsets,
            ValueError,
            rf"^offsets must be on cost's device \({device}",
            ValueError,
            rf"^offsets must be on the device of cost \({device}",
        )
        for device in OTHER_DEVICES
    ]
    + [
        # rows + problems * columns workspace slots past 2**60: refused before any allocation.
        (
            "too-large-batch",
            lambda: torch.empty(0, 2**62),
            lambda: torch.zeros(3, dtype=torch.int64),
            ValueError,
            "^cost and offsets describe too large a batch",
            ValueError,
            "^cost and offsets describe too large a batch",
        ),
        (
            "too-large-batch-int64-max-columns",
            lambda: torch.empty(0, 2**63 - 1),
            lambda: torch.zeros(2, dtype=torch.int64),
            ValueError,
            "^cost and offsets describe too large a batch",
            ValueError,
            "^cost and offsets describe too large a batch",
        ),
    ]
)
for label, cost, offsets, error, pattern, raw_error, raw_pattern in RAGGED_ARGUMENTS:
    if error is not None:
        bad(
            f"{RAGGED}-{label}",
            lambda c=cost, o=offsets: idmatch.ragged_linear_sum_assignment(c(), o()),
            error,
            pattern,
        )
    bad(f"raw.{RAGGED}-{label}", lambda c=cost, o=offsets: RAW_RAGGED(c(), o(), False), raw_error, raw_pattern)
    if label not in REAL_KERNEL_ONLY and not any(label.endswith(device) for device in OTHER_DEVICES):
        bad(
            f"raw.{RAGGED}-{label}-all-meta",
            lambda c=cost, o=offsets: RAW_RAGGED(c().to("meta"), o().to("meta"), False),
            raw_error,
            raw_pattern,
        )

BAD_OFFSETS = {
    "negative": [-1, 1, 3],
    "beyond-rows": [0, 1, 4],
    "decreasing": [0, 2, 1],
    "2**31+5": [0, 2**31 + 5],
    "2**40": [0, 1, 2**40],
    "int64-max": [0, 2**63 - 1],
    "int64-min": [-(2**63), 0, 3],
    "-2**31-5": [-(2**31) - 5, 3],
}
for label, values in BAD_OFFSETS.items():
    bad(
        f"{RAGGED}-offsets-{label}",
        lambda v=values: idmatch.ragged_linear_sum_assignment(lsa_cost(), torch.tensor(v)),
        ValueError,
        "^offsets must",
    )
bad(
    f"{RAGGED}-offsets-int32-max",
    lambda: idmatch.ragged_linear_sum_assignment(lsa_cost(), torch.tensor([0, 2**31 - 1], dtype=torch.int32)),
    ValueError,
    "^offsets must lie in",
)
bad(
    f"{RAGGED}-offsets-uint64-past-int64",
    lambda: idmatch.ragged_linear_sum_assignment(lsa_cost(), torch.tensor([0, 2**63 + 5], dtype=torch.uint64)),
    ValueError,
    "^offsets must",
)


def ragged_with(value: float, dtype=torch.float32) -> torch.Tensor:
    cost = lsa_cost().to(dtype)
    cost[2, 1] = value  # problem 1 (rows 1 and 2)
    return cost


for dtype in FLOATING_DTYPES:
    for label, value, maximize in (("nan", NAN, False), ("-inf", -INF, False), ("+inf-maximize", INF, True)):
        bad(
            f"{RAGGED}-{label}-{dtype}",
            lambda v=value, d=dtype, m=maximize: idmatch.ragged_linear_sum_assignment(
                ragged_with(v, d), lsa_offsets(), m
            ),
            ValueError,
            rf"^problem\[1\]: {INVALID}$",
        )
bad(
    f"{RAGGED}-infeasible",
    lambda: idmatch.ragged_linear_sum_assignment(lsa_cost().index_fill(1, torch.tensor([0, 1, 2]), INF), lsa_offsets()),
    ValueError,
    rf"^problem\[1\]: {INFEASIBLE}$",
)
bad(
    f"{RAGGED}-2**31-columns",
    lambda: idmatch.ragged_linear_sum_assignment(torch.empty(0, 2**31), torch.tensor([0, 0])),
    ValueError,
    r"^problem\[0\]: problem is too large",
)


# ---------------------------------------------------------------------------
# The raw ops on bad values: reports, never exceptions.


def raw_ragged_statuses(cost: torch.Tensor, offsets: torch.Tensor, maximize: bool):
    col_for_row, status = RAW_RAGGED(cost, offsets, maximize)
    assert col_for_row.shape == (cost.shape[0],) and status.shape == (offsets.shape[0] - 1,)
    return col_for_row, status


for label, values in BAD_OFFSETS.items():

    @report(f"raw.{RAGGED}-offsets-{label}")
    def _check(values=values):
        col_for_row, status = raw_ragged_statuses(lsa_cost(), torch.tensor(values), False)
        assert status.tolist() == [3] * (len(values) - 1) and col_for_row.tolist() == [-1, -1, -1]


for dtype in FLOATING_DTYPES:
    for label, value, maximize, code in (
        ("nan", NAN, False, 1),
        ("-inf", -INF, False, 1),
        ("+inf-maximize", INF, True, 1),
        ("nan-maximize", NAN, True, 1),
    ):

        @report(f"raw.{RAGGED}-{label}-{dtype}")
        def _check(value=value, dtype=dtype, maximize=maximize, code=code):
            col_for_row, status = raw_ragged_statuses(ragged_with(value, dtype), lsa_offsets(), maximize)
            good = scipy_lsa(lsa_cost()[:1].numpy(), maximize=maximize)[1].tolist()
            assert status.tolist() == [0, code] and col_for_row.tolist() == good + [-1, -1]


@report(f"raw.{RAGGED}-infeasible")
def _check_infeasible():
    col_for_row, status = raw_ragged_statuses(
        lsa_cost().index_fill(1, torch.tensor([0, 1, 2]), INF), lsa_offsets(), False
    )
    assert status.tolist() == [0, 2] and col_for_row.tolist() == [3, -1, -1]


@report(f"raw.{RAGGED}-2**31-columns")
def _check_wide():
    col_for_row, status = raw_ragged_statuses(torch.empty(0, 2**31), torch.tensor([0, 0, 0]), False)
    assert status.tolist() == [3, 3] and col_for_row.shape == (0,)


def raw_sample(args: dict) -> torch.Tensor:
    return torch.ops.idmatch.sample_class_maps(*(args[n] for n in SAMPLE_ARGS))


def raw_classify(args: dict):
    return torch.ops.idmatch.classify_peaks_from_maps(*(args[n] for n in CLASSIFY_ARGS))


def one_failed_group(code: Status) -> List[List[int]]:
    """The statuses of the scenes' 2 x 3 groups when group (sample 0,
    channel 1) alone fails, with `code`."""
    ok = Status.OK.value
    return [[ok, code.value, ok], [ok, ok, ok]]


def expected_probs(args: dict, bad_peaks: List[int]) -> torch.Tensor:
    """The reference's probabilities, NaN rows for the bad peaks."""
    good = identity_scene()
    probs = reference.sample_class_maps(args["class_maps"], good["peak_points"], good["peak_sample_inds"])
    probs[bad_peaks] = NAN
    return probs


def class_inds_without(probs, samples, channels, code: PeakCode, bad_peak: int = 3) -> torch.Tensor:
    """The raw matching ops' class_inds on a scene of 2 x 3 groups where
    `bad_peak` has an index out of range: its PeakCode, and for the other
    peaks the reference's matches among themselves."""
    keep = torch.tensor([p for p in range(len(samples)) if p != bad_peak])
    peaks, classes = reference.group_class_peaks(probs[keep], samples[keep], channels[keep], 2, 3)
    expected = torch.full((len(samples),), PeakCode.UNMATCHED.value, dtype=torch.int64)
    expected[keep[peaks]] = classes
    expected[bad_peak] = code.value
    return expected


def check_raw_classify_without(args: dict, code: PeakCode, bad_peak: int = 3) -> None:
    """Every output of the raw fused op on the identity scene whose peak
    `bad_peak` has an index out of range (in `args`): the reference's on the
    other peaks, the peak's PeakCode, every group ok, one problem."""
    good = identity_scene()
    points, point_vals, class_probs, class_inds, status, problems = raw_classify(args)
    keep = [p for p in range(5) if p != bad_peak]
    want = reference.classify_peaks_from_maps(
        good["class_maps"], *(good[n][keep] for n in CLASSIFY_ARGS[1:-1]), good["n_channels"]
    )
    for name, actual, expected in zip(("points", "point_vals", "class_probs"), (points, point_vals, class_probs), want):
        assert_identical(actual, expected, name)
    probs = reference.sample_class_maps(good["class_maps"], good["peak_points"], good["peak_sample_inds"])
    expected_inds = class_inds_without(probs, good["peak_sample_inds"], good["peak_channel_inds"], code, bad_peak)
    assert_identical(class_inds, expected_inds, "class_inds")
    assert_identical(status, torch.full((2, 3), Status.OK.value, dtype=torch.int32), "status")
    assert int(problems) == 1


def check_raw_match_without(samples, channels, code: PeakCode) -> None:
    """Every output of the raw matching op on the match scene, with these
    indices (peak 3's out of range)."""
    good = match_scene()
    class_inds, status = torch.ops.idmatch.match_peaks_to_classes(good["peak_class_probs"], samples, channels, 2, 3)
    expected = class_inds_without(good["peak_class_probs"], good["peak_sample_inds"], good["peak_channel_inds"], code)
    assert_identical(class_inds, expected, "class_inds")
    assert_identical(status, torch.full((2, 3), Status.OK.value, dtype=torch.int32), "status")


for dtype, value in WILD_INDICES:
    tag = f"{str(dtype).replace('torch.', '')}={value}"

    @report(f"raw.sample_class_maps-peak_sample_inds-{tag}")
    def _check(dtype=dtype, value=value):
        args = identity_scene()
        args["peak_sample_inds"] = with_index(args["peak_sample_inds"], dtype, value)
        assert_identical(raw_sample(args), expected_probs(args, [3]), "probs")

    @report(f"raw.classify_peaks_from_maps-peak_sample_inds-{tag}")
    def _check(dtype=dtype, value=value):
        args = identity_scene()
        args["peak_sample_inds"] = with_index(args["peak_sample_inds"], dtype, value)
        check_raw_classify_without(args, PeakCode.SAMPLE_OUT_OF_RANGE)

    @report(f"raw.match_peaks_to_classes-peak_sample_inds-{tag}")
    def _check(dtype=dtype, value=value):
        args = match_scene()
        samples = with_index(args["peak_sample_inds"], dtype, value)
        check_raw_match_without(samples, args["peak_channel_inds"], PeakCode.SAMPLE_OUT_OF_RANGE)

    if value == 2:
        continue

    @report(f"raw.match_peaks_to_classes-peak_channel_inds-{tag}")
    def _check(dtype=dtype, value=value):
        args = match_scene()
        channels = with_index(args["peak_channel_inds"], dtype, value)
        check_raw_match_without(args["peak_sample_inds"], channels, PeakCode.CHANNEL_OUT_OF_RANGE)

    @report(f"raw.classify_peaks_from_maps-peak_channel_inds-{tag}")
    def _check(dtype=dtype, value=value):
        args = identity_scene()
        args["peak_channel_inds"] = with_index(args["peak_channel_inds"], dtype, value)
        check_raw_classify_without(args, PeakCode.CHANNEL_OUT_OF_RANGE)


@report("raw.match_peaks_to_classes-no-groups")
def _check_no_groups():
    args = match_scene()
    sample_out, channel_out = PeakCode.SAMPLE_OUT_OF_RANGE.value, PeakCode.CHANNEL_OUT_OF_RANGE.value
    for n_samples, n_channels, code in ((0, 3, sample_out), (2, 0, channel_out), (0, 0, sample_out)):
        class_inds, status = torch.ops.idmatch.match_peaks_to_classes(
            args["peak_class_probs"], args["peak_sample_inds"], args["peak_channel_inds"], n_samples, n_channels
        )
        assert class_inds.tolist() == [code] * 5 and status.shape == (n_samples, n_channels)


for dtype in FLOATING_DTYPES:
    for column in (0, 1):

        @report(f"raw.sample_class_maps-peak_points-nan-{'xy'[column]}-{dtype}")
        def _check(dtype=dtype, column=column):
            args = identity_scene()
            args["peak_points"] = with_point(args["peak_points"], dtype, column, NAN)
            assert_identical(raw_sample(args), expected_probs(args, [2]), "probs")

        @report(f"raw.classify_peaks_from_maps-peak_points-nan-{'xy'[column]}-{dtype}")
        def _check(dtype=dtype, column=column):
            args = identity_scene()
            args["peak_points"] = with_point(args["peak_points"], dtype, column, NAN)
            points, point_vals, class_probs, class_inds, status, problems = raw_classify(args)
            # Peak 2 is alone in group (sample 0, channel 1): that group fails, the others do not.
            assert status.tolist() == one_failed_group(Status.INVALID_ENTRIES) and int(problems) == 1
            assert class_inds[2] == PeakCode.UNMATCHED.value
            assert bool(torch.isnan(points[0, :, 1]).all()) and bool(torch.isnan(class_probs[0, :, 1]).all())

    for label, value, code in (("nan", NAN, Status.INVALID_ENTRIES), ("+inf", INF, Status.INVALID_ENTRIES)):

        @report(f"raw.classify_peaks_from_maps-class_maps-{label}-{dtype}")
        def _check(value=value, dtype=dtype, code=code):
            args = identity_scene()
            args["class_maps"] = with_map_value(args["class_maps"], value, dtype)
            class_inds, status, problems = raw_classify(args)[3:]
            assert status.tolist() == one_failed_group(code) and int(problems) == 1
            assert class_inds[2] == PeakCode.UNMATCHED.value

        @report(f"raw.match_peaks_to_classes-peak_class_probs-{label}-{dtype}")
        def _check(value=value, dtype=dtype, code=code):
            args = match_scene()
            probs = with_prob(args["peak_class_probs"], value, dtype)
            class_inds, status = torch.ops.idmatch.match_peaks_to_classes(
                probs, args["peak_sample_inds"], args["peak_channel_inds"], 2, 3
            )
            assert status.tolist() == one_failed_group(code) and class_inds[2] == PeakCode.UNMATCHED.value


@report("raw.classify_peaks_from_maps-class_maps-forbidden")
def _check_forbidden():
    args = identity_scene()
    args["class_maps"] = with_forbidden_row(args["class_maps"])
    class_inds, status, problems = raw_classify(args)[3:]
    assert status.tolist() == one_failed_group(Status.INFEASIBLE) and int(problems) == 1
    assert class_inds[2] == PeakCode.UNMATCHED.value


for label, maps in (("height-0", lambda m: m[:, :, :0]), ("width-0", lambda m: m[..., :0])):

    @report(f"raw.sample_class_maps-class_maps-{label}")
    def _check(maps=maps):
        args = identity_scene()
        args["class_maps"] = maps(args["class_maps"])
        probs = raw_sample(args)
        assert probs.shape == (5, 3) and bool(torch.isnan(probs).all())

    @report(f"raw.classify_peaks_from_maps-class_maps-{label}")
    def _check(maps=maps):
        args = identity_scene()
        args["class_maps"] = maps(args["class_maps"])
        points, point_vals, class_probs, class_inds, status, problems = raw_classify(args)
        assert status.tolist() == [[1, 1, 1], [1, 1, 0]] and class_inds.tolist() == [-1] * 5 and int(problems) == 5
        assert points.shape == (2, 3, 3, 2) and bool(torch.isnan(points).all())


@report("raw.classify_peaks_from_maps-class_maps-no-samples")
def _check_no_samples():
    args = identity_scene()
    args["class_maps"] = args["class_maps"][:0]
    points, _, _, class_inds, status, problems = raw_classify(args)
    assert class_inds.tolist() == [-2] * 5 and status.shape == (0, 3) and points.shape == (0, 3, 3, 2)
    assert problems.shape == () and problems.dtype == torch.int64 and int(problems) == 5


# Values the contract accepts although they look wrong: infinite and huge
# coordinates clamp to the border, NaN peak values are copied.
for label, value in (
    ("+inf", INF),
    ("-inf", -INF),
    ("1e300", 1e300),
    ("-1e300", -1e300),
    ("2**63", 2.0**63),
    ("float16-max", 65504.0),
):

    @report(f"sample_class_maps-peak_points-{label}-clamps")
    def _check(value=value):
        args = identity_scene()
        dtype = torch.float16 if value == 65504.0 else torch.float64
        args["peak_points"] = with_point(args["peak_points"], dtype, 1, value)
        probs = idmatch.sample_class_maps(*(args[n] for n in SAMPLE_ARGS))
        assert_identical(probs, reference.sample_class_maps(*(args[n] for n in SAMPLE_ARGS)), "probs")


@report("classify_peaks_from_maps-peak_vals-nan-copied")
def _check_nan_vals():
    args = identity_scene()
    args["peak_vals"] = torch.full((5,), NAN)
    actual = idmatch.classify_peaks_from_maps(*(args[n] for n in CLASSIFY_ARGS))
    for a, e in zip(actual, reference.classify_peaks_from_maps(*(args[n] for n in CLASSIFY_ARGS))):
        assert_identical(a, e, "outputs")


# ---------------------------------------------------------------------------
# The tests.


def _run(call):
    try:
        call()
    except Exception as error:  # noqa: BLE001 - type and message are the subject of the test
        return error
    return None


@pytest.mark.parametrize("case", BAD_INPUT_CASES, ids=[case.id for case in BAD_INPUT_CASES])
def test_bad_input_raises(case: Case):
    error = _run(case.call)
    assert error is not None, "no exception"
    if case.scipy_call is not None:
        scipy_error = _run(case.scipy_call)
        assert scipy_error is not None, "scipy does not raise: the case is wrong"
        assert (type(error), str(error)) == (type(scipy_error), str(scipy_error))
    else:
        assert type(error) is case.error, f"{type(error).__name__}: {error}"
        assert re.search(case.match, str(error)), f"message: {error}"
    assert_still_working()


@pytest.mark.parametrize("case", REPORT_CASES, ids=[case.id for case in REPORT_CASES])
def test_raw_op_reports(case: Report):
    case.check()
    assert_still_working()


def test_case_ids_are_unique():
    ids = [case.id for case in BAD_INPUT_CASES] + [case.id for case in REPORT_CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
