//! Autodiff: numerical stability of `rjax::nn` in value and derivative,
//! golden jaxprs of gradients, and the semantics of the differentiation API.
//!
//! 1. Stability. `softplus`, `sigmoid`, `logsumexp`, `softmax`,
//!    `log_softmax` and the two softmax cross-entropies are evaluated, with
//!    their first derivatives (by `grad` and by `jvp`) and second derivatives
//!    (by `grad(grad)` and `jvp(grad)`), at `x` in
//!    `{-1e4, -100, -1, 0, 1, 100, 1e4}` in `f32` and `f64`, and compared
//!    with closed forms evaluated here in `f64` (`softplus' = sigmoid`,
//!    `sigmoid' = s (1 - s)`, the softmax Jacobian `diag(s) - s sᵀ`, ...).
//!    The two-class functions take `[x, 0]`, whose softmax is
//!    `[sigmoid(x), sigmoid(-x)]`. Every function is also checked at its
//!    kinks and ties (0, equal logits).
//! 2. Golden text. `make_jaxpr(grad(loss))` of the linear classifier and of
//!    a 2-layer MLP is pinned in `tests/golden/*.txt`; set `RJAX_BLESS=1` to
//!    rewrite those files after reviewing a change. The jaxprs must have no
//!    dead equation and must compute the eager gradient.
//! 3. API semantics: perturbation confusion, typed errors, integer inputs,
//!    aux outputs, trees, custom rules, `stop_gradient`, higher-order
//!    derivatives of an MLP against finite differences, Jacobian shapes.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rjax::prelude::*;
use rjax::{
    custom_jvp, custom_vjp, hessian, jacfwd, jacrev, linearize, stop_gradient, tree_structure,
    try_grad, try_value_and_grad,
};
use rjax_ir::{Atom, ClosedJaxpr, HostBuffer};

// ---- helpers ----------------------------------------------------------------

/// The sample points of the stability tests.
const XS: [f64; 7] = [-1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4];

/// Both float dtypes.
const FLOATS: [DType; 2] = [DType::F32, DType::F64];

/// An array of `dtype` (f32 or f64) and `shape` holding `values`.
fn arr(values: &[f64], shape: &[usize], dtype: DType) -> Array {
    match dtype {
        DType::F32 => Array::from_vec(values.iter().map(|&v| v as f32).collect(), shape).unwrap(),
        DType::F64 => Array::from_vec(values.to_vec(), shape).unwrap(),
        other => panic!("arr: not a float dtype: {other}"),
    }
}

/// A rank-1 array of `values`.
fn vec1(values: &[f64], dtype: DType) -> Array {
    arr(values, &[values.len()], dtype)
}

/// A rank-0 array.
fn scalar(value: f64, dtype: DType) -> Array {
    arr(&[value], &[], dtype)
}

fn f64s(a: &Array) -> Vec<f64> {
    a.to_f64_vec().unwrap()
}

fn eps(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => f64::from(f32::EPSILON),
        _ => f64::EPSILON,
    }
}

/// The smallest normal number of `dtype`: values below it are subnormal and
/// carry no relative precision.
fn tiny(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => f64::from(f32::MIN_POSITIVE),
        _ => f64::MIN_POSITIVE,
    }
}

/// Tolerances for comparing with a closed form: `|a - e| <= rtol |e| + atol`.
#[derive(Clone, Copy)]
struct Tol {
    rtol: f64,
    atol: f64,
}

/// Function values: 8 ulps relative, and an absolute floor at the smallest
/// normal number (a value that underflows to a subnormal or to 0, such as
/// `sigmoid(-100)` in f32, has no relative precision left).
fn value_tol(dtype: DType) -> Tol {
    Tol {
        rtol: 8.0 * eps(dtype),
        atol: tiny(dtype),
    }
}

/// Logarithms of sums (`logsumexp`, `log_softmax`, the cross-entropies):
/// 8 ulps relative, and an absolute floor of 2 ulps of 1. They compute
/// `log(1 + d)` with `d` the other classes' share, as JAX does, and `1 + d`
/// rounds to 1 when `d < eps` (`logsumexp([-100, 0])` is 0, not `3.7e-44`).
fn log_sum_tol(dtype: DType) -> Tol {
    Tol {
        rtol: 8.0 * eps(dtype),
        atol: 2.0 * eps(dtype),
    }
}

/// Derivatives: 8 ulps relative, and an absolute floor of 2 ulps of 1 (the
/// scale of every derivative tested here). The floor is needed where a
/// derivative is formed as `s (1 - s)` from `s = sigmoid(x)`, as JAX's
/// `logistic` rule does: for `x > 37` (f64) `1 - s` cancels to 0 while the
/// true value is `~e^-x`, an absolute error below 1e-16.
fn deriv_tol(dtype: DType) -> Tol {
    Tol {
        rtol: 8.0 * eps(dtype),
        atol: 2.0 * eps(dtype),
    }
}

/// Asserts `actual` matches `expected` elementwise within `tol`; every
/// actual value must be finite.
#[track_caller]
fn assert_close(what: &str, actual: &[f64], expected: &[f64], tol: Tol) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            a.is_finite() && (a - e).abs() <= tol.rtol * e.abs() + tol.atol,
            "{what}: element {i}: got {a:e}, expected {e:e}\n  \
             actual:   {actual:?}\n  expected: {expected:?}"
        );
    }
}

/// `sigmoid(x)` in f64, without overflow.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `sigmoid'(x) = sigmoid(x) sigmoid(-x)`, exact for every `x`.
fn dsigmoid(x: f64) -> f64 {
    sigmoid(x) * sigmoid(-x)
}

/// `log(1 + e^x)` in f64, without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn map(f: impl Fn(f64) -> f64) -> Vec<f64> {
    XS.iter().map(|&x| f(x)).collect()
}

/// Elementwise first derivative of `f` at every point of [`XS`], by `grad`
/// (of the sum) and by `jvp` (with unit tangents), and second derivative by
/// `grad(grad)` and `jvp(grad)`; all are checked against the closed forms.
#[track_caller]
fn check_elementwise(
    name: &str,
    f: fn(&Array) -> Array,
    value: fn(f64) -> f64,
    d1: fn(f64) -> f64,
    d2: fn(f64) -> f64,
) {
    for dtype in FLOATS {
        let x = vec1(&XS, dtype);
        let ones = vec1(&[1.0; 7], dtype);
        let df = grad(move |x: &Array| f(x).sum());
        let (vt, dv) = (value_tol(dtype), deriv_tol(dtype));
        assert_close(&format!("{name} {dtype}"), &f64s(&f(&x)), &map(value), vt);
        assert_close(
            &format!("grad {name} {dtype}"),
            &f64s(&df(&x)),
            &map(d1),
            dv,
        );
        let (_, tangent) = jvp(f, &x, &ones);
        assert_close(
            &format!("jvp {name} {dtype}"),
            &f64s(&tangent),
            &map(d1),
            dv,
        );
        let ddf = grad(|x: &Array| df(x).sum());
        assert_close(
            &format!("grad grad {name} {dtype}"),
            &f64s(&ddf(&x)),
            &map(d2),
            dv,
        );
        let (_, second) = jvp(&df, &x, &ones);
        assert_close(
            &format!("jvp grad {name} {dtype}"),
            &f64s(&second),
            &map(d2),
            dv,
        );
        // One point at a time, as a scalar function.
        for &xi in &XS {
            let g = grad(f)(&scalar(xi, dtype));
            assert_close(
                &format!("grad {name}({xi}) {dtype}"),
                &f64s(&g),
                &[d1(xi)],
                dv,
            );
        }
    }
}

