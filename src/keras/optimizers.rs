//! Optimizers as pure `init`/`update` functions over the trainable weights.
//!
//! An optimizer's state is a flat list of arrays: first the number of
//! updates applied so far (an `i32` scalar, so that learning-rate
//! [schedules](crate::keras::schedules) are evaluated inside a jitted step),
//! then its per-weight buffers. Every update follows Keras 3's formulas,
//! with `lr` the learning rate at the current step `t` (0 for the first
//! update) and `g` the gradient:
//!
//! - [`SGD`]: without momentum `p -= lr g`; with momentum `m`,
//!   `v = m v - lr g; p += v`, and with Nesterov `p += m v - lr g` (with the
//!   new `v`).
//! - [`RMSprop`]: `a = rho a + (1 - rho) g^2`; the step is
//!   `lr g / sqrt(a + eps)` (centered: `a - mg^2 + eps` with `mg = rho mg +
//!   (1 - rho) g`); with momentum `m`, `b = m b + step; p -= b`, else
//!   `p -= step`.
//! - [`Adam`]: `m += (g - m)(1 - b1)`, `v += (g^2 - v)(1 - b2)`, `p -= m
//!   alpha / (sqrt(v) + eps)` with `alpha = lr sqrt(1 - b2^(t+1)) / (1 -
//!   b1^(t+1))` (epsilon outside the square root, as Keras); with AMSGrad
//!   `vhat = max(vhat, v)` replaces `v` in the step.
//! - [`AdamW`]: first `p -= p wd lr` (decoupled weight decay), then Adam.
//!
//! [`TreeOptimizer`] applies any optimizer to a whole [`Tree`] of
//! parameters, for hand-written training loops.

mod adam;
mod rmsprop;
mod sgd;

pub use adam::{Adam, AdamW};
pub use rmsprop::RMSprop;
pub use sgd::SGD;

pub use crate::keras::schedules::LearningRate;
use crate::{tree_leaves, tree_unflatten, Array, DType, Tree};
use rjax_ir::{Error, Result};

/// An optimizer: pure functions from (weights, gradients, state) to new
/// weights and state, so a whole training step can be jitted.
///
/// # Example
/// ```
/// use rjax::keras::optimizers::{Optimizer, SGD};
/// use rjax::Array;
///
/// let sgd = SGD::new(0.1);
/// let params = vec![Array::from_vec(vec![1.0f32, 2.0], &[2]).unwrap()];
/// let grads = vec![Array::from_vec(vec![0.5f32, -1.0], &[2]).unwrap()];
/// let state = sgd.init(&params);
/// let (params, _state) = sgd.update(&params, &grads, &state);
/// let p = params[0].to_vec::<f32>().unwrap();
/// assert!((p[0] - 0.95).abs() < 1e-6 && (p[1] - 2.1).abs() < 1e-6); // p - 0.1 g
/// ```
pub trait Optimizer: Send + Sync + std::fmt::Debug {
    /// The optimizer state for `params` (for example momentum buffers and
    /// a step counter), as a flat list of arrays.
    fn init(&self, params: &[Array]) -> Vec<Array>;

    /// One update: returns the new parameters and the new state.
    /// Traceable (no concrete values are read), so it runs under `jit`.
    fn update(
        &self,
        params: &[Array],
        grads: &[Array],
        state: &[Array],
    ) -> (Vec<Array>, Vec<Array>);
}

/// Applying an optimizer to any [`Tree`] of parameters (implemented for
/// every [`Optimizer`]).
///
/// # Example
/// ```
/// use rjax::keras::optimizers::{TreeOptimizer, SGD};
/// use rjax::{grad, Array};
/// let params = (Array::scalar(1.0f32), vec![Array::scalar(2.0f32)]);
/// let opt = SGD::new(0.5);
/// let state = opt.init_tree(&params);
/// let g = grad(|p: &(Array, Vec<Array>)| (&p.0 * &p.1[0]).sum())(&params);
/// let (params, _state) = opt.update_tree(&params, &g, &state).unwrap();
/// assert_eq!(params.0.item::<f32>().unwrap(), 0.0); // 1 - 0.5 * 2
/// assert_eq!(params.1[0].item::<f32>().unwrap(), 1.5); // 2 - 0.5 * 1
/// ```
pub trait TreeOptimizer {
    /// The optimizer state for the leaves of `params`.
    fn init_tree<T: Tree>(&self, params: &T) -> Vec<Array>;

    /// One update of the tree `params` with gradients `grads` (a tree of
    /// the same structure). Errors if the two trees have different numbers
    /// of leaves or the state does not belong to `params`.
    fn update_tree<T: Tree>(
        &self,
        params: &T,
        grads: &T,
        state: &[Array],
    ) -> Result<(T, Vec<Array>)>;
}

impl<O: Optimizer + ?Sized> TreeOptimizer for O {
    fn init_tree<T: Tree>(&self, params: &T) -> Vec<Array> {
        self.init(&tree_leaves(params))
    }

    fn update_tree<T: Tree>(
        &self,
        params: &T,
        grads: &T,
        state: &[Array],
    ) -> Result<(T, Vec<Array>)> {
        let p = tree_leaves(params);
        let g = tree_leaves(grads);
        if p.len() != g.len() {
            let message = format!(
                "the parameters have {} leaves but the gradients have {}",
                p.len(),
                g.len()
            );
            return Err(Error::op("update_tree", message));
        }
        let expected = self.init(&p).len();
        if state.len() != expected {
            let message = format!(
                "the state has {} arrays but this optimizer keeps {} for these parameters",
                state.len(),
                expected
            );
            return Err(Error::op("update_tree", message));
        }
        let (new_params, new_state) = self.update(&p, &g, state);
        Ok((tree_unflatten(params, new_params)?, new_state))
    }
}

