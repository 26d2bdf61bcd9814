//! `vmap` composed with the other transformations, each against a loop
//! over the examples: per-example gradients (`vmap(grad)`), `grad(vmap)`,
//! `jit(vmap)` (one batched program), `vmap(jit)` (the call is kept),
//! nested `vmap`, `jacfwd`/`jacrev`/`hessian` (built on `vmap`), custom
//! rules under `vmap`; and trees, `in_axes`/`out_axes` and the errors.
//!
//! Run with `cargo test --release --test vmap_compositions`.

// Each vmap test binary uses a subset of the shared helpers.
#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod vmap_util;

use common::rng::Rng;
use rjax::lax;
use rjax::{custom_jvp, custom_vjp, grad, hessian, jacfwd, jacrev, jit, jnp, jvp, make_jaxpr};
use rjax::{try_vmap, try_vmap_axes, vmap, vmap_axes, Array, Jit};
use rjax_ir::Primitive;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use vmap_util::*;

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
