//! Random programs (a deterministic proptest): chains of elementwise,
//! broadcast, layout and reduction operations (and some indexing, `dot`,
//! `cumsum`, `argmax`) over a few inputs, planned and run against the
//! reference interpreter.

use super::harness::{av, build, check_with, eqn, lit, random, v, Rng};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use rjax_ir::{
    AVal, Atom, ClosedJaxpr,
    DType::{F32, I32},
    JaxprBuilder, Primitive as P, Scalar, Var,
};

/// One raw step: an operation selector and three operand selectors.
type RawStep = (u8, u8, u8, u8);

/// Builds the program of `steps` over inputs `f32[a,b]`, `f32[a,b]`,
/// `f32[b]`: each step applies an operation to values picked (modulo the
/// pool's size) from the inputs and the results so far.
fn program((a, b): (usize, usize), steps: &[RawStep]) -> ClosedJaxpr {
    let ins = [
        av(F32, &[a, b]),
        av(F32, &[a, b]),
        av(F32, &[b]),
        av(I32, &[b]),
    ];
    build(&ins, |bl, xs| {
        let mut pool: Vec<Var> = xs[..3].to_vec();
        let idx = xs[3];
        for &(op, i, j, k) in steps {
            let x = pool[i as usize % pool.len()];
            let y = pool[j as usize % pool.len()];
            let r = if op % 16 < 8 {
                step(bl, op, x, y, k, (a, b))
            } else {
                more(bl, op, x, y, k, idx)
            };
            if let Some(r) = r {
                pool.push(r);
            }
        }
        let last = *pool.last().expect("pool");
        let other = pool[steps.len() % pool.len()];
        vec![v(last), v(other)]
    })
}

/// One operation; `None` when it does not apply to the picked operands.
fn step(
    bl: &mut JaxprBuilder,
    op: u8,
    x: Var,
    y: Var,
    k: u8,
    (a, b): (usize, usize),
) -> Option<Var> {
    let shape = |bl: &JaxprBuilder, v: Var| bl.aval(v).shape.to_vec();
    let (xs, ys) = (shape(bl, x), shape(bl, y));
    let rank = xs.len();
    let prim = match op % 16 {
        0 => {
            let ps = [
                P::Neg,
                P::Exp,
                P::Tanh,
                P::Abs,
                P::Sin,
                P::Logistic,
                P::Floor,
                P::Sqrt,
            ];
            return Some(eqn(bl, ps[k as usize % ps.len()].clone(), &[v(x)]));
        }
        1 => {
            let ps = [P::Add, P::Sub, P::Mul, P::Max, P::Min, P::Div];
            let p = ps[k as usize % ps.len()].clone();
            let other = if xs == ys {
                v(y)
            } else {
                lit(f32::from(k % 7) / 4.0 - 0.5)
            };
            return Some(eqn(bl, p, &[v(x), other]));
        }
        2 => {
            let axes: Vec<usize> = (0..rank).filter(|d| (k >> d) & 1 == 1).collect();
            match k % 4 {
                0 => P::ReduceSum { axes },
                1 => P::ReduceMax { axes },
                2 => P::ReduceMin { axes },
                _ => P::ReduceProd { axes },
            }
        }
        3 => {
            // Back to a full shape: [a,b] or [b,a], from rank 0 or 1.
            let (target, dims) = match (&xs[..], k % 2) {
                ([], 0) => (vec![a, b], vec![]),
                ([], _) => (vec![b, a], vec![]),
                ([n], 0) if *n == b => (vec![a, b], vec![1]),
                ([n], _) if *n == a => (vec![a, b], vec![0]),
                ([n], _) if *n == b => (vec![b, a], vec![0]),
                _ => return None,
            };
            P::BroadcastInDim {
                shape: target.into(),
                broadcast_dimensions: dims,
            }
        }
        4 => P::Transpose {
            permutation: (0..rank).rev().collect(),
        },
        5 if xs == ys => {
            let c = eqn(bl, P::Gt, &[v(x), v(y)]);
            return Some(eqn(bl, P::Select, &[v(c), v(x), v(y)]));
        }
        6 => {
            let n: usize = xs.iter().product();
            // Flatten a matrix, or split a vector into [1, n].
            let to = if rank == 2 && k.is_multiple_of(2) {
                vec![n]
            } else {
                vec![1, n]
            };
            P::Reshape {
                new_sizes: to.into(),
            }
        }
        7 => match k % 3 {
            0 => P::Rev {
                axes: (0..rank).collect(),
            },
            1 => P::Pad {
                low: vec![1; rank],
                high: vec![-1; rank],
                interior: vec![0; rank],
            },
            _ if rank == 0 => return None,
            _ => {
                // Every other row of [x; y] (or [x; x]): x again, through a
                // concatenate and a strided slice.
                let second = if xs == ys { y } else { x };
                let c = eqn(bl, P::Concatenate { axis: 0 }, &[v(x), v(second)]);
                let sl = P::Slice {
                    start: vec![0; rank],
                    limit: shape(bl, c),
                    strides: (0..rank).map(|d| if d == 0 { 2 } else { 1 }).collect(),
                };
                return Some(eqn(bl, sl, &[v(c)]));
            }
        },
        _ => return None,
    };
    let mut ins: Vec<Atom> = vec![v(x)];
    if let P::Pad { .. } = prim {
        ins.push(lit(0.25));
    }
    Some(eqn(bl, prim, &ins))
}

