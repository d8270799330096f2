"""Workloads of sleap-nn's other steps: its exported-model adapter's
post-processing (X), its PAF candidate matching (P) and its Predictor end to
end on its own trained models (E). Where sleap-nn is installed and the
inputs are on the CPU, sleap-nn's own code is the oracle of each, and
idmatch must give the same answers; elsewhere X and P are checked against
idmatch.reference (sleap-nn's algorithm, on host copies of the inputs), and
E does not run.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import time
import types
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from .runners import Check, Prepared, Runner, api_and_raw_runners, compare_outputs
from .workloads import PaddedSpec, PafSpec, PredictorSpec, SetupContext


@functools.cache
def sleap_nn_available() -> bool:
    """Whether sleap-nn's Predictor and exported-model layers import, with
    the dependencies they need (torchvision, lightning, ...): the modules
    that X, P and E run, and that idmatch.sleap_nn patches."""
    if importlib.util.find_spec("sleap_nn") is None:
        return False
    try:
        for name in ("sleap_nn.inference.predictor", "sleap_nn.inference.layers.exported"):
            importlib.import_module(name)
    except Exception:  # a missing dependency, or one that fails as it loads
        return False
    return True


@functools.cache
def sleap_nn_identity_module() -> Optional[types.ModuleType]:
    """sleap-nn's own identity functions (sleap_nn.inference.ops.identity),
    or None where sleap-nn is not installed or the module does not load.

    The module is loaded from sleap-nn's installed file as a private module.
    It needs only torch, numpy and scipy, while importing the sleap_nn
    package imports its whole training stack (sleap-io, skia, av, ...),
    which a GPU machine may lack. And idmatch.sleap_nn.enable() cannot reach
    a private copy, so what runs is always sleap-nn's own code."""
    spec = importlib.util.find_spec("sleap_nn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "inference" / "ops" / "identity.py"
    module_spec = importlib.util.spec_from_file_location("idmatch.bench._sleap_nn_identity", path)
    if not path.is_file() or module_spec is None or module_spec.loader is None:
        return None
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception:  # another sleap-nn's layout: its workloads then say it is missing
        return None
    return module


def _against_sleap_nn(ctx: SetupContext) -> bool:
    # sleap-nn's adapter and PAF matching take CPU tensors.
    return ctx.device.type == "cpu" and sleap_nn_available()


HOST_REFERENCE_NOTE = (
    "X and P workloads without sleap-nn, or on CUDA: reference = idmatch.reference (sleap-nn's algorithm, one"
    " scipy call per problem in a Python loop) on CPU copies of the inputs made before timing, the oracle of"
    " their answers"
)


# --------------------------------------------------------------------------
# X: the exported-model adapter


class _FixedBackend:
    """Stands for the exported engine: returns the same raw outputs."""

    does_baked_postproc = True

    def __init__(self, raw: Dict[str, torch.Tensor]) -> None:
        self.raw = raw

    def __call__(self, image: torch.Tensor) -> Dict[str, torch.Tensor]:
        return self.raw


def padded_runners(spec: PaddedSpec, ctx: SetupContext) -> Prepared:
    generator = ctx.generator()
    shape = (spec.batch, spec.nodes, spec.k)
    mask = torch.rand(shape, generator=generator) < spec.valid
    peaks = torch.rand(shape + (2,), generator=generator) * 160
    peak_vals = torch.rand(shape, generator=generator)
    class_probs = torch.softmax(torch.randn(shape + (spec.classes,), generator=generator), dim=-1)
    host = (peaks, peak_vals, mask, class_probs)
    device = ctx.device
    runners = api_and_raw_runners("classify_padded_peaks", tuple(t.to(device) for t in host), device)
    shape_text = f"B={spec.batch} N={spec.nodes} K={spec.k} C={spec.classes}, {int(mask.sum())} valid peaks"
    if not _against_sleap_nn(ctx):
        from .. import reference

        runners["reference"] = Runner(
            lambda: reference.classify_padded_peaks(*host),
            tuple,
            "idmatch.reference.classify_padded_peaks: one scipy call per (sample, node) group",
        )
        return Prepared(
            shape=shape_text, runners=runners, oracle="reference", compare=compare_outputs, notes=[HOST_REFERENCE_NOTE]
        )

    from sleap_nn.inference.layers.exported import ExportedBottomUpMultiClassLayer

    raw = dict(peaks=peaks, peak_vals=peak_vals, peak_mask=mask, class_probs=class_probs)
    layer = ExportedBottomUpMultiClassLayer(backend=_FixedBackend(raw), n_nodes=spec.nodes, n_classes=spec.classes)
    image = torch.zeros((spec.batch, 1, 8, 8))
    adapter = type(layer).predict  # sleap-nn's own, captured before any enable()

    def outputs(out) -> Tuple[torch.Tensor, ...]:
        return (out.pred_keypoints, out.pred_peak_values, out.pred_class_vectors)

    from ..sleap_nn import _bottomup_multiclass_predict

    runners["idmatch adapter"] = Runner(
        lambda: _bottomup_multiclass_predict(layer, image),
        outputs,
        "the adapter's predict as idmatch.sleap_nn.enable() makes it: classify_padded_peaks and the outputs",
    )
    runners["sleap-nn adapter"] = Runner(
        lambda: adapter(layer, image),
        outputs,
        "sleap_nn ExportedBottomUpMultiClassLayer.predict: group_class_peaks, then a loop over the peaks",
    )
    return Prepared(
        shape=shape_text,
        runners=runners,
        oracle="sleap-nn adapter",
        compare=compare_outputs,
        notes=["X: sleap-nn's adapter is timed on a backend that returns fixed outputs: its post-processing only"],
    )


# --------------------------------------------------------------------------
# P: PAF candidate matching


def paf_candidates(spec: PafSpec, ctx: SetupContext) -> Tuple[List[torch.Tensor], ...]:
    generator = np.random.default_rng(ctx.generator().initial_seed())
    edges = [(int(generator.integers(0, child)), child) for child in range(1, spec.nodes)]
    edge_inds, edge_peak_inds, line_scores = [], [], []
    for _ in range(spec.batch):
        # Peaks per node: the detected animals and sometimes a false one.
        counts = generator.binomial(spec.animals, 0.9, spec.nodes) + (generator.random(spec.nodes) < 0.25)
        starts = np.concatenate([[0], np.cumsum(counts)])
        sample_edges, sample_pairs, sample_scores = [], [], []
        for k, (src, dst) in enumerate(edges):
            for s in range(counts[src]):
                for d in range(counts[dst]):
                    sample_edges.append(k)
                    sample_pairs.append((starts[src] + s, starts[dst] + d))
                    same = s == d and s < spec.animals
                    sample_scores.append(generator.uniform(0.6, 1.0) if same else generator.uniform(-0.2, 0.5))
        edge_inds.append(torch.tensor(sample_edges, dtype=torch.int32))
        edge_peak_inds.append(torch.tensor(sample_pairs, dtype=torch.int32).reshape(-1, 2))
        line_scores.append(torch.tensor(sample_scores, dtype=torch.float32))
    return edge_inds, edge_peak_inds, line_scores, len(edges)


def _flat(lists) -> Tuple[torch.Tensor, ...]:
    return tuple(torch.cat(parts) for parts in lists)


def paf_runners(spec: PafSpec, ctx: SetupContext) -> Prepared:
    from .. import paf

    edge_inds, edge_peak_inds, line_scores, n_edges = paf_candidates(spec, ctx)
    device = ctx.device
    edges, peaks, scores = ([t.to(device) for t in lists] for lists in (edge_inds, edge_peak_inds, line_scores))
    # The raw op's inputs: the batch concatenated once, before timing.
    lengths = [len(e) for e in edge_inds]
    sample_host = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    flat = (torch.cat(edges), torch.cat(peaks), torch.cat(scores), torch.from_numpy(sample_host).to(device))
    raw_op = torch.ops.idmatch.match_paf_candidates

    def raw_matches(out) -> Tuple[torch.Tensor, ...]:
        matched, src_rank, dst_rank, _ = out
        matches = paf._matches_per_sample(flat[0], flat[2], sample_host, lengths, n_edges, matched, src_rank, dst_rank)
        return _flat(matches)

    runners = {
        "idmatch": Runner(
            lambda: paf.match_candidates_batch(edges, peaks, scores, n_edges),
            _flat,
            "idmatch.paf.match_candidates_batch: one raw-op call per batch",
        ),
        "idmatch raw op": Runner(
            lambda: raw_op(*flat, len(lengths), n_edges),
            raw_matches,
            "torch.ops.idmatch.match_paf_candidates on the batch concatenated before timing (never syncs)",
        ),
    }
    candidates = sum(lengths)
    shape_text = f"batch {spec.batch}, {spec.nodes} nodes, {spec.animals} animals, {candidates} candidates"
    if not _against_sleap_nn(ctx):
        from .. import reference

        runners["reference"] = Runner(
            lambda: reference.match_candidates_batch(edge_inds, edge_peak_inds, line_scores, n_edges),
            _flat,
            "idmatch.reference.match_candidates_batch: one scipy call per (sample, edge)",
        )
        return Prepared(
            shape=shape_text, runners=runners, oracle="reference", compare=compare_outputs, notes=[HOST_REFERENCE_NOTE]
        )

    from sleap_nn.inference.ops import paf as sleap_paf

    sleap_match = sleap_paf.match_candidates_batch  # sleap-nn's own, captured before any enable()
    runners["sleap-nn"] = Runner(
        lambda: sleap_match(edge_inds, edge_peak_inds, line_scores, n_edges),
        _flat,
        "sleap_nn.inference.ops.paf.match_candidates_batch: scipy per (sample, edge)",
    )
    return Prepared(shape=shape_text, runners=runners, oracle="sleap-nn", compare=compare_outputs)


# --------------------------------------------------------------------------
# E: sleap-nn's Predictor end to end


def _compare_labels(expected, got) -> Check:
    from .._sleap_nn_examples import labels_difference

    difference = labels_difference(got, expected)
    return Check("exact") if difference is None else Check("mismatch", difference)


def _timed_run(run: Callable[[], Any], function: Callable, frames: int) -> Tuple[float, float]:
    """Frames per second of one run, and the share of its time spent in
    ``function``, wherever sleap-nn's modules hold it."""
    from .. import sleap_nn as switch

    spent: List[float] = []

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - began)

    switch._swap_everywhere({id(function): (function, timed)})
    try:
        began = time.perf_counter()
        run()
        total = time.perf_counter() - began
    finally:
        switch._swap_everywhere({id(timed): (timed, function)})
    return frames / total, sum(spent) / total


