//! Reverse-mode differentiation (`grad`, `vjp`, `linearize`) through
//! control flow: `cond`/`switch`, `scan` and `fori_loop` with static
//! bounds, and the error for `while_loop`. Compositions with `jit`, `vmap`
//! and higher-order derivatives are in `control_flow_grad_compose.rs`.
//!
//! Expected values come from hand-derived derivatives, central finite
//! differences, and the same loop unrolled in Rust (a program without
//! control-flow primitives, differentiated by the ordinary rules). All
//! arithmetic is `f64`.
//!
//! Run with `cargo test --release --test control_flow_grad`.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod control_flow_grad_util;

use common::numeric::{array, close, vals};
use common::rng::Rng;
use control_flow_grad_util::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rjax::lax::{self, ScanOptions};
use rjax::transforms::autodiff::linear_jaxpr;
use rjax::{grad, jnp, jvp, try_grad, Array, DType, Error};

// ---- cond and switch ------------------------------------------------------

#[test]
fn grad_cond_takes_each_branch_and_zeroes_the_other() {
    let a = array(vec![0.3, -1.2, 0.7], &[3]);
    let b = array(vec![1.5, 0.25, -0.5], &[3]);
    for x in [vec![0.4, 0.9, -0.2], vec![-0.4, -0.9, 0.2]] {
        let x = array(x, &[3]);
        let taken_true = vals(&x).iter().sum::<f64>() > 0.0;
        let p = (a.clone(), b.clone(), x.clone());
        let (ga, gb, gx) = grad(branchy)(&p);
        let (av, bv, xv) = (vals(&a), vals(&b), vals(&x));
        let (want_a, want_b, want_x): (Vec<f64>, Vec<f64>, Vec<f64>) = if taken_true {
            (
                (0..3).map(|i| xv[i] * (av[i] * xv[i]).cos()).collect(),
                vec![0.0; 3],
                (0..3).map(|i| av[i] * (av[i] * xv[i]).cos()).collect(),
            )
        } else {
            (
                vec![0.0; 3],
                xv.iter().map(|x| x.exp()).collect(),
                (0..3).map(|i| bv[i] * xv[i].exp()).collect(),
            )
        };
        check(close("d/da", &vals(&ga), &want_a, TOL, 0.0));
        check(close("d/db", &vals(&gb), &want_b, TOL, 0.0));
        check(close("d/dx", &vals(&gx), &want_x, TOL, 0.0));
        let f = |q: &[Array]| scalar(&branchy(&(q[0].clone(), q[1].clone(), q[2].clone())));
        check_fd("cond fd", &f, &[a.clone(), b.clone(), x], &[ga, gb, gx], 1);
    }
}

#[test]
fn grad_switch_with_captured_weights() {
    let w = array(vec![0.5, -2.0], &[2]);
    let x = array(vec![1.25, 0.75], &[2]);
    for index in 0..4i32 {
        let f = |p: &(Array, Array)| {
            let (w, x) = p;
            let b0 = |x: &Array| (x * w).sum();
            let b1 = |x: &Array| (x * x * w).sum();
            let b2 = |x: &Array| x.sum() * 3.0;
            lax::switch(&Array::scalar(index), &[&b0, &b1, &b2], x)
        };
        let (gw, gx) = grad(f)(&(w.clone(), x.clone()));
        let (wv, xv) = (vals(&w), vals(&x));
        // The index is clamped: 3 runs the last branch.
        let (want_w, want_x): (Vec<f64>, Vec<f64>) = match index {
            0 => (xv.clone(), wv.clone()),
            1 => (
                xv.iter().map(|x| x * x).collect(),
                (0..2).map(|i| 2.0 * xv[i] * wv[i]).collect(),
            ),
            _ => (vec![0.0; 2], vec![3.0; 2]),
        };
        check(close("switch d/dw", &vals(&gw), &want_w, TOL, 0.0));
        check(close("switch d/dx", &vals(&gx), &want_x, TOL, 0.0));
    }
}

#[test]
fn second_order_grad_through_cond() {
    // x^3 for x > 0 (second derivative 6x), sin(x) otherwise (-sin x).
    let f = |x: &Array| {
        let positive = jnp::greater(x, &Array::scalar(0.0f64));
        lax::cond(&positive, |x: &Array| x * x * x, |x: &Array| x.sin(), x)
    };
    for x in [0.7f64, -0.7] {
        let g2 = grad(grad(f))(&Array::scalar(x));
        let want = if x > 0.0 { 6.0 * x } else { -x.sin() };
        check(close("d2/dx2", &[scalar(&g2)], &[want], TOL, 0.0));
    }
}

#[test]
fn linearized_cond_stages_only_tangent_work() {
    let x = array(vec![0.4, 0.9, -0.2], &[3]);
    let p = (array(vec![0.3, -1.2, 0.7], &[3]), x.clone(), x);
    let lin = linear_jaxpr(branchy, &p).expect("linearize");
    let conds = count_top(&lin, "cond");
    assert_eq!(conds, 1, "one staged cond in\n{lin}");
    for prim in all_prims(&lin) {
        let name = prim.name();
        assert!(
            !["sin", "cos", "exp", "gt"].contains(&name),
            "primal work `{name}` in the linear program\n{lin}"
        );
    }
}

