//! Scalar values of the kernel interpreter and the meaning of every scalar
//! operation on them.
//!
//! Each operation is computed natively in its type, exactly as the reference
//! interpreter (`rjax_ir::interp`) computes the corresponding primitive:
//! integers wrap, integer division and remainder by zero give 0, `max` and
//! `min` propagate NaN (with `max(-0, +0) = +0`, `min(-0, +0) = -0`), `Round`
//! rounds half away from zero, conversions follow Rust's `as` (saturating,
//! NaN to 0) with `!= 0` to bool and 0/1 from bool. Transcendental
//! operations call Rust's `f32`/`f64` methods (and `libm`'s `erf`), so the
//! interpreter runs kernels before and after `math::expand` alike.
//!
//! Every function returns `None` for an operand type the operation does not
//! accept; the checker (`check.rs`) rules those out before a kernel runs.

use crate::kernel::{BinaryOp, Const, ScalarType, UnaryOp};
use rjax_ir::Scalar;

/// One scalar of any kernel type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Val {
    F32(f32),
    F64(f64),
    I32(i32),
    U32(u32),
    Bool(bool),
    Index(i64),
}

impl Val {
    /// The value of a constant.
    pub(crate) fn of_const(c: Const) -> Val {
        match c {
            Const::Scalar(Scalar::F32(x)) => Val::F32(x),
            Const::Scalar(Scalar::F64(x)) => Val::F64(x),
            Const::Scalar(Scalar::I32(x)) => Val::I32(x),
            Const::Scalar(Scalar::U32(x)) => Val::U32(x),
            Const::Scalar(Scalar::Bool(x)) => Val::Bool(x),
            Const::Index(x) => Val::Index(x),
        }
    }
}

/// Float arithmetic shared by `f32` and `f64`.
trait Float: Copy + PartialOrd + std::ops::Neg<Output = Self> {
    fn wrap(self) -> Val;
    fn sign(self) -> Self;
    fn max_nan(self, o: Self) -> Self;
    fn min_nan(self, o: Self) -> Self;
    fn logistic(self) -> Self;
    fn erf(self) -> Self;
    fn rsqrt(self) -> Self;
}

// One method per line, like the reference interpreter's tables.
#[rustfmt::skip]
macro_rules! impl_float {
    ($t:ty, $v:ident, $erf:path) => {
        impl Float for $t {
            fn wrap(self) -> Val { Val::$v(self) }
            fn sign(self) -> Self {
                if self > 0.0 { 1.0 } else if self < 0.0 { -1.0 } else { self }
            }
            fn max_nan(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() { <$t>::NAN }
                else if self > o || (self == o && self.is_sign_positive()) { self }
                else { o }
            }
            fn min_nan(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() { <$t>::NAN }
                else if self < o || (self == o && self.is_sign_negative()) { self }
                else { o }
            }
            fn logistic(self) -> Self { 1.0 / (1.0 + (-self).exp()) }
            fn erf(self) -> Self { $erf(self) }
            fn rsqrt(self) -> Self { 1.0 / self.sqrt() }
        }
    };
}
impl_float!(f32, F32, libm::erff);
impl_float!(f64, F64, libm::erf);

/// Applies a unary float operation (`$a` of a float type).
macro_rules! float_unary {
    ($op:expr, $a:expr) => {{
        use UnaryOp as U;
        let a = $a;
        match $op {
            U::Neg => Some((-a).wrap()),
            U::Abs => Some(a.abs().wrap()),
            U::Sign => Some(Float::sign(a).wrap()),
            U::Sqrt => Some(a.sqrt().wrap()),
            U::Floor => Some(a.floor().wrap()),
            U::Ceil => Some(a.ceil().wrap()),
            U::Round => Some(a.round().wrap()),
            U::Trunc => Some(a.trunc().wrap()),
            U::Not => None,
            U::IsFinite => Some(Val::Bool(a.is_finite())),
            U::Exp => Some(a.exp().wrap()),
            U::Log => Some(a.ln().wrap()),
            U::Log1p => Some(a.ln_1p().wrap()),
            U::Expm1 => Some(a.exp_m1().wrap()),
            U::Sin => Some(a.sin().wrap()),
            U::Cos => Some(a.cos().wrap()),
            U::Tanh => Some(a.tanh().wrap()),
            U::Logistic => Some(a.logistic().wrap()),
            U::Erf => Some(Float::erf(a).wrap()),
            U::Rsqrt => Some(a.rsqrt().wrap()),
        }
    }};
}

