//! Partial evaluation (the linearize half of reverse mode) of control flow.
//!
//! `linearize` runs the jvp trace over a staging trace in partial-evaluation
//! mode: equations with only known operands run at once, the rest are
//! staged into the linear jaxpr. The jvp of a `cond` or `scan` is *one*
//! primitive whose operands mix known primals and unknown tangents, so
//! staging it whole would put the primal work into the linear program.
//! Instead, as in JAX, the primitive's jaxprs are split:
//!
//! - [`partial_eval_jaxpr`] splits a closed jaxpr, given which inputs are
//!   unknown, into a *known* jaxpr (known inputs -> known outputs and
//!   residuals) and an *unknown* jaxpr (residuals and unknown inputs ->
//!   unknown outputs). It traces the jaxpr with the staging machinery
//!   itself, so nested control flow is split by these same rules.
//! - `cond`: every branch is split with the same input pattern; an output
//!   is unknown if it is in any branch; every known branch returns the
//!   residuals of all branches (zeros for the others'), so the known `cond`
//!   runs now and the unknown `cond`, taking (index, residuals, unknown
//!   operands), is staged.
//! - `scan`: which carries are unknown is found by a fixpoint; the known
//!   `scan` runs now and returns its per-iteration residuals stacked as
//!   extra outputs. Residuals that depend only on known loop constants are
//!   computed once before the loop and passed to the staged unknown `scan`
//!   as constants, slices of known `xs` are passed as the `xs` themselves,
//!   and the stacked ones as further `xs`.
//! - `while`: reverse-mode differentiation is not supported (the trip count
//!   is only known at run time, so there is no fixed number of residuals
//!   to keep); an unknown operand gives [`while_reverse_mode_error`], which
//!   points to `lax::scan` and `lax::fori_loop` with static bounds.
//!
//! [`partial_eval_control_flow`] is the entry point `StagingTrace` calls.

use crate::array::Array;
use crate::core::{with_trace, Trace};
use crate::staging::{prune, trace_to_jaxpr, StagingTrace};
use crate::transforms::call::{close, const_arrays};
use crate::transforms::eval_jaxpr;
use crate::transforms::jvp::zeros;
use rjax_ir::passes::dce;
use rjax_ir::{AVal, Atom, ClosedJaxpr, Error, Jaxpr, Primitive, Result};
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;

/// A closed jaxpr split by partial evaluation.
pub(crate) struct PartialJaxpr {
    /// Known inputs (in order) -> known outputs (in order), then residuals.
    pub(crate) known: Arc<ClosedJaxpr>,
    /// Residuals, then unknown inputs (in order) -> unknown outputs.
    pub(crate) unknown: Arc<ClosedJaxpr>,
    /// Which outputs are unknown.
    pub(crate) out_unknown: Vec<bool>,
    /// For each residual, the position among the known inputs of the input
    /// it is (passed through unchanged), if it is one.
    pub(crate) forwarded: Vec<Option<usize>>,
}

impl PartialJaxpr {
    /// The residuals' abstract values.
    pub(crate) fn residual_avals(&self) -> Vec<AVal> {
        let n_known_out = self.out_unknown.iter().filter(|u| !**u).count();
        self.known.jaxpr.out_avals().split_off(n_known_out)
    }
}

/// Traces `f` on inputs of `in_avals` into a closed jaxpr.
///
/// # Errors
/// Whatever `f` returns; an internal error if the traced function captured
/// a tracer of an enclosing transformation (every input of these jaxprs is
/// an explicit operand).
pub(crate) fn trace_closed(
    in_avals: &[AVal],
    f: impl FnOnce(&[Array]) -> Result<Vec<Array>>,
) -> Result<Arc<ClosedJaxpr>> {
    let (jaxpr, consts) = trace_to_jaxpr(in_avals, f)?;
    close_concrete(&jaxpr, consts)
}

/// Prunes a traced jaxpr and closes it over its constants, which must all
/// be concrete.
fn close_concrete(jaxpr: &Jaxpr, consts: Vec<Array>) -> Result<Arc<ClosedJaxpr>> {
    let (jaxpr, consts) = prune(jaxpr, consts);
    let (closed, lifted) = close(jaxpr, consts);
    if !lifted.is_empty() {
        return Err(Error::op(
            "partial_eval",
            "internal error: a control-flow jaxpr captured a tracer",
        ));
    }
    Ok(closed)
}

