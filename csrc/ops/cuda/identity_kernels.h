// Plain-pointer launchers of the CUDA identity kernels (identity_kernels.cu),
// called by the CUDA path's glue (../cuda_path.h) through CudaKernels
// (cuda_kernels.h).
#pragma once

#include <cuda_runtime_api.h>

#include "../../core/identity.h"

namespace idmatch {
namespace ops {

// probs (P, C) contiguous <- class maps sampled at each peak.
template <typename T>
cudaError_t launch_sample_class_maps(const core::ClassMaps<T>& maps, core::StridedScalars x, core::StridedScalars y,
                                     core::StridedScalars sample_inds, int64_t num_peaks, T* probs,
                                     cudaStream_t stream);

// core::peak_sort_key for each peak.
cudaError_t launch_peak_groups(core::StridedScalars sample_inds, core::StridedScalars channel_inds, int64_t num_peaks,
                               int64_t n_samples, int64_t n_channels, int64_t* sort_keys, int64_t* class_inds,
                               cudaStream_t stream);

// Scatters every kept peak into the instance outputs
// (core::InstanceScatter::sorted_peak).
template <typename T>
cudaError_t launch_instance_scatter(const core::InstanceScatter<T>& scatter, const int64_t* sort_keys,
                                    const int64_t* class_inds, int64_t num_peaks, int64_t num_groups,
                                    cudaStream_t stream);

// *problems <- how many of the num_peaks + num_groups items
// core::counts_as_problem counts (a memset, then one kernel).
cudaError_t launch_count_problems(const int64_t* class_inds, int64_t num_peaks, const int32_t* status,
                                  int64_t num_groups, int64_t* problems, cudaStream_t stream);

}  // namespace ops
}  // namespace idmatch
