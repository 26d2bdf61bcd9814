//! The kernel interpreter against the reference interpreter: every scalar
//! operation on every dtype it accepts, and hand-built kernels (broadcast,
//! reduction, argmax, gather, strided stores, a program with a GEMM) against
//! the primitives they implement. Operations without a primitive (`Trunc`,
//! shifts, `Fma`, `Bitcast`, the `Index` type) are compared with the Rust
//! operation that defines them. Error cases check that bad kernels and
//! out-of-range indices are reported, not panics.

use rjax_codegen::kernel::*;
use rjax_codegen::kernel_interp::{check, run_kernel, run_program};
use rjax_codegen::program::{BufferRef, BufferSource, Gemm, Program, ProgramBuffer, Step};
use rjax_ir::interp::eval_primitive;
use rjax_ir::{DType, Data, HostBuffer, Primitive, Scalar};

// ---- helpers -------------------------------------------------------------

const DTYPES: [DType; 5] = [DType::F32, DType::F64, DType::I32, DType::U32, DType::Bool];

/// Interesting values of each dtype.
fn samples(dtype: DType) -> Data {
    let f = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1.5,
        -1.5,
        2.5,
        -2.5,
        3.7,
        -3.7,
        1e-40,
        -1e-310,
        1e30,
        -1e30,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        100.0,
        -100.0,
        0.1,
        7.0,
        3e9,
        -3e9,
        5e18,
        1e20,
    ];
    match dtype {
        DType::F32 => Data::F32(f.iter().map(|&x| x as f32).collect()),
        DType::F64 => Data::F64(f.to_vec()),
        DType::I32 => Data::I32(vec![
            0,
            1,
            -1,
            2,
            7,
            -7,
            31,
            33,
            -32,
            i32::MAX,
            i32::MIN,
            123_456,
            -3,
        ]),
        DType::U32 => Data::U32(vec![0, 1, 2, 7, 31, 33, u32::MAX, 1 << 31, 12_345, 3]),
        DType::Bool => Data::Bool(vec![false, true]),
    }
}

/// Equal element by element: same bits, or both NaN.
fn same(a: &Data, b: &Data) -> bool {
    match (a, b) {
        (Data::F32(x), Data::F32(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()))
        }
        (Data::F64(x), Data::F64(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()))
        }
        _ => a == b,
    }
}

fn buf(data: Data) -> HostBuffer {
    let n = data.len();
    HostBuffer::new(data, &[n]).expect("vector buffer")
}

fn decl(dtype: DType, len: usize, kind: BufferKind) -> BufferDecl {
    BufferDecl { dtype, len, kind }
}

fn at(lp: LoopId, coef: i64) -> Index {
    Index {
        offset: 0,
        terms: vec![(lp, coef)],
        dynamic: None,
    }
}

/// `out[i] = f(in0[i], in1[i], ..)` over `n` elements, where `f` appends
/// statements computing the result from the loaded operands.
fn elementwise(
    ins: &[DType],
    out: DType,
    n: usize,
    f: impl FnOnce(&mut KernelBuilder, &mut Vec<Stmt>, &[ValueId]) -> ValueId,
) -> Kernel {
    let mut b = KernelBuilder::new();
    let lp = b.lp();
    let mut body = Vec::new();
    let loaded: Vec<ValueId> = ins
        .iter()
        .enumerate()
        .map(|(k, &dt)| {
            b.let_(
                &mut body,
                ScalarType::of(dt),
                Expr::Load {
                    buf: BufId(k as u32),
                    index: at(lp, 1),
                },
            )
        })
        .collect();
    let r = f(&mut b, &mut body, &loaded);
    body.push(Stmt::Store {
        buf: BufId(ins.len() as u32),
        index: at(lp, 1),
        value: r,
    });
    let mut buffers: Vec<BufferDecl> = ins
        .iter()
        .map(|&dt| decl(dt, n, BufferKind::Input))
        .collect();
    buffers.push(decl(out, n, BufferKind::Output));
    Kernel {
        name: "test".into(),
        buffers,
        body: vec![Stmt::Loop {
            id: lp,
            extent: n,
            parallel: true,
            body,
        }],
    }
}

/// Runs a kernel whose last buffer is its only output, returning it.
fn run(kernel: &Kernel, inputs: Vec<Data>) -> Data {
    let out = kernel.buffers.last().expect("an output");
    let mut bufs = inputs;
    bufs.push(Data::filled(Scalar::zero(out.dtype), out.len));
    run_kernel(kernel, &mut bufs).unwrap_or_else(|e| panic!("{e}"));
    bufs.pop().expect("output")
}

/// All pairs of two sample vectors, as two vectors.
fn pairs(a: &Data, b: &Data) -> (Data, Data) {
    let (n, m) = (a.len(), b.len());
    (
        a.take((0..n * m).map(|k| k / m)),
        b.take((0..n * m).map(|k| k % m)),
    )
}

// ---- scalar semantics ------------------------------------------------------

