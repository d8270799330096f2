"""Timing of the runners: medians over samples, with torch.utils.benchmark.

Each runner gets one ``torch.utils.benchmark.Timer``: its
``blocked_autorange`` warms the runner up and says how long a call takes,
which sets the calls per sample (enough to last ``min_sample_s``). The samples
are fixed-count ``timeit`` runs with torch.utils.benchmark's clock on the
CPU, and CUDA events around the calls on CUDA; the garbage collector is off
while a sample runs, as Timer does. (Timer.timeit itself would add
``max(calls // 100, 2)`` warm-up calls to every sample, tripling the time of
the slow runners.) The samples go round-robin over the runners, so that a
burst of background load hits them alike instead of one runner's samples.
"""

from __future__ import annotations

import gc
import math
import statistics
import timeit
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils import benchmark


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


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def calls_per_sample(fn: Callable[[], Any], settings: Settings) -> int:
    """Warms fn up for ``warmup_s`` and returns how many back-to-back calls
    last ``min_sample_s``."""
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    per_call = timer.blocked_autorange(min_run_time=settings.warmup_s).median
    wanted = math.ceil(settings.min_sample_s / max(per_call, 1e-9))
    return int(min(max(wanted, 1), settings.max_calls_per_sample))


def seconds_per_call(fn: Callable[[], Any], calls: int, device: torch.device) -> float:
    """Seconds per call over ``calls`` back-to-back calls, device work included.

    On CUDA the time comes from CUDA events recorded on the current stream
    around the calls, so that it is the device's time from the first launch
    to the last kernel's end, not the host's wall clock around a sync."""
    if device.type != "cuda":
        return timeit.Timer(fn, timer=benchmark.timer).timeit(calls) / calls
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection landing in one sample is noise
    try:
        synchronize(device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / calls
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
    synchronize(device)
    return sum(1 for w in caught if "synchroniz" in str(w.message).lower())


def time_runners(
    fns: Dict[str, Callable[[], Any]],
    settings: Settings,
    after_round: Callable[[int], None] = lambda round_index: None,
) -> Tuple[Dict[str, List[float]], Dict[str, int], Dict[str, Optional[int]]]:
    """Samples (seconds per call), calls per sample and host syncs per call
    (CUDA only) of each runner."""
    calls: Dict[str, int] = {}
    syncs: Dict[str, Optional[int]] = {}
    for name, fn in fns.items():
        calls[name] = calls_per_sample(fn, settings)
        syncs[name] = count_host_syncs(fn, settings.device)
    samples: Dict[str, List[float]] = {name: [] for name in fns}
    for round_index in range(settings.repeats):
        for name, fn in fns.items():
            samples[name].append(seconds_per_call(fn, calls[name], settings.device))
        after_round(round_index)
    return samples, calls, syncs


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
