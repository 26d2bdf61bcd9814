//! Adam and AdamW: moment estimates with bias correction, and decoupled
//! weight decay.

use super::{DTypeCache, LearningRate, SlotRule, WeightStep};
use crate::{jnp, Array};

/// Adam, as Keras' `Adam`: `m += (g - m)(1 - b1)`, `v += (g^2 - v)(1 - b2)`,
/// `p -= m alpha / (sqrt(v) + eps)` with `alpha = lr sqrt(1 - b2^(t+1)) / (1 -
/// b1^(t+1))`; with AMSGrad the step uses `vhat = max(vhat, v)`.
///
/// State: `[step, m_1..m_n, v_1..v_n, (vhat_1..vhat_n if amsgrad)]`.
///
/// # Example
/// ```
/// use rjax::keras::optimizers::{Adam, Optimizer};
/// use rjax::Array;
/// let opt = Adam::new(0.1);
/// let p = vec![Array::scalar(1.0f64)];
/// let state = opt.init(&p);
/// let (p, _) = opt.update(&p, &[Array::scalar(3.0f64)], &state);
/// // The first Adam step moves each weight by about lr, against the gradient.
/// assert!((p[0].item::<f64>().unwrap() - 0.9).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct Adam {
    /// The learning rate or its schedule.
    pub learning_rate: LearningRate,
    /// Decay of the first moment (Keras: 0.9).
    pub beta_1: f64,
    /// Decay of the second moment (Keras: 0.999).
    pub beta_2: f64,
    /// Added to `sqrt(v)` (Keras: 1e-7).
    pub epsilon: f64,
    /// Use the running maximum of `v` (AMSGrad).
    pub amsgrad: bool,
}

impl Adam {
    /// Adam with Keras' defaults (`beta_1` 0.9, `beta_2` 0.999, `epsilon`
    /// 1e-7, no AMSGrad).
    ///
    /// # Example
    /// ```
    /// let opt = rjax::keras::optimizers::Adam::new(1e-3);
    /// assert_eq!((opt.beta_1, opt.beta_2, opt.epsilon), (0.9, 0.999, 1e-7));
    /// ```
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        Adam {
            learning_rate: learning_rate.into(),
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        }
    }

    /// Sets `beta_1`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(rjax::keras::optimizers::Adam::new(1e-3).beta_1(0.8).beta_1, 0.8);
    /// ```
    pub fn beta_1(mut self, beta_1: f64) -> Self {
        self.beta_1 = beta_1;
        self
    }

    /// Sets `beta_2`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(rjax::keras::optimizers::Adam::new(1e-3).beta_2(0.99).beta_2, 0.99);
    /// ```
    pub fn beta_2(mut self, beta_2: f64) -> Self {
        self.beta_2 = beta_2;
        self
    }

    /// Sets `epsilon`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(rjax::keras::optimizers::Adam::new(1e-3).epsilon(1e-8).epsilon, 1e-8);
    /// ```
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Sets whether to use AMSGrad.
    ///
    /// # Example
    /// ```
    /// assert!(rjax::keras::optimizers::Adam::new(1e-3).amsgrad(true).amsgrad);
    /// ```
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.amsgrad = amsgrad;
        self
    }

    fn adam_slots(&self) -> usize {
        2 + usize::from(self.amsgrad)
    }

    /// The Adam update of one weight, after `decay` has been applied to it
    /// (`decay(p, lr)` returns the weight the step starts from). Slots: the
    /// first moment, the second, then its running maximum with AMSGrad.
    fn apply_decayed(
        &self,
        w: WeightStep<'_>,
        alphas: &mut DTypeCache,
        decay: impl Fn(&Array, &Array) -> Array,
    ) -> (Array, Vec<Array>) {
        let (b1, b2, g) = (self.beta_1, self.beta_2, w.grad);
        let alpha = alphas.get(w.param.dtype(), || {
            let t = (w.step + 1).astype(w.param.dtype());
            let power = |b: f64| jnp::power(&Array::scalar_like(b, &t), &t);
            &w.lr * (1.0 - power(b2)).sqrt() / (1.0 - power(b1))
        });
        let p = decay(w.param, &w.lr);
        let (first, second) = (w.slots[0], w.slots[1]);
        let m = first + (g - first) * (1.0 - b1);
        let v = second + (g.square() - second) * (1.0 - b2);
        let v_used = match w.slots.get(2) {
            Some(&maximum) => jnp::maximum(maximum, &v),
            None => v.clone(),
        };
        let new_p = &p - &m * alpha / (v_used.sqrt() + self.epsilon);
        let mut new_slots = vec![m, v];
        if self.amsgrad {
            new_slots.push(v_used);
        }
        (new_p, new_slots)
    }
}

