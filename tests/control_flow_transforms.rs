//! Control flow under transformations: `jvp` of `cond`, `while_loop` and
//! `scan` against central finite differences and against the jvp of the
//! same computation unrolled into straight-line code (a property test for
//! `while_loop`); `vmap` of `cond` (unbatched and batched predicate),
//! `switch`, `while_loop` (batched predicate) and `scan` against stacking
//! per-example results; `jit` of the transformed functions; nested control
//! flow.
//!
//! Run with `cargo test --release --test control_flow_transforms`.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rjax::lax::{self, ScanOptions};
use rjax::{jit, jnp, jvp, vmap, vmap_axes, Array, DType};

fn f64s(values: &[f64], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).expect("array")
}

fn vals(a: &Array) -> Vec<f64> {
    a.to_f64_vec().expect("values")
}

fn assert_close(what: &str, got: &[f64], want: &[f64], rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * w.abs().max(1.0),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// Central differences of `f` at `x` in direction `t` (f64, `h = 1e-6`:
/// truncation ~1e-12 and rounding ~1e-10 relative for these smooth
/// functions of moderate size; `1e-6` relative leaves a wide margin while
/// a wrong rule is off by O(1)).
fn fd(f: &dyn Fn(&Array) -> Array, x: &[f64], t: &[f64], shape: &[usize]) -> Vec<f64> {
    let h = 1e-6;
    let at = |s: f64| {
        let p: Vec<f64> = x.iter().zip(t).map(|(x, t)| x + s * h * t).collect();
        vals(&f(&f64s(&p, shape)))
    };
    at(1.0)
        .iter()
        .zip(at(-1.0))
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect()
}

const FD_RTOL: f64 = 1e-6;
const EXACT: f64 = 1e-12;

// ---- jvp ----------------------------------------------------------------------------

fn cond_program(x: &Array) -> Array {
    let w = f64s(&[0.5, -2.0, 1.5], &[3]);
    let pred = jnp::greater(&x.sum(), &Array::scalar(0.0f64));
    lax::cond(
        &pred,
        |x: &Array| (x * &w).sin(),
        |x: &Array| x * x * 3.0,
        x,
    )
}

#[test]
fn jvp_of_cond_matches_finite_differences_and_the_chosen_branch() {
    let t = [0.3, -1.0, 0.7];
    for x in [[0.4, 1.0, -0.2], [-0.4, -1.0, 0.2]] {
        let xa = f64s(&x, &[3]);
        let (y, dy) = jvp(cond_program, &xa, &f64s(&t, &[3]));
        assert_close("primal", &vals(&y), &vals(&cond_program(&xa)), EXACT);
        assert_close(
            "vs fd",
            &vals(&dy),
            &fd(&cond_program, &x, &t, &[3]),
            FD_RTOL,
        );
        let w = [0.5, -2.0, 1.5];
        let branch: Vec<f64> = if x.iter().sum::<f64>() > 0.0 {
            (0..3).map(|i| (x[i] * w[i]).cos() * w[i] * t[i]).collect()
        } else {
            (0..3).map(|i| 6.0 * x[i] * t[i]).collect()
        };
        assert_close("vs hand-derived", &vals(&dy), &branch, EXACT);
        let (_, dj) = jit(|(x, t): &(Array, Array)| jvp(cond_program, x, t))(&(xa, f64s(&t, &[3])));
        assert_close("jit(jvp)", &vals(&dj), &branch, EXACT);
    }
}

/// A tangent that is zero in one branch and not in the other still gets
/// one output: `cond(p, |(a, b)| a * b, |(a, _)| a)` differentiated in `b`.
#[test]
fn jvp_of_cond_instantiates_zero_tangents_of_one_branch() {
    let f = |b: &Array| {
        let a = Array::scalar(2.0f64);
        let p = jnp::greater(b, &Array::scalar(0.0f64));
        lax::cond(
            &p,
            |(a, b): &(Array, Array)| a * b,
            |(a, _): &(Array, Array)| a.clone(),
            &(a, b.clone()),
        )
    };
    let (_, d) = jvp(f, &Array::scalar(1.0f64), &Array::scalar(1.0f64));
    assert_close("nonzero branch", &vals(&d), &[2.0], EXACT);
    let (_, d) = jvp(f, &Array::scalar(-1.0f64), &Array::scalar(1.0f64));
    assert_close("zero branch", &vals(&d), &[0.0], EXACT);
}

/// `x <- sin(x) * a + x * 0.5` while `k < n` (an integer counter in the
/// carry); `a` is captured, and the tangent of the second carry starts at
/// zero but becomes nonzero after one step (the fixpoint).
fn while_program(a: &Array, n: i32) -> impl Fn(&Array) -> Array + '_ {
    move |x: &Array| {
        let init = (x.clone(), Array::scalar(0.0f64), Array::scalar(0i32));
        let (x, z, _) = lax::while_loop(
            |(_, _, k): &(Array, Array, Array)| jnp::less(k, &Array::scalar(n)),
            |(x, z, k): &(Array, Array, Array)| (x.sin() * a + x * 0.5, z + &x.sum(), k + 1),
            &init,
        );
        x + z
    }
}

