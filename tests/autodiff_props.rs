//! Property tests of automatic differentiation, in `f64`.
//!
//! Three groups, all deterministic (fixed seeds, no failure persistence):
//!
//! 1. **The op table** ([`common::op_cases::OP_CASES`], one entry or more per
//!    primitive): every smooth entry's `jvp` is checked against central
//!    finite differences and its `vjp` by the adjoint identity
//!    `<vjp(ct), t> == <ct, jvp(t)>`; linear entries must have
//!    `jvp(f, x, t) == f(t)`; piecewise-constant and non-float entries (and
//!    `stop_gradient`) must have zero derivatives; `custom_vjp` entries are
//!    reverse-only; `while` is forward-only (reverse mode must fail,
//!    pointing to `scan`); entries without a rule must fail with
//!    `NotYetSupported`. Every builder must stage its primitive.
//! 2. **Random programs**: proptest generates 1–6 steps drawn from the
//!    table's shape-generic entries (unary, binary, reductions, shape ops),
//!    applied to an `f64` input of a random small shape. Checked: `grad`
//!    against finite differences, the adjoint identity, `jacfwd == jacrev`,
//!    and the Hessian (symmetric; `jacfwd(jacrev f)`, `jacrev(jacfwd f)`
//!    and finite differences of `grad` agree).
//! 3. **Third derivatives** of every smooth unary primitive (and square,
//!    cube, reciprocal, powers, `call`, `custom_jvp`) against closed forms,
//!    each closed form itself checked by finite differences of the second
//!    derivative.
//! 4. **The checkers can fail**: derivatives wrong by 0.1% are rejected.
//!
//! Forward mode of a `custom_vjp` function panics inside the traced
//! function (the wrapper's panicking form), so the `thread .. panicked at
//! src/transforms/custom.rs` lines printed with `--nocapture` are expected.
//!
//! Run with `cargo test --release --test autodiff_props`.

mod common;

use common::numeric::*;
use common::op_cases::{Appears, Domain, Kind, OpCase, Operand, DEFAULT_FD, OP_CASES};
use common::programs::{for_programs, run_program, weights};
use common::rng::Rng;
use common::sampling::sample_arrays;
use rjax::transforms::autodiff::linear_jaxpr;
use rjax::{custom_jvp, custom_vjp, grad, hessian, jacfwd, jacrev, lax, make_jaxpr};
use rjax::{try_grad, try_jvp, try_vjp};
use rjax::{Array, Error};
use rjax_ir::PRIMITIVE_NAMES;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

// ---- 1. the op table -----------------------------------------------------------------

#[test]
fn every_primitive_has_a_case() {
    let missing: Vec<&str> = PRIMITIVE_NAMES
        .iter()
        .copied()
        .filter(|name| !OP_CASES.iter().any(|c| c.name == *name))
        .collect();
    assert!(
        missing.is_empty(),
        "primitives without an OP_CASES entry: {missing:?}"
    );
    let unknown: Vec<&str> = OP_CASES
        .iter()
        .map(|c| c.name)
        .filter(|name| !PRIMITIVE_NAMES.contains(name))
        .collect();
    assert!(
        unknown.is_empty(),
        "OP_CASES entries naming no primitive: {unknown:?}"
    );
}

/// Seeds per table entry.
const TABLE_SEEDS: u64 = 3;

