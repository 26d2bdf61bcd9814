//! Shape operations, joining, slicing, `take` and matrix products in
//! `rjax::jnp`: hand-computed values (negative axes, `-1` in reshape,
//! zero-size dimensions, broadcasting) and the exact text of each error.

use rjax::jnp::{self, Axes};
use rjax::{make_jaxpr, Array, DType};

/// `0, 1, 2, ...` as `f32` with `shape`.
fn iota_f32(shape: &[usize]) -> Array {
    let n: usize = shape.iter().product();
    Array::from_vec((0..n).map(|i| i as f32).collect(), shape).unwrap()
}

fn f32s(values: &[f32], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).unwrap()
}

fn i32s(values: &[i32], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).unwrap()
}

fn vals(x: &Array) -> Vec<f32> {
    x.to_vec::<f32>().unwrap()
}

/// The error text of a `try_` call that must fail.
fn err<T: std::fmt::Debug>(result: rjax::Result<T>) -> String {
    result.unwrap_err().to_string()
}

/// Row-major flat index of `idx` in `shape`.
fn flat(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// Every multi-index of `shape`, row-major.
fn indices(shape: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|mut k| {
            let mut idx = vec![0; shape.len()];
            for d in (0..shape.len()).rev() {
                idx[d] = k % shape[d];
                k /= shape[d];
            }
            idx
        })
        .collect()
}

// ---- reshaping ---------------------------------------------------------------

