//! Whole programs on the CPU backend: GEMM steps against naive loops,
//! memory planning (temporaries sharing storage, zeroing, donation),
//! outputs of every origin, argument checking, and whole jaxprs through
//! `compile` against the reference interpreter.

use crate::cpu_support::*;
use rjax_codegen::kernel::{
    BinaryOp, BufId, BufferKind, Const, Expr, Kernel, KernelBuilder, ScalarType, Stmt,
};
use rjax_codegen::kernel_interp::run_program;
use rjax_codegen::program::{BufferRef, BufferSource, Gemm, Program, ProgramBuffer, Step};
use rjax_codegen::{compile, cpu, Device, Executable};
use rjax_ir::interp::interpret_closed;
use rjax_ir::{
    AVal, Atom, ClosedJaxpr, DType, Data, HostBuffer, JaxprBuilder, Primitive, Scalar, Var,
};

fn buf(dtype: DType, shape: &[usize], source: BufferSource) -> ProgramBuffer {
    ProgramBuffer {
        dtype,
        shape: shape.to_vec(),
        source,
    }
}

fn host(dtype: DType, shape: &[usize], seed: u64) -> HostBuffer {
    let n = shape.iter().product();
    HostBuffer::new(data(dtype, n, seed as usize, &mut Rng::new(seed)), shape).expect("test buffer")
}

fn smooth(dtype: DType, shape: &[usize], seed: u64) -> HostBuffer {
    let n: usize = shape.iter().product();
    let mut rng = Rng::new(seed);
    let d = match dtype {
        DType::F32 => Data::F32((0..n).map(|_| (rng.unit() * 2.0 - 1.0) as f32).collect()),
        _ => Data::F64((0..n).map(|_| rng.unit() * 2.0 - 1.0).collect()),
    };
    HostBuffer::new(d, shape).expect("test buffer")
}

fn in_avals(p: &Program) -> Vec<AVal> {
    let mut avals: Vec<(usize, AVal)> = p
        .buffers
        .iter()
        .filter_map(|b| match b.source {
            BufferSource::Argument(a) => Some((a, AVal::new(b.dtype, &b.shape))),
            BufferSource::Constant(_) | BufferSource::Temporary => None,
        })
        .collect();
    avals.sort_by_key(|(a, _)| *a);
    avals.into_iter().map(|(_, v)| v).collect()
}

fn check_program(p: &Program, args: &[HostBuffer], tol: f64) -> cpu::CpuExecutable {
    let exe = cpu::compile_program(p, &in_avals(p)).unwrap_or_else(|e| panic!("compile: {e}"));
    let want = run_program(p, args).unwrap_or_else(|e| panic!("run_program: {e}"));
    for round in 0..2 {
        let refs: Vec<&HostBuffer> = args.iter().collect();
        let got = exe.run(&refs).unwrap_or_else(|e| panic!("run: {e}"));
        assert_eq!(got.len(), want.len());
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.shape(), w.shape(), "output {k}");
            assert_same_data(&format!("call {round} output {k}"), w.data(), g.data(), tol);
        }
    }
    exe
}

// ---- GEMM --------------------------------------------------------------------

/// `out[b] = lhs[b] @ rhs[b]` with f64 accumulation, and the sum of
/// absolute products per element (the scale of rounding differences).
fn naive_gemm(g: &Gemm, lhs: &[f64], rhs: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut out = vec![0.0; g.batch * g.m * g.n];
    let mut scale = vec![0.0; g.batch * g.m * g.n];
    for b in 0..g.batch {
        for i in 0..g.m {
            for j in 0..g.n {
                for p in 0..g.k {
                    let at = |s: [isize; 3], r: usize, c: usize| {
                        (s[0] * b as isize + s[1] * r as isize + s[2] * c as isize) as usize
                    };
                    let x = lhs[at(g.lhs.1, i, p)] * rhs[at(g.rhs.1, p, j)];
                    out[(b * g.m + i) * g.n + j] += x;
                    scale[(b * g.m + i) * g.n + j] += x.abs();
                }
            }
        }
    }
    (out, scale)
}

