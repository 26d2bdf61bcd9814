//! Rust operators (`+ - * /`, unary `-`) on arrays and scalars, and the
//! common elementwise functions as methods.
//!
//! Operators broadcast like NumPy and panic with the operation's message
//! (`add: incompatible shapes for broadcasting: [3,4] vs [5]`) at the
//! caller's line; the `jnp::try_*` functions return the error instead.
//! Rust scalars are weakly typed, as Python scalars are in JAX: `x * 2.0`
//! keeps `x`'s float dtype, and `x * 2` keeps an integer dtype. Scalars on
//! the right may be `f64`, `f32` or `i32`; on the left `f64` or `i32`, so that
//! unsuffixed literals (`1.0 - &x`) need no annotation.

use crate::array::Array;
use crate::jnp;
use rjax_ir::{DType, Scalar};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// A Rust number used as a weakly typed operand (`f64`, `f32`, `i32`).
pub trait WeakScalar: Copy {
    /// The scalar as a rank-0 array typed to sit beside `like`.
    fn to_array_like(self, like: &Array) -> Array;
}

impl WeakScalar for f64 {
    fn to_array_like(self, like: &Array) -> Array {
        let dtype = if like.dtype().is_float() {
            like.dtype()
        } else {
            DType::F32
        };
        Array::from_scalar(Scalar::from_f64(self, dtype))
    }
}

impl WeakScalar for f32 {
    fn to_array_like(self, like: &Array) -> Array {
        (self as f64).to_array_like(like)
    }
}

impl WeakScalar for i32 {
    fn to_array_like(self, like: &Array) -> Array {
        let dtype = match like.dtype() {
            DType::Bool => DType::I32,
            d => d,
        };
        Array::from_scalar(Scalar::from_f64(self as f64, dtype))
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $func:path) => {
        impl $trait<&Array> for &Array {
            type Output = Array;
            #[track_caller]
            fn $method(self, rhs: &Array) -> Array {
                $func(self, rhs)
            }
        }
        impl $trait<Array> for &Array {
            type Output = Array;
            #[track_caller]
            fn $method(self, rhs: Array) -> Array {
                $func(self, &rhs)
            }
        }
        impl $trait<&Array> for Array {
            type Output = Array;
            #[track_caller]
            fn $method(self, rhs: &Array) -> Array {
                $func(&self, rhs)
            }
        }
        impl $trait<Array> for Array {
            type Output = Array;
            #[track_caller]
            fn $method(self, rhs: Array) -> Array {
                $func(&self, &rhs)
            }
        }
        impl<S: WeakScalar> $trait<S> for &Array {
            type Output = Array;
            #[track_caller]
            fn $method(self, rhs: S) -> Array {
                $func(self, &rhs.to_array_like(self))
            }
        }
        impl<S: WeakScalar> $trait<S> for Array {
            type Output = Array;
            #[track_caller]
            fn $method(self, rhs: S) -> Array {
                $func(&self, &rhs.to_array_like(&self))
            }
        }
        binary_operator!(@scalar $trait, $method, $func, f64);
        binary_operator!(@scalar $trait, $method, $func, i32);
    };
    (@scalar $trait:ident, $method:ident, $func:path, $scalar:ty) => {
        impl $trait<&Array> for $scalar {
            type Output = Array;
            #[track_caller]
            fn $method(self, rhs: &Array) -> Array {
                $func(&self.to_array_like(rhs), rhs)
            }
        }
        impl $trait<Array> for $scalar {
            type Output = Array;
            #[track_caller]
            fn $method(self, rhs: Array) -> Array {
                $func(&self.to_array_like(&rhs), &rhs)
            }
        }
    };
}

binary_operator!(Add, add, jnp::add);
binary_operator!(Sub, sub, jnp::subtract);
binary_operator!(Mul, mul, jnp::multiply);
binary_operator!(Div, div, jnp::divide);

impl Neg for &Array {
    type Output = Array;
    #[track_caller]
    fn neg(self) -> Array {
        jnp::negative(self)
    }
}

impl Neg for Array {
    type Output = Array;
    #[track_caller]
    fn neg(self) -> Array {
        jnp::negative(&self)
    }
}

