//! The jaxpr verifier.
//!
//! [`verify`] checks that a jaxpr is well formed and, when it is not,
//! returns [`Error::Verify`] with the printed jaxpr and every problem shown
//! inline (as Cranelift's verifier does), each as a `; error: ...` line right
//! under what it concerns:
//!
//! ```text
//! { lambda ; a:f32[3]. let
//!     b:f32[3] = add a ?5
//!     ; error: operand 1 (?5) is never defined
//!   in (b,) }
//! ; 1 error found
//! ```
//!
//! Problems with the constvars and invars (and, for [`verify_closed`], the
//! constants) follow the `{ lambda ... let` line; problems with the outputs
//! follow the `in (...) }` line; a last line counts the errors. The checks:
//!
//! - every variable indexes into `avals`;
//! - constvars and invars are distinct;
//! - every operand is defined (a constvar, an invar or an earlier output)
//!   before the equation that uses it;
//! - every equation output is defined exactly once: never an input, never
//!   the output of another equation;
//! - every equation's output avals are what the shape rule
//!   ([`crate::shape::abstract_eval`]) gives for its operands, and when the
//!   shape rule fails its error message is the problem reported;
//! - every outvar is defined;
//! - the sub-jaxprs of higher-order primitives pass [`verify_closed`]; their
//!   problems are shown inline in the nested print, and a line under the
//!   equation counts them. The shape rule of an equation with a broken
//!   sub-jaxpr is not run (it relies on well-formed sub-jaxprs).

use crate::buffer::HostBuffer;
use crate::dtype::AVal;
use crate::error::{Error, Result};
use crate::jaxpr::{Atom, ClosedJaxpr, Jaxpr, Var};
use crate::printer::{sub_jaxpr_labels, Notes, Printer};

/// Checks that `jaxpr` is well formed (see the module docs for the checks).
///
/// # Errors
/// [`Error::Verify`] with the printed jaxpr and every problem found shown
/// inline.
pub fn verify(jaxpr: &Jaxpr) -> Result<()> {
    report(jaxpr, None)
}

/// [`verify`] for a closed jaxpr, also checking that there is one constant
/// per constvar and that each constant's aval is its constvar's.
///
/// # Errors
/// [`Error::Verify`] as for [`verify`].
pub fn verify_closed(closed: &ClosedJaxpr) -> Result<()> {
    report(&closed.jaxpr, Some(&closed.consts))
}

/// Runs the checks and renders the problems, if any.
fn report(jaxpr: &Jaxpr, consts: Option<&[HostBuffer]>) -> Result<()> {
    let (notes, count) = check(jaxpr, consts);
    if count == 0 {
        return Ok(());
    }
    let mut text = Printer::new(jaxpr).render(Some(&notes));
    text.push_str(&format!("\n; {}", plural(count)));
    text.push_str(" found");
    Err(Error::Verify(text))
}

/// `1 error`, `2 errors`.
fn plural(count: usize) -> String {
    if count == 1 {
        "1 error".to_string()
    } else {
        format!("{count} errors")
    }
}

/// Where a variable was defined.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Def {
    Constvar,
    Invar,
    Eqn(usize),
}

/// Verification state for one jaxpr.
struct Checker<'a> {
    jaxpr: &'a Jaxpr,
    printer: Printer<'a>,
    defs: Vec<Option<Def>>,
    notes: Notes,
    count: usize,
}

/// Checks one jaxpr (and, recursively, its sub-jaxprs), returning the notes
/// to print and the number of problems found.
fn check(jaxpr: &Jaxpr, consts: Option<&[HostBuffer]>) -> (Notes, usize) {
    let mut c = Checker {
        jaxpr,
        printer: Printer::new(jaxpr),
        defs: vec![None; jaxpr.avals.len()],
        notes: Notes::default(),
        count: 0,
    };
    c.check_binders(consts);
    for i in 0..jaxpr.eqns.len() {
        c.check_eqn(i);
    }
    c.check_outvars();
    (c.notes, c.count)
}

/// An `error: ` line, counted.
fn error(lines: &mut Vec<String>, count: &mut usize, message: String) {
    lines.push(format!("error: {message}"));
    *count += 1;
}

