//! One small program per primitive (in several dtypes and shapes, plus a
//! few large ones for the two-pass reduction and 64-bit indexing paths),
//! built as the eager path builds them: one equation over fresh inputs.
//! Control-flow primitives contribute the jaxprs of their branches and
//! bodies, which the runtime launches from the host.

use rjax_ir::{AVal, Atom, ClosedJaxpr, DType, JaxprBuilder, Primitive as P, ScatterKind, Var};
use std::sync::Arc;
use DType::{Bool, F32, F64, I32, U32};

/// A named program to compile.
pub struct Case {
    /// What it exercises.
    pub name: String,
    /// The program.
    pub jaxpr: ClosedJaxpr,
}

/// A closed jaxpr over inputs `ins` whose outputs `f` builds.
pub fn build(ins: &[AVal], f: impl FnOnce(&mut JaxprBuilder, &[Var]) -> Vec<Atom>) -> ClosedJaxpr {
    let mut b = JaxprBuilder::new();
    let xs: Vec<Var> = ins.iter().map(|a| b.new_var(a.clone())).collect();
    let outs = f(&mut b, &xs);
    let jaxpr = b.build(vec![], xs, outs).expect("test jaxpr builds");
    ClosedJaxpr::new(jaxpr, vec![])
}

/// `prim` applied to fresh inputs of `ins` (every result is an output).
pub fn single(prim: P, ins: &[(DType, &[usize])]) -> ClosedJaxpr {
    let avals: Vec<AVal> = ins.iter().map(|(d, s)| AVal::new(*d, s)).collect();
    build(&avals, |b, xs| {
        let args = xs.iter().map(|x| Atom::Var(*x)).collect();
        let outs = b
            .add_eqn(prim.clone(), args, None)
            .unwrap_or_else(|e| panic!("{}: {e}", prim.name()));
        outs.into_iter().map(Atom::Var).collect()
    })
}

fn case(name: impl Into<String>, jaxpr: ClosedJaxpr) -> Case {
    Case {
        name: name.into(),
        jaxpr,
    }
}

const FLOAT_UNARY: [P; 19] = [
    P::Neg,
    P::Exp,
    P::Log,
    P::Log1p,
    P::Expm1,
    P::Sin,
    P::Cos,
    P::Tanh,
    P::Logistic,
    P::Sqrt,
    P::Rsqrt,
    P::Abs,
    P::Sign,
    P::Floor,
    P::Ceil,
    P::Round,
    P::Erf,
    P::IsFinite,
    P::StopGradient,
];

const ARITH: [P; 7] = [P::Add, P::Sub, P::Mul, P::Div, P::Rem, P::Max, P::Min];
const COMPARE: [P; 6] = [P::Eq, P::Ne, P::Lt, P::Le, P::Gt, P::Ge];
const DTYPES: [DType; 5] = [F32, F64, I32, U32, Bool];

/// Elementwise primitives over every dtype they accept.
fn elementwise() -> Vec<Case> {
    let mut out = Vec::new();
    let sh: &[usize] = &[3, 5];
    for d in [F32, F64] {
        for p in FLOAT_UNARY {
            out.push(case(format!("{} {d}", p.name()), single(p, &[(d, sh)])));
        }
        out.push(case(
            format!("pow {d}"),
            single(P::Pow, &[(d, sh), (d, sh)]),
        ));
    }
    for d in [I32, U32] {
        for p in [P::Neg, P::Abs, P::Sign, P::Not] {
            out.push(case(format!("{} {d}", p.name()), single(p, &[(d, sh)])));
        }
    }
    out.push(case("not bool", single(P::Not, &[(Bool, sh)])));
    for d in [F32, F64, I32, U32] {
        for p in ARITH.iter().chain(&COMPARE) {
            let name = format!("{} {d}", p.name());
            out.push(case(name, single(p.clone(), &[(d, sh), (d, sh)])));
        }
    }
    for d in [I32, U32, Bool] {
        for p in [P::And, P::Or, P::Xor] {
            let name = format!("{} {d}", p.name());
            out.push(case(name, single(p, &[(d, sh), (d, sh)])));
        }
    }
    for p in [P::Eq, P::Ne] {
        let name = format!("{} bool", p.name());
        out.push(case(name, single(p, &[(Bool, sh), (Bool, sh)])));
    }
    for d in DTYPES {
        let name = format!("select {d}");
        out.push(case(
            name,
            single(P::Select, &[(Bool, sh), (d, sh), (d, sh)]),
        ));
        for to in DTYPES {
            let p = P::ConvertElementType { new_dtype: to };
            out.push(case(format!("convert {d} -> {to}"), single(p, &[(d, sh)])));
        }
    }
    // a scalar and a 64-bit-indexed size (planned and emitted, never run)
    out.push(case(
        "add f32 scalar",
        single(P::Add, &[(F32, &[]), (F32, &[])]),
    ));
    let huge: &[usize] = &[(1 << 31) + 3];
    out.push(case(
        "add f32 2^31+3",
        single(P::Add, &[(F32, huge), (F32, huge)]),
    ));
    out
}