/// More operations: argmax, cumsum, gather, dot, iota, interior padding,
/// dynamic_slice.
fn more(bl: &mut JaxprBuilder, op: u8, x: Var, y: Var, k: u8, idx: Var) -> Option<Var> {
    let (xs, ys) = (bl.aval(x).shape.to_vec(), bl.aval(y).shape.to_vec());
    let rank = xs.len();
    match op % 16 {
        8 if rank > 0 && xs[0] > 0 => {
            let am = eqn(
                bl,
                P::ArgMax {
                    axis: 0,
                    index_dtype: I32,
                },
                &[v(x)],
            );
            Some(eqn(bl, P::ConvertElementType { new_dtype: F32 }, &[v(am)]))
        }
        9 if rank > 0 => Some(eqn(
            bl,
            P::Cumsum {
                axis: rank - 1,
                reverse: k % 2 == 1,
            },
            &[v(x)],
        )),
        10 if rank > 0 && xs[0] > 0 => Some(eqn(bl, P::Gather { axis: 0 }, &[v(x), v(idx)])),
        11 if rank == 2 && ys.len() == 2 && xs[1] == ys[1] => {
            let d = P::DotGeneral {
                lhs_contract: vec![1],
                rhs_contract: vec![1],
                lhs_batch: vec![],
                rhs_batch: vec![],
            };
            Some(eqn(bl, d, &[v(x), v(y)]))
        }
        12 if rank > 0 => {
            let io = eqn(
                bl,
                P::Iota {
                    dtype: F32,
                    shape: xs.clone().into(),
                    dimension: 0,
                },
                &[],
            );
            Some(eqn(bl, P::Mul, &[v(x), v(io)]))
        }
        13 => {
            let p = P::Pad {
                low: vec![0; rank],
                high: vec![1; rank],
                interior: vec![1; rank],
            };
            Some(eqn(bl, p, &[v(x), lit(-1.0)]))
        }
        14 if rank > 0 => {
            let sizes: Vec<usize> = xs.iter().map(|&n| n / 2).collect();
            let starts: Vec<Atom> = (0..rank)
                .map(|d| Atom::Lit(Scalar::I32(i32::from(k >> d) % 3 - 1)))
                .collect();
            let mut ins = vec![v(x)];
            ins.extend(starts);
            Some(eqn(bl, P::DynamicSlice { slice_sizes: sizes }, &ins))
        }
        _ => None,
    }
}

/// Inputs with ordinary values (no NaN or infinity), from `seed`.
fn inputs(avals: &[AVal], seed: u64) -> Vec<rjax_ir::HostBuffer> {
    let mut rng = Rng::new(seed);
    avals.iter().map(|a| random(a, &mut rng, false)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_f00d),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_programs_match_the_reference(
        dims in (0usize..4, 1usize..5),
        steps in prop::collection::vec((0u8..16, 0u8..64, 0u8..64, 0u8..64), 1..20),
        seed in 0u64..1000,
    ) {
        let j = program(dims, &steps);
        let args = inputs(&j.jaxpr.in_avals(), seed);
        check_with("random program", &j, &args);
    }
}
