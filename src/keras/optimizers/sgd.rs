//! Stochastic gradient descent with optional (Nesterov) momentum.

use super::{DTypeCache, LearningRate, SlotRule, WeightStep};
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
}

impl SlotRule for SGD {
    fn name(&self) -> &'static str {
        "SGD"
    }

    fn learning_rate(&self) -> &LearningRate {
        &self.learning_rate
    }

    fn slots(&self) -> usize {
        usize::from(self.momentum != 0.0)
    }

    fn apply(&self, w: WeightStep<'_>, _per_dtype: &mut DTypeCache) -> (Array, Vec<Array>) {
        let lr_g = w.grad * &w.lr;
        let Some(&velocity) = w.slots.first() else {
            return (w.param - lr_g, vec![]);
        };
        let v = velocity * self.momentum - &lr_g;
        let delta = if self.nesterov {
            &v * self.momentum - &lr_g
        } else {
            v.clone()
        };
        (w.param + delta, vec![v])
    }
}
