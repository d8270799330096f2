// CPU kernels of the padded identity ops: the groups (or samples) split
// between threads, each task solving whole groups with the shared per-group
// function (core/padded.h) in a workspace of its own. Under
// IDMATCH_CPU_CUDA_PATH=1 the groups run one after another in one workspace
// buffer carved into fixed slots, as the CUDA kernels run them, each by the
// teams' solver lane by lane (or by one thread, as the CUDA kernels with
// IDMATCH_CUDA_THREAD_SOLVER=1).
#include <algorithm>
#include <limits>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../kernel_switches.h"
#include "../padded_common.h"

namespace idmatch {
namespace ops {
namespace {

// Entries of the problems one task solves: as for the ragged solver, small
// calls stay on one thread, where starting others would cost more.
constexpr int64_t kEntriesPerChunk = 32768;

struct ParallelRunner {
  template <class Params>
  void run(const Params& p, int64_t num_problems, int64_t rows, int64_t cols) const {
    if (num_problems == 0) return;
    const int64_t units = core::padded_workspace_units(rows, cols);
    const int64_t grain = std::max<int64_t>(1, kEntriesPerChunk / std::max<int64_t>(1, rows * cols));
    at::parallel_for(0, num_problems, grain, [&](int64_t begin, int64_t end) {
      std::vector<double> doubles(core::kDoublesPerUnit * units);
      std::vector<int32_t> ints(core::kIntsPerUnit * units);
      std::vector<int64_t> row_list(rows);
      for (int64_t s = begin; s < end; ++s) {
        core::solve_padded_problem(p, s, doubles.data(), ints.data(), row_list.data());
      }
    });
  }
};

// The CUDA kernel's layout, serially: problem s in slot s of shared buffers
// filled with junk first, as device memory from the caching allocator may
// hold anything, and no solve may read what it did not write.
struct SharedWorkspaceRunner {
  template <class Params>
  void run(const Params& p, int64_t num_problems, int64_t rows, int64_t cols) const {
    const int64_t units = core::padded_workspace_units(rows, cols);
    std::vector<double> doubles(core::kDoublesPerUnit * units * num_problems, std::numeric_limits<double>::quiet_NaN());
    std::vector<int32_t> ints(core::kIntsPerUnit * units * num_problems, int32_t{-0x5a5a5a5a});
    std::vector<int64_t> row_list(rows * num_problems, int64_t{-0x5a5a5a5a5a5a});
    const bool thread_solver = thread_solver_enabled();
    for (int64_t s = 0; s < num_problems; ++s) {
      double* const slot_doubles = doubles.data() + core::kDoublesPerUnit * units * s;
      int32_t* const slot_ints = ints.data() + core::kIntsPerUnit * units * s;
      int64_t* const slot_rows = row_list.data() + rows * s;
      if (thread_solver) {
        core::solve_padded_problem(p, s, slot_doubles, slot_ints, slot_rows);
      } else {
        core::solve_padded_problem_serial_team(p, s, slot_doubles, slot_ints, slot_rows);
      }
    }
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> classify_padded_peaks_cpu(const at::Tensor& peaks,
                                                                                     const at::Tensor& peak_vals,
                                                                                     const at::Tensor& peak_mask,
                                                                                     const at::Tensor& class_probs) {
  check_padded_peaks_args(peaks, peak_vals, peak_mask, class_probs);
  if (cuda_path_enabled()) {
    return classify_padded_peaks_with(SharedWorkspaceRunner{}, peaks, peak_vals, peak_mask, class_probs);
  }
  return classify_padded_peaks_with(ParallelRunner{}, peaks, peak_vals, peak_mask, class_probs);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> match_padded_instances_cpu(const at::Tensor& class_probs,
                                                                          const at::Tensor& instance_valid) {
  check_padded_instances_args(class_probs, instance_valid);
  if (cuda_path_enabled()) return match_padded_instances_with(SharedWorkspaceRunner{}, class_probs, instance_valid);
  return match_padded_instances_with(ParallelRunner{}, class_probs, instance_valid);
}

}  // namespace
}  // namespace ops
}  // namespace idmatch

TORCH_LIBRARY_IMPL(idmatch, CPU, m) {
  m.impl("classify_padded_peaks", &idmatch::ops::classify_padded_peaks_cpu);
  m.impl("match_padded_instances", &idmatch::ops::match_padded_instances_cpu);
}
