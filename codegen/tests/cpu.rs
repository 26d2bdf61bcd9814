//! Differential tests of the Cranelift CPU backend.
//!
//! Hand-built kernels run through the backend (`cpu::run_kernel`) and
//! through the kernel interpreter (`kernel_interp::run_kernel`, the
//! executable definition of the kernel IR); results must be bit-identical
//! except where the backend documents reassociation (vectorised float
//! sum/product reductions), which are compared with a tolerance derived
//! from the reduction length. GEMM steps and whole programs are compared
//! with `kernel_interp::run_program`; whole jaxprs with the reference
//! interpreter (`rjax_ir::interp::interpret_closed`).

mod cpu_programs;
#[allow(dead_code)] // some helpers serve only the PTX tests
mod cpu_support;

use cpu_support::*;
use rjax_codegen::cpu;
use rjax_codegen::kernel::{
    BinaryOp, BufId, BufferKind, Const, Expr, KernelBuilder, ScalarType, Stmt, UnaryOp,
};
use rjax_ir::{DType, Data, Scalar};

#[test]
fn float_unary_ops_match_the_interpreter() {
    for dtype in [DType::F32, DType::F64] {
        for op in FLOAT_UNARY {
            let k = map_kernel(&[dtype], dtype, 37, |kb, body, x| {
                kb.let_(body, ScalarType::of(dtype), Expr::Unary(op, x[0]))
            });
            assert_vectorized(&k, 1);
            check_exact(&k, 11);
        }
        // IsFinite gives a bool; as a select mask it stays vectorisable.
        let k = map_kernel(&[dtype], dtype, 37, |kb, body, x| {
            let t = ScalarType::of(dtype);
            let fin = kb.let_(body, ScalarType::Bool, Expr::Unary(UnaryOp::IsFinite, x[0]));
            let zero = kb.let_(body, t, Expr::Const(Const::Scalar(Scalar::zero(dtype))));
            kb.let_(body, t, Expr::Select(fin, x[0], zero))
        });
        assert_vectorized(&k, 1);
        check_exact(&k, 12);
        // ... and stored as a bool it is scalar.
        let k = map_kernel(&[dtype], DType::Bool, 37, |kb, body, x| {
            kb.let_(body, ScalarType::Bool, Expr::Unary(UnaryOp::IsFinite, x[0]))
        });
        assert_vectorized(&k, 0);
        check_exact(&k, 13);
    }
}

/// The arithmetic operations: the integer ones up to the bitwise ones.
const ARITH: &[BinaryOp] = INT_BINARY.split_at(7).0;

#[test]
fn float_binary_ops_match_the_interpreter() {
    for dtype in [DType::F32, DType::F64] {
        let t = ScalarType::of(dtype);
        for &op in ARITH {
            let k = map_kernel(&[dtype, dtype], dtype, 37, |kb, body, x| {
                kb.let_(body, t, Expr::Binary(op, x[0], x[1]))
            });
            assert_vectorized(&k, usize::from(op != BinaryOp::Rem));
            check_exact(&k, 21);
        }
        for op in COMPARISONS {
            // As a select mask (vector path) and converted to a number.
            let k = map_kernel(&[dtype, dtype], dtype, 37, |kb, body, x| {
                let c = kb.let_(body, ScalarType::Bool, Expr::Binary(op, x[0], x[1]));
                let s = kb.let_(body, t, Expr::Select(c, x[0], x[1]));
                let n = kb.let_(body, t, Expr::Convert(t, c));
                kb.let_(body, t, Expr::Binary(BinaryOp::Add, s, n))
            });
            assert_vectorized(&k, 1);
            check_exact(&k, 22);
        }
        let k = map_kernel(&[dtype, dtype, dtype], dtype, 37, |kb, body, x| {
            kb.let_(body, t, Expr::Fma(x[0], x[1], x[2]))
        });
        assert_vectorized(&k, 1);
        check_exact(&k, 23);
    }
}

