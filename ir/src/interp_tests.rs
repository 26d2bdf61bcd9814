//! Hand-checked cases for the reference interpreter. Every expected value is
//! written out by hand (or by an independent loop over index formulas), never
//! computed by the code under test.
//!
//! Most cases are tables, `cases! { prim, [operands..] => expected; .. }`,
//! kept one case per line (rustfmt leaves brace-delimited macros alone).

use super::*;
use crate::dtype::shape_of;
use crate::jaxpr::{JaxprBuilder, Var};
use crate::{Scalar, ScatterKind};
use std::sync::Arc;
use DType::{Bool as BOOL, F32, F64, I32, U32};
use Primitive as P;

const NAN: f32 = f32::NAN;
const INF: f32 = f32::INFINITY;
const NAN64: f64 = f64::NAN;
const INF64: f64 = f64::INFINITY;

/// A buffer of `shape`.
fn b<T: Element>(v: &[T], shape: &[usize]) -> HostBuffer {
    HostBuffer::from_vec(v.to_vec(), shape).unwrap()
}

/// A rank-1 buffer.
fn v<T: Element>(v: &[T]) -> HostBuffer {
    b(v, &[v.len()])
}

/// A rank-0 buffer.
fn s<T: Element>(x: T) -> HostBuffer {
    HostBuffer::scalar(x.into_scalar())
}

/// An empty buffer of `shape`.
fn e<T: Element>(shape: &[usize]) -> HostBuffer {
    b::<T>(&[], shape)
}

/// Runs a single-result primitive.
fn ev(p: &Primitive, args: &[&HostBuffer]) -> HostBuffer {
    let mut out = eval_primitive(p, args).unwrap_or_else(|err| panic!("{}: {err}", p.name()));
    assert_eq!(out.len(), 1);
    out.pop().unwrap()
}

/// Asserts equal shape, dtype and elements; floats compare bit for bit
/// (so `-0.0 != 0.0`) except that any NaN equals any NaN.
#[track_caller]
fn same(got: &HostBuffer, want: &HostBuffer, case: &str) {
    let ok = got.shape() == want.shape()
        && match (got.data(), want.data()) {
            (Data::F32(g), Data::F32(w)) => g
                .iter()
                .zip(w)
                .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())),
            (Data::F64(g), Data::F64(w)) => g
                .iter()
                .zip(w)
                .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())),
            (g, w) => g == w,
        };
    assert!(ok, "{case}:\n got {got:?}\nwant {want:?}");
}

