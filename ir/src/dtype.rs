//! Element types, shapes and abstract values: the static facts every IR
//! variable carries.

use smallvec::SmallVec;
use std::fmt;

/// The element type of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// 32-bit IEEE float; the default float type, as in JAX.
    F32,
    /// 64-bit IEEE float.
    F64,
    /// 32-bit signed integer; the default integer type.
    I32,
    /// 32-bit unsigned integer (PRNG bits and keys).
    U32,
    /// Boolean.
    Bool,
}

impl DType {
    /// Every dtype, in declaration order.
    pub const ALL: [DType; 5] = [DType::F32, DType::F64, DType::I32, DType::U32, DType::Bool];

    /// The short name used in printed jaxprs and the conformance corpus (`f32`, `i32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::Bool => "bool",
        }
    }

    /// Parses a short name as printed by [`DType::name`].
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// True for `F32` and `F64`.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// True for `I32` and `U32`.
    pub fn is_int(self) -> bool {
        matches!(self, DType::I32 | DType::U32)
    }

    /// True for `Bool`.
    pub fn is_bool(self) -> bool {
        self == DType::Bool
    }

    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::Bool => 1,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Array dimensions, row-major, outermost first.
pub type Shape = SmallVec<[usize; 4]>;

/// Builds a [`Shape`] from a slice.
pub fn shape_of(dims: &[usize]) -> Shape {
    Shape::from_slice(dims)
}

/// Number of elements of a shape (1 for a scalar).
pub fn num_elements(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides, in elements, of a shape.
pub fn row_major_strides(shape: &[usize]) -> Shape {
    let mut strides: Shape = SmallVec::from_elem(1, shape.len());
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// Formats a shape as `[3,4]`, the form used in error messages.
pub struct ShapeDisplay<'a>(pub &'a [usize]);

impl fmt::Display for ShapeDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// An abstract value: what the IR knows about a variable without its data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AVal {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Shape,
}

impl AVal {
    /// Makes an abstract value.
    pub fn new(dtype: DType, shape: &[usize]) -> AVal {
        AVal {
            dtype,
            shape: shape_of(shape),
        }
    }

    /// A rank-0 abstract value.
    pub fn scalar(dtype: DType) -> AVal {
        AVal {
            dtype,
            shape: Shape::new(),
        }
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        num_elements(&self.shape)
    }
}

impl fmt::Display for AVal {
    /// Prints as in a jaxpr: `f32[2,3]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.dtype, ShapeDisplay(&self.shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
        assert_eq!(DType::from_name("f16"), None);
    }

    #[test]
    fn strides_and_display() {
        assert_eq!(row_major_strides(&[2, 3, 4]).as_slice(), &[12, 4, 1]);
        assert_eq!(row_major_strides(&[]).as_slice(), &[] as &[usize]);
        assert_eq!(AVal::new(DType::F32, &[2, 3]).to_string(), "f32[2,3]");
        assert_eq!(AVal::scalar(DType::Bool).to_string(), "bool[]");
    }
}
