//! Array creation: `zeros`, `ones`, `full`, `arange`, `linspace`, `eye`.

use super::fallible;
use crate::array::Array;
use crate::core::bind1;
use rjax_ir::{DType, Error, HostBuffer, Primitive, Result, Scalar, Shape};

/// An array of `shape` filled with `value` (converted to `dtype`).
///
/// # Example
/// ```
/// use rjax::{jnp, DType};
/// let x = jnp::full(&[2, 3], 7.0, DType::I32);
/// assert_eq!(x.to_vec::<i32>().unwrap(), vec![7; 6]);
/// ```
pub fn full(shape: &[usize], value: f64, dtype: DType) -> Array {
    Array::from_buffer(HostBuffer::full(Scalar::from_f64(value, dtype), shape))
}

/// An array of zeros.
///
/// # Example
/// ```
/// use rjax::{jnp, DType};
/// assert_eq!(jnp::zeros(&[2], DType::F32).to_vec::<f32>().unwrap(), vec![0.0, 0.0]);
/// ```
pub fn zeros(shape: &[usize], dtype: DType) -> Array {
    full(shape, 0.0, dtype)
}

/// An array of ones.
///
/// # Example
/// ```
/// use rjax::{jnp, DType};
/// assert_eq!(jnp::ones(&[2], DType::F64).to_vec::<f64>().unwrap(), vec![1.0, 1.0]);
/// ```
pub fn ones(shape: &[usize], dtype: DType) -> Array {
    full(shape, 1.0, dtype)
}

fallible! {
    /// An array shaped like `x` (concrete or traced) filled with `value`.
    pub fn full_like / try_full_like(x: &Array, value: Scalar) -> Array {
        let fill = Array::from_scalar(Scalar::from_f64(value.to_f64(), value.dtype()));
        if x.ndim() == 0 {
            return Ok(fill);
        }
        bind1(
            Primitive::BroadcastInDim { shape: Shape::from_slice(x.shape()), broadcast_dimensions: vec![] },
            &[fill],
        )
    }
}

/// Zeros shaped and typed like `x`.
#[track_caller]
pub fn zeros_like(x: &Array) -> Array {
    full_like(x, Scalar::zero(x.dtype()))
}

/// Ones shaped and typed like `x`.
#[track_caller]
pub fn ones_like(x: &Array) -> Array {
    full_like(x, Scalar::one(x.dtype()))
}

fallible! {
    /// Evenly spaced values in `[start, stop)` with `step`, as `jnp.arange`.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, DType};
    /// let x = jnp::arange(0.0, 1.0, 0.25, DType::F32);
    /// assert_eq!(x.to_vec::<f32>().unwrap(), vec![0.0, 0.25, 0.5, 0.75]);
    /// ```
    pub fn arange / try_arange(start: f64, stop: f64, step: f64, dtype: DType) -> Array {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !stop.is_finite() {
            return Err(Error::op("arange", format!("invalid arguments start={start} stop={stop} step={step}")));
        }
        let n = ((stop - start) / step).ceil().max(0.0);
        if n > (1u64 << 40) as f64 {
            return Err(Error::op("arange", format!("{n} elements is too many")));
        }
        let values: Vec<f64> = (0..n as usize).map(|i| start + i as f64 * step).collect();
        Ok(from_f64s(&values, &[values.len()], dtype))
    }
}

fallible! {
    /// `num` evenly spaced values from `start` to `stop` inclusive, as
    /// `jnp.linspace` (floats; integer dtypes truncate).
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, DType};
    /// let x = jnp::linspace(0.0, 1.0, 5, DType::F64);
    /// assert_eq!(x.to_vec::<f64>().unwrap(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    /// ```
    pub fn linspace / try_linspace(start: f64, stop: f64, num: usize, dtype: DType) -> Array {
        if !start.is_finite() || !stop.is_finite() {
            return Err(Error::op("linspace", format!("endpoints must be finite, got {start} and {stop}")));
        }
        let values: Vec<f64> = (0..num)
            .map(|i| if num == 1 { start } else { start + (stop - start) * i as f64 / (num - 1) as f64 })
            .collect();
        Ok(from_f64s(&values, &[num], dtype))
    }
}

/// The `n x n` identity matrix.
///
/// # Example
/// ```
/// use rjax::{jnp, DType};
/// assert_eq!(jnp::eye(2, DType::F32).to_vec::<f32>().unwrap(), vec![1.0, 0.0, 0.0, 1.0]);
/// ```
pub fn eye(n: usize, dtype: DType) -> Array {
    let values: Vec<f64> = (0..n * n)
        .map(|i| if i / n == i % n { 1.0 } else { 0.0 })
        .collect();
    from_f64s(&values, &[n, n], dtype)
}

/// Builds a concrete array from `f64` values converted to `dtype`.
pub(crate) fn from_f64s(values: &[f64], shape: &[usize], dtype: DType) -> Array {
    let data = match dtype {
        DType::F32 => rjax_ir::Data::F32(values.iter().map(|&v| v as f32).collect()),
        DType::F64 => rjax_ir::Data::F64(values.to_vec()),
        DType::I32 => rjax_ir::Data::I32(values.iter().map(|&v| v as i32).collect()),
        DType::U32 => rjax_ir::Data::U32(values.iter().map(|&v| v as u32).collect()),
        DType::Bool => rjax_ir::Data::Bool(values.iter().map(|&v| v != 0.0).collect()),
    };
    Array::from_buffer(HostBuffer::new(data, shape).expect("internal error: from_f64s length"))
}

/// `jnp.asarray(x, dtype)` for concrete or traced `x`: a conversion.
#[track_caller]
pub fn asarray(x: &Array, dtype: DType) -> Array {
    super::or_panic(super::convert(x, dtype))
}