/// The primitive computing the same as a unary kernel op, if any.
fn unary_primitive(op: UnaryOp) -> Option<Primitive> {
    use UnaryOp as U;
    match op {
        U::Neg => Some(Primitive::Neg),
        U::Abs => Some(Primitive::Abs),
        U::Sign => Some(Primitive::Sign),
        U::Sqrt => Some(Primitive::Sqrt),
        U::Floor => Some(Primitive::Floor),
        U::Ceil => Some(Primitive::Ceil),
        U::Round => Some(Primitive::Round),
        U::Trunc => None,
        U::Not => Some(Primitive::Not),
        U::IsFinite => Some(Primitive::IsFinite),
        U::Exp => Some(Primitive::Exp),
        U::Log => Some(Primitive::Log),
        U::Log1p => Some(Primitive::Log1p),
        U::Expm1 => Some(Primitive::Expm1),
        U::Sin => Some(Primitive::Sin),
        U::Cos => Some(Primitive::Cos),
        U::Tanh => Some(Primitive::Tanh),
        U::Logistic => Some(Primitive::Logistic),
        U::Erf => Some(Primitive::Erf),
        U::Rsqrt => Some(Primitive::Rsqrt),
    }
}

const UNARY_OPS: [UnaryOp; 20] = {
    use UnaryOp as U;
    [
        U::Neg,
        U::Abs,
        U::Sign,
        U::Sqrt,
        U::Floor,
        U::Ceil,
        U::Round,
        U::Trunc,
        U::Not,
        U::IsFinite,
        U::Exp,
        U::Log,
        U::Log1p,
        U::Expm1,
        U::Sin,
        U::Cos,
        U::Tanh,
        U::Logistic,
        U::Erf,
        U::Rsqrt,
    ]
};

#[test]
fn unary_ops_match_the_reference_interpreter() {
    let mut compared = 0;
    for op in UNARY_OPS {
        let Some(prim) = unary_primitive(op) else {
            continue;
        };
        for dt in DTYPES {
            let x = samples(dt);
            let expected = eval_primitive(&prim, &[&buf(x.clone())]);
            let out_dt = expected.as_ref().map(|r| r[0].dtype()).unwrap_or(dt);
            let k = elementwise(&[dt], out_dt, x.len(), |b, body, v| {
                b.let_(body, ScalarType::of(out_dt), Expr::Unary(op, v[0]))
            });
            match expected {
                Ok(r) => {
                    let got = run(&k, vec![x]);
                    assert!(
                        same(&got, r[0].data()),
                        "{op:?} on {dt}: {got:?} vs {:?}",
                        r[0].data()
                    );
                    compared += 1;
                }
                Err(_) => assert!(
                    check(&k).is_err(),
                    "{op:?} accepted {dt}, the primitive does not"
                ),
            }
        }
    }
    assert!(compared >= 40, "only {compared} comparisons");
}

#[test]
fn trunc_rounds_toward_zero() {
    let x = samples(DType::F64);
    let k = elementwise(&[DType::F64], DType::F64, x.len(), |b, body, v| {
        b.let_(body, ScalarType::F64, Expr::Unary(UnaryOp::Trunc, v[0]))
    });
    let Data::F64(xs) = &x else { unreachable!() };
    let want = Data::F64(xs.iter().map(|v| v.trunc()).collect());
    assert!(same(&run(&k, vec![x.clone()]), &want));
}

/// The primitive computing the same as a binary kernel op, if any.
fn binary_primitive(op: BinaryOp) -> Option<Primitive> {
    use BinaryOp as B;
    match op {
        B::Add => Some(Primitive::Add),
        B::Sub => Some(Primitive::Sub),
        B::Mul => Some(Primitive::Mul),
        B::Div => Some(Primitive::Div),
        B::Rem => Some(Primitive::Rem),
        B::Pow => Some(Primitive::Pow),
        B::Max => Some(Primitive::Max),
        B::Min => Some(Primitive::Min),
        B::And => Some(Primitive::And),
        B::Or => Some(Primitive::Or),
        B::Xor => Some(Primitive::Xor),
        B::Shl | B::ShrLogical | B::ShrArith => None,
        B::Eq => Some(Primitive::Eq),
        B::Ne => Some(Primitive::Ne),
        B::Lt => Some(Primitive::Lt),
        B::Le => Some(Primitive::Le),
        B::Gt => Some(Primitive::Gt),
        B::Ge => Some(Primitive::Ge),
    }
}

const BINARY_OPS: [BinaryOp; 20] = {
    use BinaryOp as B;
    [
        B::Add,
        B::Sub,
        B::Mul,
        B::Div,
        B::Rem,
        B::Pow,
        B::Max,
        B::Min,
        B::And,
        B::Or,
        B::Xor,
        B::Shl,
        B::ShrLogical,
        B::ShrArith,
        B::Eq,
        B::Ne,
        B::Lt,
        B::Le,
        B::Gt,
        B::Ge,
    ]
};

#[test]
fn binary_ops_match_the_reference_interpreter() {
    let mut compared = 0;
    for op in BINARY_OPS {
        let Some(prim) = binary_primitive(op) else {
            continue;
        };
        for dt in DTYPES {
            let (x, y) = pairs(&samples(dt), &samples(dt));
            let expected = eval_primitive(&prim, &[&buf(x.clone()), &buf(y.clone())]);
            let out_dt = expected.as_ref().map(|r| r[0].dtype()).unwrap_or(dt);
            let k = elementwise(&[dt, dt], out_dt, x.len(), |b, body, v| {
                b.let_(body, ScalarType::of(out_dt), Expr::Binary(op, v[0], v[1]))
            });
            match expected {
                Ok(r) => {
                    let got = run(&k, vec![x, y]);
                    assert!(same(&got, r[0].data()), "{op:?} on {dt}");
                    compared += 1;
                }
                Err(_) => assert!(
                    check(&k).is_err(),
                    "{op:?} accepted {dt}, the primitive does not"
                ),
            }
        }
    }
    assert!(compared >= 60, "only {compared} comparisons");
}

