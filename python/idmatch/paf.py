"""PAF candidate matching: sleap-nn's per-edge assignment of candidate
connections between peaks, for a whole batch in one raw op call.

Each (sample, edge) is one assignment problem, as in sleap-nn's
``match_candidates_sample``: rows are the edge's distinct source peaks,
columns its distinct destination peaks, both in ascending order, cell costs
-score (the last candidate of a pair listed twice winning), NaN scores and
absent pairs forbidden. Solved as scipy's ``linear_sum_assignment`` in
float64, ties included (docs/design.md, "PAF candidate matching").

One deliberate difference: where scipy raises "cost matrix is infeasible" (no
complete matching avoids the forbidden pairs), these functions answer with a
largest matching of the allowed pairs, of least total cost among those; the
raw op reports such problems as ``Status.INFEASIBLE_RESOLVED``.
"""

from typing import List, Tuple

import numpy as np
import torch

from ._common import INDEX_DTYPES, Status, _check_floating, _check_tensor, _is_compiling, index_dtypes


def _check_candidate_indices(t: torch.Tensor, name: str, num_candidates: int, line_scores: torch.Tensor) -> None:
    _check_tensor(t, name)
    if t.dim() != 1 or t.shape[0] != num_candidates:
        raise ValueError(f"{name} must have shape ({num_candidates},) (one per candidate), got {list(t.shape)}")
    if t.dtype not in index_dtypes():
        raise TypeError(f"{name} must have an integer dtype (int64, int32, int16, int8 or uint8), got {t.dtype}")
    if t.device != line_scores.device:
        raise ValueError(f"{name} must be on the device of line_scores ({line_scores.device}), got {t.device}")


def _check_in_range(t: torch.Tensor, name: str, bound: int, bound_name: str) -> None:
    if t.numel() > 0:
        low, high = int(t.min()), int(t.max())
        if low < 0 or high >= bound:
            bad = low if low < 0 else high
            raise ValueError(f"{name} must lie in [0, {bound_name}) = [0, {bound}), got {bad}")


def _raise_for_status(status: torch.Tensor) -> None:
    """ValueError for the first (sample, edge) whose status is an error (the
    infeasible problems this op resolves are not)."""
    bad = (status != Status.OK.value) & (status != Status.INFEASIBLE_RESOLVED.value)
    if status.numel() > 0 and bool(bad.any()):
        first = int(torch.argmax(bad.flatten().to(torch.int32)))
        sample, edge = first // status.shape[1], first % status.shape[1]
        code = int(status.flatten()[first])
        if code == Status.INVALID_ENTRIES.value:
            raise ValueError(
                f"line_scores: sample {sample}, edge {edge}: a +inf score makes the cost matrix contain "
                "invalid numeric entries"
            )
        raise ValueError(
            f"line_scores: sample {sample}, edge {edge}: cost matrix is infeasible "
            "(scores too close to the float64 limit for a finite placeholder)"
        )


