"""Parity with the real sleap-nn on random inputs: its exported-model
adapters against the same adapters on idmatch's static-shape ops, and its PAF
candidate matching against idmatch's, ties, NaN, duplicates and empty groups
included.

Runs where sleap-nn is installed (make sleap-check).
"""

import importlib

import numpy as np
import pytest
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

pytest.importorskip("sleap_nn")

import idmatch.sleap_nn as switch  # noqa: E402
from sleap_nn_support import assert_same_outputs, assert_same_tensor  # noqa: E402

IMAGE = torch.zeros((1, 1, 8, 8))


@pytest.fixture(autouse=True)
def always_disabled_after():
    yield
    switch.disable()


class FixedBackend:
    """Stands for an ONNX/TensorRT engine: returns the same raw outputs."""

    does_baked_postproc = True

    def __init__(self, raw):
        self.raw = raw

    def __call__(self, image):
        return self.raw


def quantized(rng, shape, values=(0.0, 0.25, 0.5, 1.0)):
    return torch.from_numpy(rng.choice(values, shape)).float()


def random_bottomup_raw(rng):
    batch, nodes, k, classes = (int(rng.integers(low, high)) for low, high in ((0, 4), (1, 5), (0, 5), (1, 5)))
    valid_fraction = rng.choice([0.0, 0.3, 0.7, 1.0])
    mask = torch.from_numpy(rng.random((batch, nodes, k)) < valid_fraction)
    if batch > 1 and rng.random() < 0.3:
        mask[int(rng.integers(batch))] = False  # a sample without peaks
    peaks = torch.from_numpy(rng.uniform(0, 64, (batch, nodes, k, 2))).float()
    peak_vals = quantized(rng, (batch, nodes, k), (0.1, 0.2, 0.5, 0.9))
    class_probs = quantized(rng, (batch, nodes, k, classes))
    if k > 1 and rng.random() < 0.5:  # duplicated peaks
        peaks[:, :, 1] = peaks[:, :, 0]
        peak_vals[:, :, 1] = peak_vals[:, :, 0]
        class_probs[:, :, 1] = class_probs[:, :, 0]
    # What a masked slot holds must not matter.
    class_probs = class_probs.masked_fill(~mask.unsqueeze(-1), float("nan"))
    raw = dict(peaks=peaks, peak_vals=peak_vals, peak_mask=mask.to(torch.uint8), class_probs=class_probs)
    return raw, nodes, classes


@pytest.mark.parametrize("seed", range(1500))
def test_bottomup_multiclass_adapter(seed):
    exported = importlib.import_module("sleap_nn.inference.layers.exported")
    rng = np.random.default_rng(seed)
    raw, nodes, classes = random_bottomup_raw(rng)
    layer = exported.ExportedBottomUpMultiClassLayer(
        backend=FixedBackend(raw),
        n_nodes=nodes,
        n_classes=classes,
        input_scale=float(rng.choice([1.0, 0.5])),
        peak_conf_threshold=rng.choice([None, 0.2]),
    )
    expected = layer.predict(IMAGE)
    with switch.enabled():
        actual = layer.predict(IMAGE)
    assert_same_outputs(actual, expected, f"seed {seed}")


def random_topdown_raw(rng):
    batch, instances, nodes, classes = (int(rng.integers(low, high)) for low, high in ((0, 4), (0, 6), (1, 4), (1, 5)))
    valid = torch.from_numpy(rng.random((batch, instances)) < rng.choice([0.0, 0.5, 0.8, 1.0]))
    # Few distinct logits: equal probabilities, so ties.
    logits = quantized(rng, (batch, instances, classes), (-1.0, 0.0, 2.0, 30.0))
    logits = logits.masked_fill(~valid.unsqueeze(-1), float("nan"))
    raw = dict(
        centroids=torch.from_numpy(rng.uniform(0, 64, (batch, instances, 2))).float(),
        centroid_vals=torch.from_numpy(rng.uniform(0, 1, (batch, instances))).float(),
        peaks=torch.from_numpy(rng.uniform(0, 64, (batch, instances, nodes, 2))).float(),
        peak_vals=torch.from_numpy(rng.uniform(0, 1, (batch, instances, nodes))).float(),
        class_logits=logits,
        instance_valid=valid,
    )
    return raw, classes


