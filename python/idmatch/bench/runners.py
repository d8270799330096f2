"""Who solves each workload, and whether the answers are right.

``prepare`` gives a workload's runners: the callables to time, which one is
idmatch (the baseline of the speed-ups), which one gives the right answers
(the oracle) and how answers compare. LSA: idmatch, scipy in a Python loop
(the oracle), lap/lapx and torch-linear-assignment where installed. Identity:
the Python API, the raw op underneath it, and the reference algorithm
(``idmatch.reference``: one scipy call per (sample, node) group in a Python
loop, as sleap-nn does it), which is the oracle: idmatch must give the same
three outputs, NaN for NaN, in the same dtypes and shapes.

``check_answers`` runs every runner once and compares its answers with the
oracle's, before anything is timed: a benchmark of wrong answers is worthless.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

import idmatch

from .timing import synchronize
from .workloads import (
    IdentitySpec,
    LsaSpec,
    PaddedSpec,
    PafSpec,
    PredictorSpec,
    SetupContext,
    Workload,
    identity_inputs,
    identity_shape,
    lsa_inputs,
    lsa_shape,
)


@dataclass
class Check:
    """How a runner's answers compare with the oracle's."""

    status: str  # "exact", "equivalent" (other optimum on ties), "mismatch", "error", "unchecked"
    detail: str = ""


@dataclass
class Runner:
    """One way of solving a workload.

    ``fn`` is what gets timed, so it does all the work a user would do,
    conversions included. ``result`` turns fn's output into the form that
    ``Prepared.compare`` takes; it runs once, outside the timing.
    """

    fn: Callable[[], Any]
    result: Callable[[Any], Any] = lambda output: output
    label: str = ""  # how the runner solves it, for the JSON


@dataclass
class Prepared:
    shape: str
    runners: Dict[str, Runner]
    baseline: str = "idmatch"
    oracle: Optional[str] = None
    # (oracle's result, runner's result) -> Check; required when oracle is set.
    compare: Optional[Callable[[Any, Any], Check]] = None
    notes: List[str] = field(default_factory=list)


def prepare(workload: Workload, ctx: SetupContext) -> Prepared:
    if isinstance(workload.spec, LsaSpec):
        return lsa_runners(workload.spec, ctx)
    if isinstance(workload.spec, IdentitySpec):
        return identity_runners(workload.spec, ctx)
    from . import sleap

    if isinstance(workload.spec, PaddedSpec):
        return sleap.padded_runners(workload.spec, ctx)
    if isinstance(workload.spec, PafSpec):
        return sleap.paf_runners(workload.spec, ctx)
    if isinstance(workload.spec, PredictorSpec):
        return sleap.predictor_runners(workload.spec, ctx)
    raise TypeError(f"workload {workload.name}: no runners for a {type(workload.spec).__name__}")


# --------------------------------------------------------------------------
# Optional peers
# --------------------------------------------------------------------------


def dist_version(name: str) -> Optional[str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _optional_module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def peer_versions() -> Dict[str, Optional[str]]:
    names = ("scipy", "lapx", "lap", "torch-linear-assignment", "sleap-nn", "matplotlib")
    return {name: dist_version(name) for name in names}


def _lap_distribution() -> str:
    # lap and lapx both install the module `lap`.
    for name in ("lapx", "lap"):
        if dist_version(name) is not None:
            return f"{name} {dist_version(name)}"
    return "lap"


INSTALL_LAP = "lap/lapx not installed, skipped: pip install lapx"
INSTALL_SLEAP_NN = (
    "W workloads: sleap-nn's identity module (sleap_nn/inference/ops/identity.py) not found, skipped:"
    " pip install --no-deps sleap-nn==0.3.5 (the module needs only torch, numpy and scipy)"
)
INSTALL_TLA = "torch-linear-assignment not installed, skipped: pip install torch-linear-assignment (it pulls in triton)"


# --------------------------------------------------------------------------
# LSA: idmatch, scipy loop (the oracle), lap/lapx, torch-linear-assignment
# --------------------------------------------------------------------------


def _assignment_from_pairs(pairs: Sequence[Tuple[Any, Any]], rows: int) -> np.ndarray:
    """(B, rows) column of each row, -1 where unassigned, from scipy-style
    (row_ind, col_ind) pairs."""
    out = np.full((len(pairs), rows), -1, dtype=np.int64)
    for b, (row_ind, col_ind) in enumerate(pairs):
        out[b, np.asarray(row_ind, dtype=np.int64)] = np.asarray(col_ind, dtype=np.int64)
    return out


def _assignment_totals(costs: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    picked = np.take_along_axis(costs, np.clip(assignment, 0, None)[..., None], axis=2)[..., 0]
    return np.where(assignment >= 0, picked, 0.0).sum(axis=1)


def _is_complete_assignment(assignment: np.ndarray, cols: int) -> bool:
    assigned = assignment[assignment >= 0]
    return (
        assigned.size == min(assignment.size, cols)
        and bool((assignment < cols).all())
        and np.unique(assigned).size == assigned.size
    )


def compare_assignments(costs: np.ndarray) -> Callable[[np.ndarray, np.ndarray], Check]:
    """Compares (B, N) assignments: identical, or another optimum (same total
    cost: the problem has ties), or wrong."""
    costs = np.asarray(costs, dtype=np.float64)
    batch, _, cols = costs.shape

    def compare(expected: np.ndarray, got: np.ndarray) -> Check:
        if got.shape != expected.shape:
            return Check("mismatch", f"shape {got.shape}, expected {expected.shape}")
        differs = np.flatnonzero((got != expected).any(axis=1))
        if differs.size == 0:
            return Check("exact")
        wrong = [
            int(b)
            for b in differs
            if not _is_complete_assignment(got[b], cols)
            or not np.isclose(
                _assignment_totals(costs[b : b + 1], got[b : b + 1])[0],
                _assignment_totals(costs[b : b + 1], expected[b : b + 1])[0],
                rtol=1e-9,
                atol=1e-9,
            )
        ]
        if wrong:
            return Check(
                "mismatch",
                f"{len(wrong)} of {batch} problems not optimal or not complete (first: problem {wrong[0]})",
            )
        return Check("equivalent", f"{differs.size} of {batch} problems: another optimal assignment")

    return compare


def lsa_runners(spec: LsaSpec, ctx: SetupContext) -> Prepared:
    from scipy.optimize import linear_sum_assignment

    host = lsa_inputs(spec, ctx)
    cost = host.to(ctx.device)
    rows = host.shape[1]
    single = spec.batch is None

    runners: Dict[str, Runner] = {}
    notes: List[str] = []
    # idmatch as the workload calls it: on the device's tensor, and on a GPU
    # also on the host's copy ("idmatch cpu", below).
    if single:
        api_name, on_device, on_cpu = "linear_sum_assignment", cost[0], host[0]

        def assignment(out) -> np.ndarray:
            return _assignment_from_pairs([(out[0].cpu().numpy(), out[1].cpu().numpy())], rows)

    else:
        api_name, on_device, on_cpu = "batch_linear_sum_assignment", cost, host

        def assignment(out) -> np.ndarray:
            return out.cpu().numpy()

    api = getattr(idmatch, api_name)
    runners["idmatch"] = Runner(
        lambda: api(on_device), assignment, f"idmatch.{api_name}" + ("" if single else " on the batch tensor")
    )

    # The host peers get the tensor as a user has it: on the device, so
    # bringing it to the host is part of their time (free on the CPU).
    def scipy_loop():
        host_cost = cost.cpu()
        return [linear_sum_assignment(host_cost[b].numpy()) for b in range(host_cost.shape[0])]

    runners["scipy"] = Runner(
        scipy_loop,
        lambda out: _assignment_from_pairs(out, rows),
        "scipy.optimize.linear_sum_assignment, one call per problem",
    )

    lap = _optional_module("lap")
    if lap is None:
        notes.append(INSTALL_LAP)
    else:

        def lap_loop():
            host_cost = cost.cpu()
            return [lap.lapjv(host_cost[b].numpy(), extend_cost=True) for b in range(host_cost.shape[0])]

        # lapjv returns (total, x, y) or (x, y): x is second from last either way.
        runners["lap.lapjv"] = Runner(
            lap_loop,
            lambda out: np.stack([np.asarray(o[-2], dtype=np.int64) for o in out]),
            f"{_lap_distribution()}: lap.lapjv(extend_cost=True), one call per problem",
        )
        if not single and hasattr(lap, "lapjvx_batch"):

            def lapx_batch():
                return lap.lapjvx_batch(cost.cpu().numpy(), extend_cost=True, return_cost=False)

            runners["lapx batch"] = Runner(
                lapx_batch,
                lambda out: _assignment_from_pairs(list(zip(out[0], out[1])), rows),
                f"{_lap_distribution()}: lap.lapjvx_batch(extend_cost=True), all cores",
            )

    if ctx.device.type != "cpu":
        runners["idmatch cpu"] = Runner(
            lambda: api(on_cpu),
            assignment,
            f"idmatch.{api_name} on a CPU copy made before timing: the CPU op on the same host",
        )

    tla = _optional_module("torch_linear_assignment")
    if tla is None:
        notes.append(INSTALL_TLA)
    else:
        runners["torch-linear-assignment"] = Runner(
            lambda: tla.batch_linear_assignment(cost),
            lambda out: out.cpu().numpy(),
            f"torch-linear-assignment {dist_version('torch-linear-assignment')}: "
            "batch_linear_assignment on the batch tensor",
        )

    return Prepared(
        shape=lsa_shape(spec, host),
        runners=runners,
        baseline="idmatch",
        oracle="scipy",
        compare=compare_assignments(host.numpy()),
        notes=notes,
    )


# --------------------------------------------------------------------------
# Identity: idmatch's API and raw op, the reference algorithm (the oracle)
# --------------------------------------------------------------------------

_OUTPUT_NAMES = ("points", "point_vals", "class_probs")

REFERENCE_NOTE = (
    "W workloads: reference = idmatch.reference.classify_peaks_from_maps (sleap-nn's algorithm: one scipy call"
    " per (sample, node) group in a Python loop), the oracle of their answers; idmatch raw op ="
    " torch.ops.idmatch.classify_peaks_from_maps, without the API's value checks."
)
REFERENCE_ON_HOST_NOTE = (
    "W workloads on CUDA: the reference runs on CPU copies of the inputs made before timing; idmatch runs on"
    " the device."
)


def _first_difference(expected: torch.Tensor, got: torch.Tensor) -> Tuple[int, Tuple[int, ...]]:
    expected_nan, got_nan = torch.isnan(expected), torch.isnan(got)
    differs = (expected_nan != got_nan) | (~expected_nan & ~got_nan & (expected != got))
    where = torch.nonzero(differs)
    return int(where.shape[0]), tuple(int(i) for i in where[0]) if where.shape[0] else ()


def compare_outputs(expected: Sequence[torch.Tensor], got: Sequence[torch.Tensor]) -> Check:
    """Exact equality of (points, point_vals, class_probs), CPU tensors: same
    dtypes and shapes, NaN exactly where the oracle has NaN, identical values
    elsewhere. A matching has no tolerance: one peak given to another class is
    a different answer."""
    if len(got) != len(expected):
        return Check("mismatch", f"{len(got)} outputs, expected {len(expected)}")
    problems: List[str] = []
    for name, want, have in zip(_OUTPUT_NAMES, expected, got):
        if have.dtype != want.dtype:
            problems.append(f"{name}: dtype {have.dtype}, expected {want.dtype}")
        elif have.shape != want.shape:
            problems.append(f"{name}: shape {tuple(have.shape)}, expected {tuple(want.shape)}")
        else:
            count, first = _first_difference(want, have)
            if count:
                problems.append(f"{name}: {count} of {want.numel()} entries differ (first at {first})")
    if problems:
        return Check("mismatch", "; ".join(problems))
    return Check("exact")


def _on_host(outputs: Sequence[torch.Tensor], device: torch.device) -> Tuple[torch.Tensor, ...]:
    # Results stay on the input's device by contract; a stray host copy would
    # also make the device timings meaningless.
    for name, tensor in zip(_OUTPUT_NAMES, outputs):
        if tensor.device.type != device.type:
            raise ValueError(f"{name} is on {tensor.device}, the inputs on {device}")
    return tuple(tensor.cpu() for tensor in outputs)


def graph_replay_runner(op: Callable[..., Any], args: Tuple[Any, ...], device: torch.device, label: str) -> Runner:
    """A runner that replays a CUDA graph of one call of `op`, the way an
    exported model runs it under graph replay: the launches cost no host
    time. The call is captured here, after warm-up calls on a side stream
    (as torch.cuda.graphs asks); a capture that fails makes the runner fail,
    which the answer check reports."""
    try:
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(2):
                op(*args)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = op(*args)
    except Exception as error:  # reported by check_answers, not fatal
        failure = error

        def replay() -> Any:
            raise RuntimeError(f"CUDA graph capture failed: {describe_error(failure)}")

    else:

        def replay() -> Any:
            graph.replay()
            return outputs

    return Runner(replay, lambda out: _on_host(out[:3], device), label)


def api_and_raw_runners(name: str, args: Tuple[Any, ...], device: torch.device) -> Dict[str, Runner]:
    """The runners "idmatch" (idmatch.NAME) and "idmatch raw op"
    (torch.ops.idmatch.NAME) of an op whose first three outputs are
    (points, point_vals, class_probs), on `args` already on `device`."""
    api, raw_op = getattr(idmatch, name), getattr(torch.ops.idmatch, name)
    return {
        "idmatch": Runner(lambda: api(*args), lambda out: _on_host(out, device), f"idmatch.{name}"),
        "idmatch raw op": Runner(
            lambda: raw_op(*args),
            lambda out: _on_host(out[:3], device),
            f"torch.ops.idmatch.{name} (no value checks, never syncs)",
        ),
    }


def identity_runners(spec: IdentitySpec, ctx: SetupContext) -> Prepared:
    # Imported here: it needs scipy, which the command line checks for after
    # listing the workloads.
    from .. import reference

    inputs = identity_inputs(spec, ctx)
    args = tuple(
        inputs[key]
        for key in ("class_maps", "peak_points", "peak_vals", "peak_sample_inds", "peak_channel_inds", "n_channels")
    )
    host_args = tuple(a.cpu() if isinstance(a, torch.Tensor) else a for a in args)
    device = ctx.device
    on_cuda = device.type == "cuda"

    runners = {
        **api_and_raw_runners("classify_peaks_from_maps", args, device),
        "reference": Runner(
            lambda: reference.classify_peaks_from_maps(*host_args),
            lambda out: tuple(out),
            "idmatch.reference.classify_peaks_from_maps: one scipy call per (sample, node) group"
            + (", on CPU copies made before timing" if on_cuda else ""),
        ),
    }
    notes = [REFERENCE_NOTE] + ([REFERENCE_ON_HOST_NOTE] if on_cuda else [])
    if on_cuda:
        runners["idmatch graph replay"] = graph_replay_runner(
            torch.ops.idmatch.classify_peaks_from_maps,
            args,
            device,
            "torch.ops.idmatch.classify_peaks_from_maps captured once in a CUDA graph, replayed",
        )
        host_classify = idmatch.classify_peaks_from_maps
        runners["idmatch cpu"] = Runner(
            lambda: host_classify(*host_args),
            tuple,
            "idmatch.classify_peaks_from_maps on CPU copies made before timing: the CPU op on the same host",
        )
    from .sleap import sleap_nn_identity_module  # here: .sleap imports this module

    sleap_identity = sleap_nn_identity_module()
    if sleap_identity is None:
        notes.append(INSTALL_SLEAP_NN)
    else:
        sleap_classify = sleap_identity.classify_peaks_from_maps
        runners["sleap-nn"] = Runner(
            lambda: sleap_classify(*args),
            lambda out: _on_host(out, device),
            f"sleap-nn {dist_version('sleap-nn')}: sleap_nn.inference.ops.identity.classify_peaks_from_maps on the"
            " workload's device (a Python loop over the groups, a host sync in each)",
        )
    return Prepared(
        shape=identity_shape(spec, inputs),
        runners=runners,
        baseline="idmatch",
        oracle="reference",
        compare=compare_outputs,
        notes=notes,
    )


# --------------------------------------------------------------------------
# Answer checks
# --------------------------------------------------------------------------


def describe_error(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    first_line = text.splitlines()[0] if text else type(error).__name__
    return first_line[:200]


def check_answers(prepared: Prepared, device: torch.device) -> Dict[str, Check]:
    """Runs every runner once (also its first warm-up call) and compares its
    answers with the oracle's. A runner that fails is reported, not fatal."""
    results: Dict[str, Any] = {}
    errors: Dict[str, str] = {}
    for name, runner in prepared.runners.items():
        try:
            output = runner.fn()
            synchronize(device)
            results[name] = runner.result(output)
        except Exception as error:
            errors[name] = describe_error(error)

    checks: Dict[str, Check] = {}
    for name in prepared.runners:
        if name in errors:
            checks[name] = Check("error", errors[name])
        elif prepared.oracle is None:
            checks[name] = Check("unchecked")
        elif prepared.oracle not in results:
            checks[name] = Check("unchecked", f"the oracle {prepared.oracle} failed")
        elif name == prepared.oracle:
            checks[name] = Check("exact", "oracle")
        else:
            try:
                checks[name] = prepared.compare(results[prepared.oracle], results[name])
            except Exception as error:  # an answer of the wrong form is a wrong answer
                checks[name] = Check("mismatch", describe_error(error))
    return checks
