"""What the Python wrappers and the fake kernels share: the raw ops' codes,
the dtypes the kernels read, and the argument checks written once.

Everything here that the wrappers call is scriptable with torch.jit.script:
the enums are compared through ``.value``, and the dtype lists are functions
because TorchScript cannot read a module-level tuple.
"""

from enum import Enum
from typing import List

import torch


class Status(Enum):
    """Outcome of one problem in the raw ops' ``status`` outputs (int32).

    ``torch.ops.idmatch.ragged_linear_sum_assignment`` reports one per
    problem, ``match_peaks_to_classes`` and ``classify_peaks_from_maps`` one
    per (sample, channel) group. The raw ops never raise on values: the rows
    of a problem that is not OK get -1, and the Python functions turn the
    first such status into a ValueError. Mirrors ``Status`` in
    csrc/core/lsa_core.h.

    - ``OK`` (0): solved.
    - ``INVALID_ENTRIES`` (1): a NaN or -inf entry (+inf when maximizing),
      scipy's "matrix contains invalid numeric entries".
    - ``INFEASIBLE`` (2): no complete assignment avoids the forbidden pairs
      (+inf, or -inf when maximizing), scipy's "cost matrix is infeasible".
    - ``INVALID_PROBLEM`` (3): the problem's offsets are out of order or out
      of range, or a dimension is over 2**31 - 1.
    - ``INFEASIBLE_RESOLVED`` (4): ``match_paf_candidates`` only: scipy would
      raise "cost matrix is infeasible"; the op matched a largest set of
      finite pairs instead, of least total cost among those.
    """

    OK = 0
    INVALID_ENTRIES = 1
    INFEASIBLE = 2
    INVALID_PROBLEM = 3
    INFEASIBLE_RESOLVED = 4


class PeakCode(Enum):
    """Codes in the raw matching ops' per-peak ``class_inds`` (int64) besides
    a class index (>= 0).

    Mirrors ``PeakCode`` in csrc/core/identity.h.

    - ``UNMATCHED`` (-1): the peak got no class (its group has more peaks
      than classes), or lost it to the keep-best filter (the class is not the
      peak's most probable one).
    - ``SAMPLE_OUT_OF_RANGE`` (-2): the peak's sample index is outside
      [0, n_samples); the peak was ignored.
    - ``CHANNEL_OUT_OF_RANGE`` (-3): the peak's channel index is outside
      [0, n_channels); the peak was ignored.
    """

    UNMATCHED = -1
    SAMPLE_OUT_OF_RANGE = -2
    CHANNEL_OUT_OF_RANGE = -3


def floating_dtypes() -> List[torch.dtype]:
    """The floating dtypes the kernels read (csrc/ops/ragged_lsa_checks.h,
    is_kernel_floating); float8 is floating to torch, but not to them."""
    return [torch.float64, torch.float32, torch.float16, torch.bfloat16]


def index_dtypes() -> List[torch.dtype]:
    """The integer dtypes the kernels read as indices (csrc/ops/identity_common.h,
    scalar_kind)."""
    return [torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8]


# The same lists as tuples, for Python callers.
FLOATING_DTYPES = tuple(floating_dtypes())
INDEX_DTYPES = tuple(index_dtypes())


def _is_compiling() -> bool:
    """Whether torch.compile or torch.export is tracing: value checks are
    skipped then, and the raw ops' status contract holds."""
    if torch.jit.is_scripting():
        return False
    return torch.compiler.is_compiling()


def _status_message(code: int) -> str:
    # scipy's words for the first two.
    if code == Status.INVALID_ENTRIES.value:
        return "matrix contains invalid numeric entries"
    if code == Status.INFEASIBLE.value:
        return "cost matrix is infeasible"
    return "problem is too large (a dimension over 2**31 - 1) or its rows are out of range"


def _check_tensor(value: torch.Tensor, name: str) -> None:
    # Scripted callers are typed already (the branch is resolved statically);
    # eager callers get a TypeError naming the argument instead of an
    # AttributeError from the first tensor method.
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")


def _check_floating(t: torch.Tensor, name: str) -> None:
    """TypeError unless t has a dtype of floating_dtypes()."""
    if t.dtype not in floating_dtypes():
        raise TypeError(f"{name} must have a floating dtype (float64, float32, float16 or bfloat16), got {t.dtype}")


def _check_same_device(t: torch.Tensor, name: str, ref: torch.Tensor, ref_name: str) -> None:
    """ValueError unless t is on ref's device."""
    if t.device != ref.device:
        raise ValueError(f"{name} must be on the device of {ref_name} ({ref.device}), got {t.device}")