impl Checker<'_> {
    fn in_range(&self, v: Var) -> bool {
        v.index() < self.jaxpr.avals.len()
    }

    fn name(&self, v: Var) -> String {
        self.printer.var(v)
    }

    fn out_of_range(&self, what: &str, v: Var) -> String {
        format!(
            "{what} ({}) is out of range (the jaxpr has {} avals)",
            self.name(v),
            self.jaxpr.avals.len()
        )
    }

    /// Constvars, invars and constants.
    fn check_binders(&mut self, consts: Option<&[HostBuffer]>) {
        let mut lines = Vec::new();
        let mut count = 0;
        let binders = self.jaxpr.constvars.iter().map(|v| (Def::Constvar, *v));
        let binders = binders.chain(self.jaxpr.invars.iter().map(|v| (Def::Invar, *v)));
        for (kind, v) in binders {
            let what = if kind == Def::Constvar {
                "constvar"
            } else {
                "invar"
            };
            if !self.in_range(v) {
                let list = if kind == Def::Constvar {
                    &self.jaxpr.constvars
                } else {
                    &self.jaxpr.invars
                };
                let pos = list.iter().position(|x| *x == v).unwrap_or_default();
                error(
                    &mut lines,
                    &mut count,
                    self.out_of_range(&format!("{what} {pos}"), v),
                );
                continue;
            }
            match self.defs[v.index()] {
                Some(Def::Constvar) => {
                    let msg = format!("{what} {} is already bound as a constvar", self.name(v));
                    error(&mut lines, &mut count, msg);
                }
                Some(_) => {
                    let msg = format!("{what} {} is already bound as an invar", self.name(v));
                    error(&mut lines, &mut count, msg);
                }
                None => self.defs[v.index()] = Some(kind),
            }
        }
        if let Some(consts) = consts {
            let nvars = self.jaxpr.constvars.len();
            if consts.len() != nvars {
                let msg = format!("{} consts for {nvars} constvars", consts.len());
                error(&mut lines, &mut count, msg);
            }
            for (i, (value, v)) in consts.iter().zip(&self.jaxpr.constvars).enumerate() {
                if self.in_range(*v) && value.aval() != *self.jaxpr.aval(*v) {
                    let msg = format!(
                        "const {i} has aval {} but its constvar {} is {}",
                        value.aval(),
                        self.name(*v),
                        self.jaxpr.aval(*v)
                    );
                    error(&mut lines, &mut count, msg);
                }
            }
        }
        self.notes.header = lines;
        self.count += count;
    }

    /// Equation `i`: operands, outputs, sub-jaxprs and the shape rule.
    fn check_eqn(&mut self, i: usize) {
        let jaxpr = self.jaxpr;
        let eqn = &jaxpr.eqns[i];
        let mut lines = Vec::new();
        let mut count = 0;
        for (j, atom) in eqn.inputs.iter().enumerate() {
            let Atom::Var(v) = atom else { continue };
            let what = format!("operand {j}");
            if !self.in_range(*v) {
                error(&mut lines, &mut count, self.out_of_range(&what, *v));
            } else if self.defs[v.index()].is_none() {
                let name = self.name(*v);
                let msg = if self.printer.names().is_named(*v) {
                    format!("{what} ({name}) is used before it is defined")
                } else {
                    format!("{what} ({name}) is never defined")
                };
                error(&mut lines, &mut count, msg);
            }
        }
        for (k, v) in eqn.outputs.iter().enumerate() {
            if !self.in_range(*v) {
                error(
                    &mut lines,
                    &mut count,
                    self.out_of_range(&format!("output {k}"), *v),
                );
                continue;
            }
            let name = self.name(*v);
            let place = match self.defs[v.index()] {
                None => {
                    self.defs[v.index()] = Some(Def::Eqn(i));
                    continue;
                }
                Some(Def::Constvar) => "as a constvar".to_string(),
                Some(Def::Invar) => "as an invar".to_string(),
                Some(Def::Eqn(e)) if e == i => "earlier in this equation".to_string(),
                Some(Def::Eqn(e)) => {
                    let text = self.printer.eqn(e);
                    let first = text.lines().next().unwrap_or_default();
                    format!("by an earlier equation: {first}")
                }
            };
            error(
                &mut lines,
                &mut count,
                format!("output {name} is already defined {place}"),
            );
        }
        let mut subs_ok = true;
        for (k, sub) in eqn.prim.sub_jaxprs().into_iter().enumerate() {
            let (sub_notes, sub_count) = check(&sub.jaxpr, Some(&sub.consts));
            if sub_count > 0 {
                subs_ok = false;
                let labels = sub_jaxpr_labels(&eqn.prim);
                let label = labels.get(k).map_or("sub-jaxpr", String::as_str);
                lines.push(format!(
                    "error: in {label}: {} (shown above)",
                    plural(sub_count)
                ));
                self.notes.subs.insert((i, k), sub_notes);
                self.count += sub_count;
            }
        }
        let operands_in_range = eqn
            .inputs
            .iter()
            .all(|a| !matches!(a, Atom::Var(v) if !self.in_range(*v)));
        if subs_ok && operands_in_range {
            let in_avals: Vec<AVal> = eqn.inputs.iter().map(|a| self.jaxpr.atom_aval(a)).collect();
            match crate::shape::abstract_eval(&eqn.prim, &in_avals) {
                Err(e) => error(&mut lines, &mut count, e.to_string()),
                Ok(expected) if expected.len() != eqn.outputs.len() => {
                    let msg = format!(
                        "the shape rule gives {} outputs but the equation has {}",
                        expected.len(),
                        eqn.outputs.len()
                    );
                    error(&mut lines, &mut count, msg);
                }
                Ok(expected) => {
                    for (want, v) in expected.iter().zip(&eqn.outputs) {
                        let Some(got) = self.jaxpr.avals.get(v.index()) else {
                            continue;
                        };
                        if got != want {
                            let msg = format!(
                                "output {} has aval {got} but the shape rule gives {want}",
                                self.name(*v)
                            );
                            error(&mut lines, &mut count, msg);
                        }
                    }
                }
            }
        }
        if !lines.is_empty() {
            self.notes.eqns.insert(i, lines);
        }
        self.count += count;
    }

    /// The jaxpr's results.
    fn check_outvars(&mut self) {
        let mut lines = Vec::new();
        let mut count = 0;
        for (j, atom) in self.jaxpr.outvars.iter().enumerate() {
            let Atom::Var(v) = atom else { continue };
            let what = format!("outvar {j}");
            if !self.in_range(*v) {
                error(&mut lines, &mut count, self.out_of_range(&what, *v));
            } else if self.defs[v.index()].is_none() {
                let msg = format!("{what} ({}) is never defined", self.name(*v));
                error(&mut lines, &mut count, msg);
            }
        }
        self.notes.footer = lines;
        self.count += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::Scalar;
    use crate::dtype::DType;
    use crate::jaxpr::{Eqn, JaxprBuilder};
    use crate::primitive::Primitive;
    use std::sync::Arc;

    fn f32a(shape: &[usize]) -> AVal {
        AVal::new(DType::F32, shape)
    }

    fn var(i: u32) -> Atom {
        Atom::Var(Var(i))
    }

    fn eqn(prim: Primitive, inputs: Vec<Atom>, outputs: &[u32]) -> Eqn {
        Eqn {
            prim,
            inputs,
            outputs: outputs.iter().map(|&i| Var(i)).collect(),
            loc: None,
        }
    }

    fn jaxpr(avals: Vec<AVal>, invars: &[u32], eqns: Vec<Eqn>, outvars: Vec<Atom>) -> Jaxpr {
        Jaxpr {
            avals,
            constvars: vec![],
            invars: invars.iter().map(|&i| Var(i)).collect(),
            eqns,
            outvars,
        }
    }

    /// The verifier's text, which must be an [`Error::Verify`].
    fn failure(result: Result<()>) -> String {
        match result {
            Err(Error::Verify(text)) => text,
            other => panic!("expected a verify error, got {other:?}"),
        }
    }

    /// `f32[] -> f32[]` applying `prim`, with the output's aval `out`.
    fn unary(prim: Primitive, out: AVal) -> Arc<ClosedJaxpr> {
        let j = jaxpr(
            vec![f32a(&[]), out],
            &[0],
            vec![eqn(prim, vec![var(0)], &[1])],
            vec![var(1)],
        );
        Arc::new(ClosedJaxpr {
            jaxpr: j,
            consts: vec![],
        })
    }

    #[test]
    fn well_formed_jaxprs_pass() {
        let mut b = JaxprBuilder::new();
        let x = b.new_var(f32a(&[4, 2]));
        let w = b.new_var(f32a(&[2, 1]));
        let dot = Primitive::DotGeneral {
            lhs_contract: vec![1],
            rhs_contract: vec![0],
            lhs_batch: vec![],
            rhs_batch: vec![],
        };
        let y = b.add_eqn(dot, vec![x.into(), w.into()], None).unwrap()[0];
        let two = Atom::Lit(Scalar::F32(2.0));
        let z = b
            .add_eqn(Primitive::Mul, vec![y.into(), two], None)
            .unwrap()[0];
        let s = b.add_eqn(
            Primitive::ReduceSum { axes: vec![0, 1] },
            vec![z.into()],
            None,
        );
        let s = s.unwrap()[0];
        let built = b
            .build(vec![], vec![x, w], vec![s.into(), z.into()])
            .unwrap();
        assert_eq!(verify(&built), Ok(()));
        let consts = vec![HostBuffer::full(Scalar::F32(1.0), &[4, 2])];
        let c = ClosedJaxpr {
            jaxpr: Jaxpr {
                constvars: vec![x],
                invars: vec![w],
                ..built
            },
            consts,
        };
        assert_eq!(verify_closed(&c), Ok(()));
        // A cond whose branches are well formed.
        let cond = Primitive::Cond {
            branches: vec![
                unary(Primitive::Neg, f32a(&[])),
                unary(Primitive::Sin, f32a(&[])),
            ],
        };
        let avals = vec![AVal::scalar(DType::I32), f32a(&[]), f32a(&[])];
        let j = jaxpr(
            avals,
            &[0, 1],
            vec![eqn(cond, vec![var(0), var(1)], &[2])],
            vec![var(2)],
        );
        assert_eq!(verify(&j), Ok(()));
    }

    #[test]
    fn undefined_operand() {
        let j = jaxpr(
            vec![f32a(&[3]); 6],
            &[0],
            vec![
                eqn(Primitive::Add, vec![var(0), var(5)], &[1]),
                eqn(Primitive::Mul, vec![var(1), var(3)], &[2]),
                eqn(Primitive::Neg, vec![var(1)], &[3]),
            ],
            vec![var(2)],
        );
        let expected = "\
{ lambda ; a:f32[3]. let
    b:f32[3] = add a ?5
    ; error: operand 1 (?5) is never defined
    c:f32[3] = mul b d
    ; error: operand 1 (d) is used before it is defined
    d:f32[3] = neg b
  in (c,) }
; 2 errors found";
        assert_eq!(failure(verify(&j)), expected);
        let err = verify(&j).unwrap_err().to_string();
        assert!(
            err.starts_with("jaxpr verification failed:\n{ lambda"),
            "{err}"
        );
    }

    #[test]
    fn variable_defined_twice() {
        let j = jaxpr(
            vec![f32a(&[]); 4],
            &[0, 1, 0],
            vec![
                eqn(Primitive::Add, vec![var(0), var(1)], &[2]),
                eqn(Primitive::Sin, vec![var(2)], &[2]),
                eqn(Primitive::Cos, vec![var(2)], &[1]),
                eqn(Primitive::Exp, vec![var(2)], &[3]),
            ],
            vec![var(3)],
        );
        let expected = "\
{ lambda ; a:f32[] b:f32[] a:f32[]. let
    ; error: invar a is already bound as an invar
    c:f32[] = add a b
    c:f32[] = sin c
    ; error: output c is already defined by an earlier equation: c:f32[] = add a b
    b:f32[] = cos c
    ; error: output b is already defined as an invar
    d:f32[] = exp c
  in (d,) }
