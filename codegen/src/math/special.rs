//! `tanh`, `logistic` and `erf`.
//!
//! - **tanh**: `tanh |x| = m / (m + 2)` with `m = expm1(2|x|)` (accurate
//!   near 0, where it is `≈ |x|`, and near 1), `|x|` clamped to 10 (`f32`) or
//!   20 (`f64`) where `tanh` is 1 to the format's precision; the sign is
//!   copied from `x` by bits, so `tanh(-0) = -0`.
//! - **logistic**: with `t = e^-|x|` (never overflows), `1 / (1 + t)` for
//!   `x ≥ 0` and `t / (1 + t)` below, so tiny results keep their precision
//!   down to the subnormals.
//! - **erf**: `x + x P(x²)` for `|x| < 1` (minimax `P = erf(x)/x - 1`); above,
//!   `1 - erfc(|x|)` with `erfc` a polynomial in `|x| - c`: one piece on
//!   `[1, 4]` in `f32`, five on `[1, 1.6, 2.3, 3.2, 4.3, 6]` in `f64`, whose
//!   coefficients are selected per element. `|x|` is clamped to the last
//!   piece, past which `erf` rounds to 1; the sign is copied from `x`.

use super::coeffs::*;
use super::emit::{Emitter, Ft};
use super::exp_log::{exp, expm1_raw};
use crate::kernel::ValueId;

/// `tanh x`.
pub(super) fn tanh(e: &mut Emitter, ft: Ft, x: ValueId) -> ValueId {
    let ax = e.abs(x);
    let cap = e.f(ft, ft.pick(10.0, 20.0));
    let axc = e.min(ax, cap);
    let two_x = e.add(axc, axc);
    let m = expm1_raw(e, ft, two_x);
    let two = e.f(ft, 2.0);
    let den = e.add(m, two);
    let t = e.div(m, den);
    e.copysign(ft, t, x)
}

/// `1 / (1 + e^-x)`.
pub(super) fn logistic(e: &mut Emitter, ft: Ft, x: ValueId) -> ValueId {
    let ax = e.abs(x);
    let nax = e.neg(ax);
    let t = exp(e, ft, nax);
    let one = e.f(ft, 1.0);
    let zero = e.f(ft, 0.0);
    let nonneg = e.ge(x, zero);
    let num = e.select(nonneg, one, t);
    let den = e.add(one, t);
    e.div(num, den)
}

/// The `f64` pieces of `erfc` on `[1, 6]`: lower bounds and tables.
const ERFC_F64_PIECES: [(f64, &[f64; 16], f64); 5] = [
    (1.0, &ERFC_F64_0, ERFC_F64_0_CENTER),
    (1.6, &ERFC_F64_1, ERFC_F64_1_CENTER),
    (2.3, &ERFC_F64_2, ERFC_F64_2_CENTER),
    (3.2, &ERFC_F64_3, ERFC_F64_3_CENTER),
    (4.3, &ERFC_F64_4, ERFC_F64_4_CENTER),
];

/// `erfc a` for `a ∈ [1, end]` (clamped there by the caller).
fn erfc_pieces(e: &mut Emitter, ft: Ft, a: ValueId) -> ValueId {
    match ft {
        Ft::F32 => {
            let c = e.f(ft, ERFC_F32_CENTER);
            let t = e.sub(a, c);
            e.horner(ft, t, &ERFC_F32)
        }
        Ft::F64 => {
            // Select each coefficient (and the center) by the piece `a` is in.
            let above: Vec<ValueId> = ERFC_F64_PIECES[1..]
                .iter()
                .map(|&(lo, _, _)| {
                    let lo = e.f(ft, lo);
                    e.ge(a, lo)
                })
                .collect();
            let pick = |e: &mut Emitter, value: &dyn Fn(usize) -> f64| {
                let mut v = e.f(ft, value(0));
                for (p, &cond) in above.iter().enumerate() {
                    let other = e.f(ft, value(p + 1));
                    v = e.select(cond, other, v);
                }
                v
            };
            let center = pick(e, &|p| ERFC_F64_PIECES[p].2);
            let t = e.sub(a, center);
            let n = ERFC_F64_0.len();
            let mut acc = pick(e, &|p| ERFC_F64_PIECES[p].1[n - 1]);
            for j in (0..n - 1).rev() {
                let c = pick(e, &|p| ERFC_F64_PIECES[p].1[j]);
                acc = e.fma(acc, t, c);
            }
            acc
        }
    }
}

/// `erf x`.
pub(super) fn erf(e: &mut Emitter, ft: Ft, x: ValueId) -> ValueId {
    let ax = e.abs(x);
    let z = e.mul(x, x);
    let p = e.horner(ft, z, ft.pick(&ERF_SMALL_F32[..], &ERF_SMALL_F64[..]));
    let small = e.fma(x, p, x);
    let end = e.f(ft, ft.pick(4.0, 6.0));
    let a = e.min(ax, end);
    let erfc = erfc_pieces(e, ft, a);
    let one = e.f(ft, 1.0);
    let large = e.sub(one, erfc);
    let large = e.copysign(ft, large, x);
    let is_small = e.lt(ax, one);
    e.select(is_small, small, large)
}