#[test]
fn shifts_take_the_amount_modulo_the_width() {
    let (x, y) = pairs(&samples(DType::I32), &samples(DType::I32));
    let (Data::I32(xs), Data::I32(ys)) = (&x, &y) else {
        unreachable!()
    };
    type Shift = fn(i32, i32) -> i32;
    let cases: [(BinaryOp, Shift); 3] = [
        (BinaryOp::Shl, |a, s| a.wrapping_shl(s as u32)),
        (BinaryOp::ShrLogical, |a, s| {
            ((a as u32) >> (s as u32 % 32)) as i32
        }),
        (BinaryOp::ShrArith, |a, s| a >> (s as u32 % 32)),
    ];
    for (op, f) in cases {
        let k = elementwise(
            &[DType::I32, DType::I32],
            DType::I32,
            xs.len(),
            |b, body, v| b.let_(body, ScalarType::I32, Expr::Binary(op, v[0], v[1])),
        );
        let want = Data::I32(xs.iter().zip(ys).map(|(&a, &s)| f(a, s)).collect());
        assert_eq!(run(&k, vec![x.clone(), y.clone()]), want, "{op:?}");
    }
    // u32: the arithmetic shift replicates the top bit.
    let k = elementwise(&[DType::U32, DType::U32], DType::U32, 1, |b, body, v| {
        b.let_(
            body,
            ScalarType::U32,
            Expr::Binary(BinaryOp::ShrArith, v[0], v[1]),
        )
    });
    assert_eq!(
        run(&k, vec![Data::U32(vec![0x8000_0000]), Data::U32(vec![33])]),
        Data::U32(vec![0xC000_0000])
    );
}

#[test]
fn conversions_match_convert_element_type() {
    for from in DTYPES {
        for to in DTYPES {
            let x = samples(from);
            let prim = Primitive::ConvertElementType { new_dtype: to };
            let want =
                eval_primitive(&prim, &[&buf(x.clone())]).expect("convert accepts every pair");
            let k = elementwise(&[from], to, x.len(), |b, body, v| {
                b.let_(
                    body,
                    ScalarType::of(to),
                    Expr::Convert(ScalarType::of(to), v[0]),
                )
            });
            assert!(same(&run(&k, vec![x]), want[0].data()), "{from} -> {to}");
        }
    }
}

#[test]
fn index_conversions_and_bitcasts_follow_rust_as() {
    let Data::F64(xs) = samples(DType::F64) else {
        unreachable!()
    };
    let k = elementwise(&[DType::F64], DType::F64, xs.len(), |b, body, v| {
        let i = b.let_(
            body,
            ScalarType::Index,
            Expr::Convert(ScalarType::Index, v[0]),
        );
        let bits = b.let_(
            body,
            ScalarType::Index,
            Expr::Bitcast(ScalarType::Index, v[0]),
        );
        let one = b.let_(body, ScalarType::Index, Expr::Const(Const::Index(1)));
        let bits = b.let_(
            body,
            ScalarType::Index,
            Expr::Binary(BinaryOp::Xor, bits, one),
        );
        let back = b.let_(body, ScalarType::F64, Expr::Bitcast(ScalarType::F64, bits));
        let fi = b.let_(body, ScalarType::F64, Expr::Convert(ScalarType::F64, i));
        b.let_(body, ScalarType::F64, Expr::Binary(BinaryOp::Add, fi, back))
    });
    let want: Vec<f64> = xs
        .iter()
        .map(|&x| (x as i64) as f64 + f64::from_bits(x.to_bits() ^ 1))
        .collect();
    assert!(same(
        &run(&k, vec![Data::F64(xs.clone())]),
        &Data::F64(want)
    ));
    let Data::F32(xs) = samples(DType::F32) else {
        unreachable!()
    };
    let k = elementwise(&[DType::F32], DType::U32, xs.len(), |b, body, v| {
        b.let_(body, ScalarType::U32, Expr::Bitcast(ScalarType::U32, v[0]))
    });
    assert_eq!(
        run(&k, vec![Data::F32(xs.clone())]),
        Data::U32(xs.iter().map(|x| x.to_bits()).collect())
    );
}

#[test]
fn fma_rounds_once_and_integers_wrap() {
    let (a, b, c) = (1.0f64 + f64::EPSILON, 1.0f64 - f64::EPSILON, -1.0f64);
    let k = elementwise(
        &[DType::F64, DType::F64, DType::F64],
        DType::F64,
        1,
        |bld, body, v| bld.let_(body, ScalarType::F64, Expr::Fma(v[0], v[1], v[2])),
    );
    let got = run(
        &k,
        vec![Data::F64(vec![a]), Data::F64(vec![b]), Data::F64(vec![c])],
    );
    assert_eq!(got, Data::F64(vec![a.mul_add(b, c)]));
    assert_ne!(
        a.mul_add(b, c),
        a * b + c,
        "the case must tell fused from unfused"
    );
    let k = elementwise(
        &[DType::I32, DType::I32, DType::I32],
        DType::I32,
        1,
        |bld, body, v| bld.let_(body, ScalarType::I32, Expr::Fma(v[0], v[1], v[2])),
    );
    let got = run(
        &k,
        vec![
            Data::I32(vec![i32::MAX]),
            Data::I32(vec![3]),
            Data::I32(vec![5]),
        ],
    );
    assert_eq!(
        got,
        Data::I32(vec![i32::MAX.wrapping_mul(3).wrapping_add(5)])
    );
}

