//! Staging: building a jaxpr from a Rust function by tracing it with
//! abstract values (`make_jaxpr`, `jit`, `linearize`).
//!
//! Everything about building a jaxpr lives in [`StagingTrace`]: inputs
//! become tracers holding jaxpr variables, each primitive applied to them
//! appends an equation (its shape rule runs at once, so shape errors surface
//! while tracing), concrete rank-0 values become literals and every other
//! value that is not one of this trace's tracers (a captured array, or a
//! tracer of an outer transformation) becomes a constant variable.
//!
//! The design's `LinearizeTrace` is this same trace in partial-evaluation
//! mode ([`StagingTrace::new_partial`]): an equation none of whose operands
//! is one of its tracers runs on the parent trace instead of being staged,
//! so under a jvp trace the primal computation is evaluated while the
//! tangent computation is staged — JAX's linearize. One type rather than
//! two, because the two differ in that single decision. Higher-order
//! primitives with both known and unknown operands are split rather than
//! staged whole: `call` (`transforms::call`), `cond` and `scan`
//! (`transforms::control_flow_partial_eval`, which also rejects `while`).

use crate::array::{Array, Repr, TracerKind};
use crate::core::{with_trace, Trace, TraceTag};
use crate::tree::Tree;
use rjax_ir::{AVal, Atom, ClosedJaxpr, HostBuffer, Jaxpr, JaxprBuilder, Primitive, Result, Var};
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::Location;
use std::rc::Rc;

/// A trace that records every primitive into a jaxpr.
pub struct StagingTrace {
    tag: TraceTag,
    state: RefCell<StagingState>,
    /// In partial-evaluation mode (linearize), equations whose operands are
    /// all known (none is this trace's tracer) run on this parent instead of
    /// being staged.
    known_parent: Option<Rc<dyn Trace>>,
}

#[derive(Default)]
struct StagingState {
    builder: JaxprBuilder,
    /// Constants in order of first use, kept alive so their identity is stable.
    consts: Vec<(Array, Var)>,
    /// Constant variable by array identity.
    const_vars: HashMap<usize, Var>,
}

impl StagingTrace {
    /// A fresh, empty staging trace.
    pub fn new() -> Rc<StagingTrace> {
        Rc::new(StagingTrace {
            tag: TraceTag::fresh(),
            state: RefCell::default(),
            known_parent: None,
        })
    }

    /// A staging trace in partial-evaluation mode: only equations that
    /// depend on this trace's inputs are staged; everything else runs on
    /// `parent` and enters the jaxpr as a constant (a residual). This is
    /// how `linearize` evaluates primals while staging the tangent program.
    pub fn new_partial(parent: Rc<dyn Trace>) -> Rc<StagingTrace> {
        Rc::new(StagingTrace {
            tag: TraceTag::fresh(),
            state: RefCell::default(),
            known_parent: Some(parent),
        })
    }

    /// True if `array` is one of this trace's tracers.
    pub fn owns(&self, array: &Array) -> bool {
        matches!(array.repr(), Repr::Traced(t) if t.tag == self.tag)
    }

    /// A new input of the jaxpr, as a tracer of this trace.
    pub fn new_input(&self, aval: AVal) -> (Array, Var) {
        let var = self.state.borrow_mut().builder.new_var(aval.clone());
        (
            Array::tracer(self.tag, aval, TracerKind::Staged { var }),
            var,
        )
    }

    /// The jaxpr operand for `array`: its variable if it is one of this
    /// trace's tracers, a literal for a concrete rank-0 value, a constant
    /// variable otherwise.
    fn atom(&self, array: &Array) -> Atom {
        match array.repr() {
            Repr::Traced(t) if t.tag == self.tag => match &t.kind {
                TracerKind::Staged { var } => Atom::Var(*var),
                TracerKind::Jvp { .. } => {
                    panic!("internal error: a jvp tracer carries a staging tag")
                }
                TracerKind::Batch { .. } => {
                    panic!("internal error: a batch tracer carries a staging tag")
                }
            },
            Repr::Concrete(b) if b.shape().is_empty() => Atom::Lit(b.data().get(0)),
            Repr::Concrete(_) | Repr::Placed(_) | Repr::Traced(_) => {
                Atom::Var(self.const_var(array))
            }
        }
    }

    fn const_var(&self, array: &Array) -> Var {
        let mut state = self.state.borrow_mut();
        if let Some(var) = state.const_vars.get(&array.ptr_id()) {
            return *var;
        }
        let var = state.builder.new_var(array.aval());
        state.const_vars.insert(array.ptr_id(), var);
        state.consts.push((array.clone(), var));
        var
    }

    /// Finishes the jaxpr with `outputs` as its results. Returns the jaxpr
    /// and the values of its constant variables (concrete arrays, or tracers
    /// of outer transformations).
    ///
    /// # Errors
    /// A verification error if the staged program is malformed (an internal
    /// error).
    pub fn finish(&self, invars: Vec<Var>, outputs: &[Array]) -> Result<(Jaxpr, Vec<Array>)> {
        let outvars: Vec<Atom> = outputs.iter().map(|o| self.atom(o)).collect();
        let state = self.state.replace(StagingState::default());
        let (const_arrays, constvars): (Vec<Array>, Vec<Var>) = state.consts.into_iter().unzip();
        let jaxpr = state.builder.build(constvars, invars, outvars)?;
        Ok((jaxpr, const_arrays))
    }
}

