/* Which kernels this CPU runs: the AVX2 + FMA paths (direct_conv.c, skinny_gemm.c)
   where the CPU has both and ERI_PORTABLE_KERNELS does not ask for the portable ones. */
#include "CERISupport.h"
#include <stdlib.h>
#include <string.h>

int liberi_portable_requested(const char *value) { return value && *value && strcmp(value, "0") != 0; }

int liberi_avx2_fma(void) {
    if (liberi_portable_requested(getenv("ERI_PORTABLE_KERNELS"))) return 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}
