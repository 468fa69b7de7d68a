/*
 * tests/host.c: every export of include/logitkit.h, checked from C.
 *
 * Known values and special values (masked rows of -INFINITY, +-inf, NaN,
 * FLT_MAX, subnormals) against references computed here in double with
 * libm; every error status, including NULL pointers with zero and non-zero
 * lengths and overlapping buffers, with a check that nothing was written on
 * error. Exits 1 on any mismatch, 0 otherwise.
 *
 * The tolerances are the documented bounds and nothing looser: each comes
 * from lk_precision.h, which tests/precision_header.py generates from
 * docs/precision.toml at build time (LKP_<ENTRY>_<FIELD>), combined as that
 * entry's comment in the table says. Errors are measured as in
 * docs/accuracy.md and tests/common/mod.rs: in ULP of the exact value
 * (2^(e-23) for |x| in [2^e, 2^(e+1)), 2^-149 among subnormals), +inf on an
 * extended grid at 2^128, NaN matching only NaN, and a reference that is
 * infinite or rounds to an infinity in float only that infinity.
 *
 * The same file runs on the host (linked with the x86-64 library) and on a
 * Cortex-M4F under QEMU (tests/cortex_m4f.c supplies the startup and the
 * semihosting exit code). Build with -ffp-contract=off: the references must
 * not be fused differently from what their text says.
 *
 * Misaligned pointers are passed in a few error tests: undefined in ISO C
 * for a pointer that is dereferenced, but these pointers are only handed to
 * the library, which rejects them before any access.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "logitkit.h"
#include "lk_precision.h"

_Static_assert(sizeof(lk_log_sum_exp_state) == LK_LOG_SUM_EXP_STATE_SIZE, "state size");
_Static_assert(_Alignof(lk_log_sum_exp_state) == 8, "state alignment");
_Static_assert(sizeof(lk_status) == 4, "lk_status is an int32_t");

/* ---- harness ---------------------------------------------------------------- */

static long checks, failures, family_checks;
static const char *family = "";
static double family_worst; /* largest |error| / tolerance in the family */

static void begin(const char *name) {
    family = name;
    family_checks = 0;
    family_worst = 0;
}

static void end(void) {
    printf("  %-40s %6ld checks, largest error %.3f of its bound\n", family, family_checks,
           family_worst);
}

static void expect_at(int ok, int line, const char *fmt, ...) {
    va_list ap;
    checks++;
    family_checks++;
    if (ok) return;
    failures++;
    printf("FAIL [%s] host.c:%d: ", family, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}
#define EXPECT(cond, ...) expect_at((cond) ? 1 : 0, __LINE__, __VA_ARGS__)

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#define SAME_BITS(a, b, what, i)                                                          \
    EXPECT(bits(a) == bits(b), "%s[%ld]: 0x%08lx != 0x%08lx", (what), (long)(i),          \
           (unsigned long)bits(a), (unsigned long)bits(b))
#define STATUS(call, want)                                                                \
    do {                                                                                  \
        lk_status got_ = (call);                                                          \
        EXPECT(got_ == (want), "%s returned %ld (%s), expected %s", #call, (long)got_,    \
               lk_status_message(got_), #want);                                           \
    } while (0)

/* One ULP of the f32 grid at the exact value x. */
static double ulp(double x) {
    int e;
    x = fabs(x);
    if (!(x >= 0x1p-126)) return 0x1p-149;
    (void)frexp(x, &e); /* x in [2^(e-1), 2^e) */
    return ldexp(1.0, e - 24);
}

static double p2(int k) { return ldexp(1.0, k); }

/* |got - exact| <= tol, with the NaN / infinity rules of docs/accuracy.md. */
static void close_at(float got, double exact, double tol, int line, const char *what, long i) {
    int ok;
    double err = 0;
    if (isnan(exact)) {
        ok = isnan(got);
    } else if (isnan(got)) {
        ok = 0;
    } else if (fabs(exact) >= 0x1.ffffffp+127) {
        /* the exact value rounds to an infinity in float (tests/common/mod.rs) */
        ok = isinf(got) && (got > 0) == (exact > 0);
    } else {
        double g = isinf(got) ? copysign(0x1p128, got) : got;
        err = fabs(g - exact);
        ok = err <= tol;
        if (tol > 0 && err / tol > family_worst) family_worst = err / tol;
        if (tol == 0 && err > 0) family_worst = INFINITY;
    }
    expect_at(ok, line, "%s[%ld]: got %.9g (0x%08lx), exact %.17g, |error| %.3g > tolerance %.3g",
              what, i, (double)got, (unsigned long)bits(got), exact, err, tol);
}
#define CLOSE(got, exact, tol, what, i) close_at((got), (exact), (tol), __LINE__, (what), (long)(i))

/* Output buffers are filled with this NaN before a call that must fail. */
#define POISON_BITS 0x7fc5a5a5u
static void poison(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = from_bits(POISON_BITS);
}
static int untouched(const float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (bits(p[i]) != POISON_BITS) return 0;
    return 1;
}
#define UNTOUCHED(p, n) EXPECT(untouched((p), (n)), "%s was written on error", #p)

/* Deterministic inputs, the same on every platform. */
static uint32_t rng_state = 0x2545f491u;
static uint32_t rng(void) {
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}
static float uniform(float lo, float hi) {
    return (float)(lo + (hi - lo) * ((double)(rng() >> 8) * 0x1p-24));
}

/* A pointer one byte past p: not aligned for float (error tests only). */
static float *misaligned(void *p) { return (float *)(void *)((char *)p + 1); }

/* ---- double references --------------------------------------------------------- */

static double r_exp(double x) { return exp(x); }
static double r_ln(double x) { return log(x); }
static double r_ln_1p(double x) { return log1p(x); }
static double r_sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }
static double r_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double r_log_sigmoid(double x) { return -r_softplus(-x); }

/* ---- lane math ------------------------------------------------------------------ */

enum { LANE_N = 340 };
static float lane_in[LANE_N];

static void make_lane_inputs(void) {
    static const float fixed[] = {
        0.0f, -0.0f, 1.0f, -1.0f, 0.5f, -0.5f, 2.0f, 3.14159265f, 10.0f, -10.0f, 16.7f, 17.0f,
        20.0f, -20.0f, 50.0f, -50.0f, 80.0f, -80.0f, 87.0f, -87.0f, 87.5f, -87.5f, 88.5f,
        88.72f, 88.8f, 89.0f, 100.0f, -100.0f, -103.0f, -103.97f, -104.0f, -110.0f, 1e-30f,
        -1e-30f, 1e-40f, -1e-40f, FLT_MIN, FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MAX, -FLT_MAX,
        16777217.0f, 3e7f, -0.99999f, -0.999999940f, -1.5f, 0.69314718f, 1e-8f, -1e-8f,
        -5.84602f, 0.69935584f, 0.28233033f, -5.870786f, -1.293093f, -1.9542445f, 1e20f,
        -1e20f,
    };
    size_t n = sizeof fixed / sizeof fixed[0], i;
    for (i = 0; i < n; i++) lane_in[i] = fixed[i];
    lane_in[i++] = INFINITY;
    lane_in[i++] = -INFINITY;
    lane_in[i++] = from_bits(0x7fc12345u); /* NaNs with payloads */
    lane_in[i++] = from_bits(0xffc00001u);
    while (i < 180) lane_in[i++] = uniform(-20.0f, 20.0f);
    while (i < 260) lane_in[i++] = uniform(-110.0f, 90.0f);
    while (i < LANE_N) lane_in[i++] = from_bits(rng()); /* every exponent, some NaNs */
}

typedef float (*scalar_fn)(float);
typedef lk_status (*in_place_fn)(float *, size_t);
typedef lk_status (*into_fn)(const float *, float *, size_t);
typedef double (*ref_fn)(double);

/* Scalar, _in_place, _into and _into with xs == out give the same bits; the
 * scalar is within `ulps` ULP of the reference; NaN payloads are kept; and the
 * pointer errors and the overlap rule hold. */
static void lane_family(const char *name, scalar_fn f, in_place_fn f_in_place, into_fn f_into,
                        ref_fn ref, double ulps) {
    static float a[LANE_N], b[LANE_N], c[LANE_N], buf[8], keep[8];
    begin(name);
    memcpy(a, lane_in, sizeof a);
    STATUS(f_in_place(a, LANE_N), LK_OK);
    STATUS(f_into(lane_in, b, LANE_N), LK_OK);
    memcpy(c, lane_in, sizeof c);
    STATUS(f_into(c, c, LANE_N), LK_OK); /* xs == out: the in-place form */
    for (long i = 0; i < LANE_N; i++) {
        float x = lane_in[i], s = f(x);
        SAME_BITS(a[i], s, "in_place", i);
        SAME_BITS(b[i], s, "into", i);
        SAME_BITS(c[i], s, "into, xs == out", i);
        if (isnan(x)) {
            SAME_BITS(s, x, "NaN payload", i);
        } else {
            double exact = ref((double)x);
            CLOSE(s, exact, ulps * ulp(exact), name, i);
        }
    }
    /* Tails of every length: each element gets its scalar bits wherever it sits. */
    for (size_t n = 0; n <= 19; n++) {
        float t[19];
        memcpy(t, lane_in + 100, n * sizeof(float));
        STATUS(f_in_place(t, n), LK_OK);
        for (size_t i = 0; i < n; i++) SAME_BITS(t[i], f(lane_in[100 + i]), "tail", i);
    }
    /* NULL with n == 0 is an empty buffer; with n > 0 an error, nothing written. */
    STATUS(f_in_place(NULL, 0), LK_OK);
    STATUS(f_into(NULL, NULL, 0), LK_OK);
    STATUS(f_into(lane_in, NULL, 0), LK_OK);
    STATUS(f_in_place(NULL, 3), LK_NULL_POINTER);
    STATUS(f_into(NULL, NULL, 3), LK_NULL_POINTER);
    poison(buf, 8);
    STATUS(f_into(NULL, buf, 3), LK_NULL_POINTER);
    UNTOUCHED(buf, 8);
    STATUS(f_into(lane_in, NULL, 3), LK_NULL_POINTER);
    /* Partial overlap in either direction: LK_OVERLAP, nothing written. */
    for (int i = 0; i < 8; i++) buf[i] = keep[i] = (float)i;
    STATUS(f_into(buf, buf + 1, 4), LK_OVERLAP);
    STATUS(f_into(buf + 1, buf, 4), LK_OVERLAP);
    STATUS(f_into(buf, buf + 3, 4), LK_OVERLAP);
    EXPECT(memcmp(buf, keep, sizeof buf) == 0, "overlapping _into wrote");
    /* Adjacent, not overlapping: fine. */
    STATUS(f_into(buf, buf + 4, 4), LK_OK);
    for (int i = 0; i < 4; i++) SAME_BITS(buf[4 + i], f(keep[i]), "adjacent into", i);
    /* Misaligned pointers. */
    poison(buf, 8);
    STATUS(f_into(lane_in, misaligned(buf), 2), LK_INVALID_PARAMETER);
    UNTOUCHED(buf, 8);
    STATUS(f_in_place(misaligned(buf), 2), LK_INVALID_PARAMETER);
    UNTOUCHED(buf, 8);
    end();
}

static void special_lane_values(void) {
    const float inf = INFINITY;
    begin("lane math special values");
    SAME_BITS(lk_exp(0.0f), 1.0f, "exp(+0)", 0);
    SAME_BITS(lk_exp(-0.0f), 1.0f, "exp(-0)", 0);
    SAME_BITS(lk_exp(inf), inf, "exp(inf)", 0);
    SAME_BITS(lk_exp(89.0f), inf, "exp(89)", 0);
    SAME_BITS(lk_exp(-inf), 0.0f, "exp(-inf)", 0);
    SAME_BITS(lk_exp(-104.0f), 0.0f, "exp(-104)", 0);
    EXPECT(lk_exp(-100.0f) > 0 && lk_exp(-100.0f) < FLT_MIN, "exp(-100) is subnormal");
    SAME_BITS(lk_ln(0.0f), -inf, "ln(0)", 0);
    SAME_BITS(lk_ln(-0.0f), -inf, "ln(-0)", 0);
    SAME_BITS(lk_ln(1.0f), 0.0f, "ln(1)", 0);
    SAME_BITS(lk_ln(inf), inf, "ln(inf)", 0);
    EXPECT(isnan(lk_ln(-1.0f)) && isnan(lk_ln(-inf)), "ln of a negative is NaN");
    SAME_BITS(lk_ln_1p(-0.0f), -0.0f, "ln_1p(-0)", 0);
    SAME_BITS(lk_ln_1p(0.0f), 0.0f, "ln_1p(+0)", 0);
    SAME_BITS(lk_ln_1p(-1.0f), -inf, "ln_1p(-1)", 0);
    SAME_BITS(lk_ln_1p(inf), inf, "ln_1p(inf)", 0);
    SAME_BITS(lk_ln_1p(1e-30f), 1e-30f, "ln_1p(1e-30)", 0);
    SAME_BITS(lk_ln_1p(FLT_TRUE_MIN), FLT_TRUE_MIN, "ln_1p(denorm_min)", 0);
    EXPECT(isnan(lk_ln_1p(-2.0f)) && isnan(lk_ln_1p(-inf)), "ln_1p below -1 is NaN");
    SAME_BITS(lk_sigmoid(0.0f), 0.5f, "sigmoid(0)", 0);
    SAME_BITS(lk_sigmoid(-0.0f), 0.5f, "sigmoid(-0)", 0);
    SAME_BITS(lk_sigmoid(inf), 1.0f, "sigmoid(inf)", 0);
    /* sigmoid(x) rounds to 1 from x = 17.32868 on (e^-x < 2^-25); below, the
     * float under 1 (src/sigmoid/sigmoid.rs says "x > 16.7": not so). */
    SAME_BITS(lk_sigmoid(17.32868f), 1.0f, "sigmoid(17.32868)", 0);
    SAME_BITS(lk_sigmoid(17.0f), from_bits(0x3f7fffffu), "sigmoid(17)", 0);
    SAME_BITS(lk_sigmoid(-inf), 0.0f, "sigmoid(-inf)", 0);
    SAME_BITS(lk_sigmoid(-104.5f), 0.0f, "sigmoid(-104.5)", 0);
    EXPECT(lk_sigmoid(-100.0f) > 0 && lk_sigmoid(-100.0f) < FLT_MIN, "sigmoid(-100) subnormal");
    SAME_BITS(lk_softplus(inf), inf, "softplus(inf)", 0);
    SAME_BITS(lk_softplus(-inf), 0.0f, "softplus(-inf)", 0);
    SAME_BITS(lk_softplus(FLT_MAX), FLT_MAX, "softplus(FLT_MAX)", 0);
    SAME_BITS(lk_softplus(0x1p25f), 0x1p25f, "softplus(2^25)", 0);
    EXPECT(lk_softplus(-100.0f) > 0, "softplus(-100) > 0");
    SAME_BITS(lk_log_sigmoid(inf), -0.0f, "log_sigmoid(inf)", 0);
    SAME_BITS(lk_log_sigmoid(-inf), -inf, "log_sigmoid(-inf)", 0);
    SAME_BITS(lk_log_sigmoid(-FLT_MAX), -FLT_MAX, "log_sigmoid(-FLT_MAX)", 0);
    for (long i = 0; i < LANE_N; i++) {
        float x = lane_in[i];
        if (!isnan(x)) SAME_BITS(lk_log_sigmoid(x), -lk_softplus(-x), "log_sigmoid = -softplus(-x)", i);
    }
    end();
}

/* ---- backward products of the sigmoid family ---------------------------------- */

typedef lk_status (*backward_fn)(const float *, const float *, float *, size_t);

enum { BW_N = 96 };

/* kind 0: g*s(x)*s(-x) [sigmoid_backward]; 1: g*s(x) [softplus]; 2: g*s(-x) [log_sigmoid] */
static void sigmoid_backward_family(const char *name, backward_fn f, int kind, double ulps,
                                    int abs_log2) {
    static float xs[BW_N], g[BW_N], out[BW_N];
    float buf[8];
    begin(name);
    for (int i = 0; i < BW_N; i++) {
        xs[i] = i < 20 ? lane_in[i] : uniform(-30.0f, 30.0f);
        g[i] = i % 7 == 0 ? uniform(-1e6f, 1e6f) : uniform(-4.0f, 4.0f);
    }
    xs[3] = 95.0f;   /* sigmoid(-95) is subnormal: the absolute term */
    xs[5] = -95.0f;
    xs[7] = INFINITY;
    xs[8] = -INFINITY;
    STATUS(f(xs, g, out, BW_N), LK_OK);
    for (int i = 0; i < BW_N; i++) {
        double x = xs[i], d;
        if (kind == 0) d = isinf(x) ? 0.0 : r_sigmoid(x) * r_sigmoid(-x);
        else if (kind == 1) d = r_sigmoid(x);
        else d = r_sigmoid(-x);
        double exact = (double)g[i] * d;
        CLOSE(out[i], exact, ulps * ulp(exact) + p2(abs_log2) * fabs((double)g[i]), name, i);
    }
    /* NaN in xs or grad_out: NaN in that element only. */
    xs[0] = NAN;
    g[1] = NAN;
    STATUS(f(xs, g, out, BW_N), LK_OK);
    EXPECT(isnan(out[0]) && isnan(out[1]) && !isnan(out[2]), "NaN stays in its element");
    /* Errors: NULL, overlap (no in-place form), misalignment; nothing written. */
    STATUS(f(NULL, NULL, NULL, 0), LK_OK);
    poison(buf, 8);
    STATUS(f(NULL, g, buf, 4), LK_NULL_POINTER);
    STATUS(f(xs, NULL, buf, 4), LK_NULL_POINTER);
    STATUS(f(xs, g, NULL, 4), LK_NULL_POINTER);
    UNTOUCHED(buf, 8);
    memcpy(out, g, sizeof g);
    STATUS(f(xs, out, out, 4), LK_OVERLAP); /* grad_in == grad_out */
    STATUS(f(out, g, out, 4), LK_OVERLAP);  /* grad_in == xs */
    STATUS(f(xs, out + 2, out, 4), LK_OVERLAP);
    EXPECT(memcmp(out, g, sizeof g) == 0, "overlapping backward wrote");
    STATUS(f(xs, g, misaligned(buf), 2), LK_INVALID_PARAMETER);
    UNTOUCHED(buf, 8);
    end();
}

/* ---- log-sum-exp and the streaming state ------------------------------------ */

/* Reference ln sum e^x in double; *sprime = s' (sum of e^(x-m) below m, plus ties - 1). */
static double ref_lse(const float *x, size_t n, double *sprime) {
    double m = -INFINITY, s = 0;
    int nan = 0, pinf = 0;
    long ties = 0;
    *sprime = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i])) nan = 1;
        if (x[i] == INFINITY) pinf = 1;
        if (x[i] > m) m = x[i];
    }
    if (nan) return NAN;
    if (pinf) return INFINITY;
    if (m == -INFINITY) return -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if ((double)x[i] == m) ties++;
        else s += exp((double)x[i] - m);
    }
    s += (double)(ties - 1);
    *sprime = s;
    return m + log1p(s);
}