fn gemm_case(
    dtype: DType,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    lhs_col_major: bool,
    rhs_col_major: bool,
) {
    let lhs_strides = if lhs_col_major {
        [(m * k) as isize, 1, m as isize]
    } else {
        [(m * k) as isize, k as isize, 1]
    };
    let rhs_strides = if rhs_col_major {
        [(k * n) as isize, 1, k as isize]
    } else {
        [(k * n) as isize, n as isize, 1]
    };
    let g = Gemm {
        dtype,
        batch,
        m,
        n,
        k,
        lhs: (BufferRef(0), lhs_strides),
        rhs: (BufferRef(1), rhs_strides),
        out: BufferRef(2),
    };
    let p = Program {
        buffers: vec![
            buf(dtype, &[batch, m, k], BufferSource::Argument(0)),
            buf(dtype, &[batch, k, n], BufferSource::Argument(1)),
            buf(dtype, &[batch, m, n], BufferSource::Temporary),
        ],
        steps: vec![Step::Gemm(g.clone())],
        outputs: vec![BufferRef(2)],
    };
    let (a, b) = (
        smooth(dtype, &[batch, m, k], 1),
        smooth(dtype, &[batch, k, n], 2),
    );
    let exe = cpu::compile_program(&p, &in_avals(&p)).expect("compile");
    let got = exe.run(&[&a, &b]).expect("run");
    let (want, scale) = naive_gemm(&g, &a.data().to_f64_vec(), &b.data().to_f64_vec());
    let eps = if dtype == DType::F32 {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    };
    let got = got[0].data().to_f64_vec();
    for (i, ((g, w), s)) in got.iter().zip(&want).zip(&scale).enumerate() {
        // Any summation order is within (k + 1)·eps·Σ|a·b| of the exact sum.
        let bound = (k as f64 + 1.0) * eps * s.max(f64::MIN_POSITIVE);
        assert!(
            (g - w).abs() <= bound,
            "{dtype} gemm {batch}x{m}x{n}x{k} element {i}: {g} vs {w} (bound {bound})"
        );
    }
}

#[test]
fn gemm_steps_match_naive_loops() {
    for dtype in [DType::F32, DType::F64] {
        gemm_case(dtype, 1, 1, 1, 1, false, false);
        gemm_case(dtype, 1, 3, 5, 7, false, false);
        gemm_case(dtype, 1, 17, 129, 33, true, false);
        gemm_case(dtype, 1, 64, 64, 64, false, true);
        gemm_case(dtype, 3, 9, 4, 11, true, true);
        gemm_case(dtype, 2, 96, 80, 72, false, false);
        gemm_case(dtype, 1, 5, 6, 0, false, false);
        gemm_case(dtype, 1, 0, 6, 3, false, false);
    }
}

/// Products large enough for the pool: split into column blocks (one
/// narrower than the others), into row blocks (a column-major left operand
/// with more rows than the result has columns; a result too narrow for
/// column blocks), and column-major right operands copied row-major first
/// (with partial 8×8 tiles, large enough for a parallel copy, in batches,
/// and in f64).
#[test]
fn large_gemm_steps_match_naive_loops() {
    gemm_case(DType::F32, 1, 128, 10, 512, false, false);
    gemm_case(DType::F32, 1, 130, 200, 150, false, false);
    gemm_case(DType::F32, 1, 130, 200, 150, false, true);
    gemm_case(DType::F32, 1, 300, 100, 90, true, false);
    gemm_case(DType::F32, 1, 90, 300, 100, true, false);
    gemm_case(DType::F32, 2, 100, 300, 260, true, true);
    gemm_case(DType::F32, 1, 17, 300, 260, false, true);
    gemm_case(DType::F64, 1, 40, 300, 260, false, true);
    gemm_case(DType::F64, 2, 70, 130, 90, true, true);
}

// ---- memory planning ---------------------------------------------------------

/// `out[i] = op(a[i], c)` over `n` elements, or `op(a[i], b[i])` with two inputs.
fn ew(n: usize, op: BinaryOp, two: bool, c: f32) -> Kernel {
    let ins: &[DType] = if two {
        &[DType::F32, DType::F32]
    } else {
        &[DType::F32]
    };
    map_kernel(ins, DType::F32, n, |kb, body, x| {
        let rhs = if two {
            x[1]
        } else {
            kb.let_(
                body,
                ScalarType::F32,
                Expr::Const(Const::Scalar(Scalar::F32(c))),
            )
        };
        kb.let_(body, ScalarType::F32, Expr::Binary(op, x[0], rhs))
    })
}

