"""The PNG of a run: time per call and speed-up per workload (matplotlib)."""

from __future__ import annotations

import math
import os
from typing import Any, Dict, List


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
