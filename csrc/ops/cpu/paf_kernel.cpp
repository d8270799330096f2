// CPU kernel of the PAF candidate matching op. It orders the candidates in
// plain C++ (a counting sort by problem, then per problem the two orders:
// by row with a check or a sort, by column with a counting sort) and runs
// the per-problem solve (core/paf.h) right after each problem's ordering: a
// batch is a few thousand candidates in about a hundred problems, too few
// for ATen's sorts and elementwise ops, each a dispatch and a pass over the
// batch, to pay for themselves. Under IDMATCH_CPU_CUDA_PATH=1 it runs the
// CUDA kernel's ATen glue (../paf_glue.h) instead, serially over a
// junk-filled workspace, as the CUDA kernel would see it.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include "../../core/identity.h"
#include "../../core/paf.h"
#include "../cuda_path.h"
#include "../kernel_switches.h"
#include "../paf_glue.h"
#include "cuda_path_kernels.h"

namespace idmatch {
namespace ops {
namespace {

// The CUDA path's kernels: the glue's sorted orders, solved serially, with
// the tiles' and the block's solvers lane by lane (or by one thread, as the
// CUDA kernel with IDMATCH_CUDA_THREAD_SOLVER=1).
struct CudaPathPafKernels {
  template <typename T>
  void paf(const core::PafParams<T>& p, double* doubles, int32_t* ints) const {
    // Device memory from the caching allocator holds whatever it held
    // before: no solve may read a slot before writing it.
    const int64_t num_candidates = p.num_problems == 0 ? 0 : p.starts[p.num_problems];
    std::fill_n(doubles, core::kPafDoublesPerCandidate * num_candidates, std::numeric_limits<double>::quiet_NaN());
    std::fill_n(ints, core::kPafIntsPerCandidate * num_candidates, int32_t{-0x5a5a5a5a});
    const bool thread_solver = thread_solver_enabled();
    for (int64_t s = 0; s < p.num_problems; ++s) {
      if (thread_solver) {
        core::solve_paf_problem(p, s, doubles, ints);
      } else {
        core::solve_paf_problem_serial_team(p, s, doubles, ints);
      }
    }
  }
};

// Candidates per parallel chunk: a problem is a few dozen candidates,
// microseconds of work, so a parallel region pays off only for batches of
// tens of thousands of candidates, and each chunk must be many problems long.
constexpr int64_t kCandidatesPerChunk = 16384;

// Scratch that every reader writes before it reads: left uninitialised.
// (C++20's make_unique_for_overwrite; torch before 2.12 builds with C++17.)
template <typename T>
std::unique_ptr<T[]> uninitialized_array(int64_t n) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(n)]);
}

template <typename E>
void copy_as_int64(core::TypedScalars<E> v, int64_t n, int64_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = v.as_int64(i);
}

// The integers of a strided vector, widened to a contiguous int64 array:
// one dtype dispatch per vector, not per element.
void copy_as_int64(core::StridedScalars v, int64_t n, int64_t* out) {
  switch (v.kind) {
    case core::ScalarKind::kInt64: return copy_as_int64(v.as_typed<int64_t>(), n, out);
    case core::ScalarKind::kInt32: return copy_as_int64(v.as_typed<int32_t>(), n, out);
    case core::ScalarKind::kInt16: return copy_as_int64(v.as_typed<int16_t>(), n, out);
    case core::ScalarKind::kInt8: return copy_as_int64(v.as_typed<int8_t>(), n, out);
    case core::ScalarKind::kUInt8: return copy_as_int64(v.as_typed<uint8_t>(), n, out);
    default: TORCH_CHECK(false, "match_paf_candidates: unexpected index dtype");
  }
}

// A candidate under its sort key: (source, destination, candidate).
struct PeakPair {
  int64_t src, dst, candidate;
  bool operator<(const PeakPair& o) const {
    if (src != o.src) return src < o.src;
    if (dst != o.dst) return dst < o.dst;
    return candidate < o.candidate;
  }
};

// Per-thread scratch of the per-problem ordering, grown to the largest
// problem a thread meets.
struct OrderScratch {
  std::vector<PeakPair> pairs;
  std::vector<int64_t> values;
  std::vector<int32_t> dst_rank, identity, order, count;

  void reserve(int64_t n) {
    if (static_cast<int64_t>(values.size()) >= n) return;
    pairs.resize(n);
    values.resize(n);
    dst_rank.resize(n);
    identity.resize(n);
    order.resize(n);
    count.resize(n + 1);
    for (int64_t i = 0; i < n; ++i) identity[i] = static_cast<int32_t>(i);
  }
};