/* [log_sum_exp]: ulp ULP of lse + 2^rel_log2 * s'/(1+s') + n * 2^subnormal_log2. */
static double lse_tol(double lse, double sprime, size_t n) {
    return LKP_LOG_SUM_EXP_ULP * ulp(lse) + p2(LKP_LOG_SUM_EXP_REL_LOG2) * sprime / (1 + sprime) +
           (double)n * p2(LKP_LOG_SUM_EXP_SUBNORMAL_LOG2);
}

static void check_lse(const float *x, size_t n, const char *what) {
    double sp, exact = ref_lse(x, n, &sp);
    float got = -1.0f;
    STATUS(lk_log_sum_exp(x, n, &got), LK_OK);
    CLOSE(got, exact, lse_tol(exact, sp, n), what, n);
}

enum { LSE_N = 100 };

static void test_log_sum_exp(void) {
    static float x[2 * LSE_N];
    float v, buf[4];
    double sp, exact;
    begin("lk_log_sum_exp");
    for (int i = 0; i < LSE_N; i++) x[i] = uniform(-10.0f, 10.0f);
    for (size_t n = 1; n <= LSE_N; n += (n < 20 ? 1 : 9)) check_lse(x, n, "random row");
    for (int i = 0; i < LSE_N; i++) x[i] = i % 3 == 0 ? -INFINITY : uniform(-50.0f, 50.0f);
    check_lse(x, LSE_N, "masked row");
    for (int i = 0; i < LSE_N; i++) x[i] = uniform(-200.0f, 0.0f); /* subnormal exponentials */
    check_lse(x, LSE_N, "spread row");
    {
        const float ties[] = {3.0f, 3.0f, 3.0f, 3.0f};
        const float tiny[] = {0.0f, -200.0f, -90.0f, -100.0f};
        const float big[] = {1e30f, -1e30f, 1e30f};
        const float neg[] = {-1e30f, -1e30f};
        check_lse(ties, 4, "ties");
        check_lse(tiny, 4, "tiny terms");
        check_lse(big, 3, "1e30");
        check_lse(neg, 2, "-1e30");
    }
    /* Special values. */
    {
        const float max2[] = {FLT_MAX, FLT_MAX};
        const float masked[] = {-INFINITY, -INFINITY, -INFINITY};
        const float with_nan[] = {1.0f, NAN, INFINITY};
        const float with_inf[] = {1.0f, INFINITY, -INFINITY, 2.0f};
        STATUS(lk_log_sum_exp(max2, 2, &v), LK_OK);
        SAME_BITS(v, FLT_MAX, "lse(FLT_MAX, FLT_MAX)", 0);
        STATUS(lk_log_sum_exp(NULL, 0, &v), LK_OK);
        SAME_BITS(v, -INFINITY, "lse(empty)", 0);
        STATUS(lk_log_sum_exp(masked, 3, &v), LK_OK);
        SAME_BITS(v, -INFINITY, "lse(all -inf)", 0);
        STATUS(lk_log_sum_exp(with_nan, 3, &v), LK_OK);
        EXPECT(isnan(v), "lse with a NaN is NaN");
        STATUS(lk_log_sum_exp(with_inf, 4, &v), LK_OK);
        SAME_BITS(v, INFINITY, "lse with +inf", 0);
    }
    /* Errors. */
    poison(buf, 4);
    STATUS(lk_log_sum_exp(NULL, 3, buf), LK_NULL_POINTER);
    STATUS(lk_log_sum_exp(x, 3, NULL), LK_NULL_POINTER);
    STATUS(lk_log_sum_exp(x, 3, misaligned(buf)), LK_INVALID_PARAMETER);
    STATUS(lk_log_sum_exp(misaligned(x), 3, buf), LK_INVALID_PARAMETER);
    UNTOUCHED(buf, 4);
    end();

    begin("lk_lse_* (streaming state)");
    {
        lk_log_sum_exp_state a, b, c, copy;
        const size_t n = 37;
        for (int i = 0; i < LSE_N; i++) x[i] = uniform(-30.0f, 30.0f);
        exact = ref_lse(x, n, &sp);
        STATUS(lk_lse_init(&a), LK_OK);
        STATUS(lk_lse_value(&a, &v), LK_OK);
        SAME_BITS(v, -INFINITY, "empty state", 0);
        /* pushes */
        for (size_t i = 0; i < n; i++) STATUS(lk_lse_push(&a, x[i]), LK_OK);
        STATUS(lk_lse_value(&a, &v), LK_OK);
        CLOSE(v, exact, lse_tol(exact, sp, n), "pushes", n);
        /* split at every point, extend + push, merged both ways */
        for (size_t k = 0; k <= n; k++) {
            STATUS(lk_lse_init(&b), LK_OK);
            STATUS(lk_lse_extend(&b, x, k), LK_OK);
            STATUS(lk_lse_init(&c), LK_OK);
            for (size_t i = k; i < n; i++) STATUS(lk_lse_push(&c, x[i]), LK_OK);
            copy = c; /* plain data: a copy is an independent state */
            STATUS(lk_lse_merge(&b, &c), LK_OK);
            STATUS(lk_lse_value(&b, &v), LK_OK);
            CLOSE(v, exact, lse_tol(exact, sp, n), "extend + merge", k);
            STATUS(lk_lse_merge(&copy, &b), LK_OK); /* copy now holds x[k..n] twice + x[0..k] */
            (void)copy;
        }
        /* merge with itself: every value twice, the value grows by ln 2 */
        memcpy(x + n, x, n * sizeof(float));
        {
            double sp2, exact2 = ref_lse(x, 2 * n, &sp2);
            STATUS(lk_lse_merge(&a, &a), LK_OK);
            STATUS(lk_lse_value(&a, &v), LK_OK);
            CLOSE(v, exact2, lse_tol(exact2, sp2, 2 * n), "merge with itself", 2 * n);
        }
        /* extend with a masked array, and with nothing */
        {
            const float masked[] = {-INFINITY, -INFINITY};
            float before;
            STATUS(lk_lse_value(&a, &before), LK_OK);
            STATUS(lk_lse_extend(&a, masked, 2), LK_OK);
            STATUS(lk_lse_extend(&a, NULL, 0), LK_OK);
            STATUS(lk_lse_value(&a, &v), LK_OK);
            SAME_BITS(v, before, "extend with -inf and with nothing", 0);
        }
        /* +inf counts, NaN sticks */
        STATUS(lk_lse_push(&a, INFINITY), LK_OK);
        STATUS(lk_lse_value(&a, &v), LK_OK);
        SAME_BITS(v, INFINITY, "state after +inf", 0);
        STATUS(lk_lse_push(&a, NAN), LK_OK);
        STATUS(lk_lse_push(&a, 1.0f), LK_OK);
        STATUS(lk_lse_merge(&a, &b), LK_OK);
        STATUS(lk_lse_value(&a, &v), LK_OK);
        EXPECT(isnan(v), "a NaN makes the state NaN for good");
        STATUS(lk_lse_init(&c), LK_OK);
        STATUS(lk_lse_merge(&c, &a), LK_OK);
        STATUS(lk_lse_value(&c, &v), LK_OK);
        EXPECT(isnan(v), "merging a NaN state gives NaN");
        {
            const float max2[] = {FLT_MAX, FLT_MAX};
            STATUS(lk_lse_init(&c), LK_OK);
            STATUS(lk_lse_extend(&c, max2, 1), LK_OK);
            STATUS(lk_lse_push(&c, FLT_MAX), LK_OK);
            STATUS(lk_lse_value(&c, &v), LK_OK);
            SAME_BITS(v, FLT_MAX, "state of FLT_MAX, FLT_MAX", 0);
        }
        /* Errors: NULL and misaligned states, NULL value; nothing written. */
        {
            union { lk_log_sum_exp_state s; char bytes[2 * sizeof(lk_log_sum_exp_state)]; } raw;
            lk_log_sum_exp_state *bad = (lk_log_sum_exp_state *)(void *)(raw.bytes + 4);
            unsigned char before[sizeof b];
            STATUS(lk_lse_init(NULL), LK_NULL_POINTER);
            STATUS(lk_lse_push(NULL, 1.0f), LK_NULL_POINTER);
            STATUS(lk_lse_extend(NULL, x, 3), LK_NULL_POINTER);
            STATUS(lk_lse_merge(NULL, &b), LK_NULL_POINTER);
            STATUS(lk_lse_value(NULL, buf), LK_NULL_POINTER);
            memcpy(before, &b, sizeof b);
            STATUS(lk_lse_merge(&b, NULL), LK_NULL_POINTER);
            STATUS(lk_lse_extend(&b, NULL, 3), LK_NULL_POINTER);
            STATUS(lk_lse_extend(&b, misaligned(x), 3), LK_INVALID_PARAMETER);
            EXPECT(memcmp(before, &b, sizeof b) == 0, "failed lk_lse_ call changed the state");
            poison(buf, 4);
            STATUS(lk_lse_value(&b, NULL), LK_NULL_POINTER);
            STATUS(lk_lse_value(&b, misaligned(buf)), LK_INVALID_PARAMETER);
            UNTOUCHED(buf, 4);
            memset(raw.bytes, 0x5a, sizeof raw.bytes);
            STATUS(lk_lse_init(bad), LK_INVALID_PARAMETER);
            STATUS(lk_lse_push(bad, 1.0f), LK_INVALID_PARAMETER);
            STATUS(lk_lse_value(bad, buf), LK_INVALID_PARAMETER);
            UNTOUCHED(buf, 4);
            for (size_t i = 0; i < sizeof raw.bytes; i++)
                EXPECT(raw.bytes[i] == 0x5a, "misaligned state written at byte %ld", (long)i);
        }
    }
    end();
}

