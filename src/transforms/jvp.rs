//! Forward-mode differentiation: the jvp trace and its rule table.
//!
//! A [`JvpTrace`] tracer carries a primal value and its tangent, with `None`
//! standing for a symbolic zero so that inputs nobody perturbs cost nothing.
//! [`jvp_rule`] holds one arm per primitive, in enum order, with no
//! wildcard: each rule computes the primal outputs and the output tangents
//! using traceable operations (`lax`), so rules compose with every other
//! transformation, including another jvp — derivatives of derivatives.
//!
//! Tangent computations only ever apply *linear* operations to tangents
//! (with primal-dependent coefficients). `linearize` relies on this: it
//! stages exactly the tangent operations, and `transpose.rs` has a rule for
//! each of them.
//!
//! Integer and boolean values have no tangent (JAX's `float0`): their
//! tangents are always symbolic zeros.

use crate::array::{Array, Repr, TracerKind};
use crate::core::{with_trace, Trace, TraceTag};
use crate::lax;
use crate::transforms::control_flow_jvp as cf;
use crate::transforms::eval_jaxpr;
use rjax_ir::{AVal, DType, Error, Primitive, Result, Scalar, ScatterKind, Shape};
use std::panic::Location;
use std::rc::Rc;

/// Tangents of a rule's operands or results: `None` is a symbolic zero.
pub(crate) type Tangents = Vec<Option<Array>>;

/// The forward-mode trace.
pub struct JvpTrace {
    tag: TraceTag,
    parent: Rc<dyn Trace>,
}

impl JvpTrace {
    /// A jvp trace whose rules run on `parent`.
    pub fn new(parent: Rc<dyn Trace>) -> Rc<JvpTrace> {
        Rc::new(JvpTrace {
            tag: TraceTag::fresh(),
            parent,
        })
    }

    /// Wraps a primal and its tangent as a tracer of this trace. Tangents of
    /// non-float values are dropped.
    pub fn lift(&self, primal: Array, tangent: Option<Array>) -> Array {
        let tangent = if primal.dtype().is_float() {
            tangent
        } else {
            None
        };
        Array::tracer(self.tag, primal.aval(), TracerKind::Jvp { primal, tangent })
    }

    /// The primal and tangent of `array` as seen by this trace: its own
    /// tracers are unpacked, anything else is a constant with zero tangent.
    pub fn unpack(&self, array: &Array) -> (Array, Option<Array>) {
        match array.repr() {
            Repr::Traced(t) if t.tag == self.tag => match &t.kind {
                TracerKind::Jvp { primal, tangent } => (primal.clone(), tangent.clone()),
                TracerKind::Staged { .. } => panic!("internal error: staged tracer with a jvp tag"),
                TracerKind::Batch { .. } => panic!("internal error: batch tracer with a jvp tag"),
            },
            Repr::Concrete(_) | Repr::Placed(_) | Repr::Traced(_) => (array.clone(), None),
        }
    }
}

impl Trace for JvpTrace {
    fn tag(&self) -> Option<TraceTag> {
        Some(self.tag)
    }

    fn process_primitive(
        &self,
        prim: &Primitive,
        args: &[Array],
        _loc: &'static Location<'static>,
    ) -> Result<Vec<Array>> {
        let (primals, tangents): (Vec<Array>, Tangents) =
            args.iter().map(|a| self.unpack(a)).unzip();
        if tangents.iter().all(Option::is_none) {
            // Nothing to differentiate: pass the primitive to the parent.
            return self.parent.process_primitive(prim, &primals, _loc);
        }
        let (outs, out_tangents) =
            with_trace(self.parent.clone(), || jvp_rule(prim, &primals, &tangents))?;
        Ok(outs
            .into_iter()
            .zip(out_tangents)
            .map(|(p, t)| self.lift(p, t))
            .collect())
    }
}