/// The same loop unrolled in straight-line code.
fn while_unrolled(a: &Array, n: i32) -> impl Fn(&Array) -> Array + '_ {
    move |x: &Array| {
        let (mut x, mut z) = (x.clone(), Array::scalar(0.0f64));
        for _ in 0..n {
            let next = x.sin() * a + &x * 0.5;
            z = z + x.sum();
            x = next;
        }
        x + z
    }
}

#[test]
fn jvp_of_while_matches_finite_differences() {
    let a = f64s(&[0.9, -0.3], &[2]);
    let (x, t) = ([0.2, -0.7], [1.0, 0.5]);
    let f = while_program(&a, 4);
    let (_, d) = jvp(&f, &f64s(&x, &[2]), &f64s(&t, &[2]));
    assert_close("while vs fd", &vals(&d), &fd(&f, &x, &t, &[2]), FD_RTOL);
    let (_, dj) = jit(|(x, t): &(Array, Array)| jvp(while_program(&a, 4), x, t))(&(
        f64s(&x, &[2]),
        f64s(&t, &[2]),
    ));
    assert_close("jit(jvp(while))", &vals(&dj), &vals(&d), EXACT);
}

#[test]
fn jvp_of_while_loop_equals_the_unrolled_jvp() {
    let config = Config {
        cases: 24,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = (prop::collection::vec(-2.0f64..2.0, 6), 0i32..6);
    runner
        .run(&strategy, |(v, n)| {
            let a = f64s(&v[..2], &[2]);
            let (x, t) = (f64s(&v[2..4], &[2]), f64s(&v[4..], &[2]));
            let (y, d) = jvp(while_program(&a, n), &x, &t);
            let (yu, du) = jvp(while_unrolled(&a, n), &x, &t);
            let close = |g: &Array, w: &Array| {
                vals(g)
                    .iter()
                    .zip(vals(w))
                    .all(|(g, w)| (g - w).abs() <= EXACT * w.abs().max(1.0))
            };
            prop_assert!(close(&y, &yu), "primal {:?} vs {:?}", vals(&y), vals(&yu));
            prop_assert!(
                close(&d, &du),
                "tangent {:?} vs {:?} (n = {n})",
                vals(&d),
                vals(&du)
            );
            Ok(())
        })
        .expect("jvp of while_loop equals the unrolled jvp");
}

/// A scan with a captured constant, two carries (one whose tangent starts
/// at zero) and two stacked outputs, reduced to one vector.
fn scan_program(w: &Array) -> impl Fn(&Array) -> Array + '_ {
    move |xs: &Array| {
        let init = (f64s(&[0.1, 0.2], &[2]), Array::scalar(1.0f64));
        let ((h, s), (ys, zs)) = lax::scan(
            |(h, s): &(Array, Array), x: &Array| {
                let h2 = (h * w + x).tanh();
                let s2 = s * &h2.sum().cos();
                ((h2.clone(), s2.clone()), (h2 * &s2, x.sum()))
            },
            &init,
            xs,
            ScanOptions::default(),
        );
        jnp::concatenate(&[h, ys.sum_axes([0], false) * s, zs], 0)
    }
}