/* ---- softmax and log_softmax ------------------------------------------------------ */

/* Reference softmax (p) and log_softmax (lp) of a row whose max is finite. */
static void ref_softmax(const float *x, size_t n, double *p, double *lp) {
    double m = -INFINITY, s = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    for (size_t i = 0; i < n; i++) s += exp((double)x[i] - m);
    for (size_t i = 0; i < n; i++) {
        p[i] = exp((double)x[i] - m) / s;
        lp[i] = ((double)x[i] - m) - log(s);
    }
}

enum { SM_N = 70 };

static void check_softmax_row(const float *x, size_t n, const char *what) {
    static double p[SM_N], lp[SM_N];
    static float out[SM_N], out2[SM_N], inplace[SM_N];
    ref_softmax(x, n, p, lp);
    STATUS(lk_softmax(x, out, n), LK_OK);
    memcpy(inplace, x, n * sizeof(float));
    STATUS(lk_softmax_in_place(inplace, n), LK_OK);
    memcpy(out2, x, n * sizeof(float));
    STATUS(lk_softmax(out2, out2, n), LK_OK);
    for (size_t i = 0; i < n; i++) {
        /* [softmax]: ulp ULP + 2^rel_log2 * p_i */
        CLOSE(out[i], p[i], LKP_SOFTMAX_ULP * ulp(p[i]) + p2(LKP_SOFTMAX_REL_LOG2) * p[i], what, i);
        SAME_BITS(inplace[i], out[i], "softmax in place", i);
        SAME_BITS(out2[i], out[i], "softmax xs == out", i);
    }
    STATUS(lk_log_softmax(x, out, n), LK_OK);
    memcpy(inplace, x, n * sizeof(float));
    STATUS(lk_log_softmax_in_place(inplace, n), LK_OK);
    memcpy(out2, x, n * sizeof(float));
    STATUS(lk_log_softmax(out2, out2, n), LK_OK);
    for (size_t i = 0; i < n; i++) {
        /* [log_softmax]: ulp ULP + 2^abs_log2 */
        CLOSE(out[i], lp[i], LKP_LOG_SOFTMAX_ULP * ulp(lp[i]) + p2(LKP_LOG_SOFTMAX_ABS_LOG2), what, i);
        SAME_BITS(inplace[i], out[i], "log_softmax in place", i);
        SAME_BITS(out2[i], out[i], "log_softmax xs == out", i);
    }
}

/* A special row: softmax and log_softmax give `p` and `lp` (NAN = all NaN) within
 * their documented bounds, which for 0, 1/2 and +-inf means exactly. */
static void special_softmax_row(const float *x, size_t n, const double *p, const double *lp,
                                const char *what) {
    float out[8], inplace[8];
    STATUS(lk_softmax(x, out, n), LK_OK);
    memcpy(inplace, x, n * sizeof(float));
    STATUS(lk_softmax_in_place(inplace, n), LK_OK);
    for (size_t i = 0; i < n; i++) {
        CLOSE(out[i], p[i], LKP_SOFTMAX_ULP * ulp(p[i]) + p2(LKP_SOFTMAX_REL_LOG2) * p[i], what, i);
        if (!isnan(p[i])) SAME_BITS(inplace[i], out[i], what, i);
    }
    STATUS(lk_log_softmax(x, out, n), LK_OK);
    memcpy(inplace, x, n * sizeof(float));
    STATUS(lk_log_softmax_in_place(inplace, n), LK_OK);
    for (size_t i = 0; i < n; i++) {
        CLOSE(out[i], lp[i], LKP_LOG_SOFTMAX_ULP * ulp(lp[i]) + p2(LKP_LOG_SOFTMAX_ABS_LOG2), what, i);
        if (!isnan(lp[i])) SAME_BITS(inplace[i], out[i], what, i);
    }
}

static void test_softmax(void) {
    static float x[SM_N];
    float buf[16], keep[16];
    const float inf = INFINITY;
    begin("lk_softmax, lk_log_softmax (+ in place)");
    {
        const float doc[] = {1.0f, 2.0f, -INFINITY};
        check_softmax_row(doc, 3, "1, 2, -inf");
    }
    for (size_t n = 1; n <= SM_N; n += (n < 18 ? 1 : 13)) {
        for (size_t i = 0; i < n; i++) x[i] = uniform(-15.0f, 15.0f);
        check_softmax_row(x, n, "random row");
    }
    for (size_t i = 0; i < SM_N; i++) x[i] = i % 4 == 1 ? -inf : uniform(-100.0f, 100.0f);
    check_softmax_row(x, SM_N, "masked, spread row");
    for (size_t i = 0; i < SM_N; i++) x[i] = uniform(-1e4f, 10.0f); /* tiny probabilities */
    x[5] = 10.0f;
    check_softmax_row(x, SM_N, "tiny probabilities");
    {
        const double inf_d = INFINITY, ln2 = log(2.0);
        const float r1[] = {1.0f, NAN, 3.0f};
        const double n1[] = {NAN, NAN, NAN};
        const float r2[] = {inf, 0.0f, inf, -inf};
        const double p2_[] = {0.5, 0.0, 0.5, 0.0}, l2[] = {-ln2, -inf_d, -ln2, -inf_d};
        const float r3[] = {-inf, -inf, -inf};
        const double p3[] = {0, 0, 0}, l3[] = {-inf_d, -inf_d, -inf_d};
        const float r4[] = {FLT_MAX, FLT_MAX};
        const double p4[] = {0.5, 0.5}, l4[] = {-ln2, -ln2};
        const float r5[] = {inf, -inf};
        const double p5[] = {1.0, 0.0}, l5[] = {0.0, -inf_d};
        special_softmax_row(r1, 3, n1, n1, "NaN row");
        special_softmax_row(r2, 4, p2_, l2, "two +inf");
        special_softmax_row(r3, 3, p3, l3, "fully masked");
        special_softmax_row(r4, 2, p4, l4, "FLT_MAX, FLT_MAX");
        special_softmax_row(r5, 2, p5, l5, "one +inf");
    }
    /* Empty rows, NULL with 0; errors; overlap rule. */
    STATUS(lk_softmax(NULL, NULL, 0), LK_OK);
    STATUS(lk_log_softmax(NULL, NULL, 0), LK_OK);
    STATUS(lk_softmax_in_place(NULL, 0), LK_OK);
    STATUS(lk_log_softmax_in_place(NULL, 0), LK_OK);
    poison(buf, 16);
    STATUS(lk_softmax(NULL, buf, 3), LK_NULL_POINTER);
    STATUS(lk_log_softmax(NULL, buf, 3), LK_NULL_POINTER);
    STATUS(lk_softmax(x, NULL, 3), LK_NULL_POINTER);
    STATUS(lk_softmax_in_place(NULL, 3), LK_NULL_POINTER);
    STATUS(lk_log_softmax_in_place(NULL, 3), LK_NULL_POINTER);
    STATUS(lk_softmax(x, misaligned(buf), 3), LK_INVALID_PARAMETER);
    UNTOUCHED(buf, 16);
    for (int i = 0; i < 16; i++) buf[i] = keep[i] = (float)i;
    STATUS(lk_softmax(buf, buf + 2, 4), LK_OVERLAP);
    STATUS(lk_log_softmax(buf + 3, buf, 4), LK_OVERLAP);
    EXPECT(memcmp(buf, keep, sizeof buf) == 0, "overlapping softmax wrote");
    end();

    begin("lk_softmax_rows, lk_log_softmax_rows");
    {
        enum { R = 5, C = 7 };
        float z[R * C], out[R * C], row[C], lrow[C], inplace[R * C];
        for (int i = 0; i < R * C; i++) z[i] = uniform(-8.0f, 8.0f);
        z[1 * C + 2] = NAN;                                   /* row 1: NaN stays in its row */
        for (int i = 0; i < C; i++) z[2 * C + i] = -inf;      /* row 2: fully masked */
        z[3 * C + 4] = inf;                                   /* row 3: one +inf */
        z[4 * C + 0] = -inf;                                  /* row 4: one mask */
        STATUS(lk_softmax_rows(z, out, R, C), LK_OK);
        memcpy(inplace, z, sizeof z);
        STATUS(lk_softmax_rows(inplace, inplace, R, C), LK_OK);
        for (int r = 0; r < R; r++) {
            STATUS(lk_softmax(z + r * C, row, C), LK_OK);
            for (int i = 0; i < C; i++) {
                SAME_BITS(out[r * C + i], row[i], "softmax_rows = softmax of each row", r * C + i);
                SAME_BITS(inplace[r * C + i], row[i], "softmax_rows in place", r * C + i);
            }
        }
        EXPECT(isnan(out[C + 5]) && !isnan(out[5]) && !isnan(out[2 * C]), "NaN stays in row 1");
        STATUS(lk_log_softmax_rows(z, out, R, C), LK_OK);
        memcpy(inplace, z, sizeof z);
        STATUS(lk_log_softmax_rows(inplace, inplace, R, C), LK_OK);
        for (int r = 0; r < R; r++) {
            STATUS(lk_log_softmax(z + r * C, lrow, C), LK_OK);
            for (int i = 0; i < C; i++) {
                SAME_BITS(out[r * C + i], lrow[i], "log_softmax_rows = log_softmax of each row", r * C + i);
                SAME_BITS(inplace[r * C + i], lrow[i], "log_softmax_rows in place", r * C + i);
            }
        }
        STATUS(lk_softmax_rows(NULL, NULL, 0, 5), LK_OK);
        STATUS(lk_softmax_rows(NULL, NULL, 5, 0), LK_OK);
        STATUS(lk_log_softmax_rows(NULL, NULL, 0, 0), LK_OK);
        poison(out, R * C);
        STATUS(lk_softmax_rows(NULL, out, 2, 3), LK_NULL_POINTER);
        STATUS(lk_log_softmax_rows(z, NULL, 2, 3), LK_NULL_POINTER);
        STATUS(lk_softmax_rows(z, out, SIZE_MAX / 2, 3), LK_LENGTH_MISMATCH);
        STATUS(lk_log_softmax_rows(z, out, 3, SIZE_MAX / 2), LK_LENGTH_MISMATCH);
        STATUS(lk_softmax_rows(z, out + 1, 2, 3), LK_OK); /* disjoint: fine */
        STATUS(lk_softmax_rows(z, misaligned(out), 2, 3), LK_INVALID_PARAMETER);
        memcpy(inplace, z, sizeof z);
        STATUS(lk_softmax_rows(inplace, inplace + 1, 2, 3), LK_OVERLAP);
        STATUS(lk_log_softmax_rows(inplace + 5, inplace, 2, 3), LK_OVERLAP);
        EXPECT(memcmp(inplace, z, sizeof z) == 0, "overlapping rows form wrote");
    }
    end();
}

/* ---- softmax backward products ------------------------------------------------- */