@pytest.mark.parametrize("seed", range(1500))
def test_topdown_multiclass_adapter(seed):
    exported = importlib.import_module("sleap_nn.inference.layers.exported")
    rng = np.random.default_rng(seed)
    raw, classes = random_topdown_raw(rng)
    layer = exported.ExportedTopDownMultiClassLayer(backend=FixedBackend(raw), n_classes=classes)
    expected = layer.predict(IMAGE)
    with switch.enabled():
        actual = layer.predict(IMAGE)
    assert_same_outputs(actual, expected, f"seed {seed}")


def random_candidates(rng, n_edges):
    """One sample's PAF candidates as sleap-nn's score_paf_lines_batch gives
    them (int32 edges and peak pairs, float32 scores), with ties, NaN,
    pairs listed twice and edges without candidates."""
    edges, pairs, scores = [], [], []
    for edge in range(n_edges):
        n_src, n_dst = int(rng.integers(0, 5)), int(rng.integers(0, 5))
        src_peaks = rng.choice(20, n_src, replace=False)
        dst_peaks = rng.choice(20, n_dst, replace=False)
        for s in src_peaks:
            for d in dst_peaks:
                if rng.random() < rng.choice([0.4, 1.0]):
                    edges.append(edge)
                    pairs.append((s, d))
        if pairs and rng.random() < 0.2:
            edges.append(edges[-1])
            pairs.append(pairs[-1])
    order = rng.permutation(len(edges))
    n = len(edges)
    values = rng.choice([0.1, 0.5, 0.5, 0.9, np.nan], n) if rng.random() < 0.5 else rng.uniform(-1, 1, n)
    scores = torch.tensor(values[order] if n else [], dtype=torch.float32)
    return (
        torch.tensor(np.asarray(edges, dtype=np.int32)[order] if n else [], dtype=torch.int32),
        torch.tensor(np.asarray(pairs, dtype=np.int32)[order] if n else np.zeros((0, 2)), dtype=torch.int32).reshape(
            -1, 2
        ),
        scores,
    )


def max_finite_pairs(edge_inds, edge_peak_inds, line_scores, edge):
    """The largest number of finite (candidate, non-NaN score) pairs an
    edge's matching can hold, by scipy's maximum bipartite matching."""
    pick = edge_inds == edge
    pairs, scores = edge_peak_inds[pick], line_scores[pick]
    if len(pairs) == 0:
        return 0
    src, rows = torch.unique(pairs[:, 0], return_inverse=True)
    dst, cols = torch.unique(pairs[:, 1], return_inverse=True)
    finite = {}
    for r, c, s in zip(rows.tolist(), cols.tolist(), scores.tolist()):
        finite[(r, c)] = not np.isnan(s)  # the last write of a pair counts
    keep = [(r, c) for (r, c), ok in finite.items() if ok]
    if not keep:
        return 0
    r, c = zip(*keep)
    graph = csr_matrix((np.ones(len(keep)), (r, c)), shape=(len(src), len(dst)))
    return int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())


