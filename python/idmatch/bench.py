"""Benchmarks of idmatch against its peers: ``python -m idmatch bench``.

Workloads live in a registry (name -> description + setup). A workload's setup
builds its inputs from a seeded generator and returns a ``Prepared``: the
callables to time (``Runner``), which one is idmatch (the baseline of the
speed-ups), which one gives the right answers (the oracle) and how to compare
answers. The timing, checking, reporting and plotting below know nothing about
what a workload computes, so other modules add workloads with
``register_workload`` (listed in ``EXTRA_WORKLOAD_MODULES`` to be loaded by the
command line).

Every run checks the answers of every runner against the oracle before it
times anything: a benchmark of wrong answers is worthless.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

import idmatch

# Modules that register more workloads when imported.
EXTRA_WORKLOAD_MODULES: Tuple[str, ...] = ("idmatch.bench_identity",)


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------


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


@dataclass
class SetupContext:
    name: str
    device: torch.device
    scale: float
    seed: int

    def generator(self) -> torch.Generator:
        """A CPU generator seeded per workload, so that choosing a subset of
        workloads, or another device, gives the same data."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + zlib.crc32(self.name.encode()))

    def scaled(self, size: int) -> int:
        return max(1, int(round(size * self.scale)))


@dataclass
class Workload:
    name: str
    description: str
    setup: Callable[[SetupContext], Prepared]


WORKLOADS: Dict[str, Workload] = {}


def register_workload(workload: Workload) -> Workload:
    if workload.name in WORKLOADS:
        raise ValueError(f"workload {workload.name!r} is already registered")
    WORKLOADS[workload.name] = workload
    return workload


def unregister_workload(name: str) -> None:
    WORKLOADS.pop(name, None)


def load_workloads() -> Dict[str, Workload]:
    for module in EXTRA_WORKLOAD_MODULES:
        importlib.import_module(module)
    return WORKLOADS


# --------------------------------------------------------------------------
# Optional peers
# --------------------------------------------------------------------------


def _dist_version(name: str) -> Optional[str]:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
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
    return {name: _dist_version(name) for name in ("scipy", "lapx", "lap", "torch-linear-assignment", "matplotlib")}


def _lap_distribution() -> str:
    # lap and lapx both install the module `lap`.
    if _dist_version("lapx") is not None:
        return f"lapx {_dist_version('lapx')}"
    if _dist_version("lap") is not None:
        return f"lap {_dist_version('lap')}"
    return "lap"


INSTALL_LAP = "lap/lapx not installed, skipped: pip install lapx (or pip install 'idmatch[bench]')"
INSTALL_TLA = (
    "torch-linear-assignment not installed, skipped: pip install torch-linear-assignment "
    "(or pip install 'idmatch[bench]')"
)


# --------------------------------------------------------------------------
# LSA workloads
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