/// Primal outputs and output tangents of `prim` at `primals` in the
/// direction `tangents`. Runs on the current trace.
///
/// # Errors
/// The primitive's shape error, or a rule's own error (forward mode of a
/// `custom_vjp` function, scatter-mul with respect to its updates).
pub(crate) fn jvp_rule(
    prim: &Primitive,
    x: &[Array],
    t: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    use Primitive as P;
    match prim {
        P::Neg => linear(prim, x, t),
        P::Exp => unary(prim, x, t, |_, y, t| lax::try_mul(t, y)),
        P::Log => unary(prim, x, t, |x, _, t| lax::try_div(t, x)),
        P::Log1p => unary(prim, x, t, |x, _, t| lax::try_div(t, &lax::try_add(x, &one(x))?)),
        P::Expm1 => unary(prim, x, t, |_, y, t| lax::try_mul(t, &lax::try_add(y, &one(y))?)),
        P::Sin => unary(prim, x, t, |x, _, t| lax::try_mul(t, &lax::try_cos(x)?)),
        P::Cos => unary(prim, x, t, |x, _, t| lax::try_mul(t, &lax::try_neg(&lax::try_sin(x)?)?)),
        P::Tanh => unary(prim, x, t, |_, y, t| lax::try_mul(t, &lax::try_sub(&one(y), &lax::try_mul(y, y)?)?)),
        P::Logistic => unary(prim, x, t, |_, y, t| lax::try_mul(t, &lax::try_mul(y, &lax::try_sub(&one(y), y)?)?)),
        P::Sqrt => unary(prim, x, t, |_, y, t| lax::try_div(t, &lax::try_mul(y, &lit(2.0, y))?)),
        P::Rsqrt => unary(prim, x, t, |x, y, t| lax::try_mul(t, &lax::try_mul(&lit(-0.5, y), &lax::try_div(y, x)?)?)),
        P::Abs => unary(prim, x, t, |x, _, t| lax::try_select(&lax::try_ge(x, &lit(0.0, x))?, t, &lax::try_neg(t)?)),
        P::Sign | P::Floor | P::Ceil | P::Round => zero_tangent(prim, x),
        P::Erf => unary(prim, x, t, erf_tangent),
        P::Not | P::IsFinite => zero_tangent(prim, x),
        P::Add | P::Sub => add_sub(prim, x, t),
        P::Mul => mul(x, t),
        P::Div => div(x, t),
        P::Rem => rem(x, t),
        P::Pow => pow(x, t),
        P::Max | P::Min => max_min(prim, x, t),
        P::And | P::Or | P::Xor => zero_tangent(prim, x),
        P::Eq | P::Ne | P::Lt | P::Le | P::Gt | P::Ge => zero_tangent(prim, x),
        P::Select => select(x, t),
        P::ConvertElementType { new_dtype } => convert(prim, *new_dtype, x, t),
        P::BroadcastInDim { .. } | P::Reshape { .. } | P::Transpose { .. } => linear(prim, x, t),
        P::ReduceSum { .. } => linear(prim, x, t),
        P::ReduceMax { axes } | P::ReduceMin { axes } => reduce_extreme(prim, axes, x, t),
        P::ReduceProd { axes } => reduce_prod(prim, axes, x, t),
        P::ArgMax { .. } | P::ArgMin { .. } => zero_tangent(prim, x),
        P::Cumsum { .. } => linear(prim, x, t),
        P::DotGeneral { .. } => bilinear(prim, x, t),
        P::Slice { .. } | P::Rev { .. } => linear(prim, x, t),
        P::Pad { .. } | P::Concatenate { .. } => linear(prim, x, t),
        P::DynamicSlice { .. } => linear_in_first(prim, 1, x, t),
        P::DynamicUpdateSlice => linear_in_first(prim, 2, x, t),
        P::Gather { .. } => linear_in_first(prim, 1, x, t),
        P::Scatter { axis, kind } => scatter(prim, *axis, *kind, x, t),
        P::Iota { .. } | P::RandomBits { .. } | P::StopGradient => zero_tangent(prim, x),
        P::Call { jaxpr, name } => crate::transforms::call::jvp_call(jaxpr, name, x, t),
        P::Cond { branches } => cf::cond(branches, x, t),
        P::While { cond_jaxpr, body_jaxpr } => cf::while_loop(cond_jaxpr, body_jaxpr, x, t),
        P::Scan { body, length, reverse, num_consts, num_carry } => {
            cf::scan(body, [*length, *num_consts, *num_carry], *reverse, x, t)
        }
        P::CustomJvpCall { jvp, .. } => custom_jvp_call(jvp, x, t),
        P::CustomVjpCall { fwd, bwd, num_outputs, .. } => {
            crate::transforms::custom::custom_vjp_jvp(fwd, bwd, *num_outputs, x, t)
        }
        P::CustomLin { .. } => Err(Error::op(
            "custom_lin",
            "forward-mode differentiation (jvp, jacfwd) of a custom_vjp function is not supported; \
             use reverse mode (grad, vjp, jacrev)",
        )),
    }
}

