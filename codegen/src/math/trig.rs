//! `sin` and `cos`.
//!
//! `k = floor(x 2/π + 1/2)` and `r = x - k π/2` by Cody–Waite with a
//! three-part `π/2` and FMAs: the first step is exact, and the other two
//! leave `r` with a relative error of about two roundings even when `x` is
//! close to a multiple of `π/2` (for `|x|` up to about `2^21` in `f32` and
//! far beyond in `f64`, while `k` is computed exactly). Then
//! `sin r = r + r³ S(r²)` and `cos r = 1 - r²/2 + r⁴ C(r²)` (minimax `S`,
//! `C` on `|r| ≤ 0.7874`; the `1 - r²/2` rounding error is added back), and
//! the quadrant `k mod 4` picks `±sin r` or `±cos r` (`cos x = sin(x + π/2)`
//! is quadrant `k + 1`). The result is clamped to `[-1, 1]`, which only
//! matters where the reduction has lost all accuracy (huge `|x|`); `sin ±0`
//! returns its argument.

use super::coeffs::*;
use super::emit::{Emitter, Ft};
use crate::kernel::ValueId;

/// `sin x`, or `cos x` when `cos` is set.
pub(super) fn sin_cos(e: &mut Emitter, ft: Ft, x: ValueId, cos: bool) -> ValueId {
    let two_over_pi = e.f(ft, ft.pick(TWO_OVER_PI[0], TWO_OVER_PI[1]));
    let half = e.f(ft, 0.5);
    let t = e.fma(x, two_over_pi, half);
    let k = e.floor(t);
    let nk = e.neg(k);
    let pio2 = ft.pick(PIO2_F32, PIO2_F64);
    let mut r = x;
    for part in pio2 {
        let c = e.f(ft, part);
        r = e.fma(nk, c, r);
    }
    let z = e.mul(r, r);
    // sin r = r + r (z S(z))
    let s = e.horner(ft, z, ft.pick(&SIN_S_F32[..], &SIN_S_F64[..]));
    let zs = e.mul(z, s);
    let sin_r = e.fma(r, zs, r);
    // cos r = w + (((1 - w) - z/2) + z² C(z)) with w = 1 - z/2
    let c = e.horner(ft, z, ft.pick(&COS_C_F32[..], &COS_C_F64[..]));
    let hz = e.mul(half, z);
    let one = e.f(ft, 1.0);
    let w = e.sub(one, hz);
    let lost = e.sub(one, w);
    let lost = e.sub(lost, hz);
    let z2 = e.mul(z, z);
    let tail = e.fma(z2, c, lost);
    let cos_r = e.add(w, tail);
    // Quadrant.
    let mut q = e.convert(ft.ity(), k);
    let (i1, i2, i0) = (e.i(ft, 1), e.i(ft, 2), e.i(ft, 0));
    if cos {
        q = e.add(q, i1);
    }
    let odd = e.and(q, i1);
    let swap = e.ne(odd, i0);
    let high = e.and(q, i2);
    let negate = e.ne(high, i0);
    let v = e.select(swap, cos_r, sin_r);
    let nv = e.neg(v);
    let v = e.select(negate, nv, v);
    let (lo, hi) = (e.f(ft, -1.0), e.f(ft, 1.0));
    let v = e.min(v, hi);
    let v = e.max(v, lo);
    if cos {
        v
    } else {
        let zero = e.f(ft, 0.0);
        let is_zero = e.eq(x, zero);
        e.select(is_zero, x, v)
    }
}