#[test]
fn op_table_derivatives() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, case) in OP_CASES.iter().enumerate() {
        for seed in 0..TABLE_SEEDS {
            let mut rng = Rng::new(1000 * i as u64 + seed);
            let xs = sample_arrays(case, &mut rng);
            let outcome = catch_unwind(AssertUnwindSafe(|| check_case(case, &xs, &mut rng)));
            let result = outcome.unwrap_or_else(|p| Err(format!("panicked: {}", panic_text(&p))));
            if let Err(e) = result {
                failures.push(format!(
                    "{} ({}; {}), seed {seed}: {e}",
                    case.name,
                    case.note,
                    case.describe()
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} table checks failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The builder as a function of a `Vec` of operands (a tree).
fn as_fn(case: &OpCase) -> impl Fn(&Vec<Array>) -> Array + Copy + '_ {
    move |v: &Vec<Array>| (case.build)(v).unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

fn eval(case: &OpCase, xs: &[Array]) -> Vec<f64> {
    vals(&as_fn(case)(&xs.to_vec()))
}

fn check_case(case: &OpCase, xs: &[Array], rng: &mut Rng) -> Result<(), String> {
    let y = (case.build)(xs).map_err(|e| format!("eager evaluation failed: {e}"))?;
    check_appears(case, xs)?;
    match case.kind {
        Kind::Smooth => {
            check_jvp(case, xs, &y, rng)?;
            check_vjp(case, xs, &y, rng)
        }
        Kind::PiecewiseConstant(_) | Kind::NonFloat(_) => {
            check_zero_derivative(case, xs, &y, rng, true)
        }
        Kind::StopsGradient(_) => check_zero_derivative(case, xs, &y, rng, false),
        Kind::ReverseOnly(_) => check_reverse_only(case, xs, &y, rng),
        Kind::ForwardOnly(_) => {
            check_jvp(case, xs, &y, rng)?;
            check_no_reverse_mode(case, xs)
        }
        Kind::NotYetSupported {
            error_prim,
            reference,
            ..
        } => {
            let want = reference(xs).map_err(|e| format!("reference failed: {e}"))?;
            close("value vs reference", &vals(&y), &vals(&want), 1e-14, 0.0)?;
            check_not_yet_supported(case, xs, error_prim)
        }
    }
}

/// The builder really applies the primitive: it shows up when staged.
fn check_appears(case: &OpCase, xs: &[Array]) -> Result<(), String> {
    let f = as_fn(case);
    let jaxpr = match case.appears {
        Appears::Jaxpr => make_jaxpr(f)(&xs.to_vec()).map(|c| c.jaxpr),
        Appears::LinearJaxpr => linear_jaxpr(f, &xs.to_vec()),
    }
    .map_err(|e| format!("staging failed: {e}"))?;
    if jaxpr.eqns.iter().any(|e| e.prim.name() == case.name) {
        Ok(())
    } else {
        Err(format!("no `{}` equation in the staged builder", case.name))
    }
}

/// Forward mode against central finite differences along a random
/// direction; for linear entries also `jvp(f, x, t) == f(t)`.
fn check_jvp(case: &OpCase, xs: &[Array], y: &Array, rng: &mut Rng) -> Result<(), String> {
    let ts = random_like(xs, rng);
    let (primal, tangent) =
        try_jvp(as_fn(case), &xs.to_vec(), &ts).map_err(|e| format!("jvp failed: {e}"))?;
    close("jvp primal", &vals(&primal), &vals(y), 1e-15, 0.0)?;
    let h = fd_step(case.fd.step, xs);
    let fd = directional_fd(&|x| eval(case, x), xs, &ts, h);
    // Rounding error of the difference quotient: ~10 ulp of |f| over h.
    let atol = 10.0 * f64::EPSILON * max_abs(&vals(y)).max(1.0) / h;
    close(
        "jvp vs finite differences",
        &vals(&tangent),
        &fd,
        case.fd.rtol,
        atol,
    )?;
    if case.linear {
        let applied = eval(case, &ts);
        close(
            "jvp of a linear op vs the op on the tangents",
            &vals(&tangent),
            &applied,
            case.fd.exact,
            0.0,
        )?;
    }
    Ok(())
}

/// Reverse mode by the adjoint identity `<vjp(ct), t> == <ct, jvp(t)>`.
/// Both sides are exact up to rounding, so the tolerance (`fd.exact`) is
/// relative to the sums of absolute products.
fn check_vjp(case: &OpCase, xs: &[Array], y: &Array, rng: &mut Rng) -> Result<(), String> {
    let ts = random_like(xs, rng);
    let ct = array(rng.vector(y.size()), y.shape());
    let (_, pullback) =
        try_vjp(as_fn(case), &xs.to_vec()).map_err(|e| format!("vjp failed: {e}"))?;
    let cts = pullback(&ct).map_err(|e| format!("pullback failed: {e}"))?;
    let (_, tangent) =
        try_jvp(as_fn(case), &xs.to_vec(), &ts).map_err(|e| format!("jvp failed: {e}"))?;
    let (ct_in, t) = (flat(&cts), flat(&ts));
    let (ct_out, jt) = (vals(&ct), vals(&tangent));
    let lhs = dot(&ct_in, &t);
    let rhs = dot(&ct_out, &jt);
    let scale = dot_abs(&ct_in, &t) + dot_abs(&ct_out, &jt);
    if (lhs - rhs).abs() <= case.fd.exact * scale + 1e-300 {
        Ok(())
    } else {
        Err(format!(
            "adjoint identity: <vjp(ct), t> = {lhs} but <ct, jvp(t)> = {rhs}\n  vjp(ct) = {ct_in:?}\n  ct = {ct_out:?}\n  t = {t:?}"
        ))
    }
}

/// Derivatives of a locally constant (or non-float) result are exactly 0:
/// jvp, vjp and, when `fd_is_zero`, the finite difference (which also
/// shows the sample is away from any jump). Its value still enters
/// products correctly: `d/dx [sum(x_0) * sum(op(x))] = sum(op(x))` along
/// `x_0`.
fn check_zero_derivative(
    case: &OpCase,
    xs: &[Array],
    y: &Array,
    rng: &mut Rng,
    fd_is_zero: bool,
) -> Result<(), String> {
    let ts = random_like(xs, rng);
    let (_, tangent) =
        try_jvp(as_fn(case), &xs.to_vec(), &ts).map_err(|e| format!("jvp failed: {e}"))?;
    close(
        "jvp of a zero-derivative op",
        &vals(&tangent),
        &vec![0.0; y.size()],
        0.0,
        0.0,
    )?;
    let ct = array(rng.vector(y.size()), y.shape());
    let (_, pullback) =
        try_vjp(as_fn(case), &xs.to_vec()).map_err(|e| format!("vjp failed: {e}"))?;
    let cts = pullback(&ct).map_err(|e| format!("pullback failed: {e}"))?;
    close(
        "vjp of a zero-derivative op",
        &flat(&cts),
        &vec![0.0; flat(xs).len()],
        0.0,
        0.0,
    )?;
    if fd_is_zero {
        let fd = directional_fd(&|x| eval(case, x), xs, &ts, fd_step(case.fd.step, xs));
        close(
            "finite difference of a zero-derivative op",
            &fd,
            &vec![0.0; y.size()],
            0.0,
            0.0,
        )?;
    }
    let product = |v: &Vec<Array>| v[0].sum() * as_fn(case)(v).sum();
    let total: f64 = vals(y).iter().sum();
    let (_, dp) = try_jvp(product, &xs.to_vec(), &ts).map_err(|e| format!("jvp failed: {e}"))?;
    let want = total * vals(&ts[0]).iter().sum::<f64>();
    close(
        "jvp of sum(x0) * sum(op)",
        &vals(&dp),
        &[want],
        1e-13,
        1e-13,
    )?;
    let g = try_grad(product)(&xs.to_vec()).map_err(|e| format!("grad failed: {e}"))?;
    close(
        "grad of sum(x0) * sum(op)",
        &vals(&g[0]),
        &vec![total; xs[0].size()],
        1e-13,
        1e-13,
    )?;
    for (k, gk) in g.iter().enumerate().skip(1) {
        close(
            &format!("grad of sum(x0) * sum(op), operand {k}"),
            &vals(gk),
            &vec![0.0; gk.size()],
            0.0,
            0.0,
        )?;
    }
    Ok(())
}

/// `custom_vjp` functions: reverse mode against finite differences
/// (`<vjp(ct), t>` vs `<ct, fd(t)>`); forward mode fails with the
/// documented `custom_lin` error (as a panic of the function `custom_vjp`
/// returns, caught here).
fn check_reverse_only(case: &OpCase, xs: &[Array], y: &Array, rng: &mut Rng) -> Result<(), String> {
    let ts = random_like(xs, rng);
    let ct = array(rng.vector(y.size()), y.shape());
    let (_, pullback) =
        try_vjp(as_fn(case), &xs.to_vec()).map_err(|e| format!("vjp failed: {e}"))?;
    let cts = pullback(&ct).map_err(|e| format!("pullback failed: {e}"))?;
    let h = fd_step(case.fd.step, xs);
    let fd = directional_fd(&|x| eval(case, x), xs, &ts, h);
    let lhs = dot(&flat(&cts), &flat(&ts));
    let rhs = dot(&vals(&ct), &fd);
    close(
        "<vjp(ct), t> vs <ct, fd(t)>",
        &[lhs],
        &[rhs],
        case.fd.rtol,
        1e-9,
    )?;
    let forward = catch_unwind(AssertUnwindSafe(|| try_jvp(as_fn(case), &xs.to_vec(), &ts)));
    let message = match forward {
        Ok(Ok(_)) => return Err("jvp of a custom_vjp function succeeded".into()),
        Ok(Err(e)) => e.to_string(),
        Err(payload) => panic_text(&payload),
    };
    if message.starts_with("custom_lin: forward-mode differentiation") {
        Ok(())
    } else {
        Err(format!("unexpected forward-mode error: {message}"))
    }
}

/// `vjp` of a forward-only entry fails, with an error that points to
/// `scan`.
fn check_no_reverse_mode(case: &OpCase, xs: &[Array]) -> Result<(), String> {
    let reverse = catch_unwind(AssertUnwindSafe(|| {
        try_vjp(as_fn(case), &xs.to_vec()).map(|_| ())
    }));
    let message = match reverse {
        Ok(Ok(())) => return Err("vjp of a forward-only entry succeeded".into()),
        Ok(Err(e)) => e.to_string(),
        Err(payload) => panic_text(&payload),
    };
    if message.contains("scan") {
        Ok(())
    } else {
        Err(format!("unexpected reverse-mode error: {message}"))
    }
}

/// `jvp` and `vjp` fail with `NotYetSupported` from the primitive's jvp
/// rule. The builder's error is captured (a traced function returns an
/// array, not a `Result`).
fn check_not_yet_supported(
    case: &OpCase,
    xs: &[Array],
    error_prim: &'static str,
) -> Result<(), String> {
    let expected = Error::NotYetSupported {
        prim: error_prim,
        rule: "jvp",
    };
    let captured = RefCell::new(None);
    let f = |v: &Vec<Array>| match (case.build)(v) {
        Ok(y) => y,
        Err(e) => {
            *captured.borrow_mut() = Some(e);
            v[0].clone()
        }
    };
    let ts = xs.iter().map(|x| x.clone() * 0.5).collect::<Vec<_>>();
    try_jvp(f, &xs.to_vec(), &ts).map_err(|e| format!("jvp failed outside the op: {e}"))?;
    let jvp_error = captured.borrow_mut().take();
    if jvp_error.as_ref() != Some(&expected) {
        return Err(format!(
            "jvp: expected Err({expected:?}), got {jvp_error:?}"
        ));
    }
    let _pullback =
        try_vjp(f, &xs.to_vec()).map_err(|e| format!("vjp failed outside the op: {e}"))?;
    let vjp_error = captured.borrow_mut().take();
    if vjp_error.as_ref() != Some(&expected) {
        return Err(format!(
            "vjp: expected Err({expected:?}), got {vjp_error:?}"
        ));
    }
    Ok(())
}

// ---- 2. random programs --------------------------------------------------------------

/// (a) `grad` of `sum(w * program(x))` against central differences in each
/// coordinate, `h = 1e-6 max(1, |x|)`. Tolerance: 1e-5 relative to the
/// largest derivative (central differences are accurate to ~1e-9 here; a
/// wrong rule is off by O(1)), plus the rounding floor `10 ulp |f| / h`.
#[test]
fn grad_matches_finite_differences() {
    for_programs(|p, x, plan| {
        let w = weights(run_program(p, x, Some(plan)).0.shape());
        let f = |x: &Array| (run_program(p, x, Some(plan)).0 * &w).sum();
        let fx = vals(&f(x))[0];
        let g = try_grad(f)(x).map_err(|e| format!("grad failed: {e}"))?;
        let h = 1e-6 * max_abs(&p.input).max(1.0);
        let fd: Vec<f64> = (0..x.size())
            .map(|i| {
                let mut e = vec![0.0; x.size()];
                e[i] = 1.0;
                let e = array(e, x.shape());
                directional_fd(&|v| vals(&f(&v[0])), std::slice::from_ref(x), &[e], h)[0]
            })
            .collect();
        let atol = 10.0 * f64::EPSILON * fx.abs().max(1.0) / h;
        close("grad vs finite differences", &vals(&g), &fd, 1e-5, atol)
    });
}

/// (b) `<vjp(ct), t> == <ct, jvp(t)>` for random `t` and `ct`.
#[test]
fn vjp_is_the_adjoint_of_jvp() {
    for_programs(|p, x, plan| {
        let f = |x: &Array| run_program(p, x, Some(plan)).0;
        let mut rng = Rng::new(p.seed);
        let t = array(rng.vector(x.size()), x.shape());
        let (y, pullback) = try_vjp(f, x).map_err(|e| format!("vjp failed: {e}"))?;
        let ct = array(rng.vector(y.size()), y.shape());
        let ct_in = vals(&pullback(&ct).map_err(|e| format!("pullback failed: {e}"))?);
        let (_, jt) = try_jvp(f, x, &t).map_err(|e| format!("jvp failed: {e}"))?;
        let (t, ct, jt) = (vals(&t), vals(&ct), vals(&jt));
        let (lhs, rhs) = (dot(&ct_in, &t), dot(&ct, &jt));
        // Exact up to rounding in both linear programs (a few dozen ops).
        let scale = dot_abs(&ct_in, &t) + dot_abs(&ct, &jt);
        if (lhs - rhs).abs() <= 1e-10 * scale + 1e-300 {
            Ok(())
        } else {
            Err(format!("<vjp(ct), t> = {lhs}, <ct, jvp(t)> = {rhs}"))
        }
    });
}

/// (c) forward and reverse Jacobians agree (both exact up to rounding).
#[test]
fn jacfwd_equals_jacrev() {
    for_programs(|p, x, plan| {
        let f = |x: &Array| run_program(p, x, Some(plan)).0;
        let forward = jacfwd(f)(x);
        let reverse = jacrev(f)(x);
        if forward.shape() != reverse.shape() {
            return Err(format!(
                "shapes {:?} vs {:?}",
                forward.shape(),
                reverse.shape()
            ));
        }
        close(
            "jacfwd vs jacrev",
            &vals(&forward),
            &vals(&reverse),
            1e-10,
            1e-300,
        )
    });
}

/// (d) the Hessian of `sum(w * program(x))`: symmetric; equal to
/// `jacfwd(jacrev f)` (its definition) and to `jacrev(jacfwd f)` (the other
/// order, an independent route); and `H t` matches central differences of
/// `grad f` along `t`.
#[test]
fn hessian_is_symmetric_and_agrees_with_both_orders() {
    for_programs(|p, x, plan| {
        let w = weights(run_program(p, x, Some(plan)).0.shape());
        let f = |x: &Array| (run_program(p, x, Some(plan)).0 * &w).sum();
        let n = x.size();
        let h_mat = vals(&hessian(f)(x));
        let transposed: Vec<f64> = (0..n * n).map(|k| h_mat[(k % n) * n + k / n]).collect();
        close("hessian symmetry", &h_mat, &transposed, 1e-9, 1e-12)?;
        close(
            "hessian vs jacfwd(jacrev f)",
            &h_mat,
            &vals(&jacfwd(jacrev(f))(x)),
            1e-12,
            1e-300,
        )?;
        close(
            "hessian vs jacrev(jacfwd f)",
            &h_mat,
            &vals(&jacrev(jacfwd(f))(x)),
            1e-9,
            1e-12,
        )?;
        let t = Rng::new(p.seed).vector(n);
        let ht: Vec<f64> = (0..n)
            .map(|i| dot(&h_mat[i * n..(i + 1) * n], &t))
            .collect();
        let g = grad(f);
        let h = 1e-6 * max_abs(&p.input).max(1.0);
        let fd = directional_fd(
            &|v| vals(&g(&v[0])),
            std::slice::from_ref(x),
            &[array(t, x.shape())],
            h,
        );
        let gx = max_abs(&vals(&g(x)));
        let atol = 10.0 * f64::EPSILON * gx.max(1.0) / h;
        close("H t vs finite differences of grad", &ht, &fd, 1e-5, atol)
    });
}

// ---- 3. third derivatives ----------------------------------------------------------------

/// A scalar function with its third derivative in closed form.
struct Third {
    name: &'static str,
    f: fn(&Array) -> Array,
    d3: fn(f64) -> f64,
    /// Only points where this holds (the function's domain, away from kinks).
    domain: fn(f64) -> bool,
}

const POINTS: [f64; 6] = [-1.3, -0.45, 0.35, 0.8, 1.7, 2.6];
const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

fn anywhere(_: f64) -> bool {
    true
}

fn positive(x: f64) -> bool {
    x > 0.0
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Derivations (`s = sech^2 x = 1 - tanh^2 x`, `σ = logistic x`):
/// - tanh' = s, tanh'' = -2 tanh s, tanh''' = -2 s^2 + 4 tanh^2 s = -2 s (1 - 3 tanh^2);
/// - σ' = σ(1-σ), σ'' = σ'(1-2σ), σ''' = σ'(1-2σ)^2 - 2σ'^2 = σ'(1 - 6σ + 6σ^2);
/// - erf' = (2/√π) e^{-x²}, erf'' = (2/√π)(-2x) e^{-x²}, erf''' = (2/√π)(4x² - 2) e^{-x²};
/// - (x^p)''' = p(p-1)(p-2) x^{p-3}: sqrt 3/8 x^{-5/2}, rsqrt -15/8 x^{-7/2},
///   1/x -6/x^4, x^2.5 1.875 x^{-1/2};
/// - log''' = 2/x³, log1p''' = 2/(1+x)³, (a^x)''' = ln(a)³ a^x;
/// - (x sin x)' = sin x + x cos x, '' = 2 cos x - x sin x, ''' = -3 sin x - x cos x.
const THIRDS: &[Third] = &[
    Third {
        name: "neg",
        f: lax::neg,
        d3: |_| 0.0,
        domain: anywhere,
    },
    Third {
        name: "exp",
        f: lax::exp,
        d3: f64::exp,
        domain: anywhere,
    },
    Third {
        name: "log",
        f: lax::log,
        d3: |x| 2.0 / x.powi(3),
        domain: positive,
    },
    Third {
        name: "log1p",
        f: lax::log1p,
        d3: |x| 2.0 / (1.0 + x).powi(3),
        domain: |x| x > -1.0,
    },
    Third {
        name: "expm1",
        f: lax::expm1,
        d3: f64::exp,
        domain: anywhere,
    },
    Third {
        name: "sin",
        f: lax::sin,
        d3: |x| -x.cos(),
        domain: anywhere,
    },
    Third {
        name: "cos",
        f: lax::cos,
        d3: f64::sin,
        domain: anywhere,
    },
    Third {
        name: "tanh",
        f: lax::tanh,
        d3: |x| {
            let t = x.tanh();
            let s = 1.0 - t * t;
            -2.0 * s * (1.0 - 3.0 * t * t)
        },
        domain: anywhere,
    },
    Third {
        name: "logistic",
        f: lax::logistic,
        d3: |x| {
            let s = logistic(x);
            s * (1.0 - s) * (1.0 - 6.0 * s + 6.0 * s * s)
        },
        domain: anywhere,
    },
    Third {
        name: "sqrt",
        f: lax::sqrt,
        d3: |x| 0.375 * x.powf(-2.5),
        domain: positive,
    },
    Third {
        name: "rsqrt",
        f: lax::rsqrt,
        d3: |x| -1.875 * x.powf(-3.5),
        domain: positive,
    },
    Third {
        name: "erf",
        f: lax::erf,
        d3: |x| FRAC_2_SQRT_PI * (4.0 * x * x - 2.0) * (-x * x).exp(),
        domain: anywhere,
    },
    Third {
        name: "abs",
        f: lax::abs,
        d3: |_| 0.0,
        domain: |x| x != 0.0,
    },
    Third {
        name: "square (mul x x)",
        f: |x| lax::mul(x, x),
        d3: |_| 0.0,
        domain: anywhere,
    },
    Third {
        name: "cube (mul)",
        f: |x| lax::mul(&lax::mul(x, x), x),
        d3: |_| 6.0,
        domain: anywhere,
    },
    Third {
        name: "reciprocal (div)",
        f: |x| lax::div(&Array::scalar(1.0f64), x),
        d3: |x| -6.0 / x.powi(4),
        domain: |x| x != 0.0,
    },
    Third {
        name: "x^2.5 (pow base)",
        f: |x| lax::pow(x, &Array::scalar(2.5f64)),
        d3: |x| 1.875 * x.powf(-0.5),
        domain: positive,
    },
    Third {
        name: "1.7^x (pow exponent)",
        f: |x| lax::pow(&Array::scalar(1.7f64), x),
        d3: |x| 1.7f64.ln().powi(3) * 1.7f64.powf(x),
        domain: anywhere,
    },
    Third {
        name: "x sin x (custom_jvp)",
        f: |x| {
            (OP_CASES
                .iter()
                .find(|c| c.name == "custom_jvp_call")
                .expect("entry")
                .build)(std::slice::from_ref(x))
            .expect("custom_jvp")
        },
        d3: |x| -3.0 * x.sin() - x * x.cos(),
        domain: anywhere,
    },
    Third {
        name: "sin (call)",
        f: |x| {
            let jaxpr = make_jaxpr(|v: &Array| lax::sin(v))(x).expect("make_jaxpr");
            let prim = rjax_ir::Primitive::Call {
                jaxpr: std::sync::Arc::new(jaxpr),
                name: "sin".into(),
            };
            rjax::core::bind1(prim, std::slice::from_ref(x)).expect("call")
        },
        d3: |x| -x.cos(),
        domain: anywhere,
    },
];

#[test]
fn third_derivatives_match_closed_forms() {
    let mut failures = Vec::new();
    for case in THIRDS {
        let d2 = grad(grad(case.f));
        let d3 = grad(grad(grad(case.f)));
        for &x0 in POINTS.iter().filter(|&&x| (case.domain)(x)) {
            let x = Array::scalar(x0);
            let want = (case.d3)(x0);
            let got = vals(&d3(&x))[0];
            // Automatic derivatives are exact up to a few ulp per op.
            if (got - want).abs() > 1e-11 * want.abs().max(1.0) {
                failures.push(format!(
                    "{} at {x0}: grad^3 = {got}, closed form {want}",
                    case.name
                ));
            }
            // The closed form itself, against central differences of the
            // second derivative (h = 1e-5: error ~1e-10 |f^(5)| + 2e-11 |f''|).
            let h = 1e-5;
            let fd = (vals(&d2(&Array::scalar(x0 + h)))[0] - vals(&d2(&Array::scalar(x0 - h)))[0])
                / (2.0 * h);
            if (fd - want).abs() > 1e-6 * want.abs().max(1.0) {
                failures.push(format!(
                    "{} at {x0}: closed form {want} but finite differences of f'' give {fd}",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- the checkers can fail ---------------------------------------------------------------

const SIN_OPERAND: &[Operand] = &[Operand {
    shape: &[2, 3],
    domain: Domain::Any(-2.0, 2.0),
}];

fn checker_case(name: &'static str, build: common::op_cases::Build, kind: Kind) -> OpCase {
    OpCase {
        name,
        note: "a deliberately wrong rule",
        operands: SIN_OPERAND,
        build,
        kind,
        linear: false,
        fd: DEFAULT_FD,
        appears: Appears::Jaxpr,
        generic: None,
    }
}

/// Runs `check_case` on `case`, expecting the given failure.
fn expect_rejected(case: &OpCase, needle: &str) {
    let mut rng = Rng::new(7);
    let xs = sample_arrays(case, &mut rng);
    match check_case(case, &xs, &mut rng) {
        Ok(()) => panic!("the checker accepted {}", case.note),
        Err(e) => assert!(e.contains(needle), "unexpected failure: {e}"),
    }
}

/// The table checkers reject derivatives that are slightly wrong: a jvp
/// rule off by 0.1%, a backward pass off by 0.1%, and a non-zero
/// derivative of a piecewise-constant function.
#[test]
fn checkers_reject_wrong_derivatives() {
    let off_jvp = checker_case(
        "custom_jvp_call",
        |x| {
            let f = custom_jvp(
                |v: &Array| lax::sin(v),
                |v: &Array, t: &Array| (lax::sin(v), t * &lax::cos(v) * 1.001),
            );
            Ok(f(&x[0]))
        },
        Kind::Smooth,
    );
    expect_rejected(&off_jvp, "jvp vs finite differences");
    let off_vjp = checker_case(
        "custom_vjp_call",
        |x| {
            let f = custom_vjp(
                |v: &Array| lax::sin(v),
                |v: &Array| (lax::sin(v), lax::cos(v)),
                |c: &Array, ct: &Array| ct * c * 1.001,
            );
            Ok(f(&x[0]))
        },
        Kind::ReverseOnly("test"),
    );
    expect_rejected(&off_vjp, "<vjp(ct), t> vs <ct, fd(t)>");
    let nonzero = checker_case(
        "custom_jvp_call",
        |x| {
            let f = custom_jvp(
                |v: &Array| lax::floor(v),
                |v: &Array, t: &Array| (lax::floor(v), t * 1e-9),
            );
            Ok(f(&x[0]))
        },
        Kind::PiecewiseConstant("test"),
    );
    expect_rejected(&nonzero, "jvp of a zero-derivative op");
}