; 3 errors found";
        assert_eq!(failure(verify(&j)), expected);
    }

    #[test]
    fn output_aval_differs_from_shape_rule() {
        let j = jaxpr(
            vec![f32a(&[3]), f32a(&[4]), AVal::new(DType::I32, &[3])],
            &[0],
            vec![
                eqn(Primitive::Neg, vec![var(0)], &[1]),
                eqn(Primitive::Sin, vec![var(0)], &[2]),
            ],
            vec![var(1), var(2)],
        );
        let expected = "\
{ lambda ; a:f32[3]. let
    b:f32[4] = neg a
    ; error: output b has aval f32[4] but the shape rule gives f32[3]
    c:i32[3] = sin a
    ; error: output c has aval i32[3] but the shape rule gives f32[3]
  in (b, c) }
; 2 errors found";
        assert_eq!(failure(verify(&j)), expected);
    }

    #[test]
    fn output_count_differs_from_shape_rule() {
        let j = jaxpr(
            vec![f32a(&[]); 3],
            &[0],
            vec![eqn(Primitive::Exp, vec![var(0)], &[1, 2])],
            vec![var(1)],
        );
        let text = failure(verify(&j));
        assert!(
            text.contains(
                "    b:f32[] c:f32[] = exp a\n    ; error: the shape rule gives 1 outputs but the equation has 2\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn shape_rule_error_is_reported() {
        let avals = vec![f32a(&[3]), f32a(&[4]), f32a(&[3])];
        let message = crate::shape::abstract_eval(&Primitive::Add, &avals[..2]).unwrap_err();
        let j = jaxpr(
            avals,
            &[0, 1],
            vec![eqn(Primitive::Add, vec![var(0), var(1)], &[2])],
            vec![var(2)],
        );
        let expected = format!(
            "\
{{ lambda ; a:f32[3] b:f32[4]. let
    c:f32[3] = add a b
    ; error: {message}
  in (c,) }}
; 1 error found"
        );
        assert_eq!(failure(verify(&j)), expected);
    }

    #[test]
    fn undefined_and_out_of_range_outvars() {
        let j = jaxpr(
            vec![f32a(&[]); 3],
            &[0],
            vec![eqn(Primitive::Neg, vec![var(0)], &[1])],
            vec![var(1), var(2), var(9), Atom::Lit(Scalar::F32(1.0))],
        );
        let expected = "\
{ lambda ; a:f32[]. let
    b:f32[] = neg a
  in (b, ?2, ?9, 1.0:f32[]) }
  ; error: outvar 1 (?2) is never defined
  ; error: outvar 2 (?9) is out of range (the jaxpr has 3 avals)