#[test]
fn integer_ops_match_the_interpreter() {
    for dtype in [DType::I32, DType::U32] {
        let t = ScalarType::of(dtype);
        for op in INT_BINARY {
            let k = map_kernel(&[dtype, dtype], dtype, 37, |kb, body, x| {
                kb.let_(body, t, Expr::Binary(op, x[0], x[1]))
            });
            check_exact(&k, 31);
        }
        for op in COMPARISONS {
            let k = map_kernel(&[dtype, dtype], dtype, 37, |kb, body, x| {
                let c = kb.let_(body, ScalarType::Bool, Expr::Binary(op, x[0], x[1]));
                let s = kb.let_(body, t, Expr::Select(c, x[0], x[1]));
                let n = kb.let_(body, t, Expr::Convert(t, c));
                kb.let_(body, t, Expr::Binary(BinaryOp::Xor, s, n))
            });
            assert_vectorized(&k, 1);
            check_exact(&k, 32);
        }
        for op in [UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Sign, UnaryOp::Not] {
            let k = map_kernel(&[dtype], dtype, 37, |kb, body, x| {
                kb.let_(body, t, Expr::Unary(op, x[0]))
            });
            assert_vectorized(&k, 1);
            check_exact(&k, 33);
        }
        let k = map_kernel(&[dtype, dtype, dtype], dtype, 37, |kb, body, x| {
            kb.let_(body, t, Expr::Fma(x[0], x[1], x[2]))
        });
        assert_vectorized(&k, 1);
        check_exact(&k, 34);
    }
}

#[test]
fn bool_ops_match_the_interpreter() {
    for op in [
        BinaryOp::And,
        BinaryOp::Or,
        BinaryOp::Xor,
        BinaryOp::Eq,
        BinaryOp::Ne,
    ] {
        let k = map_kernel(
            &[DType::Bool, DType::Bool],
            DType::Bool,
            37,
            |kb, body, x| {
                let b = kb.let_(body, ScalarType::Bool, Expr::Binary(op, x[0], x[1]));
                kb.let_(body, ScalarType::Bool, Expr::Unary(UnaryOp::Not, b))
            },
        );
        check_exact(&k, 41);
    }
    // Bool masks inside a vectorised f32 loop: (a < b) & !(a > 0) selects.
    let k = map_kernel(&[DType::F32, DType::F32], DType::F32, 37, |kb, body, x| {
        let lt = kb.let_(
            body,
            ScalarType::Bool,
            Expr::Binary(BinaryOp::Lt, x[0], x[1]),
        );
        let zero = kb.let_(
            body,
            ScalarType::F32,
            Expr::Const(Const::Scalar(Scalar::F32(0.0))),
        );
        let pos = kb.let_(
            body,
            ScalarType::Bool,
            Expr::Binary(BinaryOp::Gt, x[0], zero),
        );
        let npos = kb.let_(body, ScalarType::Bool, Expr::Unary(UnaryOp::Not, pos));
        let both = kb.let_(
            body,
            ScalarType::Bool,
            Expr::Binary(BinaryOp::And, lt, npos),
        );
        let either = kb.let_(
            body,
            ScalarType::Bool,
            Expr::Binary(BinaryOp::Or, both, pos),
        );
        let f = kb.let_(
            body,
            ScalarType::F32,
            Expr::Convert(ScalarType::F32, either),
        );
        let s = kb.let_(body, ScalarType::F32, Expr::Select(both, x[0], x[1]));
        kb.let_(body, ScalarType::F32, Expr::Binary(BinaryOp::Add, f, s))
    });
    assert_vectorized(&k, 1);
    check_exact(&k, 42);
}

#[test]
fn conversions_match_the_interpreter() {
    let all = [DType::F32, DType::F64, DType::I32, DType::U32, DType::Bool];
    for from in all {
        for to in all {
            let k = map_kernel(&[from], to, 37, |kb, body, x| {
                kb.let_(
                    body,
                    ScalarType::of(to),
                    Expr::Convert(ScalarType::of(to), x[0]),
                )
            });
            check_exact(&k, 51);
        }
    }
    for (from, to) in [
        (DType::F32, DType::I32),
        (DType::F32, DType::U32),
        (DType::I32, DType::F32),
        (DType::U32, DType::F32),
    ] {
        let k = map_kernel(&[from], to, 37, |kb, body, x| {
            kb.let_(
                body,
                ScalarType::of(to),
                Expr::Convert(ScalarType::of(to), x[0]),
            )
        });
        assert_vectorized(&k, 1);
        let k = map_kernel(&[from], to, 37, |kb, body, x| {
            kb.let_(
                body,
                ScalarType::of(to),
                Expr::Bitcast(ScalarType::of(to), x[0]),
            )
        });
        check_exact(&k, 52);
    }
}