#[test]
fn select_matches_the_primitive() {
    let (x, y) = pairs(&samples(DType::F32), &samples(DType::F32));
    let n = x.len();
    let p = Data::Bool((0..n).map(|i| i % 3 == 0).collect());
    let want = eval_primitive(
        &Primitive::Select,
        &[&buf(p.clone()), &buf(x.clone()), &buf(y.clone())],
    )
    .expect("select");
    let k = elementwise(
        &[DType::Bool, DType::F32, DType::F32],
        DType::F32,
        n,
        |b, body, v| b.let_(body, ScalarType::F32, Expr::Select(v[0], v[1], v[2])),
    );
    assert!(same(&run(&k, vec![p, x, y]), want[0].data()));
}

// ---- whole kernels -----------------------------------------------------------

fn vec_f32(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 37.0 - 13.0)
        .collect()
}

#[test]
fn broadcast_elementwise_matches_primitives() {
    // out[i, j] = a[i, j] * b[j] + 0.5 with a: [3, 4], b: [4].
    let (a, bv) = (vec_f32(12, 1), vec_f32(4, 2));
    let mut kb = KernelBuilder::new();
    let (i, j) = (kb.lp(), kb.lp());
    let mut inner = Vec::new();
    let ij = Index {
        offset: 0,
        terms: vec![(i, 4), (j, 1)],
        dynamic: None,
    };
    let va = kb.let_(
        &mut inner,
        ScalarType::F32,
        Expr::Load {
            buf: BufId(0),
            index: ij.clone(),
        },
    );
    let vb = kb.let_(
        &mut inner,
        ScalarType::F32,
        Expr::Load {
            buf: BufId(1),
            index: at(j, 1),
        },
    );
    let m = kb.let_(
        &mut inner,
        ScalarType::F32,
        Expr::Binary(BinaryOp::Mul, va, vb),
    );
    let half = kb.let_(
        &mut inner,
        ScalarType::F32,
        Expr::Const(Const::Scalar(Scalar::F32(0.5))),
    );
    let s = kb.let_(
        &mut inner,
        ScalarType::F32,
        Expr::Binary(BinaryOp::Add, m, half),
    );
    inner.push(Stmt::Store {
        buf: BufId(2),
        index: ij,
        value: s,
    });
    let k = Kernel {
        name: "bcast".into(),
        buffers: vec![
            decl(DType::F32, 12, BufferKind::Input),
            decl(DType::F32, 4, BufferKind::Input),
            decl(DType::F32, 12, BufferKind::Output),
        ],
        body: vec![Stmt::Loop {
            id: i,
            extent: 3,
            parallel: true,
            body: vec![Stmt::Loop {
                id: j,
                extent: 4,
                parallel: false,
                body: inner,
            }],
        }],
    };
    let got = run(&k, vec![Data::F32(a.clone()), Data::F32(bv.clone())]);
    let ha = HostBuffer::from_vec(a, &[3, 4]).expect("a");
    let hb = HostBuffer::from_vec(bv, &[4]).expect("b");
    let bcast = Primitive::BroadcastInDim {
        shape: [3, 4].into_iter().collect(),
        broadcast_dimensions: vec![1],
    };
    let hb = eval_primitive(&bcast, &[&hb]).expect("broadcast").remove(0);
    let prod = eval_primitive(&Primitive::Mul, &[&ha, &hb])
        .expect("mul")
        .remove(0);
    let want = eval_primitive(
        &Primitive::Add,
        &[&prod, &HostBuffer::scalar(Scalar::F32(0.5))],
    )
    .expect("add");
    assert!(same(&got, want[0].data()));
}

/// `out[i] = fold over j of x[i, j]` for x: [rows, cols], with `combine`.
fn reduction(rows: usize, cols: usize, init: f32, combine: BinaryOp) -> Kernel {
    let mut kb = KernelBuilder::new();
    let (i, j, acc) = (kb.lp(), kb.lp(), kb.acc());
    let mut inner = Vec::new();
    let idx = Index {
        offset: 0,
        terms: vec![(i, cols as i64), (j, 1)],
        dynamic: None,
    };
    let v = kb.let_(
        &mut inner,
        ScalarType::F32,
        Expr::Load {
            buf: BufId(0),
            index: idx,
        },
    );
    let a = kb.let_(&mut inner, ScalarType::F32, Expr::AccRead(acc));
    let s = kb.let_(&mut inner, ScalarType::F32, Expr::Binary(combine, a, v));
    inner.push(Stmt::AccSet { acc, value: s });
    let mut outer = vec![
        Stmt::AccInit {
            acc,
            ty: ScalarType::F32,
            init: Const::Scalar(Scalar::F32(init)),
        },
        Stmt::Loop {
            id: j,
            extent: cols,
            parallel: false,
            body: inner,
        },
    ];
    let r = kb.let_(&mut outer, ScalarType::F32, Expr::AccRead(acc));
    outer.push(Stmt::Store {
        buf: BufId(1),
        index: at(i, 1),
        value: r,
    });
    Kernel {
        name: "reduce".into(),
        buffers: vec![
            decl(DType::F32, rows * cols, BufferKind::Input),
            decl(DType::F32, rows, BufferKind::Output),
        ],
        body: vec![Stmt::Loop {
            id: i,
            extent: rows,
            parallel: true,
            body: outer,
        }],
    }
}