impl SlotRule for Adam {
    fn name(&self) -> &'static str {
        "Adam"
    }

    fn learning_rate(&self) -> &LearningRate {
        &self.learning_rate
    }

    fn slots(&self) -> usize {
        self.adam_slots()
    }

    fn apply(&self, w: WeightStep<'_>, per_dtype: &mut DTypeCache) -> (Array, Vec<Array>) {
        self.apply_decayed(w, per_dtype, |p, _| p.clone())
    }
}

/// Adam with decoupled weight decay, as Keras' `AdamW`: each update first
/// shrinks the weights, `p -= p wd lr`, then takes an [`Adam`] step.
///
/// State: as [`Adam`]'s.
///
/// # Example
/// ```
/// use rjax::keras::optimizers::{AdamW, Optimizer};
/// use rjax::Array;
/// let opt = AdamW::new(0.1).weight_decay(0.5);
/// let p = vec![Array::scalar(1.0f64)];
/// let state = opt.init(&p);
/// let (p, _) = opt.update(&p, &[Array::scalar(0.0f64)], &state);
/// // A zero gradient leaves only the decay: 1 - 1 * 0.5 * 0.1.
/// assert!((p[0].item::<f64>().unwrap() - 0.95).abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
pub struct AdamW {
    /// The Adam settings (learning rate, betas, epsilon, AMSGrad).
    pub adam: Adam,
    /// The decay factor per unit of learning rate (Keras: 0.004).
    pub weight_decay: f64,
}

impl AdamW {
    /// AdamW with Keras' defaults (`weight_decay` 0.004 and Adam's).
    ///
    /// # Example
    /// ```
    /// let opt = rjax::keras::optimizers::AdamW::new(1e-3);
    /// assert_eq!(opt.weight_decay, 0.004);
    /// ```
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        AdamW {
            adam: Adam::new(learning_rate),
            weight_decay: 0.004,
        }
    }

    /// Sets the weight decay.
    ///
    /// # Example
    /// ```
    /// assert_eq!(rjax::keras::optimizers::AdamW::new(1e-3).weight_decay(0.01).weight_decay, 0.01);
    /// ```
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets `beta_1`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(rjax::keras::optimizers::AdamW::new(1e-3).beta_1(0.8).adam.beta_1, 0.8);
    /// ```
    pub fn beta_1(mut self, beta_1: f64) -> Self {
        self.adam.beta_1 = beta_1;
        self
    }

    /// Sets `beta_2`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(rjax::keras::optimizers::AdamW::new(1e-3).beta_2(0.99).adam.beta_2, 0.99);
    /// ```
    pub fn beta_2(mut self, beta_2: f64) -> Self {
        self.adam.beta_2 = beta_2;
        self
    }

    /// Sets `epsilon`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(rjax::keras::optimizers::AdamW::new(1e-3).epsilon(1e-8).adam.epsilon, 1e-8);
    /// ```
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.adam.epsilon = epsilon;
        self
    }

    /// Sets whether to use AMSGrad.
    ///
    /// # Example
    /// ```
    /// assert!(rjax::keras::optimizers::AdamW::new(1e-3).amsgrad(true).adam.amsgrad);
    /// ```
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.adam.amsgrad = amsgrad;
        self
    }
}

impl SlotRule for AdamW {
    fn name(&self) -> &'static str {
        "AdamW"
    }

    fn learning_rate(&self) -> &LearningRate {
        &self.adam.learning_rate
    }

    fn slots(&self) -> usize {
        self.adam.adam_slots()
    }

    fn apply(&self, w: WeightStep<'_>, per_dtype: &mut DTypeCache) -> (Array, Vec<Array>) {
        let wd = self.weight_decay;
        self.adam
            .apply_decayed(w, per_dtype, |p, lr| p - (p * wd) * lr)
    }
}