/// `out[i] = a[i]` for `i < half` only.
fn half_copy(n: usize) -> Kernel {
    let mut kb = KernelBuilder::new();
    let i = kb.lp();
    let mut body = Vec::new();
    let x = kb.let_(&mut body, ScalarType::F32, load(0, &[(i, 1)]));
    body.push(Stmt::Store {
        buf: BufId(1),
        index: ix(0, &[(i, 1)]),
        value: x,
    });
    kernel(
        "half",
        &[
            (DType::F32, n, BufferKind::Input),
            (DType::F32, n, BufferKind::Output),
        ],
        vec![Stmt::Loop {
            id: i,
            extent: n / 2,
            parallel: true,
            body,
        }],
    )
}

fn step(kernel: Kernel, args: &[u32]) -> Step {
    Step::Kernel {
        kernel,
        args: args.iter().map(|a| BufferRef(*a)).collect(),
    }
}

#[test]
fn temporaries_share_storage_by_liveness() {
    let n = 1000;
    let f = |s| buf(DType::F32, &[n], s);
    // x -> t1 -> t2 -> t3 -> out: t1 and t3 can share, t2 cannot.
    let p = Program {
        buffers: vec![
            f(BufferSource::Argument(0)),
            f(BufferSource::Temporary),
            f(BufferSource::Temporary),
            f(BufferSource::Temporary),
            f(BufferSource::Temporary),
        ],
        steps: vec![
            step(ew(n, BinaryOp::Mul, false, 2.0), &[0, 1]),
            step(ew(n, BinaryOp::Add, false, 1.0), &[1, 2]),
            step(ew(n, BinaryOp::Sub, false, 3.0), &[2, 3]),
            step(ew(n, BinaryOp::Max, false, 0.0), &[3, 4]),
        ],
        outputs: vec![BufferRef(4)],
    };
    let exe = check_program(&p, &[host(DType::F32, &[n], 3)], 0.0);
    assert_eq!(
        exe.arena_bytes(),
        2 * 4032,
        "two 4000-byte blocks, 64-byte aligned"
    );
}

#[test]
fn partially_written_temporaries_start_at_zero_even_in_reused_storage() {
    let n = 101;
    let f = |s| buf(DType::F32, &[n], s);
    // t1 = x * 2; out1 = t1 + 1; t2[..n/2] = x (reuses t1's bytes); out2 = t2 * 1.
    let p = Program {
        buffers: vec![
            f(BufferSource::Argument(0)),
            f(BufferSource::Temporary),
            f(BufferSource::Temporary),
            f(BufferSource::Temporary),
            f(BufferSource::Temporary),
        ],
        steps: vec![
            step(ew(n, BinaryOp::Mul, false, 2.0), &[0, 1]),
            step(ew(n, BinaryOp::Add, false, 1.0), &[1, 2]),
            step(half_copy(n), &[0, 3]),
            step(ew(n, BinaryOp::Mul, false, 1.0), &[3, 4]),
        ],
        outputs: vec![BufferRef(2), BufferRef(4)],
    };
    let exe = check_program(&p, &[host(DType::F32, &[n], 4)], 0.0);
    assert_eq!(exe.arena_bytes(), 448, "t1 and t2 share one block");
}

#[test]
fn outputs_may_be_arguments_constants_or_repeated() {
    let n = 13;
    let c = host(DType::F32, &[n], 5);
    let p = Program {
        buffers: vec![
            buf(DType::F32, &[n], BufferSource::Argument(0)),
            buf(DType::F32, &[n], BufferSource::Constant(c)),
            buf(DType::F32, &[n], BufferSource::Temporary),
        ],
        steps: vec![step(ew(n, BinaryOp::Add, true, 0.0), &[0, 1, 2])],
        outputs: vec![BufferRef(2), BufferRef(0), BufferRef(1), BufferRef(2)],
    };
    check_program(&p, &[host(DType::F32, &[n], 6)], 0.0);
}

fn data_ptr(b: &HostBuffer) -> *const f32 {
    b.as_slice::<f32>().expect("f32 buffer").as_ptr()
}

