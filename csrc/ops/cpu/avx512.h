// The CPU kernels' AVX-512 versions, the small solver (small_lsa.h) and the
// peaks' pixel pass (peak_pixels.h), and the switch between them and the
// shared core. Each AVX-512 function carries the target attribute below and
// runs only where avx512_kernels_enabled(), so the rest of the library stays
// built for the baseline x86-64 and the wheel runs on any CPU.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The AVX-512 kernels are built: their intrinsics and target attribute need
// GCC or Clang on x86-64. Elsewhere the CPU kernels run the shared core.
#define IDMATCH_HAVE_AVX512_KERNELS 1
// The features avx512_kernels_enabled() checks, and no others.
#define IDMATCH_AVX512_TARGET __attribute__((target("avx512f,avx512dq,avx512vl")))
#endif

namespace idmatch {
namespace ops {

// Whether the CPU kernels run their AVX-512 versions: the CPU has AVX-512 F,
// DQ and VL, and IDMATCH_CPU_AVX512 is not "0". IDMATCH_CPU_AVX512=0 makes
// the CPU kernels run the shared core everywhere, as the CUDA kernels do,
// which is how the tests check that core on a CPU with AVX-512 (see the
// Makefile's test target). Decided once per process, at the first call, which
// may warn (cpu_kernel_kind.cpp): callers ask before a parallel region, where
// a warning from a worker thread would not reach Python.
bool avx512_kernels_enabled();

}  // namespace ops
}  // namespace idmatch
