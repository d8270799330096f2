"""Fake (meta) kernels of every raw op, for torch.compile and torch.export.

Each returns empty tensors of the shapes, dtypes and device the real kernels
produce; output shapes depend on input shapes only. The argument checks mirror
the real kernels' (csrc/ops/ragged_lsa_checks.h, csrc/ops/identity_common.h),
with the same exception types: a tensor on the meta device dispatches every
call here, so a meta tensor mixed with CPU tensors must be refused here as the
CPU kernel would refuse it, not answered with uninitialized CPU outputs.
"""

import torch

from ._common import INDEX_DTYPES, _check_floating, _check_same_device


@torch.library.register_fake("idmatch::ragged_linear_sum_assignment")
def _ragged_linear_sum_assignment(cost: torch.Tensor, offsets: torch.Tensor, maximize: bool = False):
    torch._check_value(cost.dim() == 2, lambda: f"cost must be a 2-D tensor (rows, cols), got {cost.dim()}-D")
    _check_floating(cost, "cost")
    torch._check_value(
        offsets.dim() == 1 and offsets.shape[0] >= 1,
        lambda: f"offsets must be a 1-D tensor of length num_problems + 1, got shape {list(offsets.shape)}",
    )
    torch._check_type(offsets.dtype == torch.int64, lambda: f"offsets must be int64, got {offsets.dtype}")
    _check_same_device(offsets, "offsets", cost, "cost")
    col_for_row = cost.new_empty((cost.shape[0],), dtype=torch.int64)
    status = cost.new_empty((offsets.shape[0] - 1,), dtype=torch.int32)
    return col_for_row, status


def _check_peak_indices(t: torch.Tensor, name: str, num_peaks, ref: torch.Tensor, ref_name: str) -> None:
    torch._check_value(
        t.dim() == 1 and t.shape[0] == num_peaks,
        lambda: f"{name} must have shape ({num_peaks},) (one per peak), got {list(t.shape)}",
    )
    torch._check_type(
        not t.dtype.is_floating_point and not t.dtype.is_complex and t.dtype != torch.bool,
        lambda: f"{name} must have an integer dtype, got {t.dtype}",
    )
    torch._check_type(t.dtype in INDEX_DTYPES, lambda: f"{name} has an unsupported dtype {t.dtype}")
    _check_same_device(t, name, ref, ref_name)


def _check_maps_and_points(class_maps: torch.Tensor, peak_points: torch.Tensor, peak_sample_inds: torch.Tensor):
    torch._check_value(
        class_maps.dim() == 4,
        lambda: f"class_maps must have shape (n_samples, n_classes, height, width), got {list(class_maps.shape)}",
    )
    _check_floating(class_maps, "class_maps")
    torch._check_value(
        peak_points.dim() == 2 and peak_points.shape[1] == 2,
        lambda: f"peak_points must have shape (n_peaks, 2), got {list(peak_points.shape)}",
    )
    _check_floating(peak_points, "peak_points")
    _check_same_device(peak_points, "peak_points", class_maps, "class_maps")
    _check_peak_indices(peak_sample_inds, "peak_sample_inds", peak_points.shape[0], class_maps, "class_maps")


def _check_groups(n_samples, n_channels) -> None:
    torch._check_value(n_samples >= 0, lambda: f"n_samples must be >= 0, got {n_samples}")
    torch._check_value(n_channels >= 0, lambda: f"n_channels must be >= 0, got {n_channels}")


@torch.library.register_fake("idmatch::sample_class_maps")
def _sample_class_maps(class_maps: torch.Tensor, peak_points: torch.Tensor, peak_sample_inds: torch.Tensor):
    _check_maps_and_points(class_maps, peak_points, peak_sample_inds)
    return class_maps.new_empty((peak_points.shape[0], class_maps.shape[1]))


@torch.library.register_fake("idmatch::match_peaks_to_classes")
def _match_peaks_to_classes(
    peak_class_probs: torch.Tensor,
    peak_sample_inds: torch.Tensor,
    peak_channel_inds: torch.Tensor,
    n_samples: int,
    n_channels: int,
):
    torch._check_value(
        peak_class_probs.dim() == 2,
        lambda: f"peak_class_probs must have shape (n_peaks, n_classes), got {list(peak_class_probs.shape)}",
    )
    _check_floating(peak_class_probs, "peak_class_probs")
    num_peaks = peak_class_probs.shape[0]
    _check_peak_indices(peak_sample_inds, "peak_sample_inds", num_peaks, peak_class_probs, "peak_class_probs")
    _check_peak_indices(peak_channel_inds, "peak_channel_inds", num_peaks, peak_class_probs, "peak_class_probs")
    _check_groups(n_samples, n_channels)
    class_inds = peak_class_probs.new_empty((num_peaks,), dtype=torch.int64)
    status = peak_class_probs.new_empty((n_samples, n_channels), dtype=torch.int32)
    return class_inds, status


