// The CUDA kernels as the CUDA path's glue (../cuda_path.h) calls them: each
// method launches its grid-stride kernels on the current stream of the
// guarded device and raises the launch error, if any.
#pragma once

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

#include "../kernel_switches.h"
#include "identity_kernels.h"
#include "ragged_lsa_kernel.h"

namespace idmatch {
namespace ops {

struct CudaKernels {
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();

  template <typename T>
  void sample_class_maps(const core::ClassMaps<T>& maps, core::StridedScalars x, core::StridedScalars y,
                         core::StridedScalars sample_inds, int64_t num_peaks, T* probs) const {
    C10_CUDA_CHECK(launch_sample_class_maps(maps, x, y, sample_inds, num_peaks, probs, stream));
  }

  void peak_sort_keys(core::StridedScalars sample_inds, core::StridedScalars channel_inds, int64_t num_peaks,
                      int64_t n_samples, int64_t n_channels, int64_t* sort_keys, int64_t* class_inds) const {
    C10_CUDA_CHECK(
        launch_peak_groups(sample_inds, channel_inds, num_peaks, n_samples, n_channels, sort_keys, class_inds, stream));
  }

  template <typename T>
  void instance_scatter(const core::InstanceScatter<T>& scatter, const int64_t* sort_keys, const int64_t* class_inds,
                        int64_t num_peaks, int64_t num_groups) const {
    C10_CUDA_CHECK(launch_instance_scatter(scatter, sort_keys, class_inds, num_peaks, num_groups, stream));
  }

  void count_problems(const int64_t* class_inds, int64_t num_peaks, const int32_t* status, int64_t num_groups,
                      int64_t* problems) const {
    C10_CUDA_CHECK(launch_count_problems(class_inds, num_peaks, status, num_groups, problems, stream));
  }

  template <typename T>
  void ragged_lsa(const core::RaggedLsaParams<T>& params, double* doubles, int32_t* ints, int32_t* offsets_bad) const {
    C10_CUDA_CHECK(launch_ragged_lsa_kernel(params, doubles, ints, offsets_bad, thread_solver_enabled(), stream));
  }
};

}  // namespace ops
}  // namespace idmatch
