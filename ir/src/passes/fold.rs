//! Constant folding: equations whose operands are all known at compile time
//! are evaluated by the reference interpreter ([`eval_primitive`]), so the
//! folded value is exactly what the equation would have computed.
//!
//! Known operands are literals and, in a [`ClosedJaxpr`], constants (and the
//! results of earlier folds). A rank-0 result becomes a literal; a larger
//! one becomes a new constant of the closed jaxpr, when it is small (at
//! most [`FOLD_LIMIT`] elements, as is every operand). What is not folded:
//!
//! - higher-order primitives (a `while` might not terminate, a `scan` might
//!   be long; [`super::inline_calls`] exposes a `call`'s body instead);
//! - equations with no constant *array* operand and a non-scalar result,
//!   such as `iota` or `broadcast_in_dim` of a literal: materializing them
//!   would turn cheap index arithmetic into memory traffic, and
//!   [`super::simplify`] absorbs a broadcast scalar into its users instead;
//! - equations whose evaluation fails (left for run time to report).
//!
//! In a closed jaxpr, rank-0 constants become literals too.

use super::Renames;
use crate::buffer::HostBuffer;
use crate::interp::eval_primitive;
use crate::jaxpr::{Atom, ClosedJaxpr, Eqn, Jaxpr, Var};

/// The largest number of elements of a constant that folding reads or makes.
pub const FOLD_LIMIT: usize = 1024;

/// Evaluates the equations whose operands are all literals and whose
/// results are rank 0, replacing their results by literals. (The jaxpr has
/// no constant values, so larger results cannot be kept; see
/// [`fold_constants_closed`].)
///
/// # Example
/// ```
/// use rjax_ir::{passes::fold_constants, AVal, Atom, DType, JaxprBuilder, Primitive, Scalar};
/// let mut b = JaxprBuilder::new();
/// let x = b.new_var(AVal::new(DType::F32, &[2]));
/// let lit = |v: f32| Atom::Lit(Scalar::F32(v));
/// let c = b.add_eqn(Primitive::Div, vec![lit(1.0), lit(2000.0)], None).unwrap()[0];
/// let y = b.add_eqn(Primitive::Mul, vec![Atom::Var(x), Atom::Var(c)], None).unwrap()[0];
/// let jaxpr = b.build(vec![], vec![x], vec![Atom::Var(y)]).unwrap();
/// assert_eq!(
///     fold_constants(&jaxpr).to_string(),
///     "{ lambda ; a:f32[2]. let\n    b:f32[2] = mul a 0.0005:f32[]\n  in (b,) }"
/// );
/// ```
pub fn fold_constants(jaxpr: &Jaxpr) -> Jaxpr {
    fold_changed(jaxpr, None).0.jaxpr
}

/// [`fold_constants`] for a closed jaxpr: constants are known values too.
/// Rank-0 constants become literals, and results of at most
/// [`FOLD_LIMIT`] elements computed from constants become new constants.
/// Constants nothing reads any more are dropped.
///
/// # Example
/// ```
/// use rjax_ir::{passes::fold_constants_closed, AVal, Atom, ClosedJaxpr, DType, HostBuffer,
///     JaxprBuilder, Primitive};
/// let mut b = JaxprBuilder::new();
/// let c = b.new_var(AVal::new(DType::F32, &[2]));
/// let x = b.new_var(AVal::new(DType::F32, &[2]));
/// let e = b.add_eqn(Primitive::Exp, vec![Atom::Var(c)], None).unwrap()[0];
/// let y = b.add_eqn(Primitive::Mul, vec![Atom::Var(x), Atom::Var(e)], None).unwrap()[0];
/// let jaxpr = b.build(vec![c], vec![x], vec![Atom::Var(y)]).unwrap();
/// let consts = vec![HostBuffer::from_vec(vec![0.0f32, 0.0], &[2]).unwrap()];
/// let folded = fold_constants_closed(&ClosedJaxpr::new(jaxpr, consts));
/// assert_eq!(folded.consts, vec![HostBuffer::from_vec(vec![1.0f32, 1.0], &[2]).unwrap()]);
/// assert_eq!(folded.jaxpr.eqns.len(), 1);
/// ```
pub fn fold_constants_closed(closed: &ClosedJaxpr) -> ClosedJaxpr {
    let (folded, _) = fold_changed(&closed.jaxpr, Some(&closed.consts));
    super::dce::dce_closed_changed(&folded).0
}

