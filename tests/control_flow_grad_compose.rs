//! Reverse-mode differentiation through control flow composed with the
//! other transformations: `vjp` against `jvp` (the adjoint identity),
//! `jit` inside and outside `grad`, Hessian-vector products and Hessians,
//! `vmap` of per-example gradients, `linearize`, nested loops and
//! branches, and custom derivative rules inside a loop. Expected values
//! come from the same programs written out in Rust and from finite
//! differences; all arithmetic is `f64`.
//!
//! Run with `cargo test --release --test control_flow_grad_compose`.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod control_flow_grad_util;

use common::numeric::{array, close, directional_fd, dot, flat, random_like, vals};
use common::rng::Rng;
use control_flow_grad_util::*;
use rjax::lax::{self, ScanOptions};
use rjax::{grad, jit, jvp, make_jaxpr, vjp, Array};

#[test]
fn vjp_of_scan_is_the_adjoint_of_its_jvp() {
    let (p, _) = scan_case(&mut Rng::new(21), 5, 2, 3);
    let f = |p: &ScanParams| {
        let (w, init, xs) = p;
        lax::scan(
            |c: &Vec<Array>, x: &Array| step(w, c, x),
            init,
            xs,
            ScanOptions::default(),
        )
    };
    let mut rng = Rng::new(22);
    let leaves = rjax::tree_leaves(&p);
    let t_leaves = random_like(&leaves, &mut rng);
    let t: ScanParams = rjax::tree_unflatten(&p, t_leaves.clone()).expect("tangent tree");
    let (out, jvp_out) = jvp(f, &p, &t);
    let ct_leaves = random_like(&rjax::tree_leaves(&out), &mut rng);
    let ct = rjax::tree_unflatten(&out, ct_leaves.clone()).expect("cotangent tree");
    let (_, pullback) = vjp(f, &p);
    let ct_in = pullback(&ct);
    let lhs = dot(&flat(&rjax::tree_leaves(&ct_in)), &flat(&t_leaves));
    let rhs = dot(&flat(&ct_leaves), &flat(&rjax::tree_leaves(&jvp_out)));
    check(close(
        "<vjp(ct), t> vs <ct, jvp(t)>",
        &[lhs],
        &[rhs],
        TOL,
        TOL,
    ));
}

#[test]
fn jit_and_grad_compose_through_scan() {
    let (p, yw) = scan_case(&mut Rng::new(31), 6, 2, 2);
    let want = flat_params(&grad(|p: &ScanParams| unrolled_loss(p, &yw, false))(&p));
    let g = |p: &ScanParams| scan_loss(p, &yw, false);
    let jit_of_grad = jit(grad(g));
    check(close(
        "jit(grad)",
        &flat_params(&jit_of_grad(&p)),
        &want,
        TOL,
        TOL,
    ));
    let yw2 = yw.clone();
    let inner = jit(move |p: &ScanParams| scan_loss(p, &yw2, false));
    let grad_of_jit = grad(move |p: &ScanParams| inner(p));
    check(close(
        "grad(jit)",
        &flat_params(&grad_of_jit(&p)),
        &want,
        TOL,
        TOL,
    ));
    // The staged gradient keeps loops (a forward and a backward scan), not
    // an unrolled program.
    let jaxpr = make_jaxpr(grad(g))(&p).expect("make_jaxpr");
    assert_eq!(count_top(&jaxpr.jaxpr, "scan"), 2, "{jaxpr}");
}

#[test]
fn hessian_vector_product_through_scan() {
    let (p, yw) = scan_case(&mut Rng::new(41), 4, 1, 2);
    let g = |p: &ScanParams| grad(|q: &ScanParams| scan_loss(q, &yw, false))(p);
    let leaves = rjax::tree_leaves(&p);
    let v_leaves = random_like(&leaves, &mut Rng::new(42));
    let v: ScanParams = rjax::tree_unflatten(&p, v_leaves.clone()).expect("tangent tree");
    let (_, hv) = jvp(g, &p, &v);
    let grad_flat = |q: &[Array]| {
        let q: ScanParams = rjax::tree_unflatten(&p, q.to_vec()).expect("tree");
        flat_params(&g(&q))
    };
    let fd = directional_fd(&grad_flat, &leaves, &v_leaves, 1e-5);
    check(close("hvp vs fd", &flat_params(&hv), &fd, FD_TOL, FD_TOL));
    let g_loop = |p: &ScanParams| grad(|q: &ScanParams| unrolled_loss(q, &yw, false))(p);
    let (_, hv_loop) = jvp(g_loop, &p, &v);
    check(close(
        "hvp vs unrolled",
        &flat_params(&hv),
        &flat_params(&hv_loop),
        TOL,
        TOL,
    ));
}