; 2 errors found";
        assert_eq!(failure(verify(&j)), expected);
    }

    #[test]
    fn out_of_range_variables() {
        let j = Jaxpr {
            avals: vec![f32a(&[]); 2],
            constvars: vec![Var(7)],
            invars: vec![Var(0)],
            eqns: vec![
                eqn(Primitive::Add, vec![var(0), var(8)], &[1]),
                eqn(Primitive::Neg, vec![var(1)], &[9]),
            ],
            outvars: vec![var(1)],
        };
        let expected = "\
{ lambda ?7 ; a:f32[]. let
    ; error: constvar 0 (?7) is out of range (the jaxpr has 2 avals)
    b:f32[] = add a ?8
    ; error: operand 1 (?8) is out of range (the jaxpr has 2 avals)
    ?9 = neg b
    ; error: output 0 (?9) is out of range (the jaxpr has 2 avals)
  in (b,) }
; 3 errors found";
        assert_eq!(failure(verify(&j)), expected);
    }

    #[test]
    fn closed_jaxpr_consts() {
        let j = Jaxpr {
            avals: vec![f32a(&[2]), f32a(&[]), f32a(&[2])],
            constvars: vec![Var(0), Var(1)],
            invars: vec![],
            eqns: vec![eqn(Primitive::Mul, vec![var(0), var(1)], &[2])],
            outvars: vec![var(2)],
        };
        assert_eq!(verify(&j), Ok(()));
        let two = HostBuffer::full(Scalar::F32(2.0), &[2]);
        let good = ClosedJaxpr {
            jaxpr: j.clone(),
            consts: vec![two.clone(), HostBuffer::scalar(Scalar::F32(1.0))],
        };
        assert_eq!(verify_closed(&good), Ok(()));
        let bad_count = ClosedJaxpr {
            jaxpr: j.clone(),
            consts: vec![two.clone()],
        };
        let text = failure(verify_closed(&bad_count));
        assert!(
            text.starts_with(
                "{ lambda a:f32[2] b:f32[] ; . let\n    ; error: 1 consts for 2 constvars\n"
            ),
            "{text}"
        );
        let bad_aval = ClosedJaxpr {
            jaxpr: j,
            consts: vec![two, HostBuffer::scalar(Scalar::I32(1))],
        };
        let expected = "\
{ lambda a:f32[2] b:f32[] ; . let
    ; error: const 1 has aval i32[] but its constvar b is f32[]
    c:f32[2] = mul a b
  in (c,) }
