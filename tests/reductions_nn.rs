//! Reductions (`jnp::sum`, `mean`, `max`, `min`, `prod`, `argmax`/`argmin`,
//! `cumsum`, `var`/`std`, `logsumexp`, the `Array` methods) and `rjax::nn`
//! against hand-computed values: axes (negative, lists, all), keepdims,
//! result dtypes, empty reductions, NaN and infinities, stability at
//! `|x| = 1e4`, the exact error messages, and staging under `make_jaxpr`.

use rjax::jnp::{self, Axes};
use rjax::{make_jaxpr, nn, Array, DType};

/// An f32 array of `shape` holding `values`.
fn f32s(values: &[f32], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).unwrap()
}

/// An i32 array of `shape` holding `values`.
fn i32s(values: &[i32], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).unwrap()
}

fn vals(a: &Array) -> Vec<f32> {
    a.to_vec::<f32>().unwrap()
}

fn ints(a: &Array) -> Vec<i32> {
    a.to_vec::<i32>().unwrap()
}

/// Asserts `actual` and `expected` agree elementwise within `tol`
/// (relative to max(1, |expected|)); NaN matches NaN, infinities match exactly.
#[track_caller]
fn assert_close(actual: &[f32], expected: &[f64], tol: f64) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "lengths differ: {actual:?} vs {expected:?}"
    );
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let a = f64::from(a);
        let ok = if e.is_nan() {
            a.is_nan()
        } else if e.is_infinite() {
            a == e
        } else {
            (a - e).abs() <= tol * e.abs().max(1.0)
        };
        assert!(
            ok,
            "element {i}: got {a}, expected {e} (all: {actual:?} vs {expected:?})"
        );
    }
}

/// `[[1, 2, 3], [4, 5, 6]]`.
fn m23() -> Array {
    f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])
}

// ---- sum, prod, mean, max, min ----------------------------------------------

#[test]
fn sum_over_axes_and_keepdims() {
    let x = m23();
    let all = jnp::sum(&x, Axes::All, false);
    assert_eq!(all.shape(), &[] as &[usize]);
    assert_eq!(all.item::<f32>().unwrap(), 21.0);
    assert_eq!(vals(&jnp::sum(&x, 0, false)), vec![5.0, 7.0, 9.0]);
    assert_eq!(vals(&jnp::sum(&x, -1, false)), vec![6.0, 15.0]);
    assert_eq!(vals(&jnp::sum(&x, [1, 0], false)), vec![21.0]);
    let kept = jnp::sum(&x, -1, true);
    assert_eq!(kept.shape(), &[2, 1]);
    assert_eq!(vals(&kept), vec![6.0, 15.0]);
    assert_eq!(jnp::sum(&x, 0, true).shape(), &[1, 3]);
    assert_eq!(jnp::sum(&x, Axes::All, true).shape(), &[1, 1]);
    // An empty axis list reduces nothing.
    assert_eq!(vals(&jnp::sum(&x, Vec::<i32>::new(), false)), vals(&x));
    // Rank 0 with all axes is the value itself.
    assert_eq!(
        jnp::sum(&Array::scalar(2.5f32), Axes::All, false)
            .item::<f32>()
            .unwrap(),
        2.5
    );
}

#[test]
fn sum_dtypes() {
    let b = Array::from_vec(vec![true, false, true, true], &[2, 2]).unwrap();
    let s = jnp::sum(&b, Axes::All, false);
    assert_eq!(s.dtype(), DType::I32);
    assert_eq!(s.item::<i32>().unwrap(), 3);
    assert_eq!(ints(&jnp::sum(&b, 0, false)), vec![2, 1]);
    let i = i32s(&[1, 2, 3], &[3]);
    assert_eq!(jnp::sum(&i, 0, false).dtype(), DType::I32);
    let d = Array::from_vec(vec![0.5f64, 0.25], &[2]).unwrap();
    assert_eq!(jnp::sum(&d, 0, false).item::<f64>().unwrap(), 0.75);
}