static void test_softmax_backward(void) {
    enum { N = 45 };
    float x[N], p[N], lp[N], g[N], out[N], buf[8];
    begin("lk_softmax_backward, lk_log_softmax_backward");
    for (int trial = 0; trial < 4; trial++) {
        for (int i = 0; i < N; i++) {
            x[i] = uniform(-12.0f, 12.0f);
            g[i] = uniform(-3.0f, 3.0f);
        }
        if (trial == 1) x[7] = x[9] = -INFINITY; /* masked: p = 0, log p = -inf */
        if (trial == 2) for (int i = 0; i < N; i++) g[i] = i % 5 == 0 ? uniform(-1e5f, 1e5f) : g[i];
        if (trial == 3) for (int i = 0; i < N; i++) x[i] = uniform(-150.0f, 0.0f);
        STATUS(lk_softmax(x, p, N), LK_OK);
        STATUS(lk_log_softmax(x, lp, N), LK_OK);
        /* softmax_backward: [softmax_backward] ulp ULP of p_i (g_i - <g,p>) + p_i * (2^dot_rel_log2
         * sum|p_j g_j| + dot_ulp ULP of <g,p> + n 2^dot_subnormal_log2) */
        {
            double dot = 0, dot_abs = 0;
            for (int i = 0; i < N; i++) {
                dot += (double)p[i] * g[i];
                dot_abs += fabs((double)p[i] * g[i]);
            }
            STATUS(lk_softmax_backward(p, g, out, N), LK_OK);
            for (int i = 0; i < N; i++) {
                double exact = (double)p[i] * ((double)g[i] - dot);
                double dot_err = p2(LKP_SOFTMAX_BACKWARD_DOT_REL_LOG2) * dot_abs +
                                 LKP_SOFTMAX_BACKWARD_DOT_ULP * ulp(dot) +
                                 N * p2(LKP_SOFTMAX_BACKWARD_DOT_SUBNORMAL_LOG2);
                CLOSE(out[i], exact, LKP_SOFTMAX_BACKWARD_ULP * ulp(exact) + p[i] * dot_err,
                      "softmax_backward", i);
            }
        }
        /* log_softmax_backward: [log_softmax_backward] ulp ULP of max(|g_i - p_i S|, p_i |S|)
         * + 2^sum_rel_log2 p_i sum|g| + 2^subnormal_log2 sum|g|, p_i = e^(log_probs_i) */
        {
            double sum = 0, sum_abs = 0;
            for (int i = 0; i < N; i++) {
                sum += g[i];
                sum_abs += fabs((double)g[i]);
            }
            STATUS(lk_log_softmax_backward(lp, g, out, N), LK_OK);
            for (int i = 0; i < N; i++) {
                double pi = exp((double)lp[i]);
                double exact = (double)g[i] - pi * sum;
                double scale = fmax(fabs(exact), pi * fabs(sum));
                CLOSE(out[i], exact,
                      LKP_LOG_SOFTMAX_BACKWARD_ULP * ulp(scale) +
                          p2(LKP_LOG_SOFTMAX_BACKWARD_SUM_REL_LOG2) * pi * sum_abs +
                          p2(LKP_LOG_SOFTMAX_BACKWARD_SUBNORMAL_LOG2) * sum_abs,
                      "log_softmax_backward", i);
                if (lp[i] == -INFINITY) SAME_BITS(out[i], g[i], "masked log prob: grad_in = g", i);
            }
        }
    }
    /* Special values: NaN in grad_out makes every element NaN. */
    g[3] = NAN;
    STATUS(lk_softmax_backward(p, g, out, N), LK_OK);
    EXPECT(isnan(out[0]) && isnan(out[N - 1]), "softmax_backward: NaN everywhere");
    STATUS(lk_log_softmax_backward(lp, g, out, N), LK_OK);
    EXPECT(isnan(out[0]) && isnan(out[N - 1]), "log_softmax_backward: NaN everywhere");
    /* Errors. */
    STATUS(lk_softmax_backward(NULL, NULL, NULL, 0), LK_OK);
    STATUS(lk_log_softmax_backward(NULL, NULL, NULL, 0), LK_OK);
    poison(buf, 8);
    STATUS(lk_softmax_backward(NULL, g, buf, 3), LK_NULL_POINTER);
    STATUS(lk_log_softmax_backward(lp, NULL, buf, 3), LK_NULL_POINTER);
    STATUS(lk_softmax_backward(p, g, NULL, 3), LK_NULL_POINTER);
    STATUS(lk_softmax_backward(p, g, misaligned(buf), 3), LK_INVALID_PARAMETER);
    UNTOUCHED(buf, 8);
    memcpy(out, g, sizeof g);
    STATUS(lk_softmax_backward(p, out, out, 3), LK_OVERLAP);
    STATUS(lk_log_softmax_backward(out, g, out, 3), LK_OVERLAP);
    STATUS(lk_log_softmax_backward(lp, out + 1, out, 3), LK_OVERLAP);
    EXPECT(memcmp(out, g, sizeof g) == 0, "overlapping backward wrote");
    end();
}

/* ---- softmax cross-entropy ------------------------------------------------------- */

/* Reference loss -sum q_i log_softmax_i and unscaled gradient g = p*Q - q of a row
 * with a finite max, in double; at a unique argmax a the gradient is
 * ((Q - q_a) - q_a*s')/S, which does not cancel. Returns the loss. */
static double ref_row(const float *z, size_t C, const double *q, double *g, double *p,
                      double *q_total) {
    double m = -INFINITY, sp, S, Q = 0, gap = 0, rest = 0;
    size_t a = 0, ties = 0;
    for (size_t i = 0; i < C; i++)
        if (z[i] > m) {
            m = z[i];
            a = i;
        }
    for (size_t i = 0; i < C; i++)
        if ((double)z[i] == m) ties++;
    sp = (double)ties - 1.0;
    for (size_t i = 0; i < C; i++)
        if ((double)z[i] < m) sp += exp((double)z[i] - m);
    S = 1.0 + sp;
    for (size_t i = 0; i < C; i++) {
        Q += q[i];
        if (q[i] > 0) gap += q[i] * (m - (double)z[i]); /* 0 * inf = 0 */
        if (i != a) rest += q[i];
    }
    for (size_t i = 0; i < C; i++) {
        p[i] = exp((double)z[i] - m) / S;
        g[i] = p[i] * Q - q[i];
    }
    if (ties == 1) g[a] = (rest - q[a] * sp) / S;
    *q_total = Q;
    return gap + Q * log1p(sp);
}

enum { CE_N = 40 };

static void check_class_row(const float *z, size_t n, size_t t, const char *what) {
    double q[CE_N] = {0}, g[CE_N], p[CE_N], Q, gmax = 0;
    float grad[CE_N], loss = -1, loss_only = -2;
    q[t] = 1.0;
    double exact = ref_row(z, n, q, g, p, &Q);
    STATUS(lk_softmax_cross_entropy_with_grad(z, n, t, grad, &loss), LK_OK);
    STATUS(lk_softmax_cross_entropy(z, n, t, &loss_only), LK_OK);
    SAME_BITS(loss_only, loss, "loss-only form", t);
    /* [cross_entropy] loss: loss_ulp ULP + 2^loss_rel_log2 relative + n 2^subnormal_log2 */
    CLOSE(loss, exact,
          LKP_CROSS_ENTROPY_LOSS_ULP * ulp(exact) + p2(LKP_CROSS_ENTROPY_LOSS_REL_LOG2) * exact +
              n * p2(LKP_CROSS_ENTROPY_SUBNORMAL_LOG2),
          what, t);
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
    /* gradient: grad_ulp ULP of max(|g_i|, 2^grad_floor_log2 max|g|) + 2^grad_rel_log2 |g_i|,
     * plus n 2^subnormal_log2 at the target */
    for (size_t i = 0; i < n; i++) {
        double scale = fmax(fabs(g[i]), p2(LKP_CROSS_ENTROPY_GRAD_FLOOR_LOG2) * gmax);
        CLOSE(grad[i], g[i],
              LKP_CROSS_ENTROPY_GRAD_ULP * ulp(scale) + p2(LKP_CROSS_ENTROPY_GRAD_REL_LOG2) * fabs(g[i]) +
                  (i == t ? n * p2(LKP_CROSS_ENTROPY_SUBNORMAL_LOG2) : 0),
              "gradient", i);
    }
}

/* A special row: loss and gradient within their bounds of `want_loss` and
 * `want_g` (exact for +-inf, 0 and -1), or NaN everywhere when want_loss is NaN. */
static void special_class_row(const float *z, size_t n, size_t t, double want_loss,
                              const double *want_g, const char *what) {
    float grad[8], loss = 0, loss_only = 0;
    STATUS(lk_softmax_cross_entropy_with_grad(z, n, t, grad, &loss), LK_OK);
    STATUS(lk_softmax_cross_entropy(z, n, t, &loss_only), LK_OK);
    if (isnan(want_loss)) {
        EXPECT(isnan(loss) && isnan(loss_only), "%s: loss NaN", what);
        for (size_t i = 0; i < n; i++) EXPECT(isnan(grad[i]), "%s: gradient NaN", what);
        return;
    }
    CLOSE(loss, want_loss, LKP_CROSS_ENTROPY_LOSS_ULP * ulp(want_loss) +
                               p2(LKP_CROSS_ENTROPY_LOSS_REL_LOG2) * want_loss, what, t);
    SAME_BITS(loss_only, loss, what, t);
    for (size_t i = 0; i < n; i++)
        CLOSE(grad[i], want_g[i], LKP_CROSS_ENTROPY_GRAD_ULP * ulp(want_g[i]), what, i);
}

static void test_cross_entropy_class(void) {
    float z[CE_N], grad[CE_N], loss, buf[8];
    const float inf = INFINITY;
    begin("lk_softmax_cross_entropy(_with_grad)");
    {
        const float doc[] = {2.0f, 1.0f, 0.1f};
        for (size_t t = 0; t < 3; t++) check_class_row(doc, 3, t, "2, 1, 0.1");
        STATUS(lk_softmax_cross_entropy_with_grad(doc, 3, 0, grad, &loss), LK_OK);
        EXPECT(fabs(loss - 0.417030) < 1e-5, "the README's 0.417030: %.9g", (double)loss);
    }
    for (size_t n = 1; n <= CE_N; n += (n < 20 ? 1 : 7)) {
        for (size_t i = 0; i < n; i++) z[i] = uniform(-6.0f, 6.0f);
        check_class_row(z, n, n / 2, "random row");
        check_class_row(z, n, n - 1, "random row");
    }
    {
        const float peaked[] = {30.0f, 0.0f, 0.0f}; /* loss 1.9e-13: relative accuracy */
        const float tied[] = {3.0f, 3.0f, 1.0f, 3.0f};
        check_class_row(peaked, 3, 0, "peaked row (tiny loss)");
        check_class_row(peaked, 3, 1, "peaked row");
        check_class_row(tied, 4, 1, "tied maxima");
        for (size_t i = 0; i < CE_N; i++) z[i] = i % 3 == 0 ? -inf : uniform(-120.0f, 40.0f);
        check_class_row(z, CE_N, 1, "masked, spread row");
        for (size_t i = 0; i < 10; i++) z[i] = i % 3 == 0 ? -inf : uniform(-120.0f, 40.0f);
        check_class_row(z, 10, 2, "masked short row");
        for (size_t i = 0; i < 20; i++) z[i] = uniform(-1e30f, 1e30f);
        check_class_row(z, 20, 4, "spread 1e30");
    }
    {
        const float r1[] = {1.0f, NAN, 2.0f};
        const float r2[] = {-inf, 0.0f, 0.0f}; /* z_t = -inf, others finite */
        const double g2[] = {-1.0, 0.5, 0.5};
        const float r3[] = {-inf, -inf, -inf};
        const double g3[] = {0.0, -1.0, 0.0};
        const float r4[] = {inf, 1.0f, inf, -inf};
        const double g4[] = {-0.5, 0.0, 0.5, 0.0};
        const double g5[] = {0.5, -1.0, 0.5, 0.0};
        special_class_row(r1, 3, 0, NAN, NULL, "NaN row");
        special_class_row(r2, 3, 0, inf, g2, "z_t = -inf");
        special_class_row(r3, 3, 1, inf, g3, "fully masked");
        special_class_row(r4, 4, 0, log(2.0), g4, "two +inf, z_t among them");
        special_class_row(r4, 4, 1, inf, g5, "two +inf, z_t not among them");
    }
    /* Errors: nothing written. */
    for (int i = 0; i < 3; i++) z[i] = (float)i;
    poison(grad, CE_N);
    poison(&loss, 1);
    STATUS(lk_softmax_cross_entropy_with_grad(z, 3, 3, grad, &loss), LK_CLASS_OUT_OF_RANGE);
    STATUS(lk_softmax_cross_entropy(z, 3, 7, &loss), LK_CLASS_OUT_OF_RANGE);
    STATUS(lk_softmax_cross_entropy_with_grad(NULL, 0, 0, NULL, &loss), LK_CLASS_OUT_OF_RANGE);
    STATUS(lk_softmax_cross_entropy(NULL, 0, 0, &loss), LK_CLASS_OUT_OF_RANGE);
    STATUS(lk_softmax_cross_entropy_with_grad(NULL, 3, 0, grad, &loss), LK_NULL_POINTER);
    STATUS(lk_softmax_cross_entropy_with_grad(z, 3, 0, NULL, &loss), LK_NULL_POINTER);
    STATUS(lk_softmax_cross_entropy_with_grad(z, 3, 0, grad, NULL), LK_NULL_POINTER);
    STATUS(lk_softmax_cross_entropy(z, 3, 0, NULL), LK_NULL_POINTER);
    STATUS(lk_softmax_cross_entropy(NULL, 3, 0, &loss), LK_NULL_POINTER);
    STATUS(lk_softmax_cross_entropy_with_grad(z, 3, 0, misaligned(grad), &loss), LK_INVALID_PARAMETER);
    STATUS(lk_softmax_cross_entropy_with_grad(z, 3, 0, grad, misaligned(buf)), LK_INVALID_PARAMETER);
    UNTOUCHED(grad, CE_N);
    UNTOUCHED(&loss, 1);
    memcpy(buf, z, 3 * sizeof(float));
    STATUS(lk_softmax_cross_entropy_with_grad(buf, 3, 0, buf, &loss), LK_OVERLAP);
    STATUS(lk_softmax_cross_entropy_with_grad(buf, 3, 0, buf + 2, &loss), LK_OVERLAP);
    EXPECT(memcmp(buf, z, 3 * sizeof(float)) == 0, "overlapping cross-entropy wrote");
    UNTOUCHED(&loss, 1);
    /* *loss may point anywhere writable: into the gradient, written last. */
    STATUS(lk_softmax_cross_entropy_with_grad(z, 3, 0, grad, &grad[1]), LK_OK);
    EXPECT(grad[1] > 2.0f, "*loss written last, over grad[1]");
    end();

    begin("lk_softmax_cross_entropy_probs(_with_grad)");
    {
        double q[CE_N], g[CE_N], p[CE_N], Q, exact;
        float probs[CE_N], loss_only;
        for (int trial = 0; trial < 6; trial++) {
            size_t n = trial < 3 ? 5 + 7 * trial : 33;
            float total = 0;
            for (size_t i = 0; i < n; i++) {
                z[i] = uniform(-8.0f, 8.0f);
                probs[i] = trial == 4 && i % 2 ? 0.0f : uniform(0.0f, 1.0f);
                total += probs[i];
            }
            if (trial == 3) for (size_t i = 0; i < n; i++) probs[i] /= total; /* a distribution */
            if (trial == 4) z[1] = z[3] = -INFINITY; /* zero target weight on masked logits */
            if (trial == 5) {
                for (size_t i = 0; i < n; i++) probs[i] = 0.0f;
                probs[2] = 2.5f; z[2] = 40.0f; /* peaked: tiny loss and gradient */
            }
            for (size_t i = 0; i < n; i++) q[i] = probs[i];
            exact = ref_row(z, n, q, g, p, &Q);
            STATUS(lk_softmax_cross_entropy_probs_with_grad(z, probs, n, grad, &loss), LK_OK);
            STATUS(lk_softmax_cross_entropy_probs(z, probs, n, &loss_only), LK_OK);
            SAME_BITS(loss_only, loss, "probs loss-only form", n);
            /* [cross_entropy_probs]: loss_ulp ULP + 2^sum_rel_log2 rel + n 2^subnormal_log2 (1+Q);
             * gradient grad_ulp ULP of max(|g_i|, p_i Q, q_i) + 2^grad_rel_log2 p_i Q + the same */
            double sub = n * p2(LKP_CROSS_ENTROPY_PROBS_SUBNORMAL_LOG2) * (1 + Q);
            CLOSE(loss, exact,
                  LKP_CROSS_ENTROPY_PROBS_LOSS_ULP * ulp(exact) +
                      p2(LKP_CROSS_ENTROPY_PROBS_SUM_REL_LOG2) * exact + sub,
                  "probs loss", trial);
            for (size_t i = 0; i < n; i++) {
                double scale = fmax(fabs(g[i]), fmax(p[i] * Q, q[i]));
                CLOSE(grad[i], g[i],
                      LKP_CROSS_ENTROPY_PROBS_GRAD_ULP * ulp(scale) +
                          p2(LKP_CROSS_ENTROPY_PROBS_GRAD_REL_LOG2) * p[i] * Q + sub,
                      "probs gradient", i);
            }
        }
        {
            const float zz[] = {1.0f, 2.0f, -INFINITY}, qq[] = {0.5f, 0.5f, 0.0f};
            const float qn[] = {0.5f, NAN, 0.0f}, qm[] = {0.0f, 0.5f, 0.5f};
            STATUS(lk_softmax_cross_entropy_probs_with_grad(zz, qq, 3, grad, &loss), LK_OK);
            EXPECT(isfinite(loss), "zero weight on a -inf logit contributes nothing");
            STATUS(lk_softmax_cross_entropy_probs(zz, qn, 3, &loss), LK_OK);
            EXPECT(isnan(loss), "NaN in probs gives a NaN loss");
            STATUS(lk_softmax_cross_entropy_probs(zz, qm, 3, &loss), LK_OK);
            SAME_BITS(loss, INFINITY, "target weight on a -inf logit", 0);
        }
        /* Errors. */
        {
            const float zz[] = {1.0f, 2.0f, 3.0f}, neg[] = {0.5f, -0.1f, 0.6f};
            const float pinf[] = {0.5f, INFINITY, 0.0f}, ok[] = {0.2f, 0.3f, 0.5f};
            poison(grad, CE_N);
            poison(&loss, 1);
            STATUS(lk_softmax_cross_entropy_probs_with_grad(zz, neg, 3, grad, &loss), LK_INVALID_PARAMETER);
            STATUS(lk_softmax_cross_entropy_probs_with_grad(zz, pinf, 3, grad, &loss), LK_INVALID_PARAMETER);
            STATUS(lk_softmax_cross_entropy_probs(zz, neg, 3, &loss), LK_INVALID_PARAMETER);
            STATUS(lk_softmax_cross_entropy_probs_with_grad(zz, NULL, 3, grad, &loss), LK_NULL_POINTER);
            STATUS(lk_softmax_cross_entropy_probs_with_grad(NULL, ok, 3, grad, &loss), LK_NULL_POINTER);
            STATUS(lk_softmax_cross_entropy_probs_with_grad(zz, ok, 3, NULL, &loss), LK_NULL_POINTER);
            STATUS(lk_softmax_cross_entropy_probs_with_grad(zz, ok, 3, grad, NULL), LK_NULL_POINTER);
            STATUS(lk_softmax_cross_entropy_probs(zz, ok, 3, NULL), LK_NULL_POINTER);
            STATUS(lk_softmax_cross_entropy_probs(zz, misaligned(buf), 3, &loss), LK_INVALID_PARAMETER);
            UNTOUCHED(grad, CE_N);
            UNTOUCHED(&loss, 1);
            memcpy(buf, ok, sizeof ok);
            STATUS(lk_softmax_cross_entropy_probs_with_grad(zz, buf, 3, buf, &loss), LK_OVERLAP);
            STATUS(lk_softmax_cross_entropy_probs_with_grad(buf, zz, 3, buf + 1, &loss), LK_OVERLAP);
            EXPECT(memcmp(buf, ok, sizeof ok) == 0, "overlapping probs form wrote");
            UNTOUCHED(&loss, 1);
            STATUS(lk_softmax_cross_entropy_probs_with_grad(NULL, NULL, 0, NULL, &loss), LK_OK);
            EXPECT(loss == 0.0f, "empty probability row: loss 0");
        }
    }
    end();
}