/// The common shape of the optimizers in this module: the state is a step
/// counter followed by `slots()` buffers per weight (slot by slot, each in
/// weight order), and each weight is updated on its own by `apply`.
trait SlotRule: Send + Sync + std::fmt::Debug {
    /// The optimizer's name, for the messages of misuse panics.
    fn name(&self) -> &'static str;

    /// The learning rate or its schedule.
    fn learning_rate(&self) -> &LearningRate;

    /// The number of buffers kept per weight.
    fn slots(&self) -> usize;

    /// Updates one weight: returns its new value and its new buffers (one
    /// per slot, in slot order). `per_dtype` lives for one whole update, for
    /// values computed once per dtype.
    fn apply(&self, weight: WeightStep<'_>, per_dtype: &mut DTypeCache) -> (Array, Vec<Array>);
}

/// One weight's part of an update, as a [`SlotRule`] sees it.
struct WeightStep<'a> {
    /// The number of updates applied before this one (an `i32` scalar).
    step: &'a Array,
    /// The weight.
    param: &'a Array,
    /// Its gradient.
    grad: &'a Array,
    /// The learning rate at `step`, in the weight's dtype.
    lr: Array,
    /// The weight's buffers, one per slot.
    slots: Vec<&'a Array>,
}

impl<R: SlotRule> Optimizer for R {
    fn init(&self, params: &[Array]) -> Vec<Array> {
        let mut state = vec![Array::scalar(0i32)];
        for _ in 0..self.slots() {
            state.extend(params.iter().map(crate::jnp::zeros_like));
        }
        state
    }

    fn update(
        &self,
        params: &[Array],
        grads: &[Array],
        state: &[Array],
    ) -> (Vec<Array>, Vec<Array>) {
        let slots = self.slots();
        let (step, buffers) = split_state(self.name(), params, grads, state, slots);
        let n = params.len();
        let mut rates = DTypeCache::default();
        let mut per_dtype = DTypeCache::default();
        let mut new_params = Vec::with_capacity(n);
        let mut new_buffers: Vec<Vec<Array>> = (0..slots).map(|_| Vec::with_capacity(n)).collect();
        for (i, (param, grad)) in params.iter().zip(grads).enumerate() {
            let lr = rates.get(param.dtype(), || {
                self.learning_rate().at(step, param.dtype())
            });
            let weight = WeightStep {
                step,
                param,
                grad,
                lr,
                slots: (0..slots).map(|s| &buffers[s * n + i]).collect(),
            };
            let (new_param, new_slots) = self.apply(weight, &mut per_dtype);
            new_params.push(new_param);
            for (column, buffer) in new_buffers.iter_mut().zip(new_slots) {
                column.push(buffer);
            }
        }
        let mut new_state = vec![step + 1];
        new_state.extend(new_buffers.into_iter().flatten());
        (new_params, new_state)
    }
}

/// Checks the argument lengths of an update and splits off the step
/// counter: returns `(step, buffers)`. `slots` is the number of buffers per
/// parameter. Panics (a programmer error) when the lists do not fit.
fn split_state<'a>(
    name: &str,
    params: &[Array],
    grads: &[Array],
    state: &'a [Array],
    slots: usize,
) -> (&'a Array, &'a [Array]) {
    assert_eq!(
        params.len(),
        grads.len(),
        "{name}.update: {} parameters but {} gradients",
        params.len(),
        grads.len()
    );
    let expected = 1 + slots * params.len();
    assert_eq!(
        state.len(),
        expected,
        "{name}.update: state of {} arrays, expected {expected} for {} parameters",
        state.len(),
        params.len()
    );
    (&state[0], &state[1..])
}

/// Values computed once per dtype during one update (the learning rate,
/// Adam's bias-corrected step size).
#[derive(Default)]
struct DTypeCache {
    cache: Vec<(DType, Array)>,
}

impl DTypeCache {
    /// The value for `dtype`, computed by `compute` the first time.
    fn get(&mut self, dtype: DType, compute: impl FnOnce() -> Array) -> Array {
        if let Some((_, value)) = self.cache.iter().find(|(d, _)| *d == dtype) {
            return value.clone();
        }
        let value = compute();
        self.cache.push((dtype, value.clone()));
        value
    }
}

/// Returns the optimizer Keras names `name` (`"sgd"`, `"rmsprop"`,
/// `"adam"`, `"adamw"`, case-insensitive) with Keras' default settings.
///
/// # Example
/// ```
/// use rjax::keras::optimizers;
/// assert!(optimizers::get("adam").is_ok());
/// assert!(optimizers::get("adagrad").is_err());
/// ```
pub fn get(name: &str) -> Result<Box<dyn Optimizer>> {
    match name.to_ascii_lowercase().as_str() {
        "sgd" => Ok(Box::new(SGD::new(0.01))),
        "rmsprop" => Ok(Box::new(RMSprop::new(0.001))),
        "adam" => Ok(Box::new(Adam::new(0.001))),
        "adamw" => Ok(Box::new(AdamW::new(0.001))),
        _ => Err(Error::op(
            "optimizers::get",
            format!("unknown optimizer {name:?}; known: sgd, rmsprop, adam, adamw"),
        )),
    }
}