#[test]
fn vector_loops_with_tails_match_for_every_length() {
    for n in [0, 1, 3, 4, 5, 7, 8, 9, 1023] {
        for dtype in [DType::F32, DType::F64, DType::I32] {
            let t = ScalarType::of(dtype);
            let k = map_kernel(&[dtype, dtype], dtype, n, |kb, body, x| {
                let m = kb.let_(body, t, Expr::Binary(BinaryOp::Mul, x[0], x[1]));
                kb.let_(body, t, Expr::Binary(BinaryOp::Sub, m, x[0]))
            });
            check_exact(&k, 60 + n as u64);
        }
        let k = sum_rows_kernel(DType::F32, 3, n, BinaryOp::Max);
        check_exact(&k, 70 + n as u64);
        let k = sum_rows_kernel(DType::I32, 3, n, BinaryOp::Add);
        check_exact(&k, 80 + n as u64);
        let k = sum_rows_kernel(DType::F64, 3, n, BinaryOp::Add);
        check_close(&k, 90 + n as u64, 1e-13 * (n as f64 + 1.0));
    }
}

#[test]
fn broadcasting_loads_with_coefficient_zero() {
    // out[i, j] = a[i, j] * b[j] + c[i]: b is reloaded per row, c is
    // invariant in the inner loop (hoisted and splatted).
    for dtype in [DType::F32, DType::F64, DType::I32] {
        let (rows, cols) = (5, 19);
        let t = ScalarType::of(dtype);
        let mut kb = KernelBuilder::new();
        let (i, j) = (kb.lp(), kb.lp());
        let mut inner = Vec::new();
        let a = kb.let_(&mut inner, t, load(0, &[(i, cols as i64), (j, 1)]));
        let b = kb.let_(&mut inner, t, load(1, &[(j, 1)]));
        let c = kb.let_(&mut inner, t, load(2, &[(i, 1)]));
        let p = kb.let_(&mut inner, t, Expr::Binary(BinaryOp::Mul, a, b));
        let s = kb.let_(&mut inner, t, Expr::Binary(BinaryOp::Add, p, c));
        inner.push(Stmt::Store {
            buf: BufId(3),
            index: ix(0, &[(i, cols as i64), (j, 1)]),
            value: s,
        });
        let k = kernel(
            "broadcast",
            &[
                (dtype, rows * cols, BufferKind::Input),
                (dtype, cols, BufferKind::Input),
                (dtype, rows, BufferKind::Input),
                (dtype, rows * cols, BufferKind::Output),
            ],
            nest2((i, rows), (j, cols), inner),
        );
        assert_vectorized(&k, 1);
        check_exact(&k, 100);
    }
}

#[test]
fn strided_stores_and_transposes_are_vectorised_and_exact() {
    let (rows, cols) = (7, 13);
    let mut kb = KernelBuilder::new();
    let (i, j) = (kb.lp(), kb.lp());
    let mut inner = Vec::new();
    let a = kb.let_(
        &mut inner,
        ScalarType::F32,
        load(0, &[(i, cols as i64), (j, 1)]),
    );
    inner.push(Stmt::Store {
        buf: BufId(1),
        index: ix(0, &[(j, rows as i64), (i, 1)]),
        value: a,
    });
    let k = kernel(
        "transpose",
        &[
            (DType::F32, rows * cols, BufferKind::Input),
            (DType::F32, rows * cols, BufferKind::Output),
        ],
        nest2((i, rows), (j, cols), inner),
    );
    // Contiguous loads, lane-by-lane (scatter) stores.
    assert_vectorized(&k, 1);
    check_exact(&k, 110);
    // Every other element, from the end: coefficient -2 on the store.
    let mut kb = KernelBuilder::new();
    let i = kb.lp();
    let mut body = Vec::new();
    let a = kb.let_(&mut body, ScalarType::F64, load(0, &[(i, 1)]));
    body.push(Stmt::Store {
        buf: BufId(1),
        index: ix(40, &[(i, -2)]),
        value: a,
    });
    let k = kernel(
        "strided",
        &[
            (DType::F64, 21, BufferKind::Input),
            (DType::F64, 41, BufferKind::Output),
        ],
        vec![Stmt::Loop {
            id: i,
            extent: 21,
            parallel: false,
            body,
        }],
    );
    assert_vectorized(&k, 1);
    check_exact(&k, 111);
}

