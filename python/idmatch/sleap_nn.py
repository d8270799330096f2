"""idmatch inside an installed sleap-nn: one switch for every route.

``enable()`` makes sleap-nn run idmatch wherever it runs its own identity
matching or PAF candidate matching:

- the functions of ``sleap_nn.inference.ops.identity``
  (``group_class_peaks``, ``classify_peaks_from_maps``,
  ``get_class_inds_from_vectors``) and of ``sleap_nn.inference.ops.paf``
  (``match_candidates_sample``, ``match_candidates_batch``) are replaced in
  their modules and in every loaded sleap-nn module that imported them by
  name (modules imported later read the replaced names from their source);
- the exported-model adapters ``ExportedBottomUpMultiClassLayer`` and
  ``ExportedTopDownMultiClassLayer`` post-process with the static-shape ops
  ``classify_padded_peaks`` and ``match_padded_instances`` instead of their
  per-peak Python loops.

``disable()`` puts sleap-nn's own objects back, and ``enabled()`` does both
around a block. Nothing here imports sleap-nn until one of them is called.

What sleap-nn receives keeps the form its own functions give: the dtypes
(sleap-nn fills float32 outputs), the devices (``get_class_inds_from_vectors``
and the PAF functions answer on the CPU), the order of the matches. Tensors
on a device without idmatch kernels (Apple's MPS, or CUDA when idmatch was
built without it) are matched by the CPU kernels and the results moved back.

One deliberate difference: where sleap-nn's PAF matching raises scipy's
"cost matrix is infeasible", idmatch returns the matching with the most
finite pairs and, among those, the best total score (see
``idmatch.paf.match_candidates_batch``).
"""

import contextlib
import inspect
import sys
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch

from . import identity as _identity

SUPPORTED_VERSIONS = ("0.3.5",)

_IDENTITY_MODULE = "sleap_nn.inference.ops.identity"
_PAF_MODULE = "sleap_nn.inference.ops.paf"
_EXPORTED_MODULE = "sleap_nn.inference.layers.exported"

# The functions replaced, by defining module, with the parameters sleap-nn's
# versions take: a layout that differs is refused rather than patched.
_FUNCTIONS = {
    _IDENTITY_MODULE: {
        "group_class_peaks": ["peak_class_probs", "peak_sample_inds", "peak_channel_inds", "n_samples", "n_channels"],
        "classify_peaks_from_maps": [
            "class_maps",
            "peak_points",
            "peak_vals",
            "peak_sample_inds",
            "peak_channel_inds",
            "n_channels",
        ],
        "get_class_inds_from_vectors": ["peak_class_probs"],
    },
    _PAF_MODULE: {
        "match_candidates_sample": ["edge_inds_sample", "edge_peak_inds_sample", "line_scores_sample", "n_edges"],
        "match_candidates_batch": ["edge_inds", "edge_peak_inds", "line_scores", "n_edges"],
    },
}
_ADAPTERS = ("ExportedBottomUpMultiClassLayer", "ExportedTopDownMultiClassLayer")

# While enabled: sleap-nn's functions by name, and the adapters' original
# predict methods.
_originals: Dict[str, Any] = {}
_original_predict: Dict[type, Callable] = {}


class UnsupportedSleapNN(RuntimeError):
    """The installed sleap-nn is a version or layout idmatch does not know."""


# ---------------------------------------------------------------------------
# Devices


def _has_kernels(device: torch.device) -> bool:
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        return torch._C._dispatch_has_kernel_for_dispatch_key("idmatch::ragged_linear_sum_assignment", "CUDA")
    return False


def _run_where_supported(device: torch.device, fn: Callable, *tensors: torch.Tensor) -> Any:
    """fn(*tensors) on their device when idmatch has kernels there, else on
    the CPU with every tensor result moved back to that device."""
    if _has_kernels(device):
        return fn(*tensors)
    results = fn(*(t.cpu() for t in tensors))
    return tuple(r.to(device) for r in results)


def _where_supported(tensors: List[torch.Tensor]) -> List[torch.Tensor]:
    """The tensors, detached, each moved to the CPU when idmatch has no
    kernels on its device (the PAF functions answer on the CPU anyway)."""
    return [t.detach() if _has_kernels(t.device) else t.detach().cpu() for t in tensors]


