//! The differentiation API: `jvp`, `linearize`, `vjp`, `grad`,
//! `value_and_grad`, `jacfwd`, `jacrev`, `hessian`.
//!
//! Forward mode runs the function under a [`JvpTrace`]. Reverse mode is
//! JAX's: `linearize` runs the jvp trace over a partial-evaluation staging
//! trace, so primal values are computed at once (on whatever trace was
//! current) while the tangent computation is staged into a linear jaxpr;
//! `vjp` transposes that jaxpr ([`backward_pass`]). Because every rule is
//! written with traceable operations, all of these compose: `grad(grad(f))`,
//! `jvp(grad(f))` (Hessian-vector products), `make_jaxpr(grad(f))`.
//!
//! Every function takes and returns trees. The panicking forms panic with
//! the error's message; the `try_` forms return it.

use crate::array::Array;
use crate::core::{current_trace, with_trace};
use crate::jnp::or_panic;
use crate::staging::StagingTrace;
use crate::transforms::eval_jaxpr;
use crate::transforms::jvp::{zeros, JvpTrace};
use crate::transforms::transpose::{backward_pass, LinArg};
use crate::tree::{tree_leaves, Tree};
use rjax_ir::{passes::dce, AVal, Error, Jaxpr, Result, ShapeDisplay};
use std::cell::RefCell;

/// A function on flat lists of leaves.
type FlatFn<'a> = dyn Fn(&[Array]) -> Result<Vec<Array>> + 'a;

/// Wraps a tree function as a flat one, remembering the output tree (with
/// traced leaves) as a template for rebuilding results.
fn flatten_fn<'a, A: Tree, B: Tree>(
    f: &'a dyn Fn(&A) -> B,
    template: &'a A,
    out_template: &'a RefCell<Option<B>>,
) -> impl Fn(&[Array]) -> Result<Vec<Array>> + 'a {
    move |leaves: &[Array]| {
        let args = template.unflatten_from(&mut leaves.iter().cloned())?;
        let out = f(&args);
        let out_leaves = tree_leaves(&out);
        *out_template.borrow_mut() = Some(out);
        Ok(out_leaves)
    }
}

fn rebuild<B: Tree>(template: &RefCell<Option<B>>, leaves: Vec<Array>) -> Result<B> {
    let template = template.borrow();
    let template = template
        .as_ref()
        .ok_or_else(|| Error::op("autodiff", "internal error: no output template"))?;
    crate::tree::tree_unflatten(template, leaves)
}

fn check_avals(op: &str, what: &str, given: &[Array], expected: &[AVal]) -> Result<()> {
    if given.len() != expected.len() {
        return Err(Error::op(
            op,
            format!("expected {} {what}, got {}", expected.len(), given.len()),
        ));
    }
    for (g, e) in given.iter().zip(expected) {
        if g.aval() != *e {
            return Err(Error::op(
                op,
                format!("{what} {} does not match the primal {e}", g.aval()),
            ));
        }
    }
    Ok(())
}

// ---- flat cores ---------------------------------------------------------------

/// Forward mode on flat lists: primal outputs and output tangents (zeros
/// where symbolically zero).
pub(crate) fn jvp_flat(
    f: &FlatFn,
    primals: &[Array],
    tangents: &[Option<Array>],
) -> Result<(Vec<Array>, Vec<Array>)> {
    let trace = JvpTrace::new(current_trace());
    let inputs: Vec<Array> = primals
        .iter()
        .zip(tangents)
        .map(|(p, t)| trace.lift(p.clone(), t.clone()))
        .collect();
    let outs = with_trace(trace.clone(), || f(&inputs))?;
    let mut primal_outs = Vec::with_capacity(outs.len());
    let mut tangent_outs = Vec::with_capacity(outs.len());
    for o in &outs {
        let (p, t) = trace.unpack(o);
        tangent_outs.push(match t {
            Some(t) => t,
            None => zeros(&p.aval())?,
        });
        primal_outs.push(p);
    }
    Ok((primal_outs, tangent_outs))
}

/// A function's linearization at a point: a linear jaxpr from the tangents
/// of its float inputs to its output tangents, with its residuals.
pub(crate) struct Linearized {
    jaxpr: Jaxpr,
    residuals: Vec<Array>,
    /// For each primal input, its position among the jaxpr's inputs (floats
    /// only).
    slots: Vec<Option<usize>>,
    primal_avals: Vec<AVal>,
    out_avals: Vec<AVal>,
}

