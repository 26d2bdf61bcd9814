//! Adam and AdamW: moment estimates with bias correction, and decoupled
//! weight decay.

use super::{split_state, zero_step, zeros_like_all, LearningRate, Optimizer, RateCache};
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

    fn slots(&self) -> usize {
        2 + usize::from(self.amsgrad)
    }

    /// The Adam update, after `decay` has been applied to each parameter
    /// (`decay(p, lr)` returns the parameter the step starts from).
    fn update_with(
        &self,
        name: &str,
        params: &[Array],
        grads: &[Array],
        state: &[Array],
        decay: impl Fn(&Array, &Array) -> Array,
    ) -> (Vec<Array>, Vec<Array>) {
        let (step, buffers) = split_state(name, params, grads, state, self.slots());
        let n = params.len();
        let mut slots = buffers.chunks(n.max(1));
        let firsts = slots.next().unwrap_or(&[]);
        let seconds = slots.next().unwrap_or(&[]);
        let maxima = slots.next();
        let mut rates = RateCache::new(&self.learning_rate, step);
        let (b1, b2) = (self.beta_1, self.beta_2);
        let mut new_params = Vec::with_capacity(n);
        let (mut new_m, mut new_v, mut new_vhat) = (vec![], vec![], vec![]);
        let mut alphas: Vec<(crate::DType, Array)> = Vec::new();
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let lr = rates.get(p);
            let alpha = match alphas.iter().find(|(d, _)| *d == p.dtype()) {
                Some((_, alpha)) => alpha.clone(),
                None => {
                    let t = (step + 1).astype(p.dtype());
                    let power = |b: f64| jnp::power(&Array::scalar_like(b, &t), &t);
                    let alpha = &lr * (1.0 - power(b2)).sqrt() / (1.0 - power(b1));
                    alphas.push((p.dtype(), alpha.clone()));
                    alpha
                }
            };
            let p = decay(p, &lr);
            let m = &firsts[i] + (g - &firsts[i]) * (1.0 - b1);
            let v = &seconds[i] + (g.square() - &seconds[i]) * (1.0 - b2);
            let v_used = match maxima {
                Some(maxima) => {
                    let vhat = jnp::maximum(&maxima[i], &v);
                    new_vhat.push(vhat.clone());
                    vhat
                }
                None => v.clone(),
            };
            new_params.push(&p - &m * alpha / (v_used.sqrt() + self.epsilon));
            new_m.push(m);
            new_v.push(v);
        }
        let mut new_state = vec![step + 1];
        new_state.extend(new_m);
        new_state.extend(new_v);
        new_state.extend(new_vhat);
        (new_params, new_state)
    }
}

impl Optimizer for Adam {
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
        self.update_with("Adam", params, grads, state, |p, _| p.clone())
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

impl Optimizer for AdamW {
    fn init(&self, params: &[Array]) -> Vec<Array> {
        self.adam.init(params)
    }

    fn update(
        &self,
        params: &[Array],
        grads: &[Array],
        state: &[Array],
    ) -> (Vec<Array>, Vec<Array>) {
        let wd = self.weight_decay;
        self.adam
            .update_with("AdamW", params, grads, state, |p, lr| p - (p * wd) * lr)
    }
}
