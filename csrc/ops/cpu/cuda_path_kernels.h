// The CUDA kernels imitated on the CPU (IDMATCH_CPU_CUDA_PATH=1): each method
// is a serial loop over the work items of the CUDA kernel of the same name
// (cuda/cuda_kernels.h), calling the same per-element function with the same
// arguments, for the CUDA path's glue (../cuda_path.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include <c10/util/Exception.h>

#include "../../core/identity.h"
#include "../../core/lsa_team.h"
#include "../../core/ragged_lsa.h"
#include "../kernel_switches.h"

namespace idmatch {
namespace ops {

struct HostKernels {
  template <typename T>
  void sample_class_maps(const core::ClassMaps<T>& maps, core::StridedScalars x, core::StridedScalars y,
                         core::StridedScalars sample_inds, int64_t num_peaks, T* probs) const {
    for (int64_t p = 0; p < num_peaks; ++p) core::sample_peak(maps, x, y, sample_inds, p, probs);
  }

  void peak_sort_keys(core::StridedScalars sample_inds, core::StridedScalars channel_inds, int64_t num_peaks,
                      int64_t n_samples, int64_t n_channels, int64_t* sort_keys, int64_t* class_inds) const {
    for (int64_t p = 0; p < num_peaks; ++p) {
      core::peak_sort_key(sample_inds, channel_inds, p, n_samples, n_channels, sort_keys, class_inds);
    }
  }

  template <typename T>
  void instance_scatter(const core::InstanceScatter<T>& scatter, const int64_t* sort_keys, const int64_t* class_inds,
                        int64_t num_peaks, int64_t num_groups) const {
    for (int64_t p = 0; p < num_peaks; ++p) scatter.sorted_peak(p, sort_keys, class_inds, num_groups);
  }

  void count_problems(const int64_t* class_inds, int64_t num_peaks, const int32_t* status, int64_t num_groups,
                      int64_t* problems) const {
    int64_t count = 0;
    for (int64_t i = 0; i < num_peaks + num_groups; ++i)
      count += core::counts_as_problem(class_inds, num_peaks, status, i);
    *problems = count;
  }

  // The workspace is filled with junk first (NaN, and a large negative int):
  // device memory from the caching allocator holds whatever it held before,
  // and no solve may read a slot before writing it. Problems run one after
  // another here, where the GPU runs them at once, so slots that overlapped
  // would still give the right answers: the slots are checked to be
  // disjoint and inside the workspace instead. The teams' lanes run one
  // after another (core::SerialTeam), in the slot a block team uses.
  template <typename T>
  void ragged_lsa(const core::RaggedLsaParams<T>& p, double* doubles, int32_t* ints, int32_t* offsets_bad) const {
    if (p.num_problems == 0) return;
    const int64_t units = core::workspace_units(p.num_rows, p.num_problems, p.num_cols);
    std::fill_n(doubles, core::kDoublesPerUnit * units, std::numeric_limits<double>::quiet_NaN());
    std::fill_n(ints, core::kIntsPerUnit * units, int32_t{-0x5a5a5a5a});
    const bool valid = core::offsets_valid(p.offsets, p.num_problems, p.num_rows);
    // Offsets passed as valid (no flag) are not checked on the GPU: here
    // they are, so that the tests catch a glue that passes bad ones.
    TORCH_CHECK(offsets_bad != nullptr || valid, "offsets passed as valid are not");
    if (offsets_bad != nullptr) *offsets_bad = valid ? 0 : 1;
    const bool refuse = !valid;
    for (int64_t s = 0, end = 0; s < p.num_problems && !refuse; ++s) {
      const int64_t slot = core::workspace_slot(p.offsets, s, p.num_cols);
      const int64_t size = p.offsets[s + 1] - p.offsets[s] + p.num_cols;
      TORCH_CHECK(end <= slot && slot + size <= units, "workspace slot of problem ", s, " [", slot, ", ", slot + size,
                  ") overlaps the previous one or leaves the workspace of ", units, " units");
      end = slot + size;
    }
    for (int64_t s = 0; s < p.num_problems; ++s) {
      if (thread_solver_enabled()) {
        core::solve_shared_workspace_problem(p, s, doubles, ints, refuse);
      } else {
        core::solve_shared_workspace_problem_serial_team(p, s, doubles, ints, refuse);
      }
    }
  }
};

}  // namespace ops
}  // namespace idmatch
