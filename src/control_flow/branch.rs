//! `cond` and `switch`: choose one of several functions by a run-time
//! value (primitive `cond`).

use super::trace::{avals, check_same_type, closed, share_captured, trace_fn, Traced};
use crate::array::Array;
use crate::core::bind;
use crate::jnp::or_panic;
use crate::lax;
use crate::tree::{tree_leaves, tree_unflatten, Tree};
use rjax_ir::{DType, Error, Primitive, Result, Scalar};

/// `true_fn(operands)` if `pred` is true, else `false_fn(operands)`, as one
/// traced `cond` (JAX's `lax.cond`): both functions are traced, and only
/// the chosen one runs.
///
/// `pred` is a rank-0 bool or integer (nonzero is true). Both functions
/// must return trees of the same structure, shapes and dtypes. They may
/// capture arrays (captured values become operands of the `cond`).
///
/// Under `vmap` with a batched `pred`, both branches run and the results
/// are selected per example, as in JAX.
///
/// # Example
/// ```
/// use rjax::{jit, jnp, lax, Array};
/// let f = jit(|x: &Array| {
///     let positive = jnp::greater(&x.sum(), &Array::scalar(0.0f32));
///     lax::cond(&positive, |x: &Array| x * 2.0, |x: &Array| -x, x)
/// });
/// let x = Array::from_vec(vec![1.0f32, -3.0], &[2]).unwrap();
/// assert_eq!(f(&x).to_vec::<f32>().unwrap(), vec![-1.0, 3.0]);
/// ```
///
/// # Panics
/// With the error of [`try_cond`].
#[track_caller]
pub fn cond<A: Tree, B: Tree>(
    pred: &Array,
    true_fn: impl Fn(&A) -> B,
    false_fn: impl Fn(&A) -> B,
    operands: &A,
) -> B {
    or_panic(try_cond(pred, true_fn, false_fn, operands))
}

/// Like [`cond`], returning the error instead of panicking.
///
/// # Errors
/// An [`Error::Op`] named `cond` when `pred` is not a rank-0 bool or
/// integer, or when the branches' results differ in structure, shape or
/// dtype (naming `true_fn` and `false_fn` and both types); errors raised
/// while tracing the branches.
pub fn try_cond<A: Tree, B: Tree>(
    pred: &Array,
    true_fn: impl Fn(&A) -> B,
    false_fn: impl Fn(&A) -> B,
    operands: &A,
) -> Result<B> {
    check_scalar("cond", "predicate", pred)?;
    let index = match pred.dtype() {
        DType::Bool => lax::try_convert_element_type(pred, DType::I32)?,
        DType::I32 | DType::U32 => {
            let zero = Array::from_scalar(Scalar::zero(pred.dtype()));
            lax::try_convert_element_type(&lax::try_ne(pred, &zero)?, DType::I32)?
        }
        DType::F32 | DType::F64 => return Err(not_integer("cond", "predicate", pred)),
    };
    let branches: [Named<A, B>; 2] = [("false_fn", &false_fn), ("true_fn", &true_fn)];
    bind_cond("cond", &index, &branches, operands)
}

/// `branches[index](operands)`, with `index` clamped into
/// `0..branches.len()` (JAX's `lax.switch`), as one traced `cond`.
///
/// `index` is a rank-0 integer. Every branch must return a tree of the
/// same structure, shapes and dtypes.
///
/// # Example
/// ```
/// use rjax::{lax, Array};
/// let x = Array::scalar(3.0f32);
/// let double = |x: &Array| x * 2.0;
/// let square = |x: &Array| x * x;
/// let branches: [&dyn Fn(&Array) -> Array; 2] = [&double, &square];
/// let y = lax::switch(&Array::scalar(7i32), &branches, &x); // clamped to 1
/// assert_eq!(y.item::<f32>().unwrap(), 9.0);
/// ```
///
/// # Panics
/// With the error of [`try_switch`].
#[track_caller]
pub fn switch<A: Tree, B: Tree>(index: &Array, branches: &[&dyn Fn(&A) -> B], operands: &A) -> B {
    or_panic(try_switch(index, branches, operands))
}

