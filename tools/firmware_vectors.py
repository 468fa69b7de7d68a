#!/usr/bin/env python3
"""Test vectors for the firmware self-test (firmware/selftest), computed
offline with mpmath at 160 bits, independently of logitkit.

    python3 tools/firmware_vectors.py > firmware/selftest/src/vectors.rs

Every expected value is the exact real result of the function on the exact
f32 inputs, rounded to f64 (so the firmware can measure errors far below one
f32 ULP), with the absolute tolerance the function's doc comment allows,
computed from that exact value and the bounds of docs/precision.toml (the
table the host tests read too). A tolerance of 0 means "exactly this value"
(infinities, zeros of either sign), -1 means "these exact f32 bits" (a signed
zero). NaN means "any NaN".

Inputs are f32 bit patterns so nothing depends on decimal parsing.
"""

import math
import pathlib
import random
import struct
import tomllib

import mpmath
from mpmath import mp, mpf

mp.prec = 160

PRECISION = tomllib.loads(
    (pathlib.Path(__file__).resolve().parent.parent / "docs" / "precision.toml").read_text()
)


def B(kernel, key):
    """A documented bound from docs/precision.toml (`*_log2` keys give the
    power of two they name), as an mpf."""
    v = PRECISION[kernel][key]
    return mpf(2) ** int(v) if key.endswith("_log2") else mpf(v)

INF = float("inf")
NAN = float("nan")
F32_MAX = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))[0]


def f32(x):
    """Round a Python float (or mpf) to the nearest f32, as a Python float."""
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return x
    if abs(x) >= 2.0**128 * (1 - 2.0**-25):
        return math.copysign(INF, x)
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64_bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def ulp32(v):
    """One f32 ULP at the (real) value v; 2^-149 among subnormals."""
    a = abs(mpf(v))
    if a < mpf(2) ** -126:
        return mpf(2) ** -149
    e = int(mpmath.floor(mpmath.log(a, 2)))
    # Guard the floor against rounding right at a power of two.
    if mpf(2) ** e > a:
        e -= 1
    elif mpf(2) ** (e + 1) <= a:
        e += 1
    return mpf(2) ** (e - 23)


def m(x):
    """An f32 input as an exact mpf (inf and nan kept)."""
    return mpf(x)


class Ref:
    """Expected value (exact, rounded to f64) and absolute tolerance."""

    def __init__(self, want, tol):
        self.want, self.tol = want, tol

    def rust(self):
        w, t = self.want, self.tol
        return f"R::new(f64::from_bits(0x{f64_bits(w):016x}), f64::from_bits(0x{f64_bits(t):016x}))"


def exact(v):
    """The value must be exactly v (+0 and -0 both match a zero)."""
    return Ref(float(v), 0.0)


def exact_bits(v):
    """The value must be these exact f32 bits (the sign of a zero matters)."""
    return Ref(float(v), -1.0)


def ref(value, tol):
    """A finite real value with a tolerance; values that round to ±inf or
    to an f32 zero must be hit exactly."""
    value = mpf(value)
    if mpmath.isnan(value):
        return Ref(NAN, 0.0)
    if mpmath.isinf(value):
        return Ref(float(value), 0.0)
    r = f32(value)
    if math.isinf(r):
        return exact(r)
    return Ref(float(value), float(tol))


def ulps(value, n):
    return ref(value, n * ulp32(value))


# ---------------------------------------------------------------- lane math
def sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


def softplus(x):
    if x > 0:
        return x + mpmath.log1p(mpmath.exp(-x))
    return mpmath.log1p(mpmath.exp(x))