impl Trace for StagingTrace {
    fn tag(&self) -> Option<TraceTag> {
        Some(self.tag)
    }

    fn process_primitive(
        &self,
        prim: &Primitive,
        args: &[Array],
        loc: &'static Location<'static>,
    ) -> Result<Vec<Array>> {
        if let Some(parent) = &self.known_parent {
            let owned = args.iter().filter(|a| self.owns(a)).count();
            if owned == 0 {
                return parent.process_primitive(prim, args, loc);
            }
            if let (Primitive::Call { jaxpr, name }, true) = (prim, owned < args.len()) {
                // Split the call: its known part runs on the parent now.
                return crate::transforms::call::partial_eval_call(
                    self, parent, jaxpr, name, args, loc,
                );
            }
            if owned < args.len() {
                // Control flow (cond, scan) is split the same way; a while
                // loop with unknown operands is an error.
                if let Some(outs) =
                    crate::transforms::control_flow_partial_eval::partial_eval_control_flow(
                        self, parent, prim, args, loc,
                    )
                {
                    return outs;
                }
            }
        }
        self.stage(prim, args, loc)
    }
}

impl StagingTrace {
    /// Appends `prim(args)` to the jaxpr being built.
    pub(crate) fn stage(
        &self,
        prim: &Primitive,
        args: &[Array],
        loc: &'static Location<'static>,
    ) -> Result<Vec<Array>> {
        let inputs: Vec<Atom> = args.iter().map(|a| self.atom(a)).collect();
        let mut state = self.state.borrow_mut();
        let outs = state.builder.add_eqn(prim.clone(), inputs, Some(loc))?;
        Ok(outs
            .into_iter()
            .map(|var| {
                let aval = state.builder.aval(var).clone();
                Array::tracer(self.tag, aval, TracerKind::Staged { var })
            })
            .collect())
    }
}

/// Traces `f` on abstract inputs of `in_avals` into a jaxpr. Returns the
/// jaxpr and its constants' values.
///
/// # Errors
/// Whatever `f` returns, and shape errors raised while tracing.
pub fn trace_to_jaxpr(
    in_avals: &[AVal],
    f: impl FnOnce(&[Array]) -> Result<Vec<Array>>,
) -> Result<(Jaxpr, Vec<Array>)> {
    let trace = StagingTrace::new();
    let (inputs, invars): (Vec<Array>, Vec<Var>) = in_avals
        .iter()
        .map(|aval| trace.new_input(aval.clone()))
        .unzip();
    let outputs = with_trace(trace.clone(), || f(&inputs))?;
    trace.finish(invars, &outputs)
}

/// Returns a function that traces `f` on the shapes and dtypes of its
/// argument and returns the jaxpr, without running it.
///
/// # Example
/// ```
/// use rjax::{make_jaxpr, Array};
/// let f = |x: &Array| (x * 2.0).exp();
/// let jaxpr = make_jaxpr(f)(&Array::from_vec(vec![1.0f32, 2.0], &[2]).unwrap()).unwrap();
/// assert!(jaxpr.to_string().contains("exp"));
/// ```
///
/// # Errors
/// The returned function fails when tracing hits a shape error in a `try_*`
/// operation, or when a constant captured by `f` is itself a tracer of an
/// enclosing transformation.
pub fn make_jaxpr<A: Tree, B: Tree>(f: impl Fn(&A) -> B) -> impl Fn(&A) -> Result<ClosedJaxpr> {
    move |args: &A| {
        let leaves = crate::tree::tree_leaves(args);
        let in_avals: Vec<AVal> = leaves.iter().map(Array::aval).collect();
        let (jaxpr, consts) = trace_to_jaxpr(&in_avals, |tracers| {
            let traced_args = args.unflatten_from(&mut tracers.iter().cloned())?;
            Ok(crate::tree::tree_leaves(&f(&traced_args)))
        })?;
        let consts: Vec<HostBuffer> = consts
            .iter()
            .map(|c| c.try_buffer("make_jaxpr").cloned())
            .collect::<Result<_>>()?;
        let (jaxpr, consts) = prune(&jaxpr, consts);
        Ok(ClosedJaxpr::new(jaxpr, consts))
    }
}

/// Dead-code elimination, then dropping constants nothing reads.
pub(crate) fn prune<C>(jaxpr: &Jaxpr, consts: Vec<C>) -> (Jaxpr, Vec<C>) {
    let mut jaxpr = rjax_ir::passes::dce(jaxpr);
    let mut used = vec![false; jaxpr.avals.len()];
    let atoms = jaxpr
        .eqns
        .iter()
        .flat_map(|e| e.inputs.iter())
        .chain(jaxpr.outvars.iter());
    for atom in atoms {
        if let Atom::Var(v) = atom {
            used[v.index()] = true;
        }
    }
    let (constvars, consts): (Vec<Var>, Vec<C>) = jaxpr
        .constvars
        .iter()
        .copied()
        .zip(consts)
        .filter(|(v, _)| used[v.index()])
        .unzip();
    jaxpr.constvars = constvars;
    (jaxpr, consts)
}