impl Linearized {
    /// The jaxpr's output tangents for the given input tangents.
    pub(crate) fn apply(&self, tangents: &[Array]) -> Result<Vec<Array>> {
        check_avals("linearize", "tangent", tangents, &self.primal_avals)?;
        let ins: Vec<Array> = tangents
            .iter()
            .zip(&self.slots)
            .filter(|(_, s)| s.is_some())
            .map(|(t, _)| t.clone())
            .collect();
        eval_jaxpr(&self.jaxpr, &self.residuals, &ins)
    }

    /// Input cotangents (one per primal input; zeros for inputs the outputs
    /// do not depend on and for integer inputs) for output cotangents.
    pub(crate) fn transpose(&self, cts: &[Array]) -> Result<Vec<Array>> {
        check_avals("vjp", "cotangent", cts, &self.out_avals)?;
        let args: Vec<LinArg> = self
            .jaxpr
            .invars
            .iter()
            .map(|v| LinArg::Linear(self.jaxpr.aval(*v).clone()))
            .collect();
        let cts: Vec<Option<Array>> = cts.iter().cloned().map(Some).collect();
        let mut in_cts = backward_pass(&self.jaxpr, &self.residuals, &args, &cts)?;
        self.slots
            .iter()
            .zip(&self.primal_avals)
            .map(|(slot, aval)| match slot.and_then(|s| in_cts[s].take()) {
                Some(ct) => Ok(ct),
                None => zeros(aval),
            })
            .collect()
    }

    /// The linear jaxpr (for inspection and tests).
    pub(crate) fn jaxpr(&self) -> &Jaxpr {
        &self.jaxpr
    }
}

/// Linearizes a flat function at `primals`: evaluates it, and stages the
/// tangent computation.
pub(crate) fn linearize_flat(f: &FlatFn, primals: &[Array]) -> Result<(Vec<Array>, Linearized)> {
    let parent = current_trace();
    let lin = StagingTrace::new_partial(parent);
    let jvp = JvpTrace::new(lin.clone());
    let mut invars = Vec::new();
    let mut slots = Vec::with_capacity(primals.len());
    let inputs: Vec<Array> = primals
        .iter()
        .map(|p| {
            if p.dtype().is_float() {
                let (t, var) = lin.new_input(p.aval());
                slots.push(Some(invars.len()));
                invars.push(var);
                jvp.lift(p.clone(), Some(t))
            } else {
                slots.push(None);
                jvp.lift(p.clone(), None)
            }
        })
        .collect();
    let outs = with_trace(jvp.clone(), || f(&inputs))?;
    let mut primal_outs = Vec::with_capacity(outs.len());
    let mut tangent_outs = Vec::with_capacity(outs.len());
    for o in &outs {
        let (p, t) = jvp.unpack(o);
        if lin.owns(&p) {
            return Err(Error::op(
                "linearize",
                "internal error: a primal output depends on tangents",
            ));
        }
        tangent_outs.push(match t {
            Some(t) => t,
            None => zeros(&p.aval())?,
        });
        primal_outs.push(p);
    }
    let (jaxpr, residuals) = lin.finish(invars, &tangent_outs)?;
    let out_avals = primal_outs.iter().map(Array::aval).collect();
    let primal_avals = primals.iter().map(Array::aval).collect();
    Ok((
        primal_outs,
        Linearized {
            jaxpr: dce(&jaxpr),
            residuals,
            slots,
            primal_avals,
            out_avals,
        },
    ))
}

// ---- public API -----------------------------------------------------------------

/// Forward-mode derivative: `f(primals)` and its directional derivative
/// along `tangents` (same tree and shapes as `primals`).
///
/// # Example
/// ```
/// use rjax::{jvp, Array};
/// let x = Array::scalar(2.0f32);
/// let (y, dy) = jvp(|x: &Array| x * x, &x, &Array::scalar(1.0f32));
/// assert_eq!((y.item::<f32>().unwrap(), dy.item::<f32>().unwrap()), (4.0, 4.0));
/// ```
///
/// # Panics
/// With the error of [`try_jvp`].
#[track_caller]
pub fn jvp<A: Tree, B: Tree>(f: impl Fn(&A) -> B, primals: &A, tangents: &A) -> (B, B) {
    or_panic(try_jvp(f, primals, tangents))
}

