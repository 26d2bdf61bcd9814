//! `exp`, `expm1`, `log`, `log1p` and `pow`.
//!
//! - **exp**: `x` is clamped to the range where the result is neither
//!   certainly infinite nor certainly zero (NaN passes through the clamps);
//!   `k = floor(x log2(e) + 1/2)`, `r = x - k ln2` by Cody–Waite with a
//!   two-part `ln 2` and FMAs (the first step is exact); `e^r = 1 + r +
//!   r² q(r)` with the minimax `q` of `EXP_Q_*`; the result is scaled by
//!   `2^k` as two factors `2^(k>>1) · 2^(k-(k>>1))` built from exponent bits,
//!   so results near overflow and in the subnormal range round once.
//! - **expm1**: the same reduction; `expm1(r) = r + r² q(r)` (the same
//!   `q`), then `2^k expm1(r) + (2^k - 1)` in one FMA while `2^k - 1` is
//!   exact, and `(1 + expm1(r)) 2^k - 1` beyond; `±0` is returned as is.
//! - **log**: subnormals are scaled by `2^24` (`2^54`); the exponent and the
//!   mantissa are split by integer arithmetic on the bits, offset so that
//!   `m ∈ [√½, √2)`; with `f = m - 1` (exact), `s = f / (2 + f)` and `z = s²`,
//!   `log1p(f) = f - f²/2 + s (f²/2 + z P(z))`, summed with `k ln 2` in two
//!   parts (the order of fdlibm's `log`); zero, negative, infinite and NaN
//!   arguments are selected at the end.
//! - **log1p**: `u = 1 + x` with its exact rounding error `δ` (TwoSum); the
//!   logarithm of `u` as above with `f` replaced by `f + δ 2^-k`, so
//!   `log1p(x) = log(u + δ)` keeps the bits `1 + x` lost.
//! - **pow**: computed in `f64` for both types as `|x|^y = exp(y log|x|)`.
//!   An `f32` pow converts its operands (exactly), uses the `f64` `log` and
//!   `exp` above (`|y log|x|| < 104` keeps their error far below an `f32`
//!   ulp) and rounds once. An `f64` pow takes `log|x|` as a double word
//!   accurate to about 2^-64 relative (the division `s = f/(2+f)` with its
//!   remainder, `(2/3) s³` in double-word arithmetic, the tail `s⁵ T(s²)` in
//!   plain `f64`), keeps the product `y log|x|` as a double word, and adds
//!   its low part to the reduced argument of `exp`. IEEE special cases (those of C's
//!   `pow` and Rust's `powf`) are selected at the end: `y = ±0` or `x = 1`
//!   give 1, `(-1)^±∞ = 1`, NaN otherwise propagates, a negative `x` with an
//!   odd integer `y` negates the result and with a non-integer finite `y`
//!   gives NaN; zeros and infinities of `x` and `y` fall out of the
//!   arithmetic with `log 0 = -∞` and `log ∞ = ∞`.

use super::coeffs::*;
use super::emit::{Emitter, Ft};
use crate::kernel::{ScalarType, ValueId};

/// `(k, r)` with `x = k ln2 + r`, `|r| ≲ ln2/2`, `k` a float integer.
fn reduce_ln2(e: &mut Emitter, ft: Ft, x: ValueId) -> (ValueId, ValueId) {
    let log2e = e.f(ft, ft.pick(LOG2_E[0], LOG2_E[1]));
    let half = e.f(ft, 0.5);
    let t = e.fma(x, log2e, half);
    let k = e.floor(t);
    let nk = e.neg(k);
    let ln2 = ft.pick(LN2_F32, LN2_F64);
    let (hi, lo) = (e.f(ft, ln2[0]), e.f(ft, ln2[1]));
    let r = e.fma(nk, hi, x);
    let r = e.fma(nk, lo, r);
    (k, r)
}