/// Like [`switch`], returning the error instead of panicking.
///
/// # Errors
/// An [`Error::Op`] named `switch` when there is no branch, when `index`
/// is not a rank-0 integer, or when the branches' results differ in
/// structure, shape or dtype; errors raised while tracing the branches.
pub fn try_switch<A: Tree, B: Tree>(
    index: &Array,
    branches: &[&dyn Fn(&A) -> B],
    operands: &A,
) -> Result<B> {
    let Some(last) = branches.len().checked_sub(1) else {
        return Err(Error::op("switch", "needs at least one branch"));
    };
    check_scalar("switch", "index", index)?;
    let index = match index.dtype() {
        DType::I32 => index.clone(),
        DType::U32 => {
            let hi = Array::from_scalar(Scalar::from_f64(last as f64, DType::U32));
            lax::try_convert_element_type(&lax::try_min(index, &hi)?, DType::I32)?
        }
        DType::Bool | DType::F32 | DType::F64 => return Err(not_integer("switch", "index", index)),
    };
    let names: Vec<String> = (0..branches.len()).map(|i| format!("branch {i}")).collect();
    let named: Vec<Named<A, B>> = names
        .iter()
        .zip(branches)
        .map(|(n, f)| (n.as_str(), *f))
        .collect();
    bind_cond("switch", &index, &named, operands)
}

/// A branch and the name errors call it by.
type Named<'a, A, B> = (&'a str, &'a dyn Fn(&A) -> B);

fn check_scalar(op: &str, what: &str, x: &Array) -> Result<()> {
    if x.ndim() == 0 {
        return Ok(());
    }
    Err(Error::op(
        op,
        format!("the {what} must be a rank-0 array, got {}", x.aval()),
    ))
}

fn not_integer(op: &str, what: &str, x: &Array) -> Error {
    let kind = if op == "cond" {
        "bool or integer"
    } else {
        "integer"
    };
    Error::op(
        op,
        format!("the {what} must be a {kind} scalar, got {}", x.aval()),
    )
}

/// Traces every branch on the operands' types and binds `cond` with the
/// `i32` index, the captured values and the operands.
fn bind_cond<A: Tree, B: Tree>(
    op: &str,
    index: &Array,
    branches: &[Named<A, B>],
    operands: &A,
) -> Result<B> {
    let leaves = tree_leaves(operands);
    let in_avals = avals(&leaves);
    let traced = branches
        .iter()
        .map(|(_, f)| {
            trace_fn(&in_avals, |ins| {
                Ok(f(&operands.unflatten_from(&mut ins.iter().cloned())?))
            })
        })
        .collect::<Result<Vec<Traced<B>>>>()?;
    let (first_name, first) = (branches[0].0, &traced[0].out);
    for ((name, _), t) in branches.iter().zip(&traced).skip(1) {
        check_same_type(
            op,
            (name, &t.out),
            (&format!("the result of {first_name}"), first),
        )?;
    }
    let mut template = None;
    let mut parts = Vec::with_capacity(traced.len());
    for t in traced {
        parts.push((t.jaxpr, t.captured));
        template.get_or_insert(t.out);
    }
    let template = template.ok_or_else(|| Error::op(op, "internal error: no branch was traced"))?;
    let (jaxprs, captured) = share_captured(parts);
    let prim = Primitive::Cond {
        branches: jaxprs.into_iter().map(closed).collect(),
    };
    let operands_all: Vec<Array> = std::iter::once(index.clone())
        .chain(captured)
        .chain(leaves)
        .collect();
    let outs = bind(prim, &operands_all)?;
    tree_unflatten(&template, outs)
}