@pytest.mark.parametrize("seed", range(600))
def test_paf_match_candidates_batch(seed):
    paf = importlib.import_module("sleap_nn.inference.ops.paf")
    rng = np.random.default_rng(seed)
    n_edges = int(rng.integers(1, 6))
    samples = [random_candidates(rng, n_edges) for _ in range(int(rng.integers(1, 5)))]
    edge_inds, edge_peak_inds, line_scores = (list(parts) for parts in zip(*samples))
    actual = switch.match_candidates_batch(edge_inds, edge_peak_inds, line_scores, n_edges)
    try:
        expected = paf.match_candidates_batch(edge_inds, edge_peak_inds, line_scores, n_edges)
    except ValueError as error:
        assert "infeasible" in str(error)
        expected = None
    if expected is not None:
        for what, a_list, e_list in zip(("edge_inds", "src", "dst", "scores"), actual, expected):
            assert len(a_list) == len(e_list)
            for sample, (a, e) in enumerate(zip(a_list, e_list)):
                assert_same_tensor(a, e, f"seed {seed}, sample {sample}, {what}")
        return
    # sleap-nn gave up on the batch: the samples it can answer alone must
    # still be its answers, the others hold the most finite pairs.
    for sample, candidates in enumerate(samples):
        matches = [part[sample] for part in actual]
        try:
            expected = paf.match_candidates_sample(*candidates, n_edges)
        except ValueError:
            assert_most_finite_pairs(candidates, matches, n_edges, f"seed {seed}, sample {sample}")
            continue
        for what, a, e in zip(("edge_inds", "src", "dst", "scores"), matches, expected):
            assert_same_tensor(a, e, f"seed {seed}, sample {sample}, {what}")


def assert_most_finite_pairs(candidates, matches, n_edges, what):
    """Where sleap-nn gives up, idmatch returns a matching of the most finite
    pairs, each source and destination used once."""
    edges, pairs, scores = candidates
    match_edges, match_src, match_dst, match_scores = matches
    assert not torch.isnan(match_scores).any()
    for edge in range(n_edges):
        pick = match_edges == edge
        assert int(pick.sum()) == max_finite_pairs(edges, pairs, scores, edge), f"{what}, edge {edge}"
        assert len(set(match_src[pick].tolist())) == int(pick.sum())
        assert len(set(match_dst[pick].tolist())) == int(pick.sum())


@pytest.mark.parametrize("seed", range(200))
def test_paf_match_candidates_sample(seed):
    paf = importlib.import_module("sleap_nn.inference.ops.paf")
    rng = np.random.default_rng(10_000 + seed)
    n_edges = int(rng.integers(1, 6))
    edge_inds, edge_peak_inds, line_scores = random_candidates(rng, n_edges)
    actual = switch.match_candidates_sample(edge_inds, edge_peak_inds, line_scores, n_edges)
    try:
        expected = paf.match_candidates_sample(edge_inds, edge_peak_inds, line_scores, n_edges)
    except ValueError as error:
        assert "infeasible" in str(error)
        assert_most_finite_pairs((edge_inds, edge_peak_inds, line_scores), actual, n_edges, f"seed {seed}")
        return
    for what, a, e in zip(("edge_inds", "src", "dst", "scores"), actual, expected):
        assert_same_tensor(a, e, f"seed {seed}, {what}")


@pytest.mark.parametrize("name", ["W1", "W3"])
def test_bench_times_sleap_nns_own_identity_module(name):
    """The benchmark's sleap-nn runner is sleap-nn's own code (its file,
    loaded as a private module), unaffected by enable(), and its answers
    equal the oracle's."""
    from idmatch.bench import runners, sleap, workloads

    module = sleap.sleap_nn_identity_module()
    installed = importlib.import_module("sleap_nn.inference.ops.identity")
    assert module is not installed and module.__file__ == installed.__file__
    switch.enable()
    ctx = workloads.SetupContext(name, torch.device("cpu"), 1.0, 0)
    prepared = runners.prepare(workloads.WORKLOADS[name], ctx)
    for function in ("classify_peaks_from_maps", "group_class_peaks", "get_class_inds_from_vectors"):
        assert getattr(module, function).__module__ == module.__name__, function
    checks = runners.check_answers(prepared, ctx.device)
    assert {runner: check.status for runner, check in checks.items()} == {
        "idmatch": "exact",
        "idmatch raw op": "exact",
        "reference": "exact",
        "sleap-nn": "exact",
    }