; 1 error found";
        assert_eq!(failure(verify_closed(&bad_aval)), expected);
    }

    #[test]
    fn problems_inside_sub_jaxprs() {
        // Branch 1 claims `sin` of an f32[] gives an f32[2]; the outer
        // equation's shape rule is then not run.
        let cond = Primitive::Cond {
            branches: vec![
                unary(Primitive::Neg, f32a(&[])),
                unary(Primitive::Sin, f32a(&[2])),
            ],
        };
        let avals = vec![AVal::scalar(DType::I32), f32a(&[]), f32a(&[]), f32a(&[])];
        let j = jaxpr(
            avals,
            &[0, 1],
            vec![
                eqn(cond, vec![var(0), var(1)], &[2]),
                eqn(Primitive::Neg, vec![var(2)], &[3]),
            ],
            vec![var(3)],
        );
        let expected = "\
{ lambda ; a:i32[] b:f32[]. let
    c:f32[] = cond[
      branches=(
        { lambda ; a:f32[]. let
            b:f32[] = neg a
          in (b,) }
        { lambda ; a:f32[]. let
            b:f32[2] = sin a
            ; error: output b has aval f32[2] but the shape rule gives f32[]
          in (b,) }
      )
    ] a b
    ; error: in branches[1]: 1 error (shown above)
    d:f32[] = neg c
  in (d,) }
