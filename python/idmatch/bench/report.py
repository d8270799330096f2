"""What a run reports: the machine, each workload's entry of the JSON, the
printed table and the JSON file."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

import idmatch

from .runners import Check, Prepared, peer_versions
from .timing import summarize
from .workloads import Workload


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


def workload_entry(
    workload: Workload,
    prepared: Prepared,
    checks: Dict[str, Check],
    samples: Dict[str, List[float]],
    calls: Dict[str, int],
    syncs: Dict[str, Optional[int]],
) -> Dict[str, Any]:
    """A workload's part of the JSON; runners that failed have no samples."""
    baseline = samples.get(prepared.baseline)
    baseline_median = statistics.median(baseline) if baseline else None
    runners: Dict[str, Any] = {}
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
        runners[name] = entry
    return {
        "description": workload.description,
        "shape": prepared.shape,
        "baseline": prepared.baseline,
        "oracle": prepared.oracle,
        "notes": list(prepared.notes),
        "ok": checks[prepared.baseline].status == "exact",
        "runners": runners,
    }


def write_json(report: Dict[str, Any], path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(report, handle, indent=1, allow_nan=False, default=_json_default)
        handle.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