/// Like [`jvp`], returning the error instead of panicking.
///
/// # Errors
/// When the tangents do not match the primals, or a primitive fails.
pub fn try_jvp<A: Tree, B: Tree>(f: impl Fn(&A) -> B, primals: &A, tangents: &A) -> Result<(B, B)> {
    let (p, t) = (tree_leaves(primals), tree_leaves(tangents));
    check_avals(
        "jvp",
        "tangent",
        &t,
        &p.iter().map(Array::aval).collect::<Vec<_>>(),
    )?;
    let out_template = RefCell::new(None);
    let flat = flatten_fn(&f, primals, &out_template);
    let t: Vec<Option<Array>> = t.into_iter().map(Some).collect();
    let (outs, out_tangents) = jvp_flat(&flat, &p, &t)?;
    Ok((
        rebuild(&out_template, outs)?,
        rebuild(&out_template, out_tangents)?,
    ))
}

/// `f(primals)` and the linear map `t -> jvp(f, primals, t)`, computed
/// once: the returned function only evaluates the staged tangent program.
///
/// # Panics
/// With the error of [`try_linearize`]; the returned function panics when
/// given tangents that do not match the primals.
#[track_caller]
pub fn linearize<A: Tree + Clone, B: Tree>(
    f: impl Fn(&A) -> B,
    primals: &A,
) -> (B, impl Fn(&A) -> B) {
    let (out, lin) = or_panic(try_linearize(f, primals));
    (out, move |t: &A| or_panic(lin(t)))
}

/// Like [`linearize`], returning errors instead of panicking.
///
/// # Errors
/// A primitive's error while evaluating or staging.
pub fn try_linearize<A: Tree + Clone, B: Tree>(
    f: impl Fn(&A) -> B,
    primals: &A,
) -> Result<(B, impl Fn(&A) -> Result<B>)> {
    let out_template = RefCell::new(None);
    let flat = flatten_fn(&f, primals, &out_template);
    let (outs, lin) = linearize_flat(&flat, &tree_leaves(primals))?;
    let out = rebuild(&out_template, outs)?;
    drop(flat);
    let template = out_template.into_inner();
    Ok((out, move |t: &A| {
        let tangents = lin.apply(&tree_leaves(t))?;
        crate::tree::tree_unflatten(template.as_ref().expect("template"), tangents)
    }))
}

/// Reverse mode: `f(primals)` and the pull-back mapping output cotangents
/// (a tree like the output) to input cotangents (a tree like `primals`).
///
/// # Example
/// ```
/// use rjax::{vjp, Array};
/// let x = Array::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
/// let (y, pullback) = vjp(|x: &Array| x * 3.0, &x);
/// let ct = pullback(&Array::from_vec(vec![1.0f32, 10.0], &[2]).unwrap());
/// assert_eq!(ct.to_vec::<f32>().unwrap(), vec![3.0, 30.0]);
/// # let _ = y;
/// ```
///
/// # Panics
/// With the error of [`try_vjp`]; the pull-back panics on cotangents that
/// do not match the outputs.
#[track_caller]
pub fn vjp<A: Tree + Clone, B: Tree>(f: impl Fn(&A) -> B, primals: &A) -> (B, impl Fn(&B) -> A) {
    let (out, pullback) = or_panic(try_vjp(f, primals));
    (out, move |ct: &B| or_panic(pullback(ct)))
}

/// Like [`vjp`], returning errors instead of panicking.
///
/// # Errors
/// A primitive's error while evaluating or staging.
pub fn try_vjp<A: Tree + Clone, B: Tree>(
    f: impl Fn(&A) -> B,
    primals: &A,
) -> Result<(B, impl Fn(&B) -> Result<A>)> {
    let out_template = RefCell::new(None);
    let flat = flatten_fn(&f, primals, &out_template);
    let (outs, lin) = linearize_flat(&flat, &tree_leaves(primals))?;
    let out = rebuild(&out_template, outs)?;
    let template = primals.clone();
    Ok((out, move |ct: &B| {
        let in_cts = lin.transpose(&tree_leaves(ct))?;
        crate::tree::tree_unflatten(&template, in_cts)
    }))
}

