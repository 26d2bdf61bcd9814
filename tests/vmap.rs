//! `vmap`: every batching rule checked against a loop over the examples
//! (`vmap(f)(xs) == stack(f(x_i))`). Compositions with the other
//! transformations are in `tests/vmap_compositions.rs`.
//!
//! 1. **The op table** ([`common::op_cases::OP_CASES`], one entry or more
//!    per primitive): each entry is vmapped with several `in_axes` (all 0,
//!    all last, each operand shared in turn) and compared with a loop,
//!    eagerly and under `jit`; per-example gradients (`vmap(grad)`) and
//!    `grad(vmap)` are compared with loops of `grad` (except for entries
//!    without reverse mode).
//! 2. **Per-example indices and keys**, which the table keeps constant:
//!    `gather`, `scatter` (every kind, duplicates, out-of-range indices),
//!    `dynamic_slice`, `dynamic_update_slice`, `pad` with a per-example
//!    value, `random_bits` with per-example keys, rank-0 batched operands.
//! 3. **Random programs** (proptest, deterministic): chains of the table's
//!    shape-generic entries over two inputs, vmapped with random
//!    `in_axes`/`out_axes`, against the loop, eagerly and under `jit`.
//!
//! Run with `cargo test --release --test vmap`.

// The shared table carries fields for the autodiff checks that vmap does
// not read, and each vmap test binary uses a subset of the helpers.
#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod vmap_util;

use common::op_cases::{Generic, Kind, OpCase, OP_CASES};
use common::rng::Rng;
use common::sampling::{sample_arrays, squash};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use rjax::core::bind1;
use rjax::lax::{self, ScatterKind};
use rjax::{grad, jit, jnp, try_vmap_axes, vmap, vmap_axes, Array, DType};
use rjax_ir::{Primitive, Shape, PRIMITIVE_NAMES};
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use vmap_util::*;

// ---- 1. the op table ----------------------------------------------------------------

const B: usize = 3;

