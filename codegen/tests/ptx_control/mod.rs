//! Control-flow programs for the PTX tests: `cond`, `while` and `scan`
//! (and nestings of them) whose sub-programs hold elementwise kernels,
//! reductions, a transcendental and a matrix product, so that the kernels
//! inside control steps are emitted and assembled like top-level ones; and
//! the test that the emitted control steps keep every nested kernel under
//! a unique name in the one module.

use std::collections::BTreeSet;
use std::sync::Arc;

use rjax_codegen::fusion::plan;
use rjax_codegen::program::Step;
use rjax_codegen::ptx::ptxas::entries;
use rjax_codegen::ptx::{emit_program, PtxOptions, PtxStep};
use rjax_ir::{AVal, Atom, ClosedJaxpr, DType, JaxprBuilder, Primitive as P, Scalar, Var};

/// A closed jaxpr (no constants) over inputs of `ins`.
fn closed(
    ins: &[AVal],
    f: impl FnOnce(&mut JaxprBuilder, &[Var]) -> Vec<Atom>,
) -> Arc<ClosedJaxpr> {
    let mut bld = JaxprBuilder::new();
    let vars: Vec<Var> = ins.iter().map(|a| bld.new_var(a.clone())).collect();
    let outs = f(&mut bld, &vars);
    Arc::new(ClosedJaxpr::new(
        bld.build(vec![], vars, outs).expect("jaxpr"),
        vec![],
    ))
}

/// Appends an equation, returning its outputs.
fn eqns(bld: &mut JaxprBuilder, p: P, ins: Vec<Atom>) -> Vec<Atom> {
    bld.add_eqn(p, ins, None)
        .expect("equation")
        .into_iter()
        .map(Atom::Var)
        .collect()
}

fn eqn(bld: &mut JaxprBuilder, p: P, ins: Vec<Atom>) -> Atom {
    eqns(bld, p, ins)[0]
}

fn a(v: Var) -> Atom {
    Atom::Var(v)
}

fn lf(x: f32) -> Atom {
    Atom::Lit(Scalar::F32(x))
}

fn li(x: i32) -> Atom {
    Atom::Lit(Scalar::I32(x))
}

/// Branches over `f32[8]`: `exp(x)`, `x · 2`, `sum(x)` broadcast.
fn branches() -> Vec<Arc<ClosedJaxpr>> {
    let v = AVal::new(DType::F32, &[8]);
    let exp = closed(std::slice::from_ref(&v), |b, x| {
        vec![eqn(b, P::Exp, vec![a(x[0])])]
    });
    let dbl = closed(std::slice::from_ref(&v), |b, x| {
        vec![eqn(b, P::Mul, vec![a(x[0]), lf(2.0)])]
    });
    let sum = closed(std::slice::from_ref(&v), |b, x| {
        let s = eqn(b, P::ReduceSum { axes: vec![0] }, vec![a(x[0])]);
        vec![eqn(
            b,
            P::BroadcastInDim {
                shape: vec![8].into(),
                broadcast_dimensions: vec![],
            },
            vec![s],
        )]
    });
    vec![exp, dbl, sum]
}

/// `cond(i, x)` over the three [`branches`].
fn cond_program() -> Arc<ClosedJaxpr> {
    let ins = [AVal::scalar(DType::I32), AVal::new(DType::F32, &[8])];
    closed(&ins, |b, x| {
        let branches = branches();
        eqns(b, P::Cond { branches }, vec![a(x[0]), a(x[1])])
    })
}

/// The carry of [`while_primitive`]: (i32 i, i32 n, f32[16] x).
fn while_carry() -> [AVal; 3] {
    [
        AVal::scalar(DType::I32),
        AVal::scalar(DType::I32),
        AVal::new(DType::F32, &[16]),
    ]
}

/// `while i < n: i += 1; x = tanh(x) + 1`.
fn while_primitive() -> P {
    let carry = while_carry();
    let cond = closed(&carry, |b, c| vec![eqn(b, P::Lt, vec![a(c[0]), a(c[1])])]);
    let body = closed(&carry, |b, c| {
        let i = eqn(b, P::Add, vec![a(c[0]), li(1)]);
        let t = eqn(b, P::Tanh, vec![a(c[2])]);
        vec![i, a(c[1]), eqn(b, P::Add, vec![t, lf(1.0)])]
    });
    P::While {
        cond_jaxpr: cond,
        body_jaxpr: body,
    }
}

/// [`while_primitive`] applied to its carry.
fn while_program() -> Arc<ClosedJaxpr> {
    closed(&while_carry(), |b, c| {
        eqns(b, while_primitive(), c.iter().map(|v| a(*v)).collect())
    })
}