#[test]
fn reductions_match_the_interpreter() {
    for (dtype, op) in [
        (DType::F32, BinaryOp::Max),
        (DType::F32, BinaryOp::Min),
        (DType::F64, BinaryOp::Max),
        (DType::I32, BinaryOp::Add),
        (DType::I32, BinaryOp::Mul),
        (DType::I32, BinaryOp::Max),
        (DType::U32, BinaryOp::Min),
    ] {
        let k = sum_rows_kernel(dtype, 6, 101, op);
        assert_vectorized(&k, 1);
        check_exact(&k, 120);
    }
    for (dtype, op, tol) in [
        (DType::F32, BinaryOp::Add, 2e-5),
        (DType::F64, BinaryOp::Add, 1e-13),
        (DType::F32, BinaryOp::Mul, 2e-5),
    ] {
        let k = sum_rows_kernel(dtype, 6, 101, op);
        assert_vectorized(&k, 1);
        check_close(&k, 121, tol);
    }
    // A dot product through Fma: acc = a[j] * b[j] + acc.
    let n = 203;
    let mut kb = KernelBuilder::new();
    let (acc, j) = (kb.acc(), kb.lp());
    let mut inner = Vec::new();
    let a = kb.let_(&mut inner, ScalarType::F32, load(0, &[(j, 1)]));
    let b = kb.let_(&mut inner, ScalarType::F32, load(1, &[(j, 1)]));
    let r = kb.let_(&mut inner, ScalarType::F32, Expr::AccRead(acc));
    let s = kb.let_(&mut inner, ScalarType::F32, Expr::Fma(a, b, r));
    inner.push(Stmt::AccSet { acc, value: s });
    let mut body = vec![Stmt::AccInit {
        acc,
        ty: ScalarType::F32,
        init: Const::Scalar(Scalar::F32(0.5)),
    }];
    body.push(Stmt::Loop {
        id: j,
        extent: n,
        parallel: false,
        body: inner,
    });
    let v = kb.let_(&mut body, ScalarType::F32, Expr::AccRead(acc));
    body.push(Stmt::Store {
        buf: BufId(2),
        index: ix(0, &[]),
        value: v,
    });
    let k = kernel(
        "dot",
        &[
            (DType::F32, n, BufferKind::Input),
            (DType::F32, n, BufferKind::Input),
            (DType::F32, 1, BufferKind::Output),
        ],
        body,
    );
    assert_vectorized(&k, 1);
    check_close(&k, 122, 1e-4);
}