/// A table entry's builder as a vector function.
fn run(case: &OpCase, xs: &[Array]) -> Array {
    (case.build)(xs).unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

/// The in_axes variants an entry is checked with.
fn variants(n: usize) -> Vec<Vec<Option<isize>>> {
    let mut v = vec![vec![Some(0); n], vec![Some(-1); n]];
    if n >= 2 {
        for shared in 0..n {
            v.push(
                (0..n)
                    .map(|i| if i == shared { None } else { Some(0) })
                    .collect(),
            );
        }
    }
    v
}

/// Batched inputs for `in_axes` from per-example operands.
fn batch_inputs(examples: &[Vec<Array>], in_axes: &[Option<isize>]) -> Vec<Array> {
    in_axes
        .iter()
        .enumerate()
        .map(|(i, a)| match a {
            None => examples[0][i].clone(),
            Some(a) => {
                let parts: Vec<Array> = examples.iter().map(|e| e[i].clone()).collect();
                let axis = if *a < 0 {
                    parts[0].ndim() as isize + 1 + a
                } else {
                    *a
                };
                jnp::stack(&parts, axis)
            }
        })
        .collect()
}

fn check_case(ci: usize, case: &'static OpCase) -> Result<(), String> {
    let mut rng = Rng::new(7000 + ci as u64);
    let examples: Vec<Vec<Array>> = (0..B).map(|_| sample_arrays(case, &mut rng)).collect();
    let n = case.operands.len();
    let what = format!("{} ({})", case.name, case.note);
    for in_axes in variants(n) {
        let xs = batch_inputs(&examples, &in_axes);
        let f = move |v: &Vec<Array>| run(case, v);
        let got = try_vmap_axes(f, in_axes.clone(), vec![Some(0)])(&xs)
            .map_err(|e| format!("{what} {in_axes:?}: {e}"))?;
        let want = loop_map(&|e| vec![run(case, e)], &xs, &in_axes);
        same(&format!("{what} {in_axes:?}"), &got, &want[0], RTOL)?;
        let jitted = catch_unwind(AssertUnwindSafe(|| {
            jit(vmap_axes(f, in_axes.clone(), vec![Some(0)]))(&xs)
        }))
        .map_err(|p| format!("{what} jit(vmap): {}", panic_message(Err::<(), _>(p))))?;
        same(
            &format!("{what} jit(vmap) {in_axes:?}"),
            &jitted,
            &want[0],
            RTOL,
        )?;
        if matches!(
            case.kind,
            Kind::NotYetSupported { .. } | Kind::ForwardOnly(_)
        ) {
            continue;
        }
        // Per-example gradients, and the gradient of the batched sum.
        let loss = move |v: &Vec<Array>| run(case, v).sum();
        let per_example = vmap_axes(grad(loss), in_axes.clone(), vec![Some(0); n])(&xs);
        let want = loop_map(&|e| grad(loss)(&e.to_vec()), &xs, &in_axes);
        same_all(
            &format!("{what} vmap(grad) {in_axes:?}"),
            &per_example,
            &want,
            RTOL,
        )?;
        let shared_axes = in_axes.clone();
        let total = grad(move |v: &Vec<Array>| {
            vmap_axes(loss, shared_axes.clone(), vec![Some(0)])(v).sum()
        })(&xs);
        let grads: Vec<Vec<Array>> = (0..B)
            .map(|b| grad(loss)(&(0..n).map(|k| example_of(&xs, &in_axes, k, b)).collect()))
            .collect();
        for (i, a) in in_axes.iter().enumerate() {
            let parts: Vec<Array> = grads.iter().map(|g| g[i].clone()).collect();
            let w = match a {
                Some(a) => jnp::stack(&parts, *a),
                None => parts[1..].iter().fold(parts[0].clone(), |acc, g| &acc + g),
            };
            same(
                &format!("{what} grad(vmap) operand {i} {in_axes:?}"),
                &total[i],
                &w,
                1e-11,
            )?;
        }
    }
    Ok(())
}

/// Operand `k` of example `b`.
fn example_of(xs: &[Array], in_axes: &[Option<isize>], k: usize, b: usize) -> Array {
    example(&xs[k], normalize(in_axes[k], xs[k].ndim()), b)
}

#[test]
fn every_op_case_batches_like_a_loop() {
    let failures: Vec<String> = OP_CASES
        .iter()
        .enumerate()
        .filter_map(|(ci, case)| {
            catch_unwind(AssertUnwindSafe(|| check_case(ci, case)))
                .unwrap_or_else(|p| {
                    Err(format!(
                        "{}: panicked: {}",
                        case.name,
                        panic_message(Err::<(), _>(p))
                    ))
                })
                .err()
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_primitive_has_a_vmap_case() {
    let mut covered: BTreeSet<&str> = OP_CASES.iter().map(|c| c.name).collect();
    // The per-example index and key tests below.
    covered.extend([
        "gather",
        "scatter",
        "dynamic_slice",
        "dynamic_update_slice",
        "random_bits",
    ]);
    let missing: Vec<&str> = PRIMITIVE_NAMES
        .iter()
        .copied()
        .filter(|p| !covered.contains(p))
        .collect();
    assert!(
        missing.is_empty(),
        "primitives without a vmap case: {missing:?}"
    );
}

// ---- 2. per-example indices, keys and padding values ------------------------------

fn gather_axis0(x: &[Array]) -> Array {
    lax::gather(&x[0], &x[1], 0)
}

fn gather_axis1(x: &[Array]) -> Array {
    lax::gather(&x[0], &x[1], 1)
}

#[test]
fn gather_with_per_example_indices() {
    let mut rng = Rng::new(1);
    let operand = random(&mut rng, &[B, 4, 3]);
    // Out-of-range (6, -2) indices are clamped, per example.
    let idx: Vec<i32> = vec![0, 3, 6, -2, 1, 1, 2, 0, 3, 3, -1, 2];
    let indices = i32s(idx, &[B, 2, 2]);
    for in_axes in [
        [Some(0), Some(0)],
        [None, Some(0)],
        [Some(0), None],
        [Some(-3), Some(-3)],
    ] {
        let xs = [
            if in_axes[0].is_some() {
                operand.clone()
            } else {
                example(&operand, Some(0), 1)
            },
            if in_axes[1].is_some() {
                indices.clone()
            } else {
                example(&indices, Some(0), 2)
            },
        ];
        check("gather axis 0", gather_axis0, &xs, &in_axes);
        check(
            "gather axis 1",
            gather_axis1,
            &[
                lax::transpose(&xs[0], &perm_last_two(xs[0].ndim())),
                xs[1].clone(),
            ],
            &in_axes,
        );
    }
    // Batch axes in the middle: operand batched along 1, indices along 1.
    let op_mid = random(&mut rng, &[4, B, 3]);
    let idx_mid = i32s(vec![1, 0, 2, 3, 3, 1], &[2, B]);
    check(
        "gather, batch axes inside",
        gather_axis1,
        &[op_mid, idx_mid],
        &[Some(1), Some(1)],
    );
}

/// Swaps the last two dimensions.
fn perm_last_two(rank: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..rank).collect();
    p.swap(rank - 1, rank - 2);
    p
}

fn scatter_with(kind: ScatterKind) -> fn(&[Array]) -> Array {
    match kind {
        ScatterKind::Set => |x| lax::scatter(&x[0], &x[1], &x[2], 0, ScatterKind::Set),
        ScatterKind::Add => |x| lax::scatter(&x[0], &x[1], &x[2], 0, ScatterKind::Add),
        ScatterKind::Mul => |x| lax::scatter(&x[0], &x[1], &x[2], 0, ScatterKind::Mul),
        ScatterKind::Min => |x| lax::scatter(&x[0], &x[1], &x[2], 0, ScatterKind::Min),
        ScatterKind::Max => |x| lax::scatter(&x[0], &x[1], &x[2], 0, ScatterKind::Max),
    }
}

#[test]
fn scatter_with_per_example_indices() {
    let mut rng = Rng::new(2);
    let operand = random(&mut rng, &[B, 4, 3]);
    // Duplicates (1, 1 / 3, 3 / 0, 0) and out-of-range indices (-1, 4, 9),
    // which are dropped, per example.
    let indices = i32s(vec![1, 1, -1, 2, 4, 3, 0, 3, 9, 3, 0, 0, 2, 1, 2], &[B, 5]);
    let updates = random(&mut rng, &[B, 5, 3]);
    let axes_list: [[Option<isize>; 3]; 4] = [
        [Some(0), Some(0), Some(0)],
        [None, Some(0), Some(0)],
        [Some(0), Some(0), None],
        [Some(0), None, Some(0)],
    ];
    for kind in [
        ScatterKind::Set,
        ScatterKind::Add,
        ScatterKind::Mul,
        ScatterKind::Min,
        ScatterKind::Max,
    ] {
        for in_axes in axes_list {
            let xs: Vec<Array> = [&operand, &indices, &updates]
                .iter()
                .zip(in_axes)
                .map(|(x, a)| {
                    if a.is_some() {
                        (*x).clone()
                    } else {
                        example(x, Some(0), 1)
                    }
                })
                .collect();
            check(
                &format!("scatter {}", kind.name()),
                scatter_with(kind),
                &xs,
                &in_axes,
            );
        }
    }
    // Along axis 1, with 2-D indices and the batch axis last.
    let op = random(&mut rng, &[3, 4, B]);
    let idx = i32s(vec![0, 3, 3, 1, 5, 2, 2, 2, 1, 0, -3, 3], &[2, 2, B]);
    let upd = random(&mut rng, &[3, 2, 2, B]);
    check(
        "scatter add along axis 1",
        |x| lax::scatter_add(&x[0], &x[1], &x[2], 1),
        &[op, idx, upd],
        &[Some(-1), Some(-1), Some(-1)],
    );
}

fn dynamic_slice_both(x: &[Array]) -> Array {
    lax::dynamic_slice(&x[0], &[x[1].clone(), x[2].clone()], &[2, 3])
}

#[test]
fn dynamic_slice_with_per_example_starts() {
    let mut rng = Rng::new(3);
    let operand = random(&mut rng, &[B, 5, 6]);
    // Starts 4 and 9 are clamped to 3; -1 to 0.
    let rows = i32s(vec![0, 4, -1], &[B]);
    let cols = i32s(vec![9, 1, 2], &[B]);
    let one = |x: &Array| example(x, Some(0), 1);
    for in_axes in [
        [Some(0), Some(0), Some(0)],
        [Some(0), None, Some(0)],
        [None, Some(0), None],
        [Some(1), Some(0), Some(0)],
    ] {
        let op = match in_axes[0] {
            Some(1) => lax::transpose(&operand, &[1, 0, 2]),
            Some(_) => operand.clone(),
            None => one(&operand),
        };
        let r = if in_axes[1].is_some() {
            rows.clone()
        } else {
            one(&rows)
        };
        let c = if in_axes[2].is_some() {
            cols.clone()
        } else {
            one(&cols)
        };
        check("dynamic_slice", dynamic_slice_both, &[op, r, c], &in_axes);
    }
    let u32_starts = Array::from_vec(vec![0u32, 3, 7], &[B]).expect("u32 starts");
    check(
        "dynamic_slice with u32 starts",
        |x| lax::dynamic_slice(&x[0], &[x[1].clone(), Array::scalar(1u32)], &[2, 3]),
        &[operand.clone(), u32_starts],
        &[Some(0), Some(0)],
    );
}

fn dynamic_update(x: &[Array]) -> Array {
    lax::dynamic_update_slice(&x[0], &x[1], &[x[2].clone(), x[3].clone()])
}

#[test]
fn dynamic_update_slice_with_per_example_starts() {
    let mut rng = Rng::new(4);
    let operand = random(&mut rng, &[B, 5, 6]);
    let update = random(&mut rng, &[B, 2, 3]);
    let rows = i32s(vec![0, 4, -1], &[B]);
    let cols = i32s(vec![9, 1, 2], &[B]);
    let one = |x: &Array| example(x, Some(0), 2);
    let full = [operand, update, rows, cols];
    for in_axes in [
        [Some(0), Some(0), Some(0), Some(0)],
        [None, Some(0), Some(0), None],
        [Some(0), None, None, Some(0)],
        [None, None, Some(0), Some(0)],
        [Some(0), Some(0), None, None],
    ] {
        let xs: Vec<Array> = full
            .iter()
            .zip(in_axes)
            .map(|(x, a)| if a.is_some() { x.clone() } else { one(x) })
            .collect();
        check("dynamic_update_slice", dynamic_update, &xs, &in_axes);
    }
}

fn pad_case(x: &[Array]) -> Array {
    lax::pad(&x[0], &x[1], &[1, -1], &[0, 2], &[1, 0])
}

#[test]
fn pad_with_a_per_example_value() {
    let mut rng = Rng::new(5);
    let operand = random(&mut rng, &[B, 2, 3]);
    let value = random(&mut rng, &[B]);
    check(
        "pad, both batched",
        pad_case,
        &[operand.clone(), value.clone()],
        &[Some(0), Some(0)],
    );
    check(
        "pad, value batched",
        pad_case,
        &[example(&operand, Some(0), 0), value],
        &[None, Some(0)],
    );
    check(
        "pad, operand batched",
        pad_case,
        &[operand, Array::scalar(0.5f64)],
        &[Some(0), None],
    );
}

fn bits(x: &[Array]) -> Array {
    let prim = Primitive::RandomBits {
        shape: Shape::from_slice(&[2, 3]),
    };
    bind1(prim, &x[..1]).expect("random_bits")
}

#[test]
fn random_bits_with_per_example_keys() {
    let keys = Array::from_vec(
        (0..(B * 8) as u32).map(|k| k * 2_654_435_761).collect(),
        &[B, 8],
    )
    .expect("keys");
    check(
        "random_bits, keys along axis 0",
        bits,
        std::slice::from_ref(&keys),
        &[Some(0)],
    );
    check(
        "random_bits, keys along axis 1",
        bits,
        &[lax::transpose(&keys, &[1, 0])],
        &[Some(1)],
    );
    // Each example's bits are exactly its key's, drawn without vmap.
    let batched = vmap(|k: &Array| bits(std::slice::from_ref(k)))(&keys);
    let second = bits(&[example(&keys, Some(0), 1)]);
    assert_eq!(vals(&example(&batched, Some(0), 1)), vals(&second));
    // A key shared by every example gives the same bits to each.
    let (shared, _) = vmap_axes(
        |p: &(Array, Array)| (bits(std::slice::from_ref(&p.0)), &p.1 * 2.0),
        vec![None, Some(0)],
        vec![Some(0), Some(0)],
    )(&(example(&keys, Some(0), 0), f64s(vec![0.0; B], &[B])));
    for b in 0..B {
        assert_eq!(
            vals(&example(&shared, Some(0), b)),
            vals(&bits(&[example(&keys, Some(0), 0)]))
        );
    }
}

#[test]
fn rank0_operands_selects_and_iota() {
    let mut rng = Rng::new(6);
    let scalars = random(&mut rng, &[B]);
    let matrix = random(&mut rng, &[2, 3]);
    // A per-example scalar times a shared matrix, and the reverse.
    check(
        "mul, batched rank-0",
        |x| lax::mul(&x[0], &x[1]),
        &[scalars.clone(), matrix.clone()],
        &[Some(0), None],
    );
    check(
        "sub, batched matrix, shared scalar",
        |x| lax::sub(&x[0], &x[1]),
        &[random(&mut rng, &[2, B, 3]), Array::scalar(0.25f64)],
        &[Some(1), None],
    );
    // select with a per-example rank-0 predicate.
    let preds = Array::from_vec(vec![true, false, true], &[B]).expect("preds");
    check(
        "select, batched rank-0 predicate",
        |x| lax::select(&x[0], &x[1], &x[2]),
        &[preds, matrix.clone(), random(&mut rng, &[B, 2, 3])],
        &[Some(0), None, Some(0)],
    );
    // iota inside vmap is the same for every example.
    check(
        "iota plus a batched value",
        |x| {
            lax::add(
                &x[0],
                &lax::convert_element_type(&lax::iota(DType::I32, &[2, 3], 1), DType::F64),
            )
        },
        &[random(&mut rng, &[B, 2, 3])],
        &[Some(0)],
    );
    // Integer and bool results, and concatenation of batched with shared.
    check(
        "argmax of a concatenation",
        |x| jnp::argmax(&lax::concatenate(&[x[0].clone(), x[1].clone()], 1), 1),
        &[random(&mut rng, &[B, 2, 3]), matrix],
        &[Some(0), None],
    );
}

// ---- 3. random programs -------------------------------------------------------------

/// The entries random programs draw from.
fn program_ops() -> Vec<&'static OpCase> {
    OP_CASES.iter().filter(|c| c.generic.is_some()).collect()
}

#[derive(Clone, Debug)]
struct Program {
    /// One example's shape of `x`.
    shape: Vec<usize>,
    /// (entry, seed, partner) per step.
    steps: Vec<(usize, u64, usize)>,
    size: usize,
    /// in_axes of `x` (0, -1 or None) and of the per-example scalar `s`.
    x_axis: Option<isize>,
    s_mapped: bool,
    out_axis: isize,
    seed: u64,
}

/// Runs the program on one example (or, under vmap, on all of them).
fn run_program(p: &Program, x: &Array, s: &Array) -> Array {
    let ops = program_ops();
    let bound = |v: &Array| {
        lax::mul(
            &lax::tanh(&lax::mul(v, &Array::scalar(1.0 / 3.0))),
            &Array::scalar(3.0),
        )
    };
    let mut history = vec![x.clone(), lax::mul(&lax::cos(x), s)];
    let mut current = lax::add(x, s);
    for &(op, seed, partner) in &p.steps {
        let case = ops[op % ops.len()];
        let domain = |k: usize| case.operands[k].domain;
        let next = match case.generic.expect("generic") {
            Generic::Unary(f) => f(&squash(domain(0), &bound(&current)).expect("squash")),
            Generic::Binary(f) => {
                let same: Vec<&Array> = history
                    .iter()
                    .filter(|h| h.shape() == current.shape())
                    .collect();
                let other = match same.len() {
                    0 => lax::mul(&current, s),
                    n => same[partner % n].clone(),
                };
                let a = squash(domain(0), &bound(&current)).expect("squash");
                let b = squash(domain(1), &bound(&other)).expect("squash");
                f(&a, &b, seed)
            }
            Generic::Reshaping(f) => f(&bound(&current), seed),
        };
        let next = next.unwrap_or_else(|e| panic!("{}: {e}", case.name));
        if next.size() <= 36 {
            history.push(next.clone());
            current = next;
        }
    }
    current
}

fn program_strategy() -> impl Strategy<Value = Program> {
    let step = (0..64usize, any::<u64>(), 0usize..8);
    let rank = prop_oneof![1 => Just(0usize), 3 => Just(1), 4 => Just(2), 1 => Just(3)];
    (
        rank.prop_flat_map(|r| prop::collection::vec(1usize..=3, r)),
        prop::collection::vec(step, 1..=6),
        1usize..=3,
        0usize..3,
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(shape, steps, size, x_kind, s_mapped, out_last, seed)| {
            let x_axis = match x_kind {
                0 => Some(0),
                1 if !shape.is_empty() => Some(-1),
                1 => Some(0),
                _ => None,
            };
            Program {
                shape,
                steps,
                size,
                x_axis,
                s_mapped: s_mapped || x_axis.is_none(),
                out_axis: if out_last { -1 } else { 0 },
                seed,
            }
        })
}

fn check_program(p: &Program) -> Result<(), String> {
    let mut rng = Rng::new(p.seed);
    let xs: Vec<Array> = (0..p.size).map(|_| random(&mut rng, &p.shape)).collect();
    let ss: Vec<Array> = (0..p.size)
        .map(|_| f64s(vec![rng.uniform(-1.0, 1.0)], &[]))
        .collect();
    let x = match p.x_axis {
        Some(0) => jnp::stack(&xs, 0),
        Some(_) => jnp::stack(&xs, -1),
        None => xs[0].clone(),
    };
    let s = if p.s_mapped {
        jnp::stack(&ss, 0)
    } else {
        ss[0].clone()
    };
    let in_axes = vec![p.x_axis, p.s_mapped.then_some(0)];
    let f = |v: &(Array, Array)| run_program(p, &v.0, &v.1);
    let got = try_vmap_axes(f, in_axes.clone(), vec![Some(p.out_axis)])(&(x.clone(), s.clone()))
        .map_err(|e| format!("vmap: {e}"))?;
    let per_example: Vec<Array> = (0..p.size)
        .map(|b| {
            let xb = if p.x_axis.is_some() {
                xs[b].clone()
            } else {
                xs[0].clone()
            };
            let sb = if p.s_mapped {
                ss[b].clone()
            } else {
                ss[0].clone()
            };
            f(&(xb, sb))
        })
        .collect();
    let want = jnp::stack(&per_example, p.out_axis);
    same("vmap", &got, &want, RTOL)?;
    let jitted = jit(vmap_axes(f, in_axes, vec![Some(p.out_axis)]))(&(x, s));
    same("jit(vmap)", &jitted, &want, RTOL)
}

#[test]
fn random_programs_vmap_like_a_loop() {
    let config = Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let result = runner.run(&program_strategy(), |p| {
        catch_unwind(AssertUnwindSafe(|| check_program(&p)))
            .unwrap_or_else(|e| Err(format!("panicked: {}", panic_message(Err::<(), _>(e)))))
            .map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