/// `e^r - 1 = r + r² q(r)` for a reduced `r`.
fn expm1_poly(e: &mut Emitter, ft: Ft, r: ValueId) -> ValueId {
    let q = e.horner(ft, r, ft.pick(&EXP_Q_F32[..], &EXP_Q_F64[..]));
    let r2 = e.mul(r, r);
    e.fma(r2, q, r)
}

/// `y · 2^k` for an integer `k` with `|k| ≤ 2·bias`, in two exact steps
/// and one final rounding.
fn scale(e: &mut Emitter, ft: Ft, y: ValueId, k: ValueId) -> ValueId {
    let one = e.i(ft, 1);
    let k1 = e.sra(k, one);
    let k2 = e.sub(k, k1);
    let s1 = e.pow2(ft, k1);
    let s2 = e.pow2(ft, k2);
    let y = e.mul(y, s1);
    e.mul(y, s2)
}

/// `x` clamped to `[lo, hi]` (NaN stays NaN).
fn clamp(e: &mut Emitter, ft: Ft, x: ValueId, lo: f64, hi: f64) -> ValueId {
    let (lo, hi) = (e.f(ft, lo), e.f(ft, hi));
    let x = e.min(x, hi);
    e.max(x, lo)
}

/// `e^x`.
pub(super) fn exp(e: &mut Emitter, ft: Ft, x: ValueId) -> ValueId {
    let (lo, hi) = ft.pick((-104.0, 89.0), (-746.0, 710.0));
    let xc = clamp(e, ft, x, lo, hi);
    let (k, r) = reduce_ln2(e, ft, xc);
    let em = expm1_poly(e, ft, r);
    let one = e.f(ft, 1.0);
    let y = e.add(one, em);
    let ki = e.small_float_to_int(ft, k);
    scale(e, ft, y, ki)
}

/// `e^x - 1` without the `±0` fix-up (for `tanh`, whose argument is `≥ 0`).
pub(super) fn expm1_raw(e: &mut Emitter, ft: Ft, x: ValueId) -> ValueId {
    let (lo, hi) = ft.pick((-30.0, 89.0), (-40.0, 710.0));
    let xc = clamp(e, ft, x, lo, hi);
    let (k, r) = reduce_ln2(e, ft, xc);
    let em = expm1_poly(e, ft, r);
    let ki = e.small_float_to_int(ft, k);
    // 2^k - 1 is exact for k ≤ mant + 1.
    let cap = e.i(ft, ft.mant() + 1);
    let kmid = e.min(ki, cap);
    let s = e.pow2(ft, kmid);
    let one = e.f(ft, 1.0);
    let sm1 = e.sub(s, one);
    let mid = e.fma(s, em, sm1);
    let y = e.add(one, em);
    let big = scale(e, ft, y, ki);
    let big = e.sub(big, one);
    let is_big = e.gt(ki, cap);
    e.select(is_big, big, mid)
}

/// `e^x - 1`.
pub(super) fn expm1(e: &mut Emitter, ft: Ft, x: ValueId) -> ValueId {
    let r = expm1_raw(e, ft, x);
    let zero = e.f(ft, 0.0);
    let is_zero = e.eq(x, zero);
    e.select(is_zero, x, r)
}

/// The reduced logarithm argument of a positive `u`: `(k, f)` with
/// `u = 2^k (1 + f)`, `1 + f ∈ [√½, √2)` and `f` exact (`k` is
/// integer-typed).
/// Garbage for zero, infinite, negative or NaN `u`.
fn split_log(e: &mut Emitter, ft: Ft, u: ValueId) -> (ValueId, ValueId) {
    let (min_normal, sc, sc_exp) = ft.pick(
        (f64::from(f32::MIN_POSITIVE), 16_777_216.0, -24),
        (f64::MIN_POSITIVE, 18_014_398_509_481_984.0, -54),
    );
    let min_normal = e.f(ft, min_normal);
    let tiny = e.lt(u, min_normal);
    let sc = e.f(ft, sc);
    let scaled = e.mul(u, sc);
    let us = e.select(tiny, scaled, u);
    let (adj, no_adj) = (e.i(ft, sc_exp), e.i(ft, 0));
    let eadj = e.select(tiny, adj, no_adj);
    let bits = e.bitcast(ft.ity(), us);
    let sqh_bits = ft.pick(
        i64::from((SQRT_HALF[0] as f32).to_bits()),
        SQRT_HALF[1].to_bits() as i64,
    );
    let sqh = e.i(ft, sqh_bits);
    let d = e.sub(bits, sqh);
    let mant = e.i(ft, ft.mant());
    let k = e.sra(d, mant);
    let k = e.add(k, eadj);
    let mask = e.i(ft, (1i64 << ft.mant()) - 1);
    let mbits = e.and(d, mask);
    let mbits = e.add(mbits, sqh);
    let m = e.bitcast(ft.ty(), mbits);
    let one = e.f(ft, 1.0);
    let f = e.sub(m, one);
    (k, f)
}