/// The value and gradient of a scalar function, on flat leaves.
fn value_and_grad_flat(f: &FlatFn, leaves: &[Array]) -> Result<(Vec<Array>, Vec<Array>)> {
    // Integer leaves (PRNG keys among them) get zero gradients beside float
    // ones; with no float leaf at all there is nothing to differentiate.
    if !leaves.iter().any(|l| l.dtype().is_float()) {
        return Err(Error::op(
            "grad",
            "no float inputs to differentiate with respect to (keys and integers have no gradient)",
        ));
    }
    let (outs, lin) = linearize_flat(f, leaves)?;
    let value = &outs[0];
    if !value.dtype().is_float() || value.ndim() != 0 {
        return Err(Error::op(
            "grad",
            format!(
                "grad requires a function returning a float scalar, got {}{}",
                value.dtype(),
                ShapeDisplay(value.shape())
            ),
        ));
    }
    let mut cts = vec![crate::transforms::jvp::lit(1.0, value)];
    for o in &outs[1..] {
        cts.push(zeros(&o.aval())?);
    }
    let grads = lin.transpose(&cts)?;
    Ok((outs, grads))
}

/// The gradient of a function returning a float scalar, as a tree like its
/// argument.
///
/// # Example
/// ```
/// use rjax::{grad, Array};
/// let df = grad(|x: &Array| (x * x).sum());
/// let g = df(&Array::from_vec(vec![1.0f32, -2.0], &[2]).unwrap());
/// assert_eq!(g.to_vec::<f32>().unwrap(), vec![2.0, -4.0]);
/// ```
///
/// # Panics
/// The returned function panics with the error of [`try_grad`].
pub fn grad<A: Tree>(f: impl Fn(&A) -> Array) -> impl Fn(&A) -> A {
    let g = try_grad(f);
    move |x: &A| or_panic(g(x))
}

/// Like [`grad`], with a returned function that returns errors.
///
/// # Errors
/// The returned function fails when `f` does not return a float scalar
/// (`grad requires a function returning a float scalar, got f32[3]`).
pub fn try_grad<A: Tree>(f: impl Fn(&A) -> Array) -> impl Fn(&A) -> Result<A> {
    let vg = try_value_and_grad(f);
    move |x: &A| vg(x).map(|(_, g)| g)
}

/// The value and the gradient of a function returning a float scalar.
///
/// # Panics
/// The returned function panics with the error of [`try_value_and_grad`].
pub fn value_and_grad<A: Tree>(f: impl Fn(&A) -> Array) -> impl Fn(&A) -> (Array, A) {
    let vg = try_value_and_grad(f);
    move |x: &A| or_panic(vg(x))
}

/// Like [`value_and_grad`], with a returned function that returns errors.
///
/// # Errors
/// As [`try_grad`].
pub fn try_value_and_grad<A: Tree>(f: impl Fn(&A) -> Array) -> impl Fn(&A) -> Result<(Array, A)> {
    move |x: &A| {
        let out_template = RefCell::new(None);
        let flat = flatten_fn(&f, x, &out_template);
        let (mut outs, grads) = value_and_grad_flat(&flat, &tree_leaves(x))?;
        Ok((outs.swap_remove(0), crate::tree::tree_unflatten(x, grads)?))
    }
}

/// Like [`value_and_grad`] for a function returning `(loss, aux)`: the aux
/// tree is returned beside the loss and not differentiated (JAX's
/// `has_aux=True`).
///
/// # Panics
/// The returned function panics with the error of [`try_value_and_grad_with_aux`].
pub fn value_and_grad_with_aux<A: Tree, X: Tree>(
    f: impl Fn(&A) -> (Array, X),
) -> impl Fn(&A) -> ((Array, X), A) {
    let vg = try_value_and_grad_with_aux(f);
    move |x: &A| or_panic(vg(x))
}

/// Like [`value_and_grad_with_aux`], with a returned function that returns errors.
///
/// # Errors
/// As [`try_grad`].
pub fn try_value_and_grad_with_aux<A: Tree, X: Tree>(
    f: impl Fn(&A) -> (Array, X),
) -> impl Fn(&A) -> Result<((Array, X), A)> {
    move |x: &A| {
        let out_template = RefCell::new(None);
        let flat = flatten_fn(&f, x, &out_template);
        let (outs, grads) = value_and_grad_flat(&flat, &tree_leaves(x))?;
        let (value, aux) = rebuild(&out_template, outs)?;
        Ok(((value, aux), crate::tree::tree_unflatten(x, grads)?))
    }
}

