//! `while_loop` (primitive `while`) and `fori_loop` (a `scan` when its
//! bounds are known at trace time, a `while` otherwise).

use super::scan::{try_scan, ScanOptions};
use super::trace::{
    avals, check_same_type, closed, pass_through_leading, share_captured, trace_fn, tree_copy,
};
use crate::array::Array;
use crate::core::bind;
use crate::jnp::or_panic;
use crate::lax;
use crate::tree::{tree_leaves, Tree};
use rjax_ir::{AVal, DType, Error, Primitive, Result};

/// Repeats `carry = body_fn(&carry)` while `cond_fn(&carry)` is true and
/// returns the final carry (JAX's `lax.while_loop`), as one traced `while`.
///
/// `cond_fn` returns a rank-0 bool; `body_fn` returns a carry of the same
/// tree structure, shapes and dtypes as `init`. Both may capture arrays.
///
/// Forward-mode differentiation (`jvp`, `jacfwd`) works; reverse mode does
/// not, as in JAX: the trip count is unknown, so there is nothing to store
/// the forward pass in. Use [`scan`](crate::lax::scan) or
/// [`fori_loop`] with bounds known at trace time instead. Under `vmap`, a
/// batched condition runs the loop until every example is done, freezing
/// the examples that finish first.
///
/// # Example
/// ```
/// use rjax::{jnp, lax, Array};
/// // Double until at least 100.
/// let y = lax::while_loop(
///     |x: &Array| jnp::less(x, &Array::scalar(100.0f32)),
///     |x: &Array| x * 2.0,
///     &Array::scalar(3.0f32),
/// );
/// assert_eq!(y.item::<f32>().unwrap(), 192.0);
/// ```
///
/// # Panics
/// With the error of [`try_while_loop`].
#[track_caller]
pub fn while_loop<C: Tree>(
    cond_fn: impl Fn(&C) -> Array,
    body_fn: impl Fn(&C) -> C,
    init: &C,
) -> C {
    or_panic(try_while_loop(cond_fn, body_fn, init))
}

/// Like [`while_loop`], returning the error instead of panicking.
///
/// # Errors
/// An [`Error::Op`] named `while_loop` when `cond_fn` does not return a
/// rank-0 bool, or when `body_fn` returns a carry that differs from `init`
/// in structure, shape or dtype; errors raised while tracing.
pub fn try_while_loop<C: Tree>(
    cond_fn: impl Fn(&C) -> Array,
    body_fn: impl Fn(&C) -> C,
    init: &C,
) -> Result<C> {
    let carry = tree_leaves(init);
    let in_avals = avals(&carry);
    let unflatten = |ins: &[Array]| init.unflatten_from(&mut ins.iter().cloned());
    let cond = trace_fn(&in_avals, |ins| {
        let p = cond_fn(&unflatten(ins)?);
        if p.aval() != AVal::scalar(DType::Bool) {
            return Err(Error::op(
                "while_loop",
                format!(
                    "cond_fn must return a bool[] scalar, but returns {}",
                    p.aval()
                ),
            ));
        }
        Ok(p)
    })?;
    let body = trace_fn(&in_avals, |ins| {
        let c = body_fn(&unflatten(ins)?);
        check_same_type("while_loop", ("body_fn", &c), ("the carry init", init))?;
        Ok(c)
    })?;
    let parts = vec![(cond.jaxpr, cond.captured), (body.jaxpr, body.captured)];
    let (mut jaxprs, captured) = share_captured(parts);
    let k = captured.len();
    let body_jaxpr = closed(pass_through_leading(jaxprs.remove(1), k));
    let cond_jaxpr = closed(jaxprs.remove(0));
    let prim = Primitive::While {
        cond_jaxpr,
        body_jaxpr,
    };
    let operands: Vec<Array> = captured.into_iter().chain(carry).collect();
    let outs = bind(prim, &operands)?;
    init.unflatten_from(&mut outs.into_iter().skip(k))
}