def match_paf_candidates(
    edge_inds: torch.Tensor,
    edge_peak_inds: torch.Tensor,
    line_scores: torch.Tensor,
    sample_inds: torch.Tensor,
    n_samples: int,
    n_edges: int,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Matches the candidate connections of a batch, per (sample, edge).

    Args:
        edge_inds: (P,) integer tensor, the skeleton edge of each candidate,
            in [0, n_edges).
        edge_peak_inds: (P, 2) integer tensor, the source and destination peak
            index of each candidate within its sample (any integers: only
            their order matters).
        line_scores: (P,) floating tensor (float64, float32, float16 or
            bfloat16), the score of each candidate, read exactly in float64.
            NaN and -inf forbid the pair; +inf raises, as scipy does.
        sample_inds: (P,) integer tensor, the sample of each candidate, in
            [0, n_samples).
        n_samples, n_edges: the numbers of samples and edges.

    Returns:
        ``(matched, src_rank, dst_rank)``, each (P,), on the inputs' device:
        ``matched`` (bool) marks the candidates whose pair is matched (of a
        pair listed twice, the last one); ``src_rank`` and ``dst_rank``
        (int32) give each candidate's row and column in its problem: the
        rank of its source among the edge's distinct sources, and of its
        destination among the distinct destinations.

    Where scipy would raise "cost matrix is infeasible", the problem gets a
    largest set of allowed pairs, of least total cost among those, instead of
    an error (the raw op's status says ``Status.INFEASIBLE_RESOLVED``).

    Raises:
        TypeError, ValueError: naming the argument, for a wrong type, shape,
            dtype or device, an index out of range, or a +inf score in a cell.
    """
    _check_tensor(line_scores, "line_scores")
    if line_scores.dim() != 1:
        raise ValueError(
            f"line_scores must be a 1-D tensor (one score per candidate), got shape {list(line_scores.shape)}"
        )
    _check_floating(line_scores, "line_scores")
    num_candidates = line_scores.shape[0]
    _check_candidate_indices(edge_inds, "edge_inds", num_candidates, line_scores)
    _check_tensor(edge_peak_inds, "edge_peak_inds")
    if edge_peak_inds.dim() != 2 or edge_peak_inds.shape[0] != num_candidates or edge_peak_inds.shape[1] != 2:
        raise ValueError(
            f"edge_peak_inds must have shape ({num_candidates}, 2) (source, destination per candidate), "
            f"got {list(edge_peak_inds.shape)}"
        )
    if edge_peak_inds.dtype not in index_dtypes():
        raise TypeError(
            "edge_peak_inds must have an integer dtype (int64, int32, int16, int8 or uint8), "
            f"got {edge_peak_inds.dtype}"
        )
    if edge_peak_inds.device != line_scores.device:
        raise ValueError(
            f"edge_peak_inds must be on the device of line_scores ({line_scores.device}), got {edge_peak_inds.device}"
        )
    _check_candidate_indices(sample_inds, "sample_inds", num_candidates, line_scores)
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    if n_edges < 0:
        raise ValueError(f"n_edges must be >= 0, got {n_edges}")
    compiling = _is_compiling()
    if not compiling:
        _check_in_range(edge_inds, "edge_inds", n_edges, "n_edges")
        _check_in_range(sample_inds, "sample_inds", n_samples, "n_samples")
    matched, src_rank, dst_rank, status = torch.ops.idmatch.match_paf_candidates(
        edge_inds, edge_peak_inds, line_scores, sample_inds, n_samples, n_edges
    )
    if not compiling:
        _raise_for_status(status)
    return matched, src_rank, dst_rank


def _per_sample(values, name: str) -> List[torch.Tensor]:
    """The samples of a batch argument: a list or tuple of tensors, a nested
    tensor, or a tensor indexed along its first dimension."""
    if isinstance(values, torch.Tensor):
        return list(values.unbind(0))
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be a sequence of tensors (one per sample), got {type(values).__name__}")
    for k, t in enumerate(values):
        _check_tensor(t, f"{name}[{k}]")
    return list(values)


def match_candidates_batch(
    edge_inds,
    edge_peak_inds,
    line_scores,
    n_edges: int,
) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[torch.Tensor], List[torch.Tensor]]:
    """sleap-nn's ``match_candidates_batch``, with its arguments and results.

    Args:
        edge_inds: per sample, (n_candidates,) integer edge indices; a list
            or tuple of tensors, or a (nested) tensor with one entry per
            sample.
        edge_peak_inds: per sample, (n_candidates, 2) integer source and
            destination peak indices.
        line_scores: per sample, (n_candidates,) scores, used as float32 (the
            dtype of sleap-nn's cost matrix).
        n_edges: the number of edges of the skeleton; candidates of edges
            past it are ignored, as sleap-nn ignores them. A negative edge
            index raises ValueError.

    Returns:
        Four lists, one CPU tensor per sample each, as sleap-nn returns:
        matched edge indices (int32), source and destination ranks among the
        edge's distinct peaks (int32), and scores (float32), per sample in
        ascending edge order and, within an edge, ascending source rank.

    One raw op call solves the whole batch, on the inputs' device. Where
    sleap-nn raises "cost matrix is infeasible", the problem gets a largest
    set of allowed pairs, of least total cost among those, instead.
    """
    edges = _per_sample(edge_inds, "edge_inds")
    peaks = _per_sample(edge_peak_inds, "edge_peak_inds")
    scores = _per_sample(line_scores, "line_scores")
    n_samples = len(edges)
    if len(peaks) != n_samples or len(scores) != n_samples:
        raise ValueError(
            f"edge_inds, edge_peak_inds and line_scores must have one entry per sample each, got {n_samples}, "
            f"{len(peaks)} and {len(scores)}"
        )
    if n_edges < 0:
        raise ValueError(f"n_edges must be >= 0, got {n_edges}")
    if n_samples == 0:
        return [], [], [], []
    device = scores[0].device
    lengths = [0] * n_samples
    edge_dtypes, peak_dtypes, score_dtypes = set(), set(), set()
    for k in range(n_samples):
        e, p, s = edges[k], peaks[k], scores[k]
        count = s.shape[0] if s.dim() == 1 else -1
        if e.shape != (count,) or p.shape != (count, 2):
            if s.numel() == 0 and e.numel() == 0 and p.numel() == 0:
                # A sample without candidates, whatever the shapes of its empties.
                edges[k], peaks[k], scores[k] = e.reshape(0), p.reshape(0, 2), s.reshape(0)
                count = 0
            else:
                raise ValueError(
                    f"sample {k}: edge_inds must have shape (n,), edge_peak_inds (n, 2) and line_scores (n,), got "
                    f"{list(e.shape)}, {list(p.shape)} and {list(s.shape)}"
                )
        lengths[k] = count
        edge_dtypes.add(e.dtype)
        peak_dtypes.add(p.dtype)
        score_dtypes.add(s.dtype)
    for dtypes, name, values in ((edge_dtypes, "edge_inds", edges), (peak_dtypes, "edge_peak_inds", peaks)):
        if not dtypes.issubset(INDEX_DTYPES):
            k = next(k for k, t in enumerate(values) if t.dtype not in INDEX_DTYPES)
            raise TypeError(f"{name}[{k}] must have an integer dtype, got {values[k].dtype}")
    if any(dtype.is_complex for dtype in score_dtypes):
        k = next(k for k, t in enumerate(scores) if t.is_complex())
        raise TypeError(f"line_scores[{k}] must be real, got {scores[k].dtype}")
    # One cat per argument. The raw op reads indices of any integer dtype, so
    # they are concatenated as they come (integer promotion keeps every
    # value) unless their devices differ. sleap-nn writes -score into a
    # float32 matrix: scores round to float32, each on its own, as a cat of
    # mixed dtypes could first round them to a narrower one.
    try:
        edge = torch.cat(edges).to(device)
        peak = torch.cat(peaks).to(device)
        score = torch.cat(scores).to(device) if score_dtypes == {torch.float32} else None
    except RuntimeError:  # tensors on several devices
        edge = torch.cat([t.to(device=device, dtype=torch.int64) for t in edges])
        peak = torch.cat([t.to(device=device, dtype=torch.int64) for t in peaks])
        score = None
    if score is None:
        score = torch.cat([t.to(device=device, dtype=torch.float32) for t in scores])
    sample_host = np.repeat(np.arange(n_samples, dtype=np.int64), lengths)
    sample = torch.from_numpy(sample_host).to(device)

    matched, src_rank, dst_rank, status = torch.ops.idmatch.match_paf_candidates(
        edge, peak, score, sample, n_samples, n_edges
    )
    if np.count_nonzero(status.cpu().numpy()):  # most batches are all OK
        _raise_for_status(status)
    return _matches_per_sample(edge, score, sample_host, lengths, n_edges, matched, src_rank, dst_rank)


def _matches_per_sample(
    edge: torch.Tensor,
    score: torch.Tensor,
    sample_host: np.ndarray,
    lengths: List[int],
    n_edges: int,
    matched: torch.Tensor,
    src_rank: torch.Tensor,
    dst_rank: torch.Tensor,
) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[torch.Tensor], List[torch.Tensor]]:
    """match_candidates_batch's results from the raw op's outputs for the
    concatenated batch (edge, score; the samples' candidate counts, lengths,
    and each candidate's sample, sample_host)."""
    n_samples = len(lengths)
    # The matches, a few hundred values, are gathered, ordered and counted
    # on the host in NumPy, where each step costs about a microsecond instead
    # of a torch dispatch (on the CPU, the arrays are shared, not copied).
    edge_host = edge.cpu().numpy()
    if edge_host.size and edge_host.min() < 0:
        # sleap-nn skips such candidates, but a negative edge index is a bug
        # upstream, not a candidate of some edge.
        at = int(np.argmax(edge_host < 0))
        k = int(np.searchsorted(np.cumsum(lengths), at, side="right"))
        raise ValueError(f"edge_inds[{k}] holds a negative edge index, {int(edge_host[at])}")
    found = np.flatnonzero(matched.cpu().numpy())
    m_edge = edge_host[found]
    m_src = src_rank.cpu().numpy()[found]
    m_sample = sample_host[found]
    counts = np.bincount(m_sample, minlength=n_samples).tolist()
    # Order: sample, edge, source rank; a row has one match, so the keys are
    # distinct. One int64 key when it fits.
    num_problems = n_samples * max(n_edges, 1)
    num_ranks = max(int(score.shape[0]), 1)
    if num_problems < (1 << 62) // num_ranks:
        key = m_sample * n_edges
        key += m_edge
        key *= num_ranks
        key += m_src
        order = np.argsort(key)
    else:  # pragma: no cover - batches of over 2**62 problem-ranks
        order = np.lexsort((m_src, m_edge, m_sample))
    return (
        list(torch.from_numpy(m_edge[order].astype(np.int32, copy=False)).split_with_sizes(counts)),
        list(torch.from_numpy(m_src[order]).split_with_sizes(counts)),
        list(torch.from_numpy(dst_rank.cpu().numpy()[found[order]]).split_with_sizes(counts)),
        list(torch.from_numpy(score.detach().cpu().numpy()[found[order]]).split_with_sizes(counts)),
    )


def match_candidates_sample(
    edge_inds_sample: torch.Tensor,
    edge_peak_inds_sample: torch.Tensor,
    line_scores_sample: torch.Tensor,
    n_edges: int,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """sleap-nn's ``match_candidates_sample``: ``match_candidates_batch`` of
    a batch of one sample. Returns CPU tensors (int32 edge indices, int32
    source and destination ranks, float32 scores), as sleap-nn does."""
    _check_tensor(edge_inds_sample, "edge_inds_sample")
    _check_tensor(edge_peak_inds_sample, "edge_peak_inds_sample")
    _check_tensor(line_scores_sample, "line_scores_sample")
    edges, srcs, dsts, scores = match_candidates_batch(
        [edge_inds_sample], [edge_peak_inds_sample], [line_scores_sample], n_edges
    )
    return edges[0], srcs[0], dsts[0], scores[0]
