//! Stochastic gradient descent with optional (Nesterov) momentum.

use super::{split_state, zero_step, zeros_like_all, LearningRate, Optimizer, RateCache};
use crate::Array;

/// Gradient descent with optional momentum, as Keras' `SGD`: `p -= lr g`,
/// or with momentum `m`: `v = m v - lr g; p += v` (Nesterov: `p += m v - lr
/// g`).
///
/// State: `[step, v_1 .. v_n]` with momentum, `[step]` without.
///
/// # Example
/// ```
/// use rjax::keras::optimizers::{Optimizer, SGD};
/// use rjax::Array;
/// let opt = SGD::new(0.1).momentum(0.9).nesterov(true);
/// let p = vec![Array::scalar(1.0f32)];
/// let state = opt.init(&p);
/// let (p, _) = opt.update(&p, &[Array::scalar(1.0f32)], &state);
/// // v = -0.1; p += 0.9 * v - 0.1
/// assert!((p[0].item::<f32>().unwrap() - 0.81).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct SGD {
    /// The learning rate or its schedule.
    pub learning_rate: LearningRate,
    /// The momentum factor (0 for plain gradient descent).
    pub momentum: f64,
    /// Whether to use Nesterov momentum.
    pub nesterov: bool,
}

impl SGD {
    /// Plain gradient descent with `learning_rate` (a number or a schedule).
    ///
    /// # Example
    /// ```
    /// let opt = rjax::keras::optimizers::SGD::new(0.1);
    /// assert_eq!(opt.momentum, 0.0);
    /// ```
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        SGD {
            learning_rate: learning_rate.into(),
            momentum: 0.0,
            nesterov: false,
        }
    }

    /// Sets the momentum factor.
    ///
    /// # Example
    /// ```
    /// let opt = rjax::keras::optimizers::SGD::new(0.1).momentum(0.9);
    /// assert_eq!(opt.momentum, 0.9);
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets whether the momentum is Nesterov's.
    ///
    /// # Example
    /// ```
    /// let opt = rjax::keras::optimizers::SGD::new(0.1).momentum(0.9).nesterov(true);
    /// assert!(opt.nesterov);
    /// ```
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    fn slots(&self) -> usize {
        usize::from(self.momentum != 0.0)
    }
}

impl Optimizer for SGD {
    fn init(&self, params: &[Array]) -> Vec<Array> {
        let mut state = vec![zero_step()];
        if self.slots() == 1 {
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
        let (step, velocities) = split_state("SGD", params, grads, state, self.slots());
        let mut rates = RateCache::new(&self.learning_rate, step);
        let mut new_params = Vec::with_capacity(params.len());
        let mut new_state = vec![step + 1];
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let lr_g = g * rates.get(p);
            if self.slots() == 0 {
                new_params.push(p - lr_g);
                continue;
            }
            let v = &velocities[i] * self.momentum - &lr_g;
            let delta = if self.nesterov {
                &v * self.momentum - &lr_g
            } else {
                v.clone()
            };
            new_params.push(p + delta);
            new_state.push(v);
        }
        (new_params, new_state)
    }
}
