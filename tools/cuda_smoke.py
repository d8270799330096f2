"""Calls every CUDA raw op once per case, small, for compute-sanitizer.

Cases: every floating dtype, empty shapes, strided and expanded inputs,
out-of-range indices and NaN entries (the status paths), padded peaks and
instances, tall problems, problems past the 64-column scan, and problems for
every kind of team (tiles of 8, 16 and 32 lanes, blocks, and the block that
takes the problems too wide for its tiles in the PAF and padded kernels, its
lane states in shared memory and in the workspace). Prints one line per op
and exits 0 when every call returned; the sanitizer's report says whether
any memory access, shared-memory race, barrier or read of unwritten memory
was wrong.

Usage: compute-sanitizer --tool memcheck python tools/cuda_smoke.py [DEVICE]
(DEVICE: cuda, the default, or cpu, where the tests run it to check that
every case is a valid call).
"""

import sys

import torch

import idmatch  # noqa: F401  (loads the ops)

RAW = torch.ops.idmatch


def lsa_cases(device):
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        cost = torch.randint(0, 3, (40, 12), generator=g).to(dtype)
        yield cost.to(device), torch.tensor([0, 5, 5, 17, 40], device=device), False
        yield cost.to(device).t(), torch.tensor([0, 6, 12], device=device), True  # column-strided, tall rows
    yield torch.empty(0, 4, device=device), torch.tensor([0, 0], device=device), False
    wide = torch.rand(90, 100, generator=g, dtype=torch.float64).to(device)  # 4096+ entries, > 64 columns
    yield wide, torch.tensor([0, 45, 90], device=device), False
    nan = torch.rand(6, 4, generator=g).to(device)
    nan[4, 0] = float("nan")
    yield nan, torch.tensor([0, 3, 6], device=device), False
    yield nan, torch.tensor([0, 7, 6], device=device), False  # bad offsets: whole batch refused
    yield torch.rand(1, 3, generator=g).to(device).expand(8, 3), torch.tensor([0, 4, 8], device=device), True


def identity_cases(device):
    g = torch.Generator().manual_seed(1)
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        maps = torch.rand(3, 4, 20, 20, generator=g).to(dtype).to(device)
        points = (torch.rand(50, 2, generator=g) * 24 - 2).to(dtype).to(device)
        vals = torch.rand(50, generator=g).to(dtype).to(device)
        samples = torch.randint(0, 4, (50,), generator=g).to(device)  # 3 is out of range
        channels = torch.randint(-1, 6, (50,), generator=g).to(device)  # -1 and 5 out of range
        yield maps, points, vals, samples, channels, 5
        yield maps, points[::2], vals[::2], samples[::2], channels[::2], 5  # strided
    maps = torch.rand(2, 3, 8, 8, generator=g).to(device)
    empty = torch.empty(0, device=device)
    yield maps, empty.reshape(0, 2), empty, empty.long(), empty.long(), 4


def paf_cases(device):
    g = torch.Generator().manual_seed(2)
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        count = 300
        edges = torch.randint(-1, 6, (count,), generator=g)  # -1 and 5 out of range
        peaks = torch.randint(0, 8, (count, 2), generator=g, dtype=torch.int32)
        scores = torch.rand(count, generator=g).to(dtype)
        scores[::17] = float("nan")
        samples = torch.randint(0, 4, (count,), generator=g)  # 3 is out of range
        yield edges.to(device), peaks.to(device), scores.to(device), samples.to(device), 3, 5
        yield edges[::2].to(device), peaks[::2].to(device), scores[::2].to(device), samples[::2].to(device), 3, 5
        sparse = torch.randint(0, 40, (count, 2), generator=g)  # mostly infeasible problems
        yield edges.to(device), sparse.to(device), scores.to(device), samples.to(device), 3, 5
    # Problems of up to 40 sources and destinations: the tile, and the block
    # beyond its 32 columns, with its lane states in shared memory.
    count = 1500
    edges = torch.randint(0, 2, (count,), generator=g)
    wide = torch.randint(0, 40, (count, 2), generator=g)
    scores = torch.rand(count, generator=g)
    yield edges.to(device), wide.to(device), scores.to(device), torch.zeros_like(edges).to(device), 1, 2
    # 4 sources and about 1900 destinations (edge 0), and the transpose
    # (edge 1): the block with its lane states in the workspace.
    few = torch.randint(0, 4, (count * 2,), generator=g)
    many = torch.randint(0, 3000, (count * 2,), generator=g)
    edges = torch.cat([torch.zeros(count * 2, dtype=torch.int64), torch.ones(count * 2, dtype=torch.int64)])
    peaks = torch.cat([torch.stack([few, many], 1), torch.stack([many, few], 1)])
    scores = torch.rand(count * 4, generator=g)
    yield edges.to(device), peaks.to(device), scores.to(device), torch.zeros_like(edges).to(device), 1, 2
    empty = torch.empty(0, dtype=torch.int64, device=device)
    yield empty, empty.reshape(0, 2), torch.empty(0, device=device), empty, 2, 3