#[test]
fn prod_values_and_dtypes() {
    let x = m23();
    assert_eq!(vals(&jnp::prod(&x, 1, false)), vec![6.0, 120.0]);
    assert_eq!(
        jnp::prod(&x, Axes::All, false).item::<f32>().unwrap(),
        720.0
    );
    let b = Array::from_vec(vec![true, true, false], &[3]).unwrap();
    let p = jnp::prod(&b, 0, false);
    assert_eq!(p.dtype(), DType::I32);
    assert_eq!(p.item::<i32>().unwrap(), 0);
    assert_eq!(ints(&jnp::prod(&i32s(&[2, 3, 4], &[3]), 0, true)), vec![24]);
}

#[test]
fn mean_values_and_dtypes() {
    let x = m23();
    assert_eq!(jnp::mean(&x, Axes::All, false).item::<f32>().unwrap(), 3.5);
    assert_eq!(vals(&jnp::mean(&x, 0, false)), vec![2.5, 3.5, 4.5]);
    let kept = jnp::mean(&x, -1, true);
    assert_eq!(kept.shape(), &[2, 1]);
    assert_eq!(vals(&kept), vec![2.0, 5.0]);
    let i = i32s(&[1, 2, 3, 4], &[4]);
    let m = jnp::mean(&i, 0, false);
    assert_eq!(m.dtype(), DType::F32);
    assert_eq!(m.item::<f32>().unwrap(), 2.5);
    let b = Array::from_vec(vec![true, false, false, false], &[4]).unwrap();
    assert_eq!(jnp::mean(&b, 0, false).item::<f32>().unwrap(), 0.25);
    let d = Array::from_vec(vec![1.0f64, 2.0], &[2]).unwrap();
    let md = jnp::mean(&d, 0, false);
    assert_eq!(md.dtype(), DType::F64);
    assert_eq!(md.item::<f64>().unwrap(), 1.5);
}

#[test]
fn max_min_values() {
    let x = f32s(&[1.0, 5.0, 3.0, 7.0, 2.0, -1.0], &[2, 3]);
    assert_eq!(jnp::max(&x, Axes::All, false).item::<f32>().unwrap(), 7.0);
    assert_eq!(jnp::min(&x, Axes::All, false).item::<f32>().unwrap(), -1.0);
    assert_eq!(vals(&jnp::max(&x, 0, false)), vec![7.0, 5.0, 3.0]);
    assert_eq!(vals(&jnp::min(&x, -1, false)), vec![1.0, -1.0]);
    let kept = jnp::max(&x, 1, true);
    assert_eq!(kept.shape(), &[2, 1]);
    assert_eq!(vals(&kept), vec![5.0, 7.0]);
    let i = i32s(&[4, -9, 2], &[3]);
    assert_eq!(jnp::max(&i, 0, false).item::<i32>().unwrap(), 4);
    assert_eq!(jnp::min(&i, 0, false).item::<i32>().unwrap(), -9);
    let b = Array::from_vec(vec![false, true, false], &[3]).unwrap();
    let bmax = jnp::max(&b, 0, false);
    assert_eq!(bmax.dtype(), DType::Bool);
    assert!(bmax.item::<bool>().unwrap());
    assert!(!jnp::min(&b, 0, false).item::<bool>().unwrap());
    let inf = f32s(&[f32::NEG_INFINITY, f32::INFINITY], &[2]);
    assert_eq!(
        jnp::max(&inf, 0, false).item::<f32>().unwrap(),
        f32::INFINITY
    );
    assert_eq!(
        jnp::min(&inf, 0, false).item::<f32>().unwrap(),
        f32::NEG_INFINITY
    );
}

