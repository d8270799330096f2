// CPU kernel of the PAF candidate matching op: the shared glue (../paf_glue.h)
// with the per-problem solve (core/paf.h) run in parallel over problems, or,
// under IDMATCH_CPU_CUDA_PATH=1, serially over a junk-filled workspace as the
// CUDA kernel would see it.
#include <algorithm>
#include <limits>

#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../../core/paf.h"
#include "../cuda_path.h"
#include "../paf_glue.h"
#include "cuda_path_kernels.h"

namespace idmatch {
namespace ops {
namespace {

// Problems per parallel chunk: a problem (one edge of one sample) is a few
// candidates, microseconds of work, so chunks must be many problems long for
// a parallel region to pay off.
constexpr int64_t kProblemsPerChunk = 256;

struct CpuPafKernels {
  bool cuda_path;

  template <typename T>
  void paf(const core::PafParams<T>& p, double* doubles, int32_t* ints) const {
    if (cuda_path) {
      // Device memory from the caching allocator holds whatever it held
      // before: no solve may read a slot before writing it.
      const int64_t num_candidates = p.num_problems == 0 ? 0 : p.starts[p.num_problems];
      std::fill_n(doubles, core::kPafDoublesPerCandidate * num_candidates, std::numeric_limits<double>::quiet_NaN());
      std::fill_n(ints, core::kPafIntsPerCandidate * num_candidates, int32_t{-0x5a5a5a5a});
      for (int64_t s = 0; s < p.num_problems; ++s) core::solve_paf_problem(p, s, doubles, ints);
      return;
    }
    at::parallel_for(0, p.num_problems, kProblemsPerChunk, [&](int64_t begin, int64_t end) {
      for (int64_t s = begin; s < end; ++s) core::solve_paf_problem(p, s, doubles, ints);
    });
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> match_paf_candidates_cpu(
    const at::Tensor& edge_inds, const at::Tensor& edge_peak_inds, const at::Tensor& line_scores,
    const at::Tensor& sample_inds, int64_t n_samples, int64_t n_edges) {
  check_paf_args(edge_inds, edge_peak_inds, line_scores, sample_inds, n_samples, n_edges);
  return match_paf_candidates(CpuPafKernels{cuda_path_enabled()}, edge_inds, edge_peak_inds, line_scores, sample_inds,
                              n_samples, n_edges);
}

}  // namespace
}  // namespace ops
}  // namespace idmatch

TORCH_LIBRARY_IMPL(idmatch, CPU, m) { m.impl("match_paf_candidates", &idmatch::ops::match_paf_candidates_cpu); }
