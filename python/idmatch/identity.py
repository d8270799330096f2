"""Identity assignment: a drop-in for ``sleap_nn.inference.identity``.

Same functions, signatures and results as sleap-nn's module, but for the
deliberate differences (docs/design.md, "Deliberate differences from
sleap-nn"): every floating dtype works, results stay on the input's device,
out-of-range indices raise. Every function is scriptable with
torch.jit.script. Underneath are the raw ops ``torch.ops.idmatch.*``, which
never sync and report problems per peak and per group instead of raising;
these wrappers turn the reports into exceptions (one device-to-host copy on
CUDA), except while torch.compile or torch.export trace them.
"""

from typing import Tuple

import torch

from ._common import PeakCode, Status, _check_floating, _check_tensor, _is_compiling, _status_message


def _raise_for_peaks(
    class_inds: torch.Tensor,
    peak_sample_inds: torch.Tensor,
    peak_channel_inds: torch.Tensor,
    n_samples: int,
    n_channels: int,
) -> None:
    """Raises IndexError for the first peak whose sample or channel index is
    out of range."""
    # One reduction and one read on the happy path: these checks are a fair
    # share of a small call's time.
    if class_inds.shape[0] > 0 and int(class_inds.min()) < PeakCode.UNMATCHED.value:
        peak = int(torch.argmax((class_inds < PeakCode.UNMATCHED.value).to(torch.int32)))
        if int(class_inds[peak]) == PeakCode.SAMPLE_OUT_OF_RANGE.value:
            raise IndexError(
                f"peak_sample_inds[{peak}] is {int(peak_sample_inds[peak])}, outside [0, {n_samples}) (n_samples)"
            )
        raise IndexError(
            f"peak_channel_inds[{peak}] is {int(peak_channel_inds[peak])}, outside [0, {n_channels}) (n_channels)"
        )


def _raise_for_groups(status: torch.Tensor, name: str) -> None:
    """Raises ValueError for the first (sample, channel) group whose matching failed."""
    if status.numel() > 0 and int(status.max()) != Status.OK.value:  # codes are >= 0
        flat = int(torch.argmax((status != Status.OK.value).flatten().to(torch.int32)))
        n_channels = status.shape[1]
        sample = flat // n_channels
        channel = flat % n_channels
        code = int(status.flatten()[flat])
        if code == Status.INFEASIBLE.value:
            problem = "has no complete assignment (infinite probabilities)"
        else:
            problem = f"cannot be matched: {_status_message(code)} (NaN or +inf)"
        raise ValueError(f"{name} of the peaks of sample {sample}, channel {channel} {problem}")


def _check_map_size(class_maps: torch.Tensor, peak_points: torch.Tensor) -> None:
    if peak_points.shape[0] > 0 and (class_maps.shape[2] == 0 or class_maps.shape[3] == 0):
        raise ValueError(f"class_maps has an empty spatial size {list(class_maps.shape[2:])} but there are peaks")


def _check_points(peak_points: torch.Tensor) -> None:
    if peak_points.is_floating_point() and bool(torch.isnan(peak_points).any()):
        raise ValueError("peak_points contains NaN coordinates")


def sample_class_maps(
    class_maps: torch.Tensor, peak_points: torch.Tensor, peak_sample_inds: torch.Tensor
) -> torch.Tensor:
    """Class probabilities of each peak, sampled from the class maps.

    Args:
        class_maps: (n_samples, n_classes, height, width), any floating dtype.
        peak_points: (n_peaks, 2) peak coordinates (x, y) in the maps' scale,
            floating. They are rounded half to even (torch.round) and clamped
            into the map.
        peak_sample_inds: (n_peaks,) integer sample index of each peak.

    Returns:
        (n_peaks, n_classes) in class_maps' dtype, on its device:
        ``class_maps[sample, :, round(y), round(x)]``.

    Raises:
        ValueError, TypeError: wrong shapes, dtypes or devices (the message
            names the argument); NaN coordinates; empty maps with peaks.
        IndexError: a sample index outside [0, n_samples).
    """
    probs = torch.ops.idmatch.sample_class_maps(class_maps, peak_points, peak_sample_inds)
    if not _is_compiling() and peak_points.shape[0] > 0:
        _check_map_size(class_maps, peak_points)
        bad = (peak_sample_inds < 0) | (peak_sample_inds >= class_maps.shape[0])
        if bool(bad.any()):
            peak = int(torch.argmax(bad.to(torch.int32)))
            raise IndexError(
                f"peak_sample_inds[{peak}] is {int(peak_sample_inds[peak])}, outside [0, {class_maps.shape[0]}) "
                f"(class_maps.shape[0])"
            )
        _check_points(peak_points)
    return probs


