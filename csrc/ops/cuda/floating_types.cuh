// The element types the CUDA kernels are instantiated for: those the ATen
// glue dispatches on (AT_DISPATCH_FLOATING_TYPES_AND2 with Half and
// BFloat16; is_kernel_floating in ../ragged_lsa_checks.h).
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

// M(T) for each of them: M declares one explicit instantiation.
#define IDMATCH_FOR_EACH_FLOATING_TYPE(M) M(float) M(double) M(c10::Half) M(c10::BFloat16)
