//! Algebraic simplification: local rewrites that make an equation cheaper
//! or remove it, each exact (see the exactness note in [`super`]).
//!
//! | pattern | result | when |
//! |---|---|---|
//! | `mul x 1`, `mul 1 x`, `div x 1` | `x` | numbers (exact in every dtype) |
//! | `add x z`, `add z x` | `x` | integers with `z = 0`; floats only with `z = -0.0` (`-0.0 + 0.0` is `+0.0`) |
//! | `sub x z` | `x` | integers with `z = 0`; floats with `z = +0.0` |
//! | `neg (neg x)` | `x` | always |
//! | `transpose[p] (transpose[q] x)` | `transpose[q∘p] x`, or `x` if the identity | always |
//! | `transpose[identity] x` | `x` | always |
//! | `reshape (reshape x)` | `reshape x` | always |
//! | `reshape x` to `x`'s shape | `x` | always |
//! | `broadcast_in_dim (broadcast_in_dim x)` | one `broadcast_in_dim x` | always |
//! | `broadcast_in_dim x` to `x`'s shape, dims `0..rank` | `x` | always |
//! | `convert_element_type x` to `x`'s dtype | `x` | always |
//! | `reduce_sum[axes=()] x` | `x` / `add x 0.0` | integers / floats (the interpreter computes `0.0 + x`, which turns `-0.0` into `+0.0`) |
//! | `select True a b`, `select False a b`, `select p a a` | `a` / `b` / `a` | when the result has that operand's shape |
//! | elementwise op with an operand `broadcast_in_dim s` of a rank-0 `s` | the op on `s` | while another operand keeps the result's shape |
//!
//! The last rule is what turns `mul (broadcast_in_dim (div 1.0 2000.0)) x`
//! into `mul 0.0005 x` once the division is folded. Not done, because
//! inexact: `x * 0 = 0` (NaN and infinities), `x + 0.0 = x` for floats
//! (`-0.0`), and reassociation such as `(x * 2) * c = x * (2 * c)` (`x * 2`
//! may overflow).
//!
//! Rewrites apply to an equation repeatedly (a rewrite may enable another),
//! and every rewritten equation is checked against the shape rule: its
//! outputs keep their abstract values.

use super::cse::literal_bits;
use super::{with_eqns, Renames};
use crate::buffer::Scalar;
use crate::dtype::AVal;
use crate::jaxpr::{Atom, Eqn, Jaxpr};
use crate::primitive::Primitive;

/// How many rewrites one equation may go through in one sweep.
const MAX_REWRITES: usize = 8;

/// Applies the algebraic identities of the module docs. Equations made dead
/// by a rewrite (the inner `transpose` of a pair, say) are left for
/// [`super::dce`].
///
/// # Example
/// ```
/// use rjax_ir::{passes::{dce, simplify}, AVal, Atom, DType, JaxprBuilder, Primitive};
/// let mut b = JaxprBuilder::new();
/// let x = b.new_var(AVal::new(DType::F32, &[2, 3]));
/// let t = Primitive::Transpose { permutation: vec![1, 0] };
/// let y = b.add_eqn(t.clone(), vec![Atom::Var(x)], None).unwrap()[0];
/// let z = b.add_eqn(t, vec![Atom::Var(y)], None).unwrap()[0];
/// let w = b.add_eqn(Primitive::Exp, vec![Atom::Var(z)], None).unwrap()[0];
/// let jaxpr = b.build(vec![], vec![x], vec![Atom::Var(w)]).unwrap();
/// assert_eq!(
///     dce(&simplify(&jaxpr)).to_string(),
///     "{ lambda ; a:f32[2,3]. let\n    b:f32[2,3] = exp a\n  in (b,) }"
/// );
/// ```
pub fn simplify(jaxpr: &Jaxpr) -> Jaxpr {
    simplify_changed(jaxpr).0
}