/* Reference batch cross-entropy, PyTorch's definition in double. g: scaled
 * gradient; the per-element bounds need the unscaled pieces, kept in the
 * arrays passed. Returns the reduced loss. */
enum { B_ROWS = 6, B_C = 9, B_N = B_ROWS * B_C };

struct batch_ref {
    double loss, f, row_loss[B_ROWS], row_q[B_ROWS], g[B_N], p[B_N], q[B_N];
    double sub_total; /* sum over rows of (1 + sum q) */
};

static void ref_batch(const float *z, const size_t *t, size_t rows, size_t C, double eps,
                      const float *w, int64_t ignore, int sum, struct batch_ref *r) {
    double total = 0, denom = 0, wsum = 0;
    for (size_t i = 0; i < C; i++) wsum += w ? w[i] : 1.0;
    (void)wsum;
    r->sub_total = 0;
    for (size_t row = 0; row < rows; row++) {
        int ignored = ignore >= 0 && (int64_t)t[row] == ignore;
        double *q = r->q + row * C;
        for (size_t i = 0; i < C; i++) {
            double wi = w ? w[i] : 1.0;
            q[i] = ignored ? 0.0 : (eps / (double)C) * wi + (i == t[row] ? (1 - eps) * wi : 0.0);
        }
        if (ignored) {
            r->row_loss[row] = 0;
            r->row_q[row] = 0;
            for (size_t i = 0; i < C; i++) r->g[row * C + i] = r->p[row * C + i] = 0;
            continue;
        }
        denom += w ? w[t[row]] : 1.0;
        r->row_loss[row] = ref_row(z + row * C, C, q, r->g + row * C, r->p + row * C, &r->row_q[row]);
        total += r->row_loss[row];
        r->sub_total += 1 + r->row_q[row];
    }
    r->f = sum ? 1.0 : (denom == 0 ? 0.0 : 1.0 / denom);
    for (size_t i = 0; i < rows * C; i++) r->g[i] *= r->f;
    r->loss = total * r->f;
}

static void check_batch(const float *z, const size_t *t, size_t rows, size_t C,
                        const lk_cross_entropy_options *o, const char *what) {
    struct batch_ref r;
    float grad[B_N], per_row[B_ROWS], per_row2[B_ROWS], loss = -1, loss_only = -2;
    double eps = o ? o->label_smoothing : 0;
    ref_batch(z, t, rows, C, eps, o ? o->class_weights : NULL, o ? o->ignore_index : -1,
              o && o->reduction == LK_REDUCTION_SUM, &r);
    STATUS(lk_softmax_cross_entropy_batch_with_grad(z, rows * C, t, rows, o, grad, per_row, &loss), LK_OK);
    STATUS(lk_softmax_cross_entropy_batch(z, rows * C, t, rows, o, per_row2, &loss_only), LK_OK);
    SAME_BITS(loss_only, loss, "batch loss-only form", 0);
    /* [cross_entropy_batch] reduced loss: loss_ulp ULP + 2^loss_rel_log2 rel
     * + f C 2^subnormal_log2 sum_r (1 + sum q) */
    CLOSE(loss, r.loss,
          LKP_CROSS_ENTROPY_BATCH_LOSS_ULP * ulp(r.loss) + p2(LKP_CROSS_ENTROPY_BATCH_LOSS_REL_LOG2) * r.loss +
              r.f * C * p2(LKP_CROSS_ENTROPY_BATCH_SUBNORMAL_LOG2) * r.sub_total,
          what, 0);
    for (size_t row = 0; row < rows; row++) {
        SAME_BITS(per_row2[row], per_row[row], "batch per_row, loss-only form", row);
        /* per-row loss: the [cross_entropy_probs] loss bound */
        CLOSE(per_row[row], r.row_loss[row],
              LKP_CROSS_ENTROPY_PROBS_LOSS_ULP * ulp(r.row_loss[row]) +
                  p2(LKP_CROSS_ENTROPY_PROBS_SUM_REL_LOG2) * r.row_loss[row] +
                  C * p2(LKP_CROSS_ENTROPY_PROBS_SUBNORMAL_LOG2) * (1 + r.row_q[row]),
              "per-row loss", row);
        /* gradient: grad_ulp ULP of f max(|g_i|, p_i sum q, q_i)
         * + f (2^grad_rel_log2 p_i sum q + C 2^subnormal_log2 (1 + sum q)) */
        for (size_t i = 0; i < C; i++) {
            size_t k = row * C + i;
            double Q = r.row_q[row], g_unscaled = r.f == 0 ? 0 : r.g[k] / r.f;
            double scale = r.f * fmax(fabs(g_unscaled), fmax(r.p[k] * Q, r.q[k]));
            CLOSE(grad[k], r.g[k],
                  LKP_CROSS_ENTROPY_BATCH_GRAD_ULP * ulp(scale) +
                      r.f * (p2(LKP_CROSS_ENTROPY_BATCH_GRAD_REL_LOG2) * r.p[k] * Q +
                             C * p2(LKP_CROSS_ENTROPY_BATCH_SUBNORMAL_LOG2) * (1 + Q)),
                  "batch gradient", k);
        }
    }
}

