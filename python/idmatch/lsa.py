"""Linear sum assignment: scipy's contract for one matrix, and batched forms.

Every function solves with scipy's shortest augmenting path algorithm in
float64, on the input's device, and returns exactly scipy's assignment, ties
included. The raw op underneath, ``torch.ops.idmatch.ragged_linear_sum_assignment``,
never raises on values and never syncs; these wrappers check its per-problem
status and raise scipy's errors (which costs a device-to-host copy of the
status on CUDA). While torch.compile or torch.export trace them, the value
checks are skipped and the raw ops' contract holds: rows of a failed problem
get -1.
"""

from typing import List, Tuple, Union

import numpy as np
import torch

from ._common import Status, _check_tensor, _is_compiling, _status_message


def _unravel(flat: int, shape: List[int]) -> str:
    parts: List[str] = []
    for size in shape[::-1]:
        parts.append(str(flat % size))
        flat = flat // size
    return ", ".join(parts[::-1])


def _raise_for_status(status: torch.Tensor, batch_shape: List[int], name: str) -> None:
    """Raises ValueError naming the first problem whose status is not ok."""
    # Codes are never negative and OK is 0, so one max over the statuses
    # clears the common case (cheaper than any(), which casts to bool first).
    if status.numel() > 0 and int(status.amax()) != Status.OK.value:
        bad = status != Status.OK.value
        first = int(torch.argmax(bad.to(torch.int32)))
        code = int(status[first])
        if len(batch_shape) == 0:
            raise ValueError(_status_message(code))  # one matrix: scipy's message as it is
        raise ValueError(f"{name}[{_unravel(first, batch_shape)}]: {_status_message(code)}")


def _as_floating(cost: torch.Tensor, name: str) -> torch.Tensor:
    """Floating tensors pass as they are; integers and bools become float64,
    as scipy casts them; anything else is refused."""
    if cost.is_floating_point():
        return cost
    if cost.is_complex():
        raise TypeError(f"{name} must be a real (floating, integer or bool) tensor, got {cost.dtype}")
    return cost.to(torch.float64)


def batch_linear_sum_assignment(cost: torch.Tensor, maximize: bool = False) -> torch.Tensor:
    """Solves a batch of equally sized problems.

    Args:
        cost: (..., N, M) tensor of any real dtype (floating dtypes are used as
            they are, integer and bool ones as float64), on any device, of any
            strides. +inf forbids a pair (-inf when maximizing).
        maximize: find the maximum weight assignment instead of the minimum.

    Returns:
        (..., N) int64 on cost's device: the column of each row, -1 for rows
        left unassigned (when N > M). For every problem this equals scipy's
        ``linear_sum_assignment(cost[i], maximize)``.

    Raises:
        ValueError: cost is not at least 2-D, or a problem has NaN or -inf
            entries (+inf when maximizing) or is infeasible; the message names
            the first such problem, e.g. ``cost[3]: cost matrix is infeasible``.
        TypeError: cost is not a tensor, or is complex.
    """
    _check_tensor(cost, "cost")
    if cost.dim() < 2:
        raise ValueError(f"cost must have shape (..., N, M), got a {cost.dim()}-D tensor")
    cost = _as_floating(cost, "cost")
    batch_shape = list(cost.shape[:-2])
    rows = cost.shape[-2]
    cols = cost.shape[-1]
    batch = 1
    for size in batch_shape:
        batch *= size
    if rows > 0:
        # One op: a stepped arange rather than an arange times rows.
        offsets = torch.arange(0, (batch + 1) * rows, rows, dtype=torch.int64, device=cost.device)
    else:
        offsets = torch.zeros(batch + 1, dtype=torch.int64, device=cost.device)
    col_for_row, status = torch.ops.idmatch.ragged_linear_sum_assignment(
        cost.reshape(batch * rows, cols), offsets, maximize
    )
    if not _is_compiling():
        _raise_for_status(status, batch_shape, "cost")
    return col_for_row.reshape(batch_shape + [rows])