fn scan_unrolled(w: &Array) -> impl Fn(&Array) -> Array + '_ {
    move |xs: &Array| {
        let (mut h, mut s) = (f64s(&[0.1, 0.2], &[2]), Array::scalar(1.0f64));
        let (mut acc, mut zs) = (f64s(&[0.0, 0.0], &[2]), vec![]);
        for i in 0..xs.shape()[0] {
            let x = xs.take(&Array::scalar(i as i32), 0);
            h = (&h * w + &x).tanh();
            s = &s * &h.sum().cos();
            acc = acc + &h * &s;
            zs.push(x.sum().expand_dims(0));
        }
        let mut parts = vec![h, acc * s];
        parts.extend(zs);
        jnp::concatenate(&parts, 0)
    }
}

#[test]
fn jvp_of_scan_matches_finite_differences_and_the_unrolled_loop() {
    let w = f64s(&[0.7, -1.1], &[2]);
    let x: Vec<f64> = (0..8).map(|i| (i as f64 * 0.37).sin()).collect();
    let t: Vec<f64> = (0..8).map(|i| (i as f64 * 1.3).cos()).collect();
    let f = scan_program(&w);
    let (y, d) = jvp(&f, &f64s(&x, &[4, 2]), &f64s(&t, &[4, 2]));
    let (yu, du) = jvp(scan_unrolled(&w), &f64s(&x, &[4, 2]), &f64s(&t, &[4, 2]));
    assert_close("primal", &vals(&y), &vals(&yu), EXACT);
    assert_close("vs unrolled", &vals(&d), &vals(&du), EXACT);
    assert_close("vs fd", &vals(&d), &fd(&f, &x, &t, &[4, 2]), FD_RTOL);
    // Differentiating with respect to the captured constant too.
    let g = |p: &(Array, Array)| scan_program(&p.0)(&p.1);
    let gu = |p: &(Array, Array)| scan_unrolled(&p.0)(&p.1);
    let primal = (w.clone(), f64s(&x, &[4, 2]));
    let tangent = (f64s(&[1.0, -0.5], &[2]), f64s(&t, &[4, 2]));
    let (_, d) = jvp(g, &primal, &tangent);
    let (_, du) = jvp(gu, &primal, &tangent);
    assert_close("const tangent", &vals(&d), &vals(&du), EXACT);
    let (_, dj) = jit(|(p, t): &((Array, Array), (Array, Array))| jvp(g, p, t))(&(primal, tangent));
    assert_close("jit(jvp(scan))", &vals(&dj), &vals(&du), EXACT);
}

// ---- vmap ---------------------------------------------------------------------------

/// Runs `f` on each row of `xs` and stacks the results.
fn per_example(f: &dyn Fn(&Array) -> Array, xs: &Array) -> Vec<f64> {
    (0..xs.shape()[0])
        .flat_map(|i| vals(&f(&xs.take(&Array::scalar(i as i32), 0))))
        .collect()
}

#[test]
fn vmap_of_cond_with_batched_and_unbatched_predicates() {
    let xs = f64s(&[0.5, 1.0, -2.0, -0.5, 0.25, 0.25], &[3, 2]);
    // Batched predicate: every branch runs, select per example.
    let mapped = vmap(cond_program_2)(&xs);
    assert_close(
        "batched pred",
        &vals(&mapped),
        &per_example(&cond_program_2, &xs),
        EXACT,
    );
    let jitted = jit(vmap(cond_program_2))(&xs);
    assert_close(
        "jit(vmap)",
        &vals(&jitted),
        &per_example(&cond_program_2, &xs),
        EXACT,
    );
    // Unbatched predicate (a shared flag): stays a cond.
    for flag in [true, false] {
        let f = |(p, x): &(Array, Array)| lax::cond(p, |x: &Array| x.exp(), |x: &Array| x * 2.0, x);
        let g = vmap_axes(f, vec![None, Some(0)], vec![Some(0)]);
        let got = g(&(Array::scalar(flag), xs.clone()));
        let want = per_example(&|x| f(&(Array::scalar(flag), x.clone())), &xs);
        assert_close("unbatched pred", &vals(&got), &want, EXACT);
        let j = rjax::make_jaxpr(|x: &Array| g(&(Array::scalar(flag), x.clone())))(&xs).unwrap();
        assert!(j.jaxpr.eqns.iter().any(|e| e.prim.name() == "cond"), "{j}");
    }
}

