//! One or a few equations per primitive, in several shapes (rank 0,
//! zero-size dimensions) and dtypes, planned and run against the reference
//! interpreter.

use super::harness::{av, build, check, check_with, eqn, lit, random, v, Rng};
use rjax_codegen::fusion::plan;
use rjax_ir::{
    Atom, ClosedJaxpr, DType, Data, Error, HostBuffer, JaxprBuilder, Primitive as P, Scalar,
    ScatterKind, Var,
};
use std::collections::BTreeSet;
use std::sync::Arc;
use DType::{Bool, F32, F64, I32, U32};

/// One differential case.
pub struct Case {
    pub name: String,
    pub jaxpr: ClosedJaxpr,
    /// Inputs; random when `None`.
    pub args: Option<Vec<HostBuffer>>,
}

fn case(name: impl Into<String>, jaxpr: ClosedJaxpr) -> Case {
    Case {
        name: name.into(),
        jaxpr,
        args: None,
    }
}

fn run(cases: Vec<Case>) {
    assert!(!cases.is_empty());
    for c in cases {
        match &c.args {
            Some(args) => check_with(&c.name, &c.jaxpr, args),
            None => check(&c.name, &c.jaxpr),
        };
    }
}

/// `prim` applied to fresh inputs of `ins`.
fn single(prim: P, ins: &[(DType, &[usize])]) -> ClosedJaxpr {
    let avals: Vec<_> = ins.iter().map(|(d, s)| av(*d, s)).collect();
    build(&avals, |b, xs| {
        let args: Vec<Atom> = xs.iter().map(|x| v(*x)).collect();
        vec![v(eqn(b, prim, &args))]
    })
}

const SHAPES: [&[usize]; 5] = [&[], &[7], &[3, 5], &[0, 4], &[2, 3, 4]];

fn unary_cases() -> Vec<Case> {
    let floats = super::prim_lists::FLOAT_UNARY;
    let mut out = Vec::new();
    for p in floats {
        for d in [F32, F64] {
            for s in SHAPES {
                out.push(case(
                    format!("{} {d} {s:?}", p.name()),
                    single(p.clone(), &[(d, s)]),
                ));
            }
        }
    }
    for (p, ds) in [
        (P::Neg, [I32, U32]),
        (P::Abs, [I32, U32]),
        (P::Sign, [I32, U32]),
        (P::Not, [I32, U32]),
    ] {
        for d in ds {
            out.push(case(
                format!("{} {d}", p.name()),
                single(p.clone(), &[(d, &[3, 4])]),
            ));
        }
    }
    out.push(case("not bool", single(P::Not, &[(Bool, &[6])])));
    out
}

fn binary_cases() -> Vec<Case> {
    let numbers = [
        P::Add,
        P::Sub,
        P::Mul,
        P::Div,
        P::Rem,
        P::Max,
        P::Min,
        P::Eq,
        P::Ne,
        P::Lt,
        P::Le,
        P::Gt,
        P::Ge,
    ];
    let mut out = Vec::new();
    for p in numbers {
        for d in [F32, F64, I32, U32] {
            out.push(case(
                format!("{} {d}", p.name()),
                single(p.clone(), &[(d, &[3, 4]), (d, &[3, 4])]),
            ));
            out.push(case(
                format!("{} {d} scalar", p.name()),
                single(p.clone(), &[(d, &[3, 4]), (d, &[])]),
            ));
        }
    }
    for d in [F32, F64] {
        out.push(case(
            format!("pow {d}"),
            single(P::Pow, &[(d, &[2, 5]), (d, &[2, 5])]),
        ));
    }
    for p in [P::And, P::Or, P::Xor, P::Eq, P::Ne] {
        for d in [I32, U32, Bool] {
            out.push(case(
                format!("{} {d}", p.name()),
                single(p.clone(), &[(d, &[]), (d, &[6])]),
            ));
        }
    }
    // Unsigned division and remainder by a literal power of two compile to
    // a shift and a mask; 3 keeps the general path in the comparison.
    let mut rng = Rng::new(11);
    let mut wide: Vec<u32> = vec![0, 1, 2, 3, 511, 512, 513, (1 << 31) - 1, 1 << 31, u32::MAX];
    wide.extend((0..57).map(|_| rng.next() as u32));
    let n = wide.len();
    let wide = HostBuffer::new(Data::U32(wide), &[n]).expect("u32 inputs");
    for d in [1u32, 2, 512, 1 << 31, 3] {
        for p in [P::Div, P::Rem] {
            let mut c = case(
                format!("{} u32 by literal {d}", p.name()),
                build(&[av(U32, &[n])], |b, xs| {
                    vec![v(eqn(b, p.clone(), &[v(xs[0]), Atom::Lit(Scalar::U32(d))]))]
                }),
            );
            c.args = Some(vec![wide.clone()]);
            out.push(c);
        }
    }
    out.push(case(
        "literal operands",
        build(&[av(F32, &[4])], |b, xs| {
            let y = eqn(b, P::Mul, &[lit(0.5), v(xs[0])]);
            vec![v(eqn(b, P::Sub, &[v(y), lit(-2.0)]))]
        }),
    ));
    out
}