#[test]
fn argmax_runs_scalar_and_matches() {
    // for i { best = -inf; arg = 0; for j { v = x[i, j]; gt = v > best;
    //   best = select(gt, v, best); arg = select(gt, j, arg) } out[i] = arg }
    let (rows, cols) = (4, 29);
    let mut kb = KernelBuilder::new();
    let (i, j, best, arg) = (kb.lp(), kb.lp(), kb.acc(), kb.acc());
    let mut inner = Vec::new();
    let v = kb.let_(
        &mut inner,
        ScalarType::F32,
        load(0, &[(i, cols as i64), (j, 1)]),
    );
    let b = kb.let_(&mut inner, ScalarType::F32, Expr::AccRead(best));
    let a = kb.let_(&mut inner, ScalarType::I32, Expr::AccRead(arg));
    let gt = kb.let_(
        &mut inner,
        ScalarType::Bool,
        Expr::Binary(BinaryOp::Gt, v, b),
    );
    let lv = kb.let_(&mut inner, ScalarType::Index, Expr::LoopVar(j));
    let li = kb.let_(
        &mut inner,
        ScalarType::I32,
        Expr::Convert(ScalarType::I32, lv),
    );
    let nb = kb.let_(&mut inner, ScalarType::F32, Expr::Select(gt, v, b));
    let na = kb.let_(&mut inner, ScalarType::I32, Expr::Select(gt, li, a));
    inner.push(Stmt::AccSet {
        acc: best,
        value: nb,
    });
    inner.push(Stmt::AccSet {
        acc: arg,
        value: na,
    });
    let mut outer = vec![
        Stmt::AccInit {
            acc: best,
            ty: ScalarType::F32,
            init: Const::Scalar(Scalar::F32(f32::NEG_INFINITY)),
        },
        Stmt::AccInit {
            acc: arg,
            ty: ScalarType::I32,
            init: Const::Scalar(Scalar::I32(0)),
        },
        Stmt::Loop {
            id: j,
            extent: cols,
            parallel: false,
            body: inner,
        },
    ];
    let r = kb.let_(&mut outer, ScalarType::I32, Expr::AccRead(arg));
    let k = per_row_kernel(
        "argmax",
        (rows, cols),
        (DType::F32, DType::I32),
        i,
        outer,
        r,
    );
    assert_vectorized(&k, 0);
    check_exact(&k, 130);
}

#[test]
fn gathers_with_dynamic_indices_match() {
    // out[i] = x[clamp(idx[i], 0, n - 1)]
    let (n, m) = (17, 45);
    let mut kb = KernelBuilder::new();
    let i = kb.lp();
    let mut body = Vec::new();
    let raw = kb.let_(&mut body, ScalarType::I32, load(1, &[(i, 1)]));
    let wide = kb.let_(
        &mut body,
        ScalarType::Index,
        Expr::Convert(ScalarType::Index, raw),
    );
    let lo = kb.let_(&mut body, ScalarType::Index, Expr::Const(Const::Index(0)));
    let hi = kb.let_(
        &mut body,
        ScalarType::Index,
        Expr::Const(Const::Index(n as i64 - 1)),
    );
    let c1 = kb.let_(
        &mut body,
        ScalarType::Index,
        Expr::Binary(BinaryOp::Max, wide, lo),
    );
    let c2 = kb.let_(
        &mut body,
        ScalarType::Index,
        Expr::Binary(BinaryOp::Min, c1, hi),
    );
    let mut index = ix(0, &[]);
    index.dynamic = Some(c2);
    let v = kb.let_(
        &mut body,
        ScalarType::F32,
        Expr::Load {
            buf: BufId(0),
            index,
        },
    );
    body.push(Stmt::Store {
        buf: BufId(2),
        index: ix(0, &[(i, 1)]),
        value: v,
    });
    let k = kernel(
        "gather",
        &[
            (DType::F32, n, BufferKind::Input),
            (DType::I32, m, BufferKind::Input),
            (DType::F32, m, BufferKind::Output),
        ],
        vec![Stmt::Loop {
            id: i,
            extent: m,
            parallel: true,
            body,
        }],
    );
    assert_vectorized(&k, 0);
    check_exact(&k, 140);
}

