"""PAF candidate matching: match_paf_candidates (the raw op and its wrapper)
and the sleap-nn-compatible match_candidates_batch / match_candidates_sample,
held bit for bit to the scipy reference (idmatch.reference) wherever scipy
answers, and to the maximum-cardinality optimum where scipy finds the cost
matrix infeasible."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

import idmatch
from conftest import CPU_KERNELS, FLOATING_DTYPES, assert_child_ok, assert_identical, cpu_kernels_env, run_child
from idmatch import Status, reference
from idmatch.paf import match_candidates_batch, match_candidates_sample

RAW = torch.ops.idmatch


# ---------------------------------------------------------------------------
# Random candidate sets.


# Source and destination counts on both sides of the CUDA kernel's tile
# (up to 32 columns in the solver's orientation; wider problems take the
# tile's thread block).
AROUND_THE_TILE = (1, 8, 9, 16, 17, 31, 32, 33, 40)


def random_problem(rng: np.random.Generator, kind: str, wide: bool = False):
    """Candidates (src peak, dst peak, score) of one (sample, edge): up to 6
    sources and 6 destinations, or counts from AROUND_THE_TILE when wide."""
    if wide:
        n_src, n_dst = (int(n) for n in rng.choice(AROUND_THE_TILE, size=2))
    else:
        n_src, n_dst = int(rng.integers(0, 7)), int(rng.integers(0, 7))
    peak_range = 50 if wide else 40
    src_peaks = rng.choice(peak_range, size=n_src, replace=False) - 5  # some negative peak indices
    dst_peaks = rng.choice(peak_range, size=n_dst, replace=False)
    pairs = [(s, d) for s in src_peaks for d in dst_peaks]
    if kind == "sparse" and pairs:
        keep = rng.random(len(pairs)) < (rng.uniform(0.01, 0.1) if wide else rng.uniform(0.1, 0.6))
        pairs = [p for p, k in zip(pairs, keep) if k]
    if pairs and rng.random() < 0.3:  # some pairs listed twice or more
        extra = rng.integers(0, len(pairs), size=int(rng.integers(1, 4)))
        pairs += [pairs[i] for i in extra]
    count = len(pairs)
    if rng.random() < 0.5:
        scores = rng.choice(np.array([0.25, 0.5, 1.0]), size=count)  # ties
    else:
        scores = rng.random(count)
    special = rng.random(count)
    scores = np.where(special < 0.05, np.nan, scores)
    scores = np.where((special >= 0.05) & (special < 0.07), -np.inf, scores)
    return [(int(s), int(d), float(v)) for (s, d), v in zip(pairs, scores)]


def random_batch(rng, n_samples: int, n_edges: int, kind: str, score_dtype, index_dtype, wide: bool = False):
    """Per-sample lists (edge_inds, edge_peak_inds, line_scores), candidates
    of a sample in random order."""
    edges, peaks, scores = [], [], []
    for _ in range(n_samples):
        rows = []
        for k in range(n_edges):
            if rng.random() < 0.15:
                continue  # an edge with no candidates
            rows += [(k, s, d, v) for s, d, v in random_problem(rng, kind, wide)]
        order = rng.permutation(len(rows))
        rows = [rows[i] for i in order]
        edges.append(torch.tensor([r[0] for r in rows], dtype=index_dtype))
        peaks.append(torch.tensor([[r[1], r[2]] for r in rows], dtype=index_dtype).reshape(-1, 2))
        scores.append(torch.tensor([r[3] for r in rows], dtype=torch.float64).to(score_dtype))
    return edges, peaks, scores


def reference_edge(edge_inds, peaks, scores, k):
    """The reference's answer for edge k of one sample, or its exception."""
    members = edge_inds.long() == k
    zeros = torch.zeros(int(members.sum()), dtype=torch.int64)
    try:
        return reference.match_candidates_sample(zeros, peaks[members], scores[members], 1)
    except ValueError as error:
        return error