def unary_ref(name, x):
    """Expected result of `name` at the f32 x, with the documented bound."""
    if math.isnan(x):
        return Ref(NAN, 0.0)
    X = m(x)
    if name == "exp":
        if x == INF:
            return exact(INF)
        if x == -INF:
            return exact_bits(0.0)
        v = mpmath.exp(X)
        if f32(v) == 0.0:
            return exact(0.0)
        return ulps(v, B("exp", "ulp"))
    if name == "ln":
        if x < 0:
            return Ref(NAN, 0.0)
        if x == 0:
            return exact(-INF)
        if x == INF:
            return exact(INF)
        if x == 1.0:
            return exact(0.0)
        return ulps(mpmath.log(X), B("ln", "ulp"))
    if name == "ln_1p":
        if x < -1:
            return Ref(NAN, 0.0)
        if x == -1:
            return exact(-INF)
        if x == INF:
            return exact(INF)
        if x == 0:
            return exact_bits(x)  # keeps the sign of zero
        return ulps(mpmath.log1p(X), B("ln_1p", "ulp"))
    if name == "sigmoid":
        if x == INF:
            return exact(1.0)
        if x == -INF:
            return exact(0.0)
        return ulps(sigmoid(X), B("sigmoid", "ulp"))
    if name == "softplus":
        if x == INF:
            return exact(INF)
        if x == -INF:
            return exact(0.0)
        return ulps(softplus(X), B("softplus", "ulp"))
    if name == "log_sigmoid":
        if x == INF:
            return exact_bits(-0.0)
        if x == -INF:
            return exact(-INF)
        # log_sigmoid is −softplus(−x) bit for bit: softplus's bound.
        return ulps(-softplus(-X), B("softplus", "ulp"))
    raise ValueError(name)


def unary_points(rng):
    pts = [
        0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 10.0, -10.0, 88.5, 88.72, 88.73, -87.0,
        -100.0, -103.9, -104.0, -200.0, 1e-30, -1e-30, 1e-7, -1e-7, 1e-3,
        0.69935584, 0.7044891, -5.84602, 0.28233033, -5.870786, -7.2494493, -5.880908, -5.890461, -5.860681, -6.557306, -0.7334264, -1.293093, -0.5, -0.999,
        -0.9999999, 3.0e38, F32_MAX, -F32_MAX, 1e-40, 1.4e-45, -1.4e-45, 20.0,
        -20.0, 17.0, -17.0, 100.0, INF, -INF, NAN,
    ]
    for _ in range(40):
        pts.append(rng.uniform(-90.0, 90.0))
    for _ in range(20):
        pts.append(rng.uniform(-1.0, 1.0))
    for _ in range(20):
        pts.append(math.exp(rng.uniform(-80.0, 80.0)))
    return [f32(p) for p in pts]