fn other_elementwise_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for d in [F32, I32, Bool] {
        out.push(case(
            format!("select {d}"),
            single(P::Select, &[(Bool, &[3, 4]), (d, &[3, 4]), (d, &[3, 4])]),
        ));
        out.push(case(
            format!("select {d} scalars"),
            single(P::Select, &[(Bool, &[]), (d, &[3, 4]), (d, &[])]),
        ));
    }
    for from in DType::ALL {
        for to in DType::ALL {
            let p = P::ConvertElementType { new_dtype: to };
            out.push(case(
                format!("convert {from} {to}"),
                single(p, &[(from, &[9])]),
            ));
        }
    }
    out
}

fn shape_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let bcast = |shape: &[usize], dims: &[usize]| P::BroadcastInDim {
        shape: shape.into(),
        broadcast_dimensions: dims.to_vec(),
    };
    for (from, to, dims) in [
        (&[3][..], &[2, 3][..], &[1][..]),
        (&[3, 1], &[3, 4], &[0, 1]),
        (&[], &[2, 2], &[]),
        (&[1], &[0, 5], &[1]),
        (&[2, 1, 3], &[2, 4, 5, 3], &[0, 1, 3]),
    ] {
        out.push(case(
            format!("broadcast {from:?} {to:?}"),
            single(bcast(to, dims), &[(F32, from)]),
        ));
    }
    for (from, to) in [
        (&[2, 3, 4][..], &[6, 4][..]),
        (&[2, 3, 4], &[4, 6]),
        (&[2, 3, 4], &[24]),
        (&[24], &[2, 3, 4]),
        (&[2, 3, 4], &[3, 8]),
        (&[1, 6], &[6, 1]),
        (&[0, 3], &[3, 0]),
        (&[], &[1, 1]),
    ] {
        let p = P::Reshape {
            new_sizes: to.into(),
        };
        out.push(case(
            format!("reshape {from:?} {to:?}"),
            single(p, &[(I32, from)]),
        ));
    }
    for perm in [&[1, 0, 2][..], &[2, 0, 1], &[0, 1, 2], &[2, 1, 0]] {
        let p = P::Transpose {
            permutation: perm.to_vec(),
        };
        out.push(case(
            format!("transpose {perm:?}"),
            single(p, &[(F32, &[2, 3, 4])]),
        ));
    }
    out.push(case(
        "transpose rank 0",
        single(
            P::Transpose {
                permutation: vec![],
            },
            &[(F32, &[])],
        ),
    ));
    out
}

fn reduction_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let make = |k: usize, axes: &[usize]| match k {
        0 => P::ReduceSum {
            axes: axes.to_vec(),
        },
        1 => P::ReduceMax {
            axes: axes.to_vec(),
        },
        2 => P::ReduceMin {
            axes: axes.to_vec(),
        },
        _ => P::ReduceProd {
            axes: axes.to_vec(),
        },
    };
    for k in 0..4 {
        for d in [F32, F64, I32, U32] {
            for (shape, axes) in [
                (&[3, 4, 5][..], &[0][..]),
                (&[3, 4, 5], &[1]),
                (&[3, 4, 5], &[2]),
                (&[3, 4, 5], &[0, 2]),
                (&[3, 4, 5], &[0, 1, 2]),
                (&[3, 4, 5], &[]),
                (&[0, 3], &[0]),
                (&[4, 0], &[1]),
                (&[], &[]),
            ] {
                let p = make(k, axes);
                out.push(case(
                    format!("{} {d} {shape:?} {axes:?}", p.name()),
                    single(p, &[(d, shape)]),
                ));
            }
        }
    }
    for max in [true, false] {
        for d in [F32, F64, I32, U32] {
            for (shape, axis) in [(&[5, 6][..], 0), (&[5, 6], 1), (&[7], 0), (&[1, 3], 0)] {
                for index_dtype in [I32, U32] {
                    let p = if max {
                        P::ArgMax { axis, index_dtype }
                    } else {
                        P::ArgMin { axis, index_dtype }
                    };
                    let name = format!("{} {d} {shape:?} {axis} {index_dtype}", p.name());
                    out.push(case(name, single(p, &[(d, shape)])));
                }
            }
        }
    }
    for d in [F32, I32] {
        for (shape, axis) in [(&[4, 5][..], 0), (&[4, 5], 1), (&[6], 0), (&[0, 2], 1)] {
            for reverse in [false, true] {
                let p = P::Cumsum { axis, reverse };
                out.push(case(
                    format!("cumsum {d} {shape:?} {axis} {reverse}"),
                    single(p, &[(d, shape)]),
                ));
            }
        }
    }
    out
}