// ---- 1. stability of nn -----------------------------------------------------

#[test]
fn softplus_value_and_derivatives_are_stable() {
    check_elementwise("softplus", nn::softplus, softplus, sigmoid, dsigmoid);
}

#[test]
fn softplus_derivative_at_zero_is_one_half() {
    // The formula max(x, 0) + log1p(exp(-|x|)) differentiates to
    // 1/2 (max's tie rule) - 1/2 (abs'(0) = 1) = 0 at 0; the custom rule
    // gives sigmoid(0).
    for dtype in FLOATS {
        let zero = scalar(0.0, dtype);
        assert_eq!(f64s(&grad(nn::softplus)(&zero)), vec![0.5]);
        assert_eq!(
            f64s(&jvp(nn::softplus, &zero, &scalar(1.0, dtype)).1),
            vec![0.5]
        );
        let (_, lin) = linearize(nn::softplus, &zero);
        assert_eq!(f64s(&lin(&scalar(2.0, dtype))), vec![1.0]);
        assert_eq!(f64s(&grad(grad(nn::softplus))(&zero)), vec![0.25]);
        // Compiled, both ways round.
        assert_eq!(f64s(&rjax::jit(grad(nn::softplus))(&zero)), vec![0.5]);
        assert_eq!(f64s(&grad(rjax::jit(nn::softplus))(&zero)), vec![0.5]);
    }
    // Integer inputs become f32, as in JAX.
    let ints = Array::from_vec(vec![0i32, 1], &[2]).unwrap();
    assert_eq!(nn::softplus(&ints).dtype(), DType::F32);
}

#[test]
fn softplus_rule_survives_vmap() {
    // softplus binds custom_jvp_call under every transformation, vmap
    // included: batched values, and derivatives of the batched function.
    let xs = arr(&[-1e4, 0.0, 1.0, 1e4, -1.0, 100.0], &[3, 2], DType::F64);
    let batched = vmap(|row: &Array| nn::softplus(row).sum());
    let want: Vec<f64> = [(-1e4, 0.0), (1.0, 1e4), (-1.0, 100.0)]
        .iter()
        .map(|&(a, b)| softplus(a) + softplus(b))
        .collect();
    assert_close(
        "vmap softplus",
        &f64s(&batched(&xs)),
        &want,
        value_tol(DType::F64),
    );
    let g = grad(|xs: &Array| batched(xs).sum())(&xs);
    let want: Vec<f64> = [-1e4, 0.0, 1.0, 1e4, -1.0, 100.0].map(sigmoid).to_vec();
    assert_close(
        "grad vmap softplus",
        &f64s(&g),
        &want,
        deriv_tol(DType::F64),
    );
    let per_row = vmap(grad(|x: &Array| nn::softplus(x).sum()))(&xs);
    assert_close(
        "vmap grad softplus",
        &f64s(&per_row),
        &want,
        deriv_tol(DType::F64),
    );
}

#[test]
fn sigmoid_value_and_derivatives_are_stable() {
    fn d2(x: f64) -> f64 {
        dsigmoid(x) * (1.0 - 2.0 * sigmoid(x))
    }
    check_elementwise("sigmoid", nn::sigmoid, sigmoid, dsigmoid, d2);
}

/// `[x, 0]` for each point of [`XS`], as a `[7, 2]` array.
fn pairs(dtype: DType) -> Array {
    let data: Vec<f64> = XS.iter().flat_map(|&x| [x, 0.0]).collect();
    arr(&data, &[7, 2], dtype)
}

/// Row-major `[7, 2]` values `[a(x), b(x)]` for each point.
fn rows(a: impl Fn(f64) -> f64, b: impl Fn(f64) -> f64) -> Vec<f64> {
    XS.iter().flat_map(|&x| [a(x), b(x)]).collect()
}

#[test]
fn logsumexp_value_and_derivatives_are_stable() {
    for dtype in FLOATS {
        let (vt, dv) = (log_sum_tol(dtype), deriv_tol(dtype));
        let v = pairs(dtype);
        let lse = |v: &Array| nn::logsumexp(v, -1, false);
        // logsumexp([x, 0]) = softplus(x); its gradient is the softmax.
        assert_close("logsumexp", &f64s(&lse(&v)), &map(softplus), vt);
        let g = grad(|v: &Array| lse(v).sum())(&v);
        let softmax = rows(sigmoid, |x| sigmoid(-x));
        assert_close("grad logsumexp", &f64s(&g), &softmax, dv);
        // jvp along [1, 0] is d/dx softplus(x) = sigmoid(x).
        let along_x = arr(&rows(|_| 1.0, |_| 0.0), &[7, 2], dtype);
        assert_close(
            "jvp logsumexp",
            &f64s(&jvp(lse, &v, &along_x).1),
            &map(sigmoid),
            dv,
        );
        // Hessian of each row: diag(s) - s sᵀ = s0 s1 [[1, -1], [-1, 1]];
        // jvp(grad) along [1, 0] gives its first column.
        let dg = |v: &Array| grad(|v: &Array| lse(v).sum())(v);
        let column = rows(dsigmoid, |x| -dsigmoid(x));
        assert_close(
            "jvp grad logsumexp",
            &f64s(&jvp(dg, &v, &along_x).1),
            &column,
            dv,
        );
        for &x in &XS {
            let h = hessian(|v: &Array| nn::logsumexp(v, 0, false))(&vec1(&[x, 0.0], dtype));
            assert_eq!(h.shape(), &[2, 2]);
            let s = dsigmoid(x);
            assert_close(
                &format!("hessian logsumexp({x})"),
                &f64s(&h),
                &[s, -s, -s, s],
                dv,
            );
        }
    }
}