# ------------------------------------------------------------ softmax rows
def row_refs(z, t, q):
    """lse, softmax, log_softmax, CE(class t) loss + grad, CE(probs q) loss
    + grad for the f32 row z (docs/contract.md for non-finite rows)."""
    n = len(z)
    Q = mpmath.fsum(m(v) for v in q)
    if any(math.isnan(v) for v in z):
        nan = Ref(NAN, 0.0)
        return dict(lse=nan, softmax=[nan] * n, log_softmax=[nan] * n, loss=nan,
                    grad=[nan] * n, probs_loss=nan, probs_grad=[nan] * n)
    mx = max(z)
    if mx == -INF:
        return dict(
            lse=exact(-INF), softmax=[exact(0.0)] * n, log_softmax=[exact(-INF)] * n,
            loss=exact(INF), grad=[exact(-1.0 if i == t else 0.0) for i in range(n)],
            probs_loss=exact(INF if Q > 0 else 0.0),
            probs_grad=[exact(-v) for v in q],  # −q (exact: q are f32)
        )
    if mx == INF:
        k = sum(1 for v in z if v == INF)
        p = [mpf(1) / k if v == INF else mpf(0) for v in z]
        lnk = mpmath.log(k)
        loss = lnk if z[t] == INF else mpf("inf")
        ploss = mpf(0)
        for v, qi in zip(z, q):
            if qi > 0:
                ploss += m(qi) * lnk if v == INF else mpf("inf")
        return dict(
            lse=exact(INF),
            softmax=[ulps(v, B("softmax", "ulp")) if v else exact(0.0) for v in p],
            log_softmax=[ulps(-lnk, B("log_softmax", "ulp")) if v == INF else exact(-INF) for v in z],
            loss=exact(0.0) if k == 1 and z[t] == INF else (ulps(loss, B("cross_entropy", "loss_ulp")) if not mpmath.isinf(loss) else exact(INF)),
            grad=[ulps(p[i] - (1 if i == t else 0), B("cross_entropy", "grad_ulp")) if p[i] - (1 if i == t else 0) else exact(0.0) for i in range(n)],
            probs_loss=ulps(ploss, B("cross_entropy_probs", "loss_ulp")) if not mpmath.isinf(ploss) else exact(INF),
            probs_grad=[ulps(p[i] * Q - m(q[i]), B("cross_entropy_probs", "grad_ulp")) for i in range(n)],
        )
    M = m(mx)
    terms = [mpmath.exp(m(v) - M) if v != -INF else mpf(0) for v in z]
    S = mpmath.fsum(terms)
    s_excess = S - 1
    lse = M + mpmath.log(S)
    out = {}
    lse_sub = n * B("log_sum_exp", "subnormal_log2")
    out["lse"] = ref(
        lse,
        B("log_sum_exp", "ulp") * ulp32(lse) + B("log_sum_exp", "rel_log2") * s_excess / S + lse_sub,
    )
    p = [tm / S for tm in terms]
    out["softmax"] = [
        ref(v, B("softmax", "ulp") * ulp32(v) + B("softmax", "rel_log2") * v) if v != 0 else exact(0.0)
        for v in p
    ]
    out["log_softmax"] = [
        ref(m(v) - lse, B("log_softmax", "ulp") * ulp32(m(v) - lse) + B("log_softmax", "abs_log2"))
        if v != -INF else exact(-INF)
        for v in z
    ]
    ce_sub = n * B("cross_entropy", "subnormal_log2")
    loss = lse - m(z[t]) if z[t] != -INF else mpf("inf")
    out["loss"] = (
        exact(INF) if mpmath.isinf(loss) else ref(
            loss,
            B("cross_entropy", "loss_ulp") * ulp32(loss) + B("cross_entropy", "loss_rel_log2") * loss + ce_sub,
        )
    )
    g = [p[i] - (1 if i == t else 0) for i in range(n)]
    gmax = max(abs(v) for v in g)
    floor = B("cross_entropy", "grad_floor_log2") * gmax
    out["grad"] = [
        ref(
            v,
            B("cross_entropy", "grad_ulp") * ulp32(max(abs(v), floor))
            + B("cross_entropy", "grad_rel_log2") * abs(v)
            + (ce_sub if i == t else 0),
        )
        for i, v in enumerate(g)
    ]
    ploss = mpf(0)
    for v, qi in zip(z, q):
        if qi > 0:
            ploss += m(qi) * (lse - m(v)) if v != -INF else mpf("inf")
    probs_sub = n * B("cross_entropy_probs", "subnormal_log2") * (1 + Q)
    out["probs_loss"] = (
        exact(INF) if mpmath.isinf(ploss) else ref(
            ploss,
            B("cross_entropy_probs", "loss_ulp") * ulp32(ploss)
            + B("cross_entropy_probs", "sum_rel_log2") * ploss
            + probs_sub,
        )
    )
    pg = [p[i] * Q - m(q[i]) for i in range(n)]
    out["probs_grad"] = [
        ref(
            v,
            B("cross_entropy_probs", "grad_ulp") * ulp32(max(abs(v), p[i] * Q, m(q[i])))
            + B("cross_entropy_probs", "grad_rel_log2") * p[i] * Q
            + probs_sub,
        )
        if (v != 0 or p[i] * Q != 0) else exact(0.0)
        for i, v in enumerate(pg)
    ]
    return out