def edge_cost(peaks, scores):
    """sleap-nn's float32 cost matrix of one edge's candidates, in float64."""
    src, dst = torch.unique(peaks[:, 0].long()), torch.unique(peaks[:, 1].long())
    cost = np.full((len(src), len(dst)), np.inf)
    for c in range(peaks.shape[0]):
        row = int(torch.searchsorted(src, peaks[c, 0].long()))
        col = int(torch.searchsorted(dst, peaks[c, 1].long()))
        cost[row, col] = -float(scores[c].float())
    cost[np.isnan(cost)] = np.inf
    return cost


def check_infeasible_edge(cost, src, dst, score, what):
    """Our matching of an edge scipy finds infeasible: as many finite pairs
    as a maximum bipartite matching of them, of the least total cost among
    such matchings (compared as totals: ties allow several)."""
    finite = np.isfinite(cost)
    assert finite[src.numpy(), dst.numpy()].all() if len(src) else True, what
    assert len(set(src.tolist())) == len(src) and len(set(dst.tolist())) == len(dst), what
    size = int((maximum_bipartite_matching(csr_matrix(finite.astype(np.int8)), perm_type="column") >= 0).sum())
    assert len(src) == size, f"{what}: {len(src)} pairs, maximum matching has {size}"
    if size == 0:
        return
    span = cost[finite].max() - cost[finite].min()
    big = cost[finite].max() + (span + 1) * (min(cost.shape) + 1)
    rows, cols = linear_sum_assignment(np.where(finite, cost, big))
    keep = finite[rows, cols]
    expected = math.fsum(-cost[rows[keep], cols[keep]])
    actual = math.fsum(score.double().tolist())
    assert math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-12), f"{what}: total {actual} != {expected}"
    # The op's placeholder is this one, computed alike, and its solver is
    # scipy's: so the pairs themselves are scipy's with the placeholder.
    assert src.tolist() == rows[keep].tolist() and dst.tolist() == cols[keep].tolist(), what


def check_batch(edges, peaks, scores, n_edges, what):
    """match_candidates_batch against the reference, edge by edge."""
    out = match_candidates_batch(edges, peaks, scores, n_edges)
    assert all(len(o) == len(edges) for o in out), what
    checked = {"feasible": 0, "infeasible": 0}
    for s in range(len(edges)):
        o_edge, o_src, o_dst, o_score = (o[s] for o in out)
        for t, dtype in zip((o_edge, o_src, o_dst, o_score), (torch.int32, torch.int32, torch.int32, torch.float32)):
            assert t.dtype == dtype and t.device.type == "cpu", what
        # Edges in ascending order, each in ascending source rank.
        key = o_edge.long() * 1000 + o_src.long()
        assert bool((key[1:] > key[:-1]).all()), f"{what}: sample {s} out of order"
        for k in range(n_edges):
            mine = o_edge == k
            expected = reference_edge(edges[s], peaks[s], scores[s], k)
            where = f"{what}, sample {s}, edge {k}"
            if isinstance(expected, ValueError):
                assert "infeasible" in str(expected), where
                members = edges[s].long() == k
                cost = edge_cost(peaks[s][members], scores[s][members])
                check_infeasible_edge(cost, o_src[mine], o_dst[mine], o_score[mine], where)
                checked["infeasible"] += 1
                continue
            assert_identical(o_src[mine], expected[1], f"{where}: src")
            assert_identical(o_dst[mine], expected[2], f"{where}: dst")
            assert_identical(o_score[mine], expected[3], f"{where}: score")
            checked["feasible"] += 1
    return checked


def no_posinf(scores):
    # +inf scores make scipy refuse the matrix: tested on their own.
    return [torch.where(torch.isposinf(t), torch.full_like(t, 0.5), t) for t in scores]


# ---------------------------------------------------------------------------
# Agreement with the reference.