fn cond_program_2(x: &Array) -> Array {
    let p = jnp::greater(&x.sum(), &Array::scalar(0.0f64));
    lax::cond(&p, |x: &Array| x.sin() + 1.0, |x: &Array| x * x, x)
}

#[test]
fn vmap_of_switch_with_a_batched_index() {
    let b0 = |x: &Array| x + 1.0;
    let b1 = |x: &Array| x * 3.0;
    let b2 = |x: &Array| x.cos();
    let branches: [&dyn Fn(&Array) -> Array; 3] = [&b0, &b1, &b2];
    let f = |(i, x): &(Array, Array)| lax::switch(i, &branches, x);
    let idx = Array::from_vec(vec![-1i32, 0, 1, 2, 9], &[5]).unwrap();
    let xs = f64s(&[0.1, 0.2, 0.3, 0.4, 0.5], &[5]);
    let got = vmap(f)(&(idx.clone(), xs.clone()));
    let want: Vec<f64> = [-1i32, 0, 1, 2, 9]
        .iter()
        .zip([0.1, 0.2, 0.3, 0.4, 0.5])
        .map(|(i, x)| vals(&f(&(Array::scalar(*i), Array::scalar(x))))[0])
        .collect();
    assert_close("vmap(switch)", &vals(&got), &want, EXACT);
    assert_close(
        "jit(vmap(switch))",
        &vals(&jit(vmap(f))(&(idx, xs))),
        &want,
        EXACT,
    );
}

/// Halve until below a threshold, counting steps: the trip count differs
/// per example, so the predicate is batched.
fn halving(x: &Array) -> Array {
    let (y, n) = lax::while_loop(
        |(y, _): &(Array, Array)| jnp::greater(y, &Array::scalar(1.0f64)),
        |(y, n): &(Array, Array)| (y * 0.5, n + 1.0),
        &(x.clone(), Array::scalar(0.0f64)),
    );
    y + n * 10.0
}

#[test]
fn vmap_of_while_with_a_batched_predicate() {
    let xs = f64s(&[0.5, 3.0, 100.0, 1.0, 7.5], &[5]);
    let want = per_example(&halving, &xs);
    assert_close("reference sanity", &want[..2], &[0.5, 0.75 + 20.0], EXACT);
    assert_close("vmap(while)", &vals(&vmap(halving)(&xs)), &want, EXACT);
    assert_close(
        "jit(vmap(while))",
        &vals(&jit(vmap(halving))(&xs)),
        &want,
        EXACT,
    );
    // A batched carry with an unbatched predicate (fixed trip count).
    let f = |x: &Array| {
        lax::fori_loop_dynamic(
            &Array::scalar(0i32),
            &Array::scalar(3i32),
            |_, c: &Array| c.sin() + c,
            x,
        )
    };
    assert_close(
        "vmap(fori_dynamic)",
        &vals(&vmap(f)(&xs)),
        &per_example(&f, &xs),
        EXACT,
    );
}

