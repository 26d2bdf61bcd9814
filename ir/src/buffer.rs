//! Host buffers: typed, row-major element storage with a shape, and the
//! scalar type used for literals.

use crate::dtype::{num_elements, DType, Shape, ShapeDisplay};
use crate::error::{Error, Result};

/// Typed element storage.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f64` elements.
    F64(Vec<f64>),
    /// `i32` elements.
    I32(Vec<i32>),
    /// `u32` elements.
    U32(Vec<u32>),
    /// `bool` elements.
    Bool(Vec<bool>),
}

impl Data {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
            Data::I32(_) => DType::I32,
            Data::U32(_) => DType::U32,
            Data::Bool(_) => DType::Bool,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::U32(v) => v.len(),
            Data::Bool(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `n` copies of a scalar.
    pub fn filled(value: Scalar, n: usize) -> Data {
        match value {
            Scalar::F32(x) => Data::F32(vec![x; n]),
            Scalar::F64(x) => Data::F64(vec![x; n]),
            Scalar::I32(x) => Data::I32(vec![x; n]),
            Scalar::U32(x) => Data::U32(vec![x; n]),
            Scalar::Bool(x) => Data::Bool(vec![x; n]),
        }
    }

    /// Element `i` as a scalar.
    pub fn get(&self, i: usize) -> Scalar {
        match self {
            Data::F32(v) => Scalar::F32(v[i]),
            Data::F64(v) => Scalar::F64(v[i]),
            Data::I32(v) => Scalar::I32(v[i]),
            Data::U32(v) => Scalar::U32(v[i]),
            Data::Bool(v) => Scalar::Bool(v[i]),
        }
    }

    /// Gathers elements by flat index into new storage of the same dtype.
    pub fn take(&self, indices: impl Iterator<Item = usize>) -> Data {
        match self {
            Data::F32(v) => Data::F32(indices.map(|i| v[i]).collect()),
            Data::F64(v) => Data::F64(indices.map(|i| v[i]).collect()),
            Data::I32(v) => Data::I32(indices.map(|i| v[i]).collect()),
            Data::U32(v) => Data::U32(indices.map(|i| v[i]).collect()),
            Data::Bool(v) => Data::Bool(indices.map(|i| v[i]).collect()),
        }
    }

    /// Every element converted to `f64` (bool as 0/1). Used by printing and
    /// tests, never by arithmetic.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        (0..self.len()).map(|i| self.get(i).to_f64()).collect()
    }
}

/// One element of any dtype: literals in jaxprs, fill values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
    /// An `i32`.
    I32(i32),
    /// A `u32`.
    U32(u32),
    /// A `bool`.
    Bool(bool),
}

impl Scalar {
    /// The element type.
    pub fn dtype(self) -> DType {
        match self {
            Scalar::F32(_) => DType::F32,
            Scalar::F64(_) => DType::F64,
            Scalar::I32(_) => DType::I32,
            Scalar::U32(_) => DType::U32,
            Scalar::Bool(_) => DType::Bool,
        }
    }

    /// The value as `f64` (bool as 0/1).
    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::F32(x) => x as f64,
            Scalar::F64(x) => x,
            Scalar::I32(x) => x as f64,
            Scalar::U32(x) => x as f64,
            Scalar::Bool(x) => x as u8 as f64,
        }
    }

    /// `value` converted to `dtype` with `convert_element_type` semantics
    /// (float to integer truncates and saturates, NaN gives 0; to bool is `!= 0`).
    pub fn from_f64(value: f64, dtype: DType) -> Scalar {
        match dtype {
            DType::F32 => Scalar::F32(value as f32),
            DType::F64 => Scalar::F64(value),
            DType::I32 => Scalar::I32(value as i32),
            DType::U32 => Scalar::U32(value as u32),
            DType::Bool => Scalar::Bool(value != 0.0),
        }
    }

    /// Zero of a dtype (`false` for bool).
    pub fn zero(dtype: DType) -> Scalar {
        Scalar::from_f64(0.0, dtype)
    }

    /// One of a dtype (`true` for bool).
    pub fn one(dtype: DType) -> Scalar {
        Scalar::from_f64(1.0, dtype)
    }
}

