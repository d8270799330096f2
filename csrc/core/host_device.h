// What the code compiled for the host and the device alike (core/) needs
// from the compiler: the execution-space and inlining macros, and the one
// helper that turns a run-time flag into a compile-time one.
#pragma once

#include <type_traits>

#if defined(__CUDACC__)
#define IDMATCH_HOST_DEVICE __host__ __device__
#else
#define IDMATCH_HOST_DEVICE
#endif

// For accessors called per element in hot loops, which the compiler may
// otherwise leave as calls (a dtype switch per element).
#if defined(__CUDACC__)
#define IDMATCH_INLINE __forceinline__
#elif defined(__GNUC__) || defined(__clang__)
#define IDMATCH_INLINE __attribute__((always_inline)) inline
#else
#define IDMATCH_INLINE inline
#endif

namespace idmatch {
namespace core {

// f(std::true_type{}) when `flag`, else f(std::false_type{}), for a flag
// that must become a template argument, so that the code it selects carries
// no branch for it:
//   dispatch_bool(negate, [&](auto tag) { return g<decltype(tag)::value>(); })
// decltype(tag)::value rather than the tag's conversion to bool, which is a
// host function that device code may not call.
template <class F>
IDMATCH_HOST_DEVICE IDMATCH_INLINE decltype(auto) dispatch_bool(bool flag, F&& f) {
  if (flag) return f(std::true_type{});
  return f(std::false_type{});
}

}  // namespace core
}  // namespace idmatch