#[test]
fn log_softmax_value_and_derivatives_are_stable() {
    for dtype in FLOATS {
        let (vt, dv) = (log_sum_tol(dtype), deriv_tol(dtype));
        let v = pairs(dtype);
        let expected = rows(|x| -softplus(-x), |x| -softplus(x));
        assert_close(
            "log_softmax",
            &f64s(&nn::log_softmax(&v, -1)),
            &expected,
            vt,
        );
        // d/dv of log_softmax(v)[0] = e0 - softmax(v) = [s(-x), -s(-x)].
        let first = |v: &Array| nn::log_softmax(v, 1).take(&Array::scalar(0i32), 1).sum();
        let g = grad(first)(&v);
        assert_close(
            "grad log_softmax",
            &f64s(&g),
            &rows(|x| sigmoid(-x), |x| -sigmoid(-x)),
            dv,
        );
        let along_x = arr(&rows(|_| 1.0, |_| 0.0), &[7, 2], dtype);
        let (_, t) = jvp(|v: &Array| nn::log_softmax(v, -1), &v, &along_x);
        assert_close(
            "jvp log_softmax",
            &f64s(&t),
            &rows(|x| sigmoid(-x), |x| -sigmoid(x)),
            dv,
        );
        for &x in &XS {
            let h = hessian(|v: &Array| nn::log_softmax(v, 0).take(&Array::scalar(0i32), 0))(
                &vec1(&[x, 0.0], dtype),
            );
            let s = dsigmoid(x);
            assert_close(
                &format!("hessian log_softmax({x})"),
                &f64s(&h),
                &[-s, s, s, -s],
                dv,
            );
        }
    }
}

#[test]
fn softmax_value_and_derivatives_are_stable() {
    for dtype in FLOATS {
        let (vt, dv) = (value_tol(dtype), deriv_tol(dtype));
        let v = pairs(dtype);
        let expected = rows(sigmoid, |x| sigmoid(-x));
        assert_close("softmax", &f64s(&nn::softmax(&v, -1)), &expected, vt);
        // Jacobian of softmax([x, 0]): s0 s1 [[1, -1], [-1, 1]].
        let along_x = arr(&rows(|_| 1.0, |_| 0.0), &[7, 2], dtype);
        let (_, t) = jvp(|v: &Array| nn::softmax(v, -1), &v, &along_x);
        assert_close(
            "jvp softmax",
            &f64s(&t),
            &rows(dsigmoid, |x| -dsigmoid(x)),
            dv,
        );
        for &x in &XS {
            let point = vec1(&[x, 0.0], dtype);
            let s = dsigmoid(x);
            let jac = [s, -s, -s, s];
            let jf = jacfwd(|v: &Array| nn::softmax(v, 0))(&point);
            let jr = jacrev(|v: &Array| nn::softmax(v, 0))(&point);
            assert_close(&format!("jacfwd softmax({x})"), &f64s(&jf), &jac, dv);
            assert_close(&format!("jacrev softmax({x})"), &f64s(&jr), &jac, dv);
        }
    }
}

#[test]
fn cross_entropies_are_stable_in_value_and_gradient() {
    for dtype in FLOATS {
        let (vt, dv) = (log_sum_tol(dtype), deriv_tol(dtype));
        let logits = pairs(dtype);
        let one_hot = arr(&rows(|_| 1.0, |_| 0.0), &[7, 2], dtype);
        let labels = Array::from_vec(vec![0i32; 7], &[7]).unwrap();
        // -log softmax([x, 0])[0] = softplus(-x), per example.
        let dense = nn::softmax_cross_entropy(&logits, &one_hot, -1);
        let sparse = nn::sparse_softmax_cross_entropy(&logits, &labels);
        assert_eq!((dense.shape(), sparse.shape()), (&[7][..], &[7][..]));
        assert_close(
            "softmax_cross_entropy",
            &f64s(&dense),
            &map(|x| softplus(-x)),
            vt,
        );
        assert_close(
            "sparse_softmax_cross_entropy",
            &f64s(&sparse),
            &map(|x| softplus(-x)),
            vt,
        );
        // Gradient: softmax - one_hot = [-s(-x), s(-x)].
        let expected = rows(|x| -sigmoid(-x), |x| sigmoid(-x));
        let gd = grad(|z: &Array| nn::softmax_cross_entropy(z, &one_hot, -1).sum())(&logits);
        let gs = grad(|z: &Array| nn::sparse_softmax_cross_entropy(z, &labels).sum())(&logits);
        assert_close("grad softmax_cross_entropy", &f64s(&gd), &expected, dv);
        assert_close(
            "grad sparse_softmax_cross_entropy",
            &f64s(&gs),
            &expected,
            dv,
        );
        let (_, td) = jvp(
            |z: &Array| nn::softmax_cross_entropy(z, &one_hot, 1),
            &logits,
            &one_hot,
        );
        assert_close(
            "jvp softmax_cross_entropy",
            &f64s(&td),
            &map(|x| -sigmoid(-x)),
            dv,
        );
        for &x in &XS {
            let point = vec1(&[x, 0.0], dtype);
            let label = Array::from_vec(vec![0i32], &[]).unwrap();
            let h = hessian(|z: &Array| nn::sparse_softmax_cross_entropy(z, &label))(&point);
            let s = dsigmoid(x);
            assert_close(
                &format!("hessian cross-entropy({x})"),
                &f64s(&h),
                &[s, -s, -s, s],
                dv,
            );
        }
    }
}

#[test]
fn cross_entropy_conventions() {
    let logits = vec1(&[1.0, 2.0, 3.0, f64::NEG_INFINITY], DType::F32);
    let logits = jnp::reshape(&logits, &[1, 4]);
    // Soft labels; a zero label on a -inf (masked) logit contributes 0, not NaN.
    let soft = arr(&[0.25, 0.25, 0.5, 0.0], &[1, 4], DType::F32);
    let z = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    let expected = -(0.25 * (1.0 - z) + 0.25 * (2.0 - z) + 0.5 * (3.0 - z));
    let loss = nn::softmax_cross_entropy(&logits, &soft, -1);
    assert_close(
        "soft labels",
        &f64s(&loss),
        &[expected],
        log_sum_tol(DType::F32),
    );
    let g = grad(|z: &Array| nn::softmax_cross_entropy(z, &soft, -1).sum())(&logits);
    let e = [1.0, 2.0, 3.0].map(|l: f64| (l - z).exp());
    let want = [e[0] - 0.25, e[1] - 0.25, e[2] - 0.5, 0.0];
    assert_close("soft labels grad", &f64s(&g), &want, deriv_tol(DType::F32));
    // The class axis can be any axis.
    let cols = jnp::transpose(&pairs(DType::F64), None);
    let one_hot = jnp::transpose(&arr(&rows(|_| 1.0, |_| 0.0), &[7, 2], DType::F64), None);
    let by_axis0 = nn::softmax_cross_entropy(&cols, &one_hot, 0);
    assert_close(
        "axis 0",
        &f64s(&by_axis0),
        &map(|x| softplus(-x)),
        log_sum_tol(DType::F64),
    );
    // Out-of-range integer labels give NaN losses (and zero gradients).
    let logits = arr(&[0.0, 0.0, 1.0, 2.0, 3.0, 4.0], &[3, 2], DType::F32);
    let labels = Array::from_vec(vec![1i32, 2, -1], &[3]).unwrap();
    let loss = f64s(&nn::sparse_softmax_cross_entropy(&logits, &labels));
    assert!((loss[0] - 2f64.ln()).abs() < 1e-6 && loss[1].is_nan() && loss[2].is_nan());
    let g = grad(|z: &Array| nn::sparse_softmax_cross_entropy(z, &labels).sum())(&logits);
    let gv = f64s(&g);
    assert_eq!((gv[0], gv[1]), (0.5, -0.5));
    assert_eq!(&gv[2..], &[0.0; 4]);
    // u32 labels work too.
    let unsigned = Array::from_vec(vec![1u32, 0, 1], &[3]).unwrap();
    let loss = f64s(&nn::sparse_softmax_cross_entropy(&logits, &unsigned));
    assert!((loss[0] - 2f64.ln()).abs() < 1e-6 && (loss[1] - softplus(1.0)).abs() < 1e-6);
}