def rows(rng):
    def gauss(n, s):
        return [f32(rng.gauss(0.0, s)) for _ in range(n)]

    def dist(n, zero_at=()):
        w = [0.0 if i in zero_at else rng.uniform(0.05, 1.0) for i in range(n)]
        if not any(w):  # a fully masked row: target weight on masked logits
            w = [1.0] * n
        tot = sum(w)
        return [f32(v / tot) for v in w]

    big = gauss(40, 10.0)
    r = []
    r.append(("three", [2.0, 1.0, 0.1], 0, None))
    r.append(("n01_17", gauss(17, 1.0), 5, None))
    r.append(("n0_100_40_argmax", big, big.index(max(big)), None))
    r.append(("n0_100_40_argmin", big, big.index(min(big)), None))
    r.append(("single", [3.5], 0, None))
    r.append(("tiny_loss", [30.0, 0.0, -1.0, 2.0, -5.0], 0, None))
    r.append(("spread_1e30", [1e30, -1e30, 0.0, 5.0], 2, None))
    r.append(("max_max", [F32_MAX, F32_MAX], 1, None))
    r.append(("max_minus_max", [F32_MAX, -F32_MAX, 0.0], 1, None))
    r.append(("near_overflow", [88.7, -88.7, 103.97, -103.97, 0.0], 3, None))
    r.append(("subnormals", [1e-40, -1e-40, 1.4e-45, 0.0, -0.0], 1, None))
    r.append(("all_equal_9", [0.25] * 9, 4, None))
    r.append(("masks", [1.0, -INF, 2.0, -INF, 0.5], 2, [0.3, 0.0, 0.5, 0.0, 0.2]))
    r.append(("masked_target", [1.0, -INF, 2.0], 1, [0.5, 0.2, 0.3]))
    r.append(("all_masked", [-INF, -INF, -INF], 1, None))
    r.append(("two_inf_target", [INF, 0.0, INF, -INF], 2, None))
    r.append(("inf_not_target", [INF, 1.0, -3.0], 1, [0.0, 1.0, 0.0]))
    r.append(("nan", [1.0, NAN, 2.0], 0, None))
    r.append(("n01_64", gauss(64, 3.0), 63, None))
    out = []
    for name, z, t, q in r:
        z = [f32(v) for v in z]
        if q is None:
            zero = tuple(i for i, v in enumerate(z) if v == -INF)
            q = dist(len(z), zero)
        q = [f32(v) for v in q]
        out.append((name, z, t, q, row_refs(z, t, q)))
    return out


# ---------------------------------------------------------------- BCE/focal
def bce_case(name, z, y, pw, w, reduction, eps=0.0, w_per_output=False):
    """PyTorch's BCE with logits written as (1−y)·softplus(z) + p·y·softplus(−z).

    With label smoothing ε the label is the exact y·(1 − ε) + ε/2 and its
    complement (1 − y)·(1 − ε) + ε/2; per-output weights w of shape [C]
    broadcast over rows (element i takes w[i % C]).
    """
    n = len(z)
    scale = mpf(1) / n if reduction == "Mean" else mpf(1)
    losses, grads, total, nan, tol_sum = [], [], mpf(0), False, mpf(0)
    for i in range(n):
        zi, yi = z[i], y[i]
        p = m(pw[i % len(pw)]) if pw else mpf(1)
        wi = m(w[i % len(w)] if w_per_output else w[i]) if w else mpf(1)
        if math.isnan(zi) or math.isnan(yi):
            losses.append(Ref(NAN, 0.0))
            grads.append(Ref(NAN, 0.0))
            nan = True
            continue
        E = m(eps)
        Y = m(yi) * (1 - E) + E / 2
        notY = (1 - m(yi)) * (1 - E) + E / 2
        a, b = wi * notY, wi * p * Y
        if zi == INF:
            sp, spn, sg, sgn = mpf("inf"), mpf(0), mpf(1), mpf(0)
        elif zi == -INF:
            sp, spn, sg, sgn = mpf(0), mpf("inf"), mpf(0), mpf(1)
        else:
            Z = m(zi)
            sp, spn, sg, sgn = softplus(Z), softplus(-Z), sigmoid(Z), sigmoid(-Z)
        loss = (a * sp if a else 0) + (b * spn if b else 0)
        g = (a * sg - b * sgn) * scale
        # Documented absolute term: a partial product that underflows.
        sub = max(1, wi, p, wi * p) * (1 + abs(m(zi)) if not math.isinf(zi) else 1) * B("bce", "subnormal_log2")
        if mpmath.isinf(loss):
            losses.append(exact(INF))
        elif loss == 0:
            losses.append(exact(0.0))
        else:
            losses.append(ref(loss, B("bce", "loss_ulp") * ulp32(loss) + sub))
        gref = max(abs(g), a * sg * scale, b * sgn * scale)
        grads.append(exact(0.0) if gref == 0 else ref(g, B("bce", "grad_ulp") * ulp32(gref) + sub * scale))
        total += loss
        tol_sum += mpf(losses[-1].tol) if not mpmath.isinf(loss) else 0
    if nan:
        tot = Ref(NAN, 0.0)
    elif mpmath.isinf(total):
        tot = exact(INF)
    else:
        T = total * scale
        tot = ref(T, tol_sum * scale + ulp32(T) + B("sum", "rel_log2") * T)
    return dict(name=name, z=z, y=y, pw=pw, w=w, reduction=reduction, eps=eps,
                w_per_output=w_per_output, loss=losses, grad=grads, total=tot)


