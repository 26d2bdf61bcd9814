//! Batching: the trace behind `vmap` and its rule table.
//!
//! A [`BatchTrace`] tracer carries the values of every example at once —
//! one array with a *batch axis* — or, when the value is the same for every
//! example, the plain value with no batch axis (`None`, JAX's
//! `not_mapped`). The tracer's abstract value is one example's.
//!
//! [`batch_rule`] holds one arm per primitive, in enum order, with no
//! wildcard. Given the operands' values and batch axes, a rule computes the
//! batched results and their batch axes with traceable operations (`lax`),
//! so batching composes with every other transformation: `vmap(grad(f))`,
//! `grad(vmap(f))`, `jit(vmap(f))`, `vmap(vmap(f))`.
//!
//! Most rules first move the batch axis of each batched operand to the
//! front (a `transpose`, skipped when it is already there), broadcast
//! unbatched operands where the primitive needs every operand batched, and
//! shift the primitive's axis parameters by one. Elementwise rules and a few
//! others keep the batch axis where it is. Indexing with per-example
//! indices (`gather`, `scatter`, `dynamic_slice`, `dynamic_update_slice`)
//! merges the batch axis into the indexed axis so that one `gather` or
//! `scatter` serves every example (see `batching_rules`). Higher-order
//! primitives (`call`, `custom_jvp_call`, `custom_vjp_call`, `custom_lin`)
//! batch the jaxprs they carry and stay one primitive, so `vmap(jit(f))`
//! keeps the compiled call and custom derivatives survive `vmap`. The
//! control-flow primitives (`cond`, `while`, `scan`) have their rules in
//! `control_flow_batching`.

use crate::array::{Array, Repr, TracerKind};
use crate::core::{with_trace, Trace, TraceTag};
use crate::lax;
use crate::transforms::batching_rules as rules;
use crate::transforms::control_flow_batching as cf;
use rjax_ir::{Error, Primitive, Result, Scalar, Shape};
use std::panic::Location;
use std::rc::Rc;

/// Batch axes of a rule's operands or results: `None` is not mapped.
pub(crate) type BatchAxes = Vec<Option<usize>>;

/// The batching trace: see the [module docs](self).
pub struct BatchTrace {
    tag: TraceTag,
    parent: Rc<dyn Trace>,
    size: usize,
}

impl BatchTrace {
    /// A batching trace over `size` examples whose rules run on `parent`.
    pub fn new(parent: Rc<dyn Trace>, size: usize) -> Rc<BatchTrace> {
        Rc::new(BatchTrace {
            tag: TraceTag::fresh(),
            parent,
            size,
        })
    }

    /// The number of examples.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Wraps `value`, batched along `axis` (or the same for every example
    /// when `None`), as a tracer of this trace.
    pub fn lift(&self, value: Array, axis: Option<usize>) -> Array {
        let mut aval = value.aval();
        if let Some(a) = axis {
            debug_assert_eq!(
                aval.shape.get(a),
                Some(&self.size),
                "internal error: batch axis size"
            );
            aval.shape.remove(a);
        }
        Array::tracer(self.tag, aval, TracerKind::Batch { value, axis })
    }

    /// The value and batch axis of `array` as seen by this trace: its own
    /// tracers are unpacked, anything else is the same for every example.
    pub fn unpack(&self, array: &Array) -> (Array, Option<usize>) {
        match array.repr() {
            Repr::Traced(t) if t.tag == self.tag => match &t.kind {
                TracerKind::Batch { value, axis } => (value.clone(), *axis),
                TracerKind::Staged { .. } => {
                    panic!("internal error: a staged tracer carries a batch tag")
                }
                TracerKind::Jvp { .. } => {
                    panic!("internal error: a jvp tracer carries a batch tag")
                }
            },
            Repr::Concrete(_) | Repr::Placed(_) | Repr::Traced(_) => (array.clone(), None),
        }
    }
}

impl Trace for BatchTrace {
    fn tag(&self) -> Option<TraceTag> {
        Some(self.tag)
    }