; 1 error found";
        assert_eq!(failure(verify(&j)), expected);

        // Two levels deep: a call whose jaxpr is the broken one above, with
        // its outvar also undefined.
        let mut inner = j.clone();
        inner.outvars.push(var(5));
        let call = Primitive::Call {
            jaxpr: Arc::new(ClosedJaxpr {
                jaxpr: inner,
                consts: vec![],
            }),
            name: "f".into(),
        };
        let avals = vec![AVal::scalar(DType::I32), f32a(&[]), f32a(&[]), f32a(&[])];
        let outer = jaxpr(
            avals,
            &[0, 1],
            vec![eqn(call, vec![var(0), var(1)], &[2, 3])],
            vec![var(3)],
        );
        let expected = "\
{ lambda ; a:i32[] b:f32[]. let
    c:f32[] d:f32[] = call[
      jaxpr={ lambda ; a:i32[] b:f32[]. let
          c:f32[] = cond[
            branches=(
              { lambda ; a:f32[]. let
                  b:f32[] = neg a
                in (b,) }
              { lambda ; a:f32[]. let
                  b:f32[2] = sin a
                  ; error: output b has aval f32[2] but the shape rule gives f32[]
                in (b,) }
            )
          ] a b
          ; error: in branches[1]: 1 error (shown above)
          d:f32[] = neg c
        in (d, ?5) }
        ; error: outvar 1 (?5) is out of range (the jaxpr has 4 avals)
      name=f
    ] a b
    ; error: in jaxpr: 2 errors (shown above)
  in (d,) }
; 2 errors found";
        assert_eq!(failure(verify(&outer)), expected);
    }

    #[test]
    fn all_problems_reported_together() {
        let j = jaxpr(
            vec![f32a(&[3]), f32a(&[3]), f32a(&[5]), f32a(&[3])],
            &[0, 0],
            vec![
                eqn(Primitive::Add, vec![var(0), var(6)], &[1]),
                eqn(Primitive::Neg, vec![var(1)], &[2]),
                eqn(Primitive::Exp, vec![var(1)], &[0]),
            ],
            vec![var(2), var(3)],
        );
        let expected = "\
{ lambda ; a:f32[3] a:f32[3]. let
    ; error: invar a is already bound as an invar
    b:f32[3] = add a ?6
    ; error: operand 1 (?6) is out of range (the jaxpr has 4 avals)
    c:f32[5] = neg b
    ; error: output c has aval f32[5] but the shape rule gives f32[3]
    a:f32[3] = exp b
    ; error: output a is already defined as an invar
  in (c, ?3) }
  ; error: outvar 1 (?3) is never defined
; 5 errors found";
        assert_eq!(failure(verify(&j)), expected);
    }
}