#[test]
fn vmap_of_scan_matches_stacked_examples() {
    let w = f64s(&[0.7, -1.1], &[2]);
    let f = scan_program(&w);
    let xs: Vec<f64> = (0..24).map(|i| (i as f64 * 0.21).sin()).collect();
    let batch = f64s(&xs, &[3, 4, 2]);
    let want = per_example(&f, &batch);
    assert_close("vmap(scan)", &vals(&vmap(&f)(&batch)), &want, EXACT);
    assert_close(
        "jit(vmap(scan))",
        &vals(&jit(vmap(&f))(&batch)),
        &want,
        EXACT,
    );
    // Batched along the last axis, and with the captured constant batched.
    let moved = jnp::moveaxis(&batch, 0, 2);
    let got = vmap_axes(&f, vec![Some(2)], vec![Some(0)])(&moved);
    assert_close("in_axes 2", &vals(&got), &want, EXACT);
    let ws = f64s(&[0.7, -1.1, 0.2, 0.3, -0.4, 0.9], &[3, 2]);
    let g = |(w, x): &(Array, Array)| scan_program(w)(x);
    let got = vmap(g)(&(ws.clone(), batch.clone()));
    let want: Vec<f64> = (0..3)
        .flat_map(|i| {
            let pick = |a: &Array| a.take(&Array::scalar(i), 0);
            vals(&g(&(pick(&ws), pick(&batch))))
        })
        .collect();
    assert_close("batched const", &vals(&got), &want, EXACT);
}

// ---- nesting ------------------------------------------------------------------------

/// A cond inside a scan body and a scan inside a cond branch.
fn nested(x: &Array) -> Array {
    let (c, ys) = lax::scan(
        |c: &Array, x: &Array| {
            let p = jnp::greater(x, &Array::scalar(0.0f64));
            let c = lax::cond(&p, |c: &Array| c * x, |c: &Array| c - x, c);
            (c.clone(), c.sin())
        },
        &Array::scalar(1.0f64),
        x,
        ScanOptions::default(),
    );
    let p = jnp::greater(&c, &Array::scalar(0.0f64));
    let inner = lax::cond(
        &p,
        |ys: &Array| {
            lax::scan(
                |s: &Array, y: &Array| (s + y * y, ()),
                &Array::scalar(0.0f64),
                ys,
                ScanOptions::default().reversed(),
            )
            .0
        },
        |ys: &Array| ys.sum(),
        &ys,
    );
    inner + c
}

fn nested_ref(x: &[f64]) -> f64 {
    let mut c = 1.0f64;
    let mut ys = vec![];
    for x in x {
        c = if *x > 0.0 { c * x } else { c - x };
        ys.push(c.sin());
    }
    let inner = if c > 0.0 {
        ys.iter().rev().map(|y| y * y).sum::<f64>()
    } else {
        ys.iter().sum()
    };
    inner + c
}

#[test]
fn nested_control_flow_under_jit_jvp_and_vmap() {
    let rows = [[0.5, -1.0, 2.0], [-0.3, -0.2, 0.9], [1.5, 0.5, -4.0]];
    let batch = f64s(&rows.concat(), &[3, 3]);
    for r in &rows {
        let x = f64s(r, &[3]);
        assert_close("nested eager", &vals(&nested(&x)), &[nested_ref(r)], EXACT);
        assert_close(
            "nested jit",
            &vals(&jit(nested)(&x)),
            &[nested_ref(r)],
            EXACT,
        );
        let t = [0.3, 0.1, -0.2];
        let (_, d) = jvp(nested, &x, &f64s(&t, &[3]));
        assert_close("nested jvp", &vals(&d), &fd(&nested, r, &t, &[3]), FD_RTOL);
    }
    let want: Vec<f64> = rows.iter().map(|r| nested_ref(r)).collect();
    assert_close("nested vmap", &vals(&vmap(nested)(&batch)), &want, EXACT);
    let _ = DType::F64;
}

// ---- compositions --------------------------------------------------------------------

