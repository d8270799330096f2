"""What the benchmark solves: a plain table of workloads, each with its
inputs drawn from a seeded generator (docs/benchmarks.md, "Workloads").

LSA workloads L1-L4 and T: batches of random cost matrices. Identity
workloads W1-W4: bottom-up multi-class inference, ``classify_peaks_from_maps``
on one batch of class maps and peaks.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Dict, Optional

import torch


@dataclass(frozen=True)
class LsaSpec:
    batch: Optional[int]  # None: one matrix, solved with idmatch.linear_sum_assignment
    rows: int
    cols: int
    dtype: torch.dtype
    integers_below: Optional[int] = None  # integer costs in [0, integers_below)


@dataclass(frozen=True)
class IdentitySpec:
    samples: int  # S
    classes: int  # C
    nodes: int  # N, the channels
    height: int
    width: int
    peaks_per_group: int  # k, per (sample, node)


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    spec: LsaSpec | IdentitySpec


WORKLOADS: Dict[str, Workload] = {
    workload.name: workload
    for workload in (
        Workload("L1", "many tiny problems", LsaSpec(10000, 10, 10, torch.float32)),
        Workload(
            "L2", "rectangular, tall (torch-linear-assignment's published shape)", LsaSpec(208, 300, 100, torch.float32)
        ),
        Workload("L3", "medium square batch", LsaSpec(64, 100, 100, torch.float64)),
        Workload("L4", "one large matrix", LsaSpec(None, 1000, 1000, torch.float64)),
        Workload("T", "tie-heavy: integer costs in {0, 1, 2}", LsaSpec(2000, 20, 20, torch.float32, integers_below=3)),
        Workload("W1", "one frame, 2 animals", IdentitySpec(1, 2, 13, 128, 128, 2)),
        Workload("W2", "batch, 2 animals", IdentitySpec(8, 2, 13, 192, 192, 3)),
        Workload("W3", "batch, 5 animals", IdentitySpec(16, 5, 20, 160, 160, 6)),
        Workload("W4", "large", IdentitySpec(64, 10, 30, 96, 96, 12)),
    )
}


@dataclass(frozen=True)
class SetupContext:
    """The command line's choices that shape a workload's inputs."""

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


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def lsa_inputs(spec: LsaSpec, ctx: SetupContext) -> torch.Tensor:
    """The (B, rows, cols) costs, on the CPU; --scale scales all three sizes."""
    rows, cols = ctx.scaled(spec.rows), ctx.scaled(spec.cols)
    batch = 1 if spec.batch is None else ctx.scaled(spec.batch)
    generator = ctx.generator()
    if spec.integers_below is not None:
        return torch.randint(0, spec.integers_below, (batch, rows, cols), generator=generator).to(spec.dtype)
    return torch.rand((batch, rows, cols), generator=generator, dtype=spec.dtype)


def lsa_shape(spec: LsaSpec, costs: torch.Tensor) -> str:
    batch, rows, cols = costs.shape
    shape = f"{rows}x{cols}" if spec.batch is None else f"{batch} x ({rows}x{cols})"
    shape += f" {_dtype_name(spec.dtype)}"
    if spec.integers_below is not None:
        shape += f", ints 0..{spec.integers_below - 1}"
    return shape


def identity_inputs(spec: IdentitySpec, ctx: SetupContext) -> Dict[str, object]:
    """The arguments of classify_peaks_from_maps, on ctx.device: class maps
    random, softmax over classes; peaks random points, P = S x N x k. --scale
    scales the batch (S) and the peaks per group (k), which set the amount of
    matching; classes, nodes and map size stay those of the workload."""
    samples = ctx.scaled(spec.samples)
    k = ctx.scaled(spec.peaks_per_group)
    generator = ctx.generator()
    logits = torch.randn((samples, spec.classes, spec.height, spec.width), generator=generator)
    class_maps = torch.softmax(logits, dim=1)
    num_peaks = samples * spec.nodes * k
    extent = torch.tensor([spec.width - 1, spec.height - 1], dtype=torch.float32)
    peak_points = torch.rand((num_peaks, 2), generator=generator) * extent
    peak_vals = torch.rand((num_peaks,), generator=generator)
    sample_inds = torch.arange(samples).repeat_interleave(spec.nodes * k)
    channel_inds = torch.arange(spec.nodes).repeat_interleave(k).repeat(samples)
    # Shuffled: grouping the peaks by (sample, node) is part of the work being timed.
    order = torch.randperm(num_peaks, generator=generator)
    return {
        "class_maps": class_maps.to(ctx.device),
        "peak_points": peak_points[order].to(ctx.device),
        "peak_vals": peak_vals[order].to(ctx.device),
        "peak_sample_inds": sample_inds[order].to(ctx.device),
        "peak_channel_inds": channel_inds[order].to(ctx.device),
        "n_channels": spec.nodes,
    }


def identity_shape(spec: IdentitySpec, inputs: Dict[str, object]) -> str:
    samples = inputs["class_maps"].shape[0]
    peaks = inputs["peak_points"].shape[0]
    k = peaks // (samples * spec.nodes)
    return f"S={samples} C={spec.classes} N={spec.nodes} {spec.height}x{spec.width} k={k} (P={peaks})"
