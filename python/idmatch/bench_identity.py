"""Identity workloads W1-W4 of ``python -m idmatch bench`` (DESIGN.md, "Workloads
for benchmarks"): bottom-up multi-class inference, ``classify_peaks_from_maps``
on one batch of class maps and peaks.

Runners: the Python API, the raw op underneath it, and the reference algorithm
(``idmatch.reference``: one scipy call per (sample, node) group in a Python
loop, as sleap-nn does it), which is also the oracle: idmatch must give the
same three outputs, NaN for NaN, in the same dtypes and shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import torch

import idmatch

from .bench import Check, Prepared, Runner, SetupContext, Workload, register_workload

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


@dataclass(frozen=True)
class IdentitySpec:
    samples: int  # S
    classes: int  # C
    nodes: int  # N, the channels
    height: int
    width: int
    peaks_per_group: int  # k, per (sample, node)


def make_inputs(spec: IdentitySpec, ctx: SetupContext) -> Dict[str, object]:
    """The arguments of classify_peaks_from_maps, on ctx.device. --scale
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


def _identity_setup(spec: IdentitySpec):
    def setup(ctx: SetupContext) -> Prepared:
        # Imported here: it needs scipy, which the command line checks for
        # after loading the workloads.
        from . import reference

        inputs = make_inputs(spec, ctx)
        args = (
            inputs["class_maps"],
            inputs["peak_points"],
            inputs["peak_vals"],
            inputs["peak_sample_inds"],
            inputs["peak_channel_inds"],
            inputs["n_channels"],
        )
        host_args = tuple(a.cpu() if isinstance(a, torch.Tensor) else a for a in args)
        samples, _, _, _ = args[0].shape
        k = ctx.scaled(spec.peaks_per_group)
        shape = f"S={samples} C={spec.classes} N={spec.nodes} {spec.height}x{spec.width} k={k} (P={args[1].shape[0]})"
        device = ctx.device
        raw_op = torch.ops.idmatch.classify_peaks_from_maps
        on_cuda = device.type == "cuda"

        runners = {
            "idmatch": Runner(
                lambda: idmatch.classify_peaks_from_maps(*args),
                lambda out: _on_host(out, device),
                "idmatch.classify_peaks_from_maps",
            ),
            "idmatch raw op": Runner(
                lambda: raw_op(*args),
                lambda out: _on_host(out[:3], device),
                "torch.ops.idmatch.classify_peaks_from_maps (no value checks, never syncs)",
            ),
            "reference": Runner(
                lambda: reference.classify_peaks_from_maps(*host_args),
                lambda out: tuple(out),
                "idmatch.reference.classify_peaks_from_maps: one scipy call per (sample, node) group"
                + (", on CPU copies made before timing" if on_cuda else ""),
            ),
        }
        notes = [REFERENCE_NOTE] + ([REFERENCE_ON_HOST_NOTE] if on_cuda else [])
        return Prepared(
            shape=shape,
            runners=runners,
            baseline="idmatch",
            oracle="reference",
            compare=compare_outputs,
            notes=notes,
        )

    return setup


IDENTITY_WORKLOADS = (
    ("W1", "one frame, 2 animals", IdentitySpec(1, 2, 13, 128, 128, 2)),
    ("W2", "batch, 2 animals", IdentitySpec(8, 2, 13, 192, 192, 3)),
    ("W3", "batch, 5 animals", IdentitySpec(16, 5, 20, 160, 160, 6)),
    ("W4", "large", IdentitySpec(64, 10, 30, 96, 96, 12)),
)

for _name, _description, _spec in IDENTITY_WORKLOADS:
    register_workload(Workload(_name, _description, _identity_setup(_spec)))