/// Evaluates a closed jaxpr by binding its equations on the current trace.
pub(crate) fn eval_closed(jaxpr: &ClosedJaxpr, args: &[Array]) -> Result<Vec<Array>> {
    eval_jaxpr(&jaxpr.jaxpr, &const_arrays(jaxpr), args)
}

/// Keeps the entries of `items` whose flag equals `keep`.
pub(crate) fn pick<T: Clone>(items: &[T], flags: &[bool], keep: bool) -> Vec<T> {
    items
        .iter()
        .zip(flags)
        .filter(|(_, f)| **f == keep)
        .map(|(x, _)| x.clone())
        .collect()
}

/// Interleaves `unknown` and `known` back into one list following `flags`
/// (`true` takes the next unknown value).
pub(crate) fn merge<T>(flags: &[bool], known: Vec<T>, unknown: Vec<T>) -> Result<Vec<T>> {
    let (mut k, mut u) = (known.into_iter(), unknown.into_iter());
    flags
        .iter()
        .map(|&f| if f { u.next() } else { k.next() })
        .map(|o| o.ok_or_else(|| Error::op("partial_eval", "internal error: output count")))
        .collect()
}

/// Splits `jaxpr` given which inputs are `unknown`. Outputs flagged in
/// `instantiate` are unknown even when computable from known inputs.
///
/// # Errors
/// A primitive's error while tracing, or the `while_loop` reverse-mode
/// error for a loop that depends on unknown inputs.
pub(crate) fn partial_eval_jaxpr(
    jaxpr: &ClosedJaxpr,
    unknown: &[bool],
    instantiate: &[bool],
) -> Result<PartialJaxpr> {
    let known_trace = StagingTrace::new();
    let unknown_trace = StagingTrace::new_partial(known_trace.clone());
    let (mut known_inputs, mut known_vars, mut unknown_vars) = (Vec::new(), Vec::new(), Vec::new());
    let inputs: Vec<Array> = jaxpr
        .jaxpr
        .in_avals()
        .into_iter()
        .zip(unknown)
        .map(|(aval, &u)| {
            if u {
                let (t, v) = unknown_trace.new_input(aval);
                unknown_vars.push(v);
                t
            } else {
                let (t, v) = known_trace.new_input(aval);
                known_vars.push(v);
                known_inputs.push(t.clone());
                t
            }
        })
        .collect();
    let outs = with_trace(unknown_trace.clone(), || eval_closed(jaxpr, &inputs))?;
    let out_unknown: Vec<bool> = outs
        .iter()
        .zip(instantiate)
        .map(|(o, &inst)| inst || unknown_trace.owns(o))
        .collect();
    let (unknown_jaxpr, residuals) =
        unknown_trace.finish(unknown_vars, &pick(&outs, &out_unknown, true))?;
    let (unknown_jaxpr, residuals) = prune(&unknown_jaxpr, residuals);
    // Concrete residuals stay constants of the unknown jaxpr; the others
    // become its leading inputs and outputs of the known jaxpr.
    let (unknown, residuals) = close(unknown_jaxpr, residuals);
    if residuals.iter().any(|r| !known_trace.owns(r)) {
        return Err(Error::op(
            "partial_eval",
            "internal error: a residual is neither known nor constant",
        ));
    }
    let forwarded = residuals
        .iter()
        .map(|r| known_inputs.iter().position(|k| k.ptr_id() == r.ptr_id()))
        .collect();
    let known_outs: Vec<Array> = pick(&outs, &out_unknown, false)
        .into_iter()
        .chain(residuals)
        .collect();
    let (known_jaxpr, known_consts) = known_trace.finish(known_vars, &known_outs)?;
    let known = close_concrete(&known_jaxpr, known_consts)?;
    Ok(PartialJaxpr {
        known,
        unknown,
        out_unknown,
        forwarded,
    })
}

/// The error for reverse-mode differentiation through `while_loop`.
pub fn while_reverse_mode_error() -> Error {
    Error::op(
        "while_loop",
        "reverse-mode differentiation (grad, vjp, linearize) does not support while_loop, \
         whose trip count is only known at run time; use lax::scan, or lax::fori_loop with \
         bounds known at trace time (which is a scan)",
    )
}