// ---- nesting ------------------------------------------------------------------

#[test]
fn grad_of_cond_inside_scan_equals_unrolled() {
    let mut rng = Rng::new(51);
    let p = (
        array(rng.vector(3), &[3]),
        array(rng.vector(3), &[3]),
        array(rng.vector(18), &[6, 3]),
    );
    // Both branches are taken along the way.
    let mut c = (p.1.clone(), Array::scalar(1.0f64));
    let mut taken = Vec::new();
    for i in 0..6 {
        taken.push(scalar(&c.0.sum()) > 0.0);
        c = branchy_step(&p.0, &c, &p.2.get(i), true);
    }
    assert!(taken.contains(&true) && taken.contains(&false), "{taken:?}");
    let flat3 = |g: &(Array, Array, Array)| flat(&rjax::tree_leaves(g));
    let g = grad(|p: &(Array, Array, Array)| nested_loss(p, false))(&p);
    let want = grad(|p: &(Array, Array, Array)| nested_loss(p, true))(&p);
    check(close("cond in scan", &flat3(&g), &flat3(&want), TOL, TOL));
    let jitted = jit(grad(|p: &(Array, Array, Array)| nested_loss(p, false)))(&p);
    check(close(
        "jit(grad(cond in scan))",
        &flat3(&jitted),
        &flat3(&want),
        TOL,
        TOL,
    ));
}

/// `sum_i sum_j sin(x_ij * c)` with `c <- c * x_ij + 0.1` carried through
/// both loops; `xs: [n, m]`.
fn double_loop(p: &(Array, Array), unroll: bool) -> Array {
    let (c0, xs) = p;
    let inner = |c: &Array, x: &Array| {
        let y = (x * c).sin();
        (c * x + 0.1, y)
    };
    if unroll {
        let mut c = c0.clone();
        let mut total = Array::scalar(0.0f64);
        for i in 0..xs.shape()[0] {
            let row = xs.get(i as isize);
            for j in (0..xs.shape()[1]).rev() {
                let (next, y) = inner(&c, &row.get(j as isize));
                c = next;
                total = total + y;
            }
        }
        return total + c;
    }
    let (c, sums) = lax::scan(
        |c: &Array, row: &Array| {
            let (c, ys) = lax::scan(inner, c, row, ScanOptions::default().reversed());
            (c, ys.sum())
        },
        c0,
        xs,
        ScanOptions::default(),
    );
    sums.sum() + c
}

#[test]
fn grad_of_scan_inside_scan_equals_unrolled() {
    let mut rng = Rng::new(61);
    let p = (Array::scalar(0.7f64), array(rng.vector(12), &[3, 4]));
    let (gc, gx) = grad(|p: &(Array, Array)| double_loop(p, false))(&p);
    let (wc, wx) = grad(|p: &(Array, Array)| double_loop(p, true))(&p);
    check(close("d/dc0", &vals(&gc), &vals(&wc), TOL, TOL));
    check(close("d/dxs", &vals(&gx), &vals(&wx), TOL, TOL));
}

#[test]
fn jit_and_grad_compose_through_cond() {
    let x = array(vec![0.4, 0.9, -0.2], &[3]);
    let p = (array(vec![0.3, -1.2, 0.7], &[3]), x.clone(), x);
    let want = rjax::tree_leaves(&grad(branchy)(&p));
    let jit_of_grad = rjax::tree_leaves(&jit(grad(branchy))(&p));
    let inner = jit(branchy);
    let grad_of_jit = rjax::tree_leaves(&grad(move |p: &Params3| inner(p))(&p));
    check(close(
        "jit(grad(cond))",
        &flat(&jit_of_grad),
        &flat(&want),
        TOL,
        0.0,
    ));
    check(close(
        "grad(jit(cond))",
        &flat(&grad_of_jit),
        &flat(&want),
        TOL,
        0.0,
    ));
}