/// `log u` for a positive normal or subnormal finite `u`; with `delta`,
/// `log(u + delta)` for a `delta` below half an ulp of `u`.
fn log_core(e: &mut Emitter, ft: Ft, u: ValueId, delta: Option<ValueId>) -> ValueId {
    let (k, mut f) = split_log(e, ft, u);
    if let Some(delta) = delta {
        // f += delta 2^-k, with 2^-k kept in the normal range.
        let cap = e.i(ft, ft.bias() - 1);
        let kc = e.min(k, cap);
        let nk = e.neg(kc);
        let s = e.pow2(ft, nk);
        f = e.fma(delta, s, f);
    }
    let dk = e.convert(ft.ty(), k);
    let two = e.f(ft, 2.0);
    let den = e.add(two, f);
    let s = e.div(f, den);
    let z = e.mul(s, s);
    let p = e.horner(ft, z, ft.pick(&LOG_P_F32[..], &LOG_P_F64[..]));
    let r = e.mul(z, p);
    let half = e.f(ft, 0.5);
    let hf = e.mul(half, f);
    let hfsq = e.mul(hf, f);
    let ln2 = ft.pick(LN2_F32, LN2_F64);
    let (ln2_hi, ln2_lo) = (e.f(ft, ln2[0]), e.f(ft, ln2[1]));
    // s (hfsq + R) + k ln2_lo - hfsq + f + k ln2_hi
    let t1 = e.add(hfsq, r);
    let klo = e.mul(dk, ln2_lo);
    let t2 = e.fma(s, t1, klo);
    let t3 = e.sub(t2, hfsq);
    let t4 = e.add(t3, f);
    e.fma(dk, ln2_hi, t4)
}

/// The result for arguments outside `(0, ∞)`, given the argument `u` whose
/// logarithm is taken: `-∞` at zero, NaN below, `u` itself (∞ or NaN).
fn log_special(e: &mut Emitter, ft: Ft, u: ValueId, core: ValueId) -> ValueId {
    let zero = e.f(ft, 0.0);
    let inf = e.f(ft, f64::INFINITY);
    let ninf = e.f(ft, f64::NEG_INFINITY);
    let nan = e.f(ft, f64::NAN);
    let pos = e.gt(u, zero);
    let fin = e.lt(u, inf);
    let normal = e.and(pos, fin);
    let neg = e.lt(u, zero);
    let other = e.select(neg, nan, u);
    let is_zero = e.eq(u, zero);
    let special = e.select(is_zero, ninf, other);
    e.select(normal, core, special)
}

/// `ln x`.
pub(super) fn log(e: &mut Emitter, ft: Ft, x: ValueId) -> ValueId {
    let core = log_core(e, ft, x, None);
    log_special(e, ft, x, core)
}

/// `ln(1 + x)`.
pub(super) fn log1p(e: &mut Emitter, ft: Ft, x: ValueId) -> ValueId {
    let one = e.f(ft, 1.0);
    let (u, delta) = two_sum(e, one, x);
    let core = log_core(e, ft, u, Some(delta));
    let r = log_special(e, ft, u, core);
    let zero = e.f(ft, 0.0);
    let is_zero = e.eq(x, zero);
    e.select(is_zero, x, r)
}