@pytest.mark.parametrize("score_dtype", FLOATING_DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64], ids=["int32", "int64"])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_batch_equals_reference(score_dtype, index_dtype, kind):
    rng = np.random.default_rng([FLOATING_DTYPES.index(score_dtype), index_dtype == torch.int64, kind == "sparse"])
    totals = {"feasible": 0, "infeasible": 0}
    for trial in range(60):
        n_samples, n_edges = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        edges, peaks, scores = random_batch(rng, n_samples, n_edges, kind, score_dtype, index_dtype)
        scores = no_posinf(scores)
        checked = check_batch(edges, peaks, scores, n_edges, f"{kind} trial {trial}")
        for name in totals:
            totals[name] += checked[name]
    assert totals["feasible"] > 250
    if kind == "sparse":
        assert totals["infeasible"] > 10


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_problems_around_the_tile_width(kind):
    """Problems of 1 to 40 sources and destinations, on both sides of the
    CUDA kernel's tile width, against the reference."""
    rng = np.random.default_rng(41 + (kind == "sparse"))
    totals = {"feasible": 0, "infeasible": 0}
    for trial in range(10):
        edges, peaks, scores = random_batch(rng, 2, 3, kind, torch.float32, torch.int64, wide=True)
        checked = check_batch(edges, peaks, no_posinf(scores), 3, f"{kind} trial {trial}")
        for name in totals:
            totals[name] += checked[name]
    assert totals["feasible"] > 30
    if kind == "sparse":
        assert totals["infeasible"] > 15


def test_many_samples_one_call():
    rng = np.random.default_rng(7)
    edges, peaks, scores = random_batch(rng, 60, 8, "dense", torch.float32, torch.int32)
    checked = check_batch(edges, peaks, no_posinf(scores), 8, "many samples")
    assert checked["feasible"] > 300


def test_sample_function_equals_batch_of_one():
    rng = np.random.default_rng(3)
    edges, peaks, scores = random_batch(rng, 1, 5, "dense", torch.float32, torch.int32)
    scores = no_posinf(scores)
    got = match_candidates_sample(edges[0], peaks[0], scores[0], 5)
    expected = reference.match_candidates_sample(edges[0], peaks[0], scores[0], 5)
    for a, e, name in zip(got, expected, ("edge", "src", "dst", "score")):
        assert_identical(a, e, name)


def test_duplicate_pair_last_one_wins():
    edges = torch.tensor([0, 0, 0], dtype=torch.int32)
    peaks = torch.tensor([[3, 4], [3, 4], [3, 4]], dtype=torch.int32)
    scores = torch.tensor([0.9, float("nan"), 0.2])
    out = match_candidates_sample(edges, peaks, scores, 1)
    assert out[3].tolist() == [pytest.approx(0.2)]
    matched, _, _ = idmatch.match_paf_candidates(edges, peaks, scores, torch.zeros(3, dtype=torch.int32), 1, 1)
    assert matched.tolist() == [False, False, True]
    # A NaN last: the pair is absent, nothing to match.
    scores = torch.tensor([0.9, 0.2, float("nan")])
    assert match_candidates_sample(edges, peaks, scores, 1)[0].numel() == 0


def test_empty_inputs():
    assert match_candidates_batch([], [], [], 3) == ([], [], [], [])
    e = torch.empty(0, dtype=torch.int32)
    out = match_candidates_batch([e, e], [e.reshape(0, 2), e.reshape(0, 2)], [torch.empty(0), torch.empty(0)], 4)
    for lst, dtype in zip(out, (torch.int32, torch.int32, torch.int32, torch.float32)):
        assert [t.shape[0] for t in lst] == [0, 0] and all(t.dtype == dtype for t in lst)
    # Empties of other shapes stand for a sample without candidates too.
    out = match_candidates_batch([e.reshape(0, 1)], [e], [torch.empty(0, 1)], 2)
    assert [len(lst) for lst in out] == [1, 1, 1, 1] and out[0][0].shape == (0,)
    matched, src, dst, status = RAW.match_paf_candidates(e, e.reshape(0, 2), torch.empty(0), e, 2, 3)
    assert matched.shape == (0,) and src.dtype == torch.int32 and status.shape == (2, 3)
    assert bool((status == Status.OK.value).all())