def focal_case(name, z, y, gamma, alpha, reduction):
    """torchvision's sigmoid_focal_loss and its derivative in z."""
    n = len(z)
    scale = mpf(1) / n if reduction == "Mean" else mpf(1)
    G = m(gamma)
    losses, grads, total, tol_sum = [], [], mpf(0), mpf(0)
    for zi, yi in zip(z, y):
        Z, Y = m(zi), m(yi)
        sg, sgn = sigmoid(Z), sigmoid(-Z)
        ce = (1 - Y) * softplus(Z) + Y * softplus(-Z)
        mm = Y * sgn + (1 - Y) * sg  # 1 − p_t
        at = (m(alpha) * Y + (1 - m(alpha)) * (1 - Y)) if alpha is not None else mpf(1)
        mg = mm**G if gamma else mpf(1)
        loss = at * ce * mg
        dce = (1 - Y) * sg - Y * sgn
        dm = sg * sgn * (1 - 2 * Y)
        focus = ce * G * mm ** (G - 1) * dm if gamma else mpf(0)
        g = at * (dce * mg + focus) * scale
        # The documented bounds: the conditioning of x ↦ x^γ enters as
        # γ·|ln(1 − p_t)|·2⁻²³ relative; a subnormal (1 − p_t)^γ as an
        # absolute (1 + γ)(1 + |z|)·2⁻¹⁴⁸.
        cond = G * abs(mpmath.log(mm)) * B("focal", "conditioning_log2") if mm > 0 else mpf(0)
        sub = (1 + G) * (1 + abs(Z)) * B("focal", "subnormal_log2")
        losses.append(ref(loss, B("focal", "loss_ulp") * ulp32(loss) + cond * loss + sub))
        grads.append(ref(g, B("focal", "grad_ulp") * ulp32(g)
                         + (B("focal", "grad_rel_log2") + cond) * abs(g) + sub * scale))
        total += loss
        tol_sum += mpf(losses[-1].tol)
    T = total * scale
    return dict(name=name, z=z, y=y, gamma=gamma, alpha=alpha, reduction=reduction,
                loss=losses, grad=grads,
                total=ref(T, tol_sum * scale + ulp32(T) + B("sum", "rel_log2") * T))


def bce_cases(rng):
    z1 = [3.0, -1.0, 0.0, -200.0, 200.0, 1e-8, -17.0, 25.0, INF, INF, -INF, -INF]
    y1 = [1.0, 0.0, 1.0, 0.0, 1.0, 0.5, 0.25, 0.0, 1.0, 0.0, 0.0, 1.0]
    z2 = [f32(rng.gauss(0, 4)) for _ in range(8)]
    y2 = [float(rng.random() < 0.5) for _ in range(8)]
    w2 = [f32(rng.uniform(0.0, 2.0)) for _ in range(8)]
    z3 = [1.0, NAN, -2.0, 0.5]
    y3 = [1.0, 0.0, 0.0, 1.0]
    return [
        bce_case("mixed_sum", [f32(v) for v in z1], y1, [], None, "Sum"),
        bce_case("pos_weight_mean8", z2, y2, [3.5], w2, "Mean"),
        bce_case("per_output_pw", z2, y2, [1.0, 2.0], None, "Sum"),
        bce_case("nan_element", z3, y3, [], None, "Sum"),
        # y = 1 with small ε and large z: the loss is about (ε/2)·z, where a
        # complement taken from the rounded smoothed label cancelled.
        bce_case("smoothing_small_complement", [f32(v) for v in [30.0, 80.0, 5.0, -40.0]],
                 [1.0, 1.0, 0.0, 0.0], [], None, "Sum", eps=f32(1e-3)),
        bce_case("per_output_weights_smoothed", z2, y2, [2.0, 0.5], w2[:4], "Mean",
                 eps=f32(0.1), w_per_output=True),
    ]