/// Asserts floats within `tol` (absolute), NaN matching NaN.
#[track_caller]
fn close(got: &HostBuffer, want: &[f64], tol: f64, case: &str) {
    let g = got.data().to_f64_vec();
    let ok = g.len() == want.len()
        && g.iter()
            .zip(want)
            .all(|(a, b)| (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol);
    assert!(ok, "{case}: got {g:?}, want {want:?}");
}

/// `prim, [operands..] => expected;`: exact results (see [`same`]).
macro_rules! cases {
    ($($p:expr, [$($arg:expr),*] => $want:expr;)*) => {$(
        let case = stringify!($p, [$($arg),*]);
        same(&ev(&$p, &[$(&$arg),*]), &$want, case);
    )*};
}

/// `prim, [operands..] ~ [expected..], tol;`: results within `tol`.
macro_rules! approx {
    ($($p:expr, [$($arg:expr),*] ~ [$($want:expr),*], $tol:expr;)*) => {$(
        let case = stringify!($p, [$($arg),*]);
        close(&ev(&$p, &[$(&$arg),*]), &[$($want),*], $tol, case);
    )*};
}

/// `prim, [operands..];`: the shape rule rejects the operands.
macro_rules! rejects {
    ($($p:expr, [$($arg:expr),*];)*) => {$(
        let result = eval_primitive(&$p, &[$(&$arg),*]);
        assert!(result.is_err(), "{} accepted: {result:?}", stringify!($p, [$($arg),*]));
    )*};
}

// ---- elementwise unary ------------------------------------------------------

#[test]
fn neg_abs_sign() {
    cases! {
        P::Neg, [v(&[1.0f32, -2.0, 0.0])] => v(&[-1.0f32, 2.0, -0.0]);
        P::Neg, [v(&[0.5f64])] => v(&[-0.5f64]);
        P::Neg, [v(&[i32::MIN, 5])] => v(&[i32::MIN, -5]);
        P::Neg, [v(&[1u32, 0])] => v(&[u32::MAX, 0]);
        P::Abs, [v(&[-1.5f32, -0.0, NAN, 2.0])] => v(&[1.5f32, 0.0, NAN, 2.0]);
        P::Abs, [v(&[i32::MIN, -3, 4])] => v(&[i32::MIN, 3, 4]);
        P::Abs, [v(&[7u32])] => v(&[7u32]);
        P::Abs, [v(&[-INF64])] => v(&[INF64]);
        P::Sign, [v(&[-2.0f32, 3.0, 0.0, -0.0, NAN, -INF])] => v(&[-1.0f32, 1.0, 0.0, -0.0, NAN, -1.0]);
        P::Sign, [v(&[-0.0f64, 0.5])] => v(&[-0.0f64, 1.0]);
        P::Sign, [v(&[-5i32, 0, 7, i32::MIN])] => v(&[-1i32, 0, 1, -1]);
        P::Sign, [v(&[0u32, 9, u32::MAX])] => v(&[0u32, 1, 1]);
    }
    rejects! {
        P::Neg, [v(&[true])];
        P::Abs, [s(false)];
    }
}

#[test]
fn exp_log_family() {
    let e = std::f64::consts::E;
    approx! {
        P::Exp, [v(&[0.0f32, 1.0, -INF, INF, NAN])] ~ [1.0, e, 0.0, INF64, NAN64], 1e-6;
        P::Exp, [v(&[1.0f64])] ~ [e], 1e-15;
        P::Log, [v(&[1.0f64, e, 0.0, -1.0])] ~ [0.0, 1.0, -INF64, NAN64], 1e-15;
        P::Log, [v(&[1.0f32, 0.0])] ~ [0.0, -INF64], 0.0;
        // Full relative precision near 0: x - x^2/2 and x + x^2/2.
        P::Log1p, [v(&[1e-10f64])] ~ [1e-10 - 5e-21], 1e-26;
        P::Expm1, [v(&[1e-10f64])] ~ [1e-10 + 5e-21], 1e-26;
        P::Log1p, [v(&[-1.0f32, 0.0, -2.0])] ~ [-INF64, 0.0, NAN64], 0.0;
        P::Expm1, [v(&[-INF, 0.0])] ~ [-1.0, 0.0], 0.0;
    }
    rejects! { P::Exp, [v(&[1i32])]; P::Log, [v(&[true])]; }
}

#[test]
fn trig_tanh_logistic_erf() {
    let (half_pi, pi) = (std::f64::consts::FRAC_PI_2, std::f32::consts::PI);
    let erf1 = 0.8427007929497149; // erf(1), from tables
    approx! {
        P::Sin, [v(&[0.0f64, half_pi])] ~ [0.0, 1.0], 1e-15;
        P::Cos, [v(&[0.0f32, pi])] ~ [1.0, -1.0], 1e-7;
        P::Sin, [v(&[INF])] ~ [NAN64], 0.0;
        P::Tanh, [v(&[0.0f32, 20.0, -INF])] ~ [0.0, 1.0, -1.0], 1e-7;
        // logistic(ln 3) = 1 / (1 + 1/3) = 3/4.
        P::Logistic, [v(&[0.0f64, 3f64.ln(), 1000.0, -1000.0])] ~ [0.5, 0.75, 1.0, 0.0], 1e-15;
        P::Logistic, [v(&[INF, -INF, 0.0])] ~ [1.0, 0.0, 0.5], 0.0;
        P::Erf, [v(&[0.0f64, 1.0, -1.0, INF64, -INF64])] ~ [0.0, erf1, -erf1, 1.0, -1.0], 1e-15;
        P::Erf, [v(&[1.0f32, NAN])] ~ [erf1, NAN64], 1e-7;
    }
    rejects! { P::Sin, [v(&[1u32])]; }
}

#[test]
fn sqrt_rounding_not_is_finite() {
    cases! {
        P::Sqrt, [v(&[4.0f32, 0.0, -1.0, INF])] => v(&[2.0f32, 0.0, NAN, INF]);
        P::Rsqrt, [v(&[4.0f32, 0.0, -1.0, INF])] => v(&[0.5f32, INF, NAN, 0.0]);
        P::Rsqrt, [v(&[0.25f64])] => v(&[2.0f64]);
        P::Floor, [v(&[-1.5f32, -0.5, 0.5, 1.5, 2.5, 2.4, -0.2])] => v(&[-2.0f32, -1.0, 0.0, 1.0, 2.0, 2.0, -1.0]);
        P::Ceil, [v(&[-1.5f32, -0.5, 0.5, 1.5, 2.5, 2.4, -0.2])] => v(&[-1.0f32, -0.0, 1.0, 2.0, 3.0, 3.0, -0.0]);
        // Ties away from zero, not to even.
        P::Round, [v(&[-1.5f32, -0.5, 0.5, 1.5, 2.5, 2.4, -0.2])] => v(&[-2.0f32, -1.0, 1.0, 2.0, 3.0, 2.0, -0.0]);
        P::Round, [v(&[0.5f64, -2.5, NAN64])] => v(&[1.0f64, -3.0, NAN64]);
        P::Floor, [v(&[-INF64, 1e300])] => v(&[-INF64, 1e300]);
        P::Not, [v(&[true, false])] => v(&[false, true]);
        P::Not, [v(&[0i32, -1, 5])] => v(&[-1i32, 0, -6]);
        P::Not, [v(&[0u32, 0xF0F0_F0F0])] => v(&[u32::MAX, 0x0F0F_0F0F]);
        P::IsFinite, [v(&[1.0f32, INF, -INF, NAN])] => v(&[true, false, false, false]);
        P::IsFinite, [v(&[f64::MAX, NAN64])] => v(&[true, false]);
    }
    rejects! { P::Not, [v(&[1.0f32])]; P::IsFinite, [v(&[1i32])]; P::Round, [v(&[1i32])]; }
}

// ---- elementwise binary -----------------------------------------------------

#[test]
fn add_sub_mul_broadcast_wrap_and_empty() {
    let x = b(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
    cases! {
        P::Add, [x, s(10.0f32)] => b(&[11.0f32, 12.0, 13.0, 14.0], &[2, 2]);
        P::Sub, [s(10.0f32), x] => b(&[9.0f32, 8.0, 7.0, 6.0], &[2, 2]);
        P::Mul, [x, x] => b(&[1.0f32, 4.0, 9.0, 16.0], &[2, 2]);
        P::Add, [s(1.5f64), s(2.0f64)] => s(3.5f64);
        P::Add, [v(&[INF]), v(&[-INF])] => v(&[NAN]);
        P::Mul, [v(&[0.0f32]), s(-INF)] => v(&[NAN]);
        P::Add, [v(&[i32::MAX]), s(1i32)] => v(&[i32::MIN]);
        P::Sub, [v(&[i32::MIN]), s(1i32)] => v(&[i32::MAX]);
        P::Sub, [v(&[0u32]), v(&[1u32])] => v(&[u32::MAX]);
        P::Mul, [v(&[65536i32]), v(&[65536i32])] => v(&[0i32]);
        P::Mul, [v(&[0x8000_0000u32]), s(2u32)] => v(&[0u32]);
        P::Add, [e::<f32>(&[0, 3]), s(1.0f32)] => e::<f32>(&[0, 3]);
        P::Mul, [s(2u32), e::<u32>(&[0])] => e::<u32>(&[0]);
    }
    rejects! {
        P::Add, [v(&[1.0f32, 2.0]), v(&[1.0f32; 3])];
        P::Add, [v(&[1.0f32]), v(&[1.0f64])];
        P::Add, [v(&[true]), v(&[true])];
        P::Add, [v(&[1.0f32])];
    }
}

#[test]
fn div_and_rem() {
    cases! {
        P::Div, [v(&[1.0f32, -1.0, 0.0, 7.0]), v(&[0.0f32, 0.0, 0.0, 2.0])] => v(&[INF, -INF, NAN, 3.5]);
        // Truncation toward zero; by zero gives 0; MIN / -1 wraps.
        P::Div, [v(&[7i32, -7, 5, i32::MIN, i32::MIN, 7]), v(&[2i32, 2, 0, -1, 1, -2])] => v(&[3i32, -3, 0, i32::MIN, i32::MIN, -3]);
        P::Rem, [v(&[7i32, -7, 5, i32::MIN, i32::MIN, 7]), v(&[2i32, 2, 0, -1, 1, -2])] => v(&[1i32, -1, 0, 0, 0, 1]);
        P::Div, [v(&[7u32, 7, u32::MAX]), v(&[0u32, 2, 2])] => v(&[0u32, 3, 0x7FFF_FFFF]);
        P::Rem, [v(&[7u32, 7]), v(&[0u32, 4])] => v(&[0u32, 3]);
        P::Div, [s(1i32), v(&[0i32, 1])] => v(&[0i32, 1]);
        // fmod: the sign of the dividend.
        P::Rem, [v(&[5.5f64, -5.5, 5.5, 1.0, INF64]), v(&[2.0f64, 2.0, -2.0, 0.0, 1.0])] => v(&[1.5f64, -1.5, 1.5, NAN64, NAN64]);
        P::Rem, [v(&[-4.0f32]), s(2.0f32)] => v(&[-0.0f32]);
    }
}

#[test]
fn pow_max_min() {
    cases! {
        P::Pow, [v(&[2.0f32, 4.0, 0.0, -8.0, 2.0]), v(&[10.0f32, 0.5, 0.0, 1.0 / 3.0, -1.0])] => v(&[1024.0f32, 2.0, 1.0, NAN, 0.5]);
        P::Pow, [v(&[3.0f64]), s(2.0f64)] => v(&[9.0f64]);
        // NaN if either is NaN; max(-0, +0) = +0, min(-0, +0) = -0.
        P::Max, [v(&[1.0f32, NAN, 3.0, -0.0, 0.0, -INF]), v(&[2.0f32, 1.0, NAN, 0.0, -0.0, 5.0])] => v(&[2.0f32, NAN, NAN, 0.0, 0.0, 5.0]);
        P::Min, [v(&[1.0f32, NAN, 3.0, -0.0, 0.0, -INF]), v(&[2.0f32, 1.0, NAN, 0.0, -0.0, 5.0])] => v(&[1.0f32, NAN, NAN, -0.0, -0.0, -INF]);
        P::Max, [v(&[NAN64]), s(1.0f64)] => v(&[NAN64]);
        P::Min, [s(1.0f64), v(&[NAN64, 0.5])] => v(&[NAN64, 0.5]);
        P::Max, [v(&[-3i32, 4]), s(0i32)] => v(&[0i32, 4]);
        P::Min, [v(&[u32::MAX, 4]), s(5u32)] => v(&[5u32, 4]);
    }
    rejects! { P::Pow, [v(&[2i32]), v(&[2i32])]; P::Max, [v(&[true]), v(&[true])]; }
}

#[test]
fn and_or_xor() {
    let (p, q) = (
        v(&[false, false, true, true]),
        v(&[false, true, false, true]),
    );
    cases! {
        P::And, [p, q] => v(&[false, false, false, true]);
        P::Or, [p, q] => v(&[false, true, true, true]);
        P::Xor, [p, q] => v(&[false, true, true, false]);
        P::And, [v(&[0b1100i32, -1]), v(&[0b1010i32, 0b1010])] => v(&[0b1000i32, 0b1010]);
        P::Or, [v(&[0b1100i32, -1]), v(&[0b1010i32, 0b1010])] => v(&[0b1110i32, -1]);
        P::Xor, [v(&[0b1100i32, -1]), v(&[0b1010i32, 0b1010])] => v(&[0b0110i32, !0b1010]);
        P::Xor, [v(&[u32::MAX]), s(1u32)] => v(&[u32::MAX - 1]);
        P::Or, [s(true), v(&[false])] => v(&[true]);
    }
    rejects! { P::And, [v(&[1.0f32]), v(&[1.0f32])]; }
}

#[test]
fn comparisons() {
    let x = v(&[1.0f32, NAN, -0.0, 2.0]);
    let y = v(&[1.0f32, NAN, 0.0, 1.0]);
    cases! {
        P::Eq, [x, y] => v(&[true, false, true, false]);
        P::Ne, [x, y] => v(&[false, true, false, true]);
        P::Lt, [x, y] => v(&[false, false, false, false]);
        P::Le, [x, y] => v(&[true, false, true, false]);
        P::Gt, [x, y] => v(&[false, false, false, true]);
        P::Ge, [x, y] => v(&[true, false, true, true]);
        P::Lt, [v(&[-3i32, 3]), s(0i32)] => v(&[true, false]);
        P::Gt, [v(&[u32::MAX, 0]), s(1u32)] => v(&[true, false]);
        P::Ge, [v(&[-INF64]), s(f64::MIN)] => v(&[false]);
        P::Le, [s(NAN64), s(NAN64)] => s(false);
        P::Eq, [v(&[true, false]), s(true)] => v(&[true, false]);
        P::Ne, [v(&[true, false]), s(true)] => v(&[false, true]);
        P::Eq, [v(&[u32::MAX]), v(&[u32::MAX])] => v(&[true]);
    }
    rejects! { P::Lt, [v(&[true]), v(&[false])]; P::Eq, [v(&[1i32]), v(&[1u32])]; }
}

#[test]
fn select_broadcasts_rank0() {
    let pred = v(&[true, false, true]);
    cases! {
        P::Select, [pred, v(&[1i32, 2, 3]), s(0i32)] => v(&[1i32, 0, 3]);
        P::Select, [s(false), v(&[1.0f32, 2.0]), v(&[5.0f32, 6.0])] => v(&[5.0f32, 6.0]);
        P::Select, [pred, s(true), s(false)] => v(&[true, false, true]);
        P::Select, [s(true), s(1.5f64), s(2.5f64)] => s(1.5f64);
        P::Select, [pred, s(1u32), v(&[7u32, 8, 9])] => v(&[1u32, 8, 1]);
    }
    rejects! {
        P::Select, [v(&[1i32]), v(&[1i32]), v(&[1i32])];
        P::Select, [s(true), v(&[1i32]), v(&[1u32])];
    }
}

#[test]
fn convert_element_type() {
    let to = |new_dtype| P::ConvertElementType { new_dtype };
    let x = v(&[-2.7f32, 2.7, NAN, 1e10, -1e10, -0.0]);
    cases! {
        // Truncate toward zero, saturate, NaN to 0.
        to(I32), [x] => v(&[-2i32, 2, 0, i32::MAX, i32::MIN, 0]);
        to(U32), [x] => v(&[0u32, 2, 0, u32::MAX, 0, 0]);
        to(BOOL), [x] => v(&[true, true, true, true, true, false]);
        to(F32), [v(&[true, false])] => v(&[1.0f32, 0.0]);
        to(I32), [v(&[true, false])] => v(&[1i32, 0]);
        to(U32), [v(&[true])] => v(&[1u32]);
        to(F64), [v(&[true])] => v(&[1.0f64]);
        to(BOOL), [v(&[true])] => v(&[true]);
        // Bit reinterpretation between u32 and i32.
        to(I32), [v(&[u32::MAX, 0x8000_0000])] => v(&[-1i32, i32::MIN]);
        to(U32), [v(&[-1i32, 3])] => v(&[u32::MAX, 3]);
        to(BOOL), [v(&[0i32, -4])] => v(&[false, true]);
        to(BOOL), [v(&[0u32, 2])] => v(&[false, true]);
        // 2^24 + 1 is not an f32: nearest (even) is 2^24.
        to(F32), [v(&[16_777_217i32])] => v(&[16_777_216.0f32]);
        to(F32), [v(&[0.1f64, 1e300])] => v(&[0.1f32, INF]);
        to(F64), [v(&[0.1f32])] => v(&[0.10000000149011612f64]);
        to(U32), [v(&[4e9f64])] => v(&[4_000_000_000u32]);
        to(F64), [v(&[u32::MAX])] => v(&[4_294_967_295.0f64]);
        to(F32), [e::<i32>(&[0, 2])] => e::<f32>(&[0, 2]);
    }
}

// ---- shape ------------------------------------------------------------------

#[test]
fn broadcast_reshape_transpose() {
    let bid = |shape: &[usize], dims: &[usize]| P::BroadcastInDim {
        shape: shape_of(shape),
        broadcast_dimensions: dims.to_vec(),
    };
    let reshape = |shape: &[usize]| P::Reshape {
        new_sizes: shape_of(shape),
    };
    let tr = |perm: &[usize]| P::Transpose {
        permutation: perm.to_vec(),
    };
    let row = v(&[1i32, 2, 3]);
    let m = b(&[1u32, 2, 3, 4, 5, 6], &[2, 3]);
    cases! {
        bid(&[2, 3], &[1]), [row] => b(&[1i32, 2, 3, 1, 2, 3], &[2, 3]);
        bid(&[3, 2], &[0]), [row] => b(&[1i32, 1, 2, 2, 3, 3], &[3, 2]);
        bid(&[2, 3], &[0, 1]), [b(&[1.0f32, 2.0], &[2, 1])] => b(&[1.0f32, 1.0, 1.0, 2.0, 2.0, 2.0], &[2, 3]);
        bid(&[2, 2], &[]), [s(true)] => b(&[true; 4], &[2, 2]);
        bid(&[0, 3], &[1]), [row] => e::<i32>(&[0, 3]);
        reshape(&[3, 1, 2]), [m] => b(&[1u32, 2, 3, 4, 5, 6], &[3, 1, 2]);
        reshape(&[]), [b(&[7.0f64], &[1, 1])] => s(7.0f64);
        tr(&[1, 0]), [m] => b(&[1u32, 4, 2, 5, 3, 6], &[3, 2]);
        tr(&[0]), [row] => row;
    }
    rejects! { bid(&[2], &[0]), [row]; reshape(&[4]), [row]; tr(&[0, 0]), [m]; }
    // 3-D: out[k][i][j] = in[i][j][k] for an input of shape [2,3,4] holding 0..24.
    let x = b(&(0..24).map(|i| i as f32).collect::<Vec<_>>(), &[2, 3, 4]);
    let mut want = vec![];
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                want.push((i * 12 + j * 4 + k) as f32);
            }
        }
    }
    same(
        &ev(&tr(&[2, 0, 1]), &[&x]),
        &b(&want, &[4, 2, 3]),
        "transpose 3-D",
    );
}