def ragged_linear_sum_assignment(cost: torch.Tensor, offsets: torch.Tensor, maximize: bool = False) -> torch.Tensor:
    """Solves problems of different row counts stacked into one matrix.

    Args:
        cost: (P, M) tensor of any real dtype; problem s is the block of rows
            ``cost[offsets[s]:offsets[s + 1]]``.
        offsets: (S + 1,) integer tensor on cost's device, non-decreasing,
            from 0 to at most P. Rows outside every problem get -1.
        maximize: find the maximum weight assignment instead.

    Returns:
        (P,) int64: the column of each row within its problem, -1 if unassigned.

    Raises:
        ValueError: bad shapes or offsets, or a problem with invalid entries or
            infeasible (the message names it: ``problem[7]: ...``).
        TypeError: cost is complex or offsets is not an integer tensor (or
            either is not a tensor).
    """
    _check_tensor(cost, "cost")
    _check_tensor(offsets, "offsets")
    if cost.dim() != 2:
        raise ValueError(f"cost must be a 2-D tensor (P, M), got a {cost.dim()}-D tensor")
    if offsets.dim() != 1 or offsets.shape[0] < 1:
        raise ValueError(f"offsets must be a 1-D tensor of length S + 1 >= 1, got shape {list(offsets.shape)}")
    if offsets.is_floating_point() or offsets.is_complex() or offsets.dtype == torch.bool:
        raise TypeError(f"offsets must be an integer tensor, got {offsets.dtype}")
    if offsets.device != cost.device:
        raise ValueError(f"offsets must be on cost's device ({cost.device}), got {offsets.device}")
    cost = _as_floating(cost, "cost")
    offsets = offsets.to(torch.int64)
    if not _is_compiling() and offsets.numel() > 0:
        if bool(offsets[0] < 0) or bool(offsets[-1] > cost.shape[0]):
            raise ValueError(
                f"offsets must lie in [0, {cost.shape[0]}] (the rows of cost), got "
                f"{int(offsets.min())}..{int(offsets.max())}"
            )
        if bool((offsets[1:] < offsets[:-1]).any()):
            raise ValueError("offsets must be non-decreasing")
    col_for_row, status = torch.ops.idmatch.ragged_linear_sum_assignment(cost, offsets, maximize)
    if not _is_compiling():
        _raise_for_status(status, [status.shape[0]], "problem")
    return col_for_row


def _scipy_input(cost_matrix) -> np.ndarray:
    # scipy converts as numpy does when asked for float64: an array (or an
    # object exporting one) must cast safely, while sequences and scalars are
    # converted element by element ("1.5" parses, None becomes NaN, large ints
    # round). The dtype is checked before the rank.
    is_array = isinstance(cost_matrix, np.ndarray) or (
        not isinstance(cost_matrix, np.generic)
        and any(hasattr(cost_matrix, name) for name in ("__array__", "__array_interface__", "__array_struct__"))
    )
    if is_array:
        array = np.asarray(cost_matrix)
        if not np.can_cast(array.dtype, np.float64, casting="safe"):
            raise TypeError(
                f"Cannot cast array data from {array.dtype!r} to dtype('float64') according to the rule 'safe'"
            )
    else:
        array = np.asarray(cost_matrix, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"expected a matrix (2-D array), got a {array.ndim} array")
    return array


def linear_sum_assignment(
    cost_matrix: Union[torch.Tensor, np.ndarray, list], maximize: bool = False
) -> Union[Tuple[torch.Tensor, torch.Tensor], Tuple[np.ndarray, np.ndarray]]:
    """scipy.optimize.linear_sum_assignment, as a torch op.

    Args:
        cost_matrix: a 2-D cost matrix: a tensor (any real dtype, any device)
            or anything numpy.asarray takes.
        maximize: find the maximum weight assignment instead.

    Returns:
        (row_ind, col_ind): int64 tensors on cost_matrix's device for a tensor
        input, numpy int64 arrays otherwise; the assigned pairs in ascending
        row order, min(N, M) of them, equal to scipy's.

    Raises:
        ValueError: not 2-D ("expected a matrix (2-D array), ..."), NaN or
            -inf entries, +inf when maximizing ("matrix contains invalid
            numeric entries"), or no complete assignment avoids +inf entries
            ("cost matrix is infeasible"): scipy's messages.
        TypeError: entries that do not cast safely to float64 (complex, text).
    """
    maximize = bool(maximize)  # scipy takes any object with a truth value, and converts it first
    if isinstance(cost_matrix, torch.Tensor):
        cost = _as_floating(cost_matrix, "cost_matrix")  # before the rank, as scipy
        if cost.dim() != 2:
            raise ValueError(f"expected a matrix (2-D array), got a {cost.dim()} array")
        return _solve_one(cost, maximize)
    array = np.ascontiguousarray(_scipy_input(cost_matrix), dtype=np.float64)
    if any(stride < 0 for stride in array.strides):
        # numpy counts a one-element view as contiguous whatever its strides
        # (e.g. a[::-1, ::-1] of a 1 x 1 array); torch takes no negative strides.
        array = array.copy()
    matrix = torch.from_numpy(array)
    row_ind, col_ind = _solve_one(matrix, maximize)
    return row_ind.numpy(), col_ind.numpy()


def _solve_one(cost: torch.Tensor, maximize: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    rows, cols = cost.shape
    offsets = torch.tensor([0, rows], dtype=torch.int64, device=cost.device)
    col_for_row, status = torch.ops.idmatch.ragged_linear_sum_assignment(cost, offsets, maximize)
    if not _is_compiling():
        _raise_for_status(status, [], "cost_matrix")
    if rows <= cols:
        return torch.arange(rows, device=cost.device), col_for_row
    # Tall: exactly `cols` rows are assigned; a stable sort on "unassigned"
    # lists them first, in ascending order, with no data-dependent shape.
    row_ind = torch.argsort((col_for_row < 0).to(torch.int8), stable=True)[:cols]
    return row_ind, col_for_row[row_ind]