/// Layout primitives.
fn layout() -> Vec<Case> {
    let sh: &[usize] = &[2, 3, 4];
    let mut out = vec![
        case(
            "broadcast_in_dim",
            single(
                P::BroadcastInDim {
                    shape: [4, 3].as_slice().into(),
                    broadcast_dimensions: vec![1],
                },
                &[(F32, &[3])],
            ),
        ),
        case(
            "reshape",
            single(
                P::Reshape {
                    new_sizes: [6, 4].as_slice().into(),
                },
                &[(F64, sh)],
            ),
        ),
        case(
            "transpose",
            single(
                P::Transpose {
                    permutation: vec![2, 0, 1],
                },
                &[(I32, sh)],
            ),
        ),
        case(
            "slice",
            single(
                P::Slice {
                    start: vec![0, 1, 1],
                    limit: vec![2, 3, 4],
                    strides: vec![1, 2, 2],
                },
                &[(F32, sh)],
            ),
        ),
        case(
            "pad",
            single(
                P::Pad {
                    low: vec![1, -1],
                    high: vec![0, 2],
                    interior: vec![1, 0],
                },
                &[(F32, &[3, 4]), (F32, &[])],
            ),
        ),
        case("rev", single(P::Rev { axes: vec![0, 2] }, &[(Bool, sh)])),
        case(
            "dynamic_slice",
            single(
                P::DynamicSlice {
                    slice_sizes: vec![1, 2],
                },
                &[(F32, &[3, 4]), (I32, &[]), (U32, &[])],
            ),
        ),
        case(
            "dynamic_update_slice",
            single(
                P::DynamicUpdateSlice,
                &[(F64, &[3, 4]), (F64, &[1, 3]), (I32, &[]), (I32, &[])],
            ),
        ),
    ];
    for d in DTYPES {
        out.push(case(
            format!("concatenate {d}"),
            single(
                P::Concatenate { axis: 1 },
                &[(d, &[2, 3]), (d, &[2, 1]), (d, &[2, 2])],
            ),
        ));
    }
    for d in [F32, F64, I32, U32] {
        out.push(case(
            format!("iota {d}"),
            single(
                P::Iota {
                    dtype: d,
                    shape: [3, 4].as_slice().into(),
                    dimension: 1,
                },
                &[],
            ),
        ));
    }
    out
}

/// Reductions, scans and products.
fn reductions() -> Vec<Case> {
    let mut out = Vec::new();
    for d in [F32, F64, I32, U32] {
        for axes in [vec![0], vec![1], vec![0, 1]] {
            for p in [
                P::ReduceSum { axes: axes.clone() },
                P::ReduceMax { axes: axes.clone() },
                P::ReduceMin { axes: axes.clone() },
                P::ReduceProd { axes: axes.clone() },
            ] {
                let name = format!("{} {d} {axes:?}", p.name());
                out.push(case(name, single(p, &[(d, &[7, 5])])));
            }
        }
        for (axis, index_dtype) in [(0, I32), (1, U32)] {
            for p in [
                P::ArgMax { axis, index_dtype },
                P::ArgMin { axis, index_dtype },
            ] {
                let name = format!("{} {d} axis {axis}", p.name());
                out.push(case(name, single(p, &[(d, &[4, 6])])));
            }
        }
        for (axis, reverse) in [(0, false), (1, true)] {
            let p = P::Cumsum { axis, reverse };
            let name = format!("cumsum {d} axis {axis} reverse {reverse}");
            out.push(case(name, single(p, &[(d, &[4, 6])])));
        }
    }
    // two-pass sizes
    for d in [F32, F64, I32] {
        let p = P::ReduceSum { axes: vec![0] };
        out.push(case(
            format!("reduce_sum {d} 2^20"),
            single(p, &[(d, &[1 << 20])]),
        ));
        let p = P::ReduceMax { axes: vec![0, 1] };
        out.push(case(
            format!("reduce_max {d} 2^10x2^9"),
            single(p, &[(d, &[1 << 10, 1 << 9])]),
        ));
    }
    // dot_general: a GEMM step for floats, a kernel for integers
    for d in [F32, F64, I32, U32] {
        let p = P::DotGeneral {
            lhs_contract: vec![2],
            rhs_contract: vec![1],
            lhs_batch: vec![0],
            rhs_batch: vec![0],
        };
        let name = format!("dot_general {d}");
        out.push(case(name, single(p, &[(d, &[2, 3, 4]), (d, &[2, 4, 5])])));
    }
    out
}