/// Applies a unary integer operation; `$abs` and `$sign` give the type's
/// absolute value and sign.
macro_rules! int_unary {
    ($op:expr, $a:expr, $v:ident, $abs:expr, $sign:expr) => {{
        use UnaryOp as U;
        let a = $a;
        match $op {
            U::Neg => Some(Val::$v(a.wrapping_neg())),
            U::Abs => Some(Val::$v($abs(a))),
            U::Sign => Some(Val::$v($sign(a))),
            U::Not => Some(Val::$v(!a)),
            U::Sqrt
            | U::Floor
            | U::Ceil
            | U::Round
            | U::Trunc
            | U::IsFinite
            | U::Exp
            | U::Log
            | U::Log1p
            | U::Expm1
            | U::Sin
            | U::Cos
            | U::Tanh
            | U::Logistic
            | U::Erf
            | U::Rsqrt => None,
        }
    }};
}

/// `op x`, or `None` when `op` does not accept `x`'s type.
pub(crate) fn unary(op: UnaryOp, x: Val) -> Option<Val> {
    match x {
        Val::F32(a) => float_unary!(op, a),
        Val::F64(a) => float_unary!(op, a),
        Val::I32(a) => int_unary!(op, a, I32, i32::wrapping_abs, i32::signum),
        Val::U32(a) => int_unary!(op, a, U32, |v: u32| v, |v: u32| u32::from(v != 0)),
        Val::Index(a) => int_unary!(op, a, Index, i64::wrapping_abs, i64::signum),
        Val::Bool(a) => {
            use UnaryOp as U;
            match op {
                U::Not => Some(Val::Bool(!a)),
                U::Neg
                | U::Abs
                | U::Sign
                | U::Sqrt
                | U::Floor
                | U::Ceil
                | U::Round
                | U::Trunc
                | U::IsFinite
                | U::Exp
                | U::Log
                | U::Log1p
                | U::Expm1
                | U::Sin
                | U::Cos
                | U::Tanh
                | U::Logistic
                | U::Erf
                | U::Rsqrt => None,
            }
        }
    }
}

/// Applies a binary float operation.
macro_rules! float_binary {
    ($op:expr, $a:expr, $b:expr) => {{
        use BinaryOp as B;
        let (a, b) = ($a, $b);
        match $op {
            B::Add => Some((a + b).wrap()),
            B::Sub => Some((a - b).wrap()),
            B::Mul => Some((a * b).wrap()),
            B::Div => Some((a / b).wrap()),
            B::Rem => Some((a % b).wrap()),
            B::Pow => Some(a.powf(b).wrap()),
            B::Max => Some(a.max_nan(b).wrap()),
            B::Min => Some(a.min_nan(b).wrap()),
            B::And | B::Or | B::Xor | B::Shl | B::ShrLogical | B::ShrArith => None,
            B::Eq => Some(Val::Bool(a == b)),
            B::Ne => Some(Val::Bool(a != b)),
            B::Lt => Some(Val::Bool(a < b)),
            B::Le => Some(Val::Bool(a <= b)),
            B::Gt => Some(Val::Bool(a > b)),
            B::Ge => Some(Val::Bool(a >= b)),
        }
    }};
}

/// Applies a binary integer operation on `$t` (wrapping; division and
/// remainder by zero give 0); `$ut`/`$st` are the unsigned and signed types
/// of the same width, for the logical and arithmetic shifts.
macro_rules! int_binary {
    ($op:expr, $a:expr, $b:expr, $v:ident, $t:ty, $ut:ty, $st:ty) => {{
        use BinaryOp as B;
        let (a, b): ($t, $t) = ($a, $b);
        let w = |x: $t| Some(Val::$v(x));
        match $op {
            B::Add => w(a.wrapping_add(b)),
            B::Sub => w(a.wrapping_sub(b)),
            B::Mul => w(a.wrapping_mul(b)),
            B::Div => w(if b == 0 { 0 } else { a.wrapping_div(b) }),
            B::Rem => w(if b == 0 { 0 } else { a.wrapping_rem(b) }),
            B::Pow => None,
            B::Max => w(Ord::max(a, b)),
            B::Min => w(Ord::min(a, b)),
            B::And => w(a & b),
            B::Or => w(a | b),
            B::Xor => w(a ^ b),
            B::Shl => w(a.wrapping_shl(b as u32)),
            B::ShrLogical => w((a as $ut).wrapping_shr(b as u32) as $t),
            B::ShrArith => w((a as $st).wrapping_shr(b as u32) as $t),
            B::Eq => Some(Val::Bool(a == b)),
            B::Ne => Some(Val::Bool(a != b)),
            B::Lt => Some(Val::Bool(a < b)),
            B::Le => Some(Val::Bool(a <= b)),
            B::Gt => Some(Val::Bool(a > b)),
            B::Ge => Some(Val::Bool(a >= b)),
        }
    }};
}

