"""``python -m idmatch demo``: the identity pipeline on a multi-animal scene.

The default scene ships with the package (``data/demo_scene.pt``, made by
``make_scene(seed=7)`` with float16 class maps, to show a half-precision
run): a few
animals, each a chain of body-part nodes, with class maps in which each
animal's identity glows around its own body. Two animals stand side by side,
so their peaks lie a few pixels apart, and one animal's identity signal is
weak, so its class probabilities are ambiguous: the cases where matching,
not argmax, decides. ``--seed`` and ``--size`` make a new scene instead.

The demo classifies the peaks with idmatch, prints the instances grouped by
identity, checks them against the reference algorithm (a per-group scipy
loop) and draws them over the class maps.
"""

import argparse
import os
from typing import Dict, Optional, Tuple

import torch

import idmatch

from ._cli import UsageError

SCENE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "demo_scene.pt")
SIZES = {"small": (2, 3, 5, 48, 64), "medium": (4, 5, 8, 96, 128), "large": (8, 8, 12, 160, 192)}
Scene = Dict[str, torch.Tensor]


def make_scene(
    seed: int = 0, n_frames: int = 2, n_animals: int = 3, n_nodes: int = 5, height: int = 48, width: int = 64
) -> Scene:
    """A synthetic multi-animal scene: peaks, class maps and the true identity of each peak."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator)

    # Animals: a start point and a heading; the nodes follow along the body.
    margin = torch.tensor([width * 0.2, height * 0.2])
    starts = uniform(n_frames, n_animals, 2) * torch.tensor([width * 0.6, height * 0.6]) + margin
    if n_animals > 1:
        starts[:, 1] = starts[:, 0] + torch.tensor([2.5, 3.0])  # side by side: peaks pixels apart
    angles = uniform(n_frames, n_animals, 1) * 2 * torch.pi
    steps = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1) * 3.0
    nodes = starts[:, :, None, :] + steps[:, :, None, :] * torch.arange(n_nodes).view(1, 1, -1, 1)
    nodes[..., 0] = nodes[..., 0].clamp(0, width - 1)
    nodes[..., 1] = nodes[..., 1].clamp(0, height - 1)

    # Class maps: a softmax over identity evidence, blobs around each body.
    ys = torch.arange(height, dtype=torch.float32).view(height, 1)
    xs = torch.arange(width, dtype=torch.float32).view(1, width)
    evidence = torch.zeros(n_frames, n_animals, height, width)
    strength = torch.full((n_animals,), 4.0)
    strength[-1] = 1.0  # weakly identified: ambiguous probabilities
    for frame in range(n_frames):
        for animal in range(n_animals):
            for x, y in nodes[frame, animal].tolist():
                blob = torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 8.0)
                evidence[frame, animal] += strength[animal] * blob
    class_maps = torch.softmax(evidence + 0.3 * uniform(n_frames, n_animals, height, width), dim=1)

    # Peaks: every node of every animal with a little localisation noise, in
    # an order that says nothing of identity.
    count = n_frames * n_animals * n_nodes
    order = torch.randperm(count, generator=generator)
    points = nodes + (uniform(*nodes.shape) - 0.5)
    grid = torch.meshgrid(torch.arange(n_frames), torch.arange(n_animals), torch.arange(n_nodes), indexing="ij")
    return {
        "class_maps": class_maps,
        "peak_points": points.reshape(-1, 2)[order],
        "peak_vals": (0.5 + 0.5 * uniform(count))[order],
        "peak_sample_inds": grid[0].reshape(-1)[order],
        "peak_channel_inds": grid[2].reshape(-1)[order],
        "true_identity": grid[1].reshape(-1)[order],
    }


def load_scene(seed: Optional[int], size: Optional[str]) -> Tuple[Scene, str]:
    """The packaged scene, unless a seed or a size asks for a new one."""
    if seed is None and size is None:
        return torch.load(SCENE_FILE), "the packaged sample scene"
    n_frames, n_animals, n_nodes, height, width = SIZES[size or "small"]
    seed = 0 if seed is None else seed
    scene = make_scene(seed, n_frames, n_animals, n_nodes, height, width)
    return scene, f"a {size or 'small'} synthetic scene, seed {seed}"


def classify(scene: Scene, device: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return idmatch.classify_peaks_from_maps(
        scene["class_maps"].to(device),
        scene["peak_points"].to(device),
        scene["peak_vals"].to(device),
        scene["peak_sample_inds"].to(device),
        scene["peak_channel_inds"].to(device),
        int(scene["peak_channel_inds"].max()) + 1 if scene["peak_channel_inds"].numel() else 0,
    )


def format_instances(points: torch.Tensor, point_vals: torch.Tensor, class_probs: torch.Tensor) -> str:
    """One line per (frame, identity), one column per node: point and class probability."""
    n_frames, n_classes, n_nodes = point_vals.shape
    header = f"{'frame':>5}  {'identity':>8}  " + "  ".join(f"{'node ' + str(n):>19}" for n in range(n_nodes))
    lines = [header, "-" * len(header)]
    for frame in range(n_frames):
        for identity in range(n_classes):
            cells = []
            for node in range(n_nodes):
                if torch.isnan(point_vals[frame, identity, node]):
                    cells.append(f"{'-':>19}")
                else:
                    x, y = points[frame, identity, node].tolist()
                    prob = float(class_probs[frame, identity, node])
                    cells.append(f"{f'({x:5.1f},{y:5.1f}) p={prob:.2f}':>19}")
            lines.append(f"{frame:>5}  {identity:>8}  " + "  ".join(cells))
    return "\n".join(lines)


def identity_accuracy(scene: Scene, points: torch.Tensor) -> Tuple[int, int]:
    """Peaks placed in the instance of their true identity, of all peaks."""
    correct = 0
    for p in range(scene["peak_points"].shape[0]):
        frame = int(scene["peak_sample_inds"][p])
        node = int(scene["peak_channel_inds"][p])
        truth = int(scene["true_identity"][p])
        correct += bool(torch.equal(points[frame, truth, node], scene["peak_points"][p]))
    return correct, scene["peak_points"].shape[0]


def write_picture(scene: Scene, points: torch.Tensor, path: str) -> bool:
    """Class maps (colour = likeliest identity, brightness = its confidence)
    with each frame's instances drawn in their identity's colour. False when
    matplotlib is missing."""
    try:
        from matplotlib import colormaps
        from matplotlib.figure import Figure
    except ImportError:
        return False
    class_maps = scene["class_maps"].float()
    n_frames, n_classes = class_maps.shape[:2]
    palette = colormaps["tab10"].colors
    figure = Figure(figsize=(4.2 * n_frames, 3.8), layout="constrained")
    axes = figure.subplots(1, n_frames, squeeze=False)[0]
    for frame, axis in enumerate(axes):
        best_prob, best_class = class_maps[frame].max(dim=0)
        colours = torch.tensor([palette[c % 10] for c in range(n_classes)])[best_class]
        # Brightness: how far the likeliest identity stands above chance.
        confidence = ((best_prob - 1.0 / n_classes) / (1.0 - 1.0 / n_classes)).clamp(0, 1)
        axis.imshow((colours * (0.12 + 0.78 * confidence[..., None])).numpy(), origin="upper")
        frame_peaks = scene["peak_sample_inds"] == frame
        xy = scene["peak_points"][frame_peaks]
        axis.scatter(xy[:, 0], xy[:, 1], s=60, facecolors="none", edgecolors="white", linewidths=0.8)
        for identity in range(n_classes):
            instance = points[frame, identity]
            present = ~torch.isnan(instance[:, 0])
            if present.any():
                colour = palette[identity % 10]
                axis.plot(instance[present, 0], instance[present, 1], "-", color=colour, linewidth=2)
                axis.scatter(
                    instance[present, 0],
                    instance[present, 1],
                    s=28,
                    color=colour,
                    edgecolors="black",
                    linewidths=0.6,
                    zorder=3,
                    label=f"identity {identity}",
                )
        axis.set_title(f"frame {frame}")
        axis.set_xticks([])
        axis.set_yticks([])
    axes[-1].legend(loc="lower right", fontsize=7, framealpha=0.8)
    figure.suptitle("idmatch: peaks (white rings) grouped into instances by identity")
    figure.savefig(path, dpi=120)
    return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", default="idmatch-demo.png", help="where to write the picture (default: idmatch-demo.png)"
    )
    parser.add_argument("--device", default="cpu", help="device to run on, e.g. cpu or cuda (default: cpu)")
    parser.add_argument("--seed", type=int, default=None, help="make a new synthetic scene with this seed")
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default=None,
        help="make a new synthetic scene of this size (frames, animals, nodes, map size)",
    )


def run(args: argparse.Namespace) -> int:
    from . import reference

    try:
        device = torch.device(args.device)
    except RuntimeError as error:
        raise UsageError(f"--device: {error}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available here")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda, got {args.device!r}")
    scene, description = load_scene(args.seed, args.size)
    points, point_vals, class_probs = classify(scene, args.device)
    points, point_vals, class_probs = points.cpu(), point_vals.cpu(), class_probs.cpu()
    n_frames, n_identities, n_nodes = point_vals.shape
    print(
        f"idmatch {idmatch.__version__} on {device}: {description}: {scene['peak_points'].shape[0]} peaks, "
        f"{n_frames} frames, {n_identities} identities, {n_nodes} nodes\n"
    )
    print(format_instances(points, point_vals, class_probs))

    n_channels = n_nodes
    expected = reference.classify_peaks_from_maps(
        scene["class_maps"],
        scene["peak_points"],
        scene["peak_vals"],
        scene["peak_sample_inds"],
        scene["peak_channel_inds"],
        n_channels,
    )
    same = all(
        torch.equal(torch.isnan(a), torch.isnan(e)) and torch.equal(a.nan_to_num(0.0), e.nan_to_num(0.0))
        for a, e in zip((points, point_vals, class_probs), expected)
    )
    correct, total = identity_accuracy(scene, points)
    print(f"\nreference check (per-group scipy loop): {'identical' if same else 'MISMATCH'}")
    print(f"peaks placed in their true animal's instance: {correct} of {total}")
    if write_picture(scene, points, args.output):
        print(f"picture: {args.output}")
    else:
        print("picture skipped: matplotlib is missing (pip install matplotlib)")
    return 0 if same else 1