/// What to do with an equation.
enum Action {
    /// Leave it.
    Keep,
    /// Drop it: its (single) output is this atom.
    Replace(Atom),
    /// Compute its output with this primitive and these operands instead.
    Rewrite(Primitive, Vec<Atom>),
}

/// [`simplify`], and whether it rewrote anything.
pub(crate) fn simplify_changed(jaxpr: &Jaxpr) -> (Jaxpr, bool) {
    let mut s = Simplifier {
        jaxpr,
        eqns: Vec::with_capacity(jaxpr.eqns.len()),
        def: vec![None; jaxpr.avals.len()],
        renames: Renames::default(),
        changed: false,
    };
    for eqn in &jaxpr.eqns {
        s.visit(eqn);
    }
    let outvars = s.renames.apply(&jaxpr.outvars);
    (with_eqns(jaxpr, s.eqns, outvars), s.changed)
}

/// The state of one sweep.
struct Simplifier<'a> {
    jaxpr: &'a Jaxpr,
    /// The equations emitted so far.
    eqns: Vec<Eqn>,
    /// For each variable defined by an emitted equation, its index in `eqns`.
    def: Vec<Option<usize>>,
    renames: Renames,
    changed: bool,
}

impl Simplifier<'_> {
    fn aval(&self, atom: &Atom) -> AVal {
        self.jaxpr.atom_aval(atom)
    }

    /// The emitted equation that defines `atom`, if any.
    fn producer(&self, atom: &Atom) -> Option<&Eqn> {
        let Atom::Var(v) = atom else { return None };
        let index = self.def.get(v.index()).copied().flatten()?;
        self.eqns.get(index)
    }

    /// Simplifies one equation and emits what is left of it.
    fn visit(&mut self, eqn: &Eqn) {
        let mut prim = eqn.prim.clone();
        let mut inputs = self.renames.apply(&eqn.inputs);
        if let [out] = eqn.outputs[..] {
            let out_aval = self.jaxpr.aval(out).clone();
            for _ in 0..MAX_REWRITES {
                match self.rule(&prim, &inputs, &out_aval) {
                    Action::Keep => break,
                    Action::Replace(atom) if self.aval(&atom) == out_aval => {
                        self.renames.set(out, atom);
                        self.changed = true;
                        return;
                    }
                    Action::Replace(_) => break,
                    Action::Rewrite(p, ins) => {
                        let in_avals: Vec<AVal> = ins.iter().map(|a| self.aval(a)).collect();
                        match crate::shape::abstract_eval(&p, &in_avals) {
                            Ok(outs) if outs == [out_aval.clone()] => {
                                prim = p;
                                inputs = ins;
                                self.changed = true;
                            }
                            _ => break,
                        }
                    }
                }
            }
        }
        for v in &eqn.outputs {
            if let Some(slot) = self.def.get_mut(v.index()) {
                *slot = Some(self.eqns.len());
            }
        }
        self.eqns.push(Eqn {
            prim,
            inputs,
            outputs: eqn.outputs.clone(),
            loc: eqn.loc,
        });
    }

    /// The rewrite for `prim(inputs)` with result `out`, if one applies.
    fn rule(&self, prim: &Primitive, inputs: &[Atom], out: &AVal) -> Action {
        use Primitive as P;
        let action = match (prim, inputs) {
            (P::Mul, [x, y]) => pick(x, y, is_one).unwrap_or(Action::Keep),
            (P::Add, [x, y]) => pick(x, y, is_add_identity).unwrap_or(Action::Keep),
            (P::Sub, [x, y]) if lit_is(y, is_sub_identity) => Action::Replace(*x),
            (P::Div, [x, y]) if lit_is(y, is_one) => Action::Replace(*x),
            (P::Neg, [x]) => match self.producer(x) {
                Some(Eqn {
                    prim: P::Neg,
                    inputs,
                    ..
                }) => Action::Replace(inputs[0]),
                _ => Action::Keep,
            },
            (P::Transpose { permutation }, [x]) => self.transpose(permutation, x),
            (P::Reshape { new_sizes }, [x]) => {
                if self.aval(x).shape == *new_sizes {
                    Action::Replace(*x)
                } else if let Some(Eqn {
                    prim: P::Reshape { .. },
                    inputs,
                    ..
                }) = self.producer(x)
                {
                    Action::Rewrite(prim.clone(), vec![inputs[0]])
                } else {
                    Action::Keep
                }
            }
            (
                P::BroadcastInDim {
                    shape,
                    broadcast_dimensions,
                },
                [x],
            ) => self.broadcast(shape, broadcast_dimensions, x),
            (P::ConvertElementType { new_dtype }, [x]) if self.aval(x).dtype == *new_dtype => {
                Action::Replace(*x)
            }
            (P::ReduceSum { axes }, [x]) if axes.is_empty() => {
                if out.dtype.is_float() {
                    let zero = Atom::Lit(Scalar::zero(out.dtype));
                    Action::Rewrite(P::Add, vec![*x, zero])
                } else {
                    Action::Replace(*x)
                }
            }
            (P::Select, [p, t, f]) => match p {
                Atom::Lit(Scalar::Bool(true)) => Action::Replace(*t),
                Atom::Lit(Scalar::Bool(false)) => Action::Replace(*f),
                _ if same_atom(t, f) => Action::Replace(*t),
                _ => Action::Keep,
            },
            // Every other primitive has no identity of its own; new
            // primitives need none to stay correct, hence the wildcard.
            _ => Action::Keep,
        };
        match action {
            // A `Replace` of the wrong shape (`mul x:f32[] 1.0` inside a
            // broadcast) is refused by `visit`; try absorbing instead.
            Action::Replace(a) if self.aval(&a) != *out => self.absorb(prim, inputs, out),
            Action::Keep => self.absorb(prim, inputs, out),
            other => other,
        }
    }

    /// `transpose[permutation] x`.
    fn transpose(&self, permutation: &[usize], x: &Atom) -> Action {
        if permutation.iter().enumerate().all(|(i, &p)| i == p) {
            return Action::Replace(*x);
        }
        match self.producer(x) {
            Some(Eqn {
                prim: Primitive::Transpose { permutation: inner },
                inputs,
                ..
            }) => {
                // Output dim i is the middle's dim permutation[i], which is
                // the operand's dim inner[permutation[i]].
                let composed = permutation.iter().map(|&p| inner[p]).collect();
                Action::Rewrite(
                    Primitive::Transpose {
                        permutation: composed,
                    },
                    vec![inputs[0]],
                )
            }
            _ => Action::Keep,
        }
    }

    /// `broadcast_in_dim[shape, dims] x`.
    fn broadcast(&self, shape: &[usize], dims: &[usize], x: &Atom) -> Action {
        let x_aval = self.aval(x);
        if x_aval.shape.as_slice() == shape && dims.iter().enumerate().all(|(i, &d)| i == d) {
            return Action::Replace(*x);
        }
        match self.producer(x) {
            Some(Eqn {
                prim:
                    Primitive::BroadcastInDim {
                        broadcast_dimensions: inner,
                        ..
                    },
                inputs,
                ..
            }) => {
                // Operand dim i goes to the middle's dim inner[i], which goes
                // to the output's dim dims[inner[i]].
                let composed = inner.iter().map(|&d| dims[d]).collect();
                Action::Rewrite(
                    Primitive::BroadcastInDim {
                        shape: shape.into(),
                        broadcast_dimensions: composed,
                    },
                    vec![inputs[0]],
                )
            }
            _ => Action::Keep,
        }
    }

    /// For an elementwise `prim`, replaces operands that are broadcasts of
    /// rank-0 values by those values, keeping at least one operand of the
    /// result's shape (so the result's shape does not change).
    fn absorb(&self, prim: &Primitive, inputs: &[Atom], out: &AVal) -> Action {
        if !is_elementwise_nary(prim) {
            return Action::Keep;
        }
        let scalar_source = |a: &Atom| match self.producer(a) {
            Some(Eqn {
                prim: Primitive::BroadcastInDim { .. },
                inputs,
                ..
            }) if self.aval(&inputs[0]).rank() == 0 => Some(inputs[0]),
            _ => None,
        };
        let sources: Vec<Option<Atom>> = inputs.iter().map(scalar_source).collect();
        let full_kept = inputs
            .iter()
            .zip(&sources)
            .any(|(a, s)| s.is_none() && self.aval(a).shape == out.shape);
        let mut keep_one = !full_kept && out.rank() > 0;
        let mut new_inputs = inputs.to_vec();
        let mut absorbed = false;
        for (slot, source) in new_inputs.iter_mut().zip(sources) {
            let Some(s) = source else { continue };
            if keep_one {
                keep_one = false;
                continue;
            }
            *slot = s;
            absorbed = true;
        }
        if absorbed {
            Action::Rewrite(prim.clone(), new_inputs)
        } else {
            Action::Keep
        }
    }
}