#[test]
fn cross_entropy_errors_name_the_op_and_shapes() {
    let logits = jnp::zeros(&[3, 2], DType::F32);
    let err = |r: rjax::Result<Array>| r.unwrap_err().to_string();
    assert_eq!(
        err(nn::try_softmax_cross_entropy(
            &logits,
            &jnp::zeros(&[3], DType::F32),
            -1
        )),
        "softmax_cross_entropy: logits [3,2] and labels [3] must have the same shape"
    );
    assert_eq!(
        err(nn::try_softmax_cross_entropy(&logits, &logits, 2)),
        "softmax_cross_entropy: axis 2 is out of bounds for an array of rank 2"
    );
    let sparse = nn::try_sparse_softmax_cross_entropy;
    assert_eq!(
        err(sparse(&logits, &jnp::zeros(&[3], DType::F32))),
        "sparse_softmax_cross_entropy: labels must be integers (i32 or u32), got f32"
    );
    assert_eq!(
        err(sparse(&logits, &jnp::zeros(&[2], DType::I32))),
        "sparse_softmax_cross_entropy: labels [2] must have the shape of logits [3,2] \
         without its last axis"
    );
    assert_eq!(
        err(sparse(
            &jnp::zeros(&[], DType::F32),
            &jnp::zeros(&[], DType::I32)
        )),
        "sparse_softmax_cross_entropy: logits [] need a class axis"
    );
    assert_eq!(
        err(sparse(
            &jnp::zeros(&[3, 0], DType::F32),
            &jnp::zeros(&[3], DType::I32)
        )),
        "sparse_softmax_cross_entropy: logits [3,0] have no classes"
    );
}

#[test]
fn derivatives_at_kinks_and_ties() {
    let at = |f: fn(&Array) -> Array, x: f64| f64s(&grad(f)(&scalar(x, DType::F64)))[0];
    // JAX's conventions: relu'(0) = 0; relu6' is 0 at both corners.
    assert_eq!(at(nn::relu, 0.0), 0.0);
    assert_eq!(at(nn::relu, 1e-300), 1.0);
    assert_eq!(at(nn::relu6, 0.0), 0.0);
    assert_eq!(at(nn::relu6, 6.0), 0.0);
    assert_eq!(at(nn::relu6, 3.0), 1.0);
    // silu'(0) = sigmoid(0) + 0 * sigmoid'(0); gelu'(0) = 1/2 in both forms.
    assert_eq!(at(nn::silu, 0.0), 0.5);
    assert_eq!(at(|x| nn::gelu(x, false), 0.0), 0.5);
    assert_eq!(at(|x| nn::gelu(x, true), 0.0), 0.5);
    assert_eq!(at(nn::sigmoid, 0.0), 0.25);
    assert_eq!(at(nn::softplus, 0.0), 0.5);
    // Ties: equal logits share the derivative equally (the maximum that is
    // subtracted has its gradient stopped, so max's tie rule plays no part).
    let ties = vec1(&[3.0, 3.0, 3.0, 3.0], DType::F64);
    let quarter = vec![0.25; 4];
    let g = grad(|v: &Array| nn::logsumexp(v, 0, false))(&ties);
    assert_eq!(f64s(&g), quarter);
    let g = grad(|v: &Array| nn::log_softmax(v, 0).take(&Array::scalar(1i32), 0))(&ties);
    assert_eq!(f64s(&g), vec![-0.25, 0.75, -0.25, -0.25]);
    let g = grad(|v: &Array| nn::softmax(v, 0).take(&Array::scalar(1i32), 0))(&ties);
    assert_eq!(f64s(&g), vec![-0.0625, 0.1875, -0.0625, -0.0625]);
    let label = Array::from_vec(vec![2i32], &[]).unwrap();
    let g = grad(|v: &Array| nn::sparse_softmax_cross_entropy(v, &label))(&ties);
    assert_eq!(f64s(&g), vec![0.25, 0.25, -0.75, 0.25]);
}

// ---- 2. golden jaxprs -----------------------------------------------------------

/// Compares `actual` with `tests/golden/{name}.txt` exactly. With
/// `RJAX_BLESS=1` the file is (re)written instead, for review.
#[track_caller]
fn assert_golden(name: &str, actual: &str) {
    let path = format!("{}/tests/golden/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("RJAX_BLESS").is_some() {
        std::fs::write(&path, format!("{actual}\n")).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run with RJAX_BLESS=1 to create it)"));
    if let Some(diff) = golden_diff(expected.strip_suffix('\n').unwrap_or(&expected), actual) {
        panic!(
            "golden text {name} differs from {path} (- expected, + actual):\n{diff}\n\
             actual text:\n{actual}\n\
             (if the change is intended, review it and rerun with RJAX_BLESS=1)"
        );
    }
}

/// `None` if the texts are equal, else each differing line as
/// `line N:\n  - expected\n  + actual`.
fn golden_diff(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let (exp, act): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut diff = String::new();
    for i in 0..exp.len().max(act.len()) {
        let (e, a) = (exp.get(i).copied(), act.get(i).copied());
        if e != a {
            let (e, a) = (e.unwrap_or("<no line>"), a.unwrap_or("<no line>"));
            diff += &format!("line {}:\n  - {e}\n  + {a}\n", i + 1);
        }
    }
    if diff.is_empty() {
        // Only a trailing newline differs.
        diff = format!("texts differ in line endings: {expected:?} vs {actual:?}\n");
    }
    Some(diff)
}