// ---- helpers ---------------------------------------------------------------

fn bind(prim: &Primitive, args: &[Array]) -> Result<Vec<Array>> {
    crate::core::bind(prim.clone(), args)
}

fn bind1(prim: &Primitive, args: &[Array]) -> Result<Array> {
    crate::core::bind1(prim.clone(), args)
}

/// A rank-0 literal of `like`'s dtype.
pub(crate) fn lit(value: f64, like: &Array) -> Array {
    Array::from_scalar(Scalar::from_f64(value, like.dtype()))
}

fn one(like: &Array) -> Array {
    lit(1.0, like)
}

/// Zeros of an abstract value, as a broadcast literal (cheap when traced).
pub(crate) fn zeros(aval: &AVal) -> Result<Array> {
    let zero = Array::from_scalar(Scalar::zero(aval.dtype));
    if aval.shape.is_empty() {
        return Ok(zero);
    }
    lax::try_broadcast_in_dim(&zero, &aval.shape, &[])
}

/// A tangent made concrete: zeros where it is symbolically zero.
pub(crate) fn instantiate(t: &Option<Array>, like: &AVal) -> Result<Array> {
    match t {
        Some(t) => Ok(t.clone()),
        None => zeros(like),
    }
}

/// Broadcasts a rank-0 tangent of an elementwise operand to the result shape.
fn fit(t: Array, shape: &Shape) -> Result<Array> {
    if t.shape() == shape.as_slice() {
        Ok(t)
    } else {
        lax::try_broadcast_in_dim(&t, shape, &[])
    }
}

/// Adds two optional tangents.
fn add_opt(a: Option<Array>, b: Option<Array>) -> Result<Option<Array>> {
    match (a, b) {
        (None, b) => Ok(b),
        (a, None) => Ok(a),
        (Some(a), Some(b)) => Ok(Some(lax::try_add(&a, &b)?)),
    }
}

fn single(prim: &Primitive, x: &[Array]) -> Result<Array> {
    bind1(prim, x)
}

fn zero_tangent(prim: &Primitive, x: &[Array]) -> Result<(Vec<Array>, Tangents)> {
    let outs = bind(prim, x)?;
    let n = outs.len();
    Ok((outs, vec![None; n]))
}

/// Unary rule `t_out = f(x, y, t)` with `y` the primal output.
fn unary(
    prim: &Primitive,
    x: &[Array],
    t: &[Option<Array>],
    f: impl FnOnce(&Array, &Array, &Array) -> Result<Array>,
) -> Result<(Vec<Array>, Tangents)> {
    let y = single(prim, x)?;
    let out_t = match &t[0] {
        Some(t0) => Some(f(&x[0], &y, t0)?),
        None => None,
    };
    Ok((vec![y], vec![out_t]))
}

