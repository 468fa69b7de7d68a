#!/usr/bin/env python3
"""Fit the polynomial coefficients used by logitkit's lane math.

Run: python3 tools/fit_coefficients.py   (needs mpmath: pip install mpmath)

Each fit is a Chebyshev interpolant computed by mpmath.chebyfit at 60 digits,
which is within a small factor of the minimax polynomial, then rounded to the
nearest f32. The printed max errors are those of the f32-rounded polynomial,
measured on a dense grid in high precision. The final accuracy claim is not
this script's: it is proved by the exhaustive tests in tests/elementwise_ulp.rs.
"""
import struct
import mpmath as mp

mp.mp.dps = 60


def f32(x):
    return struct.unpack("<f", struct.pack("<f", float(x)))[0]


def f32_hex(x):
    return "0x%08x" % struct.unpack("<I", struct.pack("<f", x))[0]


def fit(name, f, lo, hi, degree):
    coeffs, _ = mp.chebyfit(f, [lo, hi], degree + 1, error=True)
    coeffs = [f32(c) for c in reversed(coeffs)]  # lowest degree first
    worst = mp.mpf(0)
    for i in range(4001):
        x = lo + (hi - lo) * i / 4000
        p = mp.mpf(0)
        for c in reversed(coeffs):
            p = p * x + mp.mpf(c)
        worst = max(worst, abs(p - f(x)))
    print(f"// {name}: degree {degree} on [{mp.nstr(lo, 8)}, {mp.nstr(hi, 8)}], "
          f"max abs error of the f32 coefficients {mp.nstr(worst, 3)}")
    print(f"const {name}: [f32; {len(coeffs)}] = [")
    for c in coeffs:
        print(f"    f32::from_bits({f32_hex(c)}), // {c!r}")
    print("];")
    print()


def exp_tail(r):
    # (e^r - 1 - r) / r^2, the part of exp's polynomial after 1 + r.
    if abs(r) < mp.mpf("1e-20"):
        return mp.mpf(1) / 2 + r / 6
    return (mp.expm1(r) - r) / (r * r)


def ln_tail(f):
    # (ln(1 + f) - f) / f^2, the part of ln(1 + f) after f.
    if abs(f) < mp.mpf("1e-20"):
        return -mp.mpf(1) / 2 + f / 3
    return (mp.log1p(f) - f) / (f * f)


# exp: x = n ln2 + r. n comes from rounding x*log2(e) in f32, so |r| can
# exceed ln2/2 by a few ulps; fit a little wider than [-ln2/2, ln2/2].
# Degree 5 where multiply-adds fuse (aarch64). The unfused builds' degree-4
# EXP_TAIL, and LN_UNIT_TAIL below, come from tools/relative_fits.sollya:
# fits of the whole polynomial for its relative error, which a fit of the
# tail alone does not weigh.
half_ln2 = mp.log(2) / 2 + mp.mpf("1e-4")
fit("EXP_TAIL_FUSED", exp_tail, -half_ln2, half_ln2, 5)

# ln: x = 2^k m with m in [sqrt(1/2), sqrt(2)), f = m - 1.
fit("LN_TAIL", ln_tail, mp.sqrt(0.5) - 1, mp.sqrt(2) - 1, 9)

# ln(1 + t) for t in [0, 1] (the sigmoid family's t = e^-|x|, LN_UNIT_TAIL):
# tools/relative_fits.sollya.

# 1/(1 + t) on [0, 1], only to scale the exponential's low part in softplus
# (a few per cent of a term below 2^-24 of the result).
fit("RECIP_1P", lambda t: 1 / (1 + t), mp.mpf(0), mp.mpf(1), 1)

# Constants of the range reductions, with their exact bit patterns.
ln2 = mp.log(2)
# LN2_HI keeps 16 significant bits so that n * LN2_HI is exact for |n| < 2^8.
ln2_hi = f32(mp.floor(ln2 * 2**16) / 2**16)
ln2_lo = f32(ln2 - ln2_hi)
print(f"const LN2_HI: f32 = f32::from_bits({f32_hex(ln2_hi)}); // {ln2_hi!r}")
print(f"const LN2_LO: f32 = f32::from_bits({f32_hex(ln2_lo)}); // {ln2_lo!r}")
log2e = f32(1 / ln2)
print(f"const LOG2_E: f32 = f32::from_bits({f32_hex(log2e)}); // {log2e!r}")

# exp with a table (builds with a lane permute: 8 entries, every second
# entry of the 16, for exp on AVX2 and AVX-512F; 16 for the sigmoid
# family's split exponential on AVX-512F): x = (n/N) ln2 + r,
# |r| <= ln2/(2N) (plus the few ulps of rounding x*N*log2(e) in f32, as
# above), e^x = 2^(n div N) * 2^(j/N) * e^r with j = n mod N. 2^(j/16) is
# stored as hi + lo (lo below 2^-24 of hi); e^r - 1 - r = r^2 * tail(r) with
# a lower degree than without a table. ln2/8 and N*log2(e) are the N = 16
# constants scaled by a power of two (exact).
print("// 2^(j/16) = EXP_TABLE_HI[j] + EXP_TABLE_LO[j]")
for part in ("HI", "LO"):
    print(f"const EXP_TABLE_{part}: [f32; 16] = [")
    for j in range(16):
        v = mp.mpf(2) ** (mp.mpf(j) / 16)
        hi = f32(v)
        c = hi if part == "HI" else f32(v - mp.mpf(hi))
        print(f"    f32::from_bits({f32_hex(c)}), // {c!r}")
    print("];")
# exp(x) with the 8-entry table uses hi alone (hi*p + hi, one rounding): the
# error hi carries, as a fraction of one ULP of the largest result it scales
# (2^(j/N) * e^(ln2/(2N)), in the same binade here), plus the final
# rounding's half ULP bounds that exp below 1 ULP when this stays well
# below one half. Printed for both table sizes.
for n in (8, 16):
    worst = max(
        abs(mp.mpf(f32(mp.mpf(2) ** (mp.mpf(j) / n))) - mp.mpf(2) ** (mp.mpf(j) / n))
        / (mp.mpf(2) ** (mp.mpf(j) / n))
        * (mp.mpf(2) ** (mp.mpf(j) / n) * mp.e ** (ln2 / (2 * n)))
        / mp.mpf(2) ** -23
        for j in range(n)
    )
    print(f"// {n}-entry table, hi alone: at most {float(worst):.3f} ULP of the result")
step = ln2 / 16
step_hi = f32(step)
step_lo = f32(step - mp.mpf(step_hi))
print(f"const LN2_BY_16_HI: f32 = f32::from_bits({f32_hex(step_hi)}); // {step_hi!r}")
print(f"const LN2_BY_16_LO: f32 = f32::from_bits({f32_hex(step_lo)}); // {step_lo!r}")
for n, tail_degree in ((16, 1), (8, 2)):
    half = ln2 / (2 * n) * (1 + mp.mpf("1e-3"))
    fit(f"EXP_TABLE_{n}_TAIL", exp_tail, -half, half, tail_degree)