/// Indices of equations none of whose outputs is read by a later equation
/// or returned.
fn dead_equations(closed: &ClosedJaxpr) -> Vec<usize> {
    let jaxpr = &closed.jaxpr;
    let mut read = vec![false; jaxpr.avals.len()];
    let mut dead = Vec::new();
    for atom in &jaxpr.outvars {
        if let Atom::Var(v) = atom {
            read[v.index()] = true;
        }
    }
    for (i, eqn) in jaxpr.eqns.iter().enumerate().rev() {
        if !eqn.outputs.iter().all(|v| read[v.index()]) {
            dead.push(i);
        }
        for atom in &eqn.inputs {
            if let Atom::Var(v) = atom {
                read[v.index()] = true;
            }
        }
    }
    dead
}

/// Deterministic, varied test data in about [-1, 1].
fn data(shape: &[usize], seed: f64, dtype: DType) -> Array {
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n).map(|i| (seed + 0.7 * i as f64).sin()).collect();
    arr(&values, shape, dtype)
}

fn buffers(leaves: &[Array]) -> Vec<HostBuffer> {
    leaves
        .iter()
        .map(|a| a.try_buffer("test").unwrap().clone())
        .collect()
}

/// Pins the text of `make_jaxpr(grad(loss))`, checks it has no dead
/// equation, verifies, and checks that interpreting it gives the eager
/// gradient.
#[track_caller]
fn check_grad_jaxpr<A: Tree>(name: &str, loss: impl Fn(&A) -> Array + Copy, params: &A) {
    let closed = make_jaxpr(grad(loss))(params).unwrap();
    rjax_ir::verify::verify_closed(&closed).unwrap();
    assert_golden(name, &closed.to_string());
    assert_eq!(
        dead_equations(&closed),
        Vec::<usize>::new(),
        "dead equations in\n{closed}"
    );
    let staged =
        rjax_ir::interp::interpret_closed(&closed, &buffers(&tree_leaves(params))).unwrap();
    let eager = tree_leaves(&grad(loss)(params));
    assert_eq!(staged.len(), eager.len());
    for (s, e) in staged.iter().zip(&eager) {
        let s = Array::from_buffer(s.clone());
        // Eager matmuls run through the GEMM library, which sums in another
        // order than the interpreter's plain loops: agreement to a few f32
        // roundings of the largest magnitude involved.
        let (s, e) = (f64s(&s), f64s(e));
        let scale = e.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (a, b) in s.iter().zip(&e) {
            assert!(
                (a - b).abs() <= 1e-5 * scale,
                "{name}: staged {a} and eager {b} gradients differ"
            );
        }
    }
}

#[test]
fn golden_grad_of_linear_classifier_loss() {
    let x = data(&[2000, 2], 0.0, DType::F32);
    let y = data(&[2000, 1], 1.0, DType::F32);
    let loss = |p: &(Array, Array)| {
        let (w, b) = p;
        (x.matmul(w) + b - &y).square().mean()
    };
    let params = (data(&[2, 1], 2.0, DType::F32), data(&[1], 3.0, DType::F32));
    check_grad_jaxpr("grad_linear_classifier", loss, &params);
}

#[test]
fn golden_grad_of_mlp_loss() {
    let x = data(&[8, 4], 0.0, DType::F32);
    let y = data(&[8, 3], 1.0, DType::F32);
    let loss = |p: &(Array, Array, Array, Array)| {
        let (w1, b1, w2, b2) = p;
        (nn::relu(&(x.matmul(w1) + b1)).matmul(w2) + b2 - &y)
            .square()
            .mean()
    };
    let params = (
        data(&[4, 16], 2.0, DType::F32),
        data(&[16], 3.0, DType::F32),
        data(&[16, 3], 4.0, DType::F32),
        data(&[3], 5.0, DType::F32),
    );
    check_grad_jaxpr("grad_mlp", loss, &params);
}

#[test]
fn golden_diff_names_each_differing_line() {
    assert_eq!(golden_diff("a\nb", "a\nb"), None);
    assert_eq!(
        golden_diff("a\nb\nc", "a\nB\nc\nd").unwrap(),
        "line 2:\n  - b\n  + B\nline 4:\n  - <no line>\n  + d\n"
    );
    assert!(golden_diff("a", "a\n").is_some());
}

#[test]
fn dead_equation_check_finds_dead_equations() {
    // make_jaxpr prunes, so build a jaxpr with a dead equation by hand.
    let mut closed = make_jaxpr(|x: &Array| x.exp().sin())(&scalar(1.0, DType::F32)).unwrap();
    assert_eq!(dead_equations(&closed), Vec::<usize>::new());
    closed.jaxpr.outvars = vec![Atom::Var(closed.jaxpr.eqns[0].outputs[0])];
    assert_eq!(dead_equations(&closed), vec![1]);
}

// ---- 3. API semantics ---------------------------------------------------------------

fn s64(x: f64) -> Array {
    scalar(x, DType::F64)
}

fn item(a: &Array) -> f64 {
    let v = f64s(a);
    assert_eq!(v.len(), 1, "expected one element, got {v:?}");
    v[0]
}

#[test]
fn nested_derivatives_do_not_confuse_perturbations() {
    // The classic: d/dx [x * (d/dy (x * y))(1)] at x = 1. The inner
    // derivative is x (x is a constant to the inner grad), so the function
    // is x * x and the answer is 2x = 2, as in JAX. Confusing the two
    // perturbations would make the inner grad differentiate x too.
    let one = s64(1.0);
    let f = |x: &Array| x * grad(|y: &Array| x * y)(&one);
    assert_eq!(item(&grad(f)(&one)), 2.0);
    // Forward over forward (Siskind & Pearlmutter): d/dx [x * (d/dy (x + y))(1)]
    // at x = 1. The inner tangent is 1, the function is x, the answer 1.
    // A confused implementation sees one perturbation in x + y twice and
    // answers 2.
    let g = |x: &Array| x * jvp(|y: &Array| x + y, &one, &one).1;
    assert_eq!(item(&jvp(g, &one, &one).1), 1.0);
    // Forward over reverse, with the inner point depending on x:
    // h(x) = d/dy [x y^2] at y = x = 2 x^2, so h'(x) = 4x = 12 at x = 3.
    let h = |x: &Array| grad(|y: &Array| x * y * y)(x);
    assert_eq!(item(&jvp(h, &s64(3.0), &one).1), 12.0);
    // Reverse over reverse of the same: 12 as well.
    assert_eq!(item(&grad(h)(&s64(3.0))), 12.0);
}