/// `(s, err)` with `s = a + b` rounded and `s + err = a + b` exactly.
fn two_sum(e: &mut Emitter, a: ValueId, b: ValueId) -> (ValueId, ValueId) {
    let s = e.add(a, b);
    let bb = e.sub(s, a);
    let ab = e.sub(s, bb);
    let da = e.sub(a, ab);
    let db = e.sub(b, bb);
    let err = e.add(da, db);
    (s, err)
}

/// [`two_sum`] for `|a| ≥ |b|`.
fn fast_two_sum(e: &mut Emitter, a: ValueId, b: ValueId) -> (ValueId, ValueId) {
    let s = e.add(a, b);
    let t = e.sub(s, a);
    let err = e.sub(b, t);
    (s, err)
}

/// `(hi, lo)` with `hi + lo ≈ ln u` to about 2^-64 relative, for a positive
/// finite `u` (`f64`).
fn log_dw(e: &mut Emitter, u: ValueId) -> (ValueId, ValueId) {
    let ft = Ft::F64;
    let (k, f) = split_log(e, ft, u);
    // s = f / (2 + f) as a double word.
    let two = e.f(ft, 2.0);
    let (dh, dl) = fast_two_sum(e, two, f);
    let sh = e.div(f, dh);
    let nsh = e.neg(sh);
    let rem = e.fma(nsh, dh, f);
    let rem = e.fma(nsh, dl, rem);
    let sl = e.div(rem, dh);
    // s³ ≈ sh³ + 3 sh² sl as a double word.
    let zh = e.mul(sh, sh);
    let nzh = e.neg(zh);
    let zl = e.fma(sh, sh, nzh);
    let ch = e.mul(sh, zh);
    let nch = e.neg(ch);
    let cl = e.fma(sh, zh, nch);
    let cl = e.fma(sh, zl, cl);
    let three = e.f(ft, 3.0);
    let three_zh = e.mul(three, zh);
    let cl = e.fma(three_zh, sl, cl);
    // (2/3) s³ as a double word.
    let (th, tl) = (e.f(ft, TWO_THIRDS_F64[0]), e.f(ft, TWO_THIRDS_F64[1]));
    let ph = e.mul(th, ch);
    let nph = e.neg(ph);
    let pl = e.fma(th, ch, nph);
    let pl = e.fma(th, cl, pl);
    let pl = e.fma(tl, ch, pl);
    // s⁵ T(s²) in plain f64.
    let t = e.horner(ft, zh, &LOG_T_F64);
    let s5 = e.mul(ch, zh);
    let tail = e.mul(s5, t);
    // k ln2 as a double word.
    let dk = e.convert(ft.ty(), k);
    let (ln2_hi, ln2_lo) = (e.f(ft, LN2_F64[0]), e.f(ft, LN2_F64[1]));
    let kh = e.mul(dk, ln2_hi);
    let nkh = e.neg(kh);
    let kl = e.fma(dk, ln2_hi, nkh);
    let kl = e.fma(dk, ln2_lo, kl);
    // Sum: kh + 2sh + ph + (kl + 2sl + pl + tail).
    let two_sh = e.mul(two, sh);
    let two_sl = e.mul(two, sl);
    let (ah, al) = two_sum(e, kh, two_sh);
    let (bh, bl) = two_sum(e, ah, ph);
    let lo = e.add(al, bl);
    let lo = e.add(lo, kl);
    let lo = e.add(lo, two_sl);
    let lo = e.add(lo, pl);
    let lo = e.add(lo, tail);
    fast_two_sum(e, bh, lo)
}

/// `e^(ph + pl)` for a double word (`f64`); `pl` is ignored when `ph` is
/// out of range.
fn exp_dw(e: &mut Emitter, ph: ValueId, pl: ValueId) -> ValueId {
    let ft = Ft::F64;
    let aph = e.abs(ph);
    let thousand = e.f(ft, 1000.0);
    let in_range = e.lt(aph, thousand);
    let zero = e.f(ft, 0.0);
    let pl = e.select(in_range, pl, zero);
    let phc = clamp(e, ft, ph, -746.0, 710.0);
    let (k, r) = reduce_ln2(e, ft, phc);
    let r = e.add(r, pl);
    let em = expm1_poly(e, ft, r);
    let one = e.f(ft, 1.0);
    let y = e.add(one, em);
    let ki = e.small_float_to_int(ft, k);
    scale(e, ft, y, ki)
}