/// The elementwise primitives with several operands, whose operands may be
/// rank 0 (see [`crate::primitive`]).
fn is_elementwise_nary(prim: &Primitive) -> bool {
    use Primitive as P;
    matches!(
        prim,
        P::Add
            | P::Sub
            | P::Mul
            | P::Div
            | P::Rem
            | P::Pow
            | P::Max
            | P::Min
            | P::And
            | P::Or
            | P::Xor
            | P::Eq
            | P::Ne
            | P::Lt
            | P::Le
            | P::Gt
            | P::Ge
            | P::Select
    )
}

/// For a commutative identity: `x` if `y` is an identity literal, `y` if
/// `x` is one.
fn pick(x: &Atom, y: &Atom, identity: fn(Scalar) -> bool) -> Option<Action> {
    if lit_is(y, identity) {
        Some(Action::Replace(*x))
    } else if lit_is(x, identity) {
        Some(Action::Replace(*y))
    } else {
        None
    }
}

/// Whether `atom` is a literal satisfying `test`.
fn lit_is(atom: &Atom, test: fn(Scalar) -> bool) -> bool {
    matches!(atom, Atom::Lit(s) if test(*s))
}

/// Whether two operands are the same variable or bit-identical literals.
fn same_atom(a: &Atom, b: &Atom) -> bool {
    match (a, b) {
        (Atom::Var(x), Atom::Var(y)) => x == y,
        (Atom::Lit(x), Atom::Lit(y)) => {
            x.dtype() == y.dtype() && literal_bits(*x) == literal_bits(*y)
        }
        _ => false,
    }
}