static void test_cross_entropy_batch(void) {
    float z[B_N], grad[B_N], per_row[B_ROWS], weights[B_C], loss, buf[B_N];
    size_t t[B_ROWS] = {0, 3, 8, 2, 5, 3};
    lk_cross_entropy_options o;
    begin("lk_softmax_cross_entropy_batch(_with_grad)");
    for (int i = 0; i < B_N; i++) z[i] = uniform(-5.0f, 5.0f);
    for (int i = 0; i < B_C; i++) weights[i] = uniform(0.1f, 3.0f);
    check_batch(z, t, B_ROWS, B_C, NULL, "defaults (NULL options)");
    o.label_smoothing = 0.0f;
    o.class_weights = NULL;
    o.ignore_index = LK_NO_IGNORE_INDEX;
    o.reduction = LK_REDUCTION_SUM;
    check_batch(z, t, B_ROWS, B_C, &o, "sum");
    o.label_smoothing = 0.1f;
    o.class_weights = weights;
    o.ignore_index = 3; /* rows 1 and 5 */
    o.reduction = LK_REDUCTION_MEAN;
    check_batch(z, t, B_ROWS, B_C, &o, "smoothing, weights, ignore, mean");
    o.reduction = LK_REDUCTION_SUM;
    check_batch(z, t, B_ROWS, B_C, &o, "smoothing, weights, ignore, sum (reduction='none')");
    o.ignore_index = -100; /* PyTorch's default: none */
    o.label_smoothing = 1.0f;
    check_batch(z, t, B_ROWS, B_C, &o, "eps = 1, ignore -100");
    o.label_smoothing = 0.0f;
    o.class_weights = NULL;
    z[2 * B_C + 8] = 30.0f;     /* peaked row */
    z[4 * B_C + 1] = -INFINITY; /* a mask, target elsewhere */
    check_batch(z, t, B_ROWS, B_C, &o, "peaked and masked rows");
    o.label_smoothing = 0.25f; /* the mask carries target weight: row 4's loss is +inf */
    check_batch(z, t, B_ROWS, B_C, &o, "masked row with eps > 0");
    o.label_smoothing = 0.0f;
    check_batch(z, t, 3, 2 * B_C, &o, "3 rows of 18");
    {
        size_t t1[1] = {7};
        check_batch(z, t1, 1, B_N, &o, "one row of 54");
    }
    /* Special values. */
    {
        float zz[6] = {1.0f, 2.0f, 3.0f, 0.5f, NAN, 1.0f}, g2[6], pr[2];
        size_t tt[2] = {0, 2};
        STATUS(lk_softmax_cross_entropy_batch_with_grad(zz, 6, tt, 2, NULL, g2, pr, &loss), LK_OK);
        EXPECT(isnan(loss) && isnan(pr[1]) && !isnan(pr[0]), "NaN stays in its row's loss");
        EXPECT(isnan(g2[3]) && isnan(g2[5]) && !isnan(g2[0]) && !isnan(g2[2]), "NaN stays in its row's gradient");
        o.label_smoothing = 0.2f;
        o.class_weights = NULL;
        o.ignore_index = LK_NO_IGNORE_INDEX;
        o.reduction = LK_REDUCTION_MEAN;
        zz[4] = -INFINITY;
        STATUS(lk_softmax_cross_entropy_batch_with_grad(zz, 6, tt, 2, &o, g2, pr, &loss), LK_OK);
        SAME_BITS(pr[1], INFINITY, "eps > 0 with a -inf logit: +inf", 1);
        o.ignore_index = 2;
        tt[0] = 2;
        poison(g2, 6);
        STATUS(lk_softmax_cross_entropy_batch_with_grad(zz, 6, tt, 2, &o, g2, pr, &loss), LK_OK);
        SAME_BITS(loss, 0.0f, "every target ignored: loss 0", 0);
        for (int i = 0; i < 6; i++) SAME_BITS(g2[i], 0.0f, "every target ignored: zero gradient", i);
        o.ignore_index = 100; /* an ignore index beyond C is no error; nor is a target equal to it */
        tt[0] = 100;
        STATUS(lk_softmax_cross_entropy_batch_with_grad(zz, 6, tt, 2, &o, g2, NULL, &loss), LK_OK);
        STATUS(lk_softmax_cross_entropy_batch_with_grad(NULL, 0, NULL, 0, NULL, NULL, NULL, &loss), LK_OK);
        SAME_BITS(loss, 0.0f, "empty batch", 0);
    }
    /* Errors: nothing written. */
    {
        size_t tt[3] = {0, 1, 2};
        float w_bad[3] = {1.0f, -1.0f, 1.0f}, w_inf[3] = {1.0f, INFINITY, 1.0f};
        lk_cross_entropy_options e;
        e.label_smoothing = 0.0f;
        e.class_weights = NULL;
        e.ignore_index = LK_NO_IGNORE_INDEX;
        e.reduction = LK_REDUCTION_MEAN;
        poison(grad, B_N);
        poison(per_row, B_ROWS);
        poison(&loss, 1);
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 8, tt, 3, &e, grad, per_row, &loss), LK_NOT_WHOLE_ROWS);
        STATUS(lk_softmax_cross_entropy_batch(z, 8, tt, 3, &e, per_row, &loss), LK_NOT_WHOLE_ROWS);
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 8, NULL, 0, &e, grad, per_row, &loss), LK_NOT_WHOLE_ROWS);
        tt[2] = 3;
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 9, tt, 3, &e, grad, per_row, &loss), LK_CLASS_OUT_OF_RANGE);
        tt[2] = 2;
        e.label_smoothing = 1.5f;
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 9, tt, 3, &e, grad, per_row, &loss), LK_INVALID_PARAMETER);
        e.label_smoothing = NAN;
        STATUS(lk_softmax_cross_entropy_batch(z, 9, tt, 3, &e, per_row, &loss), LK_INVALID_PARAMETER);
        e.label_smoothing = 0.0f;
        e.class_weights = w_bad;
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 9, tt, 3, &e, grad, per_row, &loss), LK_INVALID_PARAMETER);
        e.class_weights = w_inf;
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 9, tt, 3, &e, grad, per_row, &loss), LK_INVALID_PARAMETER);
        e.class_weights = NULL;
        e.reduction = 2;
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 9, tt, 3, &e, grad, per_row, &loss), LK_INVALID_PARAMETER);
        e.reduction = -1;
        STATUS(lk_softmax_cross_entropy_batch(z, 9, tt, 3, &e, NULL, &loss), LK_INVALID_PARAMETER);
        e.reduction = LK_REDUCTION_SUM;
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 9, NULL, 3, &e, grad, per_row, &loss), LK_NULL_POINTER);
        STATUS(lk_softmax_cross_entropy_batch_with_grad(NULL, 9, tt, 3, &e, grad, per_row, &loss), LK_NULL_POINTER);
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 9, tt, 3, &e, NULL, per_row, &loss), LK_NULL_POINTER);
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 9, tt, 3, &e, grad, per_row, NULL), LK_NULL_POINTER);
        STATUS(lk_softmax_cross_entropy_batch(z, 9, tt, 3, &e, per_row, NULL), LK_NULL_POINTER);
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 9, tt, 3, &e, grad, misaligned(per_row), &loss), LK_INVALID_PARAMETER);
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 9, tt, 3, &e, misaligned(grad), per_row, &loss), LK_INVALID_PARAMETER);
        UNTOUCHED(grad, B_N);
        UNTOUCHED(per_row, B_ROWS);
        UNTOUCHED(&loss, 1);
        /* Overlap: per_row inside grad, grad over the logits or the class weights. */
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 9, tt, 3, &e, grad, grad + 4, &loss), LK_OVERLAP);
        memcpy(buf, z, 9 * sizeof(float));
        STATUS(lk_softmax_cross_entropy_batch_with_grad(buf, 9, tt, 3, &e, buf, per_row, &loss), LK_OVERLAP);
        STATUS(lk_softmax_cross_entropy_batch(buf, 9, tt, 3, &e, buf + 8, &loss), LK_OVERLAP);
        EXPECT(memcmp(buf, z, 9 * sizeof(float)) == 0, "overlapping batch wrote");
        e.class_weights = grad + 2;
        grad[2] = grad[3] = grad[4] = 1.0f;
        STATUS(lk_softmax_cross_entropy_batch_with_grad(z, 9, tt, 3, &e, grad, NULL, &loss), LK_OVERLAP);
        UNTOUCHED(per_row, B_ROWS);
        UNTOUCHED(&loss, 1);
    }
    end();
}

/* Probability-target batch: PyTorch's definition in double, row target
 * t_i = w_i ((1 - eps) q_i + eps/C), mean over rows. */
static void check_probs_batch(const float *z, const float *q, size_t rows, size_t C,
                              const lk_cross_entropy_options *o, const char *what) {
    double t[B_N], g[B_N], p[B_N], row_loss[B_ROWS], row_t[B_ROWS], total = 0, sub = 0;
    double eps = o ? o->label_smoothing : 0, f;
    const float *w = o ? o->class_weights : NULL;
    float grad[B_N], per_row[B_ROWS], per_row2[B_ROWS], loss = -1, loss_only = -2;
    int sum = o && o->reduction == LK_REDUCTION_SUM;
    f = sum ? 1.0 : 1.0 / (double)rows;
    for (size_t k = 0; k < rows * C; k++) t[k] = (w ? w[k % C] : 1.0) * ((1 - eps) * q[k] + eps / (double)C);
    for (size_t r = 0; r < rows; r++) {
        row_loss[r] = ref_row(z + r * C, C, t + r * C, g + r * C, p + r * C, &row_t[r]);
        total += row_loss[r];
        sub += 1 + row_t[r];
    }
    STATUS(lk_softmax_cross_entropy_probs_batch_with_grad(z, q, rows * C, C, o, grad, per_row, &loss), LK_OK);
    STATUS(lk_softmax_cross_entropy_probs_batch(z, q, rows * C, C, o, per_row2, &loss_only), LK_OK);
    SAME_BITS(loss_only, loss, "probability batch loss-only form", 0);
    /* [cross_entropy_probs_batch] reduced loss: loss_ulp ULP + 2^loss_rel_log2
     * relative + f C 2^subnormal_log2 sum_r (1 + sum t) */
    CLOSE(loss, total * f,
          LKP_CROSS_ENTROPY_PROBS_BATCH_LOSS_ULP * ulp(total * f) +
              p2(LKP_CROSS_ENTROPY_PROBS_BATCH_LOSS_REL_LOG2) * total * f +
              f * C * p2(LKP_CROSS_ENTROPY_PROBS_BATCH_SUBNORMAL_LOG2) * sub,
          what, 0);
    for (size_t r = 0; r < rows; r++) {
        SAME_BITS(per_row2[r], per_row[r], "probability batch per_row, loss-only form", r);
        CLOSE(per_row[r], row_loss[r],
              LKP_CROSS_ENTROPY_PROBS_BATCH_LOSS_ULP * ulp(row_loss[r]) +
                  p2(LKP_CROSS_ENTROPY_PROBS_BATCH_LOSS_REL_LOG2) * row_loss[r] +
                  C * p2(LKP_CROSS_ENTROPY_PROBS_BATCH_SUBNORMAL_LOG2) * (1 + row_t[r]),
              "probability batch per-row loss", r);
        /* gradient: grad_ulp ULP of f max(|g_i|, p_i sum t, t_i)
         * + f (2^grad_rel_log2 p_i sum t + C 2^subnormal_log2 (1 + sum t)) */
        for (size_t i = 0; i < C; i++) {
            size_t k = r * C + i;
            double T = row_t[r], scale = f * fmax(fabs(g[k]), fmax(p[k] * T, t[k]));
            CLOSE(grad[k], f * g[k],
                  LKP_CROSS_ENTROPY_PROBS_BATCH_GRAD_ULP * ulp(scale) +
                      f * (p2(LKP_CROSS_ENTROPY_PROBS_BATCH_GRAD_REL_LOG2) * p[k] * T +
                           C * p2(LKP_CROSS_ENTROPY_PROBS_BATCH_SUBNORMAL_LOG2) * (1 + T)),
                  "probability batch gradient", k);
        }
    }
    /* Neither weights nor smoothing, a sum: each row's bits are the single-row call's. */
    if (sum && !w && eps == 0) {
        for (size_t r = 0; r < rows; r++) {
            float own[B_N], single = -3;
            STATUS(lk_softmax_cross_entropy_probs_with_grad(z + r * C, q + r * C, C, own, &single), LK_OK);
            SAME_BITS(per_row[r], single, "probability batch row loss vs single row", r);
            for (size_t i = 0; i < C; i++)
                SAME_BITS(grad[r * C + i], own[i], "probability batch row gradient vs single row", r * C + i);
        }
    }
}

static void test_cross_entropy_probs_batch(void) {
    float z[B_N], q[B_N], grad[B_N], per_row[B_ROWS], weights[B_C], loss;
    lk_cross_entropy_options o;
    begin("lk_softmax_cross_entropy_probs_batch(_with_grad)");
    /* A known value: rows (0, 0 | 0.5, 0.5) and (3, -1 | 1, 0), the mean:
     * (ln 2 + ln(1 + e^-4)) / 2, a zero gradient on row 0. */
    {
        float zz[4] = {0.0f, 0.0f, 3.0f, -1.0f}, qq[4] = {0.5f, 0.5f, 1.0f, 0.0f}, g2[4], pr[2];
        double want0 = log(2.0), want1 = log1p(exp(-4.0)), want = (want0 + want1) / 2;
        STATUS(lk_softmax_cross_entropy_probs_batch_with_grad(zz, qq, 4, 2, NULL, g2, pr, &loss), LK_OK);
        CLOSE(loss, want, 4 * ulp(want), "known value: mean of ln 2 and ln(1 + e^-4)", 0);
        CLOSE(pr[0], want0, 4 * ulp(want0), "known value: row 0", 0);
        CLOSE(pr[1], want1, 4 * ulp(want1), "known value: row 1", 1);
        SAME_BITS(g2[0], 0.0f, "known value: row 0 gradient", 0);
        SAME_BITS(g2[1], 0.0f, "known value: row 0 gradient", 1);
        CLOSE(g2[3], 0.5 / (1.0 + exp(4.0)), 4 * ulp(0.5 / (1.0 + exp(4.0))), "known value: row 1 gradient", 3);
    }
    for (int i = 0; i < B_N; i++) {
        z[i] = uniform(-5.0f, 5.0f);
        q[i] = i % 4 == 0 ? 0.0f : uniform(0.0f, 1.0f);
    }
    for (int i = 0; i < B_C; i++) weights[i] = uniform(0.1f, 3.0f);
    check_probs_batch(z, q, B_ROWS, B_C, NULL, "defaults (NULL options)");
    o.label_smoothing = 0.0f;
    o.class_weights = NULL;
    o.ignore_index = LK_NO_IGNORE_INDEX;
    o.reduction = LK_REDUCTION_SUM;
    check_probs_batch(z, q, B_ROWS, B_C, &o, "sum");
    o.label_smoothing = 0.1f;
    o.class_weights = weights;
    o.reduction = LK_REDUCTION_MEAN;
    check_probs_batch(z, q, B_ROWS, B_C, &o, "smoothing, weights, mean");
    o.ignore_index = -100;
    o.reduction = LK_REDUCTION_SUM;
    check_probs_batch(z, q, B_ROWS, B_C, &o, "smoothing, weights, sum, ignore -100 (none)");
    o.label_smoothing = 0.0f;
    o.class_weights = NULL;
    check_probs_batch(z, q, 3, 2 * B_C, &o, "3 rows of 18");
    /* Errors: nothing written. */
    {
        float q_bad[9] = {0.5f, 0.5f, 0.0f, 0.5f, -0.25f, 0.5f, 0.5f, 0.5f, 0.0f};
        lk_cross_entropy_options e;
        e.label_smoothing = 0.0f;
        e.class_weights = NULL;
        e.ignore_index = LK_NO_IGNORE_INDEX;
        e.reduction = LK_REDUCTION_MEAN;
        poison(grad, B_N);
        poison(per_row, B_ROWS);
        poison(&loss, 1);
        STATUS(lk_softmax_cross_entropy_probs_batch_with_grad(z, q, 8, 3, &e, grad, per_row, &loss), LK_NOT_WHOLE_ROWS);
        STATUS(lk_softmax_cross_entropy_probs_batch(z, q, 8, 0, &e, per_row, &loss), LK_NOT_WHOLE_ROWS);
        STATUS(lk_softmax_cross_entropy_probs_batch_with_grad(z, q_bad, 9, 3, &e, grad, per_row, &loss), LK_INVALID_PARAMETER);
        e.ignore_index = 0; /* a zero-initialised struct: no ignore index for probability targets */
        STATUS(lk_softmax_cross_entropy_probs_batch_with_grad(z, q, 9, 3, &e, grad, per_row, &loss), LK_INVALID_PARAMETER);
        STATUS(lk_softmax_cross_entropy_probs_batch(z, q, 9, 3, &e, per_row, &loss), LK_INVALID_PARAMETER);
        e.ignore_index = LK_NO_IGNORE_INDEX;
        e.label_smoothing = 1.5f;
        STATUS(lk_softmax_cross_entropy_probs_batch_with_grad(z, q, 9, 3, &e, grad, per_row, &loss), LK_INVALID_PARAMETER);
        e.label_smoothing = 0.0f;
        e.reduction = 2;
        STATUS(lk_softmax_cross_entropy_probs_batch(z, q, 9, 3, &e, per_row, &loss), LK_INVALID_PARAMETER);
        e.reduction = LK_REDUCTION_SUM;
        STATUS(lk_softmax_cross_entropy_probs_batch_with_grad(z, NULL, 9, 3, &e, grad, per_row, &loss), LK_NULL_POINTER);
        STATUS(lk_softmax_cross_entropy_probs_batch_with_grad(z, q, 9, 3, &e, NULL, per_row, &loss), LK_NULL_POINTER);
        STATUS(lk_softmax_cross_entropy_probs_batch(z, q, 9, 3, &e, per_row, NULL), LK_NULL_POINTER);
        STATUS(lk_softmax_cross_entropy_probs_batch_with_grad(z, q, 9, 3, &e, misaligned(grad), per_row, &loss), LK_INVALID_PARAMETER);
        UNTOUCHED(grad, B_N);
        UNTOUCHED(per_row, B_ROWS);
        UNTOUCHED(&loss, 1);
        /* Overlap: grad over the targets, per_row inside grad. */
        {
            float buf[9];
            memcpy(buf, q, sizeof buf);
            STATUS(lk_softmax_cross_entropy_probs_batch_with_grad(z, buf, 9, 3, &e, buf, per_row, &loss), LK_OVERLAP);
            EXPECT(memcmp(buf, q, sizeof buf) == 0, "overlapping probability batch wrote");
        }
        STATUS(lk_softmax_cross_entropy_probs_batch_with_grad(z, q, 9, 3, &e, grad, grad + 4, &loss), LK_OVERLAP);
        UNTOUCHED(per_row, B_ROWS);
        UNTOUCHED(&loss, 1);
        /* An empty batch: loss 0. */
        STATUS(lk_softmax_cross_entropy_probs_batch_with_grad(NULL, NULL, 0, 3, NULL, NULL, NULL, &loss), LK_OK);
        SAME_BITS(loss, 0.0f, "empty probability batch", 0);
    }
    end();
}