@dataclass(frozen=True)
class _LsaSpec:
    batch: Optional[int]  # None: one matrix, solved with idmatch.linear_sum_assignment
    rows: int
    cols: int
    dtype: torch.dtype
    integers_below: Optional[int] = None  # integer costs in [0, integers_below)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _lsa_setup(spec: _LsaSpec) -> Callable[[SetupContext], Prepared]:
    def setup(ctx: SetupContext) -> Prepared:
        from scipy.optimize import linear_sum_assignment

        rows, cols = ctx.scaled(spec.rows), ctx.scaled(spec.cols)
        batch = 1 if spec.batch is None else ctx.scaled(spec.batch)
        generator = ctx.generator()
        if spec.integers_below is not None:
            host = torch.randint(0, spec.integers_below, (batch, rows, cols), generator=generator).to(spec.dtype)
        else:
            host = torch.rand((batch, rows, cols), generator=generator, dtype=spec.dtype)
        cost = host.to(ctx.device)
        single = spec.batch is None
        dtype = _dtype_name(spec.dtype)
        if single:
            shape = f"{rows}x{cols} {dtype}"
        else:
            shape = f"{batch} x ({rows}x{cols}) {dtype}"
        if spec.integers_below is not None:
            shape += f", ints 0..{spec.integers_below - 1}"

        runners: Dict[str, Runner] = {}
        notes: List[str] = []
        if single:
            matrix = cost[0]
            runners["idmatch"] = Runner(
                lambda: idmatch.linear_sum_assignment(matrix),
                lambda out: _assignment_from_pairs([(out[0].cpu().numpy(), out[1].cpu().numpy())], rows),
                "idmatch.linear_sum_assignment",
            )
        else:
            runners["idmatch"] = Runner(
                lambda: idmatch.batch_linear_sum_assignment(cost),
                lambda out: out.cpu().numpy(),
                "idmatch.batch_linear_sum_assignment on the batch tensor",
            )

        # The host peers get the tensor as a user has it: on the device, so
        # bringing it to the host is part of their time (free on the CPU).
        def scipy_loop():
            on_host = cost.cpu()
            return [linear_sum_assignment(on_host[b].numpy()) for b in range(on_host.shape[0])]

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
                on_host = cost.cpu()
                return [lap.lapjv(on_host[b].numpy(), extend_cost=True) for b in range(on_host.shape[0])]

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

        tla = _optional_module("torch_linear_assignment")
        if tla is None:
            notes.append(INSTALL_TLA)
        else:
            runners["torch-linear-assignment"] = Runner(
                lambda: tla.batch_linear_assignment(cost),
                lambda out: out.cpu().numpy(),
                f"torch-linear-assignment {_dist_version('torch-linear-assignment')}: "
                "batch_linear_assignment on the batch tensor",
            )

        return Prepared(
            shape=shape,
            runners=runners,
            baseline="idmatch",
            oracle="scipy",
            compare=compare_assignments(host.numpy()),
            notes=notes,
        )

    return setup


_LSA_WORKLOADS = (
    ("L1", "many tiny problems", _LsaSpec(10000, 10, 10, torch.float32)),
    ("L2", "rectangular, tall (torch-linear-assignment's published shape)", _LsaSpec(208, 300, 100, torch.float32)),
    ("L3", "medium square batch", _LsaSpec(64, 100, 100, torch.float64)),
    ("L4", "one large matrix", _LsaSpec(None, 1000, 1000, torch.float64)),
    ("T", "tie-heavy: integer costs in {0, 1, 2}", _LsaSpec(2000, 20, 20, torch.float32, integers_below=3)),
)

for _name, _description, _spec in _LSA_WORKLOADS:
    register_workload(Workload(_name, _description, _lsa_setup(_spec)))


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------