/// A Rust element type that rjax arrays can hold.
pub trait Element: Copy + Send + Sync + 'static {
    /// The matching dtype.
    const DTYPE: DType;
    /// Wraps a vector as storage.
    fn into_data(values: Vec<Self>) -> Data;
    /// Borrows storage as a slice, if it has this element type.
    fn slice(data: &Data) -> Option<&[Self]>;
    /// Wraps one value as a scalar.
    fn into_scalar(self) -> Scalar;
}

macro_rules! impl_element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn into_data(values: Vec<Self>) -> Data {
                Data::$variant(values)
            }
            fn slice(data: &Data) -> Option<&[Self]> {
                match data {
                    Data::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn into_scalar(self) -> Scalar {
                Scalar::$variant(self)
            }
        }
    };
}
impl_element!(f32, F32);
impl_element!(f64, F64);
impl_element!(i32, I32);
impl_element!(u32, U32);
impl_element!(bool, Bool);

/// A row-major array in host memory: the concrete value of an rjax array on
/// the CPU, and what the reference interpreter computes with.
#[derive(Clone, Debug, PartialEq)]
pub struct HostBuffer {
    shape: Shape,
    data: Data,
}

impl HostBuffer {
    /// Makes a buffer, checking that `data` fills `shape` exactly.
    ///
    /// # Errors
    /// [`Error::DataLength`] when the lengths differ.
    pub fn new(data: Data, shape: &[usize]) -> Result<HostBuffer> {
        let expected = num_elements(shape);
        if data.len() != expected {
            return Err(Error::DataLength {
                shape: ShapeDisplay(shape).to_string(),
                expected,
                actual: data.len(),
            });
        }
        Ok(HostBuffer {
            shape: Shape::from_slice(shape),
            data,
        })
    }

    /// A buffer from a vector of Rust values.
    ///
    /// # Errors
    /// [`Error::DataLength`] when `values` does not fill `shape`.
    pub fn from_vec<T: Element>(values: Vec<T>, shape: &[usize]) -> Result<HostBuffer> {
        HostBuffer::new(T::into_data(values), shape)
    }

    /// An empty buffer of shape `[0]`; allocates nothing.
    pub fn empty() -> HostBuffer {
        HostBuffer {
            shape: Shape::from_slice(&[0]),
            data: Data::Bool(Vec::new()),
        }
    }

    /// A rank-0 buffer.
    pub fn scalar(value: Scalar) -> HostBuffer {
        HostBuffer {
            shape: Shape::new(),
            data: Data::filled(value, 1),
        }
    }

    /// A buffer of `shape` filled with `value`.
    pub fn full(value: Scalar, shape: &[usize]) -> HostBuffer {
        HostBuffer {
            shape: Shape::from_slice(shape),
            data: Data::filled(value, num_elements(shape)),
        }
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The abstract value (dtype and shape).
    pub fn aval(&self) -> crate::AVal {
        crate::AVal {
            dtype: self.dtype(),
            shape: self.shape.clone(),
        }
    }

    /// The elements.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// Consumes the buffer, returning its elements.
    pub fn into_data(self) -> Data {
        self.data
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements as a slice of `T`, if `T` is the buffer's element type.
    pub fn as_slice<T: Element>(&self) -> Option<&[T]> {
        T::slice(&self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_length() {
        assert!(HostBuffer::from_vec(vec![1.0f32, 2.0], &[2]).is_ok());
        let err = HostBuffer::from_vec(vec![1.0f32, 2.0, 3.0], &[2, 2]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "from_vec: data of length 3 does not match shape [2,2] (4 elements)"
        );
        assert!(HostBuffer::from_vec(Vec::<i32>::new(), &[0, 3]).is_ok());
    }

    #[test]
    fn scalar_conversions() {
        assert_eq!(Scalar::from_f64(-2.7, DType::I32), Scalar::I32(-2));
        assert_eq!(Scalar::from_f64(f64::NAN, DType::I32), Scalar::I32(0));
        assert_eq!(Scalar::from_f64(0.5, DType::Bool), Scalar::Bool(true));
        assert_eq!(Scalar::one(DType::F64), Scalar::F64(1.0));
    }
}