/// The standard basis of arrays of `shape`, stacked along a new leading
/// axis: shape `[n] ++ shape`, with `n` the number of elements.
fn basis(shape: &[usize], dtype: rjax_ir::DType) -> Array {
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n * n)
        .map(|i| if i / n == i % n { 1.0 } else { 0.0 })
        .collect();
    let stacked: Vec<usize> = std::iter::once(n).chain(shape.iter().copied()).collect();
    crate::jnp::creation_from_f64s(&values, &stacked, dtype)
}

/// Stacks per-element derivatives (each shaped `inner`) into an array of
/// shape `outer ++ inner` (`outer_first`) or `inner ++ outer`.
fn assemble(
    parts: Vec<Array>,
    outer: &[usize],
    inner: &[usize],
    dtype: rjax_ir::DType,
    outer_first: bool,
) -> Result<Array> {
    let mut shape: Vec<usize> = if outer_first {
        outer.to_vec()
    } else {
        inner.to_vec()
    };
    shape.extend_from_slice(if outer_first { inner } else { outer });
    if parts.is_empty() {
        return Ok(crate::jnp::zeros(&shape, dtype));
    }
    let axis = if outer_first { 0 } else { inner.len() as isize };
    let stacked = crate::jnp::try_stack(&parts, axis)?;
    crate::jnp::try_reshape(&stacked, &shape)
}

/// The Jacobian of an array-valued function by forward mode, as a tree
/// like the argument whose leaves have shape `out.shape ++ leaf.shape`.
///
/// # Panics
/// The returned function panics with a primitive's error.
pub fn jacfwd<A: Tree>(f: impl Fn(&A) -> Array) -> impl Fn(&A) -> A {
    move |x: &A| or_panic(jacfwd_impl(&f, x))
}

fn jacfwd_impl<A: Tree>(f: &dyn Fn(&A) -> Array, x: &A) -> Result<A> {
    // JAX's jacfwd: the jvp, vmapped over the standard basis of each leaf.
    use crate::transforms::vmap::{vmap_flat, Axes};
    let leaves = tree_leaves(x);
    let out_template = RefCell::new(None);
    let flat = flatten_fn(f, x, &out_template);
    let zero_tangents: Vec<Option<Array>> = vec![None; leaves.len()];
    let mut jac_leaves = Vec::with_capacity(leaves.len());
    for (i, leaf) in leaves.iter().enumerate() {
        let n = leaf.size();
        if !leaf.dtype().is_float() || n == 0 {
            let out = jvp_flat(&flat, &leaves, &zero_tangents)?.0.swap_remove(0);
            jac_leaves.push(assemble(
                vec![],
                leaf.shape(),
                out.shape(),
                out.dtype(),
                false,
            )?);
            continue;
        }
        let basis = basis(leaf.shape(), leaf.dtype());
        let push = |t: &[Array]| -> Result<Vec<Array>> {
            let mut tangents = zero_tangents.clone();
            tangents[i] = Some(t[0].clone());
            Ok(vec![jvp_flat(&flat, &leaves, &tangents)?.1.swap_remove(0)])
        };
        let columns = vmap_flat(&push, &[basis], &Axes::Leading, &Axes::Leading)?.swap_remove(0);
        // [n, out..] -> [out.., n] -> out.shape ++ leaf.shape
        let moved = crate::transforms::batching::moveaxis(&columns, 0, columns.ndim() - 1)?;
        let shape: Vec<isize> = columns.shape()[1..]
            .iter()
            .chain(leaf.shape())
            .map(|&s| s as isize)
            .collect();
        jac_leaves.push(crate::jnp::try_reshape(&moved, &shape)?);
    }
    crate::tree::tree_unflatten(x, jac_leaves)
}

/// The Jacobian of an array-valued function by reverse mode, shaped as
/// [`jacfwd`]'s.
///
/// # Panics
/// The returned function panics with a primitive's error.
pub fn jacrev<A: Tree>(f: impl Fn(&A) -> Array) -> impl Fn(&A) -> A {
    move |x: &A| or_panic(jacrev_impl(&f, x))
}