#[test]
fn invariant_work_inside_inner_loops_is_hoisted_correctly() {
    // for i { for j { s = c[i] * 2 + k; d = sqrt(s); out[i, j] = a[i, j] + d } }
    // with a scalar accumulator read back after an inner loop.
    let (rows, cols) = (6, 11);
    let mut kb = KernelBuilder::new();
    let (i, j, acc) = (kb.lp(), kb.lp(), kb.acc());
    let mut inner = Vec::new();
    let c = kb.let_(&mut inner, ScalarType::F32, load(1, &[(i, 1)]));
    let two = kb.let_(
        &mut inner,
        ScalarType::F32,
        Expr::Const(Const::Scalar(Scalar::F32(2.0))),
    );
    let s = kb.let_(
        &mut inner,
        ScalarType::F32,
        Expr::Binary(BinaryOp::Mul, c, two),
    );
    let d = kb.let_(&mut inner, ScalarType::F32, Expr::Unary(UnaryOp::Sqrt, s));
    let r = kb.let_(&mut inner, ScalarType::F32, Expr::AccRead(acc));
    let a = kb.let_(
        &mut inner,
        ScalarType::F32,
        load(0, &[(i, cols as i64), (j, 1)]),
    );
    let e = kb.let_(
        &mut inner,
        ScalarType::F32,
        Expr::Binary(BinaryOp::Add, a, d),
    );
    let f = kb.let_(
        &mut inner,
        ScalarType::F32,
        Expr::Binary(BinaryOp::Add, e, r),
    );
    inner.push(Stmt::Store {
        buf: BufId(2),
        index: ix(0, &[(i, cols as i64), (j, 1)]),
        value: f,
    });
    let mut outer = vec![Stmt::Loop {
        id: j,
        extent: cols,
        parallel: true,
        body: inner,
    }];
    let c2 = kb.let_(&mut outer, ScalarType::F32, load(1, &[(i, 1)]));
    outer.push(Stmt::AccSet { acc, value: c2 });
    let body = vec![
        Stmt::AccInit {
            acc,
            ty: ScalarType::F32,
            init: Const::Scalar(Scalar::F32(100.0)),
        },
        Stmt::Loop {
            id: i,
            extent: rows,
            parallel: false,
            body: outer,
        },
    ];
    let k = kernel(
        "hoist",
        &[
            (DType::F32, rows * cols, BufferKind::Input),
            (DType::F32, rows, BufferKind::Input),
            (DType::F32, rows * cols, BufferKind::Output),
        ],
        body,
    );
    assert_vectorized(&k, 1);
    check_exact(&k, 150);
}

#[test]
fn large_parallel_kernels_split_across_threads_and_match() {
    // 1-D, an odd length (chunk edges off the vector grid), vectorised
    // with run-time bounds.
    let n = 1_000_003;
    let k = map_kernel(&[DType::F32, DType::F32], DType::F32, n, |kb, body, x| {
        let m = kb.let_(
            body,
            ScalarType::F32,
            Expr::Binary(BinaryOp::Mul, x[0], x[1]),
        );
        kb.let_(body, ScalarType::F32, Expr::Binary(BinaryOp::Add, m, x[0]))
    });
    check_exact(&k, 160);
    // 2-D with a row reduction: the outer loop is split.
    let k = sum_rows_kernel(DType::F64, 1031, 515, BinaryOp::Max);
    check_exact(&k, 161);
}

#[test]
fn wrong_buffers_and_unexpanded_ops_are_errors() {
    let k = map_kernel(&[DType::F32], DType::F32, 8, |kb, body, x| {
        kb.let_(body, ScalarType::F32, Expr::Unary(UnaryOp::Exp, x[0]))
    });
    let mut bufs = buffers_for(&k, 1);
    let err = cpu::run_kernel(&k, &mut bufs).unwrap_err().to_string();
    assert!(err.contains("math::expand"), "{err}");
    let k = map_kernel(&[DType::F32], DType::F32, 8, |kb, body, x| {
        kb.let_(body, ScalarType::F32, Expr::Unary(UnaryOp::Neg, x[0]))
    });
    let mut short = vec![Data::F32(vec![0.0; 8]), Data::F32(vec![0.0; 7])];
    let err = cpu::run_kernel(&k, &mut short).unwrap_err().to_string();
    assert!(err.contains("b1"), "{err}");
    // An affine index past the end is rejected when compiling.
    let mut kb = KernelBuilder::new();
    let i = kb.lp();
    let mut body = Vec::new();
    let a = kb.let_(&mut body, ScalarType::F32, load(0, &[(i, 1)]));
    body.push(Stmt::Store {
        buf: BufId(1),
        index: ix(1, &[(i, 1)]),
        value: a,
    });
    let k = kernel(
        "oob",
        &[
            (DType::F32, 4, BufferKind::Input),
            (DType::F32, 4, BufferKind::Output),
        ],
        vec![Stmt::Loop {
            id: i,
            extent: 4,
            parallel: false,
            body,
        }],
    );
    let err = cpu::run_kernel(&k, &mut buffers_for(&k, 2))
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside"), "{err}");
}

// ---- helpers local to this file -------------------------------------------

