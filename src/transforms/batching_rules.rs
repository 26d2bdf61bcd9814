//! The longer batching rules, called from the table in `batching.rs`:
//! padding with a per-example value, indexing with per-example indices,
//! `random_bits` with per-example keys, and the higher-order primitives.
//!
//! **Per-example indices.** `gather` and `scatter` index one axis with one
//! index array shared by everything else. With a batched operand *and*
//! batched indices, the batch axis is merged into the indexed axis: the
//! operand `[B, .., n, ..]` becomes `[B*n, ..]`, example `b`'s index `i`
//! becomes `b*n + i`, and one `gather`/`scatter` along axis 0 serves every
//! example. `dynamic_slice` and `dynamic_update_slice` with batched start
//! indices are written the same way, one dimension at a time, as gathers of
//! `start + iota` (plus a mask for the update), with the starts clamped as
//! the primitives clamp them. Out-of-range gather indices are clamped
//! before merging, and out-of-range scatter indices are sent past the end
//! (`B*n`) so they are still dropped, keeping each primitive's semantics.
//!
//! **`random_bits` with per-example keys** is exact: a loop over the
//! examples (the batch size is static), each drawing its bits from its own
//! key, joined with `concatenate`. Example `b` gets exactly the bits its
//! key gives without `vmap`. The jaxpr grows with the batch size.
//!
//! **Higher-order primitives** batch the jaxprs they carry by tracing them
//! under a nested [`BatchTrace`] (as `transforms::call` does for jvp): a
//! `call` stays a `call` of the batched jaxpr (named `vmap(name)`), and the
//! custom-derivative primitives batch *all* their jaxprs, so the user's
//! rules still apply under `vmap`. Their results are batched along axis 0;
//! the cotangents a batched `bwd` returns for operands that are not batched
//! are summed over the examples (the operand is shared by all of them).

use crate::array::Array;
use crate::core::{bind, bind1, current_trace, with_trace};
use crate::lax;
use crate::staging::trace_to_jaxpr;
use crate::transforms::batching::{
    cons, moveaxis, prepend, scalar, to_front, BatchAxes, BatchTrace,
};
use crate::transforms::call::close;
use crate::transforms::eval_jaxpr;
use rjax_ir::{AVal, ClosedJaxpr, DType, Error, Jaxpr, Primitive, Result, ScatterKind};
use std::cell::RefCell;
use std::sync::Arc;

type Batched = Result<(Vec<Array>, BatchAxes)>;

/// One result batched along axis 0.
fn at_front(y: Array) -> Batched {
    Ok((vec![y], vec![Some(0)]))
}

fn cat<T: Clone>(head: &[T], rest: &[T]) -> Vec<T> {
    [head, rest].concat()
}

/// Integer `i` clamped into `[0, hi]` in its own dtype, then as `i32`.
fn clamp_index(i: &Array, hi: usize) -> Result<Array> {
    let dtype = i.dtype();
    let low = lax::try_max(i, &scalar(0.0, dtype))?;
    let clamped = lax::try_min(&low, &scalar(hi as f64, dtype))?;
    if dtype == DType::I32 {
        Ok(clamped)
    } else {
        lax::try_convert_element_type(&clamped, DType::I32)
    }
}

/// Per-example gather: `v` is batched along axis 0 and `idx` (`i32`, in
/// range, shape `[B, ..]`) holds each example's indices into `v`'s `axis`.
/// The result is laid out as `gather` lays out one example's, after the
/// leading batch axis: `[B, v[1..axis], idx[1..], v[axis+1..]]`.
fn gather_per_example(v: &Array, axis: usize, idx: &Array) -> Result<Array> {
    let (size, n) = (v.shape()[0], v.shape()[axis]);
    let moved = moveaxis(v, axis, 1)?;
    let mut flat_shape = moved.shape()[1..].to_vec();
    flat_shape[0] = size * n;
    let flat = lax::try_reshape(&moved, &flat_shape)?;
    let offsets = lax::try_mul(
        &lax::try_iota(DType::I32, idx.shape(), 0)?,
        &scalar(n as f64, DType::I32),
    )?;
    let g = lax::try_gather(&flat, &lax::try_add(idx, &offsets)?, 0)?;
    // g: [B, idx.., pre.., post..] -> [B, pre.., idx.., post..]
    let (ni, np) = (idx.ndim() - 1, axis - 1);
    let perm: Vec<usize> = std::iter::once(0)
        .chain(1 + ni..1 + ni + np)
        .chain(1..1 + ni)
        .chain(1 + ni + np..g.ndim())
        .collect();
    lax::try_transpose(&g, &perm)
}