#[test]
fn grad_of_a_non_scalar_or_integer_output_is_a_typed_error() {
    let x = vec1(&[1.0, 2.0, 3.0], DType::F32);
    let err = try_grad(|x: &Array| x * 2.0)(&x).unwrap_err();
    assert_eq!(
        err.to_string(),
        "grad: grad requires a function returning a float scalar, got f32[3]"
    );
    assert!(matches!(err, rjax::Error::Op { ref op, .. } if op == "grad"));
    let err = try_grad(|x: &Array| jnp::convert(x, DType::I32).unwrap().sum())(&x).unwrap_err();
    assert_eq!(
        err.to_string(),
        "grad: grad requires a function returning a float scalar, got i32[]"
    );
    let err =
        try_value_and_grad(|x: &Array| jnp::less(x, &Array::scalar(2.0f32)))(&x.sum()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "grad: grad requires a function returning a float scalar, got bool[]"
    );
    // The panicking form panics with the same text.
    let payload = catch_unwind(|| grad(|x: &Array| x * 2.0)(&x)).unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("grad: grad requires a function returning a float scalar, got f32[3]")
    );
}

#[test]
fn integer_and_bool_inputs_get_zero_gradients() {
    let n = Array::from_vec(vec![2i32, 3], &[2]).unwrap();
    let mask = Array::from_vec(vec![true, false], &[2]).unwrap();
    let x = vec1(&[1.5, -1.0], DType::F32);
    let f = |p: &(Array, Array, Array)| {
        let (x, n, mask) = p;
        let scaled = x * jnp::convert(n, DType::F32).unwrap();
        jnp::where_(mask, &scaled, &(x * 10.0)).sum()
    };
    let (value, (gx, gn, gm)) = value_and_grad(f)(&(x, n, mask));
    assert_eq!(item(&value), 3.0 - 10.0);
    assert_eq!(f64s(&gx), vec![2.0, 10.0]);
    assert_eq!((gn.dtype(), gn.shape()), (DType::I32, &[2][..]));
    assert_eq!(gn.to_vec::<i32>().unwrap(), vec![0, 0]);
    assert_eq!((gm.dtype(), gm.shape()), (DType::Bool, &[2][..]));
    assert_eq!(gm.to_vec::<bool>().unwrap(), vec![false, false]);
    // jvp ignores integer tangents too.
    let k = Array::scalar(4i32);
    let (y, t) = jvp(
        |p: &(Array, Array)| &p.0 * jnp::convert(&p.1, DType::F64).unwrap(),
        &(s64(2.0), k.clone()),
        &(s64(1.0), Array::scalar(7i32)),
    );
    assert_eq!((item(&y), item(&t)), (8.0, 4.0));
}

#[test]
fn value_and_grad_with_aux_returns_aux_untouched() {
    let x = vec1(&[1.0, -2.0, 3.0], DType::F64);
    let f = |x: &Array| {
        let loss = (x * x).sum();
        let aux = (
            x * 3.0,
            vec![x.sum(), Array::scalar(7i32)],
            BTreeMap::from([("max".to_string(), x.max())]),
        );
        (loss, aux)
    };
    let ((loss, aux), g) = value_and_grad_with_aux(f)(&x);
    let (_, eager_aux) = f(&x);
    assert_eq!(item(&loss), 14.0);
    assert_eq!(f64s(&g), vec![2.0, -4.0, 6.0]);
    assert_eq!(tree_structure(&aux), tree_structure(&eager_aux));
    for (a, e) in tree_leaves(&aux).iter().zip(tree_leaves(&eager_aux)) {
        assert!(a.is_concrete(), "aux leaves come back as concrete arrays");
        assert_eq!((a.dtype(), f64s(a)), (e.dtype(), f64s(&e)));
    }
    assert_eq!(f64s(&aux.0), vec![3.0, -6.0, 9.0]);
    assert_eq!(aux.1[1].to_vec::<i32>().unwrap(), vec![7]);
}

#[derive(Clone, Tree)]
struct Layer {
    w: Array,
    b: Option<Array>,
    #[tree(static)]
    scale: u32,
}

#[test]
fn grad_over_trees() {
    let (a, b) = (vec1(&[1.0, 2.0], DType::F64), s64(3.0));
    // Tuple: d/da sum(a^2 b) = 2ab, d/db = sum(a^2).
    let (ga, gb) = grad(|p: &(Array, Array)| (&p.0 * &p.0 * &p.1).sum())(&(a.clone(), b.clone()));
    assert_eq!((f64s(&ga), item(&gb)), (vec![6.0, 12.0], 5.0));
    // Vec: d/dv_i of prod(v) is the product of the others.
    let v = vec![s64(2.0), s64(3.0), s64(5.0)];
    let g = grad(|v: &Vec<Array>| &v[0] * &v[1] * &v[2])(&v);
    assert_eq!(
        g.iter().map(item).collect::<Vec<_>>(),
        vec![15.0, 10.0, 6.0]
    );
    // BTreeMap: gradients keyed like the input.
    let m = BTreeMap::from([("x".to_string(), s64(0.5)), ("y".to_string(), a.clone())]);
    let g = grad(|m: &BTreeMap<String, Array>| m["x"].sin() + m["y"].sum())(&m);
    assert_eq!(g.keys().collect::<Vec<_>>(), vec!["x", "y"]);
    assert_eq!(
        (item(&g["x"]), f64s(&g["y"])),
        (0.5f64.cos(), vec![1.0, 1.0])
    );
    // A derived struct: static fields are kept, None stays None.
    let layer = Layer {
        w: a.clone(),
        b: Some(b.clone()),
        scale: 4,
    };
    let loss = |l: &Layer| ((&l.w * l.b.as_ref().unwrap()).sum() * f64::from(l.scale)).square();
    let g = grad(loss)(&layer);
    // loss = (4 b sum(w))^2 = (36)^2: d/dw = 2 * 36 * 4 b, d/db = 2 * 36 * 4 sum(w).
    assert_eq!(g.scale, 4);
    assert_eq!(f64s(&g.w), vec![864.0, 864.0]);
    assert_eq!(item(g.b.as_ref().unwrap()), 864.0);
    let bare = Layer {
        w: a,
        b: None,
        scale: 2,
    };
    let g = grad(|l: &Layer| l.w.sum() * f64::from(l.scale))(&bare);
    assert!(g.b.is_none());
    assert_eq!(f64s(&g.w), vec![2.0, 2.0]);
}