fn jacrev_impl<A: Tree>(f: &dyn Fn(&A) -> Array, x: &A) -> Result<A> {
    // JAX's jacrev: the pull-back, vmapped over the standard basis of the
    // output.
    use crate::transforms::vmap::{vmap_flat, Axes};
    let leaves = tree_leaves(x);
    let out_template = RefCell::new(None);
    let flat = flatten_fn(f, x, &out_template);
    let (outs, lin) = linearize_flat(&flat, &leaves)?;
    let out = &outs[0];
    let m = out.size();
    if m == 0 {
        let jac_leaves = leaves
            .iter()
            .map(|leaf| assemble(vec![], out.shape(), leaf.shape(), leaf.dtype(), true))
            .collect::<Result<Vec<_>>>()?;
        return crate::tree::tree_unflatten(x, jac_leaves);
    }
    let basis = basis(out.shape(), out.dtype());
    let pull = |ct: &[Array]| lin.transpose(&[ct[0].clone()]);
    let rows = vmap_flat(&pull, &[basis], &Axes::Leading, &Axes::Leading)?;
    let jac_leaves = leaves
        .iter()
        .zip(rows)
        .map(|(leaf, r)| {
            let shape: Vec<isize> = out
                .shape()
                .iter()
                .chain(leaf.shape())
                .map(|&s| s as isize)
                .collect();
            crate::jnp::try_reshape(&r, &shape)
        })
        .collect::<Result<Vec<_>>>()?;
    crate::tree::tree_unflatten(x, jac_leaves)
}

/// The Hessian of a scalar function of a tree, as blocks: `h[i][j]` is the
/// second derivative with respect to leaves `i` and `j`, shaped
/// `leaf_i.shape ++ leaf_j.shape` (JAX's `hessian` returns the same blocks
/// nested in the argument's structure; Rust's types make a list of lists the
/// honest form).
///
/// # Example
/// ```
/// use rjax::{hessian_tree, Array};
/// let f = |p: &(Array, Array)| (&p.0 * &p.1).sum(); // x * y
/// let h = hessian_tree(f)(&(Array::scalar(2.0f64), Array::scalar(3.0f64)));
/// assert_eq!(h[0][1].item::<f64>().unwrap(), 1.0);
/// assert_eq!(h[1][1].item::<f64>().unwrap(), 0.0);
/// ```
///
/// # Panics
/// The returned function panics with a primitive's error.
pub fn hessian_tree<A: Tree>(f: impl Fn(&A) -> Array) -> impl Fn(&A) -> Vec<Vec<Array>> {
    move |x: &A| {
        let blocks = (0..crate::tree::tree_num_leaves(x)).map(|i| {
            let grad_leaf = |y: &A| {
                let g = or_panic(try_value_and_grad(|z: &A| f(z))(y)).1;
                tree_leaves(&g).swap_remove(i)
            };
            jacfwd_impl(&grad_leaf, x).map(|row| tree_leaves(&row))
        });
        or_panic(blocks.collect())
    }
}

/// The Hessian of a scalar function of one array, `jacfwd(jacrev(f))`,
/// shaped `x.shape ++ x.shape` (see [`hessian_tree`] for tree arguments).
///
/// # Example
/// ```
/// use rjax::{hessian, Array};
/// let h = hessian(|x: &Array| (x * x * x).sum())(&Array::from_vec(vec![1.0f64, 2.0], &[2]).unwrap());
/// assert_eq!(h.to_vec::<f64>().unwrap(), vec![6.0, 0.0, 0.0, 12.0]);
/// ```
///
/// # Panics
/// The returned function panics with a primitive's error.
pub fn hessian(f: impl Fn(&Array) -> Array) -> impl Fn(&Array) -> Array {
    let inner = move |x: &Array| or_panic(jacrev_impl(&f, x));
    move |x: &Array| or_panic(jacfwd_impl(&inner, x))
}

/// The linear jaxpr of `f` at `primals` (for tests and debugging).
///
/// # Errors
/// A primitive's error.
pub fn linear_jaxpr<A: Tree, B: Tree>(f: impl Fn(&A) -> B, primals: &A) -> Result<Jaxpr> {
    let out_template = RefCell::new(None);
    let flat = flatten_fn(&f, primals, &out_template);
    Ok(linearize_flat(&flat, &tree_leaves(primals))?
        .1
        .jaxpr()
        .clone())
}
