//! `vmap`: vectorizing a function over a batch axis.
//!
//! `vmap(f)` takes a function written for one example and returns one that
//! takes a batch: every leaf of the argument gains a leading axis indexing
//! the examples, and so does every leaf of the result. Nothing loops: `f`
//! runs once under a [`BatchTrace`], whose rules (`batching.rs`) turn each
//! primitive into its batched form — an elementwise operation stays one
//! elementwise operation, a matrix product becomes a batched `dot_general`.
//!
//! [`vmap_axes`] says per leaf which axis is mapped, like JAX's `in_axes`
//! and `out_axes`: `Some(axis)` (negative counts from the end) or `None`.
//! An input with `None` is shared by every example (it is broadcast, not
//! copied); an output with `None` must be the same for every example.
//!
//! `vmap` composes with every transformation: `vmap(grad(f))` gives
//! per-example gradients, `grad(vmap(f))`, `jit(vmap(f))` (one staged
//! batched program), `vmap(jit(f))` (the jitted function stays a `call`,
//! of its batched jaxpr), `vmap(vmap(f))`; `jacfwd` and `jacrev` are `vmap`
//! over a basis of tangents or cotangents, as in JAX.

use crate::array::Array;
use crate::core::{current_trace, with_trace};
use crate::jnp::or_panic;
use crate::transforms::batching::{moveaxis, to_front, BatchTrace};
use crate::tree::{tree_leaves, tree_unflatten, Tree};
use rjax_ir::{Error, Result};
use std::cell::RefCell;

/// Which axis of each leaf is mapped.
#[derive(Clone, Debug)]
pub(crate) enum Axes {
    /// Axis 0 of every leaf.
    Leading,
    /// One entry per leaf: `Some(axis)` (negative from the end) or `None`.
    PerLeaf(Vec<Option<isize>>),
}

impl Axes {
    /// The entry for leaf `i`.
    fn get(&self, i: usize) -> Option<isize> {
        match self {
            Axes::Leading => Some(0),
            Axes::PerLeaf(v) => v[i],
        }
    }

    fn check_len(&self, what: &str, leaves: &str, n: usize) -> Result<()> {
        match self {
            Axes::PerLeaf(v) if v.len() != n => Err(Error::op(
                "vmap",
                format!(
                    "{what} has {}, but {leaves} has {}",
                    counted(v.len(), "entry", "entries"),
                    counted(n, "leaf", "leaves")
                ),
            )),
            Axes::Leading | Axes::PerLeaf(_) => Ok(()),
        }
    }
}

/// `n` and the noun, singular or plural.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `axis` (negative from the end) as an index into `rank` dimensions.
fn normalize(axis: isize, rank: usize, describe: impl FnOnce() -> String) -> Result<usize> {
    let r = rank as isize;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(Error::op(
            "vmap",
            format!("axis {axis} is out of range for {}", describe()),
        ))
    }
}

/// The batch size: the common size of the mapped axes.
fn mapped_size(leaves: &[Array], axes: &[Option<usize>]) -> Result<usize> {
    let sizes: Vec<(usize, usize)> = leaves
        .iter()
        .zip(axes)
        .enumerate()
        .filter_map(|(i, (leaf, a))| a.map(|a| (i, leaf.shape()[a])))
        .collect();
    let Some(&(_, size)) = sizes.first() else {
        return Err(Error::op(
            "vmap",
            "no input leaf is mapped (every in_axes entry is None, or the argument has no leaves)",
        ));
    };
    if sizes.iter().any(|&(_, s)| s != size) {
        let list: Vec<String> = sizes
            .iter()
            .map(|(i, s)| format!("leaf {i} has {s}"))
            .collect();
        return Err(Error::op(
            "vmap",
            format!("mapped axes have different sizes: {}", list.join(", ")),
        ));
    }
    Ok(size)
}

/// `vmap` on flat lists of leaves.
pub(crate) fn vmap_flat(
    f: &dyn Fn(&[Array]) -> Result<Vec<Array>>,
    args: &[Array],
    in_axes: &Axes,
    out_axes: &Axes,
) -> Result<Vec<Array>> {
    in_axes.check_len("in_axes", "the argument", args.len())?;
    let axes = args
        .iter()
        .enumerate()
        .map(|(i, leaf)| {
            in_axes
                .get(i)
                .map(|a| {
                    normalize(a, leaf.ndim(), || {
                        format!("input leaf {i} of type {}", leaf.aval())
                    })
                })
                .transpose()
        })
        .collect::<Result<Vec<_>>>()?;
    let size = mapped_size(args, &axes)?;
    let trace = BatchTrace::new(current_trace(), size);
    let inputs: Vec<Array> = args
        .iter()
        .zip(&axes)
        .map(|(leaf, a)| match a {
            Some(_) => trace.lift(leaf.clone(), *a),
            None => leaf.clone(),
        })
        .collect();
    let outs = with_trace(trace.clone(), || f(&inputs))?;
    out_axes.check_len("out_axes", "the result", outs.len())?;
    outs.iter()
        .enumerate()
        .map(|(k, o)| {
            let (value, axis) = trace.unpack(o);
            match (out_axes.get(k), axis) {
                (None, None) => Ok(value),
                (None, Some(_)) => Err(Error::op(
                    "vmap",
                    format!(
                        "out_axes entry {k} is None, but output leaf {k} differs between \
                         examples (it depends on a mapped input)"
                    ),
                )),
                (Some(target), axis) => {
                    let rank = o.ndim() + 1;
                    let target = normalize(target, rank, || {
                        format!("output leaf {k} of type {} plus a batch axis", o.aval())
                    })?;
                    match axis {
                        Some(a) => moveaxis(&value, a, target),
                        None => moveaxis(&to_front(&value, None, size)?, 0, target),
                    }
                }
            }
        })
        .collect()
}