@dataclass
class Settings:
    repeats: int = 7
    warmup_s: float = 0.2  # per runner, after the checking call
    min_sample_s: float = 0.05  # shorter calls are repeated within one sample
    max_calls_per_sample: int = 10000
    device: torch.device = torch.device("cpu")

    @classmethod
    def quick(cls, device: torch.device) -> Settings:
        return cls(repeats=3, warmup_s=0.0, min_sample_s=0.01, device=device)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], Any], calls: int, device: torch.device) -> float:
    """Seconds per call over `calls` back-to-back calls, device work included."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection landing in one sample is noise
    try:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(calls):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3 / calls
        begin = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - begin) / calls
    finally:
        if gc_was_enabled:
            gc.enable()


def count_host_syncs(fn: Callable[[], Any], device: torch.device) -> Optional[int]:
    """Host syncs of one call as torch reports them (its sync debug mode sees
    syncs made through torch, not those inside other libraries)."""
    if device.type != "cuda":
        return None
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    _synchronize(device)
    return sum(1 for w in caught if "synchroniz" in str(w.message).lower())


def summarize(samples_s: Sequence[float]) -> Dict[str, Any]:
    ms = [s * 1e3 for s in samples_s]
    q1, q3 = np.percentile(ms, [25, 75]) if ms else (math.nan, math.nan)
    return {
        "samples_ms": ms,
        "median_ms": statistics.median(ms) if ms else math.nan,
        "min_ms": min(ms) if ms else math.nan,
        "max_ms": max(ms) if ms else math.nan,
        "q1_ms": float(q1),
        "q3_ms": float(q3),
    }


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _describe_error(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    first_line = text.splitlines()[0] if text else type(error).__name__
    return first_line[:200]


def run_workload(workload: Workload, ctx: SetupContext, settings: Settings) -> Dict[str, Any]:
    """Checks every runner's answers, then times the runners that ran."""
    began = time.perf_counter()
    prepared = workload.setup(ctx)
    if prepared.baseline not in prepared.runners:
        raise ValueError(f"workload {workload.name}: baseline {prepared.baseline!r} is not a runner")
    device = settings.device
    _progress(f"{workload.name} [{prepared.shape}]: checking answers of {len(prepared.runners)} runners")

    # The checking call is also every runner's first warm-up call.
    results: Dict[str, Any] = {}
    errors: Dict[str, str] = {}
    for name, runner in prepared.runners.items():
        try:
            output = runner.fn()
            _synchronize(device)
            results[name] = runner.result(output)
        except Exception as error:  # a runner that fails is reported, not fatal
            errors[name] = _describe_error(error)

    checks: Dict[str, Check] = {}
    for name in prepared.runners:
        if name in errors:
            checks[name] = Check("error", errors[name])
        elif prepared.oracle is None:
            checks[name] = Check("unchecked")
        elif prepared.oracle in errors or prepared.oracle not in results:
            checks[name] = Check("unchecked", f"the oracle {prepared.oracle} failed")
        elif name == prepared.oracle:
            checks[name] = Check("exact", "oracle")
        else:
            try:
                checks[name] = prepared.compare(results[prepared.oracle], results[name])
            except Exception as error:  # an answer of the wrong form is a wrong answer
                checks[name] = Check("mismatch", _describe_error(error))
    results.clear()

    baseline_check = checks[prepared.baseline]
    if baseline_check.status != "exact":
        _shout(
            f"{workload.name}: {prepared.baseline} answers are not "
            f"{prepared.oracle or 'checked'}'s: {baseline_check.status}"
            + (f" ({baseline_check.detail})" if baseline_check.detail else "")
        )
    for name, check in checks.items():
        if name != prepared.baseline and check.status in ("mismatch", "error"):
            _progress(f"{workload.name}: {name}: {check.status}: {check.detail}")

    timed = [name for name in prepared.runners if name not in errors]
    calls: Dict[str, int] = {}
    syncs: Dict[str, Optional[int]] = {}
    for name in timed:
        fn = prepared.runners[name].fn
        per_call = time_calls(fn, 1, device)
        spent = per_call
        while spent < settings.warmup_s:
            per_call = time_calls(fn, 1, device)
            spent += per_call
        wanted = math.ceil(settings.min_sample_s / max(per_call, 1e-9))
        calls[name] = int(min(max(wanted, 1), settings.max_calls_per_sample))
        syncs[name] = count_host_syncs(fn, device)

    samples: Dict[str, List[float]] = {name: [] for name in timed}
    # Round-robin over the runners so that a burst of background load hits
    # them alike instead of one runner's samples.
    for round_index in range(settings.repeats):
        for name in timed:
            samples[name].append(time_calls(prepared.runners[name].fn, calls[name], device))
        if settings.repeats > 1 and time.perf_counter() - began > 5.0:
            _progress(f"{workload.name}: round {round_index + 1}/{settings.repeats}")

    baseline_median = statistics.median(samples[prepared.baseline]) if prepared.baseline in samples else None
    runners_out: Dict[str, Any] = {}
    for name, runner in prepared.runners.items():
        entry: Dict[str, Any] = {"label": runner.label}
        if name in samples:
            entry.update(summarize(samples[name]))
            entry["calls_per_sample"] = calls[name]
            entry["ratio"] = statistics.median(samples[name]) / baseline_median if baseline_median else None
        else:
            entry.update({"samples_ms": [], "median_ms": None, "ratio": None})
        entry["check"] = checks[name].status
        entry["check_detail"] = checks[name].detail
        entry["host_syncs_per_call"] = syncs.get(name)
        runners_out[name] = entry
    elapsed = time.perf_counter() - began
    _progress(f"{workload.name}: done in {elapsed:.1f} s")
    return {
        "description": workload.description,
        "shape": prepared.shape,
        "baseline": prepared.baseline,
        "oracle": prepared.oracle,
        "notes": list(prepared.notes),
        "ok": baseline_check.status == "exact",
        "runners": runners_out,
    }


