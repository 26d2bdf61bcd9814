//! `jnp`: the NumPy-named array API.
//!
//! Every function here is a composition of primitives, so it works eagerly
//! and under every transformation. NumPy broadcasting, negative axes and
//! JAX's dtype promotion (with weakly typed Rust scalars) are applied here,
//! above the primitives, which themselves accept only matching shapes and
//! dtypes.
//!
//! Each function that can fail on its operands comes in two forms: `f`
//! panics with the error's message (naming the operation and the shapes),
//! and `try_f` returns the typed [`Error`].

mod creation;
mod elementwise;
mod reductions;
mod shape_ops;

pub(crate) use creation::from_f64s as creation_from_f64s;
pub use creation::*;
pub use elementwise::*;
pub use reductions::*;
pub use shape_ops::*;

use crate::array::Array;
use crate::core::bind1;
use rjax_ir::{DType, Error, Primitive, Result, Shape, ShapeDisplay};

/// Unwraps an operation's result, panicking with the error's message at the
/// caller's location.
#[track_caller]
pub(crate) fn or_panic<T>(result: Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{e}"),
    }
}

/// Defines a panicking function and its `try_` twin from one body.
macro_rules! fallible {
    ($(#[$meta:meta])* pub fn $name:ident / $try_name:ident
        $(<$($gen:ident : $bound:path),*>)? ($($arg:ident : $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$meta])*
        ///
        /// # Panics
        #[doc = concat!("With the error of [`", stringify!($try_name), "`].")]
        #[track_caller]
        pub fn $name $(<$($gen: $bound),*>)? ($($arg: $ty),*) -> $ret {
            $crate::jnp::or_panic($try_name($($arg),*))
        }
        #[doc = concat!("Like [`", stringify!($name), "`], returning the error instead of panicking.")]
        ///
        /// # Errors
        /// An [`Error::Op`](rjax_ir::Error::Op) naming the operation and the offending shapes or dtypes.
        #[track_caller]
        pub fn $try_name $(<$($gen: $bound),*>)? ($($arg: $ty),*) -> Result<$ret> $body
    };
}
pub(crate) use fallible;

/// Which axes a reduction reduces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Axes {
    /// Every axis.
    All,
    /// These axes (negative ones count from the end).
    Some(Vec<isize>),
}

macro_rules! axes_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Axes {
            fn from(axis: $t) -> Axes { Axes::Some(vec![axis as isize]) }
        }
        impl<const N: usize> From<[$t; N]> for Axes {
            fn from(axes: [$t; N]) -> Axes { Axes::Some(axes.iter().map(|&a| a as isize).collect()) }
        }
        impl From<&[$t]> for Axes {
            fn from(axes: &[$t]) -> Axes { Axes::Some(axes.iter().map(|&a| a as isize).collect()) }
        }
        impl From<Vec<$t>> for Axes {
            fn from(axes: Vec<$t>) -> Axes { Axes::Some(axes.iter().map(|&a| a as isize).collect()) }
        }
        impl From<Option<Vec<$t>>> for Axes {
            fn from(axes: Option<Vec<$t>>) -> Axes { axes.map_or(Axes::All, Axes::from) }
        }
    )*};
}
axes_from_int!(i32, i64, isize, usize);

/// Normalises one possibly negative axis against `rank`.
///
/// # Errors
/// When the axis is out of range, naming `op`.
pub fn normalize_axis(op: &str, axis: isize, rank: usize) -> Result<usize> {
    let r = rank as isize;
    if axis < -r || axis >= r {
        return Err(Error::op(
            op,
            format!("axis {axis} is out of bounds for an array of rank {rank}"),
        ));
    }
    Ok(if axis < 0 {
        (axis + r) as usize
    } else {
        axis as usize
    })
}

/// Normalises an axis list: negative axes resolved, duplicates rejected,
/// sorted ascending.
///
/// # Errors
/// Out-of-range or repeated axes, naming `op`.
pub fn normalize_axes(op: &str, axes: &Axes, rank: usize) -> Result<Vec<usize>> {
    match axes {
        Axes::All => Ok((0..rank).collect()),
        Axes::Some(list) => {
            let mut out = list
                .iter()
                .map(|&a| normalize_axis(op, a, rank))
                .collect::<Result<Vec<_>>>()?;
            out.sort_unstable();
            if out.windows(2).any(|w| w[0] == w[1]) {
                return Err(Error::op(op, format!("repeated axis in {list:?}")));
            }
            Ok(out)
        }
    }
}

/// The dtype two operands promote to, following JAX's lattice for rjax's
/// dtypes: `bool < {u32, i32} < f32 < f64`, with `u32` and `i32` meeting at
/// `i32` (JAX's 32-bit mode).
pub fn promote_types(a: DType, b: DType) -> DType {
    fn rank(d: DType) -> u8 {
        match d {
            DType::Bool => 0,
            DType::U32 | DType::I32 => 1,
            DType::F32 => 2,
            DType::F64 => 3,
        }
    }
    if a == b {
        return a;
    }
    match rank(a).cmp(&rank(b)) {
        std::cmp::Ordering::Greater => a,
        std::cmp::Ordering::Less => b,
        std::cmp::Ordering::Equal => DType::I32,
    }
}