/// A reverse scan over 5 slices: `h = tanh(w · h + x)`, `y = max(h)`, with
/// a `cond` (on a literal index) in the body.
fn scan_program() -> Arc<ClosedJaxpr> {
    let (w, h) = (AVal::new(DType::F32, &[8, 8]), AVal::new(DType::F32, &[8]));
    let body = closed(&[w.clone(), h.clone(), h.clone()], |b, x| {
        let dot = P::DotGeneral {
            lhs_contract: vec![1],
            rhs_contract: vec![0],
            lhs_batch: vec![],
            rhs_batch: vec![],
        };
        let wh = eqn(b, dot, vec![a(x[0]), a(x[1])]);
        let s = eqn(b, P::Add, vec![wh, a(x[2])]);
        let h = eqn(b, P::Tanh, vec![s]);
        let picked = eqns(
            b,
            P::Cond {
                branches: branches(),
            },
            vec![li(1), h],
        );
        let y = eqn(b, P::ReduceMax { axes: vec![0] }, vec![picked[0]]);
        vec![picked[0], y]
    });
    closed(&[w, h, AVal::new(DType::F32, &[5, 8])], |b, x| {
        let p = P::Scan {
            body,
            length: 5,
            reverse: true,
            num_consts: 1,
            num_carry: 1,
        };
        eqns(b, p, vec![a(x[0]), a(x[1]), a(x[2])])
    })
}

/// A scan whose body runs the `while` program on its carry.
fn scan_of_while() -> Arc<ClosedJaxpr> {
    let carry = while_carry();
    let body = closed(&carry, |b, c| {
        eqns(b, while_primitive(), c.iter().map(|v| a(*v)).collect())
    });
    closed(&carry, |b, c| {
        let p = P::Scan {
            body,
            length: 3,
            reverse: false,
            num_consts: 0,
            num_carry: 3,
        };
        eqns(b, p, c.iter().map(|v| a(*v)).collect())
    })
}

/// Every control-flow program, named.
pub fn all() -> Vec<(String, Arc<ClosedJaxpr>)> {
    vec![
        ("cond".into(), cond_program()),
        ("while".into(), while_program()),
        ("scan with cond inside".into(), scan_program()),
        ("scan of while".into(), scan_of_while()),
    ]
}

/// What the emitted steps hold, at every nesting level.
#[derive(Default)]
struct Walk {
    /// (entry name, nesting depth).
    entries: Vec<(String, usize)>,
    kernel_steps: usize,
    gemms: usize,
    controls: usize,
}

fn walk(steps: &[PtxStep], depth: usize, w: &mut Walk) {
    for s in steps {
        match s {
            PtxStep::Kernel { kernel, .. } => {
                w.kernel_steps += 1;
                w.entries
                    .extend(kernel.entries.iter().map(|e| (e.name.clone(), depth)));
            }
            PtxStep::Gemm(_) => w.gemms += 1,
            PtxStep::Control(c) => {
                w.controls += 1;
                assert_eq!(c.programs.len(), c.step.programs().len());
                for sub in &c.programs {
                    // each sub-program's own module holds its own entries
                    for st in &sub.steps {
                        if let PtxStep::Kernel { kernel, .. } = st {
                            let decl = format!(".visible .entry {}(", kernel.entries[0].name);
                            assert!(sub.ptx.contains(&decl), "{decl}");
                        }
                    }
                    walk(&sub.steps, depth + 1, w);
                }
            }
        }
    }
}

#[test]
fn control_flow_kernels_join_the_module_under_unique_names_and_assemble() {
    let mut modules = Vec::new();
    for (name, j) in all() {
        let program = plan(&j).unwrap_or_else(|e| panic!("{name}: plan: {e}"));
        let e = emit_program(&program, &PtxOptions::default())
            .unwrap_or_else(|e| panic!("{name}: emit: {e}"));
        let mut w = Walk::default();
        walk(&e.steps, 0, &mut w);
        assert!(w.controls >= 1, "{name}: no control step");
        // the program's kernels at every level, counted on the plan itself
        assert_eq!(
            w.kernel_steps,
            rjax_codegen::control::kernels(&program).len(),
            "{name}"
        );
        assert!(
            w.entries.iter().any(|(_, d)| *d > 0),
            "{name}: nothing nested"
        );
        let unique: BTreeSet<&str> = w.entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            unique.len(),
            w.entries.len(),
            "{name}: duplicate entry names"
        );
        assert_eq!(
            entries(&e.ptx),
            w.entries.len(),
            "{name}: entries in the module"
        );
        for (n, depth) in &w.entries {
            assert!(
                e.ptx.contains(&format!(".visible .entry {n}(")),
                "{name}: {n} missing"
            );
            assert_eq!(*depth > 0, n.starts_with('c') && n.contains('$'), "{n}");
            assert_eq!(*depth == 0, n.starts_with("rjax_"), "{n}");
        }
        // control steps keep their bindings
        for (s, p) in e.steps.iter().zip(&program.steps) {
            if let (PtxStep::Control(c), Step::Control(want)) = (s, p) {
                assert_eq!(c.step, **want, "{name}");
            }
        }
        if name.starts_with("scan with") {
            assert_eq!(w.gemms, 1, "the body's f32 product stays a GEMM");
        }
        assert_eq!(e.ptx.matches(".version").count(), 1);
        modules.push((name, e.ptx));
    }
    super::skipped_note();
    let failures = super::assemble_all(&modules);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