#[test]
fn donated_arguments_hold_outputs_when_dead_or_updated_in_place() {
    let n = 257;
    let f = |s| buf(DType::F32, &[n], s);
    // out = x + y, elementwise in place over x.
    let p = Program {
        buffers: vec![
            f(BufferSource::Argument(0)),
            f(BufferSource::Argument(1)),
            f(BufferSource::Temporary),
        ],
        steps: vec![step(ew(n, BinaryOp::Add, true, 0.0), &[0, 1, 2])],
        outputs: vec![BufferRef(2)],
    };
    let (x, y) = (host(DType::F32, &[n], 7), host(DType::F32, &[n], 8));
    let want = run_program(&p, &[x.clone(), y.clone()]).expect("interpreter");
    let exe = cpu::compile_program(&p, &in_avals(&p)).expect("compile");
    let px = data_ptr(&x);
    let got = exe.run_donated(vec![x, y]).expect("run");
    assert_same_data("donated", want[0].data(), got[0].data(), 0.0);
    assert_eq!(data_ptr(&got[0]), px, "the output reuses x's vector");

    // A transpose cannot run in place: the output gets fresh storage.
    let (r, c) = (8, 9);
    let mut kb = KernelBuilder::new();
    let (i, j) = (kb.lp(), kb.lp());
    let mut inner = Vec::new();
    let a = kb.let_(
        &mut inner,
        ScalarType::F32,
        load(0, &[(i, c as i64), (j, 1)]),
    );
    inner.push(Stmt::Store {
        buf: BufId(1),
        index: ix(0, &[(j, r as i64), (i, 1)]),
        value: a,
    });
    let t = kernel(
        "transpose",
        &[
            (DType::F32, r * c, BufferKind::Input),
            (DType::F32, r * c, BufferKind::Output),
        ],
        vec![Stmt::Loop {
            id: i,
            extent: r,
            parallel: true,
            body: vec![Stmt::Loop {
                id: j,
                extent: c,
                parallel: true,
                body: inner,
            }],
        }],
    );
    let p = Program {
        buffers: vec![
            buf(DType::F32, &[r, c], BufferSource::Argument(0)),
            buf(DType::F32, &[c, r], BufferSource::Temporary),
        ],
        steps: vec![step(t, &[0, 1])],
        outputs: vec![BufferRef(1)],
    };
    let x = host(DType::F32, &[r, c], 9);
    let want = run_program(&p, std::slice::from_ref(&x)).expect("interpreter");
    let exe = cpu::compile_program(&p, &in_avals(&p)).expect("compile");
    let px = data_ptr(&x);
    let got = exe.run_donated(vec![x]).expect("run");
    assert_same_data("transpose", want[0].data(), got[0].data(), 0.0);
    assert_ne!(data_ptr(&got[0]), px);

    // x is read again by step 1, so out1 (step 0) cannot take it; out2
    // (step 1, elementwise over x) can.
    let p = Program {
        buffers: vec![
            f(BufferSource::Argument(0)),
            f(BufferSource::Argument(1)),
            f(BufferSource::Temporary),
            f(BufferSource::Temporary),
        ],
        steps: vec![
            step(ew(n, BinaryOp::Add, false, 1.0), &[0, 2]),
            step(ew(n, BinaryOp::Mul, true, 0.0), &[0, 1, 3]),
        ],
        outputs: vec![BufferRef(2), BufferRef(3)],
    };
    let (x, y) = (host(DType::F32, &[n], 10), host(DType::F32, &[n], 11));
    let want = run_program(&p, &[x.clone(), y.clone()]).expect("interpreter");
    let exe = cpu::compile_program(&p, &in_avals(&p)).expect("compile");
    let px = data_ptr(&x);
    let got = exe.run_donated(vec![x, y]).expect("run");
    assert_same_data("out1", want[0].data(), got[0].data(), 0.0);
    assert_same_data("out2", want[1].data(), got[1].data(), 0.0);
    assert_ne!(data_ptr(&got[0]), px);
}