    fn process_primitive(
        &self,
        prim: &Primitive,
        args: &[Array],
        loc: &'static Location<'static>,
    ) -> Result<Vec<Array>> {
        let (values, axes): (Vec<Array>, BatchAxes) = args.iter().map(|a| self.unpack(a)).unzip();
        if axes.iter().all(Option::is_none) {
            // Nothing is batched: the parent runs the primitive once.
            return self.parent.process_primitive(prim, &values, loc);
        }
        let (outs, out_axes) = with_trace(self.parent.clone(), || {
            batch_rule(prim, &values, &axes, self.size)
        })?;
        Ok(outs
            .into_iter()
            .zip(out_axes)
            .map(|(v, a)| self.lift(v, a))
            .collect())
    }
}

/// The batched results of `prim` on operands `x` batched along `d`, over
/// `size` examples, with the results' batch axes. Runs on the current
/// trace.
///
/// # Errors
/// The primitive's shape error, or a rule's own error.
pub(crate) fn batch_rule(
    prim: &Primitive,
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Result<(Vec<Array>, BatchAxes)> {
    use Primitive as P;
    match prim {
        P::Neg | P::Exp | P::Log | P::Log1p | P::Expm1 => unary(prim, x, d),
        P::Sin | P::Cos | P::Tanh | P::Logistic | P::Sqrt | P::Rsqrt => unary(prim, x, d),
        P::Abs | P::Sign | P::Floor | P::Ceil | P::Round | P::Erf => unary(prim, x, d),
        P::Not | P::IsFinite => unary(prim, x, d),
        P::Add | P::Sub | P::Mul | P::Div | P::Rem | P::Pow => elementwise(prim, x, d, size),
        P::Max | P::Min | P::And | P::Or | P::Xor => elementwise(prim, x, d, size),
        P::Eq | P::Ne | P::Lt | P::Le | P::Gt | P::Ge => elementwise(prim, x, d, size),
        P::Select => elementwise(prim, x, d, size),
        P::ConvertElementType { .. } => unary(prim, x, d),
        P::BroadcastInDim {
            shape,
            broadcast_dimensions: dims,
        } => front(x, d, size, |v| {
            lax::try_broadcast_in_dim(v, &prepend(size, shape), &cons(0, &plus1(dims)))
        }),
        P::Reshape { new_sizes } => front(x, d, size, |v| {
            lax::try_reshape(v, &prepend(size, new_sizes))
        }),
        P::Transpose { permutation } => front(x, d, size, |v| {
            lax::try_transpose(v, &cons(0, &plus1(permutation)))
        }),
        P::ReduceSum { axes } => front(x, d, size, |v| lax::try_reduce_sum(v, &plus1(axes))),
        P::ReduceMax { axes } => front(x, d, size, |v| lax::try_reduce_max(v, &plus1(axes))),
        P::ReduceMin { axes } => front(x, d, size, |v| lax::try_reduce_min(v, &plus1(axes))),
        P::ReduceProd { axes } => front(x, d, size, |v| lax::try_reduce_prod(v, &plus1(axes))),
        P::ArgMax { axis, index_dtype } => {
            front(x, d, size, |v| lax::try_argmax(v, axis + 1, *index_dtype))
        }
        P::ArgMin { axis, index_dtype } => {
            front(x, d, size, |v| lax::try_argmin(v, axis + 1, *index_dtype))
        }
        P::Cumsum { axis, reverse } => {
            front(x, d, size, |v| lax::try_cumsum(v, axis + 1, *reverse))
        }
        P::DotGeneral {
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
        } => dot_general([lhs_contract, rhs_contract, lhs_batch, rhs_batch], x, d),
        P::Slice {
            start,
            limit,
            strides,
        } => front(x, d, size, |v| {
            lax::try_slice(v, &cons(0, start), &cons(size, limit), &cons(1, strides))
        }),
        P::Pad {
            low,
            high,
            interior,
        } => rules::pad([low, high], interior, x, d, size),
        P::Concatenate { axis } => concatenate(*axis, x, d, size),
        P::Rev { axes } => front(x, d, size, |v| lax::try_rev(v, &plus1(axes))),
        P::DynamicSlice { slice_sizes } => rules::dynamic_slice(slice_sizes, x, d, size),
        P::DynamicUpdateSlice => rules::dynamic_update_slice(x, d, size),
        P::Gather { axis } => rules::gather(*axis, x, d, size),
        P::Scatter { axis, kind } => rules::scatter(*axis, *kind, x, d, size),
        P::Iota { .. } => unbatched(prim, x),
        P::RandomBits { shape } => rules::random_bits(prim, shape, x, d, size),
        P::StopGradient => unary(prim, x, d),
        P::Call { jaxpr, name } => rules::call(jaxpr, name, x, d, size),
        P::Cond { branches } => cf::cond(branches, x, d, size),
        P::While {
            cond_jaxpr,
            body_jaxpr,
        } => cf::while_loop(cond_jaxpr, body_jaxpr, x, d, size),
        P::Scan {
            body,
            length,
            reverse,
            num_consts,
            num_carry,
        } => cf::scan(
            body,
            [*length, *num_consts, *num_carry],
            *reverse,
            x,
            d,
            size,
        ),
        P::CustomJvpCall { call, jvp } => rules::custom_jvp_call(call, jvp, x, d, size),
        P::CustomVjpCall {
            call,
            fwd,
            bwd,
            num_outputs,
        } => rules::custom_vjp_call([call, fwd, bwd], *num_outputs, x, d, size),
        P::CustomLin { bwd, num_residuals } => rules::custom_lin(bwd, *num_residuals, x, d, size),
    }
}

// ---- shared helpers ------------------------------------------------------------

/// `shape` with `size` in front.
pub(crate) fn prepend(size: usize, shape: &[usize]) -> Shape {
    let mut out = Shape::with_capacity(shape.len() + 1);
    out.push(size);
    out.extend_from_slice(shape);
    out
}

/// `head` followed by `rest`.
pub(crate) fn cons<T: Clone>(head: T, rest: &[T]) -> Vec<T> {
    std::iter::once(head).chain(rest.iter().cloned()).collect()
}

/// Every axis shifted by one (past a leading batch axis).
pub(crate) fn plus1(axes: &[usize]) -> Vec<usize> {
    axes.iter().map(|a| a + 1).collect()
}

/// A rank-0 literal of `dtype`.
pub(crate) fn scalar(value: f64, dtype: rjax_ir::DType) -> Array {
    Array::from_scalar(Scalar::from_f64(value, dtype))
}

/// Moves axis `from` of `x` to position `to` (no operation when equal).
pub(crate) fn moveaxis(x: &Array, from: usize, to: usize) -> Result<Array> {
    if from == to {
        return Ok(x.clone());
    }
    let mut perm: Vec<usize> = (0..x.ndim()).filter(|&a| a != from).collect();
    perm.insert(to, from);
    lax::try_transpose(x, &perm)
}

/// `x` batched along axis 0: its batch axis moved to the front, or, when
/// it is not batched, broadcast along a new leading axis of `size`.
pub(crate) fn to_front(x: &Array, axis: Option<usize>, size: usize) -> Result<Array> {
    match axis {
        Some(a) => moveaxis(x, a, 0),
        None => {
            let dims: Vec<usize> = (1..=x.ndim()).collect();
            lax::try_broadcast_in_dim(x, &prepend(size, x.shape()), &dims)
        }
    }
}

/// The rank of one example of `x` batched along `axis`.
pub(crate) fn example_rank(x: &Array, axis: Option<usize>) -> usize {
    x.ndim() - usize::from(axis.is_some())
}

fn bind(prim: &Primitive, args: &[Array]) -> Result<Vec<Array>> {
    crate::core::bind(prim.clone(), args)
}

/// A primitive with no batched operand (only `iota`, which has none): run
/// once, the results are the same for every example.
fn unbatched(prim: &Primitive, x: &[Array]) -> Result<(Vec<Array>, BatchAxes)> {
    let outs = bind(prim, x)?;
    let n = outs.len();
    Ok((outs, vec![None; n]))
}

/// A one-operand elementwise primitive: applied as is, the batch axis stays.
fn unary(prim: &Primitive, x: &[Array], d: &[Option<usize>]) -> Result<(Vec<Array>, BatchAxes)> {
    Ok((bind(prim, x)?, vec![d[0]]))
}

/// A one-operand primitive applied by `f` to the operand batched along
/// axis 0, giving a result batched along axis 0.
fn front(
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
    f: impl FnOnce(&Array) -> Result<Array>,
) -> Result<(Vec<Array>, BatchAxes)> {
    let v = to_front(&x[0], d[0], size)?;
    Ok((vec![f(&v)?], vec![Some(0)]))
}

/// An elementwise primitive of any arity. Operands share one example
/// shape or are rank-0 (the elementwise convention). When every batched
/// operand has the full rank and the same batch axis, and the unbatched
/// ones are rank-0, the primitive applies as is. Otherwise batched operands
/// move their batch axis to the front, and the rest are broadcast to the
/// batched result shape, except unbatched rank-0 operands, which the
/// convention already broadcasts.
fn elementwise(
    prim: &Primitive,
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Result<(Vec<Array>, BatchAxes)> {
    let rank = x
        .iter()
        .zip(d)
        .map(|(v, a)| example_rank(v, *a))
        .max()
        .unwrap_or(0);
    let first = d.iter().flatten().next().copied();
    let as_is = x.iter().zip(d).all(|(v, a)| match a {
        Some(_) => *a == first && v.ndim() == rank + 1,
        None => v.ndim() == 0,
    });
    if as_is {
        return Ok((bind(prim, x)?, vec![first]));
    }
    let full = x
        .iter()
        .zip(d)
        .find(|(v, a)| example_rank(v, **a) == rank)
        .map(|(v, a)| {
            let mut s = Shape::from_slice(v.shape());
            if let Some(a) = a {
                s.remove(*a);
            }
            prepend(size, &s)
        })
        .ok_or_else(|| Error::op(prim.name(), "internal error: no operands"))?;
    let args = x
        .iter()
        .zip(d)
        .map(|(v, a)| match a {
            None if v.ndim() == 0 => Ok(v.clone()),
            None => lax::try_broadcast_in_dim(v, &full, &(1..=v.ndim()).collect::<Vec<_>>()),
            Some(a) => {
                let v = moveaxis(v, *a, 0)?;
                if v.ndim() == full.len() {
                    Ok(v)
                } else {
                    lax::try_broadcast_in_dim(&v, &full, &[0])
                }
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((bind(prim, &args)?, vec![Some(0)]))
}

/// `dot_general`: a batched operand's batch axis becomes a batch dimension
/// of the contraction when both are batched, and a free dimension when
/// only one is.
fn dot_general(
    [lc, rc, lb, rb]: [&Vec<usize>; 4],
    x: &[Array],
    d: &[Option<usize>],
) -> Result<(Vec<Array>, BatchAxes)> {
    let (l, r) = (&x[0], &x[1]);
    match (d[0], d[1]) {
        (Some(a), Some(b)) => {
            let (l, r) = (moveaxis(l, a, 0)?, moveaxis(r, b, 0)?);
            let (lb, rb) = (cons(0, &plus1(lb)), cons(0, &plus1(rb)));
            let y = lax::try_dot_general(&l, &r, &plus1(lc), &plus1(rc), &lb, &rb)?;
            Ok((vec![y], vec![Some(0)]))
        }
        (Some(a), None) => {
            let l = moveaxis(l, a, 0)?;
            let y = lax::try_dot_general(&l, r, &plus1(lc), rc, &plus1(lb), rb)?;
            Ok((vec![y], vec![Some(lb.len())]))
        }
        (None, Some(b)) => {
            let r = moveaxis(r, b, 0)?;
            let y = lax::try_dot_general(l, &r, lc, &plus1(rc), lb, &plus1(rb))?;
            let lhs_free = l.ndim() - lb.len() - lc.len();
            Ok((vec![y], vec![Some(lb.len() + lhs_free)]))
        }
        (None, None) => {
            let y = lax::try_dot_general(l, r, lc, rc, lb, rb)?;
            Ok((vec![y], vec![None]))
        }
    }
}

/// `concatenate`: every operand batched along axis 0.
fn concatenate(
    axis: usize,
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Result<(Vec<Array>, BatchAxes)> {
    let args = x
        .iter()
        .zip(d)
        .map(|(v, a)| to_front(v, *a, size))
        .collect::<Result<Vec<_>>>()?;
    Ok((vec![lax::try_concatenate(&args, axis + 1)?], vec![Some(0)]))
}