// ---- reductions ---------------------------------------------------------------

#[test]
fn reduce_sum_and_prod() {
    let sum = |axes: &[usize]| P::ReduceSum {
        axes: axes.to_vec(),
    };
    let prod = |axes: &[usize]| P::ReduceProd {
        axes: axes.to_vec(),
    };
    let x = b(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    cases! {
        sum(&[1]), [x] => v(&[6.0f32, 15.0]);
        sum(&[0]), [x] => v(&[5.0f32, 7.0, 9.0]);
        sum(&[0, 1]), [x] => s(21.0f32);
        sum(&[]), [x] => x;
        sum(&[0]), [e::<f64>(&[0, 3])] => v(&[0.0f64; 3]);
        sum(&[0]), [v(&[i32::MAX, 1])] => s(i32::MIN);
        sum(&[0]), [v(&[u32::MAX, 2])] => s(1u32);
        sum(&[0]), [v(&[1.0f32, INF, -INF])] => s(NAN);
        prod(&[1]), [x] => v(&[6.0f32, 120.0]);
        prod(&[0]), [e::<i32>(&[0, 2])] => v(&[1i32, 1]);
        prod(&[0]), [v(&[65536u32, 65536])] => s(0u32);
    }
    rejects! { sum(&[0]), [v(&[true])]; sum(&[1]), [v(&[1.0f32])]; sum(&[1, 0]), [x]; }
}

#[test]
fn reduce_max_min_nan_and_empty() {
    let max = |axes: &[usize]| P::ReduceMax {
        axes: axes.to_vec(),
    };
    let min = |axes: &[usize]| P::ReduceMin {
        axes: axes.to_vec(),
    };
    let x = b(&[1.0f32, NAN, 3.0, -1.0, 5.0, 2.0], &[2, 3]);
    cases! {
        max(&[1]), [x] => v(&[NAN, 5.0]);
        min(&[1]), [x] => v(&[NAN, -1.0]);
        max(&[0]), [x] => v(&[1.0f32, NAN, 3.0]);
        max(&[0]), [v(&[NAN, -INF])] => s(NAN);
        max(&[0]), [e::<f32>(&[0])] => s(-INF);
        min(&[0]), [e::<f64>(&[0])] => s(INF64);
        max(&[1]), [e::<i32>(&[2, 0])] => v(&[i32::MIN; 2]);
        min(&[0]), [e::<i32>(&[0])] => s(i32::MAX);
        max(&[0]), [e::<u32>(&[0])] => s(0u32);
        min(&[0]), [e::<u32>(&[0])] => s(u32::MAX);
        max(&[0]), [v(&[-5i32, 7, -9])] => s(7i32);
        min(&[0]), [v(&[5u32, 7, 2])] => s(2u32);
    }
}

#[test]
fn argmax_argmin() {
    let am = |axis, index_dtype| P::ArgMax { axis, index_dtype };
    let an = |axis, index_dtype| P::ArgMin { axis, index_dtype };
    let x = b(&[1u32, 9, 3, 7, 2, 8], &[2, 3]);
    cases! {
        // Ties: the first extreme wins.
        am(0, I32), [v(&[1.0f32, 3.0, 3.0, 2.0])] => s(1i32);
        an(0, I32), [v(&[3i32, 1, 1])] => s(1i32);
        // NaN counts as the extreme; the first NaN wins.
        am(0, I32), [v(&[1.0f32, NAN, 5.0, NAN])] => s(1i32);
        an(0, U32), [v(&[NAN, -INF])] => s(0u32);
        an(0, I32), [v(&[0.0f64, -1.0, NAN64])] => s(2i32);
        am(0, I32), [v(&[-INF, -INF])] => s(0i32);
        am(1, I32), [x] => v(&[1i32, 2]);
        am(0, I32), [x] => v(&[1i32, 0, 1]);
        an(1, U32), [x] => v(&[0u32, 1]);
        am(1, I32), [e::<f32>(&[0, 3])] => e::<i32>(&[0]);
    }
    rejects! { am(0, I32), [e::<f32>(&[0])]; am(0, F32), [v(&[1.0f32])]; am(1, I32), [v(&[1i32])]; }
}

#[test]
fn cumsum_forward_reverse() {
    let cs = |axis, reverse| P::Cumsum { axis, reverse };
    let x = b(&[1i32, 2, 3, 4, 5, 6], &[2, 3]);
    cases! {
        cs(0, false), [v(&[1.0f32, 2.0, 3.0, 4.0])] => v(&[1.0f32, 3.0, 6.0, 10.0]);
        cs(0, true), [v(&[1.0f32, 2.0, 3.0, 4.0])] => v(&[10.0f32, 9.0, 7.0, 4.0]);
        cs(0, false), [x] => b(&[1i32, 2, 3, 5, 7, 9], &[2, 3]);
        cs(1, false), [x] => b(&[1i32, 3, 6, 4, 9, 15], &[2, 3]);
        cs(1, true), [x] => b(&[6i32, 5, 3, 15, 11, 6], &[2, 3]);
        cs(0, false), [v(&[i32::MAX, 1])] => v(&[i32::MAX, i32::MIN]);
        cs(0, false), [v(&[1.0f64, NAN64, 1.0])] => v(&[1.0f64, NAN64, NAN64]);
        cs(0, true), [v(&[1.0f64, NAN64, 1.0])] => v(&[NAN64, NAN64, 1.0]);
        cs(1, false), [e::<u32>(&[2, 0])] => e::<u32>(&[2, 0]);
    }
    rejects! { cs(0, false), [v(&[true])]; cs(1, false), [v(&[1i32])]; }
}

// ---- contraction ----------------------------------------------------------------

fn dot(lc: &[usize], rc: &[usize], lb: &[usize], rb: &[usize]) -> Primitive {
    P::DotGeneral {
        lhs_contract: lc.to_vec(),
        rhs_contract: rc.to_vec(),
        lhs_batch: lb.to_vec(),
        rhs_batch: rb.to_vec(),
    }
}

#[test]
fn dot_general_matmul_outer_empty() {
    let l = b(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let r = b(&[1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2]);
    cases! {
        // [[1,2,3],[4,5,6]] @ [[1,0],[0,1],[1,1]] = [[4,5],[10,11]].
        dot(&[1], &[0], &[], &[]), [l, r] => b(&[4.0f32, 5.0, 10.0, 11.0], &[2, 2]);
        // l's dim 0 with r's dim 1: [[1,4],[2,5],[3,6]] @ [[1,0,1],[0,1,1]].
        dot(&[0], &[1], &[], &[]), [l, r] => b(&[1.0f32, 4.0, 5.0, 2.0, 5.0, 7.0, 3.0, 6.0, 9.0], &[3, 3]);
        // Outer product: no contraction.
        dot(&[], &[], &[], &[]), [v(&[1i32, 2]), v(&[3i32, 4, 5])] => b(&[3i32, 4, 5, 6, 8, 10], &[2, 3]);
        // Empty contraction: zeros.
        dot(&[1], &[0], &[], &[]), [e::<f64>(&[2, 0]), e::<f64>(&[0, 3])] => b(&[0.0f64; 6], &[2, 3]);
        // Integers accumulate wrapping: 2^32 + 5.
        dot(&[0], &[0], &[], &[]), [v(&[65536i32, 1]), v(&[65536i32, 5])] => s(5i32);
        dot(&[0], &[0], &[], &[]), [v(&[INF, 1.0]), v(&[0.0f32, 1.0])] => s(NAN);
    }
    rejects! {
        dot(&[0], &[0], &[], &[]), [v(&[1.0f32]), v(&[1.0f64])];
        dot(&[0], &[0], &[], &[]), [v(&[1.0f32]), v(&[1.0f32, 2.0])];
        dot(&[0], &[0], &[], &[]), [v(&[true]), v(&[true])];
    }
}

#[test]
fn dot_general_batch_dims() {
    // Batch 0: [[1,2,3],[4,5,6]] @ [[1,0],[0,1],[1,1]] = [[4,5],[10,11]];
    // batch 1: [[1,0,0],[0,1,0]] @ [[2,3],[4,5],[6,7]] = [[2,3],[4,5]].
    let l = b(&[1i32, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0], &[2, 2, 3]);
    let r = b(&[1i32, 0, 0, 1, 1, 1, 2, 3, 4, 5, 6, 7], &[2, 3, 2]);
    cases! {
        dot(&[2], &[1], &[0], &[0]), [l, r] => b(&[4i32, 5, 10, 11, 2, 3, 4, 5], &[2, 2, 2]);
        // Batch dims not leading: l[k][b] = [[1,2],[3,4],[5,6]],
        // r[b][k] = [[1,1,1],[1,0,-1]]: out[b] = sum_k l[k][b] r[b][k].
        dot(&[0], &[1], &[1], &[0]), [b(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]), b(&[1.0f32, 1.0, 1.0, 1.0, 0.0, -1.0], &[2, 3])] => v(&[9.0f32, -4.0]);
        // Batch and free dims on both sides: l[b][i] = [[1,2],[3,4]],
        // r[j][b] = [[1,10],[2,20],[3,30]]: out[b][i][j] = l[b][i] * r[j][b].
        dot(&[], &[], &[0], &[1]), [b(&[1u32, 2, 3, 4], &[2, 2]), b(&[1u32, 10, 2, 20, 3, 30], &[3, 2])] => b(&[1u32, 2, 3, 2, 4, 6, 30, 60, 90, 40, 80, 120], &[2, 2, 3]);
    }
}

// ---- slicing and joining ----------------------------------------------------------

#[test]
fn slice_strided() {
    let sl = |start: &[usize], limit: &[usize], strides: &[usize]| P::Slice {
        start: start.to_vec(),
        limit: limit.to_vec(),
        strides: strides.to_vec(),
    };
    let m = b(&(0..12).collect::<Vec<i32>>(), &[3, 4]);
    cases! {
        sl(&[1], &[5], &[2]), [v(&[0i32, 1, 2, 3, 4])] => v(&[1i32, 3]);
        sl(&[1], &[4], &[2]), [v(&[0i32, 1, 2, 3, 4])] => v(&[1i32, 3]);
        sl(&[1, 0], &[3, 4], &[1, 3]), [m] => b(&[4i32, 7, 8, 11], &[2, 2]);
        sl(&[2, 1], &[2, 3], &[1, 1]), [m] => e::<i32>(&[0, 2]);
        sl(&[0], &[1], &[1]), [v(&[true, false])] => v(&[true]);
    }
    rejects! { sl(&[0], &[6], &[1]), [v(&[1i32])]; sl(&[0], &[1], &[0]), [v(&[1i32])]; }
}

#[test]
fn pad_interior_and_negative() {
    let pad = |low: &[i64], high: &[i64], interior: &[usize]| P::Pad {
        low: low.to_vec(),
        high: high.to_vec(),
        interior: interior.to_vec(),
    };
    let x = v(&[1.0f32, 2.0, 3.0]);
    cases! {
        pad(&[1], &[2], &[1]), [x, s(0.0f32)] => v(&[0.0f32, 1.0, 0.0, 2.0, 0.0, 3.0, 0.0, 0.0]);
        pad(&[-1], &[0], &[0]), [x, s(0.0f32)] => v(&[2.0f32, 3.0]);
        // The dilated [1,0,2,0,3] cropped by one at each end.
        pad(&[-1], &[-1], &[1]), [x, s(0.0f32)] => v(&[0.0f32, 2.0, 0.0]);
        pad(&[-2], &[1], &[0]), [x, s(9.0f32)] => v(&[3.0f32, 9.0]);
        pad(&[-3], &[1], &[0]), [x, s(9.0f32)] => v(&[9.0f32]);
        pad(&[1, 0], &[0, 1], &[0, 0]), [b(&[1i32, 2, 3, 4], &[2, 2]), s(9i32)] => b(&[9i32, 9, 9, 1, 2, 9, 3, 4, 9], &[3, 3]);
        pad(&[0], &[0], &[3]), [v(&[true, true]), s(false)] => v(&[true, false, false, false, true]);
        pad(&[2], &[1], &[4]), [e::<u32>(&[0]), s(7u32)] => v(&[7u32, 7, 7]);
    }
    rejects! { pad(&[0], &[0], &[0]), [x, v(&[0.0f32])]; pad(&[0], &[0], &[0]), [x, s(0i32)]; }
}

#[test]
fn concatenate_rev() {
    let cat = |axis| P::Concatenate { axis };
    let rev = |axes: &[usize]| P::Rev {
        axes: axes.to_vec(),
    };
    let m = b(&[1i32, 2, 3, 4, 5, 6], &[2, 3]);
    let sq = b(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
    cases! {
        cat(0), [v(&[1i32, 2]), v(&[3i32, 4, 5])] => v(&[1i32, 2, 3, 4, 5]);
        cat(1), [sq, e::<f32>(&[2, 0]), b(&[5.0f32, 6.0], &[2, 1])] => b(&[1.0f32, 2.0, 5.0, 3.0, 4.0, 6.0], &[2, 3]);
        cat(0), [sq, b(&[7.0f32, 8.0], &[1, 2])] => b(&[1.0f32, 2.0, 3.0, 4.0, 7.0, 8.0], &[3, 2]);
        cat(0), [v(&[true])] => v(&[true]);
        rev(&[0]), [v(&[1u32, 2, 3])] => v(&[3u32, 2, 1]);
        rev(&[1]), [m] => b(&[3i32, 2, 1, 6, 5, 4], &[2, 3]);
        rev(&[0, 1]), [m] => b(&[6i32, 5, 4, 3, 2, 1], &[2, 3]);
        rev(&[]), [m] => m;
        rev(&[0]), [e::<bool>(&[0])] => e::<bool>(&[0]);
    }
    rejects! { cat(0), [v(&[1i32]), v(&[1u32])]; cat(1), [m, v(&[1i32])]; }
}

#[test]
fn dynamic_slice_and_update_clamp() {
    let ds = |sizes: &[usize]| P::DynamicSlice {
        slice_sizes: sizes.to_vec(),
    };
    let dus = P::DynamicUpdateSlice;
    let x = v(&[0i32, 1, 2, 3, 4]);
    let m = b(&(0..12).map(|i| i as f32).collect::<Vec<_>>(), &[3, 4]);
    let z = v(&[0i32; 5]);
    let zm = b(&[0.0f64; 6], &[2, 3]);
    cases! {
        ds(&[2]), [x, s(1i32)] => v(&[1i32, 2]);
        ds(&[2]), [x, s(10i32)] => v(&[3i32, 4]);
        ds(&[2]), [x, s(-3i32)] => v(&[0i32, 1]);
        ds(&[2]), [x, s(u32::MAX)] => v(&[3i32, 4]);
        ds(&[0]), [x, s(9i32)] => e::<i32>(&[0]);
        ds(&[2, 2]), [m, s(1i32), s(2u32)] => b(&[6.0f32, 7.0, 10.0, 11.0], &[2, 2]);
        ds(&[2, 2]), [m, s(5i32), s(7i32)] => b(&[6.0f32, 7.0, 10.0, 11.0], &[2, 2]);
        dus, [z, v(&[1i32, 2]), s(1i32)] => v(&[0i32, 1, 2, 0, 0]);
        dus, [z, v(&[1i32, 2]), s(4i32)] => v(&[0i32, 0, 0, 1, 2]);
        dus, [z, v(&[1i32, 2]), s(-1i32)] => v(&[1i32, 2, 0, 0, 0]);
        dus, [zm, b(&[7.0f64, 8.0], &[1, 2]), s(1i32), s(9u32)] => b(&[0.0f64, 0.0, 0.0, 0.0, 7.0, 8.0], &[2, 3]);
        dus, [zm, e::<f64>(&[0, 2]), s(1i32), s(0i32)] => zm;
        dus, [v(&[false, false]), v(&[true]), s(1i32)] => v(&[false, true]);
    }
    rejects! {
        ds(&[2]), [m, s(0i32)];
        ds(&[6]), [x, s(0i32)];
        ds(&[1]), [x, s(0.0f32)];
        dus, [z, v(&[1i32; 6]), s(0i32)];
        dus, [z, v(&[1u32]), s(0i32)];
    }
}

#[test]
fn gather_clamps() {
    let g = |axis| P::Gather { axis };
    let x = v(&[10.0f32, 20.0, 30.0]);
    let m = b(&[1i32, 2, 3, 4, 5, 6], &[2, 3]);
    cases! {
        g(0), [x, v(&[2i32, 0, 5, -1])] => v(&[30.0f32, 10.0, 30.0, 10.0]);
        g(0), [x, s(1u32)] => s(20.0f32);
        g(0), [x, s(u32::MAX)] => s(30.0f32);
        // out[i][a][c] = m[i][idx[a][c]].
        g(1), [m, b(&[0i32, 2, 1, 1], &[2, 2])] => b(&[1i32, 3, 2, 2, 4, 6, 5, 5], &[2, 2, 2]);
        // Rows: out[a][j] = m[idx[a]][j].
        g(0), [m, v(&[1i32, 1, 0])] => b(&[4i32, 5, 6, 4, 5, 6, 1, 2, 3], &[3, 3]);
        g(0), [m, e::<i32>(&[0])] => e::<i32>(&[0, 3]);
        g(0), [e::<i32>(&[0]), e::<i32>(&[0])] => e::<i32>(&[0]);
        g(0), [v(&[true, false]), v(&[1u32, 0])] => v(&[false, true]);
    }
    // Nothing to clamp into: an error, not a panic.
    rejects! { g(0), [e::<i32>(&[0]), s(0i32)]; g(0), [x, s(0.0f32)]; g(1), [x, s(0i32)]; }
}

#[test]
fn scatter_kinds_duplicates_and_drops() {
    let sc = |kind| P::Scatter { axis: 0, kind };
    let (set, add, mul) = (
        sc(ScatterKind::Set),
        sc(ScatterKind::Add),
        sc(ScatterKind::Mul),
    );
    let (min, max) = (sc(ScatterKind::Min), sc(ScatterKind::Max));
    // Index 1 twice; -1 and 4 are out of range and dropped.
    let idx = v(&[1i32, 1, 3, -1, 4]);
    let upd = v(&[1.0f32, 2.0, 3.0, 4.0, 5.0]);
    let (zeros, ones) = (v(&[0.0f32; 4]), v(&[1.0f32; 4]));
    let big = v(&[0u32, u32::MAX, 0]);
    cases! {
        add, [zeros, idx, upd] => v(&[0.0f32, 3.0, 0.0, 3.0]);
        set, [zeros, idx, upd] => v(&[0.0f32, 2.0, 0.0, 3.0]);
        mul, [ones, idx, upd] => v(&[1.0f32, 2.0, 1.0, 3.0]);
        max, [ones, idx, upd] => v(&[1.0f32, 2.0, 1.0, 3.0]);
        min, [v(&[0i32; 4]), idx, v(&[-1i32, -5, 3, 4, 5])] => v(&[0i32, -5, 0, 0]);
        max, [v(&[0.0f64; 2]), v(&[0i32, 0]), v(&[NAN64, 1.0])] => v(&[NAN64, 0.0]);
        add, [v(&[1u32, 1]), big, v(&[5u32, 6, 7])] => v(&[13u32, 1]);
        set, [v(&[false; 2]), big, v(&[true, true, true])] => v(&[true, false]);
        add, [v(&[i32::MAX]), s(0i32), s(1i32)] => v(&[i32::MIN]);
        // Rows: operand [3,2], indices [2,0], updates [[1,2],[3,4]].
        add, [b(&[0i32; 6], &[3, 2]), v(&[2i32, 0]), b(&[1i32, 2, 3, 4], &[2, 2])] => b(&[3i32, 4, 0, 0, 1, 2], &[3, 2]);
        set, [b(&[0i32; 6], &[3, 2]), v(&[2i32, 2]), b(&[1i32, 2, 3, 4], &[2, 2])] => b(&[0i32, 0, 0, 0, 3, 4], &[3, 2]);
        // Along axis 1, rank-2 indices: x[i][idx[a][c]] += upd[i][a][c]; 5 dropped.
        P::Scatter { axis: 1, kind: ScatterKind::Add }, [b(&[0i32; 6], &[2, 3]), b(&[0i32, 0, 2, 5], &[2, 2]), b(&[1i32, 2, 3, 4, 10, 20, 30, 40], &[2, 2, 2])] => b(&[3i32, 0, 3, 30, 0, 30], &[2, 3]);
        add, [zeros, e::<i32>(&[0]), e::<f32>(&[0])] => zeros;
    }
    rejects! { add, [v(&[true]), s(0i32), s(true)]; add, [zeros, idx, v(&[1.0f32; 4])]; }
}

// ---- creation and randomness --------------------------------------------------------

#[test]
fn iota_random_bits_stop_gradient() {
    let io = |dtype, shape: &[usize], dimension| P::Iota {
        dtype,
        shape: shape_of(shape),
        dimension,
    };
    let rb = |shape: &[usize]| P::RandomBits {
        shape: shape_of(shape),
    };
    let zero = v(&[0u32; 8]);
    // Key bytes 00..00 01: the last key word, little-endian, is 0x01000000.
    let key = v(&[0, 0, 0, 0, 0, 0, 0, 0x0100_0000u32]);
    cases! {
        io(I32, &[2, 3], 1), [] => b(&[0i32, 1, 2, 0, 1, 2], &[2, 3]);
        io(F32, &[2, 3], 0), [] => b(&[0.0f32, 0.0, 0.0, 1.0, 1.0, 1.0], &[2, 3]);
        io(U32, &[4], 0), [] => v(&[0u32, 1, 2, 3]);
        io(F64, &[0, 2], 1), [] => e::<f64>(&[0, 2]);
        // ChaCha20 (all-zero nonce, block counter 0) test vectors: an all-zero
        // key's keystream begins with bytes 76b8e0ad a0f13d90 405d6ae5 5386bd28;
        // key 00..01's with 4540f05a 9f1fb296. Words are little-endian.
        rb(&[2, 2]), [zero] => b(&[0xade0_b876u32, 0x903d_f1a0, 0xe56a_5d40, 0x28bd_8653], &[2, 2]);
        rb(&[2]), [key] => v(&[0x5af0_4045u32, 0x96b2_1f9f]);
        rb(&[]), [zero] => s(0xade0_b876u32);
        rb(&[0, 3]), [zero] => e::<u32>(&[0, 3]);
        P::StopGradient, [b(&[1.0f32, NAN], &[1, 2])] => b(&[1.0f32, NAN], &[1, 2]);
        P::StopGradient, [s(true)] => s(true);
    }
    // Element i is the i-th word whatever the shape, past one 64-byte block too.
    let long = ev(&rb(&[20]), &[&zero]);
    assert_eq!(
        &long.as_slice::<u32>().unwrap()[..2],
        &[0xade0_b876, 0x903d_f1a0]
    );
    let again = ev(&rb(&[4, 5]), &[&zero]);
    assert_eq!(long.as_slice::<u32>(), again.as_slice::<u32>());
    rejects! { io(BOOL, &[2], 0), []; io(I32, &[2], 1), []; rb(&[1]), [v(&[0u32; 4])]; rb(&[1]), [v(&[0i32; 8])]; }
}

// ---- jaxprs and higher-order primitives ---------------------------------------------

/// A closed jaxpr over `consts` and inputs of `ins`: `f` gets the builder
/// and the variables (constvars first) and returns the outputs.
fn closed(
    consts: Vec<HostBuffer>,
    ins: &[AVal],
    f: impl FnOnce(&mut JaxprBuilder, &[Var]) -> Vec<Atom>,
) -> Arc<ClosedJaxpr> {
    let mut bld = JaxprBuilder::new();
    let cvars: Vec<Var> = consts.iter().map(|c| bld.new_var(c.aval())).collect();
    let ivars: Vec<Var> = ins.iter().map(|a| bld.new_var(a.clone())).collect();
    let all: Vec<Var> = cvars.iter().chain(&ivars).copied().collect();
    let outs = f(&mut bld, &all);
    Arc::new(ClosedJaxpr::new(
        bld.build(cvars, ivars, outs).unwrap(),
        consts,
    ))
}

/// Appends one single-output equation.
fn eqn(bld: &mut JaxprBuilder, p: Primitive, ins: Vec<Atom>) -> Atom {
    Atom::Var(bld.add_eqn(p, ins, None).unwrap()[0])
}

fn lf(x: f32) -> Atom {
    Atom::Lit(Scalar::F32(x))
}

fn li(x: i32) -> Atom {
    Atom::Lit(Scalar::I32(x))
}

/// Asserts every output (see [`same`]).
#[track_caller]
fn all_same(got: &[HostBuffer], want: &[HostBuffer], case: &str) {
    assert_eq!(got.len(), want.len(), "{case}: number of outputs");
    for (g, w) in got.iter().zip(want) {
        same(g, w, case);
    }
}

/// `x * 2 + 1` over f32[2].
fn affine() -> Arc<ClosedJaxpr> {
    closed(vec![], &[AVal::new(F32, &[2])], |bld, x| {
        let y = eqn(bld, P::Mul, vec![x[0].into(), lf(2.0)]);
        vec![eqn(bld, P::Add, vec![y, lf(1.0)])]
    })
}

#[test]
fn interpret_literals_consts_and_errors() {
    let f = affine();
    let out = interpret_closed(&f, &[v(&[1.0f32, 2.0])]).unwrap();
    all_same(&out, &[v(&[3.0f32, 5.0])], "affine");
    // A constant, an input passed straight through and a literal output.
    let g = closed(vec![v(&[10i32, 20])], &[AVal::new(I32, &[2])], |bld, x| {
        vec![
            eqn(bld, P::Add, vec![x[0].into(), x[1].into()]),
            x[1].into(),
            li(7),
        ]
    });
    let out = interpret_closed(&g, &[v(&[1i32, 2])]).unwrap();
    all_same(&out, &[v(&[11i32, 22]), v(&[1i32, 2]), s(7i32)], "consts");
    let is_interpret_error = |r: Result<Vec<HostBuffer>>| matches!(r, Err(Error::Op { ref op, .. }) if op == "interpret");
    assert!(is_interpret_error(interpret_closed(&f, &[])));
    assert!(is_interpret_error(interpret_closed(
        &f,
        &[v(&[1.0f64, 2.0])]
    )));
    assert!(is_interpret_error(interpret_closed(
        &f,
        &[v(&[1.0f32, 2.0, 3.0])]
    )));
    assert!(is_interpret_error(interpret(
        &g.jaxpr,
        &[],
        &[v(&[1i32, 2])]
    )));
    assert!(is_interpret_error(interpret(
        &f.jaxpr,
        &[s(1.0f32)],
        &[v(&[1.0f32, 2.0])]
    )));
}

#[test]
fn interpret_rejects_malformed_jaxprs() {
    let mut jaxpr = affine().jaxpr.clone();
    jaxpr.eqns.remove(0); // the `add` now reads a never-defined variable
    let err = interpret(&jaxpr, &[], &[v(&[1.0f32, 2.0])]).unwrap_err();
    assert!(err.to_string().contains("before it is defined"), "{err}");
    let mut jaxpr = affine().jaxpr.clone();
    jaxpr.avals[1] = AVal::new(F64, &[2]); // the recorded type of `mul`'s result
    let err = interpret(&jaxpr, &[], &[v(&[1.0f32, 2.0])]).unwrap_err();
    assert!(
        err.to_string().contains("has type f32[2], expected f64[2]"),
        "{err}"
    );
}

#[test]
fn call_and_custom_calls() {
    let f = affine();
    let call = P::Call {
        jaxpr: f.clone(),
        name: "affine".into(),
    };
    let jvp = P::CustomJvpCall {
        call: f.clone(),
        jvp: f.clone(),
    };
    let vjp = P::CustomVjpCall {
        call: f.clone(),
        fwd: f.clone(),
        bwd: f,
        num_outputs: 1,
    };
    let x = v(&[0.5f32, -1.0]);
    cases! {
        call, [x] => v(&[2.0f32, -1.0]);
        jvp, [x] => v(&[2.0f32, -1.0]);
        vjp, [x] => v(&[2.0f32, -1.0]);
    }
    rejects! { call, [v(&[1.0f32])]; call, []; }
    // A call nested inside a jaxpr.
    let inner = affine();
    let outer = closed(vec![], &[AVal::new(F32, &[2])], |bld, x| {
        let y = eqn(
            bld,
            P::Call {
                jaxpr: inner,
                name: "affine".into(),
            },
            vec![x[0].into()],
        );
        vec![eqn(bld, P::Neg, vec![y])]
    });
    let out = interpret_closed(&outer, &[v(&[1.0f32, 0.0])]).unwrap();
    all_same(&out, &[v(&[-3.0f32, -1.0])], "nested call");
}

#[test]
fn cond_clamps_index() {
    let row = [AVal::new(F32, &[2])];
    let plus1 = closed(vec![], &row, |bld, x| {
        vec![eqn(bld, P::Add, vec![x[0].into(), lf(1.0)])]
    });
    let times = closed(vec![s(10.0f32)], &row, |bld, x| {
        vec![eqn(bld, P::Mul, vec![x[1].into(), x[0].into()])]
    });
    let c = P::Cond {
        branches: vec![plus1, times],
    };
    let x = v(&[1.0f32, 2.0]);
    cases! {
        c, [s(0i32), x] => v(&[2.0f32, 3.0]);
        c, [s(1i32), x] => v(&[10.0f32, 20.0]);
        c, [s(5i32), x] => v(&[10.0f32, 20.0]);
        c, [s(-3i32), x] => v(&[2.0f32, 3.0]);
        c, [s(i32::MIN), x] => v(&[2.0f32, 3.0]);
    }
    rejects! { c, [s(true), x]; c, [s(0i32), s(1.0f32)]; c, [s(0u32), x]; }
}

#[test]
fn while_loop_sums() {
    let carry = [AVal::scalar(I32), AVal::scalar(I32)];
    let cond = closed(vec![], &carry, |bld, c| {
        vec![eqn(bld, P::Lt, vec![c[0].into(), li(5)])]
    });
    let body = closed(vec![], &carry, |bld, c| {
        let i = eqn(bld, P::Add, vec![c[0].into(), li(1)]);
        vec![i, eqn(bld, P::Add, vec![c[1].into(), c[0].into()])]
    });
    let w = P::While {
        cond_jaxpr: cond,
        body_jaxpr: body.clone(),
    };
    // acc = 0 + 1 + 2 + 3 + 4.
    let out = eval_primitive(&w, &[&s(0i32), &s(0i32)]).unwrap();
    all_same(&out, &[s(5i32), s(10i32)], "while");
    // Condition false at once: zero iterations.
    let out = eval_primitive(&w, &[&s(9i32), &s(3i32)]).unwrap();
    all_same(&out, &[s(9i32), s(3i32)], "while, no iteration");
    let w = P::While {
        cond_jaxpr: body.clone(),
        body_jaxpr: body,
    };
    rejects! { w, [s(0i32), s(0i32)]; }
}

#[test]
fn scan_forward_reverse_empty() {
    // body(c, s, x) = (s + x * c, s + x * c).
    let f = AVal::scalar(F32);
    let body = closed(vec![], &[f.clone(), f.clone(), f], |bld, a| {
        let xc = eqn(bld, P::Mul, vec![a[2].into(), a[0].into()]);
        let s = eqn(bld, P::Add, vec![a[1].into(), xc]);
        vec![s, s]
    });
    let scan = |length, reverse| P::Scan {
        body: body.clone(),
        length,
        reverse,
        num_consts: 1,
        num_carry: 1,
    };
    let xs = v(&[1.0f32, 2.0, 3.0, 4.0]);
    // c = 2: s = 2, 6, 12, 20.
    let out = eval_primitive(&scan(4, false), &[&s(2.0f32), &s(0.0f32), &xs]).unwrap();
    all_same(&out, &[s(20.0f32), v(&[2.0f32, 6.0, 12.0, 20.0])], "scan");
    // Reverse visits x[3], x[2], x[1], x[0]: s = 8, 14, 18, 20, each stacked at its i.
    let out = eval_primitive(&scan(4, true), &[&s(2.0f32), &s(0.0f32), &xs]).unwrap();
    all_same(
        &out,
        &[s(20.0f32), v(&[20.0f32, 18.0, 14.0, 8.0])],
        "reverse scan",
    );
    let out = eval_primitive(&scan(0, false), &[&s(2.0f32), &s(7.0f32), &e::<f32>(&[0])]).unwrap();
    all_same(&out, &[s(7.0f32), e::<f32>(&[0])], "empty scan");
    rejects! { scan(3, false), [s(2.0f32), s(0.0f32), xs]; }
}

#[test]
fn scan_slices_and_stacks_rows() {
    // No consts; carry i32[2]; xs i32[3,2]: carry += x; y = carry * x.
    let row = AVal::new(I32, &[2]);
    let body = closed(vec![], &[row.clone(), row], |bld, a| {
        let c = eqn(bld, P::Add, vec![a[0].into(), a[1].into()]);
        vec![c, eqn(bld, P::Mul, vec![c, a[1].into()])]
    });
    let p = P::Scan {
        body,
        length: 3,
        reverse: false,
        num_consts: 0,
        num_carry: 1,
    };
    let xs = b(&[1i32, 2, 3, 4, 5, 6], &[3, 2]);
    // carry: [1,2] -> [4,6] -> [9,12]; y: [1,4], [12,24], [45,72].
    let out = eval_primitive(&p, &[&v(&[0i32, 0]), &xs]).unwrap();
    all_same(
        &out,
        &[v(&[9i32, 12]), b(&[1i32, 4, 12, 24, 45, 72], &[3, 2])],
        "scan rows",
    );
}
