// The switches between the CPU kernels' AVX-512 versions and the shared core
// (avx512.h), to the CUDA path and between the CUDA solvers
// (../kernel_switches.h), and the op that
// reports which kernels this process runs.
#include <string>

#include <c10/util/env.h>
#include <torch/library.h>

#include "../kernel_switches.h"
#include "avx512.h"

namespace idmatch {
namespace ops {

bool avx512_kernels_enabled() {
  static const bool enabled = [] {
    // Read as torch reads its boolean flags (c10::utils::check_env): "0" or
    // "1", and any other value is ignored with a warning, which leaves the
    // kernels on. Both kernel sets give the same answers, bit for bit, so a
    // value misread costs speed or a test run's coverage of the shared core,
    // never a result; the warning keeps such a mistake from passing silently.
    const bool allowed = c10::utils::check_env("IDMATCH_CPU_AVX512").value_or(true);
#ifdef IDMATCH_HAVE_AVX512_KERNELS
    if (!allowed) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
#else
    (void)allowed;
    return false;
#endif
  }();
  return enabled;
}

bool cuda_path_enabled() {
  // Read as IDMATCH_CPU_AVX512 above; both paths give the same answers.
  static const bool enabled = c10::utils::check_env("IDMATCH_CPU_CUDA_PATH").value_or(false);
  return enabled;
}

bool thread_solver_enabled() {
  // Read as IDMATCH_CPU_AVX512 above; both solvers give the same answers.
  static const bool enabled = c10::utils::check_env("IDMATCH_CUDA_THREAD_SOLVER").value_or(false);
  return enabled;
}

namespace {

std::string cpu_kernel_kind() {
  if (cuda_path_enabled()) return "cuda-path";
  return avx512_kernels_enabled() ? "avx512" : "portable";
}

}  // namespace
}  // namespace ops
}  // namespace idmatch

TORCH_LIBRARY_FRAGMENT(idmatch, m) {
  // "cuda-path" where the CPU kernels imitate the CUDA kernels
  // (IDMATCH_CPU_CUDA_PATH=1), else "avx512" where they run their AVX-512
  // versions, else "portable" (the shared core everywhere): the test suite
  // and the benchmark report it, and check it against the CPU and the
  // switches.
  m.def("_cpu_kernel_kind() -> str", &idmatch::ops::cpu_kernel_kind);
}
