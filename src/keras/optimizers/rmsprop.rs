//! RMSprop: gradient steps scaled by a running root mean square.

use super::{DTypeCache, LearningRate, SlotRule, WeightStep};
use crate::Array;

/// RMSprop, as Keras' `RMSprop`: `a = rho a + (1 - rho) g^2`, step `lr g /
/// sqrt(a + eps)` (centered: `lr g / sqrt(a - mg^2 + eps)` with the running
/// mean gradient `mg`); with momentum `m`: `b = m b + step; p -= b`.
///
/// State: `[step, a_1..a_n, (mg_1..mg_n if centered), (b_1..b_n if
/// momentum)]`.
///
/// # Example
/// ```
/// use rjax::keras::optimizers::{Optimizer, RMSprop};
/// use rjax::Array;
/// let opt = RMSprop::new(0.01).rho(0.5);
/// let p = vec![Array::scalar(1.0f64)];
/// let state = opt.init(&p);
/// let (p, _) = opt.update(&p, &[Array::scalar(2.0f64)], &state);
/// // a = 0.5 * 4 = 2; p = 1 - 0.01 * 2 / sqrt(2 + 1e-7)
/// let expected = 1.0 - 0.02 / (2.0f64 + 1e-7).sqrt();
/// assert!((p[0].item::<f64>().unwrap() - expected).abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
pub struct RMSprop {
    /// The learning rate or its schedule.
    pub learning_rate: LearningRate,
    /// Decay of the running mean of squared gradients (Keras: 0.9).
    pub rho: f64,
    /// Momentum factor (Keras: 0).
    pub momentum: f64,
    /// Added to the mean square inside the square root (Keras: 1e-7).
    pub epsilon: f64,
    /// Divide by the running variance instead of the mean square.
    pub centered: bool,
}

impl RMSprop {
    /// RMSprop with Keras' defaults (`rho` 0.9, no momentum, `epsilon` 1e-7,
    /// not centered).
    ///
    /// # Example
    /// ```
    /// let opt = rjax::keras::optimizers::RMSprop::new(1e-3);
    /// assert_eq!((opt.rho, opt.epsilon), (0.9, 1e-7));
    /// ```
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        RMSprop {
            learning_rate: learning_rate.into(),
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
        }
    }

    /// Sets `rho`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(rjax::keras::optimizers::RMSprop::new(1e-3).rho(0.5).rho, 0.5);
    /// ```
    pub fn rho(mut self, rho: f64) -> Self {
        self.rho = rho;
        self
    }

    /// Sets the momentum factor.
    ///
    /// # Example
    /// ```
    /// assert_eq!(rjax::keras::optimizers::RMSprop::new(1e-3).momentum(0.9).momentum, 0.9);
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets `epsilon`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(rjax::keras::optimizers::RMSprop::new(1e-3).epsilon(1e-6).epsilon, 1e-6);
    /// ```
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Sets whether the mean square is centered by the mean gradient.
    ///
    /// # Example
    /// ```
    /// assert!(rjax::keras::optimizers::RMSprop::new(1e-3).centered(true).centered);
    /// ```
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }
}

impl SlotRule for RMSprop {
    fn name(&self) -> &'static str {
        "RMSprop"
    }

    fn learning_rate(&self) -> &LearningRate {
        &self.learning_rate
    }

    fn slots(&self) -> usize {
        1 + usize::from(self.centered) + usize::from(self.momentum > 0.0)
    }

    /// Slots: the mean square, then the mean gradient if centered, then the
    /// momentum buffer if any.
    fn apply(&self, w: WeightStep<'_>, _per_dtype: &mut DTypeCache) -> (Array, Vec<Array>) {
        let (rho, eps, g) = (self.rho, self.epsilon, w.grad);
        let a = w.slots[0] * rho + g.square() * (1.0 - rho);
        let mut rest = w.slots[1..].iter().copied();
        let mean_grad = if self.centered { rest.next() } else { None };
        let momentum = if self.momentum > 0.0 {
            rest.next()
        } else {
            None
        };
        let mg = mean_grad.map(|mean| mean * rho + g * (1.0 - rho));
        let denominator = match &mg {
            Some(mg) => &a - mg.square() + eps,
            None => &a + eps,
        };
        let increment = g * &w.lr / denominator.sqrt();
        let mut new_slots = vec![a];
        new_slots.extend(mg);
        let new_param = match momentum {
            Some(momentum) => {
                let b = momentum * self.momentum + increment;
                let new_param = w.param - &b;
                new_slots.push(b);
                new_param
            }
            None => w.param - increment,
        };
        (new_param, new_slots)
    }
}
