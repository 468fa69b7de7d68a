// tests/cxx.cpp: include/logitkit.h from C++. It compiles with -pedantic
// -Werror, and links against liblogitkit_ffi.a only because the header's
// extern "C" block keeps the names unmangled. Exits 0 when the calls agree.
#include <cmath>
#include <cstdio>

#include "logitkit.h"

static_assert(sizeof(lk_status) == 4, "lk_status is an int32_t");
static_assert(alignof(lk_log_sum_exp_state) == 8, "state alignment");

int main() {
    const float logits[3] = {2.0f, 1.0f, 0.1f};
    float grad[3] = {0, 0, 0};
    float loss = 0, lse = 0, value = 0;
    int failures = 0;

    lk_status s = lk_softmax_cross_entropy_with_grad(logits, 3, 0, grad, &loss);
    switch (s) {
    case LK_OK:
        break;
    default:
        std::printf("cxx: status %s\n", lk_status_message(s));
        failures++;
    }
    if (std::fabs(loss - 0.417030f) > 1e-5f) failures++;

    lk_log_sum_exp_state state;
    if (lk_lse_init(&state) != LK_OK || lk_lse_extend(&state, logits, 3) != LK_OK ||
        lk_lse_value(&state, &value) != LK_OK || lk_log_sum_exp(logits, 3, &lse) != LK_OK)
        failures++;
    if (std::fabs(value - lse) > 1e-6f) failures++;
    if (lk_exp(0.0f) != 1.0f) failures++;

    lk_cross_entropy_options options = {0.1f, nullptr, LK_NO_IGNORE_INDEX, LK_REDUCTION_SUM};
    const size_t targets[1] = {0};
    if (lk_softmax_cross_entropy_batch(logits, 3, targets, 1, &options, nullptr, &loss) != LK_OK)
        failures++;

    std::printf("C++ header check: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