/// Indexing, random bits and higher-order primitives.
fn others() -> Vec<Case> {
    let mut out = Vec::new();
    for d in [F32, Bool] {
        out.push(case(
            format!("gather {d}"),
            single(P::Gather { axis: 1 }, &[(d, &[3, 5]), (I32, &[2, 2])]),
        ));
    }
    for kind in [
        ScatterKind::Set,
        ScatterKind::Add,
        ScatterKind::Mul,
        ScatterKind::Min,
        ScatterKind::Max,
    ] {
        for d in [F32, F64, I32, U32] {
            let p = P::Scatter { axis: 0, kind };
            let name = format!("scatter {} {d}", kind.name());
            out.push(case(
                name,
                single(p, &[(d, &[5, 3]), (I32, &[8]), (d, &[8, 3])]),
            ));
        }
    }
    for shape in [&[37][..], &[4, 8], &[]] {
        let p = P::RandomBits {
            shape: shape.into(),
        };
        out.push(case(
            format!("random_bits {shape:?}"),
            single(p, &[(U32, &[8])]),
        ));
    }
    let f = Arc::new(single(P::Exp, &[(F32, &[3])]));
    let g = Arc::new(single(P::Neg, &[(F32, &[3])]));
    for p in [
        P::Call {
            jaxpr: f.clone(),
            name: "f".into(),
        },
        P::CustomJvpCall {
            call: f.clone(),
            jvp: g.clone(),
        },
        P::CustomVjpCall {
            call: f.clone(),
            fwd: f.clone(),
            bwd: g.clone(),
            num_outputs: 1,
        },
    ] {
        out.push(case(p.name(), single(p, &[(F32, &[3])])));
    }
    out
}

/// Control-flow primitives run their loops on the host and launch the
/// programs of their branches and bodies: those, per primitive.
fn control_flow() -> Vec<Case> {
    let counter = |p: P| {
        build(&[AVal::new(I32, &[])], |b, xs| {
            let one = Atom::Lit(rjax_ir::Scalar::I32(1));
            let ten = Atom::Lit(rjax_ir::Scalar::I32(10));
            let y = b
                .add_eqn(
                    p.clone(),
                    vec![Atom::Var(xs[0]), if p == P::Lt { ten } else { one }],
                    None,
                )
                .expect("counter");
            vec![Atom::Var(y[0])]
        })
    };
    let step = build(&[AVal::new(F32, &[3]), AVal::new(F32, &[3])], |b, xs| {
        let s = b
            .add_eqn(P::Add, vec![Atom::Var(xs[0]), Atom::Var(xs[1])], None)
            .expect("carry");
        let r = b
            .add_eqn(P::ReduceSum { axes: vec![0] }, vec![Atom::Var(s[0])], None)
            .expect("out");
        vec![Atom::Var(s[0]), Atom::Var(r[0])]
    });
    vec![
        case("cond branch 0", single(P::Neg, &[(F32, &[2])])),
        case("cond branch 1", single(P::Exp, &[(F32, &[2])])),
        case("while cond", counter(P::Lt)),
        case("while body", counter(P::Add)),
        case("scan body", step),
    ]
}

/// A program using `custom_lin`, which exists only inside `linearize`
/// and is never compiled.
pub fn custom_lin() -> ClosedJaxpr {
    let bwd = build(&[AVal::new(F32, &[]), AVal::new(F32, &[2])], |_, xs| {
        vec![Atom::Var(xs[1])]
    });
    let p = P::CustomLin {
        bwd: Arc::new(bwd),
        num_residuals: 1,
    };
    single(p, &[(F32, &[]), (F32, &[2])])
}

/// Every case, and the names of the primitives they cover (control-flow
/// primitives by their sub-programs).
pub fn all() -> Vec<Case> {
    let mut out = elementwise();
    out.extend(layout());
    out.extend(reductions());
    out.extend(others());
    out.extend(control_flow());
    out
}