def test_edges_past_n_edges_are_ignored_as_sleap_nn_does():
    edges = torch.tensor([0, 5, 2, 1], dtype=torch.int32)
    peaks = torch.tensor([[0, 0], [0, 0], [1, 1], [0, 1]], dtype=torch.int32)
    scores = torch.tensor([0.5, 0.9, 0.9, 0.7])
    out = match_candidates_sample(edges, peaks, scores, 2)
    assert out[0].tolist() == [0, 1] and out[3].tolist() == [0.5, pytest.approx(0.7)]


def test_negative_edges_raise_naming_the_sample():
    ok = torch.tensor([0, 1], dtype=torch.int32)
    bad = torch.tensor([0, -1], dtype=torch.int32)
    peaks = torch.tensor([[0, 0], [0, 1]], dtype=torch.int32)
    scores = torch.tensor([0.5, 0.7])
    with pytest.raises(ValueError, match=r"edge_inds\[1\] holds a negative edge index, -1"):
        match_candidates_batch([ok, bad], [peaks, peaks], [scores, scores], 2)
    with pytest.raises(ValueError, match=r"edge_inds\[0\] holds a negative edge index"):
        match_candidates_sample(bad, peaks, scores, 2)


def test_raw_op_reports_edges_out_of_range():
    edges = torch.tensor([0, 5, -1, 1], dtype=torch.int32)
    peaks = torch.tensor([[0, 0], [0, 0], [1, 1], [0, 1]], dtype=torch.int32)
    scores = torch.tensor([0.5, 0.9, 0.9, 0.7])
    samples = torch.tensor([0, 0, 0, 3])
    _, src, dst, status = RAW.match_paf_candidates(edges, peaks, scores, samples, 2, 2)
    assert src.tolist() == [0, -3, -3, -2] and dst.tolist() == [0, -3, -3, -2]
    assert status.tolist() == [[0, 0], [0, 0]]


def test_raw_op_float64_scores_equal_scipy():
    """The raw op reads scores in float64 (the sleap-nn functions round them
    to float32 first, as sleap-nn's cost matrix does)."""
    rng = np.random.default_rng(11)
    for trial in range(200):
        rows = random_problem(rng, "dense")
        rows = [(s, d, v + 1e-12 if np.isfinite(v) else v) for s, d, v in rows]
        peaks = torch.tensor([[s, d] for s, d, _ in rows], dtype=torch.int64).reshape(-1, 2)
        scores = torch.tensor([v for _, _, v in rows], dtype=torch.float64)
        zeros = torch.zeros(len(rows), dtype=torch.int64)
        matched, src, dst, status = RAW.match_paf_candidates(zeros, peaks, scores, zeros, 1, 1)
        src_peaks, dst_peaks = torch.unique(peaks[:, 0]), torch.unique(peaks[:, 1])
        assert_identical(src, torch.searchsorted(src_peaks, peaks[:, 0].contiguous()).int(), f"trial {trial}: ranks")
        assert_identical(dst, torch.searchsorted(dst_peaks, peaks[:, 1].contiguous()).int(), f"trial {trial}: ranks")
        cost = np.full((len(src_peaks), len(dst_peaks)), np.inf)
        last = {}
        for c in range(len(rows)):
            cost[src[c], dst[c]] = -scores[c].item()
            last[(int(src[c]), int(dst[c]))] = c
        cost[np.isnan(cost)] = np.inf
        try:
            r, c = linear_sum_assignment(cost)
        except ValueError:
            assert int(status) in (Status.INFEASIBLE_RESOLVED.value,), f"trial {trial}"
            continue
        assert int(status) == Status.OK.value, f"trial {trial}"
        expected = torch.zeros(len(rows), dtype=torch.bool)
        for i, j in zip(r.tolist(), c.tolist()):
            expected[last[(i, j)]] = True
        assert_identical(matched, expected, f"trial {trial}: matched")


