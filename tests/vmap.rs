//! `vmap`: every batching rule and every composition, checked against a
//! loop over the examples (`vmap(f)(xs) == stack(f(x_i))`).
//!
//! 1. **The op table** ([`common::op_cases::OP_CASES`], one entry or more
//!    per primitive): each entry is vmapped with several `in_axes` (all 0,
//!    all last, each operand shared in turn) and compared with a loop,
//!    eagerly and under `jit`; per-example gradients (`vmap(grad)`) and
//!    `grad(vmap)` are compared with loops of `grad`. Control flow without
//!    batching rules must fail with `NotYetSupported`.
//! 2. **Per-example indices and keys**, which the table keeps constant:
//!    `gather`, `scatter` (every kind, duplicates, out-of-range indices),
//!    `dynamic_slice`, `dynamic_update_slice`, `pad` with a per-example
//!    value, `random_bits` with per-example keys, rank-0 batched operands.
//! 3. **Compositions**: `vmap(grad)`, `grad(vmap)`, `jit(vmap)`,
//!    `vmap(jit)` (the call is kept), nested `vmap`, `jacfwd`/`jacrev`/
//!    `hessian`, custom rules under `vmap`, trees, `in_axes`/`out_axes`
//!    and the errors.
//! 4. **Random programs** (proptest, deterministic): chains of the table's
//!    shape-generic entries, vmapped with random axes, against the loop.
//!
//! Run with `cargo test --release --test vmap`.

// The shared table carries fields for the autodiff checks that vmap does not read.
#[allow(dead_code)]
mod common;

use common::op_cases::{Generic, Kind, OpCase, OP_CASES};
use common::rng::Rng;
use common::sampling::{sample_arrays, squash};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use rjax::core::bind1;
use rjax::lax::{self, ScatterKind};
use rjax::{custom_jvp, custom_vjp, grad, hessian, jacfwd, jacrev, jit, jnp, jvp, make_jaxpr};
use rjax::{try_vmap, try_vmap_axes, vmap, vmap_axes, Array, DType, Error, Jit};
use rjax_ir::{ClosedJaxpr, Primitive, Shape, PRIMITIVE_NAMES};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};

// ---- helpers ----------------------------------------------------------------------

fn vals(a: &Array) -> Vec<f64> {
    a.to_f64_vec().expect("a concrete array")
}

fn f64s(data: Vec<f64>, shape: &[usize]) -> Array {
    Array::from_vec(data, shape).expect("data fits the shape")
}

fn i32s(data: Vec<i32>, shape: &[usize]) -> Array {
    Array::from_vec(data, shape).expect("data fits the shape")
}

/// Deterministic values in `[-1, 1)` of `shape`.
fn random(rng: &mut Rng, shape: &[usize]) -> Array {
    f64s(rng.vector(shape.iter().product()), shape)
}

/// Example `b` of `x` batched along `axis` (the whole of `x` when `None`).
fn example(x: &Array, axis: Option<usize>, b: usize) -> Array {
    let Some(axis) = axis else {
        return x.clone();
    };
    let start: Vec<usize> = (0..x.ndim())
        .map(|d| if d == axis { b } else { 0 })
        .collect();
    let mut limit = x.shape().to_vec();
    limit[axis] = b + 1;
    let one = lax::slice(x, &start, &limit, &[]);
    let mut shape = x.shape().to_vec();
    shape.remove(axis);
    lax::reshape(&one, &shape)
}

fn normalize(axis: Option<isize>, rank: usize) -> Option<usize> {
    axis.map(|a| {
        if a < 0 {
            (a + rank as isize) as usize
        } else {
            a as usize
        }
    })
}