@torch.library.register_fake("idmatch::classify_peaks_from_maps")
def _classify_peaks_from_maps(
    class_maps: torch.Tensor,
    peak_points: torch.Tensor,
    peak_vals: torch.Tensor,
    peak_sample_inds: torch.Tensor,
    peak_channel_inds: torch.Tensor,
    n_channels: int,
):
    _check_maps_and_points(class_maps, peak_points, peak_sample_inds)
    num_peaks = peak_points.shape[0]
    torch._check_value(
        peak_vals.dim() == 1 and peak_vals.shape[0] == num_peaks,
        lambda: f"peak_vals must have shape ({num_peaks},) (one per peak), got {list(peak_vals.shape)}",
    )
    _check_floating(peak_vals, "peak_vals")
    _check_same_device(peak_vals, "peak_vals", class_maps, "class_maps")
    _check_peak_indices(peak_channel_inds, "peak_channel_inds", num_peaks, class_maps, "class_maps")
    _check_groups(class_maps.shape[0], n_channels)
    n_samples, n_classes = class_maps.shape[0], class_maps.shape[1]
    points = peak_points.new_empty((n_samples, n_classes, n_channels, 2))
    point_vals = peak_vals.new_empty((n_samples, n_classes, n_channels))
    class_probs = class_maps.new_empty((n_samples, n_classes, n_channels))
    class_inds = class_maps.new_empty((num_peaks,), dtype=torch.int64)
    status = class_maps.new_empty((n_samples, n_channels), dtype=torch.int32)
    problems = class_maps.new_empty((), dtype=torch.int64)
    return points, point_vals, class_probs, class_inds, status, problems


def _check_candidate_indices(t: torch.Tensor, name: str, num_candidates, line_scores: torch.Tensor) -> None:
    torch._check_value(
        t.dim() == 1 and t.shape[0] == num_candidates,
        lambda: f"{name} must have shape ({num_candidates},) (one per candidate), got {list(t.shape)}",
    )
    torch._check_type(
        not t.dtype.is_floating_point and not t.dtype.is_complex and t.dtype != torch.bool,
        lambda: f"{name} must have an integer dtype, got {t.dtype}",
    )
    torch._check_type(t.dtype in INDEX_DTYPES, lambda: f"{name} has an unsupported dtype {t.dtype}")
    _check_same_device(t, name, line_scores, "line_scores")


@torch.library.register_fake("idmatch::match_paf_candidates")
def _match_paf_candidates(
    edge_inds: torch.Tensor,
    edge_peak_inds: torch.Tensor,
    line_scores: torch.Tensor,
    sample_inds: torch.Tensor,
    n_samples: int,
    n_edges: int,
):
    torch._check_value(
        line_scores.dim() == 1,
        lambda: f"line_scores must be a 1-D tensor (one score per candidate), got shape {list(line_scores.shape)}",
    )
    _check_floating(line_scores, "line_scores")
    num_candidates = line_scores.shape[0]
    _check_candidate_indices(edge_inds, "edge_inds", num_candidates, line_scores)
    torch._check_value(
        edge_peak_inds.dim() == 2 and edge_peak_inds.shape[0] == num_candidates and edge_peak_inds.shape[1] == 2,
        lambda: (
            f"edge_peak_inds must have shape ({num_candidates}, 2) (source, destination per candidate), "
            f"got {list(edge_peak_inds.shape)}"
        ),
    )
    torch._check_type(
        not edge_peak_inds.dtype.is_floating_point
        and not edge_peak_inds.dtype.is_complex
        and edge_peak_inds.dtype != torch.bool,
        lambda: f"edge_peak_inds must have an integer dtype, got {edge_peak_inds.dtype}",
    )
    torch._check_type(
        edge_peak_inds.dtype in INDEX_DTYPES, lambda: f"edge_peak_inds has an unsupported dtype {edge_peak_inds.dtype}"
    )
    _check_same_device(edge_peak_inds, "edge_peak_inds", line_scores, "line_scores")
    _check_candidate_indices(sample_inds, "sample_inds", num_candidates, line_scores)
    torch._check_value(n_samples >= 0, lambda: f"n_samples must be >= 0, got {n_samples}")
    torch._check_value(n_edges >= 0, lambda: f"n_edges must be >= 0, got {n_edges}")
    torch._check_value(
        n_samples == 0 or n_edges <= (1 << 62) // n_samples,
        lambda: f"n_samples * n_edges is too large: {n_samples} samples of {n_edges} edges",
    )
    torch._check_value(
        num_candidates <= 0x7FFFFFFF - 1,
        lambda: f"too many candidates: {num_candidates} (at most {0x7FFFFFFF - 1})",
    )
    matched = line_scores.new_empty((num_candidates,), dtype=torch.bool)
    src_rank = line_scores.new_empty((num_candidates,), dtype=torch.int32)
    dst_rank = line_scores.new_empty((num_candidates,), dtype=torch.int32)
    status = line_scores.new_empty((n_samples, n_edges), dtype=torch.int32)
    return matched, src_rank, dst_rank, status