fn erf_tangent(x: &Array, _: &Array, t: &Array) -> Result<Array> {
    let scale = lit(std::f64::consts::FRAC_2_SQRT_PI, x);
    let gauss = lax::try_exp(&lax::try_neg(&lax::try_mul(x, x)?)?)?;
    lax::try_mul(t, &lax::try_mul(&scale, &gauss)?)
}

/// A primitive linear in every operand: the tangent is the primitive
/// applied to the (instantiated) tangents.
fn linear(prim: &Primitive, x: &[Array], t: &[Option<Array>]) -> Result<(Vec<Array>, Tangents)> {
    let outs = bind(prim, x)?;
    let ts = x
        .iter()
        .zip(t)
        .map(|(xi, ti)| instantiate(ti, &xi.aval()))
        .collect::<Result<Vec<_>>>()?;
    let out_t = bind(prim, &ts)?;
    Ok((outs, out_t.into_iter().map(Some).collect()))
}

/// A primitive linear in its first `n_linear`... operands: only the data
/// operands carry tangents; index operands (after the first `1 + extra`)
/// are passed through. `n_index_from` is where index operands start.
fn linear_in_first(
    prim: &Primitive,
    n_index_from: usize,
    x: &[Array],
    t: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    let y = single(prim, x)?;
    let mut args = Vec::with_capacity(x.len());
    for (i, xi) in x.iter().enumerate() {
        args.push(if i < n_index_from {
            instantiate(&t[i], &xi.aval())?
        } else {
            xi.clone()
        });
    }
    Ok((vec![y], vec![Some(bind1(prim, &args)?)]))
}

/// A bilinear primitive (dot_general): `f(ta, b) + f(a, tb)`.
fn bilinear(prim: &Primitive, x: &[Array], t: &[Option<Array>]) -> Result<(Vec<Array>, Tangents)> {
    let y = single(prim, x)?;
    let left = t[0]
        .as_ref()
        .map(|ta| bind1(prim, &[ta.clone(), x[1].clone()]))
        .transpose()?;
    let right = t[1]
        .as_ref()
        .map(|tb| bind1(prim, &[x[0].clone(), tb.clone()]))
        .transpose()?;
    Ok((vec![y], vec![add_opt(left, right)?]))
}

fn add_sub(prim: &Primitive, x: &[Array], t: &[Option<Array>]) -> Result<(Vec<Array>, Tangents)> {
    let y = single(prim, x)?;
    let shape = y.aval().shape;
    let tx = t[0].clone().map(|a| fit(a, &shape)).transpose()?;
    let ty = t[1].clone().map(|b| fit(b, &shape)).transpose()?;
    let ty = match (prim, ty) {
        (Primitive::Sub, Some(b)) => Some(lax::try_neg(&b)?),
        (_, ty) => ty,
    };
    Ok((vec![y], vec![add_opt(tx, ty)?]))
}

/// Scales an optional tangent by a primal-dependent coefficient and fits it
/// to the result shape.
fn scaled(
    t: &Option<Array>,
    coefficient: impl FnOnce() -> Result<Array>,
    shape: &Shape,
) -> Result<Option<Array>> {
    match t {
        None => Ok(None),
        Some(t) => Ok(Some(fit(lax::try_mul(t, &coefficient()?)?, shape)?)),
    }
}

fn mul(x: &[Array], t: &[Option<Array>]) -> Result<(Vec<Array>, Tangents)> {
    let y = lax::try_mul(&x[0], &x[1])?;
    let shape = y.aval().shape;
    if let (Some(a), Some(b)) = (&t[0], &t[1]) {
        if x[0].ptr_id() == x[1].ptr_id() && a.ptr_id() == b.ptr_id() {
            // x * x: one term, 2x * t, as JAX's integer_pow rule gives.
            let twice = lax::try_mul(&x[0], &lit(2.0, &x[0]))?;
            return Ok((vec![y], vec![Some(lax::try_mul(a, &twice)?)]));
        }
    }
    let tx = scaled(&t[0], || Ok(x[1].clone()), &shape)?;
    let ty = scaled(&t[1], || Ok(x[0].clone()), &shape)?;
    Ok((vec![y], vec![add_opt(tx, ty)?]))
}