/// `a op b`, or `None` when the operands' types differ or `op` does not
/// accept them.
pub(crate) fn binary(op: BinaryOp, x: Val, y: Val) -> Option<Val> {
    match (x, y) {
        (Val::F32(a), Val::F32(b)) => float_binary!(op, a, b),
        (Val::F64(a), Val::F64(b)) => float_binary!(op, a, b),
        (Val::I32(a), Val::I32(b)) => int_binary!(op, a, b, I32, i32, u32, i32),
        (Val::U32(a), Val::U32(b)) => int_binary!(op, a, b, U32, u32, u32, i32),
        (Val::Index(a), Val::Index(b)) => int_binary!(op, a, b, Index, i64, u64, i64),
        (Val::Bool(a), Val::Bool(b)) => {
            use BinaryOp as B;
            match op {
                B::And => Some(Val::Bool(a & b)),
                B::Or => Some(Val::Bool(a | b)),
                B::Xor => Some(Val::Bool(a ^ b)),
                B::Eq => Some(Val::Bool(a == b)),
                B::Ne => Some(Val::Bool(a != b)),
                B::Add
                | B::Sub
                | B::Mul
                | B::Div
                | B::Rem
                | B::Pow
                | B::Max
                | B::Min
                | B::Shl
                | B::ShrLogical
                | B::ShrArith
                | B::Lt
                | B::Le
                | B::Gt
                | B::Ge => None,
            }
        }
        _ => None,
    }
}

/// `a * b + c`: one rounding for floats, wrapping for integers.
pub(crate) fn fma(a: Val, b: Val, c: Val) -> Option<Val> {
    match (a, b, c) {
        (Val::F32(a), Val::F32(b), Val::F32(c)) => Some(Val::F32(a.mul_add(b, c))),
        (Val::F64(a), Val::F64(b), Val::F64(c)) => Some(Val::F64(a.mul_add(b, c))),
        (Val::I32(a), Val::I32(b), Val::I32(c)) => {
            Some(Val::I32(a.wrapping_mul(b).wrapping_add(c)))
        }
        (Val::U32(a), Val::U32(b), Val::U32(c)) => {
            Some(Val::U32(a.wrapping_mul(b).wrapping_add(c)))
        }
        (Val::Index(a), Val::Index(b), Val::Index(c)) => {
            Some(Val::Index(a.wrapping_mul(b).wrapping_add(c)))
        }
        _ => None,
    }
}

/// Converts a Rust number `$a` to kernel type `$to` with `as` semantics;
/// `$zero` is its zero, for the comparison giving a bool.
macro_rules! convert_number {
    ($a:expr, $to:expr, $zero:expr) => {{
        let a = $a;
        match $to {
            ScalarType::F32 => Val::F32(a as f32),
            ScalarType::F64 => Val::F64(a as f64),
            ScalarType::I32 => Val::I32(a as i32),
            ScalarType::U32 => Val::U32(a as u32),
            ScalarType::Bool => Val::Bool(a != $zero),
            ScalarType::Index => Val::Index(a as i64),
        }
    }};
}

/// Value conversion with `convert_element_type` semantics (`Index` as a
/// 64-bit integer).
pub(crate) fn convert(to: ScalarType, x: Val) -> Val {
    match x {
        Val::F32(a) => convert_number!(a, to, 0.0),
        Val::F64(a) => convert_number!(a, to, 0.0),
        Val::I32(a) => convert_number!(a, to, 0),
        Val::U32(a) => convert_number!(a, to, 0),
        Val::Index(a) => convert_number!(a, to, 0),
        Val::Bool(a) => convert_number!(u8::from(a), to, 0),
    }
}

/// Reinterprets bits: F32 <-> I32/U32 and F64 <-> Index.
pub(crate) fn bitcast(to: ScalarType, x: Val) -> Option<Val> {
    match (x, to) {
        (Val::F32(a), ScalarType::I32) => Some(Val::I32(a.to_bits() as i32)),
        (Val::F32(a), ScalarType::U32) => Some(Val::U32(a.to_bits())),
        (Val::I32(a), ScalarType::F32) => Some(Val::F32(f32::from_bits(a as u32))),
        (Val::U32(a), ScalarType::F32) => Some(Val::F32(f32::from_bits(a))),
        (Val::F64(a), ScalarType::Index) => Some(Val::Index(a.to_bits() as i64)),
        (Val::Index(a), ScalarType::F64) => Some(Val::F64(f64::from_bits(a as u64))),
        _ => None,
    }
}

/// Whether `Bitcast` accepts `from -> to` (the pairs of [`bitcast`]).
pub(crate) fn bitcast_ok(from: ScalarType, to: ScalarType) -> bool {
    use ScalarType as S;
    matches!(
        (from, to),
        (S::F32, S::I32)
            | (S::F32, S::U32)
            | (S::I32, S::F32)
            | (S::U32, S::F32)
            | (S::F64, S::Index)
            | (S::Index, S::F64)
    )
}
