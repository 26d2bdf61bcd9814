//! Helpers shared by the reverse-mode control-flow tests
//! (`control_flow_grad.rs`, `control_flow_grad_compose.rs`): comparisons,
//! jaxpr inspection, and the test programs, each with a form using control
//! flow and a form written out in Rust.

use crate::common::numeric::{array, close, directional_fd, dot, flat, random_like, vals};
use crate::common::rng::Rng;
use rjax::lax::{self, ScanOptions};
use rjax::{jnp, Array, DType};
use rjax_ir::{Jaxpr, Primitive};

/// Tolerance of comparisons between two exact computations in `f64`.
pub const TOL: f64 = 1e-12;
/// Finite differences in `f64` with step 1e-5 agree to about 1e-8.
pub const FD_TOL: f64 = 1e-7;

/// Panics with the message of a failed comparison.
pub fn check(result: Result<(), String>) {
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Checks `grads` (one array per input) against central finite
/// differences of `f` along a random direction.
pub fn check_fd(what: &str, f: &dyn Fn(&[Array]) -> f64, x: &[Array], grads: &[Array], seed: u64) {
    let t = random_like(x, &mut Rng::new(seed));
    let fd = directional_fd(&|p| vec![f(p)], x, &t, 1e-5);
    let analytic = dot(&flat(grads), &flat(&t));
    check(close(what, &[analytic], &fd, FD_TOL, FD_TOL));
}

/// The value of a concrete rank-0 `f64` array.
pub fn scalar(x: &Array) -> f64 {
    x.item::<f64>().expect("a concrete f64 scalar")
}

/// Every equation of `jaxpr` and of its sub-jaxprs, recursively.
pub fn all_prims(jaxpr: &Jaxpr) -> Vec<Primitive> {
    let mut out = Vec::new();
    for eqn in &jaxpr.eqns {
        out.push(eqn.prim.clone());
        for sub in eqn.prim.sub_jaxprs() {
            out.extend(all_prims(&sub.jaxpr));
        }
    }
    out
}

/// How many top-level equations of `jaxpr` are the primitive `name`.
pub fn count_top(jaxpr: &Jaxpr, name: &str) -> usize {
    jaxpr.eqns.iter().filter(|e| e.prim.name() == name).count()
}

/// Parameters `(a, b, x)` of [`branchy`].
pub type Params3 = (Array, Array, Array);

/// `sum(sin(a x))` when `sum(x) > 0`, else `sum(b exp(x))`.
pub fn branchy(p: &Params3) -> Array {
    let (a, b, x) = p;
    let positive = jnp::greater(&x.sum(), &Array::scalar(0.0f64));
    lax::cond(
        &positive,
        |(a, _b, x): &Params3| (a * x).sin().sum(),
        |(_a, b, x): &Params3| (b * x.exp()).sum(),
        &(a.clone(), b.clone(), x.clone()),
    )
}

/// One step of a test recurrence with `n` carries of shape `[d]`.
pub fn step(w: &Array, c: &[Array], x: &Array) -> (Vec<Array>, Array) {
    let n = c.len();
    let next = (0..n)
        .map(|k| (&c[k] * w + x).tanh() + &c[(k + 1) % n] * 0.5)
        .collect();
    let y = (&c[0] * x).sin();
    (next, y)
}

/// Parameters `(w, initial carries, xs)` of [`scan_loss`].
pub type ScanParams = (Array, Vec<Array>, Array);

/// Weighted sum of the final carries and of the outputs.
pub fn scan_loss(p: &ScanParams, y_weights: &Array, reverse: bool) -> Array {
    let (w, init, xs) = p;
    let options = ScanOptions {
        reverse,
        ..ScanOptions::default()
    };
    let (c, ys) = lax::scan(|c: &Vec<Array>, x: &Array| step(w, c, x), init, xs, options);
    carry_loss(&c) + (ys * y_weights).sum()
}

/// `sum_k (k + 1) sum(c_k)`.
pub fn carry_loss(c: &[Array]) -> Array {
    c.iter()
        .enumerate()
        .map(|(k, c)| c.sum() * (k as f64 + 1.0))
        .reduce(|a, b| a + b)
        .expect("at least one carry")
}

/// The same loss with the loop written out in Rust.
pub fn unrolled_loss(p: &ScanParams, y_weights: &Array, reverse: bool) -> Array {
    let (w, init, xs) = p;
    let length = xs.shape()[0];
    let mut c = init.clone();
    let mut total = Array::scalar(0.0f64);
    let order: Vec<usize> = if reverse {
        (0..length).rev().collect()
    } else {
        (0..length).collect()
    };
    for i in order {
        let (next, y) = step(w, &c, &xs.get(i as isize));
        c = next;
        total = total + (y * y_weights.get(i as isize)).sum();
    }
    carry_loss(&c) + total
}

/// Random parameters for [`scan_loss`] (`n` carries of shape `[d]`,
/// `length` steps) and output weights.
pub fn scan_case(rng: &mut Rng, length: usize, n: usize, d: usize) -> (ScanParams, Array) {
    let w = array(rng.vector(d), &[d]);
    let init = (0..n).map(|_| array(rng.vector(d), &[d])).collect();
    let xs = array(rng.vector(length * d), &[length, d]);
    let y_weights = array(rng.vector(length * d), &[length, d]);
    ((w, init, xs), y_weights)
}

/// All values of the parameters, flattened in order.
pub fn flat_params(p: &ScanParams) -> Vec<f64> {
    let (w, init, xs) = p;
    let mut v = vals(w);
    init.iter().for_each(|c| v.extend(vals(c)));
    v.extend(vals(xs));
    v
}

/// A step with a data-dependent branch and a carry (`t`, a step counter
/// kept as a float) that the gradient does not flow through.
pub fn branchy_step(w: &Array, c: &(Array, Array), x: &Array, unroll: bool) -> (Array, Array) {
    let (h, t) = c;
    let positive = jnp::greater(&h.sum(), &Array::scalar(0.0f64));
    let on_true = |h: &Array| h.sin() * w;
    let on_false = |h: &Array| h * h - w;
    let h = if unroll {
        // Both branches and a select: the same derivative wherever the
        // predicate does not change.
        jnp::where_(&positive, &on_true(h), &on_false(h))
    } else {
        lax::cond(&positive, on_true, on_false, h)
    };
    (h + x * t, t + 1.0)
}

/// A loss over a `scan` (or the loop written out) of [`branchy_step`] over
/// six steps.
pub fn nested_loss(p: &(Array, Array, Array), unroll: bool) -> Array {
    let (w, h0, xs) = p;
    let t0 = Array::scalar(1.0f64);
    let (h, ys) = if unroll {
        let mut c = (h0.clone(), t0);
        let mut ys = Vec::new();
        for i in 0..xs.shape()[0] {
            c = branchy_step(w, &c, &xs.get(i as isize), true);
            ys.push(c.0.sum());
        }
        (c.0, jnp::stack(&ys, 0))
    } else {
        let ((h, _), ys) = lax::scan(
            |c: &(Array, Array), x: &Array| {
                let c = branchy_step(w, c, x, false);
                let y = c.0.sum();
                (c, y)
            },
            &(h0.clone(), t0),
            xs,
            ScanOptions::default(),
        );
        (h, ys)
    };
    h.square().sum() + (ys * jnp::arange(1.0, 7.0, 1.0, DType::F64)).sum()
}