def _shout(message: str) -> None:
    bar = "!" * 72
    print(f"{bar}\nMISMATCH: {message}\n{bar}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Machine information, report, plot
# --------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> Dict[str, Any]:
    versions = peer_versions()
    info: Dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": versions.pop("scipy"),
        "idmatch": idmatch.__version__,
        "peers": versions,
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


_CHECK_WORDS = {
    "exact": "exact",
    "equivalent": "ties differ",
    "mismatch": "MISMATCH",
    "error": "ERROR",
    "unchecked": "unchecked",
}


def _format_ms(value: Optional[float]) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def format_table(report: Dict[str, Any]) -> str:
    cuda = report["settings"]["device"].startswith("cuda")
    header = ["workload", "shape", "runner", "median ms", "min..max ms", "speed-up", "answers"]
    if cuda:
        header.append("syncs/call")
    rows: List[List[str]] = []
    for workload_name, workload in report["workloads"].items():
        first = True
        for runner_name, entry in workload["runners"].items():
            ratio = entry.get("ratio")
            row = [
                workload_name if first else "",
                workload["shape"] if first else "",
                runner_name,
                _format_ms(entry.get("median_ms")),
                (
                    f"{_format_ms(entry.get('min_ms'))}..{_format_ms(entry.get('max_ms'))}"
                    if entry.get("median_ms") is not None
                    else "-"
                ),
                "-" if ratio is None else f"{ratio:.2f}x",
                _CHECK_WORDS.get(entry["check"], entry["check"]),
            ]
            if cuda:
                syncs = entry.get("host_syncs_per_call")
                row.append("-" if syncs is None else str(syncs))
            rows.append(row)
            first = False
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(len(header))]
    right = {3, 4, 5} | ({7} if cuda else set())

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(cells)
        ).rstrip()

    lines = [line(header), line(["-" * w for w in widths])]
    lines.extend(line(r) for r in rows)
    return "\n".join(lines)


def format_report(report: Dict[str, Any]) -> str:
    machine = report["machine"]
    settings = report["settings"]
    heading = (
        f"idmatch {machine['idmatch']} | torch {machine['torch']} ({machine['torch_threads']} threads) | "
        f"numpy {machine['numpy']} | scipy {machine['scipy']}\n"
        f"{machine['cpu']}, {machine['cores']} cores | device {settings['device']}"
        + (f" ({machine['gpu']})" if "gpu" in machine else "")
        + f" | {settings['repeats']} samples per runner"
        + (" | quick" if settings["quick"] else "")
        + (f" | scale {settings['scale']:g}" if settings["scale"] != 1 else "")
    )
    notes: List[str] = []
    for workload in report["workloads"].values():
        for note in workload["notes"]:
            if note not in notes:
                notes.append(note)
    oracles: List[str] = []
    runner_names = set()
    for workload in report["workloads"].values():
        runner_names.update(workload["runners"])
        if workload["oracle"] and workload["oracle"] not in oracles:
            oracles.append(workload["oracle"])
    footer = ["speed-up = runner median / idmatch median (above 1: idmatch is faster)."]
    if runner_names & {"scipy", "lap.lapjv", "lapx batch"}:
        footer.append(
            "scipy and lap.lapjv: one call per problem in a Python loop; lapx batch: lap.lapjvx_batch on all cores."
        )
    footer.append(
        f"answers, against {' or '.join(oracles) or 'the oracle'}: exact = the same answers; ties differ = another"
        " assignment of the same total cost."
    )
    return "\n".join([heading, "", format_table(report), ""] + footer + [f"note: {n}" for n in notes])


