"""Saves a TorchScript model that calls idmatch, with inputs and Python's
outputs, for the C++ example (main.cpp) to load, run and compare.

Usage: python examples/cpp/make_model.py OUT_DIR

Writes to OUT_DIR:
  model.pt     the scripted model: idmatch's Python API and raw ops
               (torch.ops.idmatch.*) in one forward
  inputs.pt    the forward's arguments   } scripted modules holding the
  expected.pt  its outputs in Python     } attributes `names` and `tensors`

The tensors travel inside scripted modules because torch::jit::load reads
those back in C++ with every dtype and NaN intact, with no other reader.
The inputs hold ties (saturated and duplicated probabilities, integer costs)
and cases whose outputs hold NaN (unmatched peaks, rows without a class,
NaN coordinates given to the raw ops).
"""

import argparse
import math
import os
import sys
from typing import List

import torch

import idmatch


class IdentityModel(torch.nn.Module):
    """Identity assignment as deployed: the scriptable Python API next to the
    raw ops, which report per peak and per group instead of raising."""

    def __init__(self, n_channels: int):
        super().__init__()
        self.n_channels = n_channels

    def forward(
        self,
        class_maps: torch.Tensor,
        peak_points: torch.Tensor,
        peak_vals: torch.Tensor,
        peak_sample_inds: torch.Tensor,
        peak_channel_inds: torch.Tensor,
        raw_peak_points: torch.Tensor,
        raw_peak_vals: torch.Tensor,
        raw_peak_sample_inds: torch.Tensor,
        raw_peak_channel_inds: torch.Tensor,
        class_vectors: torch.Tensor,
        batch_cost: torch.Tensor,
        ragged_cost: torch.Tensor,
        ragged_offsets: torch.Tensor,
    ) -> List[torch.Tensor]:
        points, point_vals, class_probs = idmatch.classify_peaks_from_maps(
            class_maps, peak_points, peak_vals, peak_sample_inds, peak_channel_inds, self.n_channels
        )
        vector_class_inds, vector_class_probs = idmatch.get_class_inds_from_vectors(class_vectors)
        batch_min = idmatch.batch_linear_sum_assignment(batch_cost)
        batch_max = idmatch.batch_linear_sum_assignment(batch_cost, maximize=True)

        raw_points, raw_point_vals, raw_class_probs, raw_class_inds, raw_status, raw_problems = (
            torch.ops.idmatch.classify_peaks_from_maps(
                class_maps,
                raw_peak_points,
                raw_peak_vals,
                raw_peak_sample_inds,
                raw_peak_channel_inds,
                self.n_channels,
            )
        )
        raw_probs = torch.ops.idmatch.sample_class_maps(class_maps, raw_peak_points, raw_peak_sample_inds)
        match_class_inds, match_status = torch.ops.idmatch.match_peaks_to_classes(
            raw_probs, raw_peak_sample_inds, raw_peak_channel_inds, class_maps.shape[0], self.n_channels
        )
        ragged_cols, ragged_status = torch.ops.idmatch.ragged_linear_sum_assignment(ragged_cost, ragged_offsets, False)
        return [
            points,
            point_vals,
            class_probs,
            vector_class_inds,
            vector_class_probs,
            batch_min,
            batch_max,
            raw_points,
            raw_point_vals,
            raw_class_probs,
            raw_class_inds,
            raw_status,
            raw_problems,
            raw_probs,
            match_class_inds,
            match_status,
            ragged_cols,
            ragged_status,
        ]


OUTPUT_NAMES = [
    "points",
    "point_vals",
    "class_probs",
    "vector_class_inds",
    "vector_class_probs",
    "batch_min",
    "batch_max",
    "raw_points",
    "raw_point_vals",
    "raw_class_probs",
    "raw_class_inds",
    "raw_status",
    "raw_problems",
    "raw_probs",
    "match_class_inds",
    "match_status",
    "ragged_cols",
    "ragged_status",
]


class NamedTensors(torch.nn.Module):
    names: List[str]
    tensors: List[torch.Tensor]

    def __init__(self, names: List[str], tensors: List[torch.Tensor]):
        super().__init__()
        self.names = names
        self.tensors = tensors

    def forward(self) -> List[torch.Tensor]:
        return self.tensors


N_SAMPLES, N_CLASSES, N_CHANNELS, HEIGHT, WIDTH = 3, 3, 4, 8, 10