def group_class_peaks(
    peak_class_probs: torch.Tensor,
    peak_sample_inds: torch.Tensor,
    peak_channel_inds: torch.Tensor,
    n_samples: int,
    n_channels: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Matches peaks to classes per (sample, channel) group (Hungarian matching).

    Each group's peaks are matched to classes maximizing the total probability
    (scipy's exact assignment, ties included); a match is kept only when the
    class is the peak's most probable one.

    Args:
        peak_class_probs: (n_peaks, n_classes) class probabilities, floating.
        peak_sample_inds: (n_peaks,) integer sample index of each peak.
        peak_channel_inds: (n_peaks,) integer channel (node) index of each peak.
        n_samples: number of samples; indices must lie in [0, n_samples).
        n_channels: number of channels; indices must lie in [0, n_channels).

    Returns:
        (peak_inds, class_inds), int64 on the probabilities' device: the kept
        matches, ordered by sample, then channel, then peak index, as
        sleap-nn's. Their length depends on the values, so this function
        breaks a torch.compile graph (the raw op
        torch.ops.idmatch.match_peaks_to_classes does not).

    Raises:
        ValueError, TypeError: wrong shapes, dtypes, devices, negative sizes,
            or NaN/+inf probabilities in a group that is matched.
        IndexError: a sample or channel index out of range.
    """
    class_inds, status = torch.ops.idmatch.match_peaks_to_classes(
        peak_class_probs, peak_sample_inds, peak_channel_inds, n_samples, n_channels
    )
    if not _is_compiling():
        _raise_for_peaks(class_inds, peak_sample_inds, peak_channel_inds, n_samples, n_channels)
        _raise_for_groups(status, "peak_class_probs")
    kept = torch.nonzero(class_inds >= 0).squeeze(1)
    groups = peak_sample_inds[kept].to(torch.int64) * n_channels + peak_channel_inds[kept].to(torch.int64)
    peak_inds = kept[torch.argsort(groups, stable=True)]
    return peak_inds, class_inds[peak_inds]


def classify_peaks_from_maps(
    class_maps: torch.Tensor,
    peak_points: torch.Tensor,
    peak_vals: torch.Tensor,
    peak_sample_inds: torch.Tensor,
    peak_channel_inds: torch.Tensor,
    n_channels: int,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Classifies peaks by their class map probability and groups them into instances.

    Args:
        class_maps: (n_samples, n_classes, height, width), any floating dtype.
        peak_points: (n_peaks, 2) peak coordinates (x, y) in the maps' scale.
        peak_vals: (n_peaks,) confidence map value of each peak.
        peak_sample_inds: (n_peaks,) integer sample index of each peak.
        peak_channel_inds: (n_peaks,) integer channel (node) index of each peak.
        n_channels: number of channels (nodes) of an instance.

    Returns:
        (points, point_vals, class_probs) on class_maps' device:
        points (n_samples, n_classes, n_channels, 2) in peak_points' dtype,
        point_vals (n_samples, n_classes, n_channels) in peak_vals' dtype and
        class_probs (n_samples, n_classes, n_channels) in class_maps' dtype;
        NaN where no peak was kept.

    Raises:
        ValueError, TypeError: wrong shapes, dtypes, devices, negative
            n_channels, NaN coordinates, or NaN/+inf probabilities in a group.
        IndexError: a sample or channel index out of range.
    """
    points, point_vals, class_probs, class_inds, status, problems = torch.ops.idmatch.classify_peaks_from_maps(
        class_maps, peak_points, peak_vals, peak_sample_inds, peak_channel_inds, n_channels
    )
    # One read of the op's problem count on the happy path; the reductions
    # that find the first problem run only when there is one.
    if not _is_compiling() and int(problems) != 0:
        _raise_for_peaks(class_inds, peak_sample_inds, peak_channel_inds, class_maps.shape[0], n_channels)
        if status.numel() > 0 and int(status.max()) != Status.OK.value:
            _check_map_size(class_maps, peak_points)
            _check_points(peak_points)
            _raise_for_groups(status, "class_maps")
    return points, point_vals, class_probs


def get_class_inds_from_vectors(peak_class_probs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Assigns one class to each row of classification vectors (Hungarian matching).

    Args:
        peak_class_probs: (n_samples, n_classes) class probabilities (e.g. a
            softmax output), any floating dtype.

    Returns:
        class_inds (n_samples,) int64, -1 for rows left without a class (more
        rows than classes), and class_probs (n_samples,) in the input's dtype,
        NaN for those rows; both on the input's device.

    Raises:
        ValueError: not 2-D, or NaN/+inf probabilities.
        TypeError: not a floating tensor.
    """
    _check_tensor(peak_class_probs, "peak_class_probs")
    if peak_class_probs.dim() != 2:
        raise ValueError(f"peak_class_probs must have shape (n_samples, n_classes), got {list(peak_class_probs.shape)}")
    _check_floating(peak_class_probs, "peak_class_probs")
    rows = peak_class_probs.shape[0]
    offsets = torch.tensor([0, rows], dtype=torch.int64, device=peak_class_probs.device)
    class_inds, status = torch.ops.idmatch.ragged_linear_sum_assignment(peak_class_probs, offsets, True)
    if not _is_compiling():
        code = int(status[0])
        if code != Status.OK.value:
            raise ValueError(f"peak_class_probs cannot be matched: {_status_message(code)}")
    if peak_class_probs.shape[1] == 0:
        return class_inds, torch.full_like(class_inds, 0, dtype=peak_class_probs.dtype).fill_(float("nan"))
    assigned = class_inds >= 0
    class_probs = peak_class_probs.gather(1, class_inds.clamp(min=0).unsqueeze(1)).squeeze(1)
    class_probs = torch.where(assigned, class_probs, torch.full_like(class_probs, float("nan")))
    return class_inds, class_probs