// ---- scan against the unrolled loop --------------------------------------

#[test]
fn grad_scan_equals_grad_of_unrolled_loop() {
    let config = Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = (0usize..6, 1usize..4, 1usize..4, any::<bool>(), any::<u64>());
    let result = runner.run(&strategy, |(length, n, d, reverse, seed)| {
        let (p, yw) = scan_case(&mut Rng::new(seed), length, n, d);
        let g_scan = grad(|p: &ScanParams| scan_loss(p, &yw, reverse))(&p);
        let g_loop = grad(|p: &ScanParams| unrolled_loss(p, &yw, reverse))(&p);
        let value = (
            scalar(&scan_loss(&p, &yw, reverse)),
            scalar(&unrolled_loss(&p, &yw, reverse)),
        );
        close("loss", &[value.0], &[value.1], TOL, TOL)
            .and_then(|_| {
                close(
                    "grad",
                    &flat_params(&g_scan),
                    &flat_params(&g_loop),
                    TOL,
                    TOL,
                )
            })
            .map_err(|e| {
                TestCaseError::fail(format!(
                    "length {length}, {n} carries of [{d}], reverse {reverse}: {e}"
                ))
            })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn grad_scan_matches_finite_differences() {
    for reverse in [false, true] {
        let (p, yw) = scan_case(&mut Rng::new(7), 4, 2, 3);
        let g = grad(|p: &ScanParams| scan_loss(p, &yw, reverse))(&p);
        let unpack = |q: &[Array]| (q[0].clone(), q[1..3].to_vec(), q[3].clone());
        let f = |q: &[Array]| scalar(&scan_loss(&unpack(q), &yw, reverse));
        let x: Vec<Array> = rjax::tree_leaves(&p);
        check_fd("scan fd", &f, &x, &rjax::tree_leaves(&g), 3);
    }
}

#[test]
fn grad_fori_loop_with_static_bounds() {
    // c <- 0.5 rev(c) + i sin(c) for i in 2..6 (steps that do not
    // commute, so the backward loop must run in reverse order).
    let f = |c: &Array| {
        lax::fori_loop(
            2,
            6,
            |i: &Array, c: &Array| {
                let i = lax::convert_element_type(i, DType::F64);
                lax::rev(c, &[0]) * 0.5 + c.sin() * i
            },
            c,
        )
        .sum()
    };
    let unrolled = |c: &Array| {
        let mut c = c.clone();
        for i in 2..6 {
            c = lax::rev(&c, &[0]) * 0.5 + c.sin() * (i as f64);
        }
        c.sum()
    };
    let x = array(vec![0.3, -0.8], &[2]);
    let g = grad(f)(&x);
    check(close(
        "fori_loop grad",
        &vals(&g),
        &vals(&grad(unrolled)(&x)),
        TOL,
        0.0,
    ));
    check_fd("fori fd", &|q| scalar(&f(&q[0])), &[x], &[g], 5);
}

// ---- a recurrent network: weights captured from outside ------------------

type Rnn = (Array, Array);

/// `h <- tanh(h W^T + U x_t)`; loss `sum(h_T^2) + sum_t sum(h_t)`.
fn rnn_loss(p: &Rnn, xs: &Array, unroll: bool) -> Array {
    let (w, u) = p;
    // `w.t()` inside the step: a loop-invariant residual.
    let cell = |h: &Array, x: &Array| (h.matmul(&w.t()) + u.matmul(x)).tanh();
    let h0 = jnp::zeros(&[3], DType::F64);
    if unroll {
        let mut h = h0;
        let mut total = Array::scalar(0.0f64);
        for t in 0..xs.shape()[0] {
            h = cell(&h, &xs.get(t as isize));
            total = total + h.sum();
        }
        return h.square().sum() + total;
    }
    let (h, hs) = lax::scan(
        |h: &Array, x: &Array| {
            let h = cell(h, x);
            (h.clone(), h)
        },
        &h0,
        xs,
        ScanOptions::default(),
    );
    h.square().sum() + hs.sum()
}

fn rnn_case() -> (Rnn, Array) {
    let mut rng = Rng::new(11);
    let w = array(rng.vector(9), &[3, 3]);
    let u = array(rng.vector(6), &[3, 2]);
    let xs = array(rng.vector(10), &[5, 2]);
    ((w, u), xs)
}

#[test]
fn grad_rnn_weights_through_scan() {
    let (p, xs) = rnn_case();
    let (gw, gu) = grad(|p: &Rnn| rnn_loss(p, &xs, false))(&p);
    let (lw, lu) = grad(|p: &Rnn| rnn_loss(p, &xs, true))(&p);
    check(close("dW", &vals(&gw), &vals(&lw), TOL, 0.0));
    check(close("dU", &vals(&gu), &vals(&lu), TOL, 0.0));
    let f = |q: &[Array]| scalar(&rnn_loss(&(q[0].clone(), q[1].clone()), &xs, false));
    check_fd("rnn fd", &f, &[p.0.clone(), p.1.clone()], &[gw, gu], 9);
}

#[test]
fn linearized_rnn_keeps_weights_as_loop_constants() {
    let (p, xs) = rnn_case();
    let lin = linear_jaxpr(|p: &Rnn| rnn_loss(p, &xs, false), &p).expect("linearize");
    let scan = lin
        .eqns
        .iter()
        .find(|e| e.prim.name() == "scan")
        .unwrap_or_else(|| panic!("no scan in the linear program\n{lin}"));
    // W (transposed in the step) and U enter once, computed before the
    // loop, not stacked per step ([5, 3, 3] / [5, 3, 2]).
    let shapes: Vec<Vec<usize>> = scan
        .inputs
        .iter()
        .filter_map(|atom| match atom {
            rjax_ir::Atom::Var(v) => Some(lin.aval(*v).shape.to_vec()),
            rjax_ir::Atom::Lit(_) => None,
        })
        .collect();
    assert!(
        shapes.contains(&vec![3, 3]),
        "W is not a loop constant\n{lin}"
    );
    for stacked in [vec![5, 3, 3], vec![5, 3, 2]] {
        assert!(
            !shapes.contains(&stacked),
            "a weight stacked per step\n{lin}"
        );
    }
    for prim in all_prims(&lin) {
        assert!(
            !["tanh", "logistic", "exp"].contains(&prim.name()),
            "primal work `{}` in the linear program\n{lin}",
            prim.name()
        );
    }
}

// ---- while_loop ------------------------------------------------------------

static RAISED: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);

/// The message of the panic `f` raises.
fn panic_message<R>(f: impl FnOnce() -> R) -> String {
    let payload = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => payload,
    };
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn reverse_mode_through_while_loop_is_a_clear_error() {
    // Multiply by 1.5 while below 10.
    let f = |x: &Array| {
        lax::while_loop(
            |c: &Array| jnp::less(c, &Array::scalar(10.0f64)),
            |c: &Array| c * 1.5,
            x,
        )
    };
    // The loop's panicking form reports the error raised inside `grad`.
    let message = panic_message(|| grad(f)(&Array::scalar(1.0f64)));
    assert!(message.starts_with("while_loop: "), "{message}");
    for hint in ["reverse-mode", "lax::scan", "lax::fori_loop"] {
        assert!(message.contains(hint), "{hint} missing from: {message}");
    }
    // The error is typed: the non-panicking form returns it.
    let err = try_grad(|x: &Array| {
        lax::try_while_loop(
            |c: &Array| jnp::less(c, &Array::scalar(10.0f64)),
            |c: &Array| c * 1.5,
            x,
        )
        .unwrap_or_else(|e| {
            *RAISED.lock().expect("lock") = Some(e);
            x.clone()
        })
    })(&Array::scalar(1.0f64));
    let raised = RAISED.lock().expect("lock").take();
    assert!(err.is_ok(), "the error was caught inside");
    match raised {
        Some(Error::Op { op, message: m }) => {
            assert_eq!(op, "while_loop");
            assert_eq!(format!("while_loop: {m}"), message);
        }
        other => panic!("expected an Op error from try_while_loop, got {other:?}"),
    }
    // Dynamic fori_loop bounds are a while loop too.
    let g = |x: &Array| {
        lax::fori_loop_dynamic(
            &Array::scalar(0i32),
            &Array::scalar(3i32),
            |_, c: &Array| c.sin(),
            x,
        )
    };
    let message = panic_message(|| grad(g)(&Array::scalar(1.0f64)));
    assert!(message.starts_with("while_loop: "), "{message}");
    // A while loop nested in a scan body is refused the same way.
    let nested = |x: &Array| {
        let body = |c: &Array, _: &()| (f(c), ());
        lax::scan(body, x, &(), ScanOptions::default().with_length(2)).0
    };
    let message = panic_message(|| grad(nested)(&Array::scalar(1.0f64)));
    assert!(message.starts_with("while_loop: "), "{message}");
    // Forward mode still works, and a loop the gradient does not flow
    // through is fine: x * (1 doubled until at least 20) = 32 x.
    let (y, dy) = jvp(f, &Array::scalar(1.0f64), &Array::scalar(1.0f64));
    let trips = (y.item::<f64>().expect("y").ln() / 1.5f64.ln()).round();
    check(close(
        "jvp of while",
        &[scalar(&dy)],
        &[1.5f64.powf(trips)],
        TOL,
        0.0,
    ));
    let h = |x: &Array| {
        let n = lax::while_loop(
            |c: &Array| jnp::less(c, &Array::scalar(20.0f64)),
            |c: &Array| c * 2.0,
            &Array::scalar(1.0f64),
        );
        x * n
    };
    check(close(
        "grad beside while",
        &[scalar(&grad(h)(&Array::scalar(3.0f64)))],
        &[32.0],
        TOL,
        0.0,
    ));
}