// The rank of each of values[0, n) among their distinct values, ascending,
// into rank; returns the number of distinct values. sorted: room for n.
int32_t rank_values(const int64_t* values, int64_t n, int64_t* sorted, int32_t* rank) {
  std::copy_n(values, n, sorted);
  std::sort(sorted, sorted + n);
  const int64_t distinct = std::unique(sorted, sorted + n) - sorted;
  for (int64_t i = 0; i < n; ++i) {
    rank[i] = static_cast<int32_t>(std::lower_bound(sorted, sorted + distinct, values[i]) - sorted);
  }
  return static_cast<int32_t>(distinct);
}

// Stable counting sort of the local indices in[0, n) by key[index] in
// [0, num_keys), into out.
void counting_sort(const int32_t* in, int64_t n, const int32_t* key, int32_t num_keys, int32_t* count, int32_t* out) {
  std::fill_n(count, num_keys + 1, 0);
  for (int64_t i = 0; i < n; ++i) ++count[key[in[i]] + 1];
  for (int32_t r = 0; r < num_keys; ++r) count[r + 1] += count[r];
  for (int64_t i = 0; i < n; ++i) out[count[key[in[i]]]++] = in[i];
}

// Writes the problem of sorted positions [begin, end) in its two orders,
// by_row (source, destination, candidate) and by_col (destination, source,
// candidate), from its candidates in candidate order (by_problem).
void order_problem(const int64_t* by_problem, const int64_t* src, const int64_t* dst, int64_t begin, int64_t end,
                   OrderScratch& scratch, int64_t* by_row, int64_t* by_col) {
  const int64_t n = end - begin;
  scratch.reserve(n);
  const int64_t* const candidates = by_problem + begin;
  // Candidates usually come source by source, each source's destinations
  // ascending (as sleap-nn lists them): then candidate order is by_row
  // already, and one pass finds it so.
  bool in_order = true;
  for (int64_t i = 1; i < n && in_order; ++i) {
    const int64_t a = candidates[i - 1], b = candidates[i];
    in_order = src[a] < src[b] || (src[a] == src[b] && dst[a] <= dst[b]);
  }
  if (in_order) {
    std::copy_n(candidates, n, by_row + begin);
  } else {
    PeakPair* const pairs = scratch.pairs.data();
    for (int64_t i = 0; i < n; ++i) pairs[i] = {src[candidates[i]], dst[candidates[i]], candidates[i]};
    std::sort(pairs, pairs + n);
    for (int64_t i = 0; i < n; ++i) by_row[begin + i] = pairs[i].candidate;
  }
  // by_col is by_row stably sorted by destination: a counting sort by
  // destination rank.
  int64_t* const values = scratch.values.data();
  int32_t* const dst_rank = scratch.dst_rank.data();
  int32_t* const order = scratch.order.data();
  for (int64_t i = 0; i < n; ++i) values[i] = dst[by_row[begin + i]];
  const int32_t n_dst = rank_values(values, n, by_col + begin, dst_rank);  // by_col: free until written below
  counting_sort(scratch.identity.data(), n, dst_rank, n_dst, scratch.count.data(), order);
  for (int64_t i = 0; i < n; ++i) by_col[begin + i] = by_row[begin + order[i]];
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> match_paf_candidates_host(
    const at::Tensor& edge_inds, const at::Tensor& edge_peak_inds, const at::Tensor& line_scores,
    const at::Tensor& sample_inds, int64_t n_samples, int64_t n_edges) {
  const int64_t num_candidates = line_scores.size(0);
  const int64_t num_problems = n_samples * n_edges;
  const auto options = line_scores.options();
  auto matched = at::zeros({num_candidates}, options.dtype(at::kBool));
  auto src_rank = at::empty({num_candidates}, options.dtype(at::kInt));
  auto dst_rank = at::empty({num_candidates}, options.dtype(at::kInt));
  auto status = at::empty({n_samples, n_edges}, options.dtype(at::kInt));
  int32_t* const src_rank_out = src_rank.mutable_data_ptr<int32_t>();
  int32_t* const dst_rank_out = dst_rank.mutable_data_ptr<int32_t>();

  // One block for the int64 arrays: src, dst, the candidates by problem (in
  // candidate order), by_row, by_col, and the problem starts.
  const int64_t P = num_candidates;
  const auto block = uninitialized_array<int64_t>(5 * P + num_problems + 1);
  int64_t* const src = block.get();
  int64_t* const dst = src + P;
  int64_t* const by_problem = dst + P;
  int64_t* const by_row = by_problem + P;
  int64_t* const by_col = by_row + P;
  int64_t* const starts = by_col + P;

  // Each candidate's problem, or num_problems for one in no problem (coded
  // in its ranks, a bad sample before a bad edge); sample and edge indices
  // pass through by_row and by_col, free until the orders are written.
  int64_t* const key = by_problem;
  int64_t* const sample = by_row;
  int64_t* const edge = by_col;
  copy_as_int64(strided_scalars(sample_inds, "sample_inds"), P, sample);
  copy_as_int64(strided_scalars(edge_inds, "edge_inds"), P, edge);
  std::fill_n(starts, num_problems + 1, 0);
  for (int64_t k = 0; k < P; ++k) {
    const int64_t s = sample[k], e = edge[k];
    int32_t code = 0;
    if (s < 0 || s >= n_samples) code = core::kPafSampleOutOfRange;
    else if (e < 0 || e >= n_edges) code = core::kPafEdgeOutOfRange;
    if (code != 0) {
      src_rank_out[k] = dst_rank_out[k] = code;
      key[k] = num_problems;
      continue;
    }
    key[k] = s * n_edges + e;
    ++starts[key[k]];
  }
  // Counting sort by problem, stable: exclusive sums, each problem's cursor
  // advancing through its range, then shifted back to the range starts.
  int64_t total = 0;
  for (int64_t s = 0; s <= num_problems; ++s) {
    const int64_t c = starts[s];
    starts[s] = total;
    total += c;
  }
  for (int64_t k = 0; k < P; ++k) {
    if (key[k] < num_problems) src[starts[key[k]]++] = k;  // src: free until read below
  }
  for (int64_t s = num_problems; s > 0; --s) starts[s] = starts[s - 1];
  starts[0] = 0;
  std::copy_n(src, starts[num_problems], by_problem);
  copy_as_int64(strided_scalars(edge_peak_inds, "edge_peak_inds", 0), P, src);
  copy_as_int64(strided_scalars(edge_peak_inds, "edge_peak_inds", 1), P, dst);

  const auto doubles = uninitialized_array<double>(core::kPafDoublesPerCandidate * P);
  const auto ints = uninitialized_array<int32_t>(core::kPafIntsPerCandidate * P);
  const int64_t valid = starts[num_problems];
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, line_scores.scalar_type(), "match_paf_candidates", [&] {
    const core::PafParams<scalar_t> p{line_scores.const_data_ptr<scalar_t>(),
                                      line_scores.stride(0),
                                      src,
                                      dst,
                                      by_row,
                                      by_col,
                                      starts,
                                      num_problems,
                                      matched.mutable_data_ptr<bool>(),
                                      src_rank_out,
                                      dst_rank_out,
                                      status.mutable_data_ptr<int32_t>()};
    auto solve_range = [&](int64_t first, int64_t last) {
      OrderScratch scratch;
      for (int64_t s = first; s < last; ++s) {
        if (starts[s + 1] > starts[s])
          order_problem(by_problem, src, dst, starts[s], starts[s + 1], scratch, by_row, by_col);
        core::solve_paf_problem(p, s, doubles.get(), ints.get());
      }
    };
    if (valid < 2 * kCandidatesPerChunk) {
      solve_range(0, num_problems);
      return;
    }
    const int64_t chunks = valid / kCandidatesPerChunk;  // >= 2, and no product to overflow
    const int64_t grain = (num_problems + chunks - 1) / chunks;
    at::parallel_for(0, num_problems, grain, solve_range);
  });
  return {matched, src_rank, dst_rank, status};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> match_paf_candidates_cpu(
    const at::Tensor& edge_inds, const at::Tensor& edge_peak_inds, const at::Tensor& line_scores,
    const at::Tensor& sample_inds, int64_t n_samples, int64_t n_edges) {
  check_paf_args(edge_inds, edge_peak_inds, line_scores, sample_inds, n_samples, n_edges);
  if (cuda_path_enabled()) {
    return match_paf_candidates(CudaPathPafKernels{}, edge_inds, edge_peak_inds, line_scores, sample_inds, n_samples,
                                n_edges);
  }
  return match_paf_candidates_host(edge_inds, edge_peak_inds, line_scores, sample_inds, n_samples, n_edges);
}

}  // namespace
}  // namespace ops
}  // namespace idmatch

TORCH_LIBRARY_IMPL(idmatch, CPU, m) { m.impl("match_paf_candidates", &idmatch::ops::match_paf_candidates_cpu); }