#[test]
fn reductions_with_an_accumulator_match_primitives() {
    let mut x = vec_f32(35, 3);
    x[9] = f32::NAN;
    let hx = HostBuffer::from_vec(x.clone(), &[5, 7]).expect("x");
    let sum = eval_primitive(&Primitive::ReduceSum { axes: vec![1] }, &[&hx]).expect("sum");
    assert!(same(
        &run(
            &reduction(5, 7, 0.0, BinaryOp::Add),
            vec![Data::F32(x.clone())]
        ),
        sum[0].data()
    ));
    let max = eval_primitive(&Primitive::ReduceMax { axes: vec![1] }, &[&hx]).expect("max");
    let got = run(
        &reduction(5, 7, f32::NEG_INFINITY, BinaryOp::Max),
        vec![Data::F32(x)],
    );
    assert!(same(&got, max[0].data()));
    let Data::F32(g) = &got else { unreachable!() };
    assert!(
        g[1].is_nan() && !g[0].is_nan(),
        "NaN propagates to its row only"
    );
}

#[test]
fn argmax_with_accumulators_and_select_matches_the_primitive() {
    let (rows, cols) = (6, 5);
    let mut x = vec_f32(rows * cols, 4);
    x[7] = f32::NAN; // row 1
    x[13] = f32::NAN; // row 2, after its maximum?
    for v in &mut x[15..20] {
        *v = f32::NEG_INFINITY; // row 3: all -inf
    }
    x[21] = x[23]; // row 4: a tie
    let mut kb = KernelBuilder::new();
    let (i, j, best, arg) = (kb.lp(), kb.lp(), kb.acc(), kb.acc());
    let mut inner = Vec::new();
    let idx = Index {
        offset: 0,
        terms: vec![(i, cols as i64), (j, 1)],
        dynamic: None,
    };
    let v = kb.let_(
        &mut inner,
        ScalarType::F32,
        Expr::Load {
            buf: BufId(0),
            index: idx,
        },
    );
    let b = kb.let_(&mut inner, ScalarType::F32, Expr::AccRead(best));
    let a = kb.let_(&mut inner, ScalarType::I32, Expr::AccRead(arg));
    let gt = kb.let_(
        &mut inner,
        ScalarType::Bool,
        Expr::Binary(BinaryOp::Gt, v, b),
    );
    let v_nan = kb.let_(
        &mut inner,
        ScalarType::Bool,
        Expr::Binary(BinaryOp::Ne, v, v),
    );
    let b_num = kb.let_(
        &mut inner,
        ScalarType::Bool,
        Expr::Binary(BinaryOp::Eq, b, b),
    );
    let first_nan = kb.let_(
        &mut inner,
        ScalarType::Bool,
        Expr::Binary(BinaryOp::And, v_nan, b_num),
    );
    let take = kb.let_(
        &mut inner,
        ScalarType::Bool,
        Expr::Binary(BinaryOp::Or, gt, first_nan),
    );
    let nb = kb.let_(&mut inner, ScalarType::F32, Expr::Select(take, v, b));
    let jv = kb.let_(&mut inner, ScalarType::Index, Expr::LoopVar(j));
    let ji = kb.let_(
        &mut inner,
        ScalarType::I32,
        Expr::Convert(ScalarType::I32, jv),
    );
    let na = kb.let_(&mut inner, ScalarType::I32, Expr::Select(take, ji, a));
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
    outer.push(Stmt::Store {
        buf: BufId(1),
        index: at(i, 1),
        value: r,
    });
    let k = Kernel {
        name: "argmax".into(),
        buffers: vec![
            decl(DType::F32, rows * cols, BufferKind::Input),
            decl(DType::I32, rows, BufferKind::Output),
        ],
        body: vec![Stmt::Loop {
            id: i,
            extent: rows,
            parallel: true,
            body: outer,
        }],
    };
    let got = run(&k, vec![Data::F32(x.clone())]);
    let hx = HostBuffer::from_vec(x, &[rows, cols]).expect("x");
    let want = eval_primitive(
        &Primitive::ArgMax {
            axis: 1,
            index_dtype: DType::I32,
        },
        &[&hx],
    )
    .expect("argmax");
    assert_eq!(&got, want[0].data());
}

