//! RMSprop: gradient steps scaled by a running root mean square.

use super::{split_state, zero_step, zeros_like_all, LearningRate, Optimizer, RateCache};
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

    fn slots(&self) -> usize {
        1 + usize::from(self.centered) + usize::from(self.momentum > 0.0)
    }
}

impl Optimizer for RMSprop {
    fn init(&self, params: &[Array]) -> Vec<Array> {
        let mut state = vec![zero_step()];
        for _ in 0..self.slots() {
            state.extend(zeros_like_all(params));
        }
        state
    }

    fn update(
        &self,
        params: &[Array],
        grads: &[Array],
        state: &[Array],
    ) -> (Vec<Array>, Vec<Array>) {
        let (step, buffers) = split_state("RMSprop", params, grads, state, self.slots());
        let n = params.len();
        let mut slots = buffers.chunks(n.max(1));
        let squares = slots.next().unwrap_or(&[]);
        let mean_grads = if self.centered { slots.next() } else { None };
        let momenta = if self.momentum > 0.0 {
            slots.next()
        } else {
            None
        };
        let mut rates = RateCache::new(&self.learning_rate, step);
        let (rho, eps) = (self.rho, self.epsilon);
        let mut new_params = Vec::with_capacity(n);
        let (mut new_squares, mut new_means, mut new_momenta) = (vec![], vec![], vec![]);
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let a = &squares[i] * rho + g.square() * (1.0 - rho);
            let denominator = match mean_grads {
                Some(means) => {
                    let mg = &means[i] * rho + g * (1.0 - rho);
                    let d = &a - mg.square() + eps;
                    new_means.push(mg);
                    d
                }
                None => &a + eps,
            };
            let increment = g * rates.get(p) / denominator.sqrt();
            new_squares.push(a);
            match momenta {
                Some(momenta) => {
                    let b = &momenta[i] * self.momentum + increment;
                    new_params.push(p - &b);
                    new_momenta.push(b);
                }
                None => new_params.push(p - increment),
            }
        }
        let mut new_state = vec![step + 1];
        new_state.extend(new_squares);
        new_state.extend(new_means);
        new_state.extend(new_momenta);
        (new_params, new_state)
    }
}