/// Partial evaluation of a control-flow primitive some of whose operands
/// (but not all) are unknown (this `trace`'s tracers): the known part runs
/// on `parent` now, the unknown part is staged into `trace`. Returns `None`
/// for primitives without such a rule (they are staged whole).
///
/// # Errors
/// A primitive's error, or [`while_reverse_mode_error`].
pub(crate) fn partial_eval_control_flow(
    trace: &StagingTrace,
    parent: &Rc<dyn Trace>,
    prim: &Primitive,
    args: &[Array],
    loc: &'static Location<'static>,
) -> Option<Result<Vec<Array>>> {
    let ctx = Ctx { trace, parent, loc };
    if let Primitive::Cond { branches } = prim {
        return Some(ctx.cond(branches, args));
    }
    if let Some((body, scan)) = ScanParams::of(prim) {
        return Some(ctx.scan(body, scan, args));
    }
    if let Primitive::While { .. } = prim {
        return Some(Err(while_reverse_mode_error()));
    }
    None
}

/// The traces a partial-evaluation rule works with.
struct Ctx<'a> {
    /// The staging trace in partial mode (unknown values are its tracers).
    trace: &'a StagingTrace,
    /// Where known work runs.
    parent: &'a Rc<dyn Trace>,
    loc: &'static Location<'static>,
}

/// The static parameters of a `scan`.
#[derive(Clone, Copy)]
pub(crate) struct ScanParams {
    /// Number of iterations.
    pub(crate) length: usize,
    /// Iterate from the last slice to the first.
    pub(crate) reverse: bool,
    /// Leading loop-invariant operands.
    pub(crate) num_consts: usize,
    /// Carried operands after the constants.
    pub(crate) num_carry: usize,
}

impl ScanParams {
    /// The body and parameters of a `scan` primitive; `None` for others.
    pub(crate) fn of(prim: &Primitive) -> Option<(&Arc<ClosedJaxpr>, ScanParams)> {
        let Primitive::Scan {
            body,
            length,
            reverse,
            num_consts,
            num_carry,
        } = prim
        else {
            return None;
        };
        let params = ScanParams {
            length: *length,
            reverse: *reverse,
            num_consts: *num_consts,
            num_carry: *num_carry,
        };
        Some((body, params))
    }

    /// The `scan` primitive with these parameters and `body`.
    pub(crate) fn prim(self, body: Arc<ClosedJaxpr>) -> Primitive {
        Primitive::Scan {
            body,
            length: self.length,
            reverse: self.reverse,
            num_consts: self.num_consts,
            num_carry: self.num_carry,
        }
    }
}