fn dot(lc: &[usize], rc: &[usize], lb: &[usize], rb: &[usize]) -> P {
    P::DotGeneral {
        lhs_contract: lc.to_vec(),
        rhs_contract: rc.to_vec(),
        lhs_batch: lb.to_vec(),
        rhs_batch: rb.to_vec(),
    }
}

fn dot_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let shapes: [(&[usize], &[usize], P); 9] = [
        (&[3, 4], &[4, 5], dot(&[1], &[0], &[], &[])),
        (&[4, 3], &[4, 5], dot(&[0], &[0], &[], &[])),
        (&[3, 4], &[5, 4], dot(&[1], &[1], &[], &[])),
        (&[2, 3, 4], &[2, 4, 5], dot(&[2], &[1], &[0], &[0])),
        (&[3, 2, 4], &[4, 5, 2], dot(&[2], &[0], &[1], &[2])),
        (&[2, 3, 4], &[4, 2], dot(&[0, 2], &[1, 0], &[], &[])),
        (&[4], &[4], dot(&[0], &[0], &[], &[])),
        (&[3], &[4], dot(&[], &[], &[], &[])),
        (&[3, 0], &[0, 4], dot(&[1], &[0], &[], &[])),
    ];
    for (l, r, p) in shapes {
        for d in [F32, F64, I32] {
            out.push(case(
                format!("dot {d} {l:?} {r:?} {p:?}"),
                single(p.clone(), &[(d, l), (d, r)]),
            ));
        }
    }
    // Operands reached through transposes and reshapes, and a transposed result.
    out.push(case(
        "dot through transpose and reshape",
        build(&[av(F32, &[4, 3]), av(F32, &[2, 2, 5])], |b, xs| {
            let xt = eqn(
                b,
                P::Transpose {
                    permutation: vec![1, 0],
                },
                &[v(xs[0])],
            );
            let y = eqn(
                b,
                P::Reshape {
                    new_sizes: [4, 5][..].into(),
                },
                &[v(xs[1])],
            );
            let z = eqn(b, dot(&[1], &[0], &[], &[]), &[v(xt), v(y)]);
            vec![v(eqn(
                b,
                P::Transpose {
                    permutation: vec![1, 0],
                },
                &[v(z)],
            ))]
        }),
    ));
    out.push(case(
        "dot of fused operands",
        build(&[av(F32, &[3, 4]), av(F32, &[4])], |b, xs| {
            let e = eqn(b, P::Exp, &[v(xs[0])]);
            let bc = P::BroadcastInDim {
                shape: [4, 2][..].into(),
                broadcast_dimensions: vec![0],
            };
            let w = eqn(b, bc, &[v(xs[1])]);
            vec![v(eqn(b, dot(&[1], &[0], &[], &[]), &[v(e), v(w)]))]
        }),
    ));
    out
}