#[test]
fn wrong_arguments_are_errors() {
    let n = 4;
    let p = Program {
        buffers: vec![
            buf(DType::F32, &[n], BufferSource::Argument(0)),
            buf(DType::F32, &[n], BufferSource::Temporary),
        ],
        steps: vec![step(ew(n, BinaryOp::Add, false, 1.0), &[0, 1])],
        outputs: vec![BufferRef(1)],
    };
    let exe = cpu::compile_program(&p, &in_avals(&p)).expect("compile");
    let err = exe.run(&[]).unwrap_err().to_string();
    assert!(err.contains("expected 1 arguments, got 0"), "{err}");
    let err = exe
        .run(&[&host(DType::F32, &[5], 1)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("argument 0 is f32[5]"), "{err}");
    let err = exe
        .run(&[&host(DType::I32, &[4], 1)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("argument 0 is i32[4]"), "{err}");
    // A kernel writing an argument is rejected when compiling.
    let bad = Program {
        steps: vec![step(ew(n, BinaryOp::Add, false, 1.0), &[1, 0])],
        ..p
    };
    let err = cpu::compile_program(&bad, &[AVal::new(DType::F32, &[n])])
        .unwrap_err()
        .to_string();
    assert!(err.contains("writes buffer 0"), "{err}");
}

mod reductions;
mod row_pairs;

// ---- whole jaxprs ------------------------------------------------------------

fn build(ins: &[AVal], f: impl FnOnce(&mut JaxprBuilder, &[Var]) -> Vec<Atom>) -> ClosedJaxpr {
    let mut b = JaxprBuilder::new();
    let xs: Vec<Var> = ins.iter().map(|a| b.new_var(a.clone())).collect();
    let outs = f(&mut b, &xs);
    ClosedJaxpr::new(
        b.build(vec![], xs, outs).expect("test jaxpr builds"),
        vec![],
    )
}

fn eqn(b: &mut JaxprBuilder, prim: Primitive, ins: &[Var]) -> Var {
    b.add_eqn(prim, ins.iter().map(|v| Atom::Var(*v)).collect(), None)
        .expect("shape rule")[0]
}

fn lit(b: &mut JaxprBuilder, prim: Primitive, x: Var, c: Scalar) -> Var {
    b.add_eqn(prim, vec![Atom::Var(x), Atom::Lit(c)], None)
        .expect("shape rule")[0]
}

/// `compile` vs the reference interpreter; `tol` 0 means bit-identical.
fn check_jaxpr(name: &str, closed: &ClosedJaxpr, args: &[HostBuffer], tol: f64) {
    let want = interpret_closed(closed, args).unwrap_or_else(|e| panic!("{name}: reference: {e}"));
    let avals: Vec<AVal> = args.iter().map(HostBuffer::aval).collect();
    let exe = compile(closed, &avals, Device::Cpu)
        .unwrap_or_else(|e| panic!("{name}: compile: {e}\n{}", closed.jaxpr));
    let refs: Vec<&HostBuffer> = args.iter().collect();
    let got = exe
        .run(&refs)
        .unwrap_or_else(|e| panic!("{name}: run: {e}"));
    assert_eq!(got.len(), want.len(), "{name}");
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.aval(), w.aval(), "{name}: output {k}");
        assert_same_data(&format!("{name}: output {k}"), w.data(), g.data(), tol);
    }
}

#[test]
fn elementwise_and_broadcast_jaxprs_match_the_reference() {
    let (r, c) = (37, 19);
    let closed = build(
        &[AVal::new(DType::F32, &[r, c]), AVal::new(DType::F32, &[c])],
        |b, xs| {
            let bc = eqn(
                b,
                Primitive::BroadcastInDim {
                    shape: [r, c].into_iter().collect(),
                    broadcast_dimensions: vec![1],
                },
                &[xs[1]],
            );
            let m = lit(b, Primitive::Mul, xs[0], Scalar::F32(2.0));
            let s = eqn(b, Primitive::Add, &[m, bc]);
            let z = lit(b, Primitive::Max, s, Scalar::F32(0.0));
            let lt = eqn(b, Primitive::Lt, &[xs[0], bc]);
            let sel = eqn(b, Primitive::Select, &[lt, z, xs[0]]);
            vec![Atom::Var(sel), Atom::Var(lt)]
        },
    );
    check_jaxpr(
        "elementwise",
        &closed,
        &[host(DType::F32, &[r, c], 1), host(DType::F32, &[c], 2)],
        0.0,
    );
    let closed = build(
        &[
            AVal::new(DType::I32, &[r, c]),
            AVal::new(DType::I32, &[r, c]),
        ],
        |b, xs| {
            let d = eqn(b, Primitive::Div, &[xs[0], xs[1]]);
            let m = eqn(b, Primitive::Rem, &[xs[0], xs[1]]);
            let x = eqn(b, Primitive::Xor, &[d, m]);
            let t = eqn(
                b,
                Primitive::Transpose {
                    permutation: vec![1, 0],
                },
                &[x],
            );
            vec![Atom::Var(t)]
        },
    );
    check_jaxpr(
        "integers",
        &closed,
        &[host(DType::I32, &[r, c], 3), host(DType::I32, &[r, c], 4)],
        0.0,
    );
}