def _label_2_3_5(value: float, _position: Any) -> str:
    if value <= 0:
        return ""
    leading = round(value / 10 ** math.floor(math.log10(value)))
    return f"{value:g}" if leading in (2, 3, 5) else ""


def write_plot(report: Dict[str, Any], path: str) -> bool:
    """Writes time per call (log scale) and speed-up per workload; False when
    matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter, NullFormatter
    except ImportError:
        return False
    workloads = list(report["workloads"])
    runners: List[str] = []
    for workload in report["workloads"].values():
        for name in workload["runners"]:
            if name not in runners:
                runners.append(name)
    figure = Figure(figsize=(max(8.0, 2.2 * len(workloads) + 4), 4.8), layout="constrained")
    time_axis, ratio_axis = figure.subplots(1, 2)
    width = 0.8 / max(len(runners), 1)
    peers = [r for r in runners if r != "idmatch"]
    peer_width = 0.8 / max(len(peers), 1)
    colors = {name: f"C{i}" for i, name in enumerate(runners)}
    for index, runner in enumerate(runners):
        xs, medians, low, high = [], [], [], []
        for w_index, workload_name in enumerate(workloads):
            entry = report["workloads"][workload_name]["runners"].get(runner)
            if not entry or entry.get("median_ms") is None:
                continue
            xs.append(w_index + (index - (len(runners) - 1) / 2) * width)
            medians.append(entry["median_ms"])
            low.append(entry["median_ms"] - entry["min_ms"])
            high.append(entry["max_ms"] - entry["median_ms"])
        if xs:
            time_axis.bar(xs, medians, width, yerr=[low, high], label=runner, color=colors[runner], capsize=2)
        if runner in peers:
            p_index = peers.index(runner)
            pxs, ratios = [], []
            for w_index, workload_name in enumerate(workloads):
                entry = report["workloads"][workload_name]["runners"].get(runner)
                if entry and entry.get("ratio"):
                    pxs.append(w_index + (p_index - (len(peers) - 1) / 2) * peer_width)
                    ratios.append(entry["ratio"])
            if pxs:
                # Bars grow from 1 so that a slower idmatch points down.
                ratio_axis.bar(
                    pxs, [r - 1.0 for r in ratios], peer_width, bottom=1.0, label=runner, color=colors[runner]
                )
    for axis in (time_axis, ratio_axis):
        axis.set_xticks(range(len(workloads)))
        axis.set_xticklabels(workloads)
        axis.set_yscale("log")
        # Plain numbers read better than powers of ten over a few decades.
        axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.yaxis.set_minor_formatter(NullFormatter())
        axis.grid(axis="y", which="both", alpha=0.3)
    # Speed-ups often stay within one decade, which has no major tick inside.
    ratio_axis.yaxis.set_minor_formatter(FuncFormatter(_label_2_3_5))
    time_axis.set_ylabel("time per call (ms, log scale; bars: min..max)")
    time_axis.set_title("Time per call")
    time_axis.legend(fontsize="small")
    ratio_axis.axhline(1.0, color="black", linewidth=0.8)
    ratio_axis.set_ylabel("peer time / idmatch time (log scale)")
    ratio_axis.set_title("Speed-up of idmatch (above 1: idmatch is faster)")
    if peers:
        ratio_axis.legend(fontsize="small")
    machine = report["machine"]
    figure.suptitle(
        f"idmatch {machine['idmatch']} on {report['settings']['device']}: {machine['cpu']}, "
        f"{machine['cores']} cores, torch {machine['torch']}",
        fontsize="medium",
    )
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    figure.savefig(path, dpi=120)
    return True


# --------------------------------------------------------------------------
# Command line (wired in idmatch.__main__)
# --------------------------------------------------------------------------


class UsageError(Exception):
    """A bad command line argument: reported through argparse (exit code 2)."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="fewer samples and a shorter warm-up (a smoke run)")
    parser.add_argument(
        "--workloads",
        metavar="NAMES",
        default=None,
        help="comma-separated workloads to run, e.g. L1,L4 (default: all; --list shows them)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the inputs live (default: cpu)")
    parser.add_argument(
        "--repeats", type=_positive_int, default=None, metavar="N", help="samples per runner (default: 7, quick: 3)"
    )
    parser.add_argument("--json", metavar="PATH", default=None, help="write all samples and machine information here")
    parser.add_argument(
        "--plot", metavar="PATH", default=None, help="write a PNG of times and speed-ups here (needs matplotlib)"
    )
    parser.add_argument(
        "--scale",
        type=_positive_float,
        default=1.0,
        metavar="F",
        help=(
            "multiply the sizes by F (LSA: batch, rows, columns; identity: samples, peaks per group), "
            "for smoke tests; times are then not comparable"
        ),
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: 0)")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")


