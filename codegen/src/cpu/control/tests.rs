//! Which loop a scan body takes: a body of small elementwise kernels is
//! called through `SubRun::direct_calls` (the loop calls its kernels
//! with no per-step dispatch); its results are checked against the
//! reference interpreter in `codegen/tests/control_flow.rs`
//! (`scan_of_a_kernels_only_body_forward_and_reverse`).

use std::sync::Arc;

use rjax_ir::{AVal, Atom, ClosedJaxpr, DType, JaxprBuilder, Primitive as P, Scalar};

use super::sub::SubRun;
use crate::control::ControlKind;
use crate::cpu::env::KernelFn;
use crate::cpu::translate::KernelInfo;
use crate::program::Step;

/// Stands in for a compiled kernel: the test only builds the loop.
unsafe extern "C" fn no_kernel(_: *const *mut u8, _: i64, _: i64) {}

/// The body program of `scan(h = a h + 0.5 x, y = h - 1)` over f32[3]
/// (a const, h carry, x stacked along 5), built with stand-in kernels.
fn linear_scan_body() -> SubRun {
    let v = AVal::new(DType::F32, &[3]);
    let mut b = JaxprBuilder::new();
    let ins: Vec<_> = (0..3).map(|_| b.new_var(v.clone())).collect();
    let mut op = |p: P, xs: Vec<Atom>| b.add_eqn(p, xs, None).expect("equation")[0];
    let ah = op(P::Mul, vec![Atom::Var(ins[0]), Atom::Var(ins[1])]);
    let hx = op(P::Mul, vec![Atom::Var(ins[2]), Atom::Lit(Scalar::F32(0.5))]);
    let h = op(P::Add, vec![Atom::Var(ah), Atom::Var(hx)]);
    let y = op(P::Sub, vec![Atom::Var(h), Atom::Lit(Scalar::F32(1.0))]);
    let outs = vec![Atom::Var(h), Atom::Var(y)];
    let body = Arc::new(ClosedJaxpr::new(
        b.build(vec![], ins, outs).expect("body"),
        vec![],
    ));
    let mut o = JaxprBuilder::new();
    let outer = [v.clone(), v, AVal::new(DType::F32, &[5, 3])];
    let xs: Vec<_> = outer.iter().map(|a| o.new_var(a.clone())).collect();
    let scan = P::Scan {
        body,
        length: 5,
        reverse: false,
        num_consts: 1,
        num_carry: 1,
    };
    let args = xs.iter().map(|x| Atom::Var(*x)).collect();
    let ys = o.add_eqn(scan, args, None).expect("scan");
    let outs = ys.into_iter().map(Atom::Var).collect();
    let outer = ClosedJaxpr::new(o.build(vec![], xs, outs).expect("outer"), vec![]);
    let program = crate::fusion::plan(&outer).expect("plan");
    let body = program
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Control(c) => match &c.kind {
                ControlKind::Scan { body, .. } => Some(body.clone()),
                ControlKind::Cond { .. } | ControlKind::While { .. } => None,
            },
            Step::Kernel { .. } | Step::Gemm(_) => None,
        })
        .expect("a scan step");
    let info = KernelInfo {
        split_extent: Some(3),
        work: 12,
    };
    let mut fns = std::iter::repeat((no_kernel as KernelFn, info));
    SubRun::build(&body, &mut fns).expect("the body builds")
}

#[test]
fn an_elementwise_scan_body_is_called_directly() {
    let body = linear_scan_body();
    let calls = body.direct_calls().expect("direct calls");
    assert!(!calls.is_empty());
}