/// The NumPy broadcast of two shapes.
///
/// # Errors
/// `"{op}: incompatible shapes for broadcasting: [3,4] vs [5]"`.
pub fn broadcast_shapes(op: &str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let rank = a.len().max(b.len());
    let mut out = Shape::with_capacity(rank);
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out.push(match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(Error::op(
                    op,
                    format!(
                        "incompatible shapes for broadcasting: {} vs {}",
                        ShapeDisplay(a),
                        ShapeDisplay(b)
                    ),
                ))
            }
        });
    }
    Ok(out)
}

/// Converts `x` to `dtype` (no-op when it already has it).
///
/// # Errors
/// Never in practice; the conversion accepts every dtype pair.
#[track_caller]
pub fn convert(x: &Array, dtype: DType) -> Result<Array> {
    if x.dtype() == dtype {
        return Ok(x.clone());
    }
    bind1(
        Primitive::ConvertElementType { new_dtype: dtype },
        std::slice::from_ref(x),
    )
}

/// Broadcasts `x` to `shape` with NumPy rules (no-op when equal).
///
/// # Errors
/// When `x`'s shape does not broadcast to `shape`, naming `op`.
#[track_caller]
pub fn broadcast_to_shape(op: &str, x: &Array, shape: &[usize]) -> Result<Array> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    let (xs, rank) = (x.shape(), shape.len());
    let compatible = xs.len() <= rank
        && xs
            .iter()
            .enumerate()
            .all(|(i, &d)| d == 1 || d == shape[rank - xs.len() + i]);
    if !compatible {
        return Err(Error::op(
            op,
            format!(
                "cannot broadcast shape {} to {}",
                ShapeDisplay(xs),
                ShapeDisplay(shape)
            ),
        ));
    }
    let broadcast_dimensions = (rank - xs.len()..rank).collect();
    bind1(
        Primitive::BroadcastInDim {
            shape: Shape::from_slice(shape),
            broadcast_dimensions,
        },
        std::slice::from_ref(x),
    )
}

/// Promotes operands to a common dtype and broadcasts them to a common
/// shape, leaving rank-0 operands unbroadcast (primitives accept them).
///
/// # Errors
/// When the shapes do not broadcast, naming `op`.
#[track_caller]
pub(crate) fn promote_and_broadcast(op: &str, args: &[&Array]) -> Result<Vec<Array>> {
    let dtype = args
        .iter()
        .map(|a| a.dtype())
        .reduce(promote_types)
        .expect("internal error: no operands");
    let mut shape = Shape::new();
    for a in args {
        shape = broadcast_shapes(op, &shape, a.shape())?;
    }
    args.iter()
        .map(|a| {
            let a = convert(a, dtype)?;
            if a.ndim() == 0 {
                Ok(a)
            } else {
                broadcast_to_shape(op, &a, &shape)
            }
        })
        .collect()
}

/// `x` as a float array: floats unchanged, integers and bools to `f32`
/// (JAX's default float), as `jnp.exp` and friends do.
///
/// # Errors
/// Never in practice.
#[track_caller]
pub(crate) fn to_float(x: &Array) -> Result<Array> {
    if x.dtype().is_float() {
        Ok(x.clone())
    } else {
        convert(x, DType::F32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_lattice() {
        assert_eq!(promote_types(DType::F32, DType::F64), DType::F64);
        assert_eq!(promote_types(DType::I32, DType::F32), DType::F32);
        assert_eq!(promote_types(DType::Bool, DType::I32), DType::I32);
        assert_eq!(promote_types(DType::U32, DType::I32), DType::I32);
        assert_eq!(promote_types(DType::Bool, DType::Bool), DType::Bool);
    }

    #[test]
    fn broadcasting_rules() {
        assert_eq!(
            broadcast_shapes("add", &[3, 1], &[4]).unwrap().as_slice(),
            &[3, 4]
        );
        assert_eq!(
            broadcast_shapes("add", &[], &[2, 0]).unwrap().as_slice(),
            &[2, 0]
        );
        assert_eq!(
            broadcast_shapes("add", &[3, 4], &[5])
                .unwrap_err()
                .to_string(),
            "add: incompatible shapes for broadcasting: [3,4] vs [5]"
        );
    }

    #[test]
    fn axes_normalisation() {
        assert_eq!(
            normalize_axes("sum", &Axes::from([-1, 0]), 3).unwrap(),
            vec![0, 2]
        );
        assert!(normalize_axes("sum", &Axes::from([1, -1]), 2).is_err());
        assert_eq!(
            normalize_axis("sum", 3, 2).unwrap_err().to_string(),
            "sum: axis 3 is out of bounds for an array of rank 2"
        );
    }
}