#[test]
fn linearize_through_scan_matches_jvp() {
    let (p, yw) = scan_case(&mut Rng::new(71), 5, 2, 2);
    let f = |p: &ScanParams| scan_loss(p, &yw, true);
    let t: ScanParams =
        rjax::tree_unflatten(&p, random_like(&rjax::tree_leaves(&p), &mut Rng::new(72)))
            .expect("tangent tree");
    let (y, f_lin) = rjax::linearize(f, &p);
    let (y_jvp, t_jvp) = jvp(f, &p, &t);
    check(close("primal", &[scalar(&y)], &[scalar(&y_jvp)], TOL, 0.0));
    check(close(
        "tangent",
        &[scalar(&f_lin(&t))],
        &[scalar(&t_jvp)],
        TOL,
        TOL,
    ));
}

#[test]
fn per_example_gradients_through_scan() {
    let (p, yw) = scan_case(&mut Rng::new(81), 4, 1, 2);
    let batch = array(Rng::new(82).vector(3 * 4 * 2), &[3, 4, 2]);
    let per_example = |xs: &Array| {
        let w_grad = |w: &Array| scan_loss(&(w.clone(), p.1.clone(), xs.clone()), &yw, false);
        grad(w_grad)(&p.0)
    };
    let mapped = rjax::vmap(per_example)(&batch);
    for i in 0..3 {
        let want = per_example(&batch.get(i));
        check(close(
            "vmap(grad(scan))",
            &vals(&mapped.get(i)),
            &vals(&want),
            TOL,
            0.0,
        ));
    }
}

#[test]
fn hessian_through_scan_and_cond_equals_unrolled() {
    // hessian is jacfwd(jacrev): vmap over the transposed loops and branches.
    let mut rng = Rng::new(91);
    let (w, xs) = (array(rng.vector(3), &[3]), array(rng.vector(18), &[6, 3]));
    let f = |h0: &Array, unroll: bool| nested_loss(&(w.clone(), h0.clone(), xs.clone()), unroll);
    let h0 = array(rng.vector(3), &[3]);
    let got = rjax::hessian(|h: &Array| f(h, false))(&h0);
    let want = rjax::hessian(|h: &Array| f(h, true))(&h0);
    assert_eq!(got.shape(), &[3, 3]);
    check(close("hessian", &vals(&got), &vals(&want), TOL, TOL));
}

#[test]
fn custom_rules_inside_scan() {
    // softplus has a custom_jvp rule; `clipped` a custom_vjp rule (the
    // identity whose cotangent is scaled by 0.5).
    let clipped = rjax::custom_vjp(
        |x: &Array| x.clone(),
        |x: &Array| (x.clone(), Array::scalar(0.5f64)),
        |r: &Array, ct: &Array| ct * r,
    );
    let step = |c: &Array, x: &Array| clipped(&rjax::nn::softplus(&(c * x)));
    let f = |p: &(Array, Array), unroll: bool| {
        let (c0, xs) = p;
        if unroll {
            let mut c = c0.clone();
            for i in 0..xs.shape()[0] {
                c = step(&c, &xs.get(i as isize));
            }
            return c.sum();
        }
        let body = |c: &Array, x: &Array| (step(c, x), ());
        lax::scan(body, c0, xs, ScanOptions::default()).0.sum()
    };
    let mut rng = Rng::new(101);
    let p = (array(rng.vector(2), &[2]), array(rng.vector(8), &[4, 2]));
    let got = rjax::tree_leaves(&grad(|p: &(Array, Array)| f(p, false))(&p));
    let want = rjax::tree_leaves(&grad(|p: &(Array, Array)| f(p, true))(&p));
    check(close(
        "custom rules in scan",
        &flat(&got),
        &flat(&want),
        TOL,
        TOL,
    ));
}