/// `vmap(jvp(while))`: per-example forward derivatives of a loop whose
/// trip count differs per example.
#[test]
fn vmap_of_jvp_of_while_matches_per_example_jvps() {
    let f = |x: &Array| {
        let (y, _) = lax::while_loop(
            |(y, _): &(Array, Array)| jnp::less(y, &Array::scalar(10.0f64)),
            |(y, k): &(Array, Array)| (y * y + 1.0, k + 1),
            &(x.clone(), Array::scalar(0i32)),
        );
        y
    };
    let df = |(x, t): &(Array, Array)| jvp(f, x, t).1;
    let xs = f64s(&[0.5, 1.5, 2.5, 3.5], &[4]);
    let ts = f64s(&[1.0, -1.0, 0.5, 2.0], &[4]);
    let got = vmap(df)(&(xs.clone(), ts.clone()));
    let want: Vec<f64> = (0..4)
        .map(|i| {
            let (x, t) = (vals(&xs)[i], vals(&ts)[i]);
            let (mut y, mut dy) = (x, t);
            while y < 10.0 {
                dy *= 2.0 * y;
                y = y * y + 1.0;
            }
            dy
        })
        .collect();
    assert_close("vmap(jvp(while))", &vals(&got), &want, EXACT);
}

/// A `fori_loop` with static bounds is a `scan`, so `grad` works and
/// equals the gradient of the unrolled loop; `grad(vmap(scan))` too.
#[test]
fn grad_of_static_fori_loop_equals_the_unrolled_grad() {
    let looped = |x: &Array| {
        lax::fori_loop(
            0,
            5,
            |i: &Array, c: &Array| (c * &i.astype(DType::F64)).sin() + c,
            x,
        )
        .sum()
    };
    let unrolled = |x: &Array| {
        let mut c = x.clone();
        for i in 0..5 {
            c = (&c * i as f64).sin() + &c;
        }
        c.sum()
    };
    let x = f64s(&[0.3, -0.8, 1.1], &[3]);
    let g = rjax::grad(looped)(&x);
    assert_close(
        "grad(fori)",
        &vals(&g),
        &vals(&rjax::grad(unrolled)(&x)),
        EXACT,
    );
    let w = f64s(&[0.7, -1.1], &[2]);
    let batch = f64s(
        &(0..24).map(|i| (i as f64 * 0.13).cos()).collect::<Vec<_>>(),
        &[3, 4, 2],
    );
    let total = |b: &Array| vmap(scan_program(&w))(b).sum();
    let total_unrolled = |b: &Array| vmap(scan_unrolled(&w))(b).sum();
    let g = rjax::grad(total)(&batch);
    assert_close(
        "grad(vmap(scan))",
        &vals(&g),
        &vals(&rjax::grad(total_unrolled)(&batch)),
        EXACT,
    );
}

/// Mapping a sampler that draws inside a `scan` over `split(key, n)` gives
/// the numbers of calling it on each key.
#[test]
fn prng_inside_scan_under_vmap_matches_per_key_calls() {
    use rjax::random;
    let sampler = |key: &Array| {
        let (_, draws) = lax::scan(
            |k: &Array, _: &()| {
                let (next, sub) = random::split2(k);
                (next, random::normal(&sub, &[2], DType::F32))
            },
            key,
            &(),
            ScanOptions::default().with_length(3),
        );
        draws
    };
    let keys = random::split(&random::key(11), 4);
    let mapped = vmap(sampler)(&keys);
    assert_eq!(mapped.shape(), &[4, 3, 2]);
    let per_key: Vec<f32> = (0..4)
        .flat_map(|i| {
            sampler(&keys.take(&Array::scalar(i), 0))
                .to_vec::<f32>()
                .unwrap()
        })
        .collect();
    assert_eq!(mapped.to_vec::<f32>().unwrap(), per_key);
    assert_eq!(jit(vmap(sampler))(&keys).to_vec::<f32>().unwrap(), per_key);
}