#[test]
fn gather_with_a_dynamic_index_matches_the_primitive() {
    let x = vec_f32(10, 5);
    let ind = vec![3i32, -4, 9, 12, 0, 7, 7];
    let n = ind.len();
    let k = elementwise(&[DType::I32], DType::F32, n, |b, body, v| {
        let i = b.let_(
            body,
            ScalarType::Index,
            Expr::Convert(ScalarType::Index, v[0]),
        );
        let lo = b.let_(body, ScalarType::Index, Expr::Const(Const::Index(0)));
        let hi = b.let_(body, ScalarType::Index, Expr::Const(Const::Index(9)));
        let i = b.let_(body, ScalarType::Index, Expr::Binary(BinaryOp::Min, i, hi));
        let i = b.let_(body, ScalarType::Index, Expr::Binary(BinaryOp::Max, i, lo));
        b.let_(
            body,
            ScalarType::F32,
            Expr::Load {
                buf: BufId(1),
                index: Index {
                    offset: 0,
                    terms: vec![],
                    dynamic: Some(i),
                },
            },
        )
    });
    // The table is the second buffer: rebuild the declarations in that order.
    let mut k = k;
    k.buffers = vec![
        decl(DType::I32, n, BufferKind::Input),
        decl(DType::F32, 10, BufferKind::Input),
        decl(DType::F32, n, BufferKind::Output),
    ];
    if let Stmt::Loop { body, .. } = &mut k.body[0] {
        if let Some(Stmt::Store { buf, .. }) = body.last_mut() {
            *buf = BufId(2);
        }
    }
    let got = run(&k, vec![Data::I32(ind.clone()), Data::F32(x.clone())]);
    let hx = HostBuffer::from_vec(x, &[10]).expect("x");
    let hi = HostBuffer::from_vec(ind, &[n]).expect("indices");
    let want = eval_primitive(&Primitive::Gather { axis: 0 }, &[&hx, &hi]).expect("gather");
    assert!(same(&got, want[0].data()));
}

/// Copies x: [rows, cols] through a strided store; `src`/`dst` give the
/// (row, col) coefficients of the load and store indices and their offsets.
fn strided_copy(
    rows: usize,
    cols: usize,
    load: (i64, i64, i64),
    store: (i64, i64, i64),
    in_len: usize,
    out_len: usize,
) -> Kernel {
    let mut kb = KernelBuilder::new();
    let (i, j) = (kb.lp(), kb.lp());
    let mut inner = Vec::new();
    let li = Index {
        offset: load.2,
        terms: vec![(i, load.0), (j, load.1)],
        dynamic: None,
    };
    let v = kb.let_(
        &mut inner,
        ScalarType::F32,
        Expr::Load {
            buf: BufId(0),
            index: li,
        },
    );
    let si = Index {
        offset: store.2,
        terms: vec![(i, store.0), (j, store.1)],
        dynamic: None,
    };
    inner.push(Stmt::Store {
        buf: BufId(1),
        index: si,
        value: v,
    });
    Kernel {
        name: "strided".into(),
        buffers: vec![
            decl(DType::F32, in_len, BufferKind::Input),
            decl(DType::F32, out_len, BufferKind::Output),
        ],
        body: vec![Stmt::Loop {
            id: i,
            extent: rows,
            parallel: true,
            body: vec![Stmt::Loop {
                id: j,
                extent: cols,
                parallel: false,
                body: inner,
            }],
        }],
    }
}

#[test]
fn strided_stores_match_transpose_and_slice() {
    // Transpose [3, 4] -> [4, 3] by storing at j * 3 + i.
    let x = vec_f32(12, 6);
    let got = run(
        &strided_copy(3, 4, (4, 1, 0), (1, 3, 0), 12, 12),
        vec![Data::F32(x.clone())],
    );
    let hx = HostBuffer::from_vec(x, &[3, 4]).expect("x");
    let want = eval_primitive(
        &Primitive::Transpose {
            permutation: vec![1, 0],
        },
        &[&hx],
    )
    .expect("transpose");
    assert!(same(&got, want[0].data()));
    // Slice [1:6:2, 0:7:3] of [6, 7] -> [3, 3], loading with strides 14 and 3.
    let x = vec_f32(42, 7);
    let got = run(
        &strided_copy(3, 3, (14, 3, 7), (3, 1, 0), 42, 9),
        vec![Data::F32(x.clone())],
    );
    let hx = HostBuffer::from_vec(x, &[6, 7]).expect("x");
    let slice = Primitive::Slice {
        start: vec![1, 0],
        limit: vec![6, 7],
        strides: vec![2, 3],
    };
    let want = eval_primitive(&slice, &[&hx]).expect("slice");
    assert!(same(&got, want[0].data()));
}