/// `pad`: with a per-example padding value, pad with zero and then select
/// each example's value where a padded mask says the element is padding.
pub(crate) fn pad(
    [low, high]: [&Vec<i64>; 2],
    interior: &[usize],
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Batched {
    let v = to_front(&x[0], d[0], size)?;
    let (lo, hi, int) = (cons(0, low), cons(0, high), cons(0, interior));
    let Some(pd) = d[1] else {
        return at_front(lax::try_pad(&v, &x[1], &lo, &hi, &int)?);
    };
    let padded = lax::try_pad(&v, &scalar(0.0, v.dtype()), &lo, &hi, &int)?;
    let inside = lax::try_broadcast_in_dim(&scalar(0.0, DType::Bool), &v.shape()[1..], &[])?;
    let mask = lax::try_pad(&inside, &scalar(1.0, DType::Bool), low, high, interior)?;
    let out = padded.shape().to_vec();
    let mask = lax::try_broadcast_in_dim(&mask, &out, &(1..out.len()).collect::<Vec<_>>())?;
    let value = lax::try_broadcast_in_dim(&moveaxis(&x[1], pd, 0)?, &out, &[0])?;
    at_front(lax::try_select(&mask, &value, &padded)?)
}

/// `dynamic_slice(operand, starts..)`. Unbatched starts slice at once;
/// each batched start becomes a per-example gather of `start + iota`.
pub(crate) fn dynamic_slice(
    sizes: &[usize],
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Batched {
    let v = to_front(&x[0], d[0], size)?;
    let (starts, sd) = (&x[1..], &d[1..]);
    let zero = scalar(0.0, DType::I32);
    let n = v.shape()[1..].to_vec();
    let first: Vec<Array> = std::iter::once(zero.clone())
        .chain(starts.iter().zip(sd).map(|(s, a)| match a {
            None => s.clone(),
            Some(_) => zero.clone(),
        }))
        .collect();
    let first_sizes: Vec<usize> = std::iter::once(size)
        .chain((0..n.len()).map(|k| if sd[k].is_none() { sizes[k] } else { n[k] }))
        .collect();
    let mut v = lax::try_dynamic_slice(&v, &first, &first_sizes)?;
    for (k, a) in sd.iter().enumerate() {
        let Some(a) = a else { continue };
        let start = clamp_index(&moveaxis(&starts[k], *a, 0)?, n[k] - sizes[k])?;
        let shape = [size, sizes[k]];
        let idx = lax::try_add(
            &lax::try_broadcast_in_dim(&start, &shape, &[0])?,
            &lax::try_iota(DType::I32, &shape, 1)?,
        )?;
        v = gather_per_example(&v, k + 1, &idx)?;
    }
    at_front(v)
}

/// `dynamic_update_slice(operand, update, starts..)`. With batched starts,
/// each dimension gathers the update into place (`position - start`,
/// clamped) and masks the positions inside the block; the result selects
/// the gathered update inside the block and the operand elsewhere.
pub(crate) fn dynamic_update_slice(x: &[Array], d: &[Option<usize>], size: usize) -> Batched {
    let v = to_front(&x[0], d[0], size)?;
    let u = to_front(&x[1], d[1], size)?;
    let (starts, sd) = (&x[2..], &d[2..]);
    if sd.iter().all(Option::is_none) {
        let starts = cons(scalar(0.0, DType::I32), starts);
        return at_front(lax::try_dynamic_update_slice(&v, &u, &starts)?);
    }
    let (n, m) = (v.shape()[1..].to_vec(), u.shape()[1..].to_vec());
    if m.contains(&0) {
        return at_front(v); // an empty update changes nothing
    }
    let (mut g, mut mask) = (u, None::<Array>);
    for k in 0..n.len() {
        let start = clamp_index(&to_front(&starts[k], sd[k], size)?, n[k] - m[k])?;
        let shape = [size, n[k]];
        let rel = lax::try_sub(
            &lax::try_iota(DType::I32, &shape, 1)?,
            &lax::try_broadcast_in_dim(&start, &shape, &[0])?,
        )?;
        let inside = lax::try_bitwise_and(
            &lax::try_ge(&rel, &scalar(0.0, DType::I32))?,
            &lax::try_lt(&rel, &scalar(m[k] as f64, DType::I32))?,
        )?;
        g = gather_per_example(&g, k + 1, &clamp_index(&rel, m[k] - 1)?)?;
        let inside = lax::try_broadcast_in_dim(&inside, v.shape(), &[0, k + 1])?;
        mask = Some(match mask {
            None => inside,
            Some(mask) => lax::try_bitwise_and(&mask, &inside)?,
        });
    }
    match mask {
        Some(mask) => at_front(lax::try_select(&mask, &g, &v)?),
        None => at_front(v),
    }
}

/// `gather(operand, indices)` along `axis`.
pub(crate) fn gather(axis: usize, x: &[Array], d: &[Option<usize>], size: usize) -> Batched {
    let (op, idx) = (&x[0], &x[1]);
    match (d[0], d[1]) {
        (Some(a), None) => at_front(lax::try_gather(&moveaxis(op, a, 0)?, idx, axis + 1)?),
        (None, Some(b)) => Ok((vec![lax::try_gather(op, idx, axis)?], vec![Some(axis + b)])),
        (Some(_), Some(b)) => {
            let v = to_front(op, d[0], size)?;
            let n = v.shape()[axis + 1];
            let i = clamp_index(&moveaxis(idx, b, 0)?, n.saturating_sub(1))?;
            at_front(gather_per_example(&v, axis + 1, &i)?)
        }
        (None, None) => Ok((vec![lax::try_gather(op, idx, axis)?], vec![None])),
    }
}

/// `scatter(operand, indices, updates)` along `axis`.
pub(crate) fn scatter(
    axis: usize,
    kind: ScatterKind,
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Batched {
    let v = to_front(&x[0], d[0], size)?;
    let u = to_front(&x[2], d[2], size)?;
    let Some(b) = d[1] else {
        return at_front(lax::try_scatter(&v, &x[1], &u, axis + 1, kind)?);
    };
    let i = moveaxis(&x[1], b, 0)?;
    let (n, dtype) = (v.shape()[axis + 1], i.dtype());
    let valid = lax::try_bitwise_and(
        &lax::try_ge(&i, &scalar(0.0, dtype))?,
        &lax::try_lt(&i, &scalar(n as f64, dtype))?,
    )?;
    let offsets = lax::try_mul(
        &lax::try_iota(DType::I32, i.shape(), 0)?,
        &scalar(n as f64, DType::I32),
    )?;
    let merged = lax::try_add(&lax::try_convert_element_type(&i, DType::I32)?, &offsets)?;
    let dropped = scalar((size * n) as f64, DType::I32);
    let flat_i = lax::try_select(&valid, &merged, &dropped)?;
    let moved = moveaxis(&v, axis + 1, 1)?;
    let mut flat_shape = moved.shape()[1..].to_vec();
    flat_shape[0] = size * n;
    let flat = lax::try_reshape(&moved, &flat_shape)?;
    // updates: [B, pre.., idx.., post..] -> [B, idx.., pre.., post..]
    let (ni, np) = (i.ndim() - 1, axis);
    let perm: Vec<usize> = std::iter::once(0)
        .chain(1 + np..1 + np + ni)
        .chain(1..1 + np)
        .chain(1 + np + ni..u.ndim())
        .collect();
    let ut = lax::try_transpose(&u, &perm)?;
    let s = lax::try_scatter(&flat, &flat_i, &ut, 0, kind)?;
    let s = lax::try_reshape(&s, moved.shape())?;
    at_front(moveaxis(&s, 1, axis + 1)?)
}

/// `random_bits(key)` with per-example keys: one draw per example, joined.
pub(crate) fn random_bits(
    prim: &Primitive,
    shape: &[usize],
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Batched {
    let keys = to_front(&x[0], d[0], size)?;
    if size == 0 {
        let zero = scalar(0.0, DType::U32);
        return at_front(lax::try_broadcast_in_dim(&zero, &prepend(0, shape), &[])?);
    }
    let width = keys.shape()[1];
    let parts = (0..size)
        .map(|b| {
            let key = lax::try_slice(&keys, &[b, 0], &[b + 1, width], &[])?;
            let bits = bind1(prim.clone(), &[lax::try_reshape(&key, &[width])?])?;
            lax::try_reshape(&bits, &prepend(1, shape))
        })
        .collect::<Result<Vec<_>>>()?;
    at_front(lax::try_concatenate(&parts, 0)?)
}

// ---- higher-order primitives ------------------------------------------------

/// What a batched jaxpr does with one of its results.
#[derive(Clone, Copy)]
enum Out {
    /// Leave it batched (or not) as it comes, recording its axis.
    Free,
    /// Batch it along axis 0, broadcasting it if it is not batched.
    Front,
    /// Make it unbatched, summing over the examples if it is batched (the
    /// cotangent of an operand shared by every example).
    Summed,
}

/// Traces `jaxpr` on inputs of `in_avals` batched along `in_axes` into a
/// batched jaxpr, treating result `k` as `out(k)` says. Returns the jaxpr,
/// its constants and the results' batch axes.
fn batch_jaxpr(
    jaxpr: &ClosedJaxpr,
    in_avals: &[AVal],
    in_axes: &[Option<usize>],
    size: usize,
    out: &dyn Fn(usize) -> Out,
) -> Result<(Jaxpr, Vec<Array>, BatchAxes)> {
    let out_axes = RefCell::new(Vec::new());
    let (batched, consts) = trace_to_jaxpr(in_avals, |ins| {
        let trace = BatchTrace::new(current_trace(), size);
        let inputs: Vec<Array> = ins
            .iter()
            .zip(in_axes)
            .map(|(v, a)| match a {
                Some(_) => trace.lift(v.clone(), *a),
                None => v.clone(),
            })
            .collect();
        let consts: Vec<Array> = jaxpr
            .consts
            .iter()
            .cloned()
            .map(Array::from_buffer)
            .collect();
        let outs = with_trace(trace.clone(), || eval_jaxpr(&jaxpr.jaxpr, &consts, &inputs))?;
        let mut results = Vec::with_capacity(outs.len());
        let mut axes = Vec::with_capacity(outs.len());
        for (k, o) in outs.iter().enumerate() {
            let (v, a) = trace.unpack(o);
            let (v, a) = match (out(k), a) {
                (Out::Free, a) => (v, a),
                (Out::Front, a) => (to_front(&v, a, size)?, Some(0)),
                (Out::Summed, Some(a)) => (lax::try_reduce_sum(&v, &[a])?, None),
                (Out::Summed, None) => (v, None),
            };
            results.push(v);
            axes.push(a);
        }
        *out_axes.borrow_mut() = axes;
        Ok(results)
    })?;
    Ok((batched, consts, out_axes.into_inner()))
}

/// A batched custom-derivative jaxpr as a closed jaxpr with no constants
/// (the custom rules take every value as an operand).
fn no_consts(
    name: &str,
    (jaxpr, consts, _): (Jaxpr, Vec<Array>, BatchAxes),
) -> Result<Arc<ClosedJaxpr>> {
    if !consts.is_empty() {
        return Err(Error::op(
            name,
            "internal error: a batched custom-derivative jaxpr captured constants",
        ));
    }
    Ok(Arc::new(ClosedJaxpr::new(jaxpr, vec![])))
}

fn avals(xs: &[Array]) -> Vec<AVal> {
    xs.iter().map(Array::aval).collect()
}

/// Batched operands moved to axis 0; unbatched ones unchanged.
fn fronted(x: &[Array], d: &[Option<usize>]) -> Result<(Vec<Array>, BatchAxes)> {
    x.iter()
        .zip(d)
        .map(|(v, a)| match a {
            Some(a) => Ok((moveaxis(v, *a, 0)?, Some(0))),
            None => Ok((v.clone(), None)),
        })
        .collect::<Result<Vec<_>>>()
        .map(|pairs| pairs.into_iter().unzip())
}

/// `call`: a call of the batched jaxpr, its results batched as they come.
pub(crate) fn call(
    jaxpr: &ClosedJaxpr,
    name: &str,
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Batched {
    let (batched, consts, out_axes) = batch_jaxpr(jaxpr, &avals(x), d, size, &|_| Out::Free)?;
    let (closed, lifted) = close(batched, consts);
    let operands: Vec<Array> = lifted.into_iter().chain(x.iter().cloned()).collect();
    let prim = Primitive::Call {
        jaxpr: closed,
        name: format!("vmap({name})"),
    };
    Ok((bind(prim, &operands)?, out_axes))
}

/// `custom_jvp_call`: the function and the user's rule, both batched (the
/// rule's tangents batched like their primals); results along axis 0.
pub(crate) fn custom_jvp_call(
    call: &ClosedJaxpr,
    jvp: &ClosedJaxpr,
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Batched {
    let (xs, d0) = fronted(x, d)?;
    let in_avals = avals(&xs);
    let call = batch_jaxpr(call, &in_avals, &d0, size, &|_| Out::Front)?;
    let (twice, twice_axes) = (cat(&in_avals, &in_avals), cat(&d0, &d0));
    let jvp = batch_jaxpr(jvp, &twice, &twice_axes, size, &|_| Out::Front)?;
    let prim = Primitive::CustomJvpCall {
        call: no_consts("custom_jvp_call", call)?,
        jvp: no_consts("custom_jvp_call", jvp)?,
    };
    let outs = bind(prim, &xs)?;
    let n = outs.len();
    Ok((outs, vec![Some(0); n]))
}

/// The user's backward pass batched: residuals batched along `res_axes`,
/// output cotangents along axis 0; the input cotangent for an operand
/// batched along axis 0 (`targets[k]`) is batched along axis 0, the one
/// for an unbatched operand is summed over the examples.
fn batch_bwd(
    bwd: &ClosedJaxpr,
    num_residuals: usize,
    res: (&[AVal], &[Option<usize>]),
    targets: &[Option<usize>],
    size: usize,
) -> Result<Arc<ClosedJaxpr>> {
    let ct_avals = bwd.jaxpr.in_avals()[num_residuals..]
        .iter()
        .map(|a| AVal::new(a.dtype, &prepend(size, &a.shape)))
        .collect::<Vec<_>>();
    let in_avals = cat(res.0, &ct_avals);
    let in_axes = cat(res.1, &vec![Some(0); ct_avals.len()]);
    let out = |k: usize| match targets.get(k) {
        Some(Some(_)) => Out::Front,
        Some(None) | None => Out::Summed,
    };
    no_consts(
        "custom_vjp",
        batch_jaxpr(bwd, &in_avals, &in_axes, size, &out)?,
    )
}

/// `custom_vjp_call`: `call`, `fwd` and `bwd` all batched. Outputs are
/// batched along axis 0; residuals keep whatever batching they get.
pub(crate) fn custom_vjp_call(
    [call, fwd, bwd]: [&ClosedJaxpr; 3],
    num_outputs: usize,
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Batched {
    let (xs, d0) = fronted(x, d)?;
    let in_avals = avals(&xs);
    let call = batch_jaxpr(call, &in_avals, &d0, size, &|_| Out::Front)?;
    let fwd_out = |k: usize| {
        if k < num_outputs {
            Out::Front
        } else {
            Out::Free
        }
    };
    let (fwd_j, fwd_c, fwd_axes) = batch_jaxpr(fwd, &in_avals, &d0, size, &fwd_out)?;
    let res_avals = fwd_j.out_avals()[num_outputs..].to_vec();
    let n_inputs = bwd.jaxpr.outvars.len();
    let targets = &d0[xs.len().saturating_sub(n_inputs)..];
    let res = (&res_avals[..], &fwd_axes[num_outputs..]);
    let bwd = batch_bwd(bwd, res_avals.len(), res, targets, size)?;
    let prim = Primitive::CustomVjpCall {
        call: no_consts("custom_vjp_call", call)?,
        fwd: no_consts("custom_vjp_call", (fwd_j, fwd_c, fwd_axes))?,
        bwd,
        num_outputs,
    };
    let outs = bind(prim, &xs)?;
    let n = outs.len();
    Ok((outs, vec![Some(0); n]))
}

/// `custom_lin` (the linear map of a `custom_vjp` function): batched with
/// a batched backward pass, so that its transpose still runs the user's
/// `bwd`; output tangents are batched along axis 0.
pub(crate) fn custom_lin(
    bwd: &ClosedJaxpr,
    num_residuals: usize,
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Batched {
    let (res, res_axes) = (&x[..num_residuals], &d[..num_residuals]);
    let (ts, ts_axes) = fronted(&x[num_residuals..], &d[num_residuals..])?;
    let res_avals = avals(res);
    let bwd = batch_bwd(bwd, num_residuals, (&res_avals, res_axes), &ts_axes, size)?;
    let operands = cat(res, &ts);
    let outs = bind(Primitive::CustomLin { bwd, num_residuals }, &operands)?;
    let n = outs.len();
    Ok((outs, vec![Some(0); n]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::custom::custom_lin_transpose;
    use crate::transforms::transpose::LinArg;

    fn f64s(values: &[f64]) -> Array {
        Array::from_vec(values.to_vec(), &[values.len()]).expect("vector")
    }

    /// A batched `custom_lin` must transpose to the user's `bwd` per
    /// example: `ct_b * r_b * 2` for a batched tangent operand, and their
    /// sum over the examples for one shared by every example.
    #[test]
    fn batched_custom_lin_transposes_to_the_batched_bwd() {
        let scalar_f64 = Array::scalar(0.0f64);
        let bwd = crate::make_jaxpr(|p: &(Array, Array)| &p.1 * &p.0 * 2.0)(&(
            scalar_f64.clone(),
            scalar_f64,
        ))
        .expect("bwd jaxpr");
        let (r, ct) = (f64s(&[1.0, 2.0, 3.0]), f64s(&[10.0, 20.0, 30.0]));
        for (t_axis, expected) in [(Some(0), vec![20.0, 80.0, 180.0]), (None, vec![280.0])] {
            let t_shape: &[usize] = if t_axis.is_some() { &[3] } else { &[] };
            let t_aval = AVal::new(DType::F64, t_shape);
            let in_avals = [r.aval(), t_aval.clone()];
            let (staged, _) = trace_to_jaxpr(&in_avals, |ins| {
                let (outs, axes) = custom_lin(&bwd, 1, ins, &[Some(0), t_axis], 3)?;
                assert_eq!(axes, vec![Some(0)]);
                Ok(outs)
            })
            .expect("batched custom_lin");
            let Some(Primitive::CustomLin {
                bwd: batched,
                num_residuals,
            }) = staged.eqns.last().map(|e| e.prim.clone())
            else {
                panic!("expected a custom_lin equation in {staged}");
            };
            let args = [LinArg::Const(r.clone()), LinArg::Linear(t_aval)];
            let cts = custom_lin_transpose(&batched, num_residuals, &[Some(ct.clone())], &args)
                .expect("transpose");
            let got = cts[1]
                .as_ref()
                .expect("a cotangent")
                .to_f64_vec()
                .expect("values");
            assert_eq!(got, expected, "tangent axis {t_axis:?}");
        }
    }
}