/* ---- BCE with logits ------------------------------------------------------------- */

enum { BCE_N = 24 };

struct bce_case {
    const float *z, *y, *w;
    size_t n;
    int kind;
    float pos;
    const float *pos_w;
    size_t n_pos;
    float eps;
    int sum;
};

static double pos_at(const struct bce_case *c, size_t i) {
    if (c->kind == LK_POS_WEIGHT_ALL) return c->pos;
    if (c->kind == LK_POS_WEIGHT_PER_OUTPUT) return c->pos_w[i % c->n_pos];
    return 1.0;
}

static void check_bce(const struct bce_case *c, const char *what) {
    lk_bce_options o;
    float grad[BCE_N], per[BCE_N], per2[BCE_N], loss = -1, loss_only = -2;
    double total = 0, tol_sum = 0, s = c->sum ? 1.0 : 1.0 / (double)c->n;
    o.pos_weight_kind = c->kind;
    o.pos_weight = c->pos;
    o.pos_weights = c->pos_w;
    o.num_pos_weights = c->n_pos;
    o.weights = c->w;
    o.label_smoothing = c->eps;
    o.reduction = c->sum ? LK_REDUCTION_SUM : LK_REDUCTION_MEAN;
    STATUS(lk_bce_with_logits_with_grad(c->z, c->y, c->n, &o, grad, per, &loss), LK_OK);
    STATUS(lk_bce_with_logits(c->z, c->y, c->n, &o, per2, &loss_only), LK_OK);
    SAME_BITS(loss_only, loss, "BCE loss-only form", 0);
    for (size_t i = 0; i < c->n; i++) {
        /* smoothed labels exactly as the kernel forms them (the cases use
         * eps with y*(1 - eps) + eps/2 exact in float) */
        double z = c->z[i], y = c->y[i] * (1 - (double)c->eps) + 0.5 * c->eps;
        double w = c->w ? c->w[i] : 1.0, p = pos_at(c, i);
        double neg = (1 - y) == 0 ? 0 : (1 - y) * r_softplus(z);
        double pos = p * y == 0 ? 0 : p * y * r_softplus(-z);
        double l = w * (neg + pos);
        double sig = isinf(z) ? (z > 0) : r_sigmoid(z), sig_neg = isinf(z) ? (z < 0) : r_sigmoid(-z);
        double g = w * ((1 - y) * sig - p * y * sig_neg) * s;
        double a = isinf(z) ? 0 : fmax(fmax(1, w), fmax(p, w * p)) * (1 + fabs(z)) * p2(LKP_BCE_SUBNORMAL_LOG2);
        double scale = s * fmax(fabs(g / s), fmax(w * (1 - y) * sig, w * p * y * sig_neg));
        /* [bce]: loss_ulp ULP; gradient grad_ulp ULP of max(|g|, w(1-y)s(z), wpys(-z)) (times
         * 1/n for a mean); both plus max(1, w, p, wp)(1 + |z|) 2^subnormal_log2 */
        double tol_l = LKP_BCE_LOSS_ULP * ulp(l) + a;
        CLOSE(per[i], l, tol_l, "BCE element loss", i);
        SAME_BITS(per2[i], per[i], "BCE per_element, loss-only form", i);
        CLOSE(grad[i], g, LKP_BCE_GRAD_ULP * ulp(scale) + a, "BCE gradient", i);
        total += l;
        tol_sum += tol_l;
    }
    /* reduced loss: the element bounds summed (times 1/n), plus [sum] 2^rel_log2 relative,
     * plus half an ULP */
    CLOSE(loss, total * s, tol_sum * s + p2(LKP_SUM_REL_LOG2) * total * s + 0.5 * ulp(total * s), what, 0);
}

static void test_bce(void) {
    float z[BCE_N], y[BCE_N], w[BCE_N], grad[BCE_N], per[BCE_N], loss, buf[BCE_N];
    const float pos_w[3] = {1.0f, 2.0f, 0.5f};
    static const float labels[] = {0.0f, 1.0f, 0.5f, 0.25f, 0.75f};
    struct bce_case c;
    begin("lk_bce_with_logits(_with_grad)");
    for (int i = 0; i < BCE_N; i++) {
        z[i] = uniform(-12.0f, 12.0f);
        y[i] = labels[i % 5];
        w[i] = uniform(0.0f, 2.0f);
    }
    z[0] = 95.0f;  /* a subnormal sigmoid(-z): the absolute term */
    z[1] = -95.0f;
    z[2] = 0.0f;
    z[6] = 1e-3f;
    memset(&c, 0, sizeof c);
    c.z = z;
    c.y = y;
    c.n = BCE_N;
    check_bce(&c, "defaults, mean");
    c.sum = 1;
    check_bce(&c, "sum");
    c.w = w;
    c.kind = LK_POS_WEIGHT_ALL;
    c.pos = 2.5f;
    check_bce(&c, "weights, pos_weight all");
    c.kind = LK_POS_WEIGHT_PER_OUTPUT;
    c.pos_w = pos_w;
    c.n_pos = 3;
    c.sum = 0;
    check_bce(&c, "weights, pos_weight per output, mean");
    c.eps = 0.25f; /* y*(1 - eps) + eps/2 is exact in float for these labels */
    check_bce(&c, "label smoothing 0.25");
    c.n = 9;
    check_bce(&c, "9 elements (3 rows of 3 outputs)");
    {
        /* per-output pos_weights broadcast over rows: 3 must divide n */
        lk_bce_options o;
        memset(&o, 0, sizeof o);
        o.pos_weight_kind = LK_POS_WEIGHT_PER_OUTPUT;
        o.pos_weights = pos_w;
        o.num_pos_weights = 3;
        poison(grad, BCE_N);
        STATUS(lk_bce_with_logits_with_grad(z, y, 7, &o, grad, NULL, &loss), LK_LENGTH_MISMATCH);
        UNTOUCHED(grad, BCE_N);
    }
    c.n = 0;
    c.sum = 1;
    {
        lk_bce_options o;
        memset(&o, 0, sizeof o);
        STATUS(lk_bce_with_logits_with_grad(NULL, NULL, 0, &o, NULL, NULL, &loss), LK_OK);
        SAME_BITS(loss, 0.0f, "empty BCE", 0);
        STATUS(lk_bce_with_logits(NULL, NULL, 0, NULL, NULL, &loss), LK_OK);
    }
    /* Special values (weights 2, pos_weight 3, sum). */
    {
        const float zz[] = {INFINITY, INFINITY, -INFINITY, -INFINITY, NAN, 1.0f};
        const float yy[] = {1.0f, 0.5f, 0.0f, 0.25f, 1.0f, NAN};
        const float ww[] = {2.0f, 2.0f, 2.0f, 2.0f, 2.0f, 2.0f};
        const float l_want[] = {0.0f, INFINITY, 0.0f, INFINITY};
        const float g_want[] = {0.0f, 1.0f, 0.0f, -1.5f}; /* w(1-y); -wpy */
        lk_bce_options o;
        memset(&o, 0, sizeof o);
        o.pos_weight_kind = LK_POS_WEIGHT_ALL;
        o.pos_weight = 3.0f;
        o.weights = ww;
        o.reduction = LK_REDUCTION_SUM;
        STATUS(lk_bce_with_logits_with_grad(zz, yy, 6, &o, grad, per, &loss), LK_OK);
        for (int i = 0; i < 4; i++) {
            SAME_BITS(per[i], l_want[i], "BCE special loss", i);
            SAME_BITS(grad[i], g_want[i], "BCE special gradient", i);
        }
        EXPECT(isnan(per[4]) && isnan(grad[4]) && isnan(per[5]) && isnan(grad[5]) && isnan(loss),
               "NaN logit or label: NaN in that element (and the total)");
        STATUS(lk_bce_with_logits_with_grad(zz, yy, 4, &o, grad, NULL, &loss), LK_OK);
        SAME_BITS(loss, INFINITY, "BCE total with an infinite element", 0);
    }
    /* Errors: nothing written. */
    {
        lk_bce_options o;
        const float neg_w[3] = {1.0f, -2.0f, 1.0f};
        memset(&o, 0, sizeof o);
        poison(grad, BCE_N);
        poison(per, BCE_N);
        poison(&loss, 1);
        o.label_smoothing = 1.5f;
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, grad, per, &loss), LK_INVALID_PARAMETER);
        o.label_smoothing = 0.0f;
        o.weights = neg_w;
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, grad, per, &loss), LK_INVALID_PARAMETER);
        o.weights = NULL;
        o.pos_weight_kind = LK_POS_WEIGHT_ALL;
        o.pos_weight = -1.0f;
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, grad, per, &loss), LK_INVALID_PARAMETER);
        o.pos_weight = INFINITY;
        STATUS(lk_bce_with_logits(z, y, 3, &o, per, &loss), LK_INVALID_PARAMETER);
        o.pos_weight_kind = LK_POS_WEIGHT_PER_OUTPUT;
        o.pos_weights = NULL;
        o.num_pos_weights = 0;
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, grad, per, &loss), LK_LENGTH_MISMATCH);
        o.pos_weights = pos_w;
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, grad, per, &loss), LK_LENGTH_MISMATCH);
        o.pos_weights = neg_w;
        o.num_pos_weights = 3;
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, grad, per, &loss), LK_INVALID_PARAMETER);
        o.pos_weights = NULL;
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, grad, per, &loss), LK_NULL_POINTER);
        o.pos_weight_kind = 3;
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, grad, per, &loss), LK_INVALID_PARAMETER);
        o.pos_weight_kind = LK_POS_WEIGHT_NONE; /* pos_weights ignored: NULL with 3 is fine */
        o.reduction = 5;
        STATUS(lk_bce_with_logits(z, y, 3, &o, per, &loss), LK_INVALID_PARAMETER);
        o.reduction = LK_REDUCTION_MEAN;
        STATUS(lk_bce_with_logits_with_grad(NULL, y, 3, &o, grad, per, &loss), LK_NULL_POINTER);
        STATUS(lk_bce_with_logits_with_grad(z, NULL, 3, &o, grad, per, &loss), LK_NULL_POINTER);
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, NULL, per, &loss), LK_NULL_POINTER);
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, grad, per, NULL), LK_NULL_POINTER);
        STATUS(lk_bce_with_logits(z, y, 3, &o, per, NULL), LK_NULL_POINTER);
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, misaligned(grad), per, &loss), LK_INVALID_PARAMETER);
        UNTOUCHED(grad, BCE_N);
        UNTOUCHED(per, BCE_N);
        UNTOUCHED(&loss, 1);
        /* Overlap: per_element with grad, grad with the labels or the weights. */
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, grad, grad + 2, &loss), LK_OVERLAP);
        memcpy(buf, y, 3 * sizeof(float));
        STATUS(lk_bce_with_logits_with_grad(z, buf, 3, &o, buf, NULL, &loss), LK_OVERLAP);
        STATUS(lk_bce_with_logits(z, buf, 3, &o, buf + 1, &loss), LK_OVERLAP);
        EXPECT(memcmp(buf, y, 3 * sizeof(float)) == 0, "overlapping BCE wrote");
        o.weights = grad + 1;
        grad[1] = grad[2] = grad[3] = 1.0f;
        STATUS(lk_bce_with_logits_with_grad(z, y, 3, &o, grad, NULL, &loss), LK_OVERLAP);
        o.weights = NULL;
        o.pos_weight_kind = LK_POS_WEIGHT_PER_OUTPUT;
        o.pos_weights = per + 2;
        o.num_pos_weights = 2;
        per[2] = per[3] = 1.0f;
        STATUS(lk_bce_with_logits(z, y, 3, &o, per, &loss), LK_OVERLAP);
        UNTOUCHED(&loss, 1);
    }
    end();
}