#[test]
fn nan_propagates_through_max_and_min() {
    let x = f32s(&[1.0, f32::NAN, 3.0, 4.0], &[2, 2]);
    assert!(jnp::max(&x, Axes::All, false)
        .item::<f32>()
        .unwrap()
        .is_nan());
    assert!(jnp::min(&x, Axes::All, false)
        .item::<f32>()
        .unwrap()
        .is_nan());
    let rows = vals(&jnp::max(&x, 1, false));
    assert!(rows[0].is_nan());
    assert_eq!(rows[1], 4.0);
    assert!(jnp::sum(&x, Axes::All, false)
        .item::<f32>()
        .unwrap()
        .is_nan());
}

#[test]
fn empty_reductions() {
    let e = f32s(&[], &[0]);
    assert_eq!(jnp::sum(&e, Axes::All, false).item::<f32>().unwrap(), 0.0);
    assert_eq!(jnp::prod(&e, Axes::All, false).item::<f32>().unwrap(), 1.0);
    assert!(jnp::mean(&e, Axes::All, false)
        .item::<f32>()
        .unwrap()
        .is_nan());
    assert_eq!(
        jnp::sum(&i32s(&[], &[0]), 0, false).item::<i32>().unwrap(),
        0
    );
    assert_eq!(
        jnp::try_max(&e, Axes::All, false).unwrap_err().to_string(),
        "max: zero-size array to reduction operation max which has no identity"
    );
    assert_eq!(
        jnp::try_min(&e, 0, false).unwrap_err().to_string(),
        "min: zero-size array to reduction operation min which has no identity"
    );
    // Reducing a non-empty axis of an empty array is fine and empty.
    let e03 = f32s(&[], &[0, 3]);
    let m = jnp::max(&e03, 1, false);
    assert_eq!(m.shape(), &[0]);
    assert!(jnp::try_max(&e03, 0, false).is_err());
    let s = jnp::sum(&e03, 0, false);
    assert_eq!(vals(&s), vec![0.0; 3]);
    // The panicking form panics with the same message.
    let caught = std::panic::catch_unwind(|| e.max()).unwrap_err();
    let message = caught.downcast_ref::<String>().cloned().unwrap_or_default();
    assert_eq!(
        message,
        "max: zero-size array to reduction operation max which has no identity"
    );
    assert_eq!(
        jnp::try_logsumexp(&e, 0, false)
            .unwrap()
            .item::<f32>()
            .unwrap(),
        f32::NEG_INFINITY
    );
}

// ---- argmax, argmin, cumsum, var, std ---------------------------------------

#[test]
fn argmax_argmin_first_index_on_ties() {
    let x = f32s(&[1.0, 3.0, 3.0, 2.0], &[4]);
    let a = jnp::argmax(&x, 0);
    assert_eq!(a.dtype(), DType::I32);
    assert_eq!(a.shape(), &[] as &[usize]);
    assert_eq!(a.item::<i32>().unwrap(), 1);
    let y = f32s(&[2.0, 0.0, 0.0, 5.0], &[4]);
    assert_eq!(jnp::argmin(&y, -1).item::<i32>().unwrap(), 1);
    let m = f32s(&[1.0, 9.0, 9.0, 7.0, 7.0, 0.0], &[2, 3]);
    assert_eq!(ints(&jnp::argmax(&m, 1)), vec![1, 0]);
    assert_eq!(ints(&jnp::argmax(&m, 0)), vec![1, 0, 0]);
    assert_eq!(ints(&jnp::argmin(&m, -1)), vec![0, 2]);
    assert_eq!(ints(&jnp::argmin(&m, -2)), vec![0, 1, 1]);
    assert_eq!(jnp::argmax_flat(&m).item::<i32>().unwrap(), 1);
    assert_eq!(jnp::argmin_flat(&m).item::<i32>().unwrap(), 5);
    assert_eq!(
        jnp::argmax_flat(&Array::scalar(3.0f32))
            .item::<i32>()
            .unwrap(),
        0
    );
    // A NaN counts as the extremum.
    let n = f32s(&[1.0, f32::NAN, 5.0], &[3]);
    assert_eq!(jnp::argmax(&n, 0).item::<i32>().unwrap(), 1);
    assert_eq!(jnp::argmin(&n, 0).item::<i32>().unwrap(), 1);
    let b = Array::from_vec(vec![false, true, true], &[3]).unwrap();
    assert_eq!(jnp::argmax(&b, 0).item::<i32>().unwrap(), 1);
    assert_eq!(ints(&i32s(&[3, 8, 8, 1], &[2, 2]).argmax(1)), vec![1, 0]);
}