def predictor_runners(spec: PredictorSpec, ctx: SetupContext) -> Prepared:
    import sleap_io as sio
    from sleap_nn.inference.predictor import Predictor
    from sleap_nn.inference.providers import VideoProvider

    from .. import sleap_nn as switch
    from .._sleap_nn_examples import assets_dir

    if ctx.device.type != "cpu":
        raise ValueError("the end-to-end workloads run on the CPU")
    assets = assets_dir()
    predictor = Predictor.from_model_paths(
        [str(assets / "model_ckpts" / spec.model)],
        device="cpu",
        batch_size=spec.batch_size,
        peak_threshold=spec.peak_threshold,
    )
    video = sio.load_video(str(assets / "datasets" / "centered_pair_small.mp4"))

    def predict():
        provider = VideoProvider(video=video, batch_size=spec.batch_size, frames=list(range(spec.frames)))
        return predictor.predict(provider, make_labels=True, videos=[video])

    def predict_with_idmatch():
        with switch.enabled():
            return predict()

    # Where the time goes: one run each with the matching step timed, after
    # a run that pays for the first call's set-up.
    predict()
    module_name, name = spec.step
    their_fps, their_share = _timed_run(predict, getattr(importlib.import_module(module_name), name), spec.frames)
    with switch.enabled():
        our_fps, our_share = _timed_run(predict, getattr(switch, name), spec.frames)
    note = (
        f"E ({spec.model}): one timed run each: sleap-nn {their_fps:.2f} frames/s, {name} "
        f"{100 * their_share:.1f}% of the time; with idmatch {our_fps:.2f} frames/s, {100 * our_share:.2f}%"
    )
    runners = {
        "idmatch": Runner(
            predict_with_idmatch,
            label="sleap-nn's Predictor within idmatch.sleap_nn.enabled() (its enable and disable take a few ms)",
        ),
        "sleap-nn": Runner(predict, label="sleap-nn's Predictor"),
    }
    return Prepared(
        shape=f"{spec.model}, {spec.frames} frames 384x384, batch {spec.batch_size}",
        runners=runners,
        oracle="sleap-nn",
        compare=_compare_labels,
        notes=[note],
    )