/// `for i in rows { acc = init; for j in cols { acc = op(acc, x[i, j]) }; out[i] = acc }`.
fn sum_rows_kernel(
    dtype: DType,
    rows: usize,
    cols: usize,
    op: BinaryOp,
) -> rjax_codegen::kernel::Kernel {
    let t = ScalarType::of(dtype);
    let init = match op {
        BinaryOp::Add => Scalar::zero(dtype),
        BinaryOp::Mul => Scalar::one(dtype),
        BinaryOp::Max => match dtype {
            DType::F32 => Scalar::F32(f32::NEG_INFINITY),
            DType::F64 => Scalar::F64(f64::NEG_INFINITY),
            DType::I32 => Scalar::I32(i32::MIN),
            _ => Scalar::U32(0),
        },
        _ => match dtype {
            DType::F32 => Scalar::F32(f32::INFINITY),
            DType::F64 => Scalar::F64(f64::INFINITY),
            DType::I32 => Scalar::I32(i32::MAX),
            _ => Scalar::U32(u32::MAX),
        },
    };
    let mut kb = KernelBuilder::new();
    let (i, j, acc) = (kb.lp(), kb.lp(), kb.acc());
    let mut inner = Vec::new();
    let x = kb.let_(&mut inner, t, load(0, &[(i, cols as i64), (j, 1)]));
    let r = kb.let_(&mut inner, t, Expr::AccRead(acc));
    let s = kb.let_(&mut inner, t, Expr::Binary(op, r, x));
    inner.push(Stmt::AccSet { acc, value: s });
    let mut outer = vec![
        Stmt::AccInit {
            acc,
            ty: t,
            init: Const::Scalar(init),
        },
        Stmt::Loop {
            id: j,
            extent: cols,
            parallel: false,
            body: inner,
        },
    ];
    let v = kb.let_(&mut outer, t, Expr::AccRead(acc));
    outer.push(Stmt::Store {
        buf: BufId(1),
        index: ix(0, &[(i, 1)]),
        value: v,
    });
    kernel(
        "rows",
        &[
            (dtype, rows * cols, BufferKind::Input),
            (dtype, rows, BufferKind::Output),
        ],
        vec![Stmt::Loop {
            id: i,
            extent: rows,
            parallel: true,
            body: outer,
        }],
    )
}

#[test]
fn masks_from_conversions_and_broadcast_bools_vectorise() {
    // select(bool(x), x, flag[0] ? 1 : -1): a mask from a conversion and a
    // splatted invariant bool.
    for dtype in [DType::F32, DType::F64, DType::I32, DType::U32] {
        let t = ScalarType::of(dtype);
        let n = 23;
        let mut kb = KernelBuilder::new();
        let i = kb.lp();
        let mut body = Vec::new();
        let x = kb.let_(&mut body, t, load(0, &[(i, 1)]));
        let flag = kb.let_(&mut body, ScalarType::Bool, load(1, &[]));
        let m = kb.let_(
            &mut body,
            ScalarType::Bool,
            Expr::Convert(ScalarType::Bool, x),
        );
        let one = kb.let_(&mut body, t, Expr::Const(Const::Scalar(Scalar::one(dtype))));
        let zero = kb.let_(
            &mut body,
            t,
            Expr::Const(Const::Scalar(Scalar::zero(dtype))),
        );
        let alt = kb.let_(&mut body, t, Expr::Binary(BinaryOp::Sub, zero, one));
        let f = kb.let_(&mut body, t, Expr::Select(flag, one, alt));
        let both = kb.let_(
            &mut body,
            ScalarType::Bool,
            Expr::Binary(BinaryOp::Xor, m, flag),
        );
        let s = kb.let_(&mut body, t, Expr::Select(both, x, f));
        body.push(Stmt::Store {
            buf: BufId(2),
            index: ix(0, &[(i, 1)]),
            value: s,
        });
        let k = kernel(
            "masks",
            &[
                (dtype, n, BufferKind::Input),
                (DType::Bool, 1, BufferKind::Input),
                (dtype, n, BufferKind::Output),
            ],
            vec![Stmt::Loop {
                id: i,
                extent: n,
                parallel: true,
                body,
            }],
        );
        assert_vectorized(&k, 1);
        for seed in [200, 201, 202] {
            check_exact(&k, seed);
        }
    }
}