/// Folds `jaxpr`, whose constvars hold `consts` when given; also says
/// whether anything was folded. Without `consts` the result's `consts` are
/// empty and its constvars are `jaxpr`'s (so it is closed only in name).
pub(crate) fn fold_changed(jaxpr: &Jaxpr, consts: Option<&[HostBuffer]>) -> (ClosedJaxpr, bool) {
    let mut state = Folder {
        avals: jaxpr.avals.clone(),
        renames: Renames::default(),
        known: vec![None; jaxpr.avals.len()],
        constvars: Vec::new(),
        consts: Vec::new(),
        changed: false,
    };
    match consts {
        Some(consts) => {
            for (v, c) in jaxpr.constvars.iter().zip(consts) {
                state.bind_const(*v, c.clone());
            }
        }
        None => state.constvars = jaxpr.constvars.clone(),
    }
    let mut eqns = Vec::with_capacity(jaxpr.eqns.len());
    for eqn in &jaxpr.eqns {
        let inputs = state.renames.apply(&eqn.inputs);
        if !state.try_fold(eqn, &inputs, consts.is_some()) {
            eqns.push(Eqn {
                inputs,
                ..eqn.clone()
            });
        }
    }
    let outvars = state.renames.apply(&jaxpr.outvars);
    let folded = Jaxpr {
        avals: state.avals,
        constvars: state.constvars,
        invars: jaxpr.invars.clone(),
        eqns,
        outvars,
    };
    let closed = ClosedJaxpr {
        jaxpr: folded,
        consts: state.consts,
    };
    (closed, state.changed)
}

/// The state of one folding sweep.
struct Folder {
    avals: Vec<crate::AVal>,
    renames: Renames,
    /// For each variable with a known array value, its index in `consts`.
    known: Vec<Option<usize>>,
    constvars: Vec<Var>,
    consts: Vec<HostBuffer>,
    changed: bool,
}

impl Folder {
    /// Records that `var` holds `value`: a literal if rank 0, else a
    /// constant.
    fn bind_const(&mut self, var: Var, value: HostBuffer) {
        if value.shape().is_empty() && value.len() == 1 {
            self.renames.set(var, Atom::Lit(value.data().get(0)));
            self.changed = true;
            return;
        }
        if self.known.len() <= var.index() {
            self.known.resize(var.index() + 1, None);
        }
        self.known[var.index()] = Some(self.consts.len());
        self.constvars.push(var);
        self.consts.push(value);
    }

    /// The known value of an operand, if any.
    fn value(&self, atom: &Atom) -> Option<HostBuffer> {
        match atom {
            Atom::Lit(s) => Some(HostBuffer::scalar(*s)),
            Atom::Var(v) => {
                let index = self.known.get(v.index()).copied().flatten()?;
                Some(self.consts[index].clone())
            }
        }
    }

    /// Folds `eqn` (with operands `inputs`) if it should be; returns whether
    /// it did. `closed` says whether array results can become constants.
    fn try_fold(&mut self, eqn: &Eqn, inputs: &[Atom], closed: bool) -> bool {
        if eqn.prim.is_higher_order() {
            return false;
        }
        let Some(values) = inputs
            .iter()
            .map(|a| self.value(a))
            .collect::<Option<Vec<HostBuffer>>>()
        else {
            return false;
        };
        if values.iter().any(|v| v.len() > FOLD_LIMIT) {
            return false;
        }
        let out_avals: Vec<&crate::AVal> =
            eqn.outputs.iter().map(|v| &self.avals[v.index()]).collect();
        let all_scalar = out_avals.iter().all(|a| a.rank() == 0);
        let has_array_const = inputs.iter().any(|a| matches!(a, Atom::Var(_)));
        let small = out_avals.iter().all(|a| a.size() <= FOLD_LIMIT);
        if !(all_scalar || (closed && has_array_const && small)) {
            return false;
        }
        let refs: Vec<&HostBuffer> = values.iter().collect();
        let Ok(results) = eval_primitive(&eqn.prim, &refs) else {
            return false;
        };
        if results.len() != eqn.outputs.len() {
            return false;
        }
        for (out, value) in eqn.outputs.iter().zip(results) {
            self.bind_const(*out, value);
        }
        self.changed = true;
        true
    }
}