def make_inputs(seed: int = 0) -> List[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    class_maps = torch.softmax(torch.randn(N_SAMPLES, N_CLASSES, HEIGHT, WIDTH, generator=gen), dim=1)
    # Saturated and half-half pixels: ties between peaks and between classes.
    class_maps[0, :, 2, 3] = torch.tensor([1.0, 0.0, 0.0])
    class_maps[0, :, 5, 5] = torch.tensor([1.0, 0.0, 0.0])
    class_maps[1, :, 4, 1] = torch.tensor([0.5, 0.5, 0.0])
    class_maps[1, :, 6, 7] = torch.tensor([0.5, 0.5, 0.0])

    # (x, y, sample, channel); sample 2 has no peak at all (all-NaN outputs).
    peaks = [
        (3.0, 2.0, 0, 0),
        (5.0, 5.0, 0, 0),  # both best in class 0: one is dropped
        (7.0, 1.0, 0, 1),
        (7.0, 1.0, 0, 1),  # duplicated peak
        (2.5, 3.5, 0, 2),  # rounds half to even: column 2, row 4
        (1.0, 4.0, 1, 3),
        (7.0, 6.0, 1, 3),  # identical half-half rows
        (0.0, 0.0, 1, 0),
        (9.0, 7.0, 1, 0),
        (4.0, 4.0, 1, 0),
        (6.0, 2.0, 1, 0),  # more peaks than classes
        (-3.0, 20.0, 1, 1),  # clamped into the map
    ]
    xy = torch.randint(0, WIDTH, (8, 1), generator=gen), torch.randint(0, HEIGHT, (8, 1), generator=gen)
    channels = torch.randint(0, N_CHANNELS, (8,), generator=gen)
    for i in range(8):
        peaks.append((float(xy[0][i]), float(xy[1][i]), i % 2, int(channels[i])))
    peak_points = torch.tensor([[x, y] for x, y, _, _ in peaks], dtype=torch.float32)
    peak_vals = torch.rand(len(peaks), generator=gen, dtype=torch.float64)
    peak_sample_inds = torch.tensor([s for _, _, s, _ in peaks], dtype=torch.int64)
    peak_channel_inds = torch.tensor([c for _, _, _, c in peaks], dtype=torch.int32)

    # The raw ops get what the API refuses: a NaN coordinate, a sample index
    # and a channel index out of range.
    raw_peak_points = torch.cat([peak_points, torch.tensor([[math.nan, 1.0], [1.0, 1.0], [2.0, 2.0]])])
    raw_peak_vals = torch.cat([peak_vals, torch.tensor([0.5, 0.6, 0.7], dtype=torch.float64)])
    raw_peak_sample_inds = torch.cat([peak_sample_inds, torch.tensor([0, 7, 1])])
    raw_peak_channel_inds = torch.cat([peak_channel_inds, torch.tensor([3, 0, 9], dtype=torch.int32)])

    # More rows than classes (rows without a class get NaN) and saturated rows.
    class_vectors = torch.softmax(torch.randn(5, N_CLASSES, generator=gen), dim=1)
    class_vectors[0] = torch.tensor([1.0, 0.0, 0.0])
    class_vectors[3] = torch.tensor([1.0, 0.0, 0.0])
    class_vectors = class_vectors.to(torch.bfloat16)

    # Integer costs in {0, 1, 2}: ties everywhere; tall problems leave rows unassigned.
    batch_cost = torch.randint(0, 3, (4, 5, 4), generator=gen).to(torch.float64)

    # Problems of 3, 0, 3 and 3 rows: fine, empty, a NaN entry (status 1),
    # a row with every pair forbidden (status 2).
    ragged_cost = torch.randint(0, 3, (9, 4), generator=gen).to(torch.float32)
    ragged_cost[4, 2] = math.nan
    ragged_cost[7, :] = math.inf
    ragged_offsets = torch.tensor([0, 3, 3, 6, 9])

    return [
        class_maps,
        peak_points,
        peak_vals,
        peak_sample_inds,
        peak_channel_inds,
        raw_peak_points,
        raw_peak_vals,
        raw_peak_sample_inds,
        raw_peak_channel_inds,
        class_vectors,
        batch_cost,
        ragged_cost,
        ragged_offsets,
    ]


INPUT_NAMES = [
    "class_maps",
    "peak_points",
    "peak_vals",
    "peak_sample_inds",
    "peak_channel_inds",
    "raw_peak_points",
    "raw_peak_vals",
    "raw_peak_sample_inds",
    "raw_peak_channel_inds",
    "class_vectors",
    "batch_cost",
    "ragged_cost",
    "ragged_offsets",
]


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal dtype, shape and values, NaN equal to NaN."""
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and bool(
            torch.equal(a, b)
            or (
                a.is_floating_point()
                and torch.equal(a.isnan(), b.isnan())
                and torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0))
            )
        )
    )


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="folder for model.pt, inputs.pt and expected.pt")
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)

    inputs = make_inputs()
    model = IdentityModel(N_CHANNELS).eval()
    scripted = torch.jit.script(model)
    model_path = os.path.join(args.out_dir, "model.pt")
    scripted.save(model_path)

    # Expected outputs come from the saved model as Python loads it: the very
    # file the C++ program runs.
    outputs = torch.jit.load(model_path)(*inputs)
    eager = model(*inputs)
    for name, got, want in zip(OUTPUT_NAMES, outputs, eager):
        if not same(got, want):
            print(f"MISMATCH between the scripted and the eager model: {name}", file=sys.stderr)
            return 1
    if not any(t.is_floating_point() and bool(t.isnan().any()) for t in outputs):
        print("the expected outputs hold no NaN: the NaN cases are gone", file=sys.stderr)
        return 1

    torch.jit.script(NamedTensors(INPUT_NAMES, inputs)).save(os.path.join(args.out_dir, "inputs.pt"))
    torch.jit.script(NamedTensors(OUTPUT_NAMES, list(outputs))).save(os.path.join(args.out_dir, "expected.pt"))
    print(f"wrote model.pt, inputs.pt and expected.pt ({len(outputs)} outputs) to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