/// `body(i, carry)` for `i` in `lower..upper`, returning the final carry
/// (JAX's `lax.fori_loop`); `i` is a rank-0 `i32` array.
///
/// With bounds known at trace time (these `i64`s) the loop is a
/// [`scan`](crate::lax::scan) of `max(upper - lower, 0)` steps, so it is
/// differentiable in reverse mode too. For bounds that are traced arrays,
/// see [`fori_loop_dynamic`].
///
/// # Example
/// ```
/// use rjax::{lax, Array};
/// // 1 + 2 + 3 + 4 as f32.
/// let add_index = |i: &Array, s: &Array| s + i.astype(rjax::DType::F32);
/// let s = lax::fori_loop(1, 5, add_index, &Array::scalar(0.0f32));
/// assert_eq!(s.item::<f32>().unwrap(), 10.0);
/// ```
///
/// # Panics
/// With the error of [`try_fori_loop`].
#[track_caller]
pub fn fori_loop<C: Tree>(lower: i64, upper: i64, body: impl Fn(&Array, &C) -> C, init: &C) -> C {
    or_panic(try_fori_loop(lower, upper, body, init))
}

/// Like [`fori_loop`], returning the error instead of panicking.
///
/// # Errors
/// An [`Error::Op`] named `fori_loop` when a bound does not fit in `i32`;
/// the errors of [`try_scan`] (a carry of another type).
pub fn try_fori_loop<C: Tree>(
    lower: i64,
    upper: i64,
    body: impl Fn(&Array, &C) -> C,
    init: &C,
) -> Result<C> {
    let bound = |b: i64| {
        i32::try_from(b).map_err(|_| {
            Error::op(
                "fori_loop",
                format!("the bound {b} does not fit the i32 loop index"),
            )
        })
    };
    let (lo, hi) = (bound(lower)?, bound(upper)?);
    let length = usize::try_from(i64::from(hi) - i64::from(lo)).unwrap_or(0);
    let start = (Array::scalar(lo), tree_copy(init)?);
    let step = |(i, c): &(Array, C), _: &()| -> ((Array, C), ()) {
        let next = or_panic(lax::try_add(i, &Array::scalar(1i32)));
        ((next, body(i, c)), ())
    };
    let ((_, out), ()) = try_scan(
        step,
        &start,
        &(),
        ScanOptions::default().with_length(length),
    )?;
    Ok(out)
}

/// [`fori_loop`] with bounds that are rank-0 integer arrays, possibly
/// traced: a [`while_loop`] over `(i, carry)`. Like every `while_loop`, it
/// is differentiable in forward mode only.
///
/// # Example
/// ```
/// use rjax::{jit, lax, Array};
/// let f = jit(|n: &Array| {
///     lax::fori_loop_dynamic(&Array::scalar(0i32), n, |_, p: &Array| p * 2.0, &Array::scalar(1.0f32))
/// });
/// assert_eq!(f(&Array::scalar(5i32)).item::<f32>().unwrap(), 32.0);
/// ```
///
/// # Panics
/// With the error of [`try_fori_loop_dynamic`].
#[track_caller]
pub fn fori_loop_dynamic<C: Tree>(
    lower: &Array,
    upper: &Array,
    body: impl Fn(&Array, &C) -> C,
    init: &C,
) -> C {
    or_panic(try_fori_loop_dynamic(lower, upper, body, init))
}

/// Like [`fori_loop_dynamic`], returning the error instead of panicking.
///
/// # Errors
/// An [`Error::Op`] named `fori_loop` when a bound is not a rank-0 `i32`
/// or `u32`; the errors of [`try_while_loop`].
pub fn try_fori_loop_dynamic<C: Tree>(
    lower: &Array,
    upper: &Array,
    body: impl Fn(&Array, &C) -> C,
    init: &C,
) -> Result<C> {
    let as_index = |b: &Array, what: &str| -> Result<Array> {
        match (b.ndim(), b.dtype()) {
            (0, DType::I32) => Ok(b.clone()),
            (0, DType::U32) => lax::try_convert_element_type(b, DType::I32),
            _ => Err(Error::op(
                "fori_loop",
                format!(
                    "the {what} bound must be an integer scalar, got {}",
                    b.aval()
                ),
            )),
        }
    };
    let start = (
        as_index(lower, "lower")?,
        as_index(upper, "upper")?,
        tree_copy(init)?,
    );
    let (_, _, out) = try_while_loop(
        |(i, hi, _): &(Array, Array, C)| or_panic(lax::try_lt(i, hi)),
        |(i, hi, c): &(Array, Array, C)| {
            let next = or_panic(lax::try_add(i, &Array::scalar(1i32)));
            (next, hi.clone(), body(i, c))
        },
        &start,
    )?;
    Ok(out)
}