# ---------------------------------------------------------------------------
# Infeasible problems, +inf scores.


def test_infeasible_gets_largest_matching():
    # Sources a, b reach only destination x, c reaches y, and z only through
    # a NaN score: scipy raises, the op matches two pairs, c-y and the better
    # of a-x and b-x.
    edges = torch.zeros(4, dtype=torch.int64)
    peaks = torch.tensor([[0, 0], [1, 0], [2, 1], [2, 2]])
    scores = torch.tensor([0.3, 0.8, 0.1, float("nan")])
    with pytest.raises(ValueError, match="infeasible"):
        reference.match_candidates_sample(edges, peaks, scores, 1)
    out = match_candidates_sample(edges, peaks, scores, 1)
    assert out[1].tolist() == [1, 2] and out[2].tolist() == [0, 1]
    _, _, _, status = RAW.match_paf_candidates(edges, peaks, scores, edges, 1, 1)
    assert int(status) == Status.INFEASIBLE_RESOLVED.value
    # Only NaN scores: nothing to match, resolved as well.
    out = match_candidates_sample(edges, peaks, torch.full((4,), float("nan")), 1)
    assert out[0].numel() == 0


def test_infeasible_with_overwritten_extremes():
    # The placeholder's bounds come from the matrix: a +inf score (-inf cost)
    # and a large score that later duplicates replace are not in it.
    edges = torch.zeros(6, dtype=torch.int64)
    peaks = torch.tensor([[0, 0], [0, 0], [1, 0], [1, 0], [2, 1], [2, 2]])
    scores = torch.tensor([float("inf"), 0.3, 50.0, 0.8, 0.1, float("nan")])
    out = match_candidates_sample(edges, peaks, scores, 1)
    assert out[1].tolist() == [1, 2] and out[2].tolist() == [0, 1]
    assert out[3].tolist() == [pytest.approx(0.8), pytest.approx(0.1)]
    cost = edge_cost(peaks, scores)
    check_infeasible_edge(cost, out[1], out[2], out[3], "overwritten extremes")
    _, _, _, status = RAW.match_paf_candidates(edges, peaks, scores, edges, 1, 1)
    assert int(status) == Status.INFEASIBLE_RESOLVED.value


def test_prefers_more_pairs_over_a_better_score():
    # a-x 10 alone beats a-y 1 + b-x 1 in score, but the matching of two
    # pairs is the larger one.
    peaks = torch.tensor([[0, 0], [0, 1], [1, 0]])
    scores = torch.tensor([10.0, 1.0, 1.0])
    edges = torch.zeros(3, dtype=torch.int64)
    out = match_candidates_sample(edges, peaks, scores, 1)
    assert out[1].tolist() == [0, 1] and out[2].tolist() == [1, 0]


def test_posinf_score_raises_naming_line_scores():
    edges = torch.zeros(2, dtype=torch.int32)
    peaks = torch.tensor([[0, 0], [1, 1]], dtype=torch.int32)
    scores = torch.tensor([float("inf"), 0.5])
    with pytest.raises(ValueError, match="invalid numeric entries"):
        reference.match_candidates_sample(edges, peaks, scores, 1)
    with pytest.raises(ValueError, match="line_scores.*invalid numeric entries"):
        match_candidates_sample(edges, peaks, scores, 1)
    with pytest.raises(ValueError, match="line_scores"):
        idmatch.match_paf_candidates(edges, peaks, scores, edges, 1, 1)
    matched, _, _, status = RAW.match_paf_candidates(edges, peaks, scores, edges, 1, 1)
    assert int(status) == Status.INVALID_ENTRIES.value and not bool(matched.any())
    # Overwritten by a later duplicate, the +inf is gone, as in sleap-nn.
    peaks = torch.tensor([[0, 0], [0, 0]], dtype=torch.int32)
    assert match_candidates_sample(edges, peaks, scores, 1)[3].tolist() == [0.5]