/// `1` of a numeric dtype: `x * 1 = 1 * x = x / 1 = x`.
fn is_one(s: Scalar) -> bool {
    match s {
        Scalar::F32(x) => x == 1.0,
        Scalar::F64(x) => x == 1.0,
        Scalar::I32(x) => x == 1,
        Scalar::U32(x) => x == 1,
        Scalar::Bool(_) => false,
    }
}

/// `z` with `x + z = z + x = x` for every `x`: integer `0`, float `-0.0`.
fn is_add_identity(s: Scalar) -> bool {
    match s {
        Scalar::F32(x) => x.to_bits() == (-0.0f32).to_bits(),
        Scalar::F64(x) => x.to_bits() == (-0.0f64).to_bits(),
        Scalar::I32(x) => x == 0,
        Scalar::U32(x) => x == 0,
        Scalar::Bool(_) => false,
    }
}

/// `z` with `x - z = x` for every `x`: integer `0`, float `+0.0`.
fn is_sub_identity(s: Scalar) -> bool {
    match s {
        Scalar::F32(x) => x.to_bits() == 0,
        Scalar::F64(x) => x.to_bits() == 0,
        Scalar::I32(x) => x == 0,
        Scalar::U32(x) => x == 0,
        Scalar::Bool(_) => false,
    }
}
