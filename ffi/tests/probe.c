/*
 * tests/probe.c: the smallest C programs that link liblogitkit_ffi.a, for
 * two measurements of .ci/steps/ffi.sh (built with tests/cortex_m4f.c and
 * -DLK_PROBE on Cortex-M, plainly on the host):
 *
 * - size: built once as is (calls nothing) and once with -DLK_PROBE_CE
 *   (calls only lk_softmax_cross_entropy_with_grad); with -Os,
 *   -ffunction-sections and --gc-sections the difference in .text is what a
 *   C program pays for the fused cross-entropy with gradient, its exp,
 *   ln_1p and every other callee included.
 * - panic freedom: built as is with `-Wl,-u,<symbol>` for every lk_ symbol
 *   the library defines, so --gc-sections keeps every export and all they
 *   can reach; then no panic symbol may be linked, and the build with the
 *   `panic-check` feature (whose panic handler references an undefined
 *   symbol) must link at all.
 */
#include <stddef.h>

#include "logitkit.h"

#ifdef LK_PROBE_CE
static float logits[10], grad[10];
volatile size_t probe_n = 10, probe_target = 3;
volatile float probe_loss;
volatile lk_status probe_status;
#endif

int main(void) {
#ifdef LK_PROBE_CE
    float loss = 0.0f;
    probe_status = lk_softmax_cross_entropy_with_grad(logits, probe_n, probe_target, grad, &loss);
    probe_loss = loss;
#endif
    return 0;
}
