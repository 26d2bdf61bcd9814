//! Bad input at every boundary: each case gives the typed error (or, from
//! operators and panicking functions, a panic with the same message), never
//! a crash or a wrong answer. NaN and infinity propagate as NumPy does.

use rjax::jnp;
use rjax::prelude::*;
use rjax::Error;

fn f32s(values: &[f32], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).unwrap()
}

/// The message of the panic raised by `f`.
fn panic_message<R>(f: impl FnOnce() -> R + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).err().expect("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn data_of_the_wrong_length() {
    let err = Array::from_vec(vec![1.0f32, 2.0, 3.0], &[2, 2]).unwrap_err();
    assert!(matches!(
        err,
        Error::DataLength {
            expected: 4,
            actual: 3,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "from_vec: data of length 3 does not match shape [2,2] (4 elements)"
    );
    assert!(Array::from_vec(Vec::<f32>::new(), &[1]).is_err());
}

#[test]
fn reading_with_the_wrong_type() {
    let x = f32s(&[1.0, 2.0], &[2]);
    let err = x.to_vec::<i32>().unwrap_err();
    assert_eq!(
        err,
        Error::DTypeMismatch {
            op: "to_vec",
            expected: DType::I32,
            actual: DType::F32
        }
    );
    assert_eq!(
        x.item::<f32>().unwrap_err().to_string(),
        "item: only arrays with one element can be converted to a scalar, got shape [2]"
    );
}

#[test]
fn zero_size_dimensions_flow_through() {
    let x = Array::from_vec(Vec::<f32>::new(), &[0, 3]).unwrap();
    let y = (&x * 2.0).exp();
    assert_eq!(y.shape(), &[0, 3]);
    assert_eq!(
        jnp::sum(&x, 0, false).to_vec::<f32>().unwrap(),
        vec![0.0, 0.0, 0.0]
    );
    assert_eq!(jnp::sum(&x, 1, false).shape(), &[0]);
    assert_eq!(jnp::reshape(&x, &[3, 0]).shape(), &[3, 0]);
    assert_eq!(x.matmul(&jnp::zeros(&[3, 2], DType::F32)).shape(), &[0, 2]);
    let err = jnp::try_max(&x, 0, false).unwrap_err();
    assert!(err.to_string().starts_with("max: "), "{err}");
}

#[test]
fn out_of_range_and_duplicate_axes() {
    let x = jnp::zeros(&[2, 3], DType::F32);
    assert_eq!(
        jnp::try_sum(&x, 2, false).unwrap_err().to_string(),
        "sum: axis 2 is out of bounds for an array of rank 2"
    );
    assert!(jnp::try_sum(&x, -3, false).is_err());
    assert!(jnp::try_sum(&x, [0, -2], false)
        .unwrap_err()
        .to_string()
        .starts_with("sum: repeated axis"));
    assert!(jnp::try_argmax(&x, 5).is_err());
    assert!(jnp::try_transpose(&x, Some(&[0, 0])).is_err());
    assert!(jnp::try_expand_dims(&x, 3).is_err());
    assert!(jnp::try_concatenate(&[x.clone(), x.clone()], 2).is_err());
}

#[test]
fn reshape_to_a_different_size() {
    let x = jnp::zeros(&[2, 3], DType::F32);
    let err = jnp::try_reshape(&x, &[4]).unwrap_err();
    assert!(err.to_string().starts_with("reshape: "), "{err}");
    assert!(err.to_string().contains("[2,3]"), "{err}");
    assert!(jnp::try_reshape(&x, &[-1, -1]).is_err());
    assert_eq!(jnp::reshape(&x, &[-1]).shape(), &[6]);
}

#[test]
fn mismatched_broadcast() {
    let a = jnp::zeros(&[3, 4], DType::F32);
    let b = jnp::zeros(&[5], DType::F32);
    let expected = "add: incompatible shapes for broadcasting: [3,4] vs [5]";
    assert_eq!(jnp::try_add(&a, &b).unwrap_err().to_string(), expected);
    assert_eq!(panic_message(|| &a + &b), expected);
    assert!(jnp::try_matmul(&a, &jnp::zeros(&[5, 2], DType::F32)).is_err());
    assert!(jnp::try_where_(&jnp::zeros(&[2], DType::Bool), &a, &b).is_err());
}

#[test]
fn wrong_dtypes_for_an_op() {
    let b = Array::from_vec(vec![true, false], &[2]).unwrap();
    assert!(jnp::try_negative(&b).is_err());
    assert!(jnp::try_logical_not(&jnp::zeros(&[2], DType::F32)).is_err());
    let x = f32s(&[1.0, 2.0], &[2]);
    let float_index = jnp::try_take(&x, &f32s(&[0.0], &[1]), 0);
    assert!(float_index.is_err());
    // Primitives are strict: lax does not promote.
    let i = Array::from_vec(vec![1i32, 2], &[2]).unwrap();
    assert!(lax::try_add(&x, &i).is_err());
}

#[test]
fn nan_and_inf_propagate_like_numpy() {
    let x = f32s(&[f32::NAN, f32::INFINITY, -f32::INFINITY, 1.0], &[4]);
    let y = (&x * 0.0).to_vec::<f32>().unwrap();
    assert!(y[0].is_nan() && y[1].is_nan() && y[2].is_nan() && y[3] == 0.0);
    assert!(jnp::max(&x, Axes::All, false)
        .item::<f32>()
        .unwrap()
        .is_nan());
    assert!(jnp::sum(&x, Axes::All, false)
        .item::<f32>()
        .unwrap()
        .is_nan());
    let finite = jnp::isfinite(&x).to_vec::<bool>().unwrap();
    assert_eq!(finite, vec![false, false, false, true]);
    assert_eq!(
        jnp::exp(&f32s(&[-f32::INFINITY], &[1]))
            .to_vec::<f32>()
            .unwrap(),
        vec![0.0]
    );
    assert_eq!(
        jnp::log(&f32s(&[0.0], &[1])).to_vec::<f32>().unwrap(),
        vec![-f32::INFINITY]
    );
    assert!(jnp::sqrt(&f32s(&[-1.0], &[1])).to_vec::<f32>().unwrap()[0].is_nan());
    assert_eq!(
        jnp::argmax(&f32s(&[1.0, f32::NAN, 5.0], &[3]), 0)
            .item::<i32>()
            .unwrap(),
        1
    );
}

#[test]
fn huge_shapes_are_errors_not_crashes() {
    let x = jnp::zeros(&[2], DType::F32);
    assert!(jnp::try_broadcast_to(&x, &[usize::MAX, 2]).is_err());
    assert!(jnp::try_reshape(&x, &[i64::MAX, 2]).is_err());
}

use rjax::jnp::Axes;