fn slicing_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let sl = |start: &[usize], limit: &[usize], strides: &[usize]| P::Slice {
        start: start.to_vec(),
        limit: limit.to_vec(),
        strides: strides.to_vec(),
    };
    out.push(case(
        "slice",
        single(sl(&[1, 2], &[4, 6], &[1, 2]), &[(F32, &[5, 6])]),
    ));
    out.push(case(
        "slice strided",
        single(sl(&[0, 1], &[5, 6], &[2, 3]), &[(I32, &[5, 6])]),
    ));
    out.push(case(
        "slice empty",
        single(sl(&[2, 0], &[2, 6], &[1, 1]), &[(F32, &[5, 6])]),
    ));
    let pad = |low: &[i64], high: &[i64], interior: &[usize]| P::Pad {
        low: low.to_vec(),
        high: high.to_vec(),
        interior: interior.to_vec(),
    };
    for (shape, p) in [
        (&[3, 4][..], pad(&[1, -1], &[2, 1], &[0, 1])),
        (&[3, 4], pad(&[0, 0], &[0, 0], &[0, 0])),
        (&[3, 4], pad(&[-1, 2], &[-1, -2], &[0, 2])),
        (&[0, 3], pad(&[1, 1], &[1, 0], &[0, 0])),
        (&[5], pad(&[2], &[3], &[1])),
    ] {
        out.push(case(
            format!("pad {shape:?} {p:?}"),
            single(p.clone(), &[(F32, shape), (F32, &[])]),
        ));
    }
    out.push(case(
        "pad literal",
        build(&[av(I32, &[4])], |b, xs| {
            vec![v(eqn(
                b,
                pad(&[1], &[2], &[0]),
                &[v(xs[0]), Atom::Lit(Scalar::I32(7))],
            ))]
        }),
    ));
    out.push(case(
        "concat axis 1",
        single(
            P::Concatenate { axis: 1 },
            &[(F32, &[2, 3]), (F32, &[2, 0]), (F32, &[2, 2])],
        ),
    ));
    out.push(case(
        "concat axis 0",
        single(
            P::Concatenate { axis: 0 },
            &[(I32, &[1, 3]), (I32, &[2, 3])],
        ),
    ));
    out.push(case(
        "concat one",
        single(P::Concatenate { axis: 0 }, &[(F32, &[4])]),
    ));
    out.push(case(
        "concat one nonempty",
        single(P::Concatenate { axis: 0 }, &[(F32, &[0]), (F32, &[3])]),
    ));
    for axes in [&[0, 1][..], &[1], &[]] {
        out.push(case(
            format!("rev {axes:?}"),
            single(
                P::Rev {
                    axes: axes.to_vec(),
                },
                &[(F32, &[3, 4])],
            ),
        ));
    }
    // dynamic_slice / dynamic_update_slice with in- and out-of-range starts.
    let mut rng = Rng::new(3);
    for (i, starts) in [[1i32, 2], [-3, 9], [4, 0], [0, 3]].into_iter().enumerate() {
        let x = random(&av(F32, &[5, 6]), &mut rng, false);
        let u = random(&av(F32, &[2, 3]), &mut rng, false);
        let s: Vec<HostBuffer> = starts
            .iter()
            .map(|&k| HostBuffer::scalar(Scalar::I32(k)))
            .collect();
        let ds = single(
            P::DynamicSlice {
                slice_sizes: vec![2, 3],
            },
            &[(F32, &[5, 6]), (I32, &[]), (I32, &[])],
        );
        out.push(Case {
            name: format!("dynamic_slice {starts:?}"),
            jaxpr: ds,
            args: Some(vec![x.clone(), s[0].clone(), s[1].clone()]),
        });
        let dus = single(
            P::DynamicUpdateSlice,
            &[(F32, &[5, 6]), (F32, &[2, 3]), (I32, &[]), (I32, &[])],
        );
        out.push(Case {
            name: format!("dynamic_update_slice {starts:?} {i}"),
            jaxpr: dus,
            args: Some(vec![x, u, s[0].clone(), s[1].clone()]),
        });
    }
    out.push(case(
        "dynamic_slice u32 full",
        single(
            P::DynamicSlice {
                slice_sizes: vec![3],
            },
            &[(F32, &[3]), (U32, &[])],
        ),
    ));
    out
}