#[test]
fn jvp_vjp_and_linearize_on_trees() {
    // f(a, [b, c]) = (a * b, {"s": sum(c) * a})
    let f = |p: &(Array, Vec<Array>)| {
        let (a, v) = p;
        (
            a * &v[0],
            BTreeMap::from([("s".to_string(), v[1].sum() * a)]),
        )
    };
    let primals = (
        s64(2.0),
        vec![vec1(&[1.0, 3.0], DType::F64), vec1(&[4.0, 5.0], DType::F64)],
    );
    let tangents = (
        s64(1.0),
        vec![vec1(&[0.0, 1.0], DType::F64), vec1(&[1.0, 1.0], DType::F64)],
    );
    let ((y0, y1), (t0, t1)) = jvp(f, &primals, &tangents);
    assert_eq!((f64s(&y0), item(&y1["s"])), (vec![2.0, 6.0], 18.0));
    // d(a b) = da b + a db = [1, 3] + 2 [0, 1]; d(sum(c) a) = 2 * 2 + 9 * 1.
    assert_eq!((f64s(&t0), item(&t1["s"])), (vec![1.0, 5.0], 13.0));
    let (out, lin) = linearize(f, &primals);
    assert_eq!(f64s(&out.0), vec![2.0, 6.0]);
    let (l0, l1) = lin(&tangents);
    assert_eq!((f64s(&l0), item(&l1["s"])), (vec![1.0, 5.0], 13.0));
    let (_, pullback) = vjp(f, &primals);
    let ct = (
        vec1(&[1.0, 10.0], DType::F64),
        BTreeMap::from([("s".to_string(), s64(100.0))]),
    );
    let (ca, cv) = pullback(&ct);
    // d/da = <ct0, b> + 100 sum(c) = 31 + 900; d/db = a ct0; d/dc = 100 a.
    assert_eq!(item(&ca), 931.0);
    assert_eq!(
        (f64s(&cv[0]), f64s(&cv[1])),
        (vec![2.0, 20.0], vec![200.0, 200.0])
    );
    // The adjoint identity <ct, J t> = <J^T ct, t> on the tree.
    let lhs = (&ct.0 * &l0).sum() + &ct.1["s"] * &l1["s"];
    let rhs = &ca * &tangents.0 + (&cv[0] * &tangents.1[0]).sum() + (&cv[1] * &tangents.1[1]).sum();
    assert_eq!(item(&lhs), item(&rhs));
}

#[test]
fn custom_jvp_rule_replaces_the_body_derivative() {
    // log(1 + e^x) written naively: at x = 100 in f32, e^x overflows and the
    // body's own derivative e^x / (1 + e^x) is inf / inf = NaN.
    let naive = |x: &Array| jnp::log1p(&x.exp());
    let x = scalar(100.0, DType::F32);
    assert!(item(&grad(naive)(&x)).is_nan());
    let stable = custom_jvp(naive, |x: &Array, t: &Array| {
        (jnp::log1p(&x.exp()), t * x.sigmoid())
    });
    assert_eq!(item(&grad(&stable)(&x)), 1.0);
    assert_eq!(item(&jvp(&stable, &x, &scalar(2.0, DType::F32)).1), 2.0);
    assert_eq!(item(&grad(&stable)(&scalar(0.0, DType::F32))), 0.5);
    // Higher order differentiates the rule: sigmoid'(0) = 1/4.
    assert_eq!(item(&grad(grad(&stable))(&scalar(0.0, DType::F32))), 0.25);
    // The rule is used even where it disagrees with the body.
    let wrong = custom_jvp(|x: &Array| x * x, |x: &Array, t: &Array| (x * x, t * 10.0));
    assert_eq!(item(&grad(&wrong)(&s64(3.0))), 10.0);
    assert_eq!(item(&wrong(&s64(3.0))), 9.0);
    // Staged, it is one custom_jvp_call; under grad the rule is inlined and
    // the staged gradient computes the same number.
    let text = make_jaxpr(&stable)(&x).unwrap().to_string();
    assert!(
        text.contains("custom_jvp_call") && text.contains("logistic"),
        "{text}"
    );
    let closed = make_jaxpr(grad(&stable))(&x).unwrap();
    let text = closed.to_string();
    assert!(
        text.contains("logistic") && !text.contains("custom_jvp_call"),
        "{text}"
    );
    let staged = rjax_ir::interp::interpret_closed(&closed, &buffers(&[x])).unwrap();
    assert_eq!(staged[0].as_slice::<f32>().unwrap(), &[1.0]);
    // On a tree: (x, y) -> x * y with a hand-written product rule.
    let product = custom_jvp(
        |p: &(Array, Array)| &p.0 * &p.1,
        |p: &(Array, Array), t: &(Array, Array)| (&p.0 * &p.1, &t.0 * &p.1 + &p.0 * &t.1),
    );
    let (gx, gy) = grad(&product)(&(s64(2.0), s64(5.0)));
    assert_eq!((item(&gx), item(&gy)), (5.0, 2.0));
}

#[test]
fn custom_vjp_uses_bwd_and_refuses_forward_mode() {
    // sin with a backward pass that doubles the true cotangent: the rule,
    // not the body, decides the gradient.
    let doubled = custom_vjp(
        |x: &Array| x.sin(),
        |x: &Array| (x.sin(), x.cos()),
        |cos: &Array, ct: &Array| ct * cos * 2.0,
    );
    let x = s64(0.5);
    assert_eq!(item(&doubled(&x)), 0.5f64.sin());
    assert_eq!(item(&grad(&doubled)(&x)), 2.0 * 0.5f64.cos());
    let (_, pullback) = vjp(&doubled, &x);
    assert_eq!(item(&pullback(&s64(3.0))), 6.0 * 0.5f64.cos());
    assert_eq!(f64s(&jacrev(&doubled)(&x)), vec![2.0 * 0.5f64.cos()]);
    // Gradient clipping, the usual use.
    let clip = custom_vjp(
        |x: &Array| x.clone(),
        |x: &Array| (x.clone(), ()),
        |_: &(), ct: &Array| ct.clip(-1.0, 1.0),
    );
    assert_eq!(item(&grad(|x: &Array| clip(x) * 5.0)(&x)), 1.0);
    // Forward mode is a clear error, as in JAX. The custom function
    // panics (it returns a plain Array), so catch the panic.
    let message = |r: std::thread::Result<Array>| {
        let payload = r.expect_err("forward mode of a custom_vjp function must fail");
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    };
    let expected =
        "custom_lin: forward-mode differentiation (jvp, jacfwd) of a custom_vjp function \
                    is not supported; use reverse mode (grad, vjp, jacrev)";
    let r = catch_unwind(AssertUnwindSafe(|| jvp(&doubled, &x, &s64(1.0)).1));
    assert_eq!(message(r), expected);
    let r = catch_unwind(AssertUnwindSafe(|| jacfwd(&doubled)(&x)));
    assert_eq!(message(r), expected);
}