def focal_cases(rng):
    z = [3.0, -1.0, 0.0, -30.0, 30.0, 0.7, -4.5, 12.0]
    y = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    z2 = [f32(rng.gauss(0, 3)) for _ in range(16)]
    y2 = [float(rng.random() < 0.3) for _ in range(16)]
    return [
        focal_case("default_sum", z, y, 2.0, 0.25, "Sum"),
        focal_case("gamma0_noalpha_mean8", z, y, 0.0, None, "Mean"),
        focal_case("gamma5_random", z2, y2, 5.0, 0.5, "Sum"),
    ]


# ------------------------------------------------------------------ output
def f32s(xs):
    return "&[" + ", ".join(f"f32::from_bits(0x{f32_bits(x):08x})" for x in xs) + "]"


def refs(rs):
    return "&[\n            " + ",\n            ".join(r.rust() for r in rs) + ",\n        ]"


def main():
    rng = random.Random(6)
    o = []
    w = o.append
    w("// @generated by `python3 tools/firmware_vectors.py > firmware/selftest/src/vectors.rs`")
    w("// from mpmath (160-bit) references; do not edit. Inputs are f32 bit patterns;")
    w("// each R is (exact value rounded to f64, absolute tolerance from the")
    w("// function's documented bound; tolerance 0 = exactly this value, -1 = these")
    w("// exact f32 bits, a signed zero; NaN = any NaN).")
    w("#![allow(clippy::all)]")
    w("use crate::check::{BceCase, FocalCase, R, RowCase, Unary};")
    w("")
    pts = unary_points(rng)
    for name in ["exp", "ln", "ln_1p", "sigmoid", "softplus", "log_sigmoid"]:
        w(f"pub const {name.upper()}: &[Unary] = &[")
        for x in pts:
            w(f"    Unary {{ x: f32::from_bits(0x{f32_bits(x):08x}), r: {unary_ref(name, x).rust()} }}, // {x!r}")
        w("];")
        w("")
    w("pub const ROWS: &[RowCase] = &[")
    for name, z, t, q, rr in rows(rng):
        w("    RowCase {")
        w(f'        name: "{name}",')
        w(f"        z: {f32s(z)},")
        w(f"        target: {t},")
        w(f"        q: {f32s(q)},")
        w(f"        lse: {rr['lse'].rust()},")
        for key in ["softmax", "log_softmax", "grad", "probs_grad"]:
            w(f"        {key}: {refs(rr[key])},")
        w(f"        loss: {rr['loss'].rust()},")
        w(f"        probs_loss: {rr['probs_loss'].rust()},")
        w("    },")
    w("];")
    w("")
    w("pub const BCE: &[BceCase] = &[")
    for c in bce_cases(rng):
        w("    BceCase {")
        w(f'        name: "{c["name"]}",')
        w(f"        z: {f32s(c['z'])},")
        w(f"        y: {f32s(c['y'])},")
        w(f"        pos_weight: {f32s(c['pw'])},")
        w(f"        weights: {('Some(' + f32s(c['w']) + ')') if c['w'] else 'None'},")
        w(f"        weights_per_output: {'true' if c['w_per_output'] else 'false'},")
        w(f"        label_smoothing: f32::from_bits(0x{f32_bits(c['eps']):08x}),")
        w(f"        sum: {'true' if c['reduction'] == 'Sum' else 'false'},")
        w(f"        loss: {refs(c['loss'])},")
        w(f"        grad: {refs(c['grad'])},")
        w(f"        total: {c['total'].rust()},")
        w("    },")
    w("];")
    w("")
    w("pub const FOCAL: &[FocalCase] = &[")
    for c in focal_cases(rng):
        w("    FocalCase {")
        w(f'        name: "{c["name"]}",')
        w(f"        z: {f32s(c['z'])},")
        w(f"        y: {f32s(c['y'])},")
        w(f"        gamma: {float(c['gamma'])!r},")
        w(f"        alpha: {('Some(' + repr(float(c['alpha'])) + ')') if c['alpha'] is not None else 'None'},")
        w(f"        sum: {'true' if c['reduction'] == 'Sum' else 'false'},")
        w(f"        loss: {refs(c['loss'])},")
        w(f"        grad: {refs(c['grad'])},")
        w(f"        total: {c['total'].rust()},")
        w("    },")
    w("];")
    print("\n".join(o))


if __name__ == "__main__":
    main()
