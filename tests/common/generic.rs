//! Shape-generic forms of `OP_CASES` entries, for random programs: each
//! takes `f64` arrays of any small shape and picks its parameters (axes,
//! offsets, indices) from the shape and a seed.

use rjax::core::bind1;
use rjax::lax;
use rjax::{make_jaxpr, Array, Result};
use rjax_ir::Primitive;
use std::sync::Arc;

/// A rank-0 `i32` index.
pub fn index(i: i32) -> Array {
    Array::scalar(i)
}

/// A vector of `i32` indices.
pub fn indices(values: &[i32]) -> Result<Array> {
    Array::from_vec(values.to_vec(), &[values.len()])
}

/// One axis picked by the seed (none for rank 0).
pub fn one_axis(x: &Array, seed: u64) -> Vec<usize> {
    match x.ndim() {
        0 => vec![],
        n => vec![seed as usize % n],
    }
}

pub fn g_broadcast(x: &Array, seed: u64) -> Result<Array> {
    if x.ndim() >= 3 {
        let dims: Vec<usize> = (0..x.ndim()).collect();
        return lax::try_broadcast_in_dim(x, x.shape(), &dims);
    }
    let mut shape = vec![1 + (seed % 2) as usize];
    shape.extend_from_slice(x.shape());
    let dims: Vec<usize> = (1..=x.ndim()).collect();
    lax::try_broadcast_in_dim(x, &shape, &dims)
}

pub fn g_reshape(x: &Array, seed: u64) -> Result<Array> {
    if seed.is_multiple_of(2) {
        lax::try_reshape(x, &[x.size()])
    } else {
        let reversed: Vec<usize> = x.shape().iter().rev().copied().collect();
        lax::try_reshape(x, &reversed)
    }
}

pub fn g_transpose(x: &Array, seed: u64) -> Result<Array> {
    let n = x.ndim();
    let shift = if n == 0 { 0 } else { seed as usize % n };
    let perm: Vec<usize> = (0..n).map(|i| (i + shift) % n).collect();
    lax::try_transpose(x, &perm)
}

pub fn g_cumsum(x: &Array, seed: u64) -> Result<Array> {
    match one_axis(x, seed).first() {
        Some(&axis) => lax::try_cumsum(x, axis, seed & 4 != 0),
        None => lax::try_cumsum(&lax::try_reshape(x, &[1])?, 0, false),
    }
}

pub fn g_dot(a: &Array, b: &Array, _: u64) -> Result<Array> {
    match a.ndim() {
        0 => lax::try_dot_general(a, b, &[], &[], &[], &[]),
        n => lax::try_dot_general(a, b, &[n - 1], &[n - 1], &[], &[]),
    }
}

pub fn g_slice(x: &Array, seed: u64) -> Result<Array> {
    let shape = x.shape();
    let start: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(d, &n)| usize::from(n > 1 && (seed >> d) & 1 == 1))
        .collect();
    let strides: Vec<usize> = (0..shape.len())
        .map(|d| 1 + ((seed >> (d + 3)) & 1) as usize)
        .collect();
    lax::try_slice(x, &start, shape, &strides)
}

pub fn g_pad(x: &Array, seed: u64) -> Result<Array> {
    let shape = x.shape();
    let low: Vec<i64> = shape
        .iter()
        .map(|&n| if n > 1 && seed & 1 == 1 { -1 } else { 1 })
        .collect();
    let high: Vec<i64> = shape.iter().map(|_| ((seed >> 1) & 1) as i64).collect();
    let interior: Vec<usize> = shape.iter().map(|_| ((seed >> 2) & 1) as usize).collect();
    lax::try_pad(x, &Array::scalar(0.25f64), &low, &high, &interior)
}

pub fn g_concatenate(a: &Array, b: &Array, seed: u64) -> Result<Array> {
    if a.ndim() == 0 {
        let (a, b) = (lax::try_reshape(a, &[1])?, lax::try_reshape(b, &[1])?);
        return lax::try_concatenate(&[a, b], 0);
    }
    lax::try_concatenate(&[a.clone(), b.clone()], seed as usize % a.ndim())
}

pub fn g_dynamic_slice(x: &Array, seed: u64) -> Result<Array> {
    let sizes: Vec<usize> = x
        .shape()
        .iter()
        .map(|&n| n.saturating_sub(1).max(1))
        .collect();
    let starts: Vec<Array> = (0..x.ndim())
        .map(|d| index(((seed >> (2 * d)) % 3) as i32))
        .collect();
    lax::try_dynamic_slice(x, &starts, &sizes)
}

pub fn g_dynamic_update_slice(a: &Array, b: &Array, seed: u64) -> Result<Array> {
    let sizes: Vec<usize> = b
        .shape()
        .iter()
        .map(|&n| n.saturating_sub(1).max(1))
        .collect();
    let zeros: Vec<Array> = (0..b.ndim()).map(|_| index(0)).collect();
    let update = lax::try_dynamic_slice(b, &zeros, &sizes)?;
    let starts: Vec<Array> = (0..a.ndim())
        .map(|d| index(((seed >> (2 * d)) % 3) as i32))
        .collect();
    lax::try_dynamic_update_slice(a, &update, &starts)
}

/// Indices along an axis of size `n`, with a duplicate when `n > 1`.
fn seeded_indices(n: usize, count: usize, seed: u64) -> Result<Array> {
    let values: Vec<i32> = (0..count)
        .map(|k| ((seed as usize + k * (k + 1) / 2) % n) as i32)
        .collect();
    indices(&values)
}

pub fn g_gather(x: &Array, seed: u64) -> Result<Array> {
    match one_axis(x, seed).first() {
        Some(&axis) => lax::try_gather(x, &seeded_indices(x.shape()[axis], 3, seed)?, axis),
        None => lax::try_gather(&lax::try_reshape(x, &[1])?, &indices(&[0, 0])?, 0),
    }
}

pub fn g_scatter_add(a: &Array, b: &Array, seed: u64) -> Result<Array> {
    let (a, b) = if a.ndim() == 0 {
        (lax::try_reshape(a, &[1])?, lax::try_reshape(b, &[1])?)
    } else {
        (a.clone(), b.clone())
    };
    let axis = seed as usize % a.ndim();
    let n = a.shape()[axis];
    lax::try_scatter_add(&a, &seeded_indices(n, n, seed)?, &b, axis)
}

pub fn g_call(x: &Array) -> Result<Array> {
    let jaxpr =
        make_jaxpr(|v: &Array| lax::mul(&lax::tanh(v), &lax::add(v, &Array::scalar(0.5f64))))(x)?;
    let prim = Primitive::Call {
        jaxpr: Arc::new(jaxpr),
        name: "tanh_poly".to_string(),
    };
    bind1(prim, std::slice::from_ref(x))
}