#[test]
fn argmax_of_empty_is_an_error() {
    let e = f32s(&[], &[0]);
    assert_eq!(
        jnp::try_argmax(&e, 0).unwrap_err().to_string(),
        "argmax: attempt to get argmax of an empty sequence"
    );
    assert_eq!(
        jnp::try_argmin_flat(&f32s(&[], &[2, 0]))
            .unwrap_err()
            .to_string(),
        "argmin: attempt to get argmin of an empty sequence"
    );
    // Searching a non-empty axis of an empty array is fine.
    assert_eq!(jnp::argmax(&f32s(&[], &[0, 3]), 1).shape(), &[0]);
}

#[test]
fn cumsum_values_and_dtypes() {
    let x = m23();
    assert_eq!(
        vals(&jnp::cumsum(&x, -1)),
        vec![1.0, 3.0, 6.0, 4.0, 9.0, 15.0]
    );
    assert_eq!(
        vals(&jnp::cumsum(&x, 0)),
        vec![1.0, 2.0, 3.0, 5.0, 7.0, 9.0]
    );
    let b = Array::from_vec(vec![true, false, true], &[3]).unwrap();
    let c = jnp::cumsum(&b, 0);
    assert_eq!(c.dtype(), DType::I32);
    assert_eq!(ints(&c), vec![1, 1, 2]);
    assert_eq!(jnp::cumsum(&f32s(&[], &[0]), 0).shape(), &[0]);
}

#[test]
fn var_and_std() {
    let x = f32s(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], &[8]);
    assert_eq!(jnp::var(&x, Axes::All, false).item::<f32>().unwrap(), 4.0);
    assert_eq!(jnp::std(&x, 0, false).item::<f32>().unwrap(), 2.0);
    let m = m23();
    assert_close(
        &vals(&jnp::var(&m, 1, false)),
        &[2.0 / 3.0, 2.0 / 3.0],
        1e-6,
    );
    assert_eq!(vals(&jnp::var(&m, 0, false)), vec![2.25; 3]);
    let kept = jnp::std(&m, 0, true);
    assert_eq!(kept.shape(), &[1, 3]);
    assert_eq!(vals(&kept), vec![1.5; 3]);
    let i = i32s(&[1, 3], &[2]);
    let v = jnp::var(&i, 0, false);
    assert_eq!(v.dtype(), DType::F32);
    assert_eq!(v.item::<f32>().unwrap(), 1.0);
}

// ---- logsumexp --------------------------------------------------------------

#[test]
fn logsumexp_values() {
    let x = f32s(&[1.0, 2.0, 3.0], &[3]);
    let expected = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    assert_close(
        &[jnp::logsumexp(&x, 0, false).item::<f32>().unwrap()],
        &[expected],
        1e-6,
    );
    let m = f32s(&[0.0, 0.0, 1.0, 1.0], &[2, 2]);
    let rows = jnp::logsumexp(&m, -1, false);
    assert_eq!(rows.shape(), &[2]);
    let ln2 = 2f64.ln();
    assert_close(&vals(&rows), &[ln2, 1.0 + ln2], 1e-6);
    let kept = jnp::logsumexp(&m, 1, true);
    assert_eq!(kept.shape(), &[2, 1]);
    assert_close(&vals(&kept), &[ln2, 1.0 + ln2], 1e-6);
    let all = jnp::logsumexp(&m, Axes::All, false);
    assert_eq!(all.shape(), &[] as &[usize]);
    assert_close(
        &[all.item::<f32>().unwrap()],
        &[(2.0 + 2.0 * 1f64.exp()).ln()],
        1e-6,
    );
    let i = jnp::logsumexp(&i32s(&[0, 0], &[2]), 0, false);
    assert_eq!(i.dtype(), DType::F32);
}