fn div(x: &[Array], t: &[Option<Array>]) -> Result<(Vec<Array>, Tangents)> {
    let y = lax::try_div(&x[0], &x[1])?;
    let shape = y.aval().shape;
    let tx = match &t[0] {
        Some(tx) => Some(fit(lax::try_div(tx, &x[1])?, &shape)?),
        None => None,
    };
    let ty = scaled(&t[1], || lax::try_neg(&lax::try_div(&y, &x[1])?), &shape)?;
    Ok((vec![y], vec![add_opt(tx, ty)?]))
}

fn rem(x: &[Array], t: &[Option<Array>]) -> Result<(Vec<Array>, Tangents)> {
    let y = lax::try_rem(&x[0], &x[1])?;
    let shape = y.aval().shape;
    let tx = t[0].clone().map(|a| fit(a, &shape)).transpose()?;
    // d rem / d y = -trunc(x / y)
    let ty = scaled(
        &t[1],
        || {
            let q = lax::try_div(&x[0], &x[1])?;
            let trunc = lax::try_mul(&lax::try_sign(&q)?, &lax::try_floor(&lax::try_abs(&q)?)?)?;
            lax::try_neg(&trunc)
        },
        &shape,
    )?;
    Ok((vec![y], vec![add_opt(tx, ty)?]))
}

/// `pow` with JAX's conventions at zero: `d/dx = y * x^(y-1)` with the
/// exponent replaced by 1 where `y == 0`, and `d/dy = x^y * log(x)` with
/// `log(x)` replaced by 0 where `x == 0`.
fn pow(x: &[Array], t: &[Option<Array>]) -> Result<(Vec<Array>, Tangents)> {
    let (base, exponent) = (&x[0], &x[1]);
    let z = lax::try_pow(base, exponent)?;
    let shape = z.aval().shape;
    let tx = scaled(
        &t[0],
        || {
            let is_zero = lax::try_eq(exponent, &lit(0.0, exponent))?;
            let exp_m1 = lax::try_sub(exponent, &one(exponent))?;
            let safe = lax::try_select(
                &is_zero,
                &fit(one(exponent), &exponent.aval().shape)?,
                &exp_m1,
            )?;
            lax::try_mul(exponent, &lax::try_pow(base, &safe)?)
        },
        &shape,
    )?;
    let ty = scaled(
        &t[1],
        || {
            let is_zero = lax::try_eq(base, &lit(0.0, base))?;
            let safe_base = lax::try_select(&is_zero, &fit(one(base), &base.aval().shape)?, base)?;
            lax::try_mul(&z, &lax::try_log(&safe_base)?)
        },
        &shape,
    )?;
    Ok((vec![z], vec![add_opt(tx, ty)?]))
}

/// `max`/`min`: the tangent of the chosen side; at ties each side gets half.
fn max_min(prim: &Primitive, x: &[Array], t: &[Option<Array>]) -> Result<(Vec<Array>, Tangents)> {
    let y = single(prim, x)?;
    let shape = y.aval().shape;
    let weight = |me: &Array, other: &Array| -> Result<Array> {
        let wins = if matches!(prim, Primitive::Max) {
            lax::try_gt(me, other)?
        } else {
            lax::try_lt(me, other)?
        };
        let ties = lax::try_eq(me, other)?;
        let w = lax::try_convert_element_type(&wins, y.dtype())?;
        let half = lax::try_mul(
            &lax::try_convert_element_type(&ties, y.dtype())?,
            &lit(0.5, &y),
        )?;
        lax::try_add(&w, &half)
    };
    let tx = scaled(&t[0], || weight(&x[0], &x[1]), &shape)?;
    let ty = scaled(&t[1], || weight(&x[1], &x[0]), &shape)?;
    Ok((vec![y], vec![add_opt(tx, ty)?]))
}