/// Tangents and batches that reach a branch only through a value it
/// captures (a tracer of the enclosing jvp or vmap) are carried as an
/// operand of the `cond`.
#[test]
fn captured_tracers_of_enclosing_transformations_flow_through_cond() {
    let f = |x: &Array| {
        let p = jnp::greater(&x.sum(), &Array::scalar(0.0f64));
        let k = f64s(&[1.0, 2.0], &[2]);
        lax::cond(&p, |k: &Array| k * x, |k: &Array| k + x.sin(), &k)
    };
    let t = [0.5, -1.5];
    for x in [[0.3, 0.4], [-0.3, -0.4]] {
        let (_, d) = jvp(f, &f64s(&x, &[2]), &f64s(&t, &[2]));
        let want: Vec<f64> = if x[0] + x[1] > 0.0 {
            vec![t[0], 2.0 * t[1]]
        } else {
            vec![x[0].cos() * t[0], x[1].cos() * t[1]]
        };
        assert_close("jvp through a captured tracer", &vals(&d), &want, EXACT);
    }
    let xs = f64s(&[0.3, 0.4, -0.3, -0.4, 1.0, -2.0], &[3, 2]);
    assert_close(
        "vmap through a captured tracer",
        &vals(&vmap(f)(&xs)),
        &per_example(&f, &xs),
        EXACT,
    );
}

/// `jvp(switch)` differentiates the chosen branch; `vmap` of a reversed
/// scan with an integer output stacks like the per-example calls.
#[test]
fn jvp_of_switch_and_vmap_of_a_reversed_scan() {
    let b0 = |x: &Array| x * 3.0;
    let b1 = |x: &Array| x.exp();
    let b2 = |x: &Array| x * x;
    let branches: [&dyn Fn(&Array) -> Array; 3] = [&b0, &b1, &b2];
    let x = 0.7f64;
    for (i, want) in [(-1, 3.0), (1, x.exp()), (2, 2.0 * x), (5, 2.0 * x)] {
        let f = |x: &Array| lax::switch(&Array::scalar(i), &branches, x);
        let (_, d) = jvp(f, &Array::scalar(x), &Array::scalar(1.0f64));
        assert_close("jvp(switch)", &vals(&d), &[want], EXACT);
    }
    let f = |xs: &Array| {
        let (c, (ys, ks)) = lax::scan(
            |(c, k): &(Array, Array), x: &Array| {
                let c = c * 0.5 + x;
                let k = k + 1;
                ((c.clone(), k.clone()), (c, k))
            },
            &(Array::scalar(0.0f64), Array::scalar(0i32)),
            xs,
            ScanOptions::default().reversed(),
        );
        (c.0, ys, ks)
    };
    let batch = f64s(&[1.0, 2.0, 3.0, -1.0, 0.5, 4.0], &[2, 3]);
    let (c, ys, ks) = vmap(f)(&batch);
    for b in 0..2 {
        let (mut cr, mut want_ys, mut want_ks) = (0.0f64, vec![0.0; 3], vec![0; 3]);
        for t in (0..3).rev() {
            cr = cr * 0.5 + vals(&batch)[b * 3 + t];
            want_ys[t] = cr;
            want_ks[t] = 3 - t as i32;
        }
        assert_close("reversed c", &vals(&c)[b..b + 1], &[cr], EXACT);
        assert_close("reversed ys", &vals(&ys)[b * 3..b * 3 + 3], &want_ys, EXACT);
        assert_eq!(ks.to_vec::<i32>().unwrap()[b * 3..b * 3 + 3], want_ks[..]);
    }
}

/// Forward mode over forward mode: the second derivative of `x^8`
/// computed by squaring three times in a `while_loop` and in a `scan`.
#[test]
fn second_derivatives_through_while_and_scan() {
    let by_while = |x: &Array| {
        let (lo, hi) = (Array::scalar(0i32), Array::scalar(3i32));
        lax::fori_loop_dynamic(&lo, &hi, |_, c: &Array| c * c, x)
    };
    let by_scan = |x: &Array| lax::fori_loop(0, 3, |_, c: &Array| c * c, x);
    let x = 1.3f64;
    for (what, f) in [
        ("while", &by_while as &dyn Fn(&Array) -> Array),
        ("scan", &by_scan),
    ] {
        let df = |x: &Array| jvp(f, x, &Array::scalar(1.0f64)).1;
        let (d1, d2) = jvp(df, &Array::scalar(x), &Array::scalar(1.0f64));
        assert_close(what, &vals(&d1), &[8.0 * x.powi(7)], EXACT);
        assert_close(what, &vals(&d2), &[56.0 * x.powi(6)], EXACT);
    }
}