#[test]
fn reshape_keeps_row_major_order_and_infers_minus_one() {
    let x = iota_f32(&[2, 3]);
    let y = jnp::reshape(&x, &[3, 2]);
    assert_eq!(y.shape(), &[3, 2]);
    assert_eq!(vals(&y), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(jnp::reshape(&x, &[-1, 2]).shape(), &[3, 2]);
    assert_eq!(jnp::reshape(&x, &[1, -1, 1]).shape(), &[1, 6, 1]);
    assert_eq!(jnp::reshape(&x, &[6usize]).shape(), &[6]);
    assert_eq!(jnp::reshape(&x, &[3i64, 2]).shape(), &[3, 2]);
    assert_eq!(jnp::reshape(&x, &[-1isize]).shape(), &[6]);
    let one = jnp::reshape(&Array::scalar(5i32), &[1, 1]);
    assert_eq!(one.shape(), &[1, 1]);
    assert_eq!(
        jnp::reshape(&one, &[] as &[usize]).item::<i32>().unwrap(),
        5
    );
}

#[test]
fn reshape_zero_size() {
    let x = jnp::zeros(&[0, 3], DType::F32);
    assert_eq!(jnp::reshape(&x, &[3, 0]).shape(), &[3, 0]);
    assert_eq!(jnp::reshape(&x, &[-1]).shape(), &[0]);
    assert_eq!(jnp::reshape(&x, &[2, -1]).shape(), &[2, 0]);
    assert!(vals(&jnp::reshape(&x, &[3, 0])).is_empty());
    // With a zero among the known sizes, -1 is ambiguous (NumPy refuses too).
    assert_eq!(
        err(jnp::try_reshape(&x, &[0, -1])),
        "reshape: cannot reshape [0,3] (0 elements) to [0,-1]"
    );
}

#[test]
fn reshape_errors() {
    let x = iota_f32(&[2, 3]);
    assert_eq!(
        err(jnp::try_reshape(&x, &[4])),
        "reshape: cannot reshape [2,3] (6 elements) to [4] (4 elements)"
    );
    assert_eq!(
        err(jnp::try_reshape(&x, &[-1, 4])),
        "reshape: cannot reshape [2,3] (6 elements) to [-1,4]"
    );
    assert_eq!(
        err(jnp::try_reshape(&x, &[-1, -1])),
        "reshape: can only specify one unknown dimension (-1), got [-1,-1]"
    );
    assert_eq!(
        err(jnp::try_reshape(&x, &[-2, -3])),
        "reshape: negative dimension -2 in [-2,-3]"
    );
    // Sizes beyond isize::MAX saturate; an overflowing product is reported
    // without an element count.
    let huge = [usize::MAX, 3];
    assert_eq!(
        err(jnp::try_reshape(&x, &huge)),
        format!(
            "reshape: cannot reshape [2,3] (6 elements) to [{},3]",
            isize::MAX
        )
    );
}

#[test]
fn ravel_and_flatten() {
    let x = iota_f32(&[2, 2, 2]);
    assert_eq!(jnp::ravel(&x).shape(), &[8]);
    assert_eq!(
        vals(&jnp::flatten(&x)),
        (0..8).map(|i| i as f32).collect::<Vec<_>>()
    );
    assert_eq!(jnp::ravel(&Array::scalar(1.0f32)).shape(), &[1]);
}

// ---- permuting axes ------------------------------------------------------------

#[test]
fn transpose_default_reverses_and_explicit_axes_permute() {
    let x = iota_f32(&[2, 3]);
    let t = jnp::transpose(&x, None);
    assert_eq!(t.shape(), &[3, 2]);
    assert_eq!(vals(&t), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);

    let shape = [2, 3, 4];
    let x = iota_f32(&shape);
    let y = jnp::transpose(&x, Some(&[1, -1, 0]));
    assert_eq!(y.shape(), &[3, 4, 2]);
    let got = vals(&y);
    for idx in indices(&[3, 4, 2]) {
        let (j, k, i) = (idx[0], idx[1], idx[2]);
        assert_eq!(got[flat(&idx, &[3, 4, 2])], flat(&[i, j, k], &shape) as f32);
    }
    // Rank-0 and rank-1 arrays are unchanged.
    assert_eq!(
        jnp::transpose(&Array::scalar(1.0f32), None).shape(),
        &[] as &[usize]
    );
}

#[test]
fn transpose_errors() {
    let x = iota_f32(&[2, 3]);
    assert_eq!(
        err(jnp::try_transpose(&x, Some(&[0, -2]))),
        "transpose: repeated axis 0 in axes [0,-2]"
    );
    assert_eq!(
        err(jnp::try_transpose(&x, Some(&[0, 2]))),
        "transpose: axis 2 is out of bounds for an array of rank 2"
    );
    assert_eq!(
        err(jnp::try_transpose(&x, Some(&[0]))),
        "transpose: axes [0] do not match an array of shape [2,3] (rank 2)"
    );
}

#[test]
fn swapaxes_and_moveaxis() {
    let shape = [2, 3, 4];
    let x = iota_f32(&shape);
    let s = jnp::swapaxes(&x, 0, -1);
    assert_eq!(s.shape(), &[4, 3, 2]);
    let got = vals(&s);
    for idx in indices(&[4, 3, 2]) {
        assert_eq!(
            got[flat(&idx, &[4, 3, 2])],
            flat(&[idx[2], idx[1], idx[0]], &shape) as f32
        );
    }

    let m = jnp::moveaxis(&x, 0, -1);
    assert_eq!(m.shape(), &[3, 4, 2]);
    let got = vals(&m);
    for idx in indices(&[3, 4, 2]) {
        assert_eq!(
            got[flat(&idx, &[3, 4, 2])],
            flat(&[idx[2], idx[0], idx[1]], &shape) as f32
        );
    }
    let back = jnp::moveaxis(&x, -1, 0);
    assert_eq!(back.shape(), &[4, 2, 3]);
    let got = vals(&back);
    for idx in indices(&[4, 2, 3]) {
        assert_eq!(
            got[flat(&idx, &[4, 2, 3])],
            flat(&[idx[1], idx[2], idx[0]], &shape) as f32
        );
    }

    assert_eq!(
        err(jnp::try_swapaxes(&x, 0, 3)),
        "swapaxes: axis 3 is out of bounds for an array of rank 3"
    );
    assert_eq!(
        err(jnp::try_moveaxis(&x, -4, 0)),
        "moveaxis: axis -4 is out of bounds for an array of rank 3"
    );
}

// ---- broadcasting and unit axes -------------------------------------------------------

#[test]
fn broadcast_to_follows_numpy_rules() {
    let x = f32s(&[1.0, 2.0, 3.0], &[3, 1]);
    let y = jnp::broadcast_to(&x, &[2, 3, 2]);
    assert_eq!(y.shape(), &[2, 3, 2]);
    assert_eq!(
        vals(&y),
        vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    );
    assert_eq!(
        jnp::broadcast_to(&Array::scalar(7i32), &[2])
            .to_vec::<i32>()
            .unwrap(),
        vec![7, 7]
    );
    assert_eq!(jnp::broadcast_to(&x, &[3, 0]).shape(), &[3, 0]);
    assert_eq!(
        err(jnp::try_broadcast_to(&x, &[2, 4])),
        "broadcast_to: cannot broadcast shape [3,1] to [2,4]"
    );
}

#[test]
fn expand_dims_accepts_axes_of_the_result() {
    let x = iota_f32(&[2, 3]);
    assert_eq!(jnp::expand_dims(&x, 0).shape(), &[1, 2, 3]);
    assert_eq!(jnp::expand_dims(&x, 2).shape(), &[2, 3, 1]);
    assert_eq!(jnp::expand_dims(&x, -1).shape(), &[2, 3, 1]);
    assert_eq!(jnp::expand_dims(&x, -3).shape(), &[1, 2, 3]);
    assert_eq!(vals(&jnp::expand_dims(&x, 1)), vals(&x));
    assert_eq!(
        err(jnp::try_expand_dims(&x, 3)),
        "expand_dims: axis 3 is out of bounds for an array of rank 3"
    );
}

#[test]
fn squeeze_all_or_named_unit_axes() {
    let x = iota_f32(&[1, 3, 1]);
    assert_eq!(jnp::squeeze(&x, Axes::All).shape(), &[3]);
    assert_eq!(jnp::squeeze(&x, 0).shape(), &[3, 1]);
    assert_eq!(jnp::squeeze(&x, -1).shape(), &[1, 3]);
    assert_eq!(jnp::squeeze(&x, [0, 2]).shape(), &[3]);
    assert_eq!(jnp::squeeze(&iota_f32(&[2, 3]), Axes::All).shape(), &[2, 3]);
    assert_eq!(
        err(jnp::try_squeeze(&x, 1)),
        "squeeze: cannot squeeze axis 1 of [1,3,1]: it has size 3, not 1"
    );
    assert_eq!(
        err(jnp::try_squeeze(&x, 3)),
        "squeeze: axis 3 is out of bounds for an array of rank 3"
    );
}

// ---- joining ---------------------------------------------------------------------

#[test]
fn concatenate_along_axes_with_promotion() {
    let a = iota_f32(&[2, 2]);
    let b = f32s(&[10.0, 11.0], &[1, 2]);
    let c = jnp::concatenate(&[a.clone(), b], 0);
    assert_eq!(c.shape(), &[3, 2]);
    assert_eq!(vals(&c), vec![0.0, 1.0, 2.0, 3.0, 10.0, 11.0]);

    let d = i32s(&[7, 8], &[2, 1]);
    let e = jnp::concatenate(&[a, d], -1);
    assert_eq!(e.dtype(), DType::F32);
    assert_eq!(e.shape(), &[2, 3]);
    assert_eq!(vals(&e), vec![0.0, 1.0, 7.0, 2.0, 3.0, 8.0]);

    let ints = jnp::concatenate(&[i32s(&[1], &[1]), i32s(&[2, 3], &[2])], 0);
    assert_eq!(ints.dtype(), DType::I32);
    assert_eq!(ints.to_vec::<i32>().unwrap(), vec![1, 2, 3]);
}

#[test]
fn concatenate_with_an_empty_array() {
    let a = iota_f32(&[2, 3]);
    let empty = jnp::zeros(&[0, 3], DType::F32);
    let c = jnp::concatenate(&[empty.clone(), a.clone(), empty.clone()], 0);
    assert_eq!(c.shape(), &[2, 3]);
    assert_eq!(vals(&c), vals(&a));
    let both_empty = jnp::concatenate(&[empty.clone(), empty], 0);
    assert_eq!(both_empty.shape(), &[0, 3]);
}

#[test]
fn concatenate_errors() {
    let a = iota_f32(&[2, 3]);
    assert_eq!(
        err(jnp::try_concatenate(&[], 0)),
        "concatenate: need at least one array to concatenate"
    );
    assert_eq!(
        err(jnp::try_concatenate(&[a.clone(), Array::scalar(1.0f32)], 0)),
        "concatenate: zero-dimensional arrays cannot be concatenated (operand 1 has shape [])"
    );
    assert_eq!(
        err(jnp::try_concatenate(&[a.clone(), iota_f32(&[3])], 0)),
        "concatenate: all arrays must have the same rank: operand 0 has shape [2,3], \
         operand 1 has shape [3]"
    );
    assert_eq!(
        err(jnp::try_concatenate(&[a.clone(), iota_f32(&[2, 4])], 0)),
        "concatenate: shapes must agree except along axis 0: operand 0 has shape [2,3], \
         operand 1 has shape [2,4]"
    );
    assert_eq!(
        err(jnp::try_concatenate(&[a.clone(), a], 2)),
        "concatenate: axis 2 is out of bounds for an array of rank 2"
    );
}

#[test]
fn stack_adds_a_new_axis() {
    let a = f32s(&[1.0, 2.0, 3.0], &[3]);
    let b = f32s(&[4.0, 5.0, 6.0], &[3]);
    let s0 = jnp::stack(&[a.clone(), b.clone()], 0);
    assert_eq!(s0.shape(), &[2, 3]);
    assert_eq!(vals(&s0), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let s1 = jnp::stack(&[a.clone(), b.clone()], -1);
    assert_eq!(s1.shape(), &[3, 2]);
    assert_eq!(vals(&s1), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    let scalars = jnp::stack(&[Array::scalar(1i32), Array::scalar(2i32)], 0);
    assert_eq!(scalars.to_vec::<i32>().unwrap(), vec![1, 2]);
    assert_eq!(
        err(jnp::try_stack(&[a.clone(), iota_f32(&[2])], 0)),
        "stack: all arrays must have the same shape: operand 0 has shape [3], operand 1 has shape [2]"
    );
    assert_eq!(
        err(jnp::try_stack(&[], 0)),
        "stack: need at least one array to stack"
    );
    assert_eq!(
        err(jnp::try_stack(&[a, b], 2)),
        "stack: axis 2 is out of bounds for an array of rank 2"
    );
}

// ---- slicing, padding, flipping, take --------------------------------------------------

#[test]
fn slice_with_strides() {
    let x = iota_f32(&[4, 5]);
    let y = jnp::slice(&x, &[1, 0], &[4, 5], Some(&[2, 2]));
    assert_eq!(y.shape(), &[2, 3]);
    assert_eq!(vals(&y), vec![5.0, 7.0, 9.0, 15.0, 17.0, 19.0]);
    let z = jnp::slice(&x, &[0, 1], &[2, 3], None);
    assert_eq!(vals(&z), vec![1.0, 2.0, 6.0, 7.0]);
    assert_eq!(jnp::slice(&x, &[2, 2], &[2, 2], None).shape(), &[0, 0]);
    assert_eq!(
        err(jnp::try_slice(&x, &[3, 0], &[5, 5], None)),
        "slice: dimension 0 of [4,5]: need start <= limit <= 4, got start 3 and limit 5"
    );
    assert_eq!(
        err(jnp::try_slice(&x, &[0, 0], &[1, 1], Some(&[1, 0]))),
        "slice: stride of dimension 1 must be >= 1, got 0"
    );
    assert_eq!(
        err(jnp::try_slice(&x, &[0], &[1, 1], None)),
        "slice: start, limit and strides need one entry per dimension of [4,5], got lengths 1, 2 and 2"
    );
}

#[test]
fn pad_with_constant_and_crop() {
    let x = f32s(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let y = jnp::pad(&x, &[1, 0], &[0, 1], -1.0);
    assert_eq!(y.shape(), &[3, 3]);
    assert_eq!(
        vals(&y),
        vec![-1.0, -1.0, -1.0, 1.0, 2.0, -1.0, 3.0, 4.0, -1.0]
    );

    let v = i32s(&[1, 2, 3, 4], &[4]);
    let cropped = jnp::pad(&v, &[-1], &[2], 7.0);
    assert_eq!(cropped.dtype(), DType::I32);
    assert_eq!(cropped.to_vec::<i32>().unwrap(), vec![2, 3, 4, 7, 7]);
    assert_eq!(jnp::pad(&v, &[-2], &[-2], 0.0).shape(), &[0]);
    assert_eq!(
        err(jnp::try_pad(&v, &[-3], &[-2], 0.0)),
        "pad: padding dimension 0 of [4] with low -3 and high -2 gives a negative size"
    );
    assert_eq!(
        err(jnp::try_pad(&x, &[1], &[1], 0.0)),
        "pad: low and high need one entry per dimension of [2,2], got lengths 1 and 1"
    );
}

#[test]
fn flip_axes() {
    let x = iota_f32(&[2, 3]);
    assert_eq!(vals(&jnp::flip(&x, -1)), vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
    assert_eq!(vals(&jnp::flip(&x, 0)), vec![3.0, 4.0, 5.0, 0.0, 1.0, 2.0]);
    assert_eq!(
        vals(&jnp::flip(&x, Axes::All)),
        vec![5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    );
    assert_eq!(
        err(jnp::try_flip(&x, [0, -2])),
        "flip: repeated axis in [0, -2]"
    );
}

#[test]
fn take_with_negative_indices() {
    let x = iota_f32(&[3, 4]);
    let rows = jnp::take(&x, &i32s(&[-1, 0], &[2]), 0);
    assert_eq!(rows.shape(), &[2, 4]);
    assert_eq!(vals(&rows), vec![8.0, 9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 3.0]);

    let idx = i32s(&[3, -3, 1, -1], &[2, 2]);
    let cols = jnp::take(&x, &idx, -1);
    assert_eq!(cols.shape(), &[3, 2, 2]);
    assert_eq!(
        vals(&cols),
        vec![3.0, 1.0, 1.0, 3.0, 7.0, 5.0, 5.0, 7.0, 11.0, 9.0, 9.0, 11.0]
    );

    let unsigned = Array::from_vec(vec![2u32, 0], &[2]).unwrap();
    assert_eq!(
        vals(&jnp::take(&x, &unsigned, 0)),
        vec![8.0, 9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 3.0]
    );
    let scalar_index = jnp::take(&x, &Array::scalar(-2i32), 1);
    assert_eq!(scalar_index.shape(), &[3]);
    assert_eq!(vals(&scalar_index), vec![2.0, 6.0, 10.0]);

    assert_eq!(
        err(jnp::try_take(&x, &f32s(&[0.0], &[1]), 0)),
        "take: indices must be integers (i32 or u32), got f32"
    );
    assert_eq!(
        err(jnp::try_take(&x, &i32s(&[0], &[1]), 2)),
        "take: axis 2 is out of bounds for an array of rank 2"
    );
    assert_eq!(
        err(jnp::try_take(
            &jnp::zeros(&[0, 2], DType::F32),
            &i32s(&[0], &[1]),
            0
        )),
        "take: cannot take from axis 0 of [0,2], which is empty"
    );
}

// ---- products ---------------------------------------------------------------------

/// `a @ b` for row-major `[.., m, k]` and `[.., k, n]` data with the batch
/// dimensions already broadcast by the caller's index functions.
fn matmul_loop(
    batch: &[usize],
    (m, k, n): (usize, usize, usize),
    a: impl Fn(&[usize], usize, usize) -> f32,
    b: impl Fn(&[usize], usize, usize) -> f32,
) -> Vec<f32> {
    let mut out = Vec::new();
    for bi in indices(batch) {
        for i in 0..m {
            for j in 0..n {
                out.push((0..k).map(|p| a(&bi, i, p) * b(&bi, p, j)).sum());
            }
        }
    }
    out
}

#[test]
fn matmul_two_dimensional() {
    let a = f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let b = f32s(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2]);
    let c = jnp::matmul(&a, &b);
    assert_eq!(c.shape(), &[2, 2]);
    assert_eq!(vals(&c), vec![4.0, 5.0, 10.0, 11.0]);
}

#[test]
fn matmul_one_dimensional_operands() {
    let v = f32s(&[1.0, 2.0, 3.0], &[3]);
    let vv = jnp::matmul(&v, &v);
    assert_eq!(vv.shape(), &[] as &[usize]);
    assert_eq!(vv.item::<f32>().unwrap(), 14.0);

    let m = iota_f32(&[3, 2]);
    let vm = jnp::matmul(&v, &m);
    assert_eq!(vm.shape(), &[2]);
    assert_eq!(vals(&vm), vec![16.0, 22.0]);

    let mt = iota_f32(&[2, 3]);
    let mv = jnp::matmul(&mt, &v);
    assert_eq!(mv.shape(), &[2]);
    assert_eq!(vals(&mv), vec![8.0, 26.0]);

    // A 1-D operand against a batch of matrices.
    let batch = iota_f32(&[2, 3, 2]);
    let vb = jnp::matmul(&v, &batch);
    assert_eq!(vb.shape(), &[2, 2]);
    assert_eq!(vals(&vb), vec![16.0, 22.0, 52.0, 58.0]);
}

#[test]
fn matmul_broadcasts_batch_dimensions() {
    let (sa, sb) = ([2, 1, 2, 3], [3, 3, 4]);
    let a = iota_f32(&sa);
    let b = jnp::subtract(&iota_f32(&sb), &Array::scalar(10.0f32));
    let c = jnp::matmul(&a, &b);
    assert_eq!(c.shape(), &[2, 3, 2, 4]);
    let expected = matmul_loop(
        &[2, 3],
        (2, 3, 4),
        |bi, i, p| flat(&[bi[0], 0, i, p], &sa) as f32,
        |bi, p, j| flat(&[bi[1], p, j], &sb) as f32 - 10.0,
    );
    assert_eq!(vals(&c), expected);

    // A batch of matrices against one matrix.
    let x = iota_f32(&[2, 3, 4]);
    let w = iota_f32(&[4, 2]);
    let y = jnp::matmul(&x, &w);
    assert_eq!(y.shape(), &[2, 3, 2]);
    let expected = matmul_loop(
        &[2],
        (3, 4, 2),
        |bi, i, p| flat(&[bi[0], i, p], &[2, 3, 4]) as f32,
        |_, p, j| flat(&[p, j], &[4, 2]) as f32,
    );
    assert_eq!(vals(&y), expected);
}

#[test]
fn matmul_matrix_against_batch() {
    let w = iota_f32(&[2, 3]);
    let x = iota_f32(&[2, 3, 4]);
    let y = jnp::matmul(&w, &x);
    assert_eq!(y.shape(), &[2, 2, 4]);
    let expected = matmul_loop(
        &[2],
        (2, 3, 4),
        |_, i, p| flat(&[i, p], &[2, 3]) as f32,
        |bi, p, j| flat(&[bi[0], p, j], &[2, 3, 4]) as f32,
    );
    assert_eq!(vals(&y), expected);
}

#[test]
fn matmul_with_empty_contraction_gives_zeros() {
    let a = jnp::zeros(&[2, 0], DType::F32);
    let b = jnp::zeros(&[0, 3], DType::F32);
    let c = jnp::matmul(&a, &b);
    assert_eq!(c.shape(), &[2, 3]);
    assert_eq!(vals(&c), vec![0.0; 6]);
    let e = jnp::matmul(&jnp::zeros(&[0, 2], DType::F32), &iota_f32(&[2, 3]));
    assert_eq!(e.shape(), &[0, 3]);
}

#[test]
fn matmul_promotes_dtypes() {
    let a = i32s(&[1, 2, 3, 4], &[2, 2]);
    let b = f32s(&[0.5, 0.5, 0.5, 0.5], &[2, 2]);
    let c = jnp::matmul(&a, &b);
    assert_eq!(c.dtype(), DType::F32);
    assert_eq!(vals(&c), vec![1.5, 1.5, 3.5, 3.5]);
    let ints = jnp::matmul(&a, &a);
    assert_eq!(ints.dtype(), DType::I32);
    assert_eq!(ints.to_vec::<i32>().unwrap(), vec![7, 10, 15, 22]);
    let p = Array::from_vec(vec![true, false, false, false], &[2, 2]).unwrap();
    let q = Array::from_vec(vec![true, true, false, true], &[2, 2]).unwrap();
    let r = jnp::matmul(&p, &q);
    assert_eq!(r.dtype(), DType::Bool);
    assert_eq!(r.to_vec::<bool>().unwrap(), vec![true, true, false, false]);
}

#[test]
fn matmul_errors() {
    let a = iota_f32(&[2, 3]);
    assert_eq!(
        err(jnp::try_matmul(&a, &iota_f32(&[4, 5]))),
        "matmul: contraction dimension mismatch: [2,3] @ [4,5] (3 != 4)"
    );
    assert_eq!(
        err(jnp::try_matmul(&Array::scalar(1.0f32), &a)),
        "matmul: operand 0 is rank 0; use multiply"
    );
    assert_eq!(
        err(jnp::try_matmul(&a, &Array::scalar(1.0f32))),
        "matmul: operand 1 is rank 0; use multiply"
    );
    assert_eq!(
        err(jnp::try_matmul(&iota_f32(&[3]), &iota_f32(&[4]))),
        "matmul: contraction dimension mismatch: [3] @ [4] (3 != 4)"
    );
    assert_eq!(
        err(jnp::try_matmul(
            &iota_f32(&[2, 2, 3]),
            &iota_f32(&[3, 3, 4])
        )),
        "matmul: batch dimensions of [2,2,3] and [3,3,4] do not broadcast ([2] vs [3])"
    );
}

#[test]
fn dot_outer_tensordot() {
    let v = f32s(&[1.0, 2.0, 3.0], &[3]);
    assert_eq!(jnp::dot(&v, &v).item::<f32>().unwrap(), 14.0);
    let m = iota_f32(&[2, 3]);
    assert_eq!(vals(&jnp::dot(&m, &v)), vec![8.0, 26.0]);
    assert_eq!(vals(&jnp::dot(&m, &m.t())), vec![5.0, 14.0, 14.0, 50.0]);
    assert_eq!(
        vals(&jnp::dot(&Array::scalar(2.0f32), &v)),
        vec![2.0, 4.0, 6.0]
    );

    // NumPy dot for N-D: dot(a, b)[i,j,k,l] = sum_p a[i,j,p] * b[k,p,l].
    let (sa, sb) = ([2, 2, 3], [2, 3, 2]);
    let (a, b) = (iota_f32(&sa), iota_f32(&sb));
    let d = jnp::dot(&a, &b);
    assert_eq!(d.shape(), &[2, 2, 2, 2]);
    let got = vals(&d);
    for idx in indices(&[2, 2, 2, 2]) {
        let (i, j, k, l) = (idx[0], idx[1], idx[2], idx[3]);
        let want: f32 = (0..3)
            .map(|p| flat(&[i, j, p], &sa) as f32 * flat(&[k, p, l], &sb) as f32)
            .sum();
        assert_eq!(got[flat(&idx, &[2, 2, 2, 2])], want);
    }
    assert_eq!(
        err(jnp::try_dot(&m, &m)),
        "dot: contraction dimension mismatch: [2,3] @ [2,3] (3 != 2)"
    );

    let o = jnp::outer(&i32s(&[1, 2], &[2]), &i32s(&[1, 10, 100], &[3]));
    assert_eq!(o.shape(), &[2, 3]);
    assert_eq!(o.to_vec::<i32>().unwrap(), vec![1, 10, 100, 2, 20, 200]);

    let t = jnp::tensordot(&a, &b, &[-1], &[1]);
    assert_eq!(vals(&t), got);
    assert_eq!(
        err(jnp::try_tensordot(&a, &b, &[0], &[1])),
        "tensordot: contraction dimension mismatch: [2,2,3] @ [2,3,2] (2 != 3)"
    );
}

// ---- methods and tracing -------------------------------------------------------------

#[test]
fn array_methods() {
    let x = iota_f32(&[2, 3]);
    assert_eq!(x.reshape(&[3, -1]).shape(), &[3, 2]);
    assert_eq!(x.transpose().shape(), &[3, 2]);
    assert_eq!(vals(&x.t()), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    assert_eq!(vals(&x.matmul(&x.t())), vec![5.0, 14.0, 14.0, 50.0]);
    assert_eq!(vals(&x.dot(&f32s(&[1.0, 1.0, 1.0], &[3]))), vec![3.0, 12.0]);
    assert_eq!(x.broadcast_to(&[4, 2, 3]).shape(), &[4, 2, 3]);
    assert_eq!(x.expand_dims(1).shape(), &[2, 1, 3]);
    assert_eq!(x.expand_dims(0).squeeze(Axes::All).shape(), &[2, 3]);
    assert_eq!(x.expand_dims(-1).squeeze(-1).shape(), &[2, 3]);
    assert_eq!(x.flatten().shape(), &[6]);
    let y = f32s(&[1.5, -2.5], &[2]).astype(DType::I32);
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![1, -2]);
    assert_eq!(vals(&x.take(&i32s(&[-1], &[1]), 1)), vec![2.0, 5.0]);

    let payload = std::panic::catch_unwind(|| x.reshape(&[4])).unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        message,
        "reshape: cannot reshape [2,3] (6 elements) to [4] (4 elements)"
    );
}

#[test]
fn shape_ops_trace_into_primitives() {
    let a = iota_f32(&[2, 1, 2, 3]);
    let b = iota_f32(&[3, 3, 4]);
    let f = |(a, b): &(Array, Array)| {
        let c = jnp::matmul(a, b);
        let i = i32s(&[-1, 0], &[2]);
        let t = jnp::take(&c, &i, -1);
        let s = jnp::slice(&t, &[0, 0, 0, 0], &[2, 3, 2, 2], Some(&[1, 2, 1, 1]));
        let p = jnp::pad(&s, &[0, 0, 0, 0], &[0, 0, 1, 0], 0.0);
        let j = jnp::concatenate(&[jnp::flip(&p, -2), p], 0);
        jnp::stack(&[j.reshape(&[-1]), j.flatten()], 0)
    };
    let jaxpr = make_jaxpr(f)(&(a.clone(), b.clone())).unwrap();
    assert_eq!(jaxpr.jaxpr.outvars.len(), 1);
    let text = jaxpr.to_string();
    for prim in [
        "dot_general",
        "gather",
        "select",
        "slice",
        "pad",
        "rev",
        "concatenate",
    ] {
        assert!(text.contains(prim), "{prim} missing from\n{text}");
    }
    // The eager result agrees with what the staged program describes.
    let eager = f(&(a, b));
    assert_eq!(eager.shape(), &[2, 4 * 2 * 3 * 2]);
}