#[test]
fn reductions_and_matmuls_match_the_reference() {
    // The chapter's linear classifier gradient, roughly (DESIGN §7).
    let n = 2000;
    let closed = build(
        &[
            AVal::new(DType::F32, &[n, 2]),
            AVal::new(DType::F32, &[n, 1]),
            AVal::new(DType::F32, &[2, 1]),
            AVal::new(DType::F32, &[1]),
        ],
        |b, xs| {
            let (x, y, w, bias) = (xs[0], xs[1], xs[2], xs[3]);
            let dot = |lc: usize, rc: usize| Primitive::DotGeneral {
                lhs_contract: vec![lc],
                rhs_contract: vec![rc],
                lhs_batch: vec![],
                rhs_batch: vec![],
            };
            let e = eqn(b, dot(1, 0), &[x, w]);
            let f = eqn(
                b,
                Primitive::BroadcastInDim {
                    shape: [n, 1].into_iter().collect(),
                    broadcast_dimensions: vec![1],
                },
                &[bias],
            );
            let g = eqn(b, Primitive::Add, &[e, f]);
            let h = eqn(b, Primitive::Sub, &[g, y]);
            let m = lit(b, Primitive::Mul, h, Scalar::F32(0.001));
            let o = eqn(b, Primitive::ReduceSum { axes: vec![0] }, &[m]);
            let s = eqn(b, dot(0, 0), &[m, x]);
            let t = eqn(
                b,
                Primitive::Transpose {
                    permutation: vec![1, 0],
                },
                &[s],
            );
            let mx = eqn(b, Primitive::ReduceMax { axes: vec![0, 1] }, &[h]);
            vec![Atom::Var(t), Atom::Var(o), Atom::Var(mx)]
        },
    );
    let args = [
        smooth(DType::F32, &[n, 2], 1),
        smooth(DType::F32, &[n, 1], 2),
        smooth(DType::F32, &[2, 1], 3),
        smooth(DType::F32, &[1], 4),
    ];
    check_jaxpr("linear classifier", &closed, &args, 1e-4);
}

/// One whole-jaxpr case: inputs (with smooth data when `smooth`), the body,
/// and the tolerance (0: bit-identical).
struct Case {
    name: &'static str,
    ins: Vec<AVal>,
    smooth: bool,
    tol: f64,
    body: fn(&mut JaxprBuilder, &[Var]) -> Vec<Var>,
}

fn shape(dims: &[usize]) -> rjax_ir::Shape {
    dims.iter().copied().collect()
}

