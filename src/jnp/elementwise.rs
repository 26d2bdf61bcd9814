//! Elementwise functions: unary math, arithmetic and comparisons with NumPy
//! broadcasting and JAX dtype promotion, `where_` and `clip`.

use super::{convert, fallible, promote_and_broadcast, to_float};
use crate::array::Array;
use crate::core::bind1;
use rjax_ir::{DType, Error, Primitive, Result};

#[track_caller]
fn unary(prim: Primitive, x: &Array) -> Result<Array> {
    bind1(prim, std::slice::from_ref(x))
}

#[track_caller]
fn unary_float(prim: Primitive, x: &Array) -> Result<Array> {
    unary(prim, &to_float(x)?)
}

#[track_caller]
fn unary_numeric(prim: Primitive, x: &Array) -> Result<Array> {
    if x.dtype() == DType::Bool {
        return Err(Error::op(
            prim.name(),
            "expected a numeric operand, got bool",
        ));
    }
    unary(prim, x)
}

/// Applies a binary primitive after promotion and broadcasting; `name` is
/// the user-facing operation in error messages.
#[track_caller]
pub(crate) fn binary(name: &str, prim: Primitive, x: &Array, y: &Array) -> Result<Array> {
    let args = promote_and_broadcast(name, &[x, y])?;
    bind1(prim, &args)
}

#[track_caller]
fn binary_float(name: &str, prim: Primitive, x: &Array, y: &Array) -> Result<Array> {
    binary(name, prim, &to_float(x)?, &to_float(y)?)
}