#[test]
fn per_example_gradients_through_cond_with_a_batched_predicate() {
    // Under vmap the predicate differs per example, so the branches become
    // a select; the gradient of each example must still follow its branch.
    let a = array(vec![0.3, -1.2, 0.7], &[3]);
    let b = array(vec![1.5, 0.25, -0.5], &[3]);
    let xs = array(
        vec![0.4, 0.9, -0.2, -0.4, -0.9, 0.2, 1.0, 0.5, 0.1],
        &[3, 3],
    );
    let per_example = |x: &Array| {
        grad(|ab: &(Array, Array)| branchy(&(ab.0.clone(), ab.1.clone(), x.clone())))(&(
            a.clone(),
            b.clone(),
        ))
    };
    let (ga, gb) = rjax::vmap(per_example)(&xs);
    for i in 0..3 {
        let (wa, wb) = per_example(&xs.get(i));
        check(close(
            "vmap(grad(cond)) a",
            &vals(&ga.get(i)),
            &vals(&wa),
            TOL,
            0.0,
        ));
        check(close(
            "vmap(grad(cond)) b",
            &vals(&gb.get(i)),
            &vals(&wb),
            TOL,
            0.0,
        ));
    }
}

#[test]
fn integer_xs_index_parameters_inside_scan() {
    // An embedding-style lookup: the step reads row `ids[t]` of a table.
    let ids = Array::from_vec(vec![2i32, 0, 2, 1], &[4]).expect("ids");
    let f = |table: &Array, unroll: bool| {
        let cell = |c: &Array, id: &Array| {
            (c * 0.9 + lax::dynamic_slice(table, std::slice::from_ref(id), &[1]).sum()).sin()
        };
        if unroll {
            let mut c = Array::scalar(0.1f64);
            for t in 0..4 {
                c = cell(&c, &ids.get(t));
            }
            return c;
        }
        let body = |c: &Array, id: &Array| (cell(c, id), ());
        lax::scan(body, &Array::scalar(0.1f64), &ids, ScanOptions::default()).0
    };
    let table = array(vec![0.5, -0.25, 1.5], &[3]);
    let got = grad(|t: &Array| f(t, false))(&table);
    let want = grad(|t: &Array| f(t, true))(&table);
    check(close("lookup in scan", &vals(&got), &vals(&want), TOL, 0.0));
    // Row 2 is read twice, row 1 once, row 0 once: all get gradient.
    assert!(vals(&got).iter().all(|g| *g != 0.0), "{got}");
}

#[test]
fn grad_of_scan_inside_cond_equals_unrolled() {
    // Branch 1 runs a loop (cumulative products of sin), branch 0 a
    // polynomial; the predicate comes from the data.
    let looped = |x: &Array, unroll: bool| {
        let cell = |c: &Array, x: &Array| {
            let c = c * x.sin() + 0.5;
            (c.clone(), c)
        };
        if unroll {
            let mut c = Array::scalar(1.0f64);
            let mut total = Array::scalar(0.0f64);
            for i in 0..x.shape()[0] {
                let (next, y) = cell(&c, &x.get(i as isize));
                c = next;
                total = total + y;
            }
            return total * c;
        }
        let (c, ys) = lax::scan(cell, &Array::scalar(1.0f64), x, ScanOptions::default());
        ys.sum() * c
    };
    let poly = |x: &Array| (x * x * x).sum();
    let f = |x: &Array| {
        let positive = rjax::jnp::greater(&x.sum(), &Array::scalar(0.0f64));
        lax::cond(&positive, |x: &Array| looped(x, false), poly, x)
    };
    for x in [vec![0.3, 0.8, -0.1, 0.6], vec![-0.3, -0.8, 0.1, -0.6]] {
        // The branch the data selects, chosen in Rust for the unrolled form.
        let taken = x.iter().sum::<f64>() > 0.0;
        let x = array(x, &[4]);
        let got = grad(f)(&x);
        let want = if taken {
            grad(|x: &Array| looped(x, true))(&x)
        } else {
            grad(poly)(&x)
        };
        check(close("scan in cond", &vals(&got), &vals(&want), TOL, TOL));
    }
}