/* ---- sigmoid focal loss ------------------------------------------------------------ */

static void check_focal(const float *z, const float *y, size_t n, const lk_focal_options *o,
                        const char *what) {
    float grad[BCE_N], per[BCE_N], per2[BCE_N], loss = -1, loss_only = -2;
    double gamma = o ? o->gamma : 2.0, total = 0, tol_sum = 0;
    int has_alpha = o ? o->has_alpha : 1, sum = o && o->reduction == LK_REDUCTION_SUM;
    double alpha = o ? o->alpha : 0.25, s = sum ? 1.0 : 1.0 / (double)n;
    STATUS(lk_sigmoid_focal_loss_with_grad(z, y, n, o, grad, per, &loss), LK_OK);
    STATUS(lk_sigmoid_focal_loss(z, y, n, o, per2, &loss_only), LK_OK);
    SAME_BITS(loss_only, loss, "focal loss-only form", 0);
    for (size_t i = 0; i < n; i++) {
        double zi = z[i], l, g, lnm; /* lnm = |ln(1 - p_t)| */
        double at = has_alpha ? (y[i] == 1 ? alpha : 1 - alpha) : 1.0;
        if (y[i] == 1) {
            lnm = r_softplus(zi);
            double mg = gamma == 0 ? 1 : exp(-gamma * lnm), ce = r_softplus(-zi);
            l = at * mg * ce;
            g = at * mg * (-gamma * r_sigmoid(zi) * ce - r_sigmoid(-zi));
        } else {
            lnm = r_softplus(-zi);
            double mg = gamma == 0 ? 1 : exp(-gamma * lnm), ce = r_softplus(zi);
            l = at * mg * ce;
            g = at * mg * (gamma * r_sigmoid(-zi) * ce + r_sigmoid(zi));
        }
        g *= s;
        /* [focal]: loss loss_ulp ULP + gamma |ln(1-p_t)| 2^conditioning_log2 relative; gradient
         * grad_ulp ULP + (2^grad_rel_log2 + gamma |ln(1-p_t)| 2^conditioning_log2) relative; both
         * plus (1 + gamma)(1 + |z|) 2^subnormal_log2 where (1 - p_t)^gamma is subnormal */
        double cond = gamma * lnm * p2(LKP_FOCAL_CONDITIONING_LOG2);
        double a = exp(-gamma * lnm) < 0x1p-126 ? (1 + gamma) * (1 + fabs(zi)) * p2(LKP_FOCAL_SUBNORMAL_LOG2) : 0;
        double tol_l = LKP_FOCAL_LOSS_ULP * ulp(l) + cond * l + a;
        CLOSE(per[i], l, tol_l, "focal element loss", i);
        SAME_BITS(per2[i], per[i], "focal per_element, loss-only form", i);
        CLOSE(grad[i], g,
              LKP_FOCAL_GRAD_ULP * ulp(g) + (p2(LKP_FOCAL_GRAD_REL_LOG2) + cond) * fabs(g) + a,
              "focal gradient", i);
        total += l;
        tol_sum += tol_l;
    }
    /* the reduced loss as for [bce] */
    CLOSE(loss, total * s, tol_sum * s + p2(LKP_SUM_REL_LOG2) * total * s + 0.5 * ulp(total * s), what, 0);
}

static void test_focal(void) {
    float z[BCE_N], y[BCE_N], grad[BCE_N], per[BCE_N], loss, buf[BCE_N];
    lk_focal_options o;
    begin("lk_sigmoid_focal_loss(_with_grad)");
    for (int i = 0; i < BCE_N; i++) {
        z[i] = uniform(-15.0f, 15.0f);
        y[i] = (float)(i % 2);
    }
    z[0] = 60.0f; /* y = 0: confidently wrong, loss ~ 60 */
    z[1] = 60.0f; /* y = 1: (1 - p_t)^gamma = sigmoid(-60)^gamma underflows: the absolute term */
    z[2] = -0.5f;
    check_focal(z, y, BCE_N, NULL, "defaults (NULL: gamma 2, alpha 0.25, mean)");
    o.gamma = 0.5f;
    o.has_alpha = false;
    o.alpha = 7.0f; /* ignored without has_alpha */
    o.reduction = LK_REDUCTION_SUM;
    check_focal(z, y, BCE_N, &o, "gamma 0.5, no alpha, sum");
    o.gamma = 5.0f;
    o.has_alpha = true;
    o.alpha = 0.75f;
    check_focal(z, y, BCE_N, &o, "gamma 5, alpha 0.75");
    o.gamma = 64.0f;
    check_focal(z, y, 9, &o, "gamma 64");
    /* [focal_gamma_zero]: gamma 0, labels 0 and 1, a sum: within ulp ULP of BCE with
     * weights alpha_t. */
    {
        float w[BCE_N], bgrad[BCE_N], bper[BCE_N], bloss;
        lk_bce_options b;
        o.gamma = 0.0f;
        o.has_alpha = true;
        o.alpha = 0.25f;
        o.reduction = LK_REDUCTION_SUM;
        for (int i = 0; i < BCE_N; i++) w[i] = y[i] == 1 ? 0.25f : 0.75f;
        memset(&b, 0, sizeof b);
        b.weights = w;
        b.reduction = LK_REDUCTION_SUM;
        STATUS(lk_sigmoid_focal_loss_with_grad(z, y, BCE_N, &o, grad, per, &loss), LK_OK);
        STATUS(lk_bce_with_logits_with_grad(z, y, BCE_N, &b, bgrad, bper, &bloss), LK_OK);
        for (int i = 0; i < BCE_N; i++) {
            CLOSE(per[i], bper[i], LKP_FOCAL_GAMMA_ZERO_ULP * ulp(bper[i]), "gamma 0 vs BCE loss", i);
            CLOSE(grad[i], bgrad[i], LKP_FOCAL_GAMMA_ZERO_ULP * ulp(bgrad[i]), "gamma 0 vs BCE gradient", i);
        }
    }
    /* Special values: infinite logits take the limits; NaN stays in its element. */
    {
        const float zz[] = {INFINITY, -INFINITY, INFINITY, -INFINITY, NAN, 1.0f};
        const float yy[] = {1.0f, 1.0f, 0.0f, 0.0f, 1.0f, NAN};
        const float l_want[] = {0.0f, INFINITY, INFINITY, 0.0f};
        const float g_want[] = {0.0f, -0.25f, 0.75f, 0.0f}; /* -alpha_t; +alpha_t */
        o.gamma = 2.0f;
        o.has_alpha = true;
        o.alpha = 0.25f;
        o.reduction = LK_REDUCTION_SUM;
        STATUS(lk_sigmoid_focal_loss_with_grad(zz, yy, 6, &o, grad, per, &loss), LK_OK);
        for (int i = 0; i < 4; i++) {
            SAME_BITS(per[i], l_want[i], "focal special loss", i);
            CLOSE(grad[i], g_want[i], LKP_FOCAL_GRAD_ULP * ulp(g_want[i]), "focal special gradient", i);
        }
        EXPECT(isnan(per[4]) && isnan(grad[4]) && isnan(per[5]) && isnan(grad[5]) && isnan(loss),
               "focal: NaN in that element (and the total)");
    }
    /* Errors: nothing written. */
    poison(grad, BCE_N);
    poison(per, BCE_N);
    poison(&loss, 1);
    o.gamma = -1.0f;
    o.has_alpha = false;
    o.reduction = LK_REDUCTION_MEAN;
    STATUS(lk_sigmoid_focal_loss_with_grad(z, y, 3, &o, grad, per, &loss), LK_INVALID_PARAMETER);
    o.gamma = INFINITY;
    STATUS(lk_sigmoid_focal_loss(z, y, 3, &o, per, &loss), LK_INVALID_PARAMETER);
    o.gamma = NAN;
    STATUS(lk_sigmoid_focal_loss(z, y, 3, &o, per, &loss), LK_INVALID_PARAMETER);
    o.gamma = 2.0f;
    o.has_alpha = true;
    o.alpha = 1.5f;
    STATUS(lk_sigmoid_focal_loss_with_grad(z, y, 3, &o, grad, per, &loss), LK_INVALID_PARAMETER);
    o.alpha = 0.5f;
    o.reduction = 9;
    STATUS(lk_sigmoid_focal_loss_with_grad(z, y, 3, &o, grad, per, &loss), LK_INVALID_PARAMETER);
    o.reduction = LK_REDUCTION_MEAN;
    STATUS(lk_sigmoid_focal_loss_with_grad(NULL, y, 3, &o, grad, per, &loss), LK_NULL_POINTER);
    STATUS(lk_sigmoid_focal_loss_with_grad(z, NULL, 3, &o, grad, per, &loss), LK_NULL_POINTER);
    STATUS(lk_sigmoid_focal_loss_with_grad(z, y, 3, &o, NULL, per, &loss), LK_NULL_POINTER);
    STATUS(lk_sigmoid_focal_loss_with_grad(z, y, 3, &o, grad, per, NULL), LK_NULL_POINTER);
    STATUS(lk_sigmoid_focal_loss(z, y, 3, &o, per, NULL), LK_NULL_POINTER);
    STATUS(lk_sigmoid_focal_loss(z, y, 3, &o, misaligned(per), &loss), LK_INVALID_PARAMETER);
    UNTOUCHED(grad, BCE_N);
    UNTOUCHED(per, BCE_N);
    UNTOUCHED(&loss, 1);
    STATUS(lk_sigmoid_focal_loss_with_grad(z, y, 3, &o, grad, grad + 1, &loss), LK_OVERLAP);
    memcpy(buf, z, 3 * sizeof(float));
    STATUS(lk_sigmoid_focal_loss_with_grad(buf, y, 3, &o, buf, NULL, &loss), LK_OVERLAP);
    STATUS(lk_sigmoid_focal_loss(buf, y, 3, &o, buf + 2, &loss), LK_OVERLAP);
    EXPECT(memcmp(buf, z, 3 * sizeof(float)) == 0, "overlapping focal wrote");
    UNTOUCHED(&loss, 1);
    STATUS(lk_sigmoid_focal_loss_with_grad(NULL, NULL, 0, NULL, NULL, NULL, &loss), LK_OK);
    SAME_BITS(loss, 0.0f, "empty focal loss", 0);
    end();
}

static void test_status_messages(void) {
    begin("lk_status_message");
    for (int32_t s = LK_OK; s <= LK_OVERLAP; s++) {
        const char *m = lk_status_message(s);
        EXPECT(m != NULL && strncmp(m, "LK_", 3) == 0, "message of %ld", (long)s);
    }
    EXPECT(strcmp(lk_status_message(LK_OVERLAP), "LK_OVERLAP: an output buffer overlaps an input or another output") == 0, "LK_OVERLAP text");
    EXPECT(strcmp(lk_status_message(-1), "unknown lk_status") == 0, "unknown status");
    EXPECT(strcmp(lk_status_message(1000), "unknown lk_status") == 0, "unknown status");
    end();
}

int main(void) {
    printf("logitkit C ABI test (%s)\n",
#if defined(__arm__)
           "arm"
#elif defined(__x86_64__)
           "x86-64"
#else
           "host"
#endif
    );
    make_lane_inputs();
    lane_family("lk_exp (+ _in_place, _into)", lk_exp, lk_exp_in_place, lk_exp_into, r_exp, LKP_EXP_ULP);
    lane_family("lk_ln (+ _in_place, _into)", lk_ln, lk_ln_in_place, lk_ln_into, r_ln, LKP_LN_ULP);
    lane_family("lk_ln_1p (+ _in_place, _into)", lk_ln_1p, lk_ln_1p_in_place, lk_ln_1p_into, r_ln_1p,
                LKP_LN_1P_ULP);
    lane_family("lk_sigmoid (+ _in_place, _into)", lk_sigmoid, lk_sigmoid_in_place, lk_sigmoid_into,
                r_sigmoid, LKP_SIGMOID_ULP);
    lane_family("lk_softplus (+ _in_place, _into)", lk_softplus, lk_softplus_in_place,
                lk_softplus_into, r_softplus, LKP_SOFTPLUS_ULP);
    lane_family("lk_log_sigmoid (+ _in_place, _into)", lk_log_sigmoid, lk_log_sigmoid_in_place,
                lk_log_sigmoid_into, r_log_sigmoid, LKP_LOG_SIGMOID_ULP);
    special_lane_values();
    sigmoid_backward_family("lk_sigmoid_backward", lk_sigmoid_backward, 0, LKP_SIGMOID_BACKWARD_ULP,
                            LKP_SIGMOID_BACKWARD_ABS_LOG2);
    sigmoid_backward_family("lk_softplus_backward", lk_softplus_backward, 1,
                            LKP_SOFTPLUS_BACKWARD_ULP, LKP_SOFTPLUS_BACKWARD_ABS_LOG2);
    sigmoid_backward_family("lk_log_sigmoid_backward", lk_log_sigmoid_backward, 2,
                            LKP_LOG_SIGMOID_BACKWARD_ULP, LKP_LOG_SIGMOID_BACKWARD_ABS_LOG2);
    test_log_sum_exp();
    test_softmax();
    test_softmax_backward();
    test_cross_entropy_class();
    test_cross_entropy_batch();
    test_cross_entropy_probs_batch();
    test_bce();
    test_focal();
    test_status_messages();
    printf("%ld checks, %ld failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