#[test]
fn read_modify_write_of_an_output() {
    // out[i] = out[i] * 2 + a[i] vectorises (same index); out[i] = out[i + 1]
    // + a[i] does not (a loop-carried dependence).
    for (shift, vectorised) in [(0, 1), (1, 0)] {
        let n = 30;
        let mut kb = KernelBuilder::new();
        let i = kb.lp();
        let mut body = Vec::new();
        let o = kb.let_(
            &mut body,
            ScalarType::F32,
            Expr::Load {
                buf: BufId(1),
                index: ix(shift, &[(i, 1)]),
            },
        );
        let a = kb.let_(&mut body, ScalarType::F32, load(0, &[(i, 1)]));
        let two = kb.let_(
            &mut body,
            ScalarType::F32,
            Expr::Const(Const::Scalar(Scalar::F32(2.0))),
        );
        let f = kb.let_(&mut body, ScalarType::F32, Expr::Fma(o, two, a));
        body.push(Stmt::Store {
            buf: BufId(1),
            index: ix(0, &[(i, 1)]),
            value: f,
        });
        let k = kernel(
            "rmw",
            &[
                (DType::F32, n, BufferKind::Input),
                (DType::F32, n + 1, BufferKind::Output),
            ],
            vec![Stmt::Loop {
                id: i,
                extent: n,
                parallel: false,
                body,
            }],
        );
        assert_vectorized(&k, vectorised);
        check_exact(&k, 210);
    }
}

#[test]
fn shifts_by_invariant_amounts_vectorise() {
    // for j in 0..12 { for i in 0..n { out[j, i] = x[i] op amount[j] } }
    for dtype in [DType::I32, DType::U32] {
        for op in [BinaryOp::Shl, BinaryOp::ShrLogical, BinaryOp::ShrArith] {
            let (rows, n) = (12, 21);
            let t = ScalarType::of(dtype);
            let mut kb = KernelBuilder::new();
            let (j, i) = (kb.lp(), kb.lp());
            let mut inner = Vec::new();
            let x = kb.let_(&mut inner, t, load(0, &[(i, 1)]));
            let amount = kb.let_(&mut inner, t, load(1, &[(j, 1)]));
            let s = kb.let_(&mut inner, t, Expr::Binary(op, x, amount));
            inner.push(Stmt::Store {
                buf: BufId(2),
                index: ix(0, &[(j, n as i64), (i, 1)]),
                value: s,
            });
            let k = kernel(
                "shift",
                &[
                    (dtype, n, BufferKind::Input),
                    (dtype, rows, BufferKind::Input),
                    (dtype, rows * n, BufferKind::Output),
                ],
                nest2((j, rows), (i, n), inner),
            );
            assert_vectorized(&k, 1);
            check_exact(&k, 220);
        }
    }
}

#[test]
fn expanded_transcendentals_match_the_interpreter_bit_for_bit() {
    // math::expand rewrites into basic operations; the backend must compute
    // them exactly as the interpreter does (FMA included). f32 expansions
    // use 32-bit integer tricks and vectorise; f64 ones use Index integers
    // and stay scalar.
    let ops = [
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Log1p,
        UnaryOp::Expm1,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Logistic,
        UnaryOp::Erf,
    ];
    for dtype in [DType::F32, DType::F64] {
        for op in ops {
            let k = map_kernel(&[dtype], dtype, 67, |kb, body, x| {
                kb.let_(body, ScalarType::of(dtype), Expr::Unary(op, x[0]))
            });
            let k = rjax_codegen::math::expand(&k);
            if dtype == DType::F32 {
                assert_vectorized(&k, 1);
            }
            check_exact(&k, 230);
        }
        let k = map_kernel(&[dtype, dtype], dtype, 67, |kb, body, x| {
            kb.let_(
                body,
                ScalarType::of(dtype),
                Expr::Binary(BinaryOp::Pow, x[0], x[1]),
            )
        });
        check_exact(&rjax_codegen::math::expand(&k), 231);
    }
}
