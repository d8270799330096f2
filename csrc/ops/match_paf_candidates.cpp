// Schema of the PAF candidate matching op. Kernels: cpu/paf_kernel.cpp,
// cuda/paf_cuda.cpp; their argument checks and the CUDA kernel's ordering
// (the CPU kernel's under IDMATCH_CPU_CUDA_PATH=1): paf_glue.h; per
// problem, shared by both: core/paf.h.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(idmatch, m) {
  // Contract. Inputs: the P candidate connections of a whole batch.
  //   edge_inds (P,) integer: the skeleton edge of each candidate;
  //   edge_peak_inds (P, 2) integer: its source and destination peak index
  //     within its sample (any values, negative ones included: only their
  //     order matters);
  //   line_scores (P,) floating: its score (read in float64);
  //   sample_inds (P,) integer: its sample.
  // Each (sample, edge) in [0, n_samples) x [0, n_edges) is one assignment
  // problem, as in sleap-nn's match_candidates_sample: rows are the edge's
  // distinct source peaks, columns its distinct destination peaks, both in
  // ascending order; cell cost -score, the last candidate of a pair listed
  // twice winning, NaN scores and absent pairs +inf; solved as scipy's
  // linear_sum_assignment, ties included.
  // Outputs, all of static shape:
  //   matched (P,) bool: the candidate supplied a matched cell (for a pair
  //     listed twice, only the last one can be);
  //   src_rank, dst_rank (P,) int32: the candidate's row and column in its
  //     problem, or -2 (sample index out of range) or -3 (edge index out of
  //     range) for a candidate in no problem, which is ignored;
  //   status (n_samples, n_edges) int32 per problem: 0 ok, 1 invalid entries
  //     (a +inf score in a cell: nothing matched), 4 infeasible resolved
  //     (scipy would raise "cost matrix is infeasible"; the op matches a
  //     largest set of finite pairs, of least total cost among those), 2
  //     infeasible (only when costs near the float64 limit leave no finite
  //     placeholder: nothing matched).
  // Never raises on values; no host sync on CUDA.
  m.def(
      "match_paf_candidates(Tensor edge_inds, Tensor edge_peak_inds, Tensor line_scores, Tensor sample_inds, "
      "int n_samples, int n_edges) -> (Tensor matched, Tensor src_rank, Tensor dst_rank, Tensor status)");
}