fn select(x: &[Array], t: &[Option<Array>]) -> Result<(Vec<Array>, Tangents)> {
    let y = lax::try_select(&x[0], &x[1], &x[2])?;
    if t[1].is_none() && t[2].is_none() {
        return Ok((vec![y], vec![None]));
    }
    let shape = y.aval().shape;
    let on_true = fit(instantiate(&t[1], &x[1].aval())?, &shape)?;
    let on_false = fit(instantiate(&t[2], &x[2].aval())?, &shape)?;
    Ok((
        vec![y],
        vec![Some(lax::try_select(&x[0], &on_true, &on_false)?)],
    ))
}

fn convert(
    prim: &Primitive,
    to: DType,
    x: &[Array],
    t: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    let y = single(prim, x)?;
    let out_t = match &t[0] {
        Some(t0) if to.is_float() && x[0].dtype().is_float() => {
            Some(bind1(prim, std::slice::from_ref(t0))?)
        }
        _ => None,
    };
    Ok((vec![y], vec![out_t]))
}

/// Broadcasts a reduced result back over the reduced `axes` of `shape`.
pub(crate) fn unreduce(y: &Array, axes: &[usize], shape: &[usize]) -> Result<Array> {
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
    lax::try_broadcast_in_dim(y, shape, &kept)
}

/// `reduce_max`/`reduce_min`: the mean of the tangents of the elements that
/// attain the extreme (JAX's convention at ties).
fn reduce_extreme(
    prim: &Primitive,
    axes: &[usize],
    x: &[Array],
    t: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    let y = single(prim, x)?;
    let Some(tx) = &t[0] else {
        return Ok((vec![y], vec![None]));
    };
    let shape = x[0].shape().to_vec();
    let mask = lax::try_convert_element_type(
        &lax::try_eq(&x[0], &unreduce(&y, axes, &shape)?)?,
        y.dtype(),
    )?;
    let count = lax::try_reduce_sum(&mask, axes)?;
    let weights = lax::try_div(&mask, &unreduce(&count, axes, &shape)?)?;
    let out_t = lax::try_reduce_sum(&lax::try_mul(tx, &weights)?, axes)?;
    Ok((vec![y], vec![Some(out_t)]))
}

/// `reduce_prod`: `sum(t * prod_of_others)`, with the product of the other
/// elements computed without dividing by zero: where the slice has no zero
/// it is `prod / x`; where it has exactly one zero, the zero's position gets
/// the product of the non-zeros and every other position 0; with two or
/// more zeros it is 0 everywhere.
fn reduce_prod(
    prim: &Primitive,
    axes: &[usize],
    x: &[Array],
    t: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    let y = single(prim, x)?;
    let Some(tx) = &t[0] else {
        return Ok((vec![y], vec![None]));
    };
    let (xs, shape) = (&x[0], x[0].shape().to_vec());
    let is_zero = lax::try_eq(xs, &lit(0.0, xs))?;
    let zeros_f = lax::try_convert_element_type(&is_zero, xs.dtype())?;
    let n_zero = unreduce(&lax::try_reduce_sum(&zeros_f, axes)?, axes, &shape)?;
    let ones = fit(one(xs), &xs.aval().shape)?;
    let nonzero_prod = unreduce(
        &lax::try_reduce_prod(&lax::try_select(&is_zero, &ones, xs)?, axes)?,
        axes,
        &shape,
    )?;
    let safe_x = lax::try_select(&is_zero, &ones, xs)?;
    let no_zero_case = lax::try_div(&unreduce(&y, axes, &shape)?, &safe_x)?;
    let zero_fill = fit(lit(0.0, xs), &xs.aval().shape)?;
    let one_zero = lax::try_eq(&n_zero, &one(xs))?;
    let one_zero_case = lax::try_select(
        &lax::try_bitwise_and(&one_zero, &is_zero)?,
        &nonzero_prod,
        &zero_fill,
    )?;
    let none = lax::try_eq(&n_zero, &lit(0.0, xs))?;
    let others = lax::try_select(&none, &no_zero_case, &one_zero_case)?;
    Ok((
        vec![y],
        vec![Some(lax::try_reduce_sum(
            &lax::try_mul(tx, &others)?,
            axes,
        )?)],
    ))
}