impl Ctx<'_> {
    fn unknown_flags(&self, args: &[Array]) -> Vec<bool> {
        args.iter().map(|a| self.trace.owns(a)).collect()
    }

    /// Runs `prim(args)` on the parent unless its sub-jaxprs have no
    /// outputs.
    fn run_known(&self, prim: &Primitive, args: &[Array]) -> Result<Vec<Array>> {
        if has_no_outputs(prim) {
            return Ok(Vec::new());
        }
        self.parent.process_primitive(prim, args, self.loc)
    }

    /// Stages `prim(args)` unless its sub-jaxprs have no outputs.
    fn stage_unknown(&self, prim: &Primitive, args: &[Array]) -> Result<Vec<Array>> {
        if has_no_outputs(prim) {
            return Ok(Vec::new());
        }
        self.trace.stage(prim, args, self.loc)
    }

    fn cond(&self, branches: &[Arc<ClosedJaxpr>], args: &[Array]) -> Result<Vec<Array>> {
        let index = &args[0];
        let ops = &args[1..];
        if self.trace.owns(index) || branches.is_empty() {
            // An unknown index leaves nothing to run now.
            let prim = Primitive::Cond {
                branches: branches.to_vec(),
            };
            return self.trace.stage(&prim, args, self.loc);
        }
        let ops_unknown = self.unknown_flags(ops);
        let n_out = branches[0].jaxpr.outvars.len();
        let mut out_unknown = vec![false; n_out];
        let mut parts = Vec::with_capacity(branches.len());
        for b in branches {
            let part = partial_eval_jaxpr(b, &ops_unknown, &out_unknown)?;
            out_unknown
                .iter_mut()
                .zip(&part.out_unknown)
                .for_each(|(o, p)| *o |= p);
            parts.push(part);
        }
        // Branches split before the union was complete are split again with
        // the union instantiated, so every branch has the same signature.
        for (b, part) in branches.iter().zip(parts.iter_mut()) {
            if part.out_unknown != out_unknown {
                *part = partial_eval_jaxpr(b, &ops_unknown, &out_unknown)?;
            }
        }
        let known_ops = pick(ops, &ops_unknown, false);
        let known_in: Vec<AVal> = known_ops.iter().map(Array::aval).collect();
        // Residuals that are known operands passed through are passed to
        // the unknown cond directly (each once); the others are computed by
        // the known cond, every branch returning all branches' slots (zeros
        // for the others').
        let mut forwarded: Vec<usize> = parts
            .iter()
            .flat_map(|p| p.forwarded.iter().flatten().copied())
            .collect();
        forwarded.sort_unstable();
        forwarded.dedup();
        let computed_avals: Vec<Vec<AVal>> = parts
            .iter()
            .map(|p| pick_computed(&p.residual_avals(), &p.forwarded))
            .collect();
        let all_computed: Vec<AVal> = computed_avals.concat();
        let mut known_branches = Vec::with_capacity(parts.len());
        let mut unknown_branches = Vec::with_capacity(parts.len());
        let mut offset = 0;
        for (part, own) in parts.iter().zip(&computed_avals) {
            let (start, end) = (offset, offset + own.len());
            offset = end;
            let n_res = part.forwarded.len();
            known_branches.push(trace_closed(&known_in, |ins| {
                let mut outs = eval_closed(&part.known, ins)?;
                let res = outs.split_off(outs.len() - n_res);
                let mine = pick_computed(&res, &part.forwarded);
                let pad = |avals: &[AVal]| avals.iter().map(zeros).collect::<Result<Vec<_>>>();
                outs.extend(pad(&all_computed[..start])?);
                outs.extend(mine);
                outs.extend(pad(&all_computed[end..])?);
                Ok(outs)
            })?);
            let unknown_in: Vec<AVal> = forwarded
                .iter()
                .map(|&k| known_in[k].clone())
                .chain(all_computed.iter().cloned())
                .chain(part.unknown.jaxpr.in_avals().split_off(n_res))
                .collect();
            unknown_branches.push(trace_closed(&unknown_in, |ins| {
                let (fwd, rest) = ins.split_at(forwarded.len());
                let (computed, uk_ops) = rest.split_at(all_computed.len());
                let mut mine = computed[start..end].iter();
                let mut args = Vec::with_capacity(n_res + uk_ops.len());
                for f in &part.forwarded {
                    let r = match f {
                        Some(k) => forwarded.iter().position(|x| x == k).map(|i| &fwd[i]),
                        None => mine.next(),
                    };
                    args.push(
                        r.cloned()
                            .ok_or_else(|| Error::op("cond", "internal error: residuals"))?,
                    );
                }
                args.extend(uk_ops.iter().cloned());
                eval_closed(&part.unknown, &args)
            })?);
        }
        let known_args: Vec<Array> = std::iter::once(index.clone())
            .chain(known_ops.iter().cloned())
            .collect();
        let mut known_outs = self.run_known(
            &Primitive::Cond {
                branches: known_branches,
            },
            &known_args,
        )?;
        let residuals = known_outs.split_off(known_outs.len() - all_computed.len());
        let unknown_args: Vec<Array> = std::iter::once(index.clone())
            .chain(forwarded.iter().map(|&k| known_ops[k].clone()))
            .chain(residuals)
            .chain(pick(ops, &ops_unknown, true))
            .collect();
        let unknown_outs = self.stage_unknown(
            &Primitive::Cond {
                branches: unknown_branches,
            },
            &unknown_args,
        )?;
        merge(&out_unknown, known_outs, unknown_outs)
    }

    fn scan(&self, body: &Arc<ClosedJaxpr>, p: ScanParams, args: &[Array]) -> Result<Vec<Array>> {
        let (nc, nk) = (p.num_consts, p.num_carry);
        let n_ys = body.jaxpr.outvars.len() - nk;
        // Fixpoint: a carry is unknown if its initial value is, or if the
        // body computes it from unknown values.
        let mut unknown = self.unknown_flags(args);
        let part = loop {
            let instantiate: Vec<bool> = unknown[nc..nc + nk]
                .iter()
                .copied()
                .chain(std::iter::repeat_n(false, n_ys))
                .collect();
            let part = partial_eval_jaxpr(body, &unknown, &instantiate)?;
            if part.out_unknown[..nk] == unknown[nc..nc + nk] {
                break part;
            }
            for (u, o) in unknown[nc..nc + nk].iter_mut().zip(&part.out_unknown) {
                *u |= o;
            }
        };
        let known_flags =
            |range: std::ops::Range<usize>| unknown[range].iter().filter(|u| !**u).count();
        let (nc_known, nk_known) = (known_flags(0..nc), known_flags(nc..nc + nk));
        // Residuals that depend only on known constants are computed once,
        // before the loop; slices of known xs are taken from the xs; the
        // others are stacked by the known scan.
        let n_known_out = part.out_unknown.iter().filter(|u| !**u).count();
        let varies = varying_vars(&part.known.jaxpr, nc_known);
        let res_atoms = &part.known.jaxpr.outvars[n_known_out..];
        let kinds: Vec<Residual> = part
            .forwarded
            .iter()
            .zip(res_atoms)
            .map(|(f, atom)| match (*f, atom) {
                (Some(k), _) if k >= nc_known + nk_known => Residual::Xs(k - nc_known - nk_known),
                (_, Atom::Var(v)) if varies[v.index()] => Residual::Stacked,
                (_, Atom::Var(_) | Atom::Lit(_)) => Residual::Invariant,
            })
            .collect();
        let is_stacked = |k: &Residual| matches!(k, Residual::Stacked);
        let is_const = |k: &Residual| matches!(k, Residual::Invariant);
        // The known scan: its body returns only the stacked residuals.
        let known_body = if kinds.iter().all(is_stacked) {
            part.known.clone()
        } else {
            trace_closed(&part.known.jaxpr.in_avals(), |ins| {
                let outs = eval_closed(&part.known, ins)?;
                let (kept, res) = outs.split_at(n_known_out);
                let stacked = res.iter().zip(&kinds).filter(|(_, k)| is_stacked(k));
                Ok(kept
                    .iter()
                    .chain(stacked.map(|(r, _)| r))
                    .cloned()
                    .collect())
            })?
        };
        let known_args = pick(args, &unknown, false);
        let known_prim = ScanParams {
            num_consts: nc_known,
            num_carry: nk_known,
            ..p
        }
        .prim(known_body);
        let mut known_outs = self.run_known(&known_prim, &known_args)?;
        let n_stacked = kinds.iter().filter(|k| is_stacked(k)).count();
        let mut stacked = known_outs
            .split_off(known_outs.len() - n_stacked)
            .into_iter();
        // The unknown scan takes the residuals that are known constants as
        // constants and the others (known xs, stacked) as xs: (constant
        // residuals, unknown consts; unknown carry; per-step residuals,
        // unknown xs).
        let res_avals = part.residual_avals();
        let (const_res, step_res): (Vec<usize>, Vec<usize>) =
            (0..kinds.len()).partition(|&i| is_const(&kinds[i]));
        let body_in = body.jaxpr.in_avals();
        let uk = |r: std::ops::Range<usize>| pick(&body_in[r.clone()], &unknown[r], true);
        let n_uk_consts = uk(0..nc).len();
        let n_uk_carry = uk(nc..nc + nk).len();
        let avals_of = |idx: &[usize]| idx.iter().map(|&i| res_avals[i].clone()).collect();
        let unknown_in: Vec<AVal> = [
            avals_of(&const_res),
            uk(0..nc + nk),
            avals_of(&step_res),
            uk(nc + nk..body_in.len()),
        ]
        .concat();
        let unknown_body = trace_closed(&unknown_in, |ins| {
            let (cr, rest) = ins.split_at(const_res.len());
            let (ck, rest) = rest.split_at(n_uk_consts + n_uk_carry);
            let (sr, xs) = rest.split_at(step_res.len());
            let mut residuals: Vec<Option<Array>> = vec![None; kinds.len()];
            for (idx, values) in [(&const_res, cr), (&step_res, sr)] {
                for (&i, v) in idx.iter().zip(values) {
                    residuals[i] = Some(v.clone());
                }
            }
            let args: Vec<Array> = residuals
                .into_iter()
                .flatten()
                .chain(ck.iter().cloned())
                .chain(xs.iter().cloned())
                .collect();
            eval_closed(&part.unknown, &args)
        })?;
        let known_consts = pick(&args[..nc], &unknown[..nc], false);
        let known_xs = pick(&args[nc + nk..], &unknown[nc + nk..], false);
        let mut step_values = Vec::with_capacity(step_res.len());
        for &i in &step_res {
            step_values.push(match kinds[i] {
                Residual::Xs(j) => known_xs[j].clone(),
                Residual::Stacked | Residual::Invariant => stacked
                    .next()
                    .ok_or_else(|| Error::op("scan", "internal error: residual count"))?,
            });
        }
        let const_values = if const_res.is_empty() {
            Vec::new()
        } else {
            let outputs: Vec<usize> = const_res.iter().map(|i| n_known_out + i).collect();
            let invariant = restrict(&part.known, nc_known, &outputs);
            with_trace(self.parent.clone(), || {
                eval_closed(&invariant, &known_consts)
            })?
        };
        let unknown_args: Vec<Array> = const_values
            .into_iter()
            .chain(pick(&args[..nc + nk], &unknown[..nc + nk], true))
            .chain(step_values)
            .chain(pick(&args[nc + nk..], &unknown[nc + nk..], true))
            .collect();
        let unknown_prim = ScanParams {
            num_consts: const_res.len() + n_uk_consts,
            num_carry: n_uk_carry,
            ..p
        }
        .prim(unknown_body);
        let unknown_outs = self.stage_unknown(&unknown_prim, &unknown_args)?;
        merge(&part.out_unknown, known_outs, unknown_outs)
    }
}

