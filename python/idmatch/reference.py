"""The reference algorithm: identity assignment as sleap-nn's module does it,
one scipy call per (sample, channel) group in a Python loop, written plainly
from the contract (docs/design.md, "Exact semantics") rather than from
sleap-nn's code.

It is the oracle of the tests, the demo's cross-check and the benchmark's
baseline. Generalised from float32 to every floating dtype (scipy solves in
float64, to which every dtype converts exactly); results land on the CPU.
Needs scipy (``pip install scipy``).
"""

import numpy as np
import torch

try:
    from scipy.optimize import linear_sum_assignment
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("idmatch.reference needs scipy: pip install scipy") from error


def sample_class_maps(class_maps, peak_points, peak_sample_inds):
    height, width = class_maps.shape[2], class_maps.shape[3]
    rows = torch.round(peak_points[:, 1].double()).clamp(0, height - 1).long()
    cols = torch.round(peak_points[:, 0].double()).clamp(0, width - 1).long()
    return class_maps[peak_sample_inds.long(), :, rows, cols]


def group_class_peaks(peak_class_probs, peak_sample_inds, peak_channel_inds, n_samples, n_channels):
    peak_inds, class_inds = [], []
    for sample in range(n_samples):
        for channel in range(n_channels):
            mask = (peak_sample_inds == sample) & (peak_channel_inds == channel)
            if not bool(mask.any()):
                continue
            probs = peak_class_probs[mask]
            rows, cols = linear_sum_assignment(-probs.double().cpu().numpy())
            members = torch.nonzero(mask).squeeze(1).cpu()
            peak_inds.append(members[torch.from_numpy(rows)])
            class_inds.append(torch.from_numpy(cols.astype(np.int64)))
    if not peak_inds:
        return torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=torch.int64)
    peak_inds = torch.cat(peak_inds)
    class_inds = torch.cat(class_inds)
    probs = peak_class_probs.cpu()
    if probs.shape[1] == 0:
        return peak_inds, class_inds
    is_best = probs[peak_inds, class_inds] == probs[peak_inds].max(dim=1).values
    return peak_inds[is_best], class_inds[is_best]


def classify_peaks_from_maps(class_maps, peak_points, peak_vals, peak_sample_inds, peak_channel_inds, n_channels):
    n_samples, n_classes = class_maps.shape[:2]
    probs = sample_class_maps(class_maps, peak_points, peak_sample_inds).cpu()
    peak_inds, class_inds = group_class_peaks(
        probs, peak_sample_inds.cpu(), peak_channel_inds.cpu(), n_samples, n_channels
    )
    samples = peak_sample_inds.cpu().long()[peak_inds]
    channels = peak_channel_inds.cpu().long()[peak_inds]
    points = torch.full((n_samples, n_classes, n_channels, 2), float("nan"), dtype=peak_points.dtype)
    point_vals = torch.full((n_samples, n_classes, n_channels), float("nan"), dtype=peak_vals.dtype)
    class_probs = torch.full((n_samples, n_classes, n_channels), float("nan"), dtype=class_maps.dtype)
    points[samples, class_inds, channels] = peak_points.cpu()[peak_inds]
    point_vals[samples, class_inds, channels] = peak_vals.cpu()[peak_inds]
    class_probs[samples, class_inds, channels] = probs[peak_inds, class_inds]
    return points, point_vals, class_probs


def get_class_inds_from_vectors(peak_class_probs):
    n_samples = peak_class_probs.shape[0]
    rows, cols = linear_sum_assignment(-peak_class_probs.double().cpu().numpy())
    class_inds = torch.full((n_samples,), -1, dtype=torch.int64)
    class_probs = torch.full((n_samples,), float("nan"), dtype=peak_class_probs.dtype)
    class_inds[torch.from_numpy(rows)] = torch.from_numpy(cols.astype(np.int64))
    class_probs[torch.from_numpy(rows)] = peak_class_probs.cpu()[torch.from_numpy(rows), torch.from_numpy(cols)]
    return class_inds, class_probs


