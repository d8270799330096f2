"""What the benchmark solves: a plain table of workloads, each with its
inputs drawn from a seeded generator (docs/benchmarks.md, "Workloads").

LSA workloads L1-L4 and T: batches of random cost matrices. Identity
workloads W1-W4: bottom-up multi-class inference, ``classify_peaks_from_maps``
on one batch of class maps and peaks. Where sleap-nn is installed, also its
own code against idmatch's (bench/sleap.py): X1-X2 the exported-model
adapter, P1-P5 PAF candidate matching, E1-E2 its Predictor end to end.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

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
class PaddedSpec:
    """The exported bottom-up multi-class adapter's input: B samples, N
    nodes, K peak slots per node, C classes, a fraction of slots valid."""

    batch: int
    nodes: int
    k: int
    classes: int
    valid: float


@dataclass(frozen=True)
class PafSpec:
    """PAF candidates of a batch: a tree skeleton of N nodes (N - 1 edges),
    A animals, each node detected in each animal with a 90% chance, plus
    one false peak per node in a frame out of four; every source and
    destination peak of an edge is a candidate."""

    batch: int
    nodes: int
    animals: int


@dataclass(frozen=True)
class PredictorSpec:
    """sleap-nn's Predictor on one of its trained models (a folder under its
    tests/assets/model_ckpts) over the first frames of a video."""

    model: str
    frames: int
    batch_size: int
    peak_threshold: float
    # The sleap-nn function whose time is the matching step.
    step: Tuple[str, str]


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    spec: LsaSpec | IdentitySpec | PaddedSpec | PafSpec | PredictorSpec

    @property
    def needs_sleap_nn(self) -> bool:
        return isinstance(self.spec, PredictorSpec)


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
        Workload("X1", "sleap-nn's exported bottom-up multi-class adapter", PaddedSpec(8, 13, 10, 4, 0.7)),
        Workload("X2", "the exported adapter, large", PaddedSpec(16, 30, 20, 10, 0.7)),
        Workload("P1", "PAF matching, 5 animals", PafSpec(8, 13, 5)),
        Workload("P2", "PAF matching, 2 animals", PafSpec(8, 13, 2)),
        Workload("P3", "PAF matching, 30 nodes, 10 animals", PafSpec(8, 30, 10)),
        Workload("P4", "PAF matching, batch 32", PafSpec(32, 13, 5)),
        Workload("P5", "PAF matching, batch 32, 30 nodes, 10 animals", PafSpec(32, 30, 10)),
        Workload(
            "E1",
            "sleap-nn's Predictor, bottom-up multi-class model",
            PredictorSpec(
                "minimal_instance_multiclass_bottomup",
                16,
                4,
                0.05,
                ("sleap_nn.inference.ops.identity", "classify_peaks_from_maps"),
            ),
        ),
        Workload(
            "E2",
            "sleap-nn's Predictor, bottom-up PAF model",
            PredictorSpec(
                "minimal_instance_bottomup", 16, 4, 0.05, ("sleap_nn.inference.ops.paf", "match_candidates_batch")
            ),
        ),
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