#[test]
fn logsumexp_is_stable_at_large_magnitudes() {
    let x = f32s(&[1e4, 1e4, -1e4, -1e4, 1e4, -1e4], &[3, 2]);
    let y = vals(&jnp::logsumexp(&x, 1, false));
    let ln2 = 2f64.ln();
    assert_close(&y, &[1e4 + ln2, -1e4 + ln2, 1e4], 1e-6);
    assert!(y.iter().all(|v| v.is_finite()));
    let z = vals(&jnp::logsumexp(&f32s(&[1e4, 9999.0], &[2]), 0, true));
    assert_close(&z, &[1e4 + (-1f64).exp().ln_1p()], 1e-6);
}

#[test]
fn logsumexp_of_infinities_and_nan() {
    let ninf = f32::NEG_INFINITY;
    let x = f32s(
        &[ninf, ninf, f32::INFINITY, 1.0, f32::NAN, 1.0, ninf, 0.0],
        &[4, 2],
    );
    let y = vals(&jnp::logsumexp(&x, 1, false));
    assert_close(&y, &[f64::NEG_INFINITY, f64::INFINITY, f64::NAN, 0.0], 1e-6);
}

// ---- Array methods ----------------------------------------------------------

#[test]
fn array_methods() {
    let x = m23();
    assert_eq!(x.sum().item::<f32>().unwrap(), 21.0);
    assert_eq!(x.mean().item::<f32>().unwrap(), 3.5);
    assert_eq!(x.max().item::<f32>().unwrap(), 6.0);
    assert_eq!(x.min().item::<f32>().unwrap(), 1.0);
    assert_eq!(x.prod().item::<f32>().unwrap(), 720.0);
    assert_eq!(vals(&x.sum_axes(0, false)), vec![5.0, 7.0, 9.0]);
    assert_eq!(x.sum_axes([-1], true).shape(), &[2, 1]);
    assert_eq!(vals(&x.mean_axes(1, false)), vec![2.0, 5.0]);
    assert_eq!(ints(&x.argmax(1)), vec![2, 2]);
    assert_eq!(ints(&x.argmin(0)), vec![0, 0, 0]);
}

// ---- errors -----------------------------------------------------------------

#[test]
fn bad_axes_error_messages() {
    let x = m23();
    let err = |r: rjax::Result<Array>| r.unwrap_err().to_string();
    assert_eq!(
        err(jnp::try_sum(&x, 2, false)),
        "sum: axis 2 is out of bounds for an array of rank 2"
    );
    assert_eq!(
        err(jnp::try_mean(&x, -3, false)),
        "mean: axis -3 is out of bounds for an array of rank 2"
    );
    assert_eq!(
        err(jnp::try_max(&x, [0, -2], false)),
        "max: repeated axis in [0, -2]"
    );
    assert_eq!(
        err(jnp::try_prod(&Array::scalar(1.0f32), 0, false)),
        "prod: axis 0 is out of bounds for an array of rank 0"
    );
    assert_eq!(
        err(jnp::try_argmax(&x, 5)),
        "argmax: axis 5 is out of bounds for an array of rank 2"
    );
    assert_eq!(
        err(jnp::try_argmin(&x, -3)),
        "argmin: axis -3 is out of bounds for an array of rank 2"
    );
    assert_eq!(
        err(jnp::try_cumsum(&x, 2)),
        "cumsum: axis 2 is out of bounds for an array of rank 2"
    );
    assert_eq!(
        err(jnp::try_var(&x, 3, false)),
        "mean: axis 3 is out of bounds for an array of rank 2"
    );
    assert_eq!(
        err(jnp::try_logsumexp(&x, 2, false)),
        "logsumexp: axis 2 is out of bounds for an array of rank 2"
    );
    assert_eq!(
        err(nn::try_softmax(&x, 2)),
        "softmax: axis 2 is out of bounds for an array of rank 2"
    );
    assert_eq!(
        err(nn::try_log_softmax(&x, -3)),
        "log_softmax: axis -3 is out of bounds for an array of rank 2"
    );
}