def select_workloads(spec: Optional[str], registry: Dict[str, Workload]) -> List[str]:
    if spec is None or spec.strip().lower() == "all":
        return list(registry)
    by_lower = {name.lower(): name for name in registry}
    chosen: List[str] = []
    unknown: List[str] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name = by_lower.get(part.lower())
        if name is None:
            unknown.append(part)
        elif name not in chosen:
            chosen.append(name)
    if unknown:
        raise UsageError(
            f"unknown workload{'s' if len(unknown) > 1 else ''} {', '.join(repr(u) for u in unknown)}; "
            f"choose from {', '.join(registry)}"
        )
    if not chosen:
        raise UsageError(f"--workloads names no workload; choose from {', '.join(registry)}")
    return chosen


def run(args: argparse.Namespace) -> int:
    registry = load_workloads()
    if args.list:
        for workload in registry.values():
            print(f"{workload.name:4s} {workload.description}")
        return 0
    names = select_workloads(args.workloads, registry)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available here (torch.cuda.is_available() is False)")
    try:
        import scipy  # noqa: F401
    except ImportError:
        print("error: the benchmark checks answers against scipy: pip install scipy", file=sys.stderr)
        return 1
    device = torch.device(args.device)
    settings = Settings.quick(device) if args.quick else Settings(device=device)
    if args.repeats is not None:
        settings.repeats = args.repeats

    report: Dict[str, Any] = {
        "machine": machine_info(device),
        "settings": {
            "device": str(device),
            "quick": bool(args.quick),
            "repeats": settings.repeats,
            "warmup_s": settings.warmup_s,
            "min_sample_s": settings.min_sample_s,
            "scale": args.scale,
            "seed": args.seed,
        },
        "workloads": {},
    }
    began = time.perf_counter()
    for index, name in enumerate(names, 1):
        _progress(f"workload {index}/{len(names)}: {name}")
        ctx = SetupContext(name=name, device=device, scale=args.scale, seed=args.seed)
        report["workloads"][name] = run_workload(registry[name], ctx, settings)
    report["elapsed_s"] = time.perf_counter() - began
    report["ok"] = all(w["ok"] for w in report["workloads"].values())

    print(format_report(report))
    if args.json:
        directory = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(directory, exist_ok=True)
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1, allow_nan=False, default=_json_default)
            handle.write("\n")
        print(f"wrote {args.json}")
    if args.plot:
        if write_plot(report, args.plot):
            print(f"wrote {args.plot}")
        else:
            print("no plot: matplotlib is not installed (pip install 'idmatch[viz]')")
    if not report["ok"]:
        print("error: idmatch's answers differ from the oracle's on some workload (see above)", file=sys.stderr)
        return 1
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