/// True for a `cond` or `scan` whose jaxprs return nothing (it would
/// compute nothing).
fn has_no_outputs(prim: &Primitive) -> bool {
    prim.sub_jaxprs()
        .into_iter()
        .all(|j| j.jaxpr.outvars.is_empty())
}

/// The residuals (or their avals) that are not known inputs passed
/// through (`forwarded` is `None`).
fn pick_computed<T: Clone>(residuals: &[T], forwarded: &[Option<usize>]) -> Vec<T> {
    let flags: Vec<bool> = forwarded.iter().map(Option::is_none).collect();
    pick(residuals, &flags, true)
}

/// Where the unknown `scan` gets a residual of the body from.
enum Residual {
    /// It depends only on known constants: computed once before the loop
    /// and passed as a constant.
    Invariant,
    /// A slice of known `xs` (its position among them): the `xs` array
    /// itself is passed.
    Xs(usize),
    /// Computed by the known body: stacked as an extra output of the
    /// known scan.
    Stacked,
}

/// For each variable of `jaxpr`, whether it depends on an input after the
/// first `n_fixed` (the loop-varying ones); constants and the first
/// `n_fixed` inputs do not vary.
fn varying_vars(jaxpr: &Jaxpr, n_fixed: usize) -> Vec<bool> {
    let mut varies = vec![false; jaxpr.avals.len()];
    for v in &jaxpr.invars[n_fixed..] {
        varies[v.index()] = true;
    }
    for eqn in &jaxpr.eqns {
        let any = eqn
            .inputs
            .iter()
            .any(|a| matches!(a, Atom::Var(v) if varies[v.index()]));
        if any {
            eqn.outputs.iter().for_each(|v| varies[v.index()] = true);
        }
    }
    varies
}

/// The part of `jaxpr` computing `outputs` (which must not vary, see
/// [`varying_vars`]) from its first `n_fixed` inputs alone.
fn restrict(jaxpr: &ClosedJaxpr, n_fixed: usize, outputs: &[usize]) -> ClosedJaxpr {
    let mut sliced = jaxpr.jaxpr.clone();
    sliced.invars.truncate(n_fixed);
    sliced.outvars = outputs.iter().map(|&i| jaxpr.jaxpr.outvars[i]).collect();
    let varies = varying_vars(&jaxpr.jaxpr, n_fixed);
    sliced
        .eqns
        .retain(|e| e.outputs.iter().all(|v| !varies[v.index()]));
    ClosedJaxpr::new(dce(&sliced), jaxpr.consts.clone())
}
