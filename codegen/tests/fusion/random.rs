//! Random programs (a deterministic proptest): chains of elementwise,
//! broadcast, layout and reduction operations over a few inputs, planned
//! and run against the reference interpreter.

use super::harness::{av, build, check_with, eqn, lit, random, v, Rng};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use rjax_ir::{AVal, Atom, ClosedJaxpr, DType::F32, JaxprBuilder, Primitive as P, Var};

/// One raw step: an operation selector and three operand selectors.
type RawStep = (u8, u8, u8, u8);

/// Builds the program of `steps` over inputs `f32[a,b]`, `f32[a,b]`,
/// `f32[b]`: each step applies an operation to values picked (modulo the
/// pool's size) from the inputs and the results so far.
fn program((a, b): (usize, usize), steps: &[RawStep]) -> ClosedJaxpr {
    let ins = [av(F32, &[a, b]), av(F32, &[a, b]), av(F32, &[b])];
    build(&ins, |bl, xs| {
        let mut pool: Vec<Var> = xs.to_vec();
        for &(op, i, j, k) in steps {
            let x = pool[i as usize % pool.len()];
            let y = pool[j as usize % pool.len()];
            if let Some(r) = step(bl, op, x, y, k, (a, b)) {
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
    let prim = match op % 8 {
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
        steps in prop::collection::vec((0u8..8, 0u8..64, 0u8..64, 0u8..64), 1..20),
        seed in 0u64..1000,
    ) {
        let j = program(dims, &steps);
        let args = inputs(&j.jaxpr.in_avals(), seed);
        check_with("random program", &j, &args);
    }
}