// ---- nn ---------------------------------------------------------------------

#[test]
fn relu_family() {
    let x = f32s(&[-2.0, 0.0, 3.0, 7.0], &[4]);
    assert_eq!(vals(&nn::relu(&x)), vec![0.0, 0.0, 3.0, 7.0]);
    assert_eq!(vals(&nn::relu6(&x)), vec![0.0, 0.0, 3.0, 6.0]);
    assert!(nn::relu(&Array::scalar(f32::NAN))
        .item::<f32>()
        .unwrap()
        .is_nan());
    let i = nn::relu(&i32s(&[-3, 4], &[2]));
    assert_eq!(i.dtype(), DType::I32);
    assert_eq!(ints(&i), vec![0, 4]);
}

#[test]
fn sigmoid_softplus_silu() {
    let x = f32s(&[-1e4, -1.0, 0.0, 1.0, 1e4], &[5]);
    let e1 = 1f64.exp();
    let sig1 = e1 / (1.0 + e1);
    assert_close(
        &vals(&nn::sigmoid(&x)),
        &[0.0, 1.0 - sig1, 0.5, sig1, 1.0],
        1e-6,
    );
    let sp1 = e1.ln_1p();
    assert_close(
        &vals(&nn::softplus(&x)),
        &[0.0, sp1 - 1.0, 2f64.ln(), sp1, 1e4],
        1e-6,
    );
    assert_close(
        &vals(&nn::silu(&x)),
        &[0.0, -(1.0 - sig1), 0.0, sig1, 1e4],
        1e-6,
    );
    assert_eq!(vals(&nn::swish(&x)), vals(&nn::silu(&x)));
    assert_eq!(nn::softplus(&i32s(&[0], &[1])).dtype(), DType::F32);
}

#[test]
fn gelu_exact_and_approximate() {
    let x = f32s(&[-1.0, 0.0, 1.0, 3.0], &[4]);
    let exact = [
        -0.158_655_253_931_457_07,
        0.0,
        0.841_344_746_068_542_9,
        2.995_950_305_905_11,
    ];
    assert_close(&vals(&nn::gelu(&x, false)), &exact, 1e-6);
    let tanh_form = |v: f64| {
        0.5 * v * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v * v * v)).tanh())
    };
    let approx: Vec<f64> = [-1.0, 0.0, 1.0, 3.0]
        .iter()
        .map(|&v| tanh_form(v))
        .collect();
    assert_close(&vals(&nn::gelu(&x, true)), &approx, 1e-6);
    assert_close(&[approx[2] as f32], &[0.841_191_990_608_276_8], 1e-7);
}

#[test]
fn softmax_and_log_softmax() {
    let x = f32s(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0], &[2, 3]);
    let z: f64 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    let expected: Vec<f64> = [1.0 - z, 2.0 - z, 3.0 - z]
        .iter()
        .map(|v: &f64| v.exp())
        .chain([1.0 / 3.0; 3])
        .collect();
    let s = nn::softmax(&x, -1);
    assert_eq!(s.shape(), &[2, 3]);
    assert_close(&vals(&s), &expected, 1e-6);
    let ls = nn::log_softmax(&x, 1);
    let third = (1.0f64 / 3.0).ln();
    assert_close(
        &vals(&ls),
        &[1.0 - z, 2.0 - z, 3.0 - z, third, third, third],
        1e-6,
    );
    // Along axis 0: each column sums to 1.
    let cols = vals(&nn::softmax(&x, 0));
    for c in 0..3 {
        assert!((cols[c] + cols[c + 3] - 1.0).abs() < 1e-6);
    }
}

