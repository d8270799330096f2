"""The command line of ``python -m idmatch bench`` (wired in idmatch.__main__):
its options, and ``run``, which checks and times the chosen workloads and
reports them."""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any, Dict, List, Optional

import torch

from .._cli import UsageError
from . import report, runners
from .plot import write_plot
from .sleap import sleap_nn_available
from .timing import Settings, time_runners
from .workloads import WORKLOADS, SetupContext, Workload


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


def select_workloads(spec: Optional[str], table: Dict[str, Workload]) -> List[str]:
    if spec is None or spec.strip().lower() == "all":
        return list(table)
    by_lower = {name.lower(): name for name in table}
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
            f"choose from {', '.join(table)}"
        )
    if not chosen:
        raise UsageError(f"--workloads names no workload; choose from {', '.join(table)}")
    return chosen


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _shout(message: str) -> None:
    bar = "!" * 72
    print(f"{bar}\nMISMATCH: {message}\n{bar}", file=sys.stderr, flush=True)


def run_workload(workload: Workload, ctx: SetupContext, settings: Settings) -> Dict[str, Any]:
    """Checks every runner's answers, then times the runners that ran."""
    began = time.perf_counter()
    prepared = runners.prepare(workload, ctx)
    if prepared.baseline not in prepared.runners:
        raise ValueError(f"workload {workload.name}: baseline {prepared.baseline!r} is not a runner")
    _progress(f"{workload.name} [{prepared.shape}]: checking answers of {len(prepared.runners)} runners")
    checks = runners.check_answers(prepared, settings.device)
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

    def after_round(round_index: int) -> None:
        if settings.repeats > 1 and time.perf_counter() - began > 5.0:
            _progress(f"{workload.name}: round {round_index + 1}/{settings.repeats}")

    fns = {name: runner.fn for name, runner in prepared.runners.items() if checks[name].status != "error"}
    samples, calls, syncs = time_runners(fns, settings, after_round)
    _progress(f"{workload.name}: done in {time.perf_counter() - began:.1f} s")
    return report.workload_entry(workload, prepared, checks, samples, calls, syncs)


def run(args: argparse.Namespace) -> int:
    if args.list:
        for workload in WORKLOADS.values():
            needs = " (needs sleap-nn)" if workload.needs_sleap_nn else ""
            print(f"{workload.name:4s} {workload.description}{needs}")
        return 0
    names = select_workloads(args.workloads, WORKLOADS)
    needing = [name for name in names if WORKLOADS[name].needs_sleap_nn]
    chosen = (args.workloads or "all").strip().lower() != "all"
    if needing and args.device != "cpu":
        # sleap-nn's Predictor is measured on the CPU.
        if chosen:
            raise UsageError(f"{', '.join(needing)} run on the CPU only (sleap-nn's code works there)")
        names = [name for name in names if name not in needing]
    elif needing and not sleap_nn_available():
        if chosen:
            raise UsageError(f"{', '.join(needing)} run sleap-nn's own code: pip install 'idmatch[sleap]'")
        names = [name for name in names if name not in needing]
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

    result: Dict[str, Any] = {
        "machine": report.machine_info(device),
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
        result["workloads"][name] = run_workload(WORKLOADS[name], ctx, settings)
    result["elapsed_s"] = time.perf_counter() - began
    result["ok"] = all(w["ok"] for w in result["workloads"].values())

    print(report.format_report(result))
    if args.json:
        report.write_json(result, args.json)
        print(f"wrote {args.json}")
    if args.plot:
        if write_plot(result, args.plot):
            print(f"wrote {args.plot}")
        else:
            print("no plot: matplotlib is not installed (pip install matplotlib)")
    if not result["ok"]:
        print("error: idmatch's answers differ from the oracle's on some workload (see above)", file=sys.stderr)
        return 1
    return 0