# ---------------------------------------------------------------------------
# Bad input.


def good_args():
    return (
        torch.zeros(3, dtype=torch.int64),
        torch.zeros(3, 2, dtype=torch.int64),
        torch.zeros(3),
        torch.zeros(3, dtype=torch.int64),
        1,
        1,
    )


@pytest.mark.parametrize(
    ("index", "value", "error", "match"),
    [
        (0, torch.zeros(4, dtype=torch.int64), ValueError, "edge_inds must have shape \\(3,\\)"),
        (0, torch.zeros(3), TypeError, "edge_inds must have an integer dtype"),
        (0, torch.zeros(3, 1, dtype=torch.int64), ValueError, "edge_inds must have shape"),
        (0, torch.tensor([0, 1, 0]), ValueError, "edge_inds must lie in"),
        (0, torch.tensor([0, -1, 0]), ValueError, "edge_inds must lie in"),
        (1, torch.zeros(3, 3, dtype=torch.int64), ValueError, "edge_peak_inds must have shape \\(3, 2\\)"),
        (1, torch.zeros(3, 2), TypeError, "edge_peak_inds must have an integer dtype"),
        (1, torch.zeros(3, 2, dtype=torch.bool), TypeError, "edge_peak_inds must have an integer dtype"),
        (2, torch.zeros(3, 1), ValueError, "line_scores must be a 1-D tensor"),
        (2, torch.zeros(3, dtype=torch.int64), TypeError, "line_scores must have a floating dtype"),
        (2, [0.0, 0.0, 0.0], TypeError, "line_scores must be a torch.Tensor"),
        (3, torch.zeros(2, dtype=torch.int64), ValueError, "sample_inds must have shape"),
        (3, torch.tensor([0, 2, 0]), ValueError, "sample_inds must lie in"),
        (3, torch.zeros(3, dtype=torch.float32), TypeError, "sample_inds must have an integer dtype"),
        (4, -1, ValueError, "n_samples must be >= 0"),
        (5, -2, ValueError, "n_edges must be >= 0"),
    ],
)
def test_bad_input(index, value, error, match):
    args = list(good_args())
    args[index] = value
    with pytest.raises(error, match=match):
        idmatch.match_paf_candidates(*args)
    if isinstance(value, torch.Tensor) or index >= 4:
        if "lie in" in match:
            return  # values: the raw op ignores such candidates instead
        with pytest.raises(error, match=match.split(" must")[0]):
            RAW.match_paf_candidates(*args)
        meta = [a.to("meta") if isinstance(a, torch.Tensor) else a for a in args]
        with pytest.raises(error, match=match.split(" must")[0]):
            RAW.match_paf_candidates(*meta)


def test_meta_device_mixed_with_cpu_is_refused():
    args = list(good_args())
    args[0] = args[0].to("meta")
    with pytest.raises(ValueError, match="edge_inds must be on the device of line_scores"):
        RAW.match_paf_candidates(*args)


def test_batch_bad_input():
    e = torch.zeros(2, dtype=torch.int32)
    p = torch.zeros(2, 2, dtype=torch.int32)
    s = torch.zeros(2)
    with pytest.raises(ValueError, match="one entry per sample"):
        match_candidates_batch([e, e], [p], [s, s], 1)
    with pytest.raises(ValueError, match="sample 0"):
        match_candidates_batch([e], [p[:1]], [s], 1)
    with pytest.raises(TypeError, match="edge_peak_inds\\[0\\] must have an integer dtype"):
        match_candidates_batch([e], [p.float()], [s], 1)
    with pytest.raises(TypeError, match="line_scores must be a sequence"):
        match_candidates_batch([e], [p], 3.0, 1)
    with pytest.raises(TypeError, match="edge_inds_sample must be a torch.Tensor"):
        match_candidates_sample([0, 0], p, s, 1)