#[test]
fn a_program_with_kernels_and_a_gemm_matches_dot_general() {
    // t = x + c (c a constant [2, 3]); out = t @ wᵀ with w: [4, 3] read
    // through transposed strides; x: [2, 3].
    let (x, w, c) = (vec_f32(6, 8), vec_f32(12, 9), vec_f32(6, 10));
    let add = elementwise(&[DType::F32, DType::F32], DType::F32, 6, |b, body, v| {
        b.let_(
            body,
            ScalarType::F32,
            Expr::Binary(BinaryOp::Add, v[0], v[1]),
        )
    });
    let hc = HostBuffer::from_vec(c.clone(), &[2, 3]).expect("c");
    let pb = |shape: &[usize], source| ProgramBuffer {
        dtype: DType::F32,
        shape: shape.to_vec(),
        source,
    };
    let program = Program {
        buffers: vec![
            pb(&[2, 3], BufferSource::Argument(0)),
            pb(&[4, 3], BufferSource::Argument(1)),
            pb(&[2, 3], BufferSource::Constant(hc.clone())),
            pb(&[2, 3], BufferSource::Temporary),
            pb(&[2, 4], BufferSource::Temporary),
        ],
        steps: vec![
            Step::Kernel {
                kernel: add,
                args: vec![BufferRef(0), BufferRef(2), BufferRef(3)],
            },
            Step::Gemm(Gemm {
                dtype: DType::F32,
                batch: 1,
                m: 2,
                n: 4,
                k: 3,
                lhs: (BufferRef(3), [0, 3, 1]),
                rhs: (BufferRef(1), [0, 1, 3]),
                out: BufferRef(4),
            }),
        ],
        outputs: vec![BufferRef(4), BufferRef(3)],
    };
    let hx = HostBuffer::from_vec(x, &[2, 3]).expect("x");
    let hw = HostBuffer::from_vec(w, &[4, 3]).expect("w");
    let got = run_program(&program, &[hx.clone(), hw.clone()]).unwrap_or_else(|e| panic!("{e}"));
    let t = eval_primitive(&Primitive::Add, &[&hx, &hc])
        .expect("add")
        .remove(0);
    let dot = Primitive::DotGeneral {
        lhs_contract: vec![1],
        rhs_contract: vec![1],
        lhs_batch: vec![],
        rhs_batch: vec![],
    };
    let want = eval_primitive(&dot, &[&t, &hw]).expect("dot").remove(0);
    assert_eq!(got, vec![want, t]);
}

#[test]
fn a_batched_gemm_matches_dot_general() {
    // out[b] = l[b] @ r[b], l: [2, 3, 5], r: [2, 5, 4] (row-major strides).
    let (l, r) = (vec_f32(30, 11), vec_f32(40, 12));
    let hl = HostBuffer::from_vec(l, &[2, 3, 5]).expect("l");
    let hr = HostBuffer::from_vec(r, &[2, 5, 4]).expect("r");
    let pb = |shape: &[usize], source| ProgramBuffer {
        dtype: DType::F32,
        shape: shape.to_vec(),
        source,
    };
    let program = Program {
        buffers: vec![
            pb(&[2, 3, 5], BufferSource::Argument(0)),
            pb(&[2, 5, 4], BufferSource::Argument(1)),
            pb(&[2, 3, 4], BufferSource::Temporary),
        ],
        steps: vec![Step::Gemm(Gemm {
            dtype: DType::F32,
            batch: 2,
            m: 3,
            n: 4,
            k: 5,
            lhs: (BufferRef(0), [15, 5, 1]),
            rhs: (BufferRef(1), [20, 4, 1]),
            out: BufferRef(2),
        })],
        outputs: vec![BufferRef(2)],
    };
    let got = run_program(&program, &[hl.clone(), hr.clone()]).unwrap_or_else(|e| panic!("{e}"));
    let dot = Primitive::DotGeneral {
        lhs_contract: vec![2],
        rhs_contract: vec![1],
        lhs_batch: vec![0],
        rhs_batch: vec![0],
    };
    assert_eq!(got, eval_primitive(&dot, &[&hl, &hr]).expect("dot"));
}

// ---- errors ------------------------------------------------------------------

