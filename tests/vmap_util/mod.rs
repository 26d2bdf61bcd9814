//! Helpers shared by the `vmap` test binaries (`tests/vmap.rs`,
//! `tests/vmap_compositions.rs`): per-example slicing, the reference loop
//! over examples, comparisons, and the `check` of one batched function
//! against the loop.

use crate::common::rng::Rng;
use rjax::lax;
use rjax::{jit, jnp, vmap_axes, Array, Error};
use rjax_ir::ClosedJaxpr;

pub fn vals(a: &Array) -> Vec<f64> {
    a.to_f64_vec().expect("a concrete array")
}

pub fn f64s(data: Vec<f64>, shape: &[usize]) -> Array {
    Array::from_vec(data, shape).expect("data fits the shape")
}

pub fn i32s(data: Vec<i32>, shape: &[usize]) -> Array {
    Array::from_vec(data, shape).expect("data fits the shape")
}

/// Deterministic values in `[-1, 1)` of `shape`.
pub fn random(rng: &mut Rng, shape: &[usize]) -> Array {
    f64s(rng.vector(shape.iter().product()), shape)
}

/// Example `b` of `x` batched along `axis` (the whole of `x` when `None`).
pub fn example(x: &Array, axis: Option<usize>, b: usize) -> Array {
    let Some(axis) = axis else {
        return x.clone();
    };
    let start: Vec<usize> = (0..x.ndim())
        .map(|d| if d == axis { b } else { 0 })
        .collect();
    let mut limit = x.shape().to_vec();
    limit[axis] = b + 1;
    let one = lax::slice(x, &start, &limit, &[]);
    let mut shape = x.shape().to_vec();
    shape.remove(axis);
    lax::reshape(&one, &shape)
}

pub fn normalize(axis: Option<isize>, rank: usize) -> Option<usize> {
    axis.map(|a| {
        if a < 0 {
            (a + rank as isize) as usize
        } else {
            a as usize
        }
    })
}

/// `f` applied example by example, results stacked along axis 0.
pub fn loop_map(
    f: &dyn Fn(&[Array]) -> Vec<Array>,
    xs: &[Array],
    in_axes: &[Option<isize>],
) -> Vec<Array> {
    let axes: Vec<Option<usize>> = xs
        .iter()
        .zip(in_axes)
        .map(|(x, a)| normalize(*a, x.ndim()))
        .collect();
    let size = xs
        .iter()
        .zip(&axes)
        .find_map(|(x, a)| a.map(|a| x.shape()[a]))
        .expect("a mapped input");
    let per_example: Vec<Vec<Array>> = (0..size)
        .map(|b| {
            let inputs: Vec<Array> = xs
                .iter()
                .zip(&axes)
                .map(|(x, a)| example(x, *a, b))
                .collect();
            f(&inputs)
        })
        .collect();
    (0..per_example[0].len())
        .map(|k| {
            let parts: Vec<Array> = per_example.iter().map(|outs| outs[k].clone()).collect();
            jnp::stack(&parts, 0)
        })
        .collect()
}

/// Same dtype and shape; values equal (non-floats) or within `rtol`
/// normwise (floats).
pub fn same(what: &str, got: &Array, want: &Array, rtol: f64) -> Result<(), String> {
    if got.dtype() != want.dtype() || got.shape() != want.shape() {
        return Err(format!(
            "{what}: got {}{:?}, want {}{:?}",
            got.dtype(),
            got.shape(),
            want.dtype(),
            want.shape()
        ));
    }
    let (g, w) = (vals(got), vals(want));
    if !got.dtype().is_float() {
        return if g == w {
            Ok(())
        } else {
            Err(format!("{what}: got {g:?}, want {w:?}"))
        };
    }
    let scale = w.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    let err = g.iter().zip(&w).fold(0.0f64, |m, (a, b)| {
        if a.is_nan() != b.is_nan() {
            f64::INFINITY
        } else if a.is_nan() {
            m
        } else {
            m.max((a - b).abs())
        }
    });
    if err <= rtol * scale {
        Ok(())
    } else {
        Err(format!(
            "{what}: error {err:.3e}\n  got  {g:?}\n  want {w:?}"
        ))
    }
}

pub fn same_all(what: &str, got: &[Array], want: &[Array], rtol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} results, want {}",
            got.len(),
            want.len()
        ));
    }
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        same(&format!("{what} result {k}"), g, w, rtol)?;
    }
    Ok(())
}

/// vmap results equal the loop's exactly up to rounding of reordered sums.
pub const RTOL: f64 = 1e-12;

/// Checks `vmap_axes(f, in_axes, 0)` and `jit` of it against the loop.
pub fn check(name: &str, f: fn(&[Array]) -> Array, xs: &[Array], in_axes: &[Option<isize>]) {
    let want = loop_map(&|e| vec![f(e)], xs, in_axes);
    let batched = vmap_axes(|v: &Vec<Array>| f(v), in_axes.to_vec(), vec![Some(0)]);
    let got = batched(&xs.to_vec());
    same(name, &got, &want[0], RTOL).unwrap_or_else(|e| panic!("{e}"));
    let jitted = jit(vmap_axes(
        |v: &Vec<Array>| f(v),
        in_axes.to_vec(),
        vec![Some(0)],
    ));
    same(
        &format!("jit {name}"),
        &jitted(&xs.to_vec()),
        &want[0],
        RTOL,
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The error's text, or "no error".
pub fn error_text<T>(r: Result<T, Error>) -> String {
    r.map_or_else(|e| e.to_string(), |_| "no error".to_string())
}

pub fn panic_message(r: std::thread::Result<impl Sized>) -> String {
    match r {
        Ok(_) => "no panic".to_string(),
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

/// How many equations apply `name`, nested jaxprs included.
pub fn count_prims(j: &ClosedJaxpr, name: &str) -> usize {
    j.jaxpr
        .eqns
        .iter()
        .map(|e| {
            usize::from(e.prim.name() == name)
                + e.prim
                    .sub_jaxprs()
                    .into_iter()
                    .map(|s| count_prims(s, name))
                    .sum::<usize>()
        })
        .sum()
}