fn cases() -> Vec<Case> {
    let f32s = |d: &[usize]| AVal::new(DType::F32, d);
    vec![
        Case {
            name: "reduce_max_min_f32",
            ins: vec![f32s(&[13, 37])],
            smooth: false,
            tol: 0.0,
            body: |b, x| {
                vec![
                    eqn(b, Primitive::ReduceMax { axes: vec![1] }, &[x[0]]),
                    eqn(b, Primitive::ReduceMin { axes: vec![0] }, &[x[0]]),
                ]
            },
        },
        Case {
            name: "reduce_sum_prod_f64",
            ins: vec![AVal::new(DType::F64, &[9, 5, 33])],
            smooth: true,
            tol: 1e-12,
            body: |b, x| {
                vec![
                    eqn(b, Primitive::ReduceSum { axes: vec![2] }, &[x[0]]),
                    eqn(b, Primitive::ReduceProd { axes: vec![0, 2] }, &[x[0]]),
                ]
            },
        },
        Case {
            name: "reduce_sum_i32",
            ins: vec![AVal::new(DType::I32, &[7, 41])],
            smooth: false,
            tol: 0.0,
            body: |b, x| {
                vec![
                    eqn(b, Primitive::ReduceSum { axes: vec![0, 1] }, &[x[0]]),
                    eqn(b, Primitive::ReduceSum { axes: vec![1] }, &[x[0]]),
                ]
            },
        },
        Case {
            name: "argmax_argmin",
            ins: vec![f32s(&[6, 29])],
            smooth: false,
            tol: 0.0,
            body: |b, x| {
                vec![
                    eqn(
                        b,
                        Primitive::ArgMax {
                            axis: 1,
                            index_dtype: DType::I32,
                        },
                        &[x[0]],
                    ),
                    eqn(
                        b,
                        Primitive::ArgMin {
                            axis: 0,
                            index_dtype: DType::I32,
                        },
                        &[x[0]],
                    ),
                ]
            },
        },
        Case {
            name: "cumsum_i32",
            ins: vec![AVal::new(DType::I32, &[5, 23])],
            smooth: false,
            tol: 0.0,
            body: |b, x| {
                vec![
                    eqn(
                        b,
                        Primitive::Cumsum {
                            axis: 1,
                            reverse: false,
                        },
                        &[x[0]],
                    ),
                    eqn(
                        b,
                        Primitive::Cumsum {
                            axis: 0,
                            reverse: true,
                        },
                        &[x[0]],
                    ),
                ]
            },
        },
        Case {
            name: "slice_pad_concat_rev",
            ins: vec![f32s(&[8, 12]), f32s(&[3, 12])],
            smooth: false,
            tol: 0.0,
            body: |b, x| {
                let s = eqn(
                    b,
                    Primitive::Slice {
                        start: vec![1, 0],
                        limit: vec![8, 12],
                        strides: vec![2, 3],
                    },
                    &[x[0]],
                );
                let zero = b
                    .add_eqn(
                        Primitive::ReduceMax { axes: vec![0, 1] },
                        vec![Atom::Var(x[1])],
                        None,
                    )
                    .expect("max")[0];
                let p = eqn(
                    b,
                    Primitive::Pad {
                        low: vec![1, -1],
                        high: vec![2, 0],
                        interior: vec![1, 0],
                    },
                    &[x[0], zero],
                );
                let c = eqn(b, Primitive::Concatenate { axis: 0 }, &[x[0], x[1]]);
                let r = eqn(b, Primitive::Rev { axes: vec![0, 1] }, &[c]);
                vec![s, p, r]
            },
        },
        Case {
            name: "transpose_3d_and_reshape",
            ins: vec![f32s(&[4, 5, 6])],
            smooth: false,
            tol: 0.0,
            body: |b, x| {
                let t = eqn(
                    b,
                    Primitive::Transpose {
                        permutation: vec![2, 0, 1],
                    },
                    &[x[0]],
                );
                let r = eqn(
                    b,
                    Primitive::Reshape {
                        new_sizes: shape(&[6, 20]),
                    },
                    &[t],
                );
                let n = eqn(b, Primitive::Neg, &[r]);
                vec![n]
            },
        },
        Case {
            name: "gather_scatter",
            ins: vec![f32s(&[10, 7]), AVal::new(DType::I32, &[12]), f32s(&[12, 7])],
            smooth: false,
            tol: 0.0,
            body: |b, x| {
                let g = eqn(b, Primitive::Gather { axis: 0 }, &[x[0], x[1]]);
                let s = eqn(
                    b,
                    Primitive::Scatter {
                        axis: 0,
                        kind: rjax_ir::ScatterKind::Max,
                    },
                    &[x[0], x[1], x[2]],
                );
                vec![g, s]
            },
        },
        Case {
            name: "scatter_add_f64",
            ins: vec![
                AVal::new(DType::F64, &[6, 3]),
                AVal::new(DType::I32, &[9]),
                AVal::new(DType::F64, &[9, 3]),
            ],
            smooth: true,
            tol: 1e-13,
            body: |b, x| {
                vec![eqn(
                    b,
                    Primitive::Scatter {
                        axis: 0,
                        kind: rjax_ir::ScatterKind::Add,
                    },
                    &[x[0], x[1], x[2]],
                )]
            },
        },
        Case {
            name: "dynamic_slices",
            ins: vec![
                f32s(&[9, 8]),
                f32s(&[3, 4]),
                AVal::new(DType::I32, &[]),
                AVal::new(DType::I32, &[]),
            ],
            smooth: false,
            tol: 0.0,
            body: |b, x| {
                let d = eqn(
                    b,
                    Primitive::DynamicSlice {
                        slice_sizes: vec![3, 4],
                    },
                    &[x[0], x[2], x[3]],
                );
                let u = eqn(b, Primitive::DynamicUpdateSlice, &[x[0], x[1], x[3], x[2]]);
                vec![d, u]
            },
        },
        Case {
            name: "iota_compare_convert",
            ins: vec![AVal::new(DType::I32, &[6])],
            smooth: false,
            tol: 0.0,
            body: |b, x| {
                let io = eqn(
                    b,
                    Primitive::Iota {
                        dtype: DType::I32,
                        shape: shape(&[6, 10]),
                        dimension: 1,
                    },
                    &[],
                );
                let bx = eqn(
                    b,
                    Primitive::BroadcastInDim {
                        shape: shape(&[6, 10]),
                        broadcast_dimensions: vec![0],
                    },
                    &[x[0]],
                );
                let eq = eqn(b, Primitive::Eq, &[io, bx]);
                let f = eqn(
                    b,
                    Primitive::ConvertElementType {
                        new_dtype: DType::F32,
                    },
                    &[eq],
                );
                let u = eqn(
                    b,
                    Primitive::ConvertElementType {
                        new_dtype: DType::U32,
                    },
                    &[bx],
                );
                vec![f, u]
            },
        },
        Case {
            name: "batched_matmul_with_epilogue",
            ins: vec![f32s(&[3, 17, 9]), f32s(&[3, 9, 21]), f32s(&[21])],
            smooth: true,
            tol: 1e-5,
            body: |b, x| {
                let d = eqn(
                    b,
                    Primitive::DotGeneral {
                        lhs_contract: vec![2],
                        rhs_contract: vec![1],
                        lhs_batch: vec![0],
                        rhs_batch: vec![0],
                    },
                    &[x[0], x[1]],
                );
                let bias = eqn(
                    b,
                    Primitive::BroadcastInDim {
                        shape: shape(&[3, 17, 21]),
                        broadcast_dimensions: vec![2],
                    },
                    &[x[2]],
                );
                let s = eqn(b, Primitive::Add, &[d, bias]);
                let zero = lit(b, Primitive::Max, s, Scalar::F32(0.0));
                vec![zero]
            },
        },
        Case {
            name: "bool_logic",
            ins: vec![AVal::new(DType::Bool, &[40]), AVal::new(DType::Bool, &[40])],
            smooth: false,
            tol: 0.0,
            body: |b, x| {
                let a = eqn(b, Primitive::And, &[x[0], x[1]]);
                let o = eqn(b, Primitive::Or, &[a, x[1]]);
                let n = eqn(b, Primitive::Not, &[o]);
                let e = eqn(b, Primitive::Ne, &[n, x[0]]);
                vec![e]
            },
        },
        Case {
            name: "random_bits",
            ins: vec![AVal::new(DType::U32, &[8])],
            smooth: false,
            tol: 0.0,
            body: |b, x| {
                vec![eqn(
                    b,
                    Primitive::RandomBits {
                        shape: shape(&[5, 7]),
                    },
                    &[x[0]],
                )]
            },
        },
        Case {
            name: "float_unary_chain_f64",
            ins: vec![AVal::new(DType::F64, &[50])],
            smooth: false,
            tol: 0.0,
            body: |b, x| {
                let a = eqn(b, Primitive::Abs, &[x[0]]);
                let s = eqn(b, Primitive::Sqrt, &[a]);
                let r = eqn(b, Primitive::Round, &[x[0]]);
                let f = eqn(b, Primitive::Floor, &[s]);
                let sg = eqn(b, Primitive::Sign, &[x[0]]);
                let m = eqn(b, Primitive::Mul, &[sg, f]);
                let d = eqn(b, Primitive::Rem, &[x[0], r]);
                vec![m, d, eqn(b, Primitive::IsFinite, &[d])]
            },
        },
    ]
}

#[test]
fn jaxpr_cases_match_the_reference() {
    for (k, case) in cases().into_iter().enumerate() {
        let closed = build(&case.ins, |b, xs| {
            (case.body)(b, xs).into_iter().map(Atom::Var).collect()
        });
        let args: Vec<HostBuffer> = case
            .ins
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let seed = 1000 + 10 * k as u64 + i as u64;
                match (case.smooth, a.dtype) {
                    (true, DType::F32 | DType::F64) => smooth(a.dtype, &a.shape, seed),
                    (true, DType::I32) => {
                        // Indices: mostly in range, a few out of range.
                        let n = a.shape.iter().product::<usize>();
                        HostBuffer::from_vec(
                            (0..n).map(|j| (j as i32 * 7) % 9 - 1).collect::<Vec<i32>>(),
                            &a.shape,
                        )
                        .expect("indices")
                    }
                    _ => host(a.dtype, &a.shape, seed),
                }
            })
            .collect();
        check_jaxpr(case.name, &closed, &args, case.tol);
    }
}