fn message(r: rjax_ir::Result<()>) -> String {
    match r {
        Ok(()) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn out_of_bounds_indices_are_errors() {
    // Reads x[i + 1] for i in 0..4 from a 4-element buffer.
    let mut k = elementwise(&[DType::F32], DType::F32, 4, |_, _, v| v[0]);
    if let Stmt::Loop { body, .. } = &mut k.body[0] {
        if let Stmt::Let {
            expr: Expr::Load { index, .. },
            ..
        } = &mut body[0]
        {
            index.offset = 1;
        }
    }
    let mut bufs = vec![Data::F32(vec![1.0; 4]), Data::F32(vec![0.0; 4])];
    let msg = message(run_kernel(&k, &mut bufs));
    assert!(
        msg.starts_with("kernel: index 4 out of bounds for b0 of length 4"),
        "{msg}"
    );
    assert!(
        msg.contains("i0 = 3") && msg.contains("kernel test("),
        "{msg}"
    );
    // A negative dynamic index.
    let k = elementwise(&[DType::I32], DType::F32, 1, |b, body, v| {
        let i = b.let_(
            body,
            ScalarType::Index,
            Expr::Convert(ScalarType::Index, v[0]),
        );
        b.let_(
            body,
            ScalarType::I32,
            Expr::Load {
                buf: BufId(0),
                index: Index {
                    offset: 0,
                    terms: vec![],
                    dynamic: Some(i),
                },
            },
        )
    });
    // (The store of an I32 into the F32 output is a type error, caught first.)
    assert!(message(check(&k)).contains("value v2 is I32, the buffer holds f32"));
    let k = elementwise(&[DType::I32], DType::I32, 1, |b, body, v| {
        let i = b.let_(
            body,
            ScalarType::Index,
            Expr::Convert(ScalarType::Index, v[0]),
        );
        b.let_(
            body,
            ScalarType::I32,
            Expr::Load {
                buf: BufId(0),
                index: Index {
                    offset: 0,
                    terms: vec![],
                    dynamic: Some(i),
                },
            },
        )
    });
    let mut bufs = vec![Data::I32(vec![-1]), Data::I32(vec![0])];
    assert!(message(run_kernel(&k, &mut bufs)).contains("index -1 out of bounds"));
}

#[test]
fn ill_typed_kernels_are_errors() {
    let k = elementwise(&[DType::F32, DType::F64], DType::F32, 1, |b, body, v| {
        b.let_(
            body,
            ScalarType::F32,
            Expr::Binary(BinaryOp::Add, v[0], v[1]),
        )
    });
    let msg = message(check(&k));
    assert!(
        msg.starts_with("kernel: v2: Add does not accept operands of types [F32, F64]"),
        "{msg}"
    );
    assert!(
        msg.contains("kernel test("),
        "the kernel text follows: {msg}"
    );
    let k = elementwise(&[DType::F32], DType::F32, 1, |b, body, v| {
        b.let_(body, ScalarType::F64, Expr::Unary(UnaryOp::Exp, v[0]))
    });
    assert!(message(check(&k)).contains("v1 is declared F64 but its expression gives F32"));
    let k = elementwise(&[DType::F32], DType::F32, 1, |b, body, v| {
        let c = b.let_(
            body,
            ScalarType::I32,
            Expr::Const(Const::Scalar(Scalar::I32(1))),
        );
        b.let_(body, ScalarType::F32, Expr::Select(c, v[0], v[0]))
    });
    assert!(message(check(&k)).contains("Select does not accept operands of types [I32, F32, F32]"));
    let k = elementwise(&[DType::F64], DType::F64, 1, |b, body, v| {
        let i = b.let_(body, ScalarType::I32, Expr::Bitcast(ScalarType::I32, v[0]));
        b.let_(body, ScalarType::F64, Expr::Convert(ScalarType::F64, i))
    });
    assert!(message(check(&k)).contains("Bitcast cannot reinterpret F64 as I32"));
}

#[test]
fn scoping_and_buffer_roles_are_checked() {
    // A value defined in a loop body and used after the loop.
    let mut kb = KernelBuilder::new();
    let lp = kb.lp();
    let mut body = Vec::new();
    let v = kb.let_(
        &mut body,
        ScalarType::F32,
        Expr::Load {
            buf: BufId(0),
            index: at(lp, 1),
        },
    );
    let k = Kernel {
        name: "scope".into(),
        buffers: vec![
            decl(DType::F32, 2, BufferKind::Input),
            decl(DType::F32, 2, BufferKind::Output),
        ],
        body: vec![
            Stmt::Loop {
                id: lp,
                extent: 2,
                parallel: false,
                body,
            },
            Stmt::Store {
                buf: BufId(1),
                index: Index::constant(0),
                value: v,
            },
        ],
    };
    assert!(message(check(&k)).contains("v0 is used outside the block that defines it"));
    // A store to an input, a use before definition, a redefinition.
    let mut k2 = k.clone();
    k2.body.pop();
    k2.body.push(Stmt::Store {
        buf: BufId(0),
        index: Index::constant(0),
        value: ValueId(9),
    });
    assert!(message(check(&k2)).contains("store to b0: the buffer is an input"));
    k2.body.pop();
    k2.body.push(Stmt::Store {
        buf: BufId(1),
        index: Index::constant(0),
        value: ValueId(9),
    });
    assert!(message(check(&k2)).contains("v9 is used before it is defined"));
    k2.body.pop();
    k2.body.push(Stmt::Let {
        value: v,
        ty: ScalarType::Index,
        expr: Expr::Const(Const::Index(0)),
    });
    assert!(message(check(&k2)).contains("v0 is defined twice"));
    // A loop variable in an index outside its loop.
    k2.body.pop();
    let load = Expr::Load {
        buf: BufId(0),
        index: at(lp, 1),
    };
    k2.body.push(Stmt::Let {
        value: ValueId(5),
        ty: ScalarType::F32,
        expr: load,
    });
    assert!(message(check(&k2)).contains("index term on i0, which is not an enclosing loop"));
    // Buffers that do not match the declarations.
    let ok = elementwise(&[DType::F32], DType::F32, 3, |_, _, v| v[0]);
    let mut bufs = vec![Data::F32(vec![0.0; 3]), Data::F64(vec![0.0; 3])];
    assert!(message(run_kernel(&ok, &mut bufs))
        .contains("buffer b1 is f64[3], the kernel declares f32[3]"));
}

#[test]
fn program_argument_mismatches_are_errors() {
    let pb = ProgramBuffer {
        dtype: DType::F32,
        shape: vec![2],
        source: BufferSource::Argument(0),
    };
    let program = Program {
        buffers: vec![pb],
        steps: vec![],
        outputs: vec![BufferRef(0)],
    };
    let good = HostBuffer::from_vec(vec![1.0f32, 2.0], &[2]).expect("arg");
    assert_eq!(
        run_program(&program, std::slice::from_ref(&good)).expect("identity"),
        vec![good]
    );
    let bad = HostBuffer::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).expect("arg");
    let err = run_program(&program, &[bad]).expect_err("shape mismatch");
    assert_eq!(
        err.to_string(),
        "program: argument 0 is f32[3], expected f32[2]"
    );
    let err = run_program(&program, &[]).expect_err("missing argument");
    assert!(err
        .to_string()
        .contains("buffer 0 is argument 0, but 0 arguments were passed"));
}