macro_rules! unary_methods {
    ($($(#[$meta:meta])* $name:ident => $func:path;)*) => {
        impl Array {$(
            $(#[$meta])*
            #[track_caller]
            pub fn $name(&self) -> Array {
                $func(self)
            }
        )*}
    };
}

unary_methods! {
    /// `e^x`, elementwise ([`jnp::exp`]).
    exp => jnp::exp;
    /// Natural logarithm ([`jnp::log`]).
    log => jnp::log;
    /// Square root ([`jnp::sqrt`]).
    sqrt => jnp::sqrt;
    /// Hyperbolic tangent ([`jnp::tanh`]).
    tanh => jnp::tanh;
    /// Sine ([`jnp::sin`]).
    sin => jnp::sin;
    /// Cosine ([`jnp::cos`]).
    cos => jnp::cos;
    /// Absolute value ([`jnp::abs`]).
    abs => jnp::abs;
    /// `x * x` ([`jnp::square`]).
    square => jnp::square;
    /// The logistic sigmoid ([`jnp::sigmoid`]).
    sigmoid => jnp::sigmoid;
    /// `1 / x` ([`jnp::reciprocal`]).
    reciprocal => jnp::reciprocal;
}

impl Array {
    /// `self ^ exponent`, with a weakly typed exponent.
    ///
    /// # Example
    /// ```
    /// let x = rjax::Array::from_vec(vec![2.0f32, 3.0], &[2]).unwrap();
    /// assert_eq!(x.powf(2.0).to_vec::<f32>().unwrap(), vec![4.0, 9.0]);
    /// ```
    #[track_caller]
    pub fn powf(&self, exponent: f64) -> Array {
        jnp::power(self, &exponent.to_array_like(self))
    }

    /// Elementwise maximum with a weakly typed scalar (`jnp.maximum(x, c)`).
    #[track_caller]
    pub fn maximum_scalar(&self, value: f64) -> Array {
        jnp::maximum(self, &value.to_array_like(self))
    }

    /// Clamps into `[min, max]` ([`jnp::clip`]).
    #[track_caller]
    pub fn clip(&self, min: f64, max: f64) -> Array {
        jnp::clip(self, min, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(values: &[f32]) -> Array {
        Array::from_vec(values.to_vec(), &[values.len()]).unwrap()
    }

    #[test]
    fn weak_scalars_keep_the_array_dtype() {
        let x = Array::from_vec(vec![1.0f64, 2.0], &[2]).unwrap();
        assert_eq!((&x * 2.0f32).dtype(), DType::F64);
        let i = Array::from_vec(vec![1i32, 2], &[2]).unwrap();
        assert_eq!((&i * 2).dtype(), DType::I32);
        assert_eq!((&i * 2.0).dtype(), DType::F32);
        assert_eq!((&i / 2).dtype(), DType::F32);
        let b = Array::from_vec(vec![true, false], &[2]).unwrap();
        assert_eq!((&b + 1).to_vec::<i32>().unwrap(), vec![2, 1]);
    }

    #[test]
    fn operators_on_values_and_references() {
        let x = f32s(&[1.0, 2.0]);
        let y = f32s(&[10.0, 20.0]);
        assert_eq!((&x + &y).to_vec::<f32>().unwrap(), vec![11.0, 22.0]);
        assert_eq!(
            (x.clone() - y.clone()).to_vec::<f32>().unwrap(),
            vec![-9.0, -18.0]
        );
        assert_eq!((1.0 - &x).to_vec::<f32>().unwrap(), vec![0.0, -1.0]);
        assert_eq!((2.0 / x.clone()).to_vec::<f32>().unwrap(), vec![2.0, 1.0]);
        assert_eq!((-&x).to_vec::<f32>().unwrap(), vec![-1.0, -2.0]);
        assert_eq!((3 * &x).to_vec::<f32>().unwrap(), vec![3.0, 6.0]);
    }

    #[test]
    fn operator_shape_errors_panic_with_the_op_message() {
        let a = jnp::zeros(&[3, 4], DType::F32);
        let b = jnp::zeros(&[5], DType::F32);
        let payload = std::panic::catch_unwind(|| &a + &b).unwrap_err();
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            message,
            "add: incompatible shapes for broadcasting: [3,4] vs [5]"
        );
    }
}