# ---------------------------------------------------------------------------
# torch.compile, torch.export, TorchScript.


def raw_inputs():
    rng = np.random.default_rng(5)
    edges, peaks, scores = random_batch(rng, 3, 4, "sparse", torch.float32, torch.int64)
    scores = no_posinf(scores)
    samples = torch.cat([torch.full((len(e),), k, dtype=torch.int64) for k, e in enumerate(edges)])
    return torch.cat(edges), torch.cat(peaks), torch.cat(scores), samples


class RawMatch(torch.nn.Module):
    def forward(self, edge_inds, edge_peak_inds, line_scores, sample_inds):
        return torch.ops.idmatch.match_paf_candidates(edge_inds, edge_peak_inds, line_scores, sample_inds, 3, 4)


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_compile_fullgraph(backend):
    torch._dynamo.reset()
    inputs = raw_inputs()
    expected = RawMatch()(*inputs)
    got = torch.compile(RawMatch(), fullgraph=True, backend=backend)(*inputs)
    for a, e in zip(got, expected):
        assert_identical(a, e, f"compiled ({backend})")
    wrapped = torch.compile(idmatch.match_paf_candidates, fullgraph=True, backend=backend)
    for a, e in zip(wrapped(*inputs, 3, 4), expected[:3]):
        assert_identical(a, e, f"compiled wrapper ({backend})")


def test_export():
    inputs = raw_inputs()
    expected = RawMatch()(*inputs)
    exported = torch.export.export(RawMatch(), inputs).module()
    for a, e in zip(exported(*inputs), expected):
        assert_identical(a, e, "exported")


def test_script():
    inputs = raw_inputs()
    expected = RawMatch()(*inputs)

    def call(edge_inds, edge_peak_inds, line_scores, sample_inds):
        return torch.ops.idmatch.match_paf_candidates(edge_inds, edge_peak_inds, line_scores, sample_inds, 3, 4)

    for a, e in zip(torch.jit.script(call)(*inputs), expected):
        assert_identical(a, e, "scripted")
    for a, e in zip(torch.jit.script(idmatch.match_paf_candidates)(*inputs, 3, 4), expected[:3]):
        assert_identical(a, e, "scripted wrapper")


def test_infeasible_problems_in_bulk():
    """Problems built to be infeasible often: few pairs of many peaks, many
    NaN scores; each is checked against the maximum-cardinality optimum."""
    rng = np.random.default_rng(29)
    infeasible = 0
    for trial in range(400):
        n_src, n_dst = int(rng.integers(2, 7)), int(rng.integers(2, 7))
        count = int(rng.integers(1, n_src * n_dst + 1))
        peaks = torch.from_numpy(np.stack([rng.integers(0, n_src, count), rng.integers(0, n_dst, count)], 1))
        values = rng.choice(np.array([0.25, 0.5, 1.0, np.nan]), size=count) if trial % 2 else rng.random(count)
        scores = torch.from_numpy(values).float()
        edges = torch.zeros(count, dtype=torch.int64)
        out = match_candidates_sample(edges, peaks, scores, 1)
        expected = reference_edge(edges, peaks, scores, 0)
        if isinstance(expected, ValueError):
            check_infeasible_edge(edge_cost(peaks, scores), out[1], out[2], out[3], f"trial {trial}")
            infeasible += 1
        else:
            for a, e in zip(out, expected):
                assert_identical(a, e, f"trial {trial}")
    assert infeasible > 40


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_nested_tensor_and_tuple_inputs():
    rng = np.random.default_rng(13)
    edges, peaks, scores = random_batch(rng, 4, 3, "dense", torch.float32, torch.int32)
    scores = no_posinf(scores)
    expected = match_candidates_batch(edges, peaks, scores, 3)
    for form, args in (
        ("tuple", (tuple(edges), tuple(peaks), tuple(scores))),
        ("nested", tuple(torch.nested.nested_tensor(x) for x in (edges, peaks, scores))),
    ):
        got = match_candidates_batch(*args, 3)
        for g, e in zip(got, expected):
            assert len(g) == len(e), form
            for k, (a, b) in enumerate(zip(g, e)):
                assert_identical(a, b, f"{form}, sample {k}")