fn indexing_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (xs, is, axis) in [
        (&[5, 3][..], &[4][..], 0),
        (&[3, 5], &[2, 2], 1),
        (&[5], &[], 0),
        (&[4, 1], &[3], 1),
    ] {
        for d in [F32, Bool] {
            out.push(case(
                format!("gather {d} {xs:?} {is:?} {axis}"),
                single(P::Gather { axis }, &[(d, xs), (I32, is)]),
            ));
        }
    }
    out.push(case(
        "gather u32",
        single(P::Gather { axis: 0 }, &[(F32, &[6]), (U32, &[3, 2])]),
    ));
    out.push(case(
        "gather empty result",
        single(P::Gather { axis: 0 }, &[(F32, &[0, 2]), (I32, &[0])]),
    ));
    for kind in super::prim_lists::SCATTER_KINDS {
        for (xs, is, us, axis) in [
            (&[5, 3][..], &[8][..], &[8, 3][..], 0),
            (&[3, 4], &[2, 3], &[3, 2, 3], 1),
            (&[4], &[], &[], 0),
        ] {
            let p = P::Scatter { axis, kind };
            let name = format!("scatter {} {xs:?} {is:?}", kind.name());
            out.push(case(name, single(p, &[(F32, xs), (I32, is), (F32, us)])));
        }
        out.push(case(
            format!("scatter {} i32", kind.name()),
            single(
                P::Scatter { axis: 0, kind },
                &[(I32, &[6]), (U32, &[9]), (I32, &[9])],
            ),
        ));
    }
    out.push(case(
        "scatter set bool",
        single(
            P::Scatter {
                axis: 0,
                kind: ScatterKind::Set,
            },
            &[(Bool, &[4]), (I32, &[6]), (Bool, &[6])],
        ),
    ));
    for d in [I32, U32, F32, F64] {
        for dimension in [0, 1] {
            let p = P::Iota {
                dtype: d,
                shape: [3, 4][..].into(),
                dimension,
            };
            out.push(case(format!("iota {d} {dimension}"), single(p, &[])));
        }
    }
    out
}

fn random_bits_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let keys: [[u32; 8]; 3] = [
        [0; 8],
        [1, 2, 3, 4, 5, 6, 7, 8],
        [0xdead_beef, 42, u32::MAX, 7, 0, 1 << 31, 99, 12345],
    ];
    for (k, key) in keys.iter().enumerate() {
        for shape in [&[5][..], &[16], &[37], &[4, 8], &[0], &[]] {
            let p = P::RandomBits {
                shape: shape.into(),
            };
            let key = HostBuffer::from_vec(key.to_vec(), &[8]).expect("key");
            out.push(Case {
                name: format!("random_bits key {k} {shape:?}"),
                jaxpr: single(p, &[(U32, &[8])]),
                args: Some(vec![key]),
            });
        }
    }
    out
}

/// A closed jaxpr `f(x) = x * 2 + c` with a constant `c`.
fn callee() -> Arc<ClosedJaxpr> {
    let c = HostBuffer::from_vec(vec![1.0f32, -2.0, 0.5], &[3]).expect("const");
    Arc::new(super::harness::build_with_consts(
        &[c],
        &[av(F32, &[3])],
        |b, cs, xs| {
            let y = eqn(b, P::Mul, &[v(xs[0]), lit(2.0)]);
            vec![v(eqn(b, P::Add, &[v(y), v(cs[0])]))]
        },
    ))
}

fn higher_order_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let f = callee();
    let wrap = |prim: P| {
        build(&[av(F32, &[3])], |b: &mut JaxprBuilder, xs: &[Var]| {
            let s = eqn(b, P::StopGradient, &[v(xs[0])]);
            let y = eqn(b, prim, &[v(s)]);
            vec![v(eqn(b, P::Exp, &[v(y)])), v(y)]
        })
    };
    out.push(case(
        "call",
        wrap(P::Call {
            jaxpr: f.clone(),
            name: "f".into(),
        }),
    ));
    out.push(case(
        "custom_jvp_call",
        wrap(P::CustomJvpCall {
            call: f.clone(),
            jvp: f.clone(),
        }),
    ));
    out.push(case(
        "custom_vjp_call",
        wrap(P::CustomVjpCall {
            call: f.clone(),
            fwd: f.clone(),
            bwd: f.clone(),
            num_outputs: 1,
        }),
    ));
    let nested = Arc::new(build(&[av(F32, &[3])], |b, xs| {
        vec![v(eqn(
            b,
            P::Call {
                jaxpr: f.clone(),
                name: "f".into(),
            },
            &[v(xs[0])],
        ))]
    }));
    out.push(case(
        "nested call",
        wrap(P::Call {
            jaxpr: nested,
            name: "g".into(),
        }),
    ));
    out.push(case(
        "outputs: input, literal, repeat",
        build(&[av(F32, &[2])], |b, xs| {
            let y = eqn(b, P::Neg, &[v(xs[0])]);
            vec![v(xs[0]), lit(3.0), v(y), v(y), v(xs[0])]
        }),
    ));
    out
}

#[test]
fn unary() {
    run(unary_cases());
}