/// A tree function run by `vmap_flat`, its output rebuilt from the traced
/// output's structure.
fn vmap_tree<A: Tree, B: Tree>(
    f: &dyn Fn(&A) -> B,
    x: &A,
    in_axes: &Axes,
    out_axes: &Axes,
) -> Result<B> {
    let template: RefCell<Option<B>> = RefCell::new(None);
    let flat = |leaves: &[Array]| -> Result<Vec<Array>> {
        let args = x.unflatten_from(&mut leaves.iter().cloned())?;
        let out = f(&args);
        let out_leaves = tree_leaves(&out);
        *template.borrow_mut() = Some(out);
        Ok(out_leaves)
    };
    let outs = vmap_flat(&flat, &tree_leaves(x), in_axes, out_axes)?;
    let template = template.into_inner();
    let template = template
        .as_ref()
        .ok_or_else(|| Error::op("vmap", "internal error: no output template"))?;
    tree_unflatten(template, outs)
}

/// Vectorizes `f` over axis 0 of every leaf of its argument; every leaf of
/// the result gets the batch along axis 0 too. `f` is written for one
/// example and runs once, on the whole batch.
///
/// # Example
/// ```
/// use rjax::{vmap, Array};
/// // One example is a vector; its result is a scalar.
/// let norms = vmap(|v: &Array| (v * v).sum().sqrt());
/// let batch = Array::from_vec(vec![3.0f32, 4.0, 6.0, 8.0], &[2, 2]).unwrap();
/// assert_eq!(norms(&batch).to_vec::<f32>().unwrap(), vec![5.0, 10.0]);
/// ```
///
/// # Panics
/// The returned function panics with the error of [`try_vmap`].
pub fn vmap<A: Tree, B: Tree>(f: impl Fn(&A) -> B) -> impl Fn(&A) -> B {
    let g = try_vmap(f);
    move |x: &A| or_panic(g(x))
}

/// Like [`vmap`], with a returned function that returns errors.
///
/// # Errors
/// The returned function fails when a leaf is rank 0 (it has no axis 0),
/// when the leaves' leading sizes differ (`vmap: mapped axes have
/// different sizes: leaf 0 has 3, leaf 1 has 4`), when the argument has no
/// leaves, or with a primitive's error.
pub fn try_vmap<A: Tree, B: Tree>(f: impl Fn(&A) -> B) -> impl Fn(&A) -> Result<B> {
    move |x: &A| vmap_tree(&f, x, &Axes::Leading, &Axes::Leading)
}

/// Vectorizes `f` with an explicit mapped axis per leaf, like JAX's
/// `vmap(f, in_axes, out_axes)`: `in_axes` has one entry per leaf of the
/// argument, `out_axes` one per leaf of the result. `Some(axis)` maps that
/// axis (negative counts from the end); `None` in `in_axes` passes the leaf
/// unchanged to every example, and `None` in `out_axes` returns a result
/// that must be the same for every example.
///
/// # Example
/// ```
/// use rjax::{vmap_axes, Array};
/// // Scale each column of `x` (mapped along axis 1) by the shared `w`.
/// let f = vmap_axes(
///     |(x, w): &(Array, Array)| x * w,
///     vec![Some(1), None],
///     vec![Some(0)],
/// );
/// let x = Array::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
/// let w = Array::from_vec(vec![10.0f32, 100.0], &[2]).unwrap();
/// // Row k of the result is column k of x times w.
/// assert_eq!(f(&(x, w)).to_vec::<f32>().unwrap(), vec![10.0, 300.0, 20.0, 400.0]);
/// ```
///
/// # Panics
/// The returned function panics with the error of [`try_vmap_axes`].
pub fn vmap_axes<A: Tree, B: Tree>(
    f: impl Fn(&A) -> B,
    in_axes: Vec<Option<isize>>,
    out_axes: Vec<Option<isize>>,
) -> impl Fn(&A) -> B {
    let g = try_vmap_axes(f, in_axes, out_axes);
    move |x: &A| or_panic(g(x))
}

/// Like [`vmap_axes`], with a returned function that returns errors.
///
/// # Errors
/// As [`try_vmap`], and when `in_axes`/`out_axes` do not have one entry per
/// leaf, an axis is out of range, every `in_axes` entry is `None`, or an
/// output whose `out_axes` entry is `None` differs between examples.
pub fn try_vmap_axes<A: Tree, B: Tree>(
    f: impl Fn(&A) -> B,
    in_axes: Vec<Option<isize>>,
    out_axes: Vec<Option<isize>>,
) -> impl Fn(&A) -> Result<B> {
    let (in_axes, out_axes) = (Axes::PerLeaf(in_axes), Axes::PerLeaf(out_axes));
    move |x: &A| vmap_tree(&f, x, &in_axes, &out_axes)
}