fn scatter(
    prim: &Primitive,
    axis: usize,
    kind: ScatterKind,
    x: &[Array],
    t: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    match kind {
        ScatterKind::Set | ScatterKind::Add => linear_scatter(prim, x, t),
        ScatterKind::Min | ScatterKind::Max => scatter_extreme(prim, axis, x, t),
        ScatterKind::Mul => scatter_mul(prim, x, t),
    }
}

fn linear_scatter(
    prim: &Primitive,
    x: &[Array],
    t: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    let y = single(prim, x)?;
    let to = instantiate(&t[0], &x[0].aval())?;
    let tu = instantiate(&t[2], &x[2].aval())?;
    Ok((vec![y], vec![Some(bind1(prim, &[to, x[1].clone(), tu])?)]))
}

/// Scatter-min/max: like `reduce_max`, the tangent is the mean of the
/// tangents of every contribution (the operand's and the updates') that
/// attains the result.
fn scatter_extreme(
    prim: &Primitive,
    axis: usize,
    x: &[Array],
    t: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    let y = single(prim, x)?;
    let (operand, indices, updates) = (&x[0], &x[1], &x[2]);
    let dtype = y.dtype();
    let op_hit = lax::try_convert_element_type(&lax::try_eq(operand, &y)?, dtype)?;
    let upd_hit = lax::try_convert_element_type(
        &lax::try_eq(updates, &lax::try_gather(&y, indices, axis)?)?,
        dtype,
    )?;
    let count = lax::try_scatter_add(&op_hit, indices, &upd_hit, axis)?;
    let to = instantiate(&t[0], &operand.aval())?;
    let tu = instantiate(&t[2], &updates.aval())?;
    let sum = lax::try_scatter_add(
        &lax::try_mul(&to, &op_hit)?,
        indices,
        &lax::try_mul(&tu, &upd_hit)?,
        axis,
    )?;
    Ok((vec![y], vec![Some(lax::try_div(&sum, &count)?)]))
}

/// Scatter-mul is linear in the operand; the derivative with respect to
/// the updates needs products over duplicate indices and is not supported
/// (as in JAX without `unique_indices`).
fn scatter_mul(
    prim: &Primitive,
    x: &[Array],
    t: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    if t[2].is_some() {
        return Err(Error::NotYetSupported {
            prim: "scatter (mul) with respect to the updates",
            rule: "jvp",
        });
    }
    let y = single(prim, x)?;
    let to = instantiate(&t[0], &x[0].aval())?;
    Ok((
        vec![y],
        vec![Some(bind1(prim, &[to, x[1].clone(), x[2].clone()])?)],
    ))
}

/// A `custom_jvp_call`: the primal outputs and tangents come from the
/// user's rule, a jaxpr over (primals.., tangents..).
fn custom_jvp_call(
    rule: &rjax_ir::ClosedJaxpr,
    primals: &[Array],
    tangents: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    let mut args = primals.to_vec();
    for (p, t) in primals.iter().zip(tangents) {
        args.push(instantiate(t, &p.aval())?);
    }
    let consts: Vec<Array> = rule
        .consts
        .iter()
        .cloned()
        .map(Array::from_buffer)
        .collect();
    let mut outs = eval_jaxpr(&rule.jaxpr, &consts, &args)?;
    let out_tangents = outs.split_off(outs.len() / 2);
    Ok((outs, out_tangents.into_iter().map(Some).collect()))
}
