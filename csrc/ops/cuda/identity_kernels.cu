// CUDA kernels of the identity ops: one thread per peak, each running the
// shared per-peak steps (core/identity.h). Matching runs the ragged LSA
// kernels (ragged_lsa_kernel.cu).
#include "floating_types.cuh"
#include "grid_stride.cuh"
#include "identity_kernels.h"

namespace idmatch {
namespace ops {
namespace {

// Per-peak work is light: many threads per block hide memory latency.
constexpr int kThreadsPerBlock = 256;

template <typename T>
__global__ void sample_class_maps_kernel(const core::ClassMaps<T> maps, const core::StridedScalars x,
                                         const core::StridedScalars y, const core::StridedScalars sample_inds,
                                         int64_t num_peaks, T* probs) {
  for (int64_t p = grid_first_index(); p < num_peaks; p += grid_stride()) {
    core::sample_peak(maps, x, y, sample_inds, p, probs);
  }
}

__global__ void peak_groups_kernel(const core::StridedScalars sample_inds, const core::StridedScalars channel_inds,
                                   int64_t num_peaks, int64_t n_samples, int64_t n_channels, int64_t* sort_keys,
                                   int64_t* class_inds) {
  for (int64_t p = grid_first_index(); p < num_peaks; p += grid_stride()) {
    core::peak_sort_key(sample_inds, channel_inds, p, n_samples, n_channels, sort_keys, class_inds);
  }
}

template <typename T>
__global__ void instance_scatter_kernel(const core::InstanceScatter<T> scatter, const int64_t* sort_keys,
                                        const int64_t* class_inds, int64_t num_peaks, int64_t num_groups) {
  for (int64_t p = grid_first_index(); p < num_peaks; p += grid_stride()) {
    scatter.sorted_peak(p, sort_keys, class_inds, num_groups);
  }
}

// Each thread counts its items and adds its count once, if any: problems
// are rare, and so are the atomics.
__global__ void count_problems_kernel(const int64_t* class_inds, int64_t num_peaks, const int32_t* status,
                                      int64_t num_groups, unsigned long long* problems) {
  unsigned long long count = 0;
  for (int64_t i = grid_first_index(); i < num_peaks + num_groups; i += grid_stride()) {
    count += core::counts_as_problem(class_inds, num_peaks, status, i) ? 1 : 0;
  }
  if (count != 0) atomicAdd(problems, count);
}

}  // namespace

cudaError_t launch_count_problems(const int64_t* class_inds, int64_t num_peaks, const int32_t* status,
                                  int64_t num_groups, int64_t* problems, cudaStream_t stream) {
  static_assert(sizeof(unsigned long long) == sizeof(int64_t), "the count is added as an unsigned 64-bit integer");
  cudaError_t error = cudaMemsetAsync(problems, 0, sizeof(int64_t), stream);
  if (error != cudaSuccess || num_peaks + num_groups == 0) return error;
  count_problems_kernel<<<blocks_for(num_peaks + num_groups, kThreadsPerBlock), kThreadsPerBlock, 0, stream>>>(
      class_inds, num_peaks, status, num_groups, reinterpret_cast<unsigned long long*>(problems));
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_sample_class_maps(const core::ClassMaps<T>& maps, core::StridedScalars x, core::StridedScalars y,
                                     core::StridedScalars sample_inds, int64_t num_peaks, T* probs,
                                     cudaStream_t stream) {
  if (num_peaks == 0) return cudaSuccess;
  sample_class_maps_kernel<T><<<blocks_for(num_peaks, kThreadsPerBlock), kThreadsPerBlock, 0, stream>>>(
      maps, x, y, sample_inds, num_peaks, probs);
  return cudaGetLastError();
}

cudaError_t launch_peak_groups(core::StridedScalars sample_inds, core::StridedScalars channel_inds, int64_t num_peaks,
                               int64_t n_samples, int64_t n_channels, int64_t* sort_keys, int64_t* class_inds,
                               cudaStream_t stream) {
  if (num_peaks == 0) return cudaSuccess;
  peak_groups_kernel<<<blocks_for(num_peaks, kThreadsPerBlock), kThreadsPerBlock, 0, stream>>>(
      sample_inds, channel_inds, num_peaks, n_samples, n_channels, sort_keys, class_inds);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_instance_scatter(const core::InstanceScatter<T>& scatter, const int64_t* sort_keys,
                                    const int64_t* class_inds, int64_t num_peaks, int64_t num_groups,
                                    cudaStream_t stream) {
  if (num_peaks == 0) return cudaSuccess;
  instance_scatter_kernel<T><<<blocks_for(num_peaks, kThreadsPerBlock), kThreadsPerBlock, 0, stream>>>(
      scatter, sort_keys, class_inds, num_peaks, num_groups);
  return cudaGetLastError();
}

#define IDMATCH_INSTANTIATE(T)                                                                                     \
  template cudaError_t launch_sample_class_maps<T>(const core::ClassMaps<T>&, core::StridedScalars,                \
                                                   core::StridedScalars, core::StridedScalars, int64_t, T*,        \
                                                   cudaStream_t);                                                  \
  template cudaError_t launch_instance_scatter<T>(const core::InstanceScatter<T>&, const int64_t*, const int64_t*, \
                                                  int64_t, int64_t, cudaStream_t);
IDMATCH_FOR_EACH_FLOATING_TYPE(IDMATCH_INSTANTIATE)
#undef IDMATCH_INSTANTIATE

}  // namespace ops
}  // namespace idmatch
