//! The AVX-512 loops of the CPU backend (`cpu::avx512`, wired in by
//! `cpu::simd`): kernels that take the wide path on a CPU that has it,
//! checked against the kernel interpreter and against the 128-bit path.
//! On a CPU without AVX-512 the same kernels run the 128-bit path twice
//! and the tests say so.

#[allow(dead_code)] // the helpers are shared with the other CPU tests
mod cpu_support;

use cpu_support::*;
use rjax_codegen::cpu;
use rjax_codegen::kernel::{
    BinaryOp, Const, Expr, Kernel, KernelBuilder, ScalarType, Stmt, UnaryOp,
};
use rjax_codegen::math;
use rjax_ir::{DType, Scalar};

fn f32c(kb: &mut KernelBuilder, body: &mut Vec<Stmt>, x: f32) -> rjax_codegen::kernel::ValueId {
    kb.let_(
        body,
        ScalarType::F32,
        Expr::Const(Const::Scalar(Scalar::F32(x))),
    )
}

/// Compiles `k` and reports whether it produced at least `n` wide loops
/// (always true without AVX-512, where nothing is expected).
fn assert_wide(k: &Kernel, n: usize) {
    if !cpu::avx512_available() {
        eprintln!("no AVX-512 on this CPU: the wide path is not exercised");
        return;
    }
    let before = cpu::wide_loops_compiled();
    let mut bufs = buffers_for(k, 1);
    cpu::run_kernel(k, &mut bufs).unwrap_or_else(|e| panic!("{e}\n{k}"));
    let got = cpu::wide_loops_compiled() - before;
    assert!(got >= n, "{got} wide loops (expected {n}) in\n{k}");
}

/// `tanh(x * 1.5 + 0.5) * 0.3 + exp(-x * x)`, expanded.
fn fused_chain(n: usize) -> Kernel {
    let k = map_kernel(&[DType::F32], DType::F32, n, |kb, body, xs| {
        let x = xs[0];
        let (a, b, c) = (
            f32c(kb, body, 1.5),
            f32c(kb, body, 0.5),
            f32c(kb, body, 0.3),
        );
        let t = kb.let_(body, ScalarType::F32, Expr::Fma(x, a, b));
        let t = kb.let_(body, ScalarType::F32, Expr::Unary(UnaryOp::Tanh, t));
        let t = kb.let_(body, ScalarType::F32, Expr::Binary(BinaryOp::Mul, t, c));
        let sq = kb.let_(body, ScalarType::F32, Expr::Binary(BinaryOp::Mul, x, x));
        let ns = kb.let_(body, ScalarType::F32, Expr::Unary(UnaryOp::Neg, sq));
        let e = kb.let_(body, ScalarType::F32, Expr::Unary(UnaryOp::Exp, ns));
        kb.let_(body, ScalarType::F32, Expr::Binary(BinaryOp::Add, t, e))
    });
    math::expand(&k)
}

#[test]
fn a_fused_transcendental_chain_takes_the_wide_path_and_matches_bit_for_bit() {
    for n in [32, 33, 47, 1000, 4099] {
        let k = fused_chain(n);
        assert_wide(&k, 1);
        check_exact(&k, n as u64);
    }
}

#[test]
fn every_transcendental_expansion_matches_bit_for_bit_on_the_wide_path() {
    for op in [
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Log1p,
        UnaryOp::Expm1,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Logistic,
        UnaryOp::Erf,
    ] {
        let k = map_kernel(&[DType::F32], DType::F32, 517, |kb, body, xs| {
            kb.let_(body, ScalarType::F32, Expr::Unary(op, xs[0]))
        });
        let k = math::expand(&k);
        assert_wide(&k, 1);
        check_exact(&k, 3);
    }
}

/// Row sums and row maxima of a (rows, cols) matrix, as softmax needs.
fn row_reduction(rows: usize, cols: usize, op: BinaryOp, init: f32) -> Kernel {
    let mut kb = KernelBuilder::new();
    let (r, c) = (kb.lp(), kb.lp());
    let acc = kb.acc();
    let mut inner = Vec::new();
    let x = kb.let_(
        &mut inner,
        ScalarType::F32,
        load(0, &[(r, cols as i64), (c, 1)]),
    );
    let e = kb.let_(&mut inner, ScalarType::F32, Expr::Unary(UnaryOp::Exp, x));
    let a = kb.let_(&mut inner, ScalarType::F32, Expr::AccRead(acc));
    let s = kb.let_(&mut inner, ScalarType::F32, Expr::Binary(op, a, e));
    inner.push(Stmt::AccSet { acc, value: s });
    let mut outer = vec![Stmt::AccInit {
        acc,
        ty: ScalarType::F32,
        init: Const::Scalar(Scalar::F32(init)),
    }];
    outer.push(Stmt::Loop {
        id: c,
        extent: cols,
        parallel: false,
        body: inner,
    });
    let total = kb.let_(&mut outer, ScalarType::F32, Expr::AccRead(acc));
    let k = per_row_kernel(
        "rows",
        (rows, cols),
        (DType::F32, DType::F32),
        r,
        outer,
        total,
    );
    math::expand(&k)
}

#[test]
fn row_maxima_are_exact_and_row_sums_close_on_the_wide_path() {
    for cols in [32, 100, 1024] {
        let k = row_reduction(5, cols, BinaryOp::Max, f32::NEG_INFINITY);
        assert_wide(&k, 1);
        check_exact(&k, cols as u64);
        let k = row_reduction(5, cols, BinaryOp::Add, 0.0);
        assert_wide(&k, 1);
        // Sums of `cols` positive terms in another order: a few ulps.
        check_close(&k, cols as u64, 1e-5);
    }
}

#[test]
fn short_static_loops_stay_on_the_128_bit_path() {
    if !cpu::avx512_available() {
        eprintln!("no AVX-512 on this CPU: nothing to check");
        return;
    }
    let k = fused_chain(31);
    let before = cpu::wide_loops_compiled();
    check_exact(&k, 31);
    assert_eq!(cpu::wide_loops_compiled(), before);
}
