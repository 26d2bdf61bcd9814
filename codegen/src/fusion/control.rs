//! Fusion of control-flow equations (`cond`, `while`, `scan`): every
//! operand and result gets a buffer, literal operands become constants,
//! and each sub-jaxpr is planned recursively into a sub-program of a
//! [`ControlStep`] (see [`crate::control`]).

use super::emit::Ctx;
use super::partition::{atom_var, Class};
use super::prepare::Graph;
use super::{internal, Fallible};
use crate::control::{ControlKind, ControlStep};
use crate::lower::{lowering, Lowering};
use crate::program::Step;
use rjax_ir::{AVal, Atom, HostBuffer, Jaxpr, Primitive, Var};

/// Marks every operand and result of a control-flow equation as
/// materialised.
pub(super) fn materialise(g: &Graph, classes: &[Class], mat: &mut [bool]) {
    for (eqn, class) in g.jaxpr.eqns.iter().zip(classes) {
        if *class == Class::Control {
            for v in eqn
                .inputs
                .iter()
                .filter_map(atom_var)
                .chain(eqn.outputs.iter().copied())
            {
                mat[v.index()] = true;
            }
        }
    }
}

/// Replaces the literal operands of control-flow equations by new
/// constants, so that every operand of a control step is a buffer.
pub(super) fn lift_literals(jaxpr: &mut Jaxpr, consts: &mut Vec<HostBuffer>) {
    for e in 0..jaxpr.eqns.len() {
        if !matches!(lowering(&jaxpr.eqns[e].prim), Ok(Lowering::Control)) {
            continue;
        }
        for k in 0..jaxpr.eqns[e].inputs.len() {
            let Atom::Lit(s) = jaxpr.eqns[e].inputs[k] else {
                continue;
            };
            let v =
                Var(u32::try_from(jaxpr.avals.len()).expect("internal error: too many variables"));
            jaxpr.avals.push(AVal::scalar(s.dtype()));
            jaxpr.constvars.push(v);
            consts.push(HostBuffer::scalar(s));
            jaxpr.eqns[e].inputs[k] = Atom::Var(v);
        }
    }
}

/// The control step of equation `i`, its sub-jaxprs planned recursively.
pub(super) fn emit(ctx: &Ctx<'_>, i: usize) -> Fallible<Step> {
    let eqn = &ctx.g.jaxpr.eqns[i];
    let inputs = eqn
        .inputs
        .iter()
        .map(|a| atom_var(a).map(|v| ctx.buf(v)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| internal("a literal operand of a control step"))?;
    let outputs = eqn.outputs.iter().map(|v| ctx.buf(*v)).collect();
    let kind = match &eqn.prim {
        Primitive::Cond { branches } => ControlKind::Cond {
            branches: branches
                .iter()
                .map(|b| super::plan(b))
                .collect::<rjax_ir::Result<_>>()?,
        },
        Primitive::While {
            cond_jaxpr,
            body_jaxpr,
        } => ControlKind::While {
            cond: super::plan(cond_jaxpr)?,
            body: super::plan(body_jaxpr)?,
        },
        Primitive::Scan {
            body,
            length,
            reverse,
            num_consts,
            num_carry,
        } => ControlKind::Scan {
            body: super::plan(body)?,
            length: *length,
            reverse: *reverse,
            num_consts: *num_consts,
            num_carry: *num_carry,
        },
        other => {
            return Err(
                internal(&format!("{} is not a control-flow primitive", other.name())).into(),
            )
        }
    };
    Ok(Step::Control(Box::new(ControlStep {
        kind,
        inputs,
        outputs,
    })))
}