macro_rules! unary_fns {
    ($($(#[$meta:meta])* $name:ident / $try_name:ident => $kind:ident($prim:expr);)*) => {$(
        fallible! {
            $(#[$meta])*
            pub fn $name / $try_name(x: &Array) -> Array { $kind($prim, x) }
        }
    )*};
}

unary_fns! {
    /// `e^x`, elementwise (integers become `f32`).
    exp / try_exp => unary_float(Primitive::Exp);
    /// Natural logarithm, elementwise.
    log / try_log => unary_float(Primitive::Log);
    /// `log(1 + x)`, accurate near zero.
    log1p / try_log1p => unary_float(Primitive::Log1p);
    /// `e^x - 1`, accurate near zero.
    expm1 / try_expm1 => unary_float(Primitive::Expm1);
    /// Sine.
    sin / try_sin => unary_float(Primitive::Sin);
    /// Cosine.
    cos / try_cos => unary_float(Primitive::Cos);
    /// Hyperbolic tangent.
    tanh / try_tanh => unary_float(Primitive::Tanh);
    /// Square root.
    sqrt / try_sqrt => unary_float(Primitive::Sqrt);
    /// `1 / sqrt(x)`.
    rsqrt / try_rsqrt => unary_float(Primitive::Rsqrt);
    /// The error function.
    erf / try_erf => unary_float(Primitive::Erf);
    /// Round toward negative infinity.
    floor / try_floor => unary_float(Primitive::Floor);
    /// Round toward positive infinity.
    ceil / try_ceil => unary_float(Primitive::Ceil);
    /// The logistic sigmoid `1 / (1 + e^-x)`.
    sigmoid / try_sigmoid => unary_float(Primitive::Logistic);
    /// `-x`, elementwise.
    negative / try_negative => unary_numeric(Primitive::Neg);
    /// Absolute value.
    abs / try_abs => unary_numeric(Primitive::Abs);
    /// `-1`, `0` or `1` by sign (NaN stays NaN).
    sign / try_sign => unary_numeric(Primitive::Sign);
}

fallible! {
    /// Round half to even, as `jnp.round` does.
    pub fn round / try_round(x: &Array) -> Array {
        let x = to_float(x)?;
        // rint: round half away from zero, then fix exact ties to the even neighbour.
        let r = unary(Primitive::Round, &x)?;
        let diff = try_abs(&try_subtract(&r, &x)?)?;
        let is_tie = try_equal(&diff, &Array::scalar_like(0.5, &x))?;
        let half_r = try_multiply(&r, &Array::scalar_like(0.5, &x))?;
        let odd = try_not_equal(&unary(Primitive::Floor, &half_r)?, &half_r)?;
        let toward_zero = try_subtract(&r, &try_sign(&try_subtract(&r, &x)?)?)?;
        try_where_(&try_logical_and(&is_tie, &odd)?, &toward_zero, &r)
    }
}

fallible! {
    /// `x * x`, elementwise, keeping the dtype.
    pub fn square / try_square(x: &Array) -> Array {
        if x.dtype() == DType::Bool {
            return Err(Error::op("square", "expected a numeric operand, got bool"));
        }
        bind1(Primitive::Mul, &[x.clone(), x.clone()])
    }
}

fallible! {
    /// `1 / x`, elementwise.
    pub fn reciprocal / try_reciprocal(x: &Array) -> Array {
        let x = to_float(x)?;
        binary("reciprocal", Primitive::Div, &Array::scalar_like(1.0, &x), &x)
    }
}

fallible! {
    /// True where `x` is finite (neither infinite nor NaN); true for integers.
    pub fn isfinite / try_isfinite(x: &Array) -> Array {
        if x.dtype().is_float() {
            unary(Primitive::IsFinite, x)
        } else {
            super::try_full_like(x, rjax_ir::Scalar::Bool(true))
        }
    }
}

fallible! {
    /// Logical not (bool) or bitwise not (integers).
    pub fn logical_not / try_logical_not(x: &Array) -> Array {
        if x.dtype().is_float() {
            return Err(Error::op("logical_not", format!("expected bool or integer operand, got {}", x.dtype())));
        }
        unary(Primitive::Not, x)
    }
}

macro_rules! binary_fns {
    ($($(#[$meta:meta])* $name:ident / $try_name:ident => $kind:ident($prim:expr);)*) => {$(
        fallible! {
            $(#[$meta])*
            pub fn $name / $try_name(x: &Array, y: &Array) -> Array {
                $kind(stringify!($name), $prim, x, y)
            }
        }
    )*};
}

binary_fns! {
    /// `x + y` with broadcasting.
    add / try_add => binary(Primitive::Add);
    /// `x - y` with broadcasting.
    subtract / try_subtract => binary(Primitive::Sub);
    /// `x * y` with broadcasting.
    multiply / try_multiply => binary(Primitive::Mul);
    /// True division `x / y` (integers become `f32`).
    divide / try_divide => binary_float(Primitive::Div);
    /// `x ^ y` (integers become `f32`).
    power / try_power => binary_float(Primitive::Pow);
    /// Elementwise maximum; NaN if either is NaN.
    maximum / try_maximum => binary(Primitive::Max);
    /// Elementwise minimum; NaN if either is NaN.
    minimum / try_minimum => binary(Primitive::Min);
    /// `x < y`.
    less / try_less => binary(Primitive::Lt);
    /// `x <= y`.
    less_equal / try_less_equal => binary(Primitive::Le);
    /// `x > y`.
    greater / try_greater => binary(Primitive::Gt);
    /// `x >= y`.
    greater_equal / try_greater_equal => binary(Primitive::Ge);
    /// `x == y`.
    equal / try_equal => binary(Primitive::Eq);
    /// `x != y`.
    not_equal / try_not_equal => binary(Primitive::Ne);
    /// Logical (bool) or bitwise (integer) and.
    logical_and / try_logical_and => binary(Primitive::And);
    /// Logical (bool) or bitwise (integer) or.
    logical_or / try_logical_or => binary(Primitive::Or);
    /// Logical (bool) or bitwise (integer) exclusive or.
    logical_xor / try_logical_xor => binary(Primitive::Xor);
}

fallible! {
    /// `x` where `cond` is true, else `y`, broadcasting all three; `cond` is
    /// converted to bool (nonzero is true).
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![-1.0f32, 2.0], &[2]).unwrap();
    /// let y = jnp::where_(&jnp::greater(&x, &Array::scalar(0.0f32)), &x, &Array::scalar(0.0f32));
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 2.0]);
    /// ```
    pub fn where_ / try_where_(cond: &Array, x: &Array, y: &Array) -> Array {
        let cond = convert(cond, DType::Bool)?;
        let xy = promote_and_broadcast("where", &[x, y])?;
        let shape = super::broadcast_shapes("where", cond.shape(), xy[0].shape())?;
        let shape = super::broadcast_shapes("where", &shape, xy[1].shape())?;
        let fit = |a: &Array| if a.ndim() == 0 { Ok(a.clone()) } else { super::broadcast_to_shape("where", a, &shape) };
        bind1(Primitive::Select, &[fit(&cond)?, fit(&xy[0])?, fit(&xy[1])?])
    }
}

fallible! {
    /// Clamps `x` into `[min, max]`: `minimum(maximum(x, min), max)`; the
    /// bounds are weakly typed scalars.
    pub fn clip / try_clip(x: &Array, min: f64, max: f64) -> Array {
        let lower = try_maximum(x, &Array::scalar_like(min, x))?;
        try_minimum(&lower, &Array::scalar_like(max, x))
    }
}

impl Array {
    /// A weakly typed rank-0 array holding `value`, with `like`'s dtype when
    /// that is a float, and `f32` otherwise (or `like`'s integer dtype when
    /// `value` is integral and `like` is an integer array), as JAX treats a
    /// Python scalar next to an array.
    pub fn scalar_like(value: f64, like: &Array) -> Array {
        let dtype = match like.dtype() {
            d if d.is_float() => d,
            d if d.is_int() && value.fract() == 0.0 => d,
            _ => DType::F32,
        };
        Array::from_scalar(rjax_ir::Scalar::from_f64(value, dtype))
    }
}