def match_candidates_sample(edge_inds_sample, edge_peak_inds_sample, line_scores_sample, n_edges):
    """PAF candidate matching of one sample, one scipy call per edge: rows are
    the edge's distinct source peaks, columns its distinct destinations, cell
    cost the float32 -score of the last candidate of the pair, +inf where
    none or NaN. Raises as scipy does (infeasible, invalid entries)."""
    edges = edge_inds_sample.cpu().long()
    peaks = edge_peak_inds_sample.cpu().long()
    scores = line_scores_sample.cpu().float()
    out_edges, out_src, out_dst, out_scores = [], [], [], []
    for k in range(n_edges):
        members = torch.nonzero(edges == k).squeeze(1)
        src_peaks = torch.unique(peaks[members, 0])
        dst_peaks = torch.unique(peaks[members, 1])
        cost = np.full((len(src_peaks), len(dst_peaks)), np.inf, dtype=np.float32)
        for c in members.tolist():
            row = int(torch.searchsorted(src_peaks, peaks[c, 0]))
            col = int(torch.searchsorted(dst_peaks, peaks[c, 1]))
            cost[row, col] = -scores[c].item()
        cost[np.isnan(cost)] = np.inf
        rows, cols = linear_sum_assignment(cost)
        out_edges.append(torch.full((len(rows),), k, dtype=torch.int32))
        out_src.append(torch.from_numpy(rows.astype(np.int32)))
        out_dst.append(torch.from_numpy(cols.astype(np.int32)))
        out_scores.append(torch.from_numpy(-cost[rows, cols]).to(torch.float32))
    if not out_edges:
        empty = torch.empty(0, dtype=torch.int32)
        return empty, empty.clone(), empty.clone(), torch.empty(0, dtype=torch.float32)
    return torch.cat(out_edges), torch.cat(out_src), torch.cat(out_dst), torch.cat(out_scores)


def match_candidates_batch(edge_inds, edge_peak_inds, line_scores, n_edges):
    """match_candidates_sample for each sample: four lists of tensors."""
    results = [
        match_candidates_sample(edge_inds[s], edge_peak_inds[s], line_scores[s], n_edges) for s in range(len(edge_inds))
    ]
    return tuple([r[i] for r in results] for i in range(4))


def classify_padded_peaks(peaks, peak_vals, peak_mask, class_probs):
    """sleap-nn's exported bottom-up multi-class adapter: the valid slots of
    all groups flattened, matched per (sample, node) group with the keep-best
    filter, and scattered into class order."""
    n_samples, n_nodes, n_slots = peak_mask.shape
    n_classes = class_probs.shape[3]
    mask = peak_mask.cpu().reshape(-1)
    valid = torch.nonzero(mask).squeeze(1)
    flat_probs = class_probs.cpu().reshape(n_samples * n_nodes * n_slots, n_classes)[valid]
    samples = valid // (n_nodes * n_slots)
    nodes = (valid // n_slots) % n_nodes
    peak_inds, class_inds = group_class_peaks(flat_probs, samples, nodes, n_samples, n_nodes)
    points = torch.full((n_samples, n_classes, n_nodes, 2), float("nan"), dtype=peaks.dtype)
    point_vals = torch.full((n_samples, n_classes, n_nodes), float("nan"), dtype=peak_vals.dtype)
    class_vectors = torch.full((n_samples, n_classes, n_nodes, n_classes), float("nan"), dtype=class_probs.dtype)
    for peak, cls in zip(peak_inds.tolist(), class_inds.tolist()):
        b, n = int(samples[peak]), int(nodes[peak])
        slot = int(valid[peak]) % n_slots
        points[b, cls, n] = peaks.cpu()[b, n, slot]
        point_vals[b, cls, n] = peak_vals.cpu()[b, n, slot]
        class_vectors[b, cls, n] = flat_probs[peak]
    return points, point_vals, class_vectors


def match_padded_instances(class_probs, instance_valid):
    """sleap-nn's exported top-down multi-class adapter's matching: per
    sample, the valid instances matched to classes (get_class_inds_from_vectors),
    reported per instance and per class."""
    n_samples, n_instances, n_classes = class_probs.shape
    class_inds = torch.full((n_samples, n_instances), -1, dtype=torch.int64)
    instance_inds = torch.full((n_samples, n_classes), -1, dtype=torch.int64)
    for b in range(n_samples):
        valid = torch.nonzero(instance_valid[b].cpu()).squeeze(1)
        if valid.numel() == 0:
            continue
        local, _ = get_class_inds_from_vectors(class_probs[b].cpu()[valid])
        for row, cls in enumerate(local.tolist()):
            if cls < 0:
                continue
            class_inds[b, int(valid[row])] = cls
            instance_inds[b, cls] = int(valid[row])
    return class_inds, instance_inds