def _default_float(t: torch.Tensor) -> torch.Tensor:
    # sleap-nn allocates its outputs with torch.full(..., nan), so they carry
    # the default dtype whatever the inputs' dtype.
    return t.to(torch.get_default_dtype())


# ---------------------------------------------------------------------------
# sleap-nn's functions, on idmatch


def group_class_peaks(
    peak_class_probs: torch.Tensor,
    peak_sample_inds: torch.Tensor,
    peak_channel_inds: torch.Tensor,
    n_samples: int,
    n_channels: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """sleap-nn's ``group_class_peaks`` on idmatch: results on
    ``peak_sample_inds``' device, as sleap-nn's."""
    peak_inds, class_inds = _run_where_supported(
        peak_class_probs.device,
        lambda p, s, c: _identity.group_class_peaks(p, s, c, n_samples, n_channels),
        peak_class_probs,
        peak_sample_inds,
        peak_channel_inds,
    )
    device = peak_sample_inds.device
    return peak_inds.to(device), class_inds.to(device)


def classify_peaks_from_maps(
    class_maps: torch.Tensor,
    peak_points: torch.Tensor,
    peak_vals: torch.Tensor,
    peak_sample_inds: torch.Tensor,
    peak_channel_inds: torch.Tensor,
    n_channels: int,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """sleap-nn's ``classify_peaks_from_maps`` on idmatch: float32 (the
    default dtype) outputs on ``class_maps``' device, as sleap-nn's."""
    points, point_vals, class_probs = _run_where_supported(
        class_maps.device,
        lambda m, p, v, s, c: _identity.classify_peaks_from_maps(m, p, v, s, c, n_channels),
        class_maps,
        peak_points,
        peak_vals,
        peak_sample_inds,
        peak_channel_inds,
    )
    return _default_float(points), _default_float(point_vals), _default_float(class_probs)


def get_class_inds_from_vectors(peak_class_probs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """sleap-nn's ``get_class_inds_from_vectors`` on idmatch: int64 class
    indices and float32 (the default dtype) probabilities on the CPU, as
    sleap-nn's, wherever the input lives."""
    class_inds, class_probs = _run_where_supported(
        peak_class_probs.device, _identity.get_class_inds_from_vectors, peak_class_probs
    )
    return class_inds.cpu(), _default_float(class_probs.cpu())


def match_candidates_sample(
    edge_inds_sample: torch.Tensor,
    edge_peak_inds_sample: torch.Tensor,
    line_scores_sample: torch.Tensor,
    n_edges: int,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """sleap-nn's ``match_candidates_sample`` on idmatch (see
    ``idmatch.paf.match_candidates_sample``)."""
    from . import paf

    return paf.match_candidates_sample(
        *_where_supported([edge_inds_sample, edge_peak_inds_sample, line_scores_sample]), n_edges
    )


def match_candidates_batch(
    edge_inds: List[torch.Tensor],
    edge_peak_inds: List[torch.Tensor],
    line_scores: List[torch.Tensor],
    n_edges: int,
) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[torch.Tensor], List[torch.Tensor]]:
    """sleap-nn's ``match_candidates_batch`` on idmatch, one solver call per
    batch (see ``idmatch.paf.match_candidates_batch``)."""
    from . import paf

    edge_inds, edge_peak_inds, line_scores = (
        _where_supported(list(per_sample)) for per_sample in (edge_inds, edge_peak_inds, line_scores)
    )
    return paf.match_candidates_batch(edge_inds, edge_peak_inds, line_scores, n_edges)


_REPLACEMENTS = {
    "group_class_peaks": group_class_peaks,
    "classify_peaks_from_maps": classify_peaks_from_maps,
    "get_class_inds_from_vectors": get_class_inds_from_vectors,
    "match_candidates_sample": match_candidates_sample,
    "match_candidates_batch": match_candidates_batch,
}


# ---------------------------------------------------------------------------
# The exported-model adapters, on the static-shape ops


def _bottomup_multiclass_predict(self, image: Any, **_kwargs: Any) -> Any:
    """``ExportedBottomUpMultiClassLayer.predict`` with its grouping and
    per-peak scatter replaced by ``idmatch.classify_padded_peaks``."""
    from .padded import classify_padded_peaks

    exported = sys.modules[_EXPORTED_MODULE]
    raw = exported._raw_to_cpu(self.backend(exported._to_4d_tensor_for_export(image)))
    peaks = raw["peaks"]
    peak_vals = raw["peak_vals"]
    peak_mask = raw["peak_mask"].bool()
    if self.peak_conf_threshold is not None:
        peak_mask = peak_mask & (peak_vals > self.peak_conf_threshold)
    class_probs = raw["class_probs"]
    batch, n_nodes = peaks.shape[0], peaks.shape[1]
    n_classes = self.n_classes
    if class_probs.shape[-1] != n_classes:
        raise ValueError(f"class_probs has {class_probs.shape[-1]} classes, the layer's n_classes is {n_classes}")
    if not bool(peak_mask.any()):
        # sleap-nn's adapter answers an empty batch without class vectors.
        return exported.Outputs(
            pred_keypoints=torch.full((batch, n_classes, n_nodes, 2), float("nan")),
            pred_peak_values=torch.full((batch, n_classes, n_nodes), float("nan")),
            instance_valid=torch.zeros((batch, n_classes), dtype=torch.bool),
        )
    points, point_vals, class_vectors = classify_padded_peaks(peaks, peak_vals, peak_mask, class_probs)
    points = _default_float(points)
    if self.input_scale != 1.0:
        points = points / self.input_scale
    return exported.Outputs(
        pred_keypoints=points,
        pred_peak_values=_default_float(point_vals),
        pred_class_vectors=_default_float(class_vectors),
        instance_valid=~torch.isnan(points[..., 0]).all(dim=-1),
    )


def _gather_by_class(values: torch.Tensor, instance_inds: torch.Tensor) -> torch.Tensor:
    """values (B, I, ...) gathered into class slots (B, C, ...) by
    instance_inds (B, C), NaN where a slot has no instance (-1, which picks
    the NaN slot appended after the I instances)."""
    values = _default_float(values)
    nan_slot = values.new_full((values.shape[0], 1) + tuple(values.shape[2:]), float("nan"))
    batch = torch.arange(values.shape[0]).unsqueeze(1)
    return torch.cat([values, nan_slot], dim=1)[batch, instance_inds]


def _topdown_multiclass_predict(self, image: Any, **_kwargs: Any) -> Any:
    """``ExportedTopDownMultiClassLayer.predict`` with its per-sample matching
    and per-instance copies replaced by ``idmatch.match_padded_instances``
    and gathers."""
    from .padded import match_padded_instances

    exported = sys.modules[_EXPORTED_MODULE]
    raw = exported._raw_to_cpu(self.backend(exported._to_4d_tensor_for_export(image)))
    valid = raw["instance_valid"].bool()
    class_logits = raw["class_logits"]
    n_classes = self.n_classes
    if class_logits.shape[-1] != n_classes:
        raise ValueError(f"class_logits has {class_logits.shape[-1]} classes, the layer's n_classes is {n_classes}")
    # Softmax runs row by row, so the rows of valid instances come out as
    # sleap-nn's softmax of those rows alone.
    probs = torch.softmax(class_logits, dim=-1)
    _, instance_inds = match_padded_instances(probs, valid)
    return exported.Outputs(
        pred_keypoints=_gather_by_class(raw["peaks"], instance_inds),
        pred_peak_values=_gather_by_class(raw["peak_vals"], instance_inds),
        pred_centroids=_gather_by_class(raw["centroids"], instance_inds),
        pred_centroid_values=_gather_by_class(raw["centroid_vals"], instance_inds),
        pred_class_probs=_gather_by_class(probs, instance_inds),
        instance_valid=instance_inds >= 0,
    )


_ADAPTER_PREDICT = {
    "ExportedBottomUpMultiClassLayer": _bottomup_multiclass_predict,
    "ExportedTopDownMultiClassLayer": _topdown_multiclass_predict,
}


# ---------------------------------------------------------------------------
# The switch


def _import_sleap_nn() -> Dict[str, Any]:
    """Imports the modules idmatch patches, after checking sleap-nn's version
    and layout; returns them by name."""
    import importlib
    import importlib.util

    try:
        import sleap_nn
    except ImportError as error:
        if importlib.util.find_spec("sleap_nn") is None:
            raise ImportError("sleap-nn is not installed: pip install 'idmatch[sleap]'") from error
        raise ImportError(
            f"sleap-nn is installed but does not import ({error}): pip install 'idmatch[sleap]' "
            "installs it with its dependencies"
        ) from error
    version = getattr(sleap_nn, "__version__", "unknown")
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedSleapNN(
            f"idmatch.sleap_nn supports sleap-nn {', '.join(SUPPORTED_VERSIONS)}, found {version}: "
            "install a supported sleap-nn, or call idmatch's functions directly"
        )
    modules = {}
    for name in list(_FUNCTIONS) + [_EXPORTED_MODULE]:
        try:
            modules[name] = importlib.import_module(name)
        except ImportError as error:
            raise UnsupportedSleapNN(f"sleap-nn {version} has no module {name}") from error
    for module_name, functions in _FUNCTIONS.items():
        for function_name, parameters in functions.items():
            function = getattr(modules[module_name], function_name, None)
            if not callable(function):
                raise UnsupportedSleapNN(f"sleap-nn {version}: {module_name} has no function {function_name}")
            found = list(inspect.signature(function).parameters)
            if found != parameters:
                raise UnsupportedSleapNN(
                    f"sleap-nn {version}: {module_name}.{function_name} takes {found}, idmatch expects {parameters}"
                )
    for adapter in _ADAPTERS:
        if "predict" not in vars(getattr(modules[_EXPORTED_MODULE], adapter, object)):
            raise UnsupportedSleapNN(f"sleap-nn {version}: {_EXPORTED_MODULE} has no {adapter}.predict")
    return modules


def _swap_everywhere(swaps: Dict[int, Tuple[Any, Any]]) -> None:
    """For each (old, new) of swaps (keyed by id(old)), replaces every sleap-nn
    module attribute that is old by new, whatever name a module imported it
    under: one pass over the loaded sleap-nn modules."""
    modules = [m for name, m in list(sys.modules.items()) if m and (name == "sleap_nn" or name.startswith("sleap_nn."))]
    for module in modules:
        for attribute, value in list(vars(module).items()):
            swap = swaps.get(id(value))
            if swap is not None and value is swap[0]:
                setattr(module, attribute, swap[1])


def is_enabled() -> bool:
    """Whether sleap-nn currently runs on idmatch."""
    return bool(_originals)


def enable() -> None:
    """Makes the installed sleap-nn use idmatch (see the module's docstring).
    Everything is checked before anything is replaced: on an error, sleap-nn
    is left as it was.

    Raises:
        ImportError: sleap-nn is not installed.
        UnsupportedSleapNN: its version or layout is not one idmatch knows.
    """
    if _originals:
        return
    modules = _import_sleap_nn()
    originals = {
        function_name: getattr(modules[module_name], function_name)
        for module_name, functions in _FUNCTIONS.items()
        for function_name in functions
    }
    adapters = [getattr(modules[_EXPORTED_MODULE], adapter) for adapter in _ADAPTERS]
    _swap_everywhere({id(old): (old, _REPLACEMENTS[name]) for name, old in originals.items()})
    _originals.update(originals)
    for cls in adapters:
        _original_predict[cls] = vars(cls)["predict"]
        cls.predict = _ADAPTER_PREDICT[cls.__name__]


def disable() -> None:
    """Gives sleap-nn back its own functions and adapters, also in modules
    imported while idmatch was enabled."""
    _swap_everywhere({id(_REPLACEMENTS[name]): (_REPLACEMENTS[name], old) for name, old in _originals.items()})
    _originals.clear()
    for cls, predict in _original_predict.items():
        cls.predict = predict
    _original_predict.clear()


@contextlib.contextmanager
def enabled() -> Iterator[None]:
    """``with idmatch.sleap_nn.enabled():`` runs the block with sleap-nn on
    idmatch, and leaves the switch as it found it."""
    was_enabled = is_enabled()
    enable()
    try:
        yield
    finally:
        if not was_enabled:
            disable()


def run_cli(argv: Optional[List[str]] = None) -> int:
    """sleap-nn's own command line (``sleap-nn ARGS...``) with idmatch
    enabled; its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        enable()
    except (ImportError, UnsupportedSleapNN) as error:
        usage = "usage: python -m idmatch sleap-nn ARGS...: sleap-nn's command line with idmatch enabled"
        if argv in (["--help"], ["-h"]):
            print(f"{usage}\n\n{error}")
            return 0
        print(f"{usage}\nerror: {error}", file=sys.stderr)
        return 1
    from sleap_nn.cli import cli

    try:
        cli.main(args=argv, prog_name="sleap-nn")
    except SystemExit as exit_:
        # As the interpreter reads an exit: None is success, other objects
        # are printed and fail.
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    return 0