#[test]
fn stop_gradient_blocks_derivatives() {
    let x = s64(3.0);
    assert_eq!(item(&grad(|x: &Array| x * stop_gradient(x))(&x)), 3.0);
    assert_eq!(item(&grad(|x: &Array| stop_gradient(&(x * x)))(&x)), 0.0);
    assert_eq!(item(&stop_gradient(&(&x * &x))), 9.0);
    assert_eq!(
        item(&jvp(|x: &Array| stop_gradient(x).exp(), &x, &s64(1.0)).1),
        0.0
    );
    // Second order: d2/dx2 [x^2 sg(x)] = 2 sg(x) = 6.
    assert_eq!(
        item(&grad(grad(|x: &Array| x * x * stop_gradient(x)))(&x)),
        6.0
    );
    // Under make_jaxpr it is a primitive.
    let text = make_jaxpr(|x: &Array| stop_gradient(x))(&x)
        .unwrap()
        .to_string();
    assert!(text.contains("stop_gradient"), "{text}");
}

/// A tanh MLP's parameters and loss in f64, smooth enough for finite
/// differences.
type Mlp = (Array, Array, Array, Array);

fn mlp_params(seed: f64) -> Mlp {
    (
        data(&[3, 4], seed, DType::F64),
        data(&[4], seed + 1.0, DType::F64),
        data(&[4, 2], seed + 2.0, DType::F64),
        data(&[2], seed + 3.0, DType::F64),
    )
}

fn mlp_loss(p: &Mlp) -> Array {
    let x = data(&[5, 3], 10.0, DType::F64);
    let y = data(&[5, 2], 11.0, DType::F64);
    let (w1, b1, w2, b2) = p;
    ((x.matmul(w1) + b1).tanh().matmul(w2) + b2 - y)
        .square()
        .mean()
}

/// `p + h v`, leafwise.
fn axpy(p: &Mlp, h: f64, v: &Mlp) -> Mlp {
    tree_map2(p, v, |a, b| a + b * h)
}

/// `<a, b>` over all leaves.
fn dot(a: &Mlp, b: &Mlp) -> Array {
    let terms: Vec<Array> = tree_leaves(a)
        .iter()
        .zip(tree_leaves(b))
        .map(|(x, y)| (x * y).sum())
        .collect();
    terms.into_iter().reduce(|s, t| s + t).unwrap()
}

#[test]
fn mlp_second_derivatives_match_finite_differences() {
    let (p, v) = (mlp_params(0.0), mlp_params(20.0));
    let h = 1e-5;
    // First order: <grad, v> against the central difference of the loss.
    let g = grad(mlp_loss)(&p);
    let fd1 = (item(&mlp_loss(&axpy(&p, h, &v))) - item(&mlp_loss(&axpy(&p, -h, &v)))) / (2.0 * h);
    let dir = item(&dot(&g, &v));
    assert!(
        (dir - fd1).abs() <= 1e-8 * dir.abs().max(1.0),
        "grad: {dir} vs {fd1}"
    );
    // Hessian-vector product, against the central difference of the gradient.
    let (gp, gm) = (
        grad(mlp_loss)(&axpy(&p, h, &v)),
        grad(mlp_loss)(&axpy(&p, -h, &v)),
    );
    let fd2: Vec<f64> = tree_leaves(&gp)
        .iter()
        .zip(tree_leaves(&gm))
        .flat_map(|(a, b)| f64s(&((a - b) / (2.0 * h))))
        .collect();
    // Forward over reverse: jvp(grad(f)).
    let (_, hv_fwd) = jvp(grad(mlp_loss), &p, &v);
    // Reverse over reverse: grad of <grad(f), v>.
    let hv_rev = grad(|q: &Mlp| dot(&grad(mlp_loss)(q), &v))(&p);
    let scale = fd2.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    assert!(scale > 1e-2, "the test direction should see curvature");
    for (name, hv) in [("jvp(grad)", hv_fwd), ("grad(grad)", hv_rev)] {
        let hv: Vec<f64> = tree_leaves(&hv).iter().flat_map(f64s).collect();
        assert_eq!(hv.len(), fd2.len());
        for (i, (a, e)) in hv.iter().zip(&fd2).enumerate() {
            assert!(
                (a - e).abs() <= 1e-6 * scale,
                "{name}: element {i}: {a} vs {e}"
            );
        }
    }
}

#[test]
fn jacobian_shapes_on_trees() {
    // f(a [2,3], b [4]) -> [5]: out_k = sum(a) * k + b . (k..k+4)
    let f = |p: &(Array, Array)| {
        let k = vec1(&[0.0, 1.0, 2.0, 3.0, 4.0], DType::F64);
        let ramp = jnp::reshape(&(jnp::arange(0.0, 20.0, 1.0, DType::F64) / 10.0), &[5, 4]);
        &k * p.0.sum() + ramp.matmul(&p.1)
    };
    let p = (data(&[2, 3], 0.0, DType::F64), data(&[4], 1.0, DType::F64));
    let (jf, jr) = (jacfwd(f)(&p), jacrev(f)(&p));
    for (name, (ja, jb)) in [("jacfwd", jf), ("jacrev", jr)] {
        assert_eq!(
            (ja.shape(), jb.shape()),
            (&[5, 2, 3][..], &[5, 4][..]),
            "{name}"
        );
        let expected_a: Vec<f64> = (0..5).flat_map(|k| [f64::from(k); 6]).collect();
        assert_eq!(f64s(&ja), expected_a, "{name}");
        let expected_b: Vec<f64> = (0..20).map(|i| f64::from(i) / 10.0).collect();
        assert_eq!(f64s(&jb), expected_b, "{name}");
    }
    // Integer leaves get empty (zero) Jacobian blocks of the right shape.
    let g = |p: &(Array, Array)| &p.0 * jnp::convert(&p.1, DType::F64).unwrap();
    let (ja, jn) = jacrev(g)(&(vec1(&[1.0, 2.0], DType::F64), Array::scalar(3i32)));
    assert_eq!((ja.shape(), jn.shape()), (&[2, 2][..], &[2][..]));
    assert_eq!(f64s(&ja), vec![3.0, 0.0, 0.0, 3.0]);
    // hessian of a matrix argument: shape x.shape ++ x.shape, symmetric.
    let x = data(&[2, 2], 3.0, DType::F64);
    let hs = hessian(|x: &Array| (x * x * x).sum() + x.matmul(x).sum())(&x);
    assert_eq!(hs.shape(), &[2, 2, 2, 2]);
    let (hv, xv) = (f64s(&hs), f64s(&x));
    for i in 0..4 {
        for j in 0..4 {
            assert_eq!(hv[i * 4 + j], hv[j * 4 + i], "symmetry at ({i},{j})");
        }
        // Diagonal: 6 x_i from the cube, plus d2/dx_i2 of sum(x @ x) = 2 on
        // the diagonal entries of the matrix, 0 off it.
        let from_matmul = if i == 0 || i == 3 { 2.0 } else { 0.0 };
        assert!(
            (hv[i * 5] - (6.0 * xv[i] + from_matmul)).abs() < 1e-12,
            "diagonal {i}"
        );
    }
}