def _check_mask(t: torch.Tensor, name: str, shape, ref: torch.Tensor, ref_name: str) -> None:
    torch._check_value(
        t.dim() == len(shape) and list(t.shape) == list(shape),
        lambda: f"{name} must have shape {list(shape)} ({ref_name}.shape[:{len(shape)}]), got {list(t.shape)}",
    )
    torch._check_type(t.dtype == torch.bool, lambda: f"{name} must be a bool tensor, got {t.dtype}")
    _check_same_device(t, name, ref, ref_name)


@torch.library.register_fake("idmatch::classify_padded_peaks")
def _classify_padded_peaks(
    peaks: torch.Tensor, peak_vals: torch.Tensor, peak_mask: torch.Tensor, class_probs: torch.Tensor
):
    torch._check_value(
        peaks.dim() == 4 and peaks.shape[3] == 2,
        lambda: f"peaks must have shape (n_samples, n_nodes, n_slots, 2), got {list(peaks.shape)}",
    )
    _check_floating(peaks, "peaks")
    groups = list(peaks.shape[:3])
    torch._check_value(
        peak_vals.dim() == 3 and list(peak_vals.shape) == groups,
        lambda: f"peak_vals must have shape {groups} (peaks.shape[:3]), got {list(peak_vals.shape)}",
    )
    _check_floating(peak_vals, "peak_vals")
    _check_same_device(peak_vals, "peak_vals", peaks, "peaks")
    _check_mask(peak_mask, "peak_mask", groups, peaks, "peaks")
    torch._check_value(
        class_probs.dim() == 4 and list(class_probs.shape[:3]) == groups,
        lambda: (
            f"class_probs must have shape (n_samples, n_nodes, n_slots, n_classes) with {groups} = "
            f"peaks.shape[:3], got {list(class_probs.shape)}"
        ),
    )
    _check_floating(class_probs, "class_probs")
    _check_same_device(class_probs, "class_probs", peaks, "peaks")
    n_samples, n_nodes = peaks.shape[0], peaks.shape[1]
    n_classes = class_probs.shape[3]
    points = peaks.new_empty((n_samples, n_classes, n_nodes, 2))
    point_vals = peak_vals.new_empty((n_samples, n_classes, n_nodes))
    class_vectors = class_probs.new_empty((n_samples, n_classes, n_nodes, n_classes))
    status = class_probs.new_empty((n_samples, n_nodes), dtype=torch.int32)
    return points, point_vals, class_vectors, status


@torch.library.register_fake("idmatch::match_padded_instances")
def _match_padded_instances(class_probs: torch.Tensor, instance_valid: torch.Tensor):
    torch._check_value(
        class_probs.dim() == 3,
        lambda: f"class_probs must have shape (n_samples, n_instances, n_classes), got {list(class_probs.shape)}",
    )
    _check_floating(class_probs, "class_probs")
    _check_mask(instance_valid, "instance_valid", list(class_probs.shape[:2]), class_probs, "class_probs")
    n_samples, n_instances, n_classes = class_probs.shape
    class_inds = class_probs.new_empty((n_samples, n_instances), dtype=torch.int64)
    instance_inds = class_probs.new_empty((n_samples, n_classes), dtype=torch.int64)
    status = class_probs.new_empty((n_samples,), dtype=torch.int32)
    return class_inds, instance_inds, status