#[test]
fn binary() {
    run(binary_cases());
}

#[test]
fn select_and_convert() {
    run(other_elementwise_cases());
}

#[test]
fn shapes() {
    run(shape_cases());
}

#[test]
fn reductions() {
    run(reduction_cases());
}

#[test]
fn dots() {
    run(dot_cases());
}

#[test]
fn slicing() {
    run(slicing_cases());
}

#[test]
fn indexing() {
    run(indexing_cases());
}

#[test]
fn random_bits_match_the_reference() {
    run(random_bits_cases());
}

#[test]
fn higher_order() {
    run(higher_order_cases());
}

#[test]
fn unsupported_primitives_say_so() {
    let body = Arc::new(build(&[av(I32, &[])], |b, xs| {
        vec![v(eqn(b, P::Neg, &[v(xs[0])]))]
    }));
    let j = single(
        P::CustomLin {
            bwd: body,
            num_residuals: 0,
        },
        &[(I32, &[])],
    );
    let err = plan(&j).expect_err("custom_lin");
    assert_eq!(
        err,
        Error::NotYetSupported {
            prim: "custom_lin",
            rule: "kernel lowering"
        }
    );
}

/// One case per control-flow primitive, on inputs that keep the `while`
/// short (more in `tests/control_flow.rs`).
fn control_flow_cases() -> Vec<Case> {
    let body = Arc::new(build(&[av(I32, &[])], |b, xs| {
        vec![v(eqn(b, P::Add, &[v(xs[0]), Atom::Lit(Scalar::I32(2))]))]
    }));
    let neg = Arc::new(build(&[av(I32, &[])], |b, xs| {
        vec![v(eqn(b, P::Neg, &[v(xs[0])]))]
    }));
    let cond = Arc::new(build(&[av(I32, &[])], |b, xs| {
        vec![v(eqn(b, P::Lt, &[v(xs[0]), Atom::Lit(Scalar::I32(7))]))]
    }));
    let scalar = |x: i32| HostBuffer::scalar(Scalar::I32(x));
    let with = |name: &str, jaxpr: ClosedJaxpr, args: Vec<HostBuffer>| Case {
        name: name.into(),
        jaxpr,
        args: Some(args),
    };
    let branches = P::Cond {
        branches: vec![body.clone(), neg],
    };
    let while_ = P::While {
        cond_jaxpr: cond,
        body_jaxpr: body.clone(),
    };
    let scan = P::Scan {
        body,
        length: 2,
        reverse: false,
        num_consts: 0,
        num_carry: 1,
    };
    vec![
        with(
            "cond",
            single(branches, &[(I32, &[]), (I32, &[])]),
            vec![scalar(1), scalar(5)],
        ),
        with("while", single(while_, &[(I32, &[])]), vec![scalar(-4)]),
        with("scan", single(scan, &[(I32, &[])]), vec![scalar(3)]),
    ]
}

#[test]
fn control_flow_matches_the_reference() {
    run(control_flow_cases());
}

#[test]
fn gather_from_an_empty_axis_is_an_error_as_in_the_reference() {
    let j = single(P::Gather { axis: 0 }, &[(F32, &[0]), (I32, &[2])]);
    let args = vec![
        HostBuffer::from_vec(Vec::<f32>::new(), &[0]).expect("x"),
        HostBuffer::from_vec(vec![0i32, 1], &[2]).expect("i"),
    ];
    let want = rjax_ir::interp::interpret_closed(&j, &args).expect_err("reference rejects");
    assert_eq!(plan(&j).expect_err("plan rejects"), want);
}

/// Every primitive has a differential case (or is checked as unsupported).
#[test]
fn every_primitive_has_a_case() {
    let groups = [
        unary_cases(),
        binary_cases(),
        other_elementwise_cases(),
        shape_cases(),
        reduction_cases(),
        dot_cases(),
        slicing_cases(),
        indexing_cases(),
        random_bits_cases(),
        higher_order_cases(),
        control_flow_cases(),
    ];
    let mut seen: BTreeSet<&str> = ["custom_lin"].into_iter().collect();
    for c in groups.iter().flatten() {
        for e in &c.jaxpr.jaxpr.eqns {
            seen.insert(e.prim.name());
        }
    }
    let missing = super::prim_lists::without_case(&seen);
    assert!(
        missing.is_empty(),
        "primitives without a fusion case: {missing:?}"
    );
}