/// `f` applied example by example, results stacked along axis 0.
fn loop_map(
    f: &dyn Fn(&[Array]) -> Vec<Array>,
    xs: &[Array],
    in_axes: &[Option<isize>],
) -> Vec<Array> {
    let axes: Vec<Option<usize>> = xs
        .iter()
        .zip(in_axes)
        .map(|(x, a)| normalize(*a, x.ndim()))
        .collect();
    let size = xs
        .iter()
        .zip(&axes)
        .find_map(|(x, a)| a.map(|a| x.shape()[a]))
        .expect("a mapped input");
    let per_example: Vec<Vec<Array>> = (0..size)
        .map(|b| {
            let inputs: Vec<Array> = xs
                .iter()
                .zip(&axes)
                .map(|(x, a)| example(x, *a, b))
                .collect();
            f(&inputs)
        })
        .collect();
    (0..per_example[0].len())
        .map(|k| {
            let parts: Vec<Array> = per_example.iter().map(|outs| outs[k].clone()).collect();
            jnp::stack(&parts, 0)
        })
        .collect()
}

/// Same dtype and shape; values equal (non-floats) or within `rtol`
/// normwise (floats).
fn same(what: &str, got: &Array, want: &Array, rtol: f64) -> Result<(), String> {
    if got.dtype() != want.dtype() || got.shape() != want.shape() {
        return Err(format!(
            "{what}: got {}{:?}, want {}{:?}",
            got.dtype(),
            got.shape(),
            want.dtype(),
            want.shape()
        ));
    }
    let (g, w) = (vals(got), vals(want));
    if !got.dtype().is_float() {
        return if g == w {
            Ok(())
        } else {
            Err(format!("{what}: got {g:?}, want {w:?}"))
        };
    }
    let scale = w.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    let err = g.iter().zip(&w).fold(0.0f64, |m, (a, b)| {
        if a.is_nan() != b.is_nan() {
            f64::INFINITY
        } else if a.is_nan() {
            m
        } else {
            m.max((a - b).abs())
        }
    });
    if err <= rtol * scale {
        Ok(())
    } else {
        Err(format!(
            "{what}: error {err:.3e}\n  got  {g:?}\n  want {w:?}"
        ))
    }
}

fn same_all(what: &str, got: &[Array], want: &[Array], rtol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} results, want {}",
            got.len(),
            want.len()
        ));
    }
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        same(&format!("{what} result {k}"), g, w, rtol)?;
    }
    Ok(())
}

/// vmap results equal the loop's exactly up to rounding of reordered sums.
const RTOL: f64 = 1e-12;

