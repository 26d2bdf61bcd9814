//! `scan`: a loop with a carry over the leading axis of its inputs,
//! stacking per-step outputs (primitive `scan`).

use super::trace::{avals, check_same_type, closed, share_captured, trace_fn};
use crate::array::Array;
use crate::core::bind;
use crate::jnp::or_panic;
use crate::tree::{tree_leaves, Tree};
use rjax_ir::{AVal, Error, Primitive, Result};

/// Options of [`scan`]: the trip count when there is nothing to scan over,
/// and the direction.
///
/// ```
/// use rjax::lax::ScanOptions;
/// let o = ScanOptions::default().with_length(5).reversed();
/// assert_eq!((o.length, o.reverse), (Some(5), true));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanOptions {
    /// The number of steps. Required when `xs` has no leaves; when given
    /// with `xs`, it must equal their leading size.
    pub length: Option<usize>,
    /// Iterate from the last slice of `xs` to the first (the stacked
    /// outputs stay in index order: step `i`'s output is at position `i`).
    pub reverse: bool,
}

impl ScanOptions {
    /// These options with `length` set.
    pub fn with_length(self, length: usize) -> ScanOptions {
        ScanOptions {
            length: Some(length),
            ..self
        }
    }

    /// These options iterating backwards.
    pub fn reversed(self) -> ScanOptions {
        ScanOptions {
            reverse: true,
            ..self
        }
    }
}

/// Scans `f` over the leading axis of `xs` with a carry (JAX's
/// `lax.scan`): for `i` in `0..length` (descending when
/// `options.reverse`), `(carry, y_i) = f(&carry, &xs[i])`, where `xs[i]`
/// is the tree of the leaves' `i`-th slices along axis 0. Returns the final
/// carry and the `y_i` stacked along a new axis 0 (position `i` holds step
/// `i`'s output).
///
/// `f` must return a carry of the same tree structure, shapes and dtypes as
/// `init`. `xs` may be a tree without leaves (`&()`) when
/// `options.length` is given. `f` may capture arrays; they become the
/// scan's loop-invariant operands.
///
/// The body is traced once, so compile time does not grow with the trip
/// count, and the loop is differentiable in both modes and batchable.
///
/// # Example
/// ```
/// use rjax::{lax, lax::ScanOptions, Array};
/// // Running sum.
/// let xs = Array::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap();
/// let (total, partial) = lax::scan(
///     |c: &Array, x: &Array| {
///         let c = c + x;
///         (c.clone(), c)
///     },
///     &Array::scalar(0.0f32),
///     &xs,
///     ScanOptions::default(),
/// );
/// assert_eq!(total.item::<f32>().unwrap(), 6.0);
/// assert_eq!(partial.to_vec::<f32>().unwrap(), vec![1.0, 3.0, 6.0]);
/// ```
///
/// # Panics
/// With the error of [`try_scan`].
#[track_caller]
pub fn scan<C: Tree, X: Tree, Y: Tree>(
    f: impl Fn(&C, &X) -> (C, Y),
    init: &C,
    xs: &X,
    options: ScanOptions,
) -> (C, Y) {
    or_panic(try_scan(f, init, xs, options))
}

/// Like [`scan`], returning the error instead of panicking.
///
/// # Errors
/// An [`Error::Op`] named `scan` when the leaves of `xs` are rank 0 or
/// disagree in leading size (or with `options.length`), when `xs` has no
/// leaves and no length is given, or when the carry `f` returns differs
/// from `init` in structure, shape or dtype; errors raised while tracing
/// `f`.
pub fn try_scan<C: Tree, X: Tree, Y: Tree>(
    f: impl Fn(&C, &X) -> (C, Y),
    init: &C,
    xs: &X,
    options: ScanOptions,
) -> Result<(C, Y)> {
    let carry = tree_leaves(init);
    let x_leaves = tree_leaves(xs);
    let length = scan_length(&x_leaves, options.length)?;
    let slice_avals = x_leaves
        .iter()
        .map(|x| AVal::new(x.dtype(), &x.shape()[1..]));
    let in_avals: Vec<AVal> = avals(&carry).into_iter().chain(slice_avals).collect();
    let n_carry = carry.len();
    let traced = trace_fn(&in_avals, |ins| {
        let c = init.unflatten_from(&mut ins[..n_carry].iter().cloned())?;
        let x = xs.unflatten_from(&mut ins[n_carry..].iter().cloned())?;
        let (c, y) = f(&c, &x);
        check_same_type("scan", ("f", &c), ("the carry init", init))?;
        Ok((c, y))
    })?;
    let (mut jaxprs, captured) = share_captured(vec![(traced.jaxpr, traced.captured)]);
    let body = closed(jaxprs.remove(0));
    let prim = Primitive::Scan {
        body,
        length,
        reverse: options.reverse,
        num_consts: captured.len(),
        num_carry: n_carry,
    };
    let operands: Vec<Array> = captured.into_iter().chain(carry).chain(x_leaves).collect();
    let outs = bind(prim, &operands)?;
    let mut outs = outs.into_iter();
    let c = init.unflatten_from(&mut outs)?;
    let y = traced.out.1.unflatten_from(&mut outs)?;
    Ok((c, y))
}

/// The trip count: the common leading size of the `xs` leaves, or the
/// given length.
fn scan_length(xs: &[Array], given: Option<usize>) -> Result<usize> {
    let mut length = given;
    for (i, x) in xs.iter().enumerate() {
        let Some(&n) = x.shape().first() else {
            return Err(Error::op(
                "scan",
                format!(
                    "xs leaf {i} is {}: scanned arrays need a leading axis",
                    x.aval()
                ),
            ));
        };
        match length {
            Some(l) if l != n => {
                let what = if given.is_some() {
                    "the given length"
                } else {
                    "xs leaf 0"
                };
                return Err(Error::op(
                    "scan",
                    format!(
                        "xs leaf {i} has leading size {n} (shape {}), but {what} is {l}",
                        x.aval()
                    ),
                ));
            }
            Some(_) => {}
            None => length = Some(n),
        }
    }
    length.ok_or_else(|| {
        Error::op(
            "scan",
            "xs has no leaves, so the length must be given (ScanOptions::with_length)",
        )
    })
}
