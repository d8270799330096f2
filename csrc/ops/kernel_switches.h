// The environment switches between kernel variants that give the same
// answers, bit for bit, read once per process as torch reads its boolean
// flags (cpu/cpu_kernel_kind.cpp).
#pragma once

namespace idmatch {
namespace ops {

// IDMATCH_CPU_CUDA_PATH=1: the CPU kernels of every op run the CUDA path
// (cpu/cuda_path_kernels.h) instead of their own.
bool cuda_path_enabled();

// IDMATCH_CUDA_THREAD_SOLVER=1: the CUDA kernels, and their imitation on the
// CPU, solve each problem of a ragged batch with one thread (the serial
// solver of core/lsa_core.h) instead of a team (core/lsa_team.h).
bool thread_solver_enabled();

}  // namespace ops
}  // namespace idmatch