#[test]
fn softmax_is_stable_at_large_magnitudes() {
    let x = f32s(&[1e4, 9999.0, -1e4, -1e4], &[2, 2]);
    let p = 1.0 / (1.0 + (-1f64).exp());
    assert_close(&vals(&nn::softmax(&x, -1)), &[p, 1.0 - p, 0.5, 0.5], 1e-6);
    let lse = (-1f64).exp().ln_1p();
    let half = -(2f64.ln());
    assert_close(
        &vals(&nn::log_softmax(&x, -1)),
        &[-lse, -1.0 - lse, half, half],
        1e-6,
    );
    assert_close(
        &vals(&nn::logsumexp(&x, -1, false)),
        &[1e4 + lse, -1e4 + 2f64.ln()],
        1e-6,
    );
    // A slice of all -inf has no distribution: NaN, as in JAX.
    let ninf = f32s(&[f32::NEG_INFINITY; 2], &[2]);
    assert!(vals(&nn::softmax(&ninf, 0)).iter().all(|v| v.is_nan()));
}

#[test]
fn one_hot_encoding() {
    let labels = i32s(&[0, 2, -1, 3], &[4]);
    let y = nn::one_hot(&labels, 3, DType::F32);
    assert_eq!(y.shape(), &[4, 3]);
    assert_eq!(y.dtype(), DType::F32);
    #[rustfmt::skip]
    let expected = vec![
        1.0, 0.0, 0.0,
        0.0, 0.0, 1.0,
        0.0, 0.0, 0.0,
        0.0, 0.0, 0.0,
    ];
    assert_eq!(vals(&y), expected);
    let grid = i32s(&[1, 0, 1, 1], &[2, 2]);
    let g = nn::one_hot(&grid, 2, DType::I32);
    assert_eq!(g.shape(), &[2, 2, 2]);
    assert_eq!(ints(&g), vec![0, 1, 1, 0, 0, 1, 0, 1]);
    let s = nn::one_hot(&Array::scalar(1u32), 3, DType::Bool);
    assert_eq!(s.shape(), &[3]);
    assert_eq!(s.to_vec::<bool>().unwrap(), vec![false, true, false]);
}

// ---- staging ----------------------------------------------------------------

#[test]
fn functions_stage_under_make_jaxpr() {
    let x = f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let softmax = make_jaxpr(|x: &Array| nn::softmax(x, -1))(&x).unwrap();
    let text = softmax.to_string();
    assert!(text.contains("reduce_max"), "{text}");
    assert!(text.contains("stop_gradient"), "{text}");
    assert!(text.contains("exp"), "{text}");
    let lse = make_jaxpr(|x: &Array| jnp::logsumexp(x, Axes::All, false))(&x).unwrap();
    assert!(lse.to_string().contains("is_finite"), "{lse}");
    make_jaxpr(|x: &Array| nn::log_softmax(x, 0))(&x).unwrap();
    make_jaxpr(|x: &Array| (x.mean_axes(0, true), jnp::var(x, 1, false), x.argmax(-1)))(&x)
        .unwrap();
    make_jaxpr(|x: &Array| (jnp::cumsum(x, 1), x.max(), jnp::std(x, Axes::All, true)))(&x).unwrap();
    let labels = i32s(&[0, 2], &[2]);
    let oh = make_jaxpr(|l: &Array| nn::one_hot(l, 3, DType::F32))(&labels).unwrap();
    assert!(oh.to_string().contains("iota"), "{oh}");
    make_jaxpr(|x: &Array| {
        (
            nn::relu(x),
            nn::gelu(x, true),
            nn::gelu(x, false),
            nn::softplus(x),
        )
    })(&x)
    .unwrap();
}
