// The ATen glue of the PAF candidate matching op: argument checks on metadata
// (both kernels), and for the CUDA kernel, which the CPU kernel imitates
// under IDMATCH_CPU_CUDA_PATH=1, the two stable sorts of the candidates and
// the problem boundaries, all with ATen ops that need no host sync, then the
// per-problem solve (core/paf.h) through a Kernels type:
//   paf(params, doubles, ints): core::solve_paf_problem for each problem.
// The CPU kernel's own path orders the candidates in plain C++ instead
// (cpu/paf_kernel.cpp), into the same orders.
// On a GPU the caller holds the device guard; every op runs on the current
// stream.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <tuple>

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/ops/searchsorted.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>

#include "../core/paf.h"
#include "identity_common.h"

namespace idmatch {
namespace ops {

inline void check_candidate_indices(const at::Tensor& t, const char* name, int64_t num_candidates,
                                    const at::Tensor& line_scores) {
  TORCH_CHECK_VALUE(t.dim() == 1 && t.size(0) == num_candidates, name, " must have shape (", num_candidates,
                    ",) (one per candidate), got ", t.sizes());
  TORCH_CHECK_TYPE(at::isIntegralType(t.scalar_type(), /*includeBool=*/false), name,
                   " must have an integer dtype, got ", t.scalar_type());
  scalar_kind(t, name);
  check_same_device(t, name, line_scores, "line_scores");
}

inline void check_paf_args(const at::Tensor& edge_inds, const at::Tensor& edge_peak_inds, const at::Tensor& line_scores,
                           const at::Tensor& sample_inds, int64_t n_samples, int64_t n_edges) {
  TORCH_CHECK_VALUE(line_scores.dim() == 1, "line_scores must be a 1-D tensor (one score per candidate), got shape ",
                    line_scores.sizes());
  check_floating(line_scores, "line_scores");
  const int64_t num_candidates = line_scores.size(0);
  check_candidate_indices(edge_inds, "edge_inds", num_candidates, line_scores);
  TORCH_CHECK_VALUE(
      edge_peak_inds.dim() == 2 && edge_peak_inds.size(0) == num_candidates && edge_peak_inds.size(1) == 2,
      "edge_peak_inds must have shape (", num_candidates, ", 2) (source, destination per candidate), got ",
      edge_peak_inds.sizes());
  TORCH_CHECK_TYPE(at::isIntegralType(edge_peak_inds.scalar_type(), /*includeBool=*/false),
                   "edge_peak_inds must have an integer dtype, got ", edge_peak_inds.scalar_type());
  scalar_kind(edge_peak_inds, "edge_peak_inds");
  check_same_device(edge_peak_inds, "edge_peak_inds", line_scores, "line_scores");
  check_candidate_indices(sample_inds, "sample_inds", num_candidates, line_scores);
  TORCH_CHECK_VALUE(n_samples >= 0, "n_samples must be >= 0, got ", n_samples);
  TORCH_CHECK_VALUE(n_edges >= 0, "n_edges must be >= 0, got ", n_edges);
  // Problem keys sample * n_edges + edge, and the sentinel past them, in int64.
  constexpr int64_t kMaxProblems = int64_t{1} << 62;
  TORCH_CHECK_VALUE(n_samples == 0 || n_edges <= kMaxProblems / n_samples,
                    "n_samples * n_edges is too large: ", n_samples, " samples of ", n_edges, " edges");
  // Ranks and sorted positions are int32.
  TORCH_CHECK_VALUE(num_candidates <= core::kMaxDim - 1, "too many candidates: ", num_candidates, " (at most ",
                    core::kMaxDim - 1, ")");
}

// The permutation that sorts the candidates by keys (least significant
// first), stably: successive stable sorts, each by the next more significant
// key, so that the candidate index breaks the remaining ties.
inline at::Tensor stable_order(std::initializer_list<at::Tensor> keys) {
  at::Tensor order;
  for (const at::Tensor& key : keys) {
    if (!order.defined()) {
      order = std::get<1>(at::sort(key, /*stable=*/true, /*dim=*/0, /*descending=*/false));
      continue;
    }
    const at::Tensor step = std::get<1>(at::sort(key.index_select(0, order), /*stable=*/true, 0, false));
    order = order.index_select(0, step);
  }
  return order;
}

template <class Kernels>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> match_paf_candidates(
    const Kernels& kernels, const at::Tensor& edge_inds, const at::Tensor& edge_peak_inds,
    const at::Tensor& line_scores, const at::Tensor& sample_inds, int64_t n_samples, int64_t n_edges) {
  const int64_t num_candidates = line_scores.size(0);
  const int64_t num_problems = n_samples * n_edges;
  const auto options = line_scores.options();
  const at::Tensor sample = sample_inds.to(at::kLong);
  const at::Tensor edge = edge_inds.to(at::kLong);
  const at::Tensor src = edge_peak_inds.select(1, 0).to(at::kLong).contiguous();
  const at::Tensor dst = edge_peak_inds.select(1, 1).to(at::kLong).contiguous();
  const at::Tensor sample_bad = sample.lt(0).logical_or(sample.ge(n_samples));
  const at::Tensor edge_bad = edge.lt(0).logical_or(edge.ge(n_edges));
  const at::Tensor ignored = sample_bad.logical_or(edge_bad);
  // Candidates in no problem sort last, after every problem's range. Their
  // indices are zeroed first, so that no product overflows.
  const at::Tensor zero = at::zeros({}, options.dtype(at::kLong));
  const at::Tensor key = at::where(ignored, num_problems,
                                   at::where(ignored, zero, sample).mul(n_edges).add(at::where(ignored, zero, edge)));
  const at::Tensor code = at::where(sample_bad, static_cast<int64_t>(core::kPafSampleOutOfRange),
                                    at::where(edge_bad, static_cast<int64_t>(core::kPafEdgeOutOfRange), zero))
                              .to(at::kInt);
  auto src_rank = code.clone();
  auto dst_rank = code.clone();
  auto matched = at::zeros({num_candidates}, options.dtype(at::kBool));
  auto status = at::empty({n_samples, n_edges}, options.dtype(at::kInt));

  const at::Tensor by_row = stable_order({dst, src, key});
  const at::Tensor by_col = stable_order({src, dst, key});
  const at::Tensor starts =
      at::searchsorted(key.index_select(0, by_row), at::arange(num_problems + 1, options.dtype(at::kLong)));
  auto doubles = at::empty({core::kPafDoublesPerCandidate * num_candidates}, options.dtype(at::kDouble));
  auto ints = at::empty({core::kPafIntsPerCandidate * num_candidates}, options.dtype(at::kInt));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, line_scores.scalar_type(), "match_paf_candidates", [&] {
    const core::PafParams<scalar_t> p{line_scores.const_data_ptr<scalar_t>(), line_scores.stride(0),
                                      src.const_data_ptr<int64_t>(),          dst.const_data_ptr<int64_t>(),
                                      by_row.const_data_ptr<int64_t>(),       by_col.const_data_ptr<int64_t>(),
                                      starts.const_data_ptr<int64_t>(),       num_problems,
                                      matched.mutable_data_ptr<bool>(),       src_rank.mutable_data_ptr<int32_t>(),
                                      dst_rank.mutable_data_ptr<int32_t>(),   status.mutable_data_ptr<int32_t>()};
    kernels.paf(p, doubles.mutable_data_ptr<double>(), ints.mutable_data_ptr<int32_t>());
  });
  return {matched, src_rank, dst_rank, status};
}

}  // namespace ops
}  // namespace idmatch