def test_compile_dynamic_shapes():
    torch._dynamo.reset()
    compiled = torch.compile(RawMatch(), fullgraph=True, backend="aot_eager", dynamic=True)
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        edges, peaks, scores = random_batch(rng, 3, 4, "sparse", torch.float32, torch.int64)
        samples = torch.cat([torch.full((len(e),), k, dtype=torch.int64) for k, e in enumerate(edges)])
        inputs = (torch.cat(edges), torch.cat(peaks), torch.cat(no_posinf(scores)), samples)
        for a, e in zip(compiled(*inputs), RawMatch()(*inputs)):
            assert_identical(a, e, f"dynamic, seed {seed}")


def test_posinf_scores_in_bulk():
    """+inf scores, some replaced by later duplicates: the batch raises
    exactly when the reference finds invalid entries in some edge."""
    rng = np.random.default_rng(31)
    raised = answered = 0
    for trial in range(150):
        edges, peaks, scores = random_batch(rng, 2, 3, "sparse", torch.float32, torch.int64)
        for t in scores:
            t[torch.from_numpy(rng.random(t.shape[0]) < 0.03)] = float("inf")
        invalid = any(
            isinstance(r, ValueError) and "invalid numeric entries" in str(r)
            for s in range(2)
            for r in (reference_edge(edges[s], peaks[s], scores[s], k) for k in range(3))
        )
        if invalid:
            with pytest.raises(ValueError, match="line_scores.*invalid numeric entries"):
                match_candidates_batch(edges, peaks, scores, 3)
            raised += 1
        else:
            check_batch(edges, peaks, scores, 3, f"trial {trial}")
            answered += 1
    assert raised > 20 and answered > 20


# ---------------------------------------------------------------------------
# Every CPU kernel set gives the same answers, on narrow and wide problems,
# infeasible ones among them.

KERNEL_SETS_CHILD = """
import sys
import numpy as np
import torch
import idmatch  # noqa: F401
sys.path.insert(0, sys.argv[2])
from test_paf import kernel_set_batches
results = []
for inputs in kernel_set_batches(np.random.default_rng(43)):
    results.append((inputs, torch.ops.idmatch.match_paf_candidates(*inputs, 3, 3)))
torch.save(results, sys.argv[1])
"""


def kernel_set_batches(rng: np.random.Generator):
    """The raw op's inputs for batches of 3 samples and 3 edges, narrow and
    wide, dense and sparse."""
    for wide in (False, True):
        for kind in ("dense", "sparse"):
            for _ in range(4):
                edges, peaks, scores = random_batch(rng, 3, 3, kind, torch.float32, torch.int64, wide)
                samples = torch.cat([torch.full((len(e),), k, dtype=torch.int64) for k, e in enumerate(edges)])
                yield torch.cat(edges), torch.cat(peaks), torch.cat(no_posinf(scores)), samples


@pytest.mark.parametrize("kernels", CPU_KERNELS)
def test_every_cpu_kernel_set_agrees(tmp_path, kernels):
    path = tmp_path / "results.pt"
    tests_dir = str(__import__("pathlib").Path(__file__).parent)
    assert_child_ok(run_child("-c", KERNEL_SETS_CHILD, str(path), tests_dir, env=cpu_kernels_env(kernels)), kernels)
    results = torch.load(path)
    assert len(results) == 16
    for k, (inputs, got) in enumerate(results):
        for a, e in zip(got, RAW.match_paf_candidates(*inputs, 3, 3)):
            assert_identical(a, e, f"{kernels}, batch {k}")
