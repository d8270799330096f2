"""Identity matching on an exported model's padded outputs.

An exported (ONNX, TensorRT, torch.export) multi-class model emits
fixed-shape tensors: peaks padded to K slots per (sample, node) with a
validity mask (bottom-up), or instances padded to I per sample (top-down).
These functions do what sleap-nn's exported-model adapters do with them,
with the same results (scipy's exact assignment, ties included), but in one
op call on the tensors' device instead of a Python loop, and with output
shapes that depend on input shapes only. Every function is scriptable with
torch.jit.script. The raw ops ``torch.ops.idmatch.classify_padded_peaks``
and ``torch.ops.idmatch.match_padded_instances`` never sync and report
problems per group; these wrappers raise for them (one device-to-host copy
on CUDA), except while torch.compile or torch.export trace them.
"""

from typing import Tuple

import torch

from ._common import Status, _check_tensor, _is_compiling, _status_message


def _group_problem(code: int) -> str:
    if code == Status.INFEASIBLE.value:
        return "has no complete assignment (-inf probabilities)"
    return f"cannot be matched: {_status_message(code)} (NaN or +inf)"


def classify_padded_peaks(
    peaks: torch.Tensor, peak_vals: torch.Tensor, peak_mask: torch.Tensor, class_probs: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Matches padded peaks to classes per (sample, node) and scatters them into instances.

    What sleap-nn's ``ExportedBottomUpMultiClassLayer`` does with a model's
    outputs: in each (sample, node) group the valid slots (in slot order) are
    matched to classes maximizing the total probability, and a match is kept
    only when the class is the peak's most probable one.

    Args:
        peaks: (n_samples, n_nodes, n_slots, 2) peak coordinates, floating.
        peak_vals: (n_samples, n_nodes, n_slots) peak values, floating.
        peak_mask: (n_samples, n_nodes, n_slots) bool, True for valid slots;
            the other slots are ignored whatever their values (NaN included).
        class_probs: (n_samples, n_nodes, n_slots, n_classes) class
            probabilities of each slot, floating.

    Returns:
        (points, point_vals, class_vectors) on peaks' device: points
        (n_samples, n_classes, n_nodes, 2) in peaks' dtype, point_vals
        (n_samples, n_classes, n_nodes) in peak_vals' dtype, class_vectors
        (n_samples, n_classes, n_nodes, n_classes) in class_probs' dtype (the
        kept peak's whole probability vector); NaN where no peak was kept.

    Raises:
        ValueError, TypeError: wrong shapes, dtypes or devices (the message
            names the argument), or NaN/+inf probabilities in a valid slot,
            or -inf ones a group cannot avoid (ValueError naming
            class_probs).
    """
    _check_tensor(peaks, "peaks")
    _check_tensor(peak_vals, "peak_vals")
    _check_tensor(peak_mask, "peak_mask")
    _check_tensor(class_probs, "class_probs")
    points, point_vals, class_vectors, status = torch.ops.idmatch.classify_padded_peaks(
        peaks, peak_vals, peak_mask, class_probs
    )
    if not _is_compiling() and status.numel() > 0 and int(status.max()) != Status.OK.value:  # codes are >= 0
        flat = int(torch.argmax((status != Status.OK.value).flatten().to(torch.int32)))
        n_nodes = status.shape[1]
        code = int(status.flatten()[flat])
        raise ValueError(
            f"class_probs of the valid peaks of sample {flat // n_nodes}, node {flat % n_nodes} {_group_problem(code)}"
        )
    return points, point_vals, class_vectors


def match_padded_instances(
    class_probs: torch.Tensor, instance_valid: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Matches padded instances to classes per sample (Hungarian matching).

    What sleap-nn's ``ExportedTopDownMultiClassLayer`` does with a model's
    outputs once the caller has applied the softmax: in each sample the valid
    instances (in instance order) are matched to classes maximizing the total
    probability, every match kept (as ``get_class_inds_from_vectors``).

    Args:
        class_probs: (n_samples, n_instances, n_classes) class probabilities,
            floating.
        instance_valid: (n_samples, n_instances) bool, True for valid
            instances; the others are ignored whatever their values.

    Returns:
        (class_inds, instance_inds), int64 on class_probs' device: class_inds
        (n_samples, n_instances), the class of each instance (-1 when invalid
        or left without one), and instance_inds (n_samples, n_classes), the
        instance matched to each class (-1 for none), to gather per-instance
        outputs into class order.

    Raises:
        ValueError, TypeError: wrong shapes, dtypes or devices (the message
            names the argument), or NaN/+inf probabilities of a valid
            instance, or -inf ones a sample cannot avoid (ValueError naming
            class_probs).
    """
    _check_tensor(class_probs, "class_probs")
    _check_tensor(instance_valid, "instance_valid")
    class_inds, instance_inds, status = torch.ops.idmatch.match_padded_instances(class_probs, instance_valid)
    if not _is_compiling() and status.numel() > 0 and int(status.max()) != Status.OK.value:
        sample = int(torch.argmax((status != Status.OK.value).to(torch.int32)))
        code = int(status[sample])
        raise ValueError(f"class_probs of the valid instances of sample {sample} {_group_problem(code)}")
    return class_inds, instance_inds