def padded_cases(device):
    g = torch.Generator().manual_seed(2)
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        peaks = torch.rand(3, 4, 6, 2, generator=g).to(dtype).to(device)
        vals = torch.rand(3, 4, 6, generator=g).to(dtype).to(device)
        mask = (torch.rand(3, 4, 6, generator=g) < 0.6).to(device)
        probs = torch.randint(0, 3, (3, 4, 6, 5), generator=g).to(dtype).to(device)
        yield peaks, vals, mask, probs
        yield peaks[:, :, ::2], vals[:, :, ::2], mask[:, :, ::2], probs[:, :, ::2, :3]  # strided, rows > classes
    # Tiles of 16 and 32 lanes; tiles of 32 that hand the groups of over 32
    # valid slots to the block (its lane states in shared memory, then in
    # the workspace); blocks for over 32 classes.
    for slots, classes in ((12, 6), (20, 6), (40, 6), (1500, 6), (5, 36)):
        yield (
            torch.rand(2, 3, slots, 2, generator=g).to(device),
            torch.rand(2, 3, slots, generator=g).to(device),
            (torch.rand(2, 3, slots, generator=g) < 0.8).to(device),
            torch.randint(0, 3, (2, 3, slots, classes), generator=g).double().to(device),
        )
    nan = torch.rand(2, 3, 4, 3, generator=g).to(device)
    nan[1, 2, 0, 1] = float("nan")  # a NaN in a valid slot: that group's status
    yield (
        torch.rand(2, 3, 4, 2, device=device),
        torch.rand(2, 3, 4, device=device),
        torch.ones(2, 3, 4, dtype=torch.bool, device=device),
        nan,
    )
    yield (
        torch.empty(2, 0, 4, 2, device=device),
        torch.empty(2, 0, 4, device=device),
        torch.empty(2, 0, 4, dtype=torch.bool, device=device),
        torch.empty(2, 0, 4, 3, device=device),
    )


def main(device: str = "cuda") -> int:
    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device")
        return 1
    calls = 0
    for cost, offsets, maximize in lsa_cases(device):
        RAW.ragged_linear_sum_assignment(cost, offsets, maximize)
        calls += 1
    print(f"ragged_linear_sum_assignment: {calls} calls")
    calls = 0
    for maps, points, vals, samples, channels, n_channels in identity_cases(device):
        probs = RAW.sample_class_maps(maps, points, samples)
        RAW.match_peaks_to_classes(probs, samples, channels, maps.shape[0], n_channels)
        RAW.classify_peaks_from_maps(maps, points, vals, samples, channels, n_channels)
        calls += 1
    print(f"sample_class_maps, match_peaks_to_classes, classify_peaks_from_maps: {calls} calls each")
    calls = 0
    for edges, peaks, scores, samples, n_samples, n_edges in paf_cases(device):
        RAW.match_paf_candidates(edges, peaks, scores, samples, n_samples, n_edges)
        calls += 1
    print(f"match_paf_candidates: {calls} calls")
    calls = 0
    for peaks, vals, mask, probs in padded_cases(device):
        RAW.classify_padded_peaks(peaks, vals, mask, probs)
        RAW.match_padded_instances(probs.flatten(0, 1), mask.flatten(0, 1))  # one sample per group
        calls += 1
    print(f"classify_padded_peaks, match_padded_instances: {calls} calls each")
    if device == "cuda":
        torch.cuda.synchronize()
    print("all calls returned")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