/// `x^y`, computed in `f64` (see the module docs).
pub(super) fn pow(e: &mut Emitter, ft: Ft, x: ValueId, y: ValueId) -> ValueId {
    match ft {
        Ft::F32 => {
            let (x, y) = (e.convert(ScalarType::F64, x), e.convert(ScalarType::F64, y));
            let r = pow64(e, x, y, false);
            e.convert(ScalarType::F32, r)
        }
        Ft::F64 => pow64(e, x, y, true),
    }
}

/// `x^y` in `f64`; `double_word` carries `log|x|` and `y log|x|` as double
/// words (needed for `f64` results; an `f32` result needs only `f64`).
fn pow64(e: &mut Emitter, x: ValueId, y: ValueId, double_word: bool) -> ValueId {
    let ft = Ft::F64;
    let ax = e.abs(x);
    let (lh, ll) = if double_word {
        let (hi, lo) = log_dw(e, ax);
        (hi, Some(lo))
    } else {
        (log_core(e, ft, ax, None), None)
    };
    // log|x| at the ends: -∞ at 0, ∞ at ∞ (NaN is handled below).
    let zero = e.f(ft, 0.0);
    let inf = e.f(ft, f64::INFINITY);
    let ninf = e.f(ft, f64::NEG_INFINITY);
    let ax_zero = e.eq(ax, zero);
    let ax_inf = e.eq(ax, inf);
    let lh = e.select(ax_inf, inf, lh);
    let lh = e.select(ax_zero, ninf, lh);
    let ph = e.mul(y, lh);
    let r = match ll {
        Some(ll) => {
            // y log|x| as a double word.
            let nph = e.neg(ph);
            let pl = e.fma(y, lh, nph);
            let pl = e.fma(y, ll, pl);
            exp_dw(e, ph, pl)
        }
        None => exp(e, ft, ph),
    };
    // Signs and special cases.
    let one = e.f(ft, 1.0);
    let nan = e.f(ft, f64::NAN);
    let half = e.f(ft, 0.5);
    let fy = e.floor(y);
    let ay = e.abs(y);
    let y_fin = e.lt(ay, inf);
    let y_int = e.eq(fy, y);
    let y_int = e.and(y_int, y_fin);
    let hy = e.mul(half, y);
    let fhy = e.floor(hy);
    let y_odd = e.ne(fhy, hy);
    let y_odd = e.and(y_int, y_odd);
    let xbits = e.bitcast(ft.ity(), x);
    let izero = e.i(ft, 0);
    let x_signed = e.lt(xbits, izero);
    let flip = e.and(x_signed, y_odd);
    let nr = e.neg(r);
    let r = e.select(flip, nr, r);
    let x_neg = e.lt(x, zero);
    let x_gt_ninf = e.gt(x, ninf);
    let x_neg_fin = e.and(x_neg, x_gt_ninf);
    let not_int = e.not(y_int);
    let frac_y = e.and(not_int, y_fin);
    let bad = e.and(x_neg_fin, frac_y);
    let r = e.select(bad, nan, r);
    let x_nan = e.ne(x, x);
    let y_nan = e.ne(y, y);
    let any_nan = e.or(x_nan, y_nan);
    let r = e.select(any_nan, nan, r);
    let y_zero = e.eq(y, zero);
    let x_one = e.eq(x, one);
    let ax_one = e.eq(ax, one);
    let y_inf = e.eq(ay, inf);
    let unit_inf = e.and(ax_one, y_inf);
    let ones = e.or(y_zero, x_one);
    let ones = e.or(ones, unit_inf);
    e.select(ones, one, r)
}