/// Checks `vmap_axes(f, in_axes, 0)` and `jit` of it against the loop.
fn check(name: &str, f: fn(&[Array]) -> Array, xs: &[Array], in_axes: &[Option<isize>]) {
    let want = loop_map(&|e| vec![f(e)], xs, in_axes);
    let batched = vmap_axes(|v: &Vec<Array>| f(v), in_axes.to_vec(), vec![Some(0)]);
    let got = batched(&xs.to_vec());
    same(name, &got, &want[0], RTOL).unwrap_or_else(|e| panic!("{e}"));
    let jitted = jit(vmap_axes(
        |v: &Vec<Array>| f(v),
        in_axes.to_vec(),
        vec![Some(0)],
    ));
    same(
        &format!("jit {name}"),
        &jitted(&xs.to_vec()),
        &want[0],
        RTOL,
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The error's text, or "no error".
fn error_text<T>(r: Result<T, Error>) -> String {
    r.map_or_else(|e| e.to_string(), |_| "no error".to_string())
}

fn panic_message(r: std::thread::Result<impl Sized>) -> String {
    match r {
        Ok(_) => "no panic".to_string(),
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

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

/// The entries whose primitive has no batching rule yet.
fn unbatchable(case: &OpCase) -> bool {
    matches!(case.name, "cond" | "while" | "scan")
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
        if unbatchable(case) {
            // The builder's error, kept while vmap gets a placeholder result.
            let error = std::cell::RefCell::new(None);
            let keep = |v: &Vec<Array>| {
                (case.build)(v).unwrap_or_else(|e| {
                    *error.borrow_mut() = Some(e);
                    v[0].clone()
                })
            };
            try_vmap_axes(keep, in_axes.clone(), vec![Some(0)])(&xs)
                .map_err(|e| format!("{what}: {e}"))?;
            let expected = Error::NotYetSupported {
                prim: case.name,
                rule: "batching",
            };
            return match error.into_inner() {
                Some(e) if e == expected => Ok(()),
                other => Err(format!("{what}: expected {expected:?}, got {other:?}")),
            };
        }
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
        if matches!(case.kind, Kind::NotYetSupported { .. }) {
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

// ---- 3. compositions ----------------------------------------------------------------

/// Logistic-regression loss of one example.
fn example_loss(w: &Array, b: &Array, x: &Array, y: &Array) -> Array {
    let logit = x.matmul(w).sum() + b;
    let p = logit.sigmoid();
    -(y * p.log() + (1.0 - y) * (1.0 - p).log())
}

fn data(seed: u64) -> (Array, Array, Array, Array) {
    let mut rng = Rng::new(seed);
    let w = random(&mut rng, &[3, 1]);
    let b = Array::scalar(0.1f64);
    let xs = random(&mut rng, &[5, 3]);
    let ys = f64s(vec![1.0, 0.0, 1.0, 1.0, 0.0], &[5]);
    (w, b, xs, ys)
}

#[test]
fn per_example_gradients_match_a_loop() {
    let (w, b, xs, ys) = data(10);
    let grads = vmap_axes(
        |(w, b, x, y): &(Array, Array, Array, Array)| {
            grad(|p: &(Array, Array)| example_loss(&p.0, &p.1, x, y))(&(w.clone(), b.clone()))
        },
        vec![None, None, Some(0), Some(0)],
        vec![Some(0), Some(0)],
    )(&(w.clone(), b.clone(), xs.clone(), ys.clone()));
    assert_eq!(
        (grads.0.shape(), grads.1.shape()),
        (&[5, 3, 1][..], &[5][..])
    );
    for i in 0..5 {
        let (x, y) = (example(&xs, Some(0), i), example(&ys, Some(0), i));
        let (gw, gb) =
            grad(|p: &(Array, Array)| example_loss(&p.0, &p.1, &x, &y))(&(w.clone(), b.clone()));
        same("dw", &example(&grads.0, Some(0), i), &gw, RTOL).unwrap();
        same("db", &example(&grads.1, Some(0), i), &gb, RTOL).unwrap();
    }
    // Under jit too.
    let jitted = jit(vmap_axes(
        |(w, b, x, y): &(Array, Array, Array, Array)| {
            grad(|p: &(Array, Array)| example_loss(&p.0, &p.1, x, y))(&(w.clone(), b.clone()))
        },
        vec![None, None, Some(0), Some(0)],
        vec![Some(0), Some(0)],
    ))(&(w, b, xs, ys));
    same("jit(vmap(grad))", &jitted.0, &grads.0, RTOL).unwrap();
}

#[test]
fn grad_of_vmap_is_the_sum_of_per_example_gradients() {
    let (w, b, xs, ys) = data(11);
    let total = |p: &(Array, Array)| {
        vmap_axes(
            |(x, y): &(Array, Array)| example_loss(&p.0, &p.1, x, y),
            vec![Some(0), Some(0)],
            vec![Some(0)],
        )(&(xs.clone(), ys.clone()))
        .sum()
    };
    let (gw, gb) = grad(total)(&(w.clone(), b.clone()));
    let (mut sw, mut sb) = (vec![0.0; 3], 0.0);
    for i in 0..5 {
        let (x, y) = (example(&xs, Some(0), i), example(&ys, Some(0), i));
        let (dw, db) =
            grad(|p: &(Array, Array)| example_loss(&p.0, &p.1, &x, &y))(&(w.clone(), b.clone()));
        sw.iter_mut().zip(vals(&dw)).for_each(|(s, d)| *s += d);
        sb += vals(&db)[0];
    }
    same("dw", &gw, &f64s(sw, &[3, 1]), RTOL).unwrap();
    same("db", &gb, &Array::scalar(sb), RTOL).unwrap();
    // grad of jit(vmap) agrees.
    let (jw, _) = grad(|p: &(Array, Array)| jit(|q: &(Array, Array)| total(q))(p))(&(w, b));
    same("grad(jit(vmap))", &jw, &gw, RTOL).unwrap();
}

fn count_prims(j: &ClosedJaxpr, name: &str) -> usize {
    j.jaxpr
        .eqns
        .iter()
        .map(|e| {
            usize::from(e.prim.name() == name)
                + e.prim
                    .sub_jaxprs()
                    .map(|s| count_prims(s, name))
                    .sum::<usize>()
        })
        .sum()
}

#[test]
fn jit_of_vmap_stages_one_batched_program() {
    let mut rng = Rng::new(12);
    let xs = random(&mut rng, &[6, 4, 3]);
    let w = random(&mut rng, &[3, 2]);
    let f = |x: &Array| (x.matmul(&w).tanh() * 2.0).sum_axes(0, false);
    let want = loop_map(&|e| vec![f(&e[0])], std::slice::from_ref(&xs), &[Some(0)]);
    same("vmap", &vmap(f)(&xs), &want[0], RTOL).unwrap();
    same("jit(vmap)", &jit(vmap(f))(&xs), &want[0], RTOL).unwrap();
    // One dot_general for the whole batch: nothing is unrolled.
    let staged = make_jaxpr(vmap(f))(&xs).expect("make_jaxpr");
    assert_eq!(count_prims(&staged, "dot_general"), 1, "{staged}");
    assert_eq!(count_prims(&staged, "reduce_sum"), 1, "{staged}");
}

#[test]
fn vmap_of_jit_keeps_the_call() {
    let mut rng = Rng::new(13);
    let xs = random(&mut rng, &[4, 3]);
    let inner = Jit::new(|x: &Array| (x.sin() * x).sum());
    let f = |x: &Array| inner.call(x);
    let want = loop_map(
        &|e| vec![(e[0].sin() * &e[0]).sum()],
        std::slice::from_ref(&xs),
        &[Some(0)],
    );
    same("vmap(jit)", &vmap(f)(&xs), &want[0], RTOL).unwrap();
    same("vmap(jit) again", &vmap(f)(&xs), &want[0], RTOL).unwrap();
    assert_eq!(
        inner.stats().traces,
        1,
        "one trace for the per-example signature"
    );
    let staged = make_jaxpr(vmap(f))(&xs).expect("make_jaxpr");
    let names: Vec<String> = staged
        .jaxpr
        .eqns
        .iter()
        .filter_map(|e| match &e.prim {
            Primitive::Call { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(names.len(), 1, "{staged}");
    assert!(names[0].starts_with("vmap("), "{names:?}");
    // ...and grad through it.
    let g = vmap(grad(f))(&xs);
    let want = loop_map(
        &|e| vec![grad(|x: &Array| (x.sin() * x).sum())(&e[0])],
        std::slice::from_ref(&xs),
        &[Some(0)],
    );
    same("vmap(grad(jit))", &g, &want[0], RTOL).unwrap();
}

#[test]
fn nested_vmap() {
    let mut rng = Rng::new(14);
    let xs = random(&mut rng, &[2, 3, 4]);
    let f = |v: &Array| (v * v.sin()).sum();
    // vmap(vmap(f)) over the two leading axes.
    let got = vmap(vmap(f))(&xs);
    assert_eq!(got.shape(), &[2, 3]);
    for i in 0..2 {
        for j in 0..3 {
            let v = example(&example(&xs, Some(0), i), Some(0), j);
            assert_eq!(
                vals(&example(&example(&got, Some(0), i), Some(0), j)),
                vals(&f(&v))
            );
        }
    }
    // Inner over axis 1 of each example (axis 2 overall), outer over axis 0.
    let inner_axis = vmap(vmap_axes(f, vec![Some(1)], vec![Some(0)]))(&xs);
    assert_eq!(inner_axis.shape(), &[2, 4]);
    let want = jnp::sum(&(&xs * &xs.sin()), 1, false);
    same("inner vmap along axis 1", &inner_axis, &want, RTOL).unwrap();
    // Pairwise squared distances: the inner function captures the outer tracer.
    let ys = random(&mut rng, &[5, 4]);
    let pts = example(&xs, Some(0), 0);
    let d = vmap(|x: &Array| vmap(|y: &Array| (x - y).powf(2.0).sum())(&ys))(&pts);
    assert_eq!(d.shape(), &[3, 5]);
    for i in 0..3 {
        for j in 0..5 {
            let (x, y) = (example(&pts, Some(0), i), example(&ys, Some(0), j));
            let want = vals(&x)
                .iter()
                .zip(vals(&y))
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>();
            assert!((vals(&d)[i * 5 + j] - want).abs() < 1e-12);
        }
    }
    // Nested vmap of grad, and under jit.
    let g = jit(vmap(vmap(grad(f))))(&xs);
    same(
        "jit(vmap(vmap(grad)))",
        &g,
        &(xs.sin() + &xs * xs.cos()),
        RTOL,
    )
    .unwrap();
}

#[test]
fn in_axes_and_out_axes() {
    let mut rng = Rng::new(15);
    let x = random(&mut rng, &[2, 3]);
    let w = random(&mut rng, &[2]);
    let f = |p: &(Array, Array)| (&p.0 * &p.1, p.1.sum());
    // Map columns of x (axis -1), share w; the second output does not
    // depend on the mapped input: None keeps it unbatched, Some broadcasts.
    let g = vmap_axes(f, vec![Some(-1), None], vec![Some(0), None]);
    let (a, s) = g(&(x.clone(), w.clone()));
    assert_eq!(a.shape(), &[3, 2]);
    same(
        "columns",
        &a,
        &lax::transpose(&(&x * &lax::broadcast_in_dim(&w, &[2, 3], &[0])), &[1, 0]),
        RTOL,
    )
    .unwrap();
    same("shared output", &s, &w.sum(), RTOL).unwrap();
    let (a1, s1) =
        vmap_axes(f, vec![Some(1), None], vec![Some(-1), Some(0)])(&(x.clone(), w.clone()));
    same(
        "out axis -1",
        &a1,
        &(&x * &lax::broadcast_in_dim(&w, &[2, 3], &[0])),
        RTOL,
    )
    .unwrap();
    same(
        "broadcast output",
        &s1,
        &f64s(vec![vals(&w.sum())[0]; 3], &[3]),
        RTOL,
    )
    .unwrap();
    // An output marked None that differs between examples is an error.
    let err = try_vmap_axes(f, vec![Some(1), None], vec![None, None])(&(x.clone(), w.clone()));
    assert_eq!(
        error_text(err),
        "vmap: out_axes entry 0 is None, but output leaf 0 differs between examples \
         (it depends on a mapped input)"
    );
}

#[test]
fn errors_name_the_problem() {
    let (x3, x4) = (f64s(vec![0.0; 3], &[3]), f64s(vec![0.0; 8], &[4, 2]));
    let add = |p: &(Array, Array)| p.0.sum() + p.1.sum();
    let err = try_vmap(add)(&(x3.clone(), x4.clone()));
    assert_eq!(
        error_text(err),
        "vmap: mapped axes have different sizes: leaf 0 has 3, leaf 1 has 4"
    );
    let message = panic_message(catch_unwind(AssertUnwindSafe(|| {
        vmap(add)(&(x3.clone(), x4.clone()))
    })));
    assert_eq!(
        message,
        "vmap: mapped axes have different sizes: leaf 0 has 3, leaf 1 has 4"
    );
    // Axis 1 of x4 has size 2: still a mismatch, named by leaf.
    let err = try_vmap_axes(add, vec![Some(0), Some(1)], vec![Some(0)])(&(x3.clone(), x4.clone()));
    assert_eq!(
        error_text(err),
        "vmap: mapped axes have different sizes: leaf 0 has 3, leaf 1 has 2"
    );
    let err = try_vmap_axes(add, vec![Some(0)], vec![Some(0)])(&(x3.clone(), x4.clone()));
    assert_eq!(
        error_text(err),
        "vmap: in_axes has 1 entry, but the argument has 2 leaves"
    );
    let err = try_vmap_axes(add, vec![Some(0), Some(0)], vec![])(&(x3.clone(), x3.clone()));
    assert_eq!(
        error_text(err),
        "vmap: out_axes has 0 entries, but the result has 1 leaf"
    );
    let err = try_vmap_axes(add, vec![Some(1), Some(0)], vec![Some(0)])(&(x3.clone(), x3.clone()));
    assert_eq!(
        error_text(err),
        "vmap: axis 1 is out of range for input leaf 0 of type f64[3]"
    );
    let err = try_vmap_axes(add, vec![None, None], vec![Some(0)])(&(x3.clone(), x3.clone()));
    assert_eq!(
        error_text(err),
        "vmap: no input leaf is mapped (every in_axes entry is None, or the argument has no leaves)"
    );
    let err = try_vmap(|x: &Array| x.clone())(&Array::scalar(1.0f64));
    assert_eq!(
        error_text(err),
        "vmap: axis 0 is out of range for input leaf 0 of type f64[]"
    );
    let err = try_vmap_axes(|x: &Array| x.sum(), vec![Some(0)], vec![Some(2)])(&x4);
    assert_eq!(
        error_text(err),
        "vmap: axis 2 is out of range for output leaf 0 of type f64[] plus a batch axis"
    );
}

#[test]
fn trees_in_and_out() {
    let mut rng = Rng::new(16);
    let a = random(&mut rng, &[4, 2]);
    let bs = vec![random(&mut rng, &[4]), random(&mut rng, &[4, 3])];
    let f = |(a, bs): &(Array, Vec<Array>)| {
        let mut m = BTreeMap::new();
        m.insert("norm".to_string(), (a * a).sum());
        m.insert("mixed".to_string(), &bs[1] * &bs[0]);
        m
    };
    let out = vmap(f)(&(a.clone(), bs.clone()));
    for i in 0..4 {
        let e = (
            example(&a, Some(0), i),
            vec![example(&bs[0], Some(0), i), example(&bs[1], Some(0), i)],
        );
        let want = f(&e);
        for key in ["norm", "mixed"] {
            same(key, &example(&out[key], Some(0), i), &want[key], RTOL).unwrap();
        }
    }
}

/// `f(x) = tanh(M x) * sum(x)`, for Jacobians.
fn vector_fn(x: &Array) -> Array {
    let m = f64s((0..12).map(|k| f64::from(k) / 7.0 - 0.8).collect(), &[3, 4]);
    m.matmul(x).tanh() * x.sum()
}

#[test]
fn jacobians_are_vmapped_pullbacks_and_pushforwards() {
    let mut rng = Rng::new(17);
    let x = random(&mut rng, &[4]);
    // Row k of the Jacobian is the gradient of output k.
    let rows: Vec<Array> = (0..3)
        .map(|k| grad(move |x: &Array| lax::slice(&vector_fn(x), &[k], &[k + 1], &[]).sum())(&x))
        .collect();
    let want = jnp::stack(&rows, 0);
    same("jacrev", &jacrev(vector_fn)(&x), &want, RTOL).unwrap();
    same("jacfwd", &jacfwd(vector_fn)(&x), &want, 1e-12).unwrap();
    // Per-example Jacobians and Hessians.
    let xs = random(&mut rng, &[3, 4]);
    let batched = vmap(jacrev(vector_fn))(&xs);
    let scalar = |x: &Array| (vector_fn(x) * x.sum()).sum();
    let hs = vmap(hessian(scalar))(&xs);
    assert_eq!(
        (batched.shape(), hs.shape()),
        (&[3, 3, 4][..], &[3, 4, 4][..])
    );
    for i in 0..3 {
        let xi = example(&xs, Some(0), i);
        same(
            "vmap(jacrev)",
            &example(&batched, Some(0), i),
            &jacfwd(vector_fn)(&xi),
            1e-12,
        )
        .unwrap();
        // Hessian column j is the gradient of d f / d x_j.
        let cols: Vec<Array> = (0..4)
            .map(|j| {
                grad(move |x: &Array| lax::slice(&grad(scalar)(x), &[j], &[j + 1], &[]).sum())(&xi)
            })
            .collect();
        same(
            "vmap(hessian)",
            &example(&hs, Some(0), i),
            &jnp::stack(&cols, 1),
            1e-12,
        )
        .unwrap();
    }
}

#[test]
fn custom_rules_survive_vmap() {
    let mut rng = Rng::new(18);
    let xs = random(&mut rng, &[4, 2]);
    let ts = random(&mut rng, &[4, 2]);
    // A custom_jvp rule that is deliberately not the derivative: seeing
    // 10 * t proves the rule, not the body, is differentiated.
    let g = custom_jvp(
        |x: &Array| x.sin(),
        |x: &Array, t: &Array| (x.sin(), t * 10.0),
    );
    let (y, dy) = jvp(vmap(&g), &xs, &ts);
    same("primal", &y, &xs.sin(), RTOL).unwrap();
    same("jvp(vmap(custom_jvp))", &dy, &(&ts * 10.0), RTOL).unwrap();
    let dy2 = vmap(|p: &(Array, Array)| jvp(&g, &p.0, &p.1).1)(&(xs.clone(), ts.clone()));
    same("vmap(jvp(custom_jvp))", &dy2, &(&ts * 10.0), RTOL).unwrap();
    let staged = make_jaxpr(vmap(&g))(&xs).expect("make_jaxpr");
    assert_eq!(count_prims(&staged, "custom_jvp_call"), 1, "{staged}");
    // custom_vjp of (w, x) -> w * sin(x) whose bwd doubles the cotangents;
    // w is shared by the examples, so its gradient is summed over them.
    let h = custom_vjp(
        |p: &(Array, Array)| &p.0 * p.1.sin(),
        |p: &(Array, Array)| (&p.0 * p.1.sin(), (p.0.clone(), p.1.clone())),
        |r: &(Array, Array), ct: &Array| (ct * r.1.sin() * 2.0, ct * &r.0 * r.1.cos() * 2.0),
    );
    let w = random(&mut rng, &[2]);
    let total = |p: &(Array, Array)| vmap_axes(&h, vec![None, Some(0)], vec![Some(0)])(p).sum();
    let (gw, gx) = grad(total)(&(w.clone(), xs.clone()));
    same(
        "shared w",
        &gw,
        &(jnp::sum(&xs.sin(), 0, false) * 2.0),
        RTOL,
    )
    .unwrap();
    same("per-example x", &gx, &(&w * xs.cos() * 2.0), RTOL).unwrap();
    let per_example = vmap_axes(
        grad(|p: &(Array, Array)| h(p).sum()),
        vec![None, Some(0)],
        vec![Some(0), Some(0)],
    )(&(w.clone(), xs.clone()));
    same(
        "vmap(grad(custom_vjp)) w",
        &per_example.0,
        &(xs.sin() * 2.0),
        RTOL,
    )
    .unwrap();
    // Forward mode of a custom_vjp function stays the same clear error.
    let doubled = custom_vjp(
        |x: &Array| x.sin(),
        |x: &Array| (x.sin(), x.cos()),
        |c: &Array, ct: &Array| ct * c * 2.0,
    );
    let message = panic_message(catch_unwind(AssertUnwindSafe(|| {
        vmap(|p: &(Array, Array)| jvp(&doubled, &p.0, &p.1).1)(&(xs.clone(), ts.clone()))
    })));
    assert_eq!(
        message,
        "custom_lin: forward-mode differentiation (jvp, jacfwd) of a custom_vjp function \
         is not supported; use reverse mode (grad, vjp, jacrev)"
    );
}

// ---- 4. random programs -------------------------------------------------------------

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
