//! Learning-rate schedules: the learning rate as a traceable function of
//! the optimizer's step counter.
//!
//! An optimizer keeps the number of updates it has applied in its state (an
//! `i32` scalar) and, before each update, asks its [`LearningRate`] for the
//! rate at that step. Because the step is an array, a schedule is evaluated
//! inside a jitted training step without re-tracing. As in Keras, the first
//! update sees step 0.
//!
//! With `s` the step, the schedules compute:
//!
//! - [`Constant`]: `lr(s) = rate`.
//! - [`ExponentialDecay`]: `lr(s) = initial * decay_rate ^ (s / decay_steps)`,
//!   with the exponent floored when `staircase` is set.
//! - [`CosineDecay`] without warmup: with `c = min(s, decay_steps) /
//!   decay_steps`, `lr(s) = initial * ((1 - alpha) * (1 + cos(pi c)) / 2 +
//!   alpha)`. With `warmup_steps = w > 0` and a `warmup_target`, the rate
//!   first climbs linearly from `initial` to `warmup_target` over `w` steps,
//!   `lr(s) = initial + (target - initial) * s / w` for `s < w`, then decays
//!   from `target` as above over the next `decay_steps` steps.

use crate::{jnp, Array, DType};
use std::f64::consts::PI;
use std::sync::Arc;

/// A learning rate that depends on the step (Keras'
/// `LearningRateSchedule`).
///
/// # Example
/// ```
/// use rjax::keras::schedules::{ExponentialDecay, LearningRateSchedule};
/// use rjax::Array;
/// let schedule = ExponentialDecay::new(0.1, 10, 0.5);
/// let lr = schedule.call(&Array::scalar(20.0f32));
/// assert!((lr.item::<f32>().unwrap() - 0.025).abs() < 1e-8);
/// ```
pub trait LearningRateSchedule: Send + Sync + std::fmt::Debug {
    /// The Keras class name, e.g. `"ExponentialDecay"`.
    fn name(&self) -> &'static str;

    /// The learning rate at `step`, a float scalar array holding the number
    /// of updates applied so far; the result has `step`'s dtype. Traceable.
    fn call(&self, step: &Array) -> Array;
}

/// A learning rate that never changes.
///
/// # Example
/// ```
/// use rjax::keras::schedules::{Constant, LearningRateSchedule};
/// use rjax::Array;
/// let lr = Constant(0.01).call(&Array::scalar(7.0f32));
/// assert_eq!(lr.item::<f32>().unwrap(), 0.01);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constant(pub f64);

impl LearningRateSchedule for Constant {
    fn name(&self) -> &'static str {
        "Constant"
    }

    fn call(&self, step: &Array) -> Array {
        Array::scalar_like(self.0, step)
    }
}

/// `initial * decay_rate ^ (step / decay_steps)`, as Keras'
/// `ExponentialDecay`.
///
/// # Example
/// ```
/// use rjax::keras::schedules::{ExponentialDecay, LearningRateSchedule};
/// use rjax::Array;
/// let smooth = ExponentialDecay::new(1.0, 4, 0.5);
/// let stairs = smooth.staircase(true);
/// let at = |s: &dyn LearningRateSchedule| s.call(&Array::scalar(6.0f64)).item::<f64>().unwrap();
/// assert!((at(&smooth) - 0.5f64.powf(1.5)).abs() < 1e-12);
/// assert_eq!(at(&stairs), 0.5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExponentialDecay {
    /// The rate at step 0.
    pub initial_learning_rate: f64,
    /// Steps over which the rate is multiplied by `decay_rate` once.
    pub decay_steps: usize,
    /// The factor per `decay_steps` steps.
    pub decay_rate: f64,
    /// Decay in whole multiples of `decay_steps` (a step function).
    pub staircase: bool,
}

impl ExponentialDecay {
    /// A smooth (not staircase) exponential decay.
    ///
    /// # Example
    /// ```
    /// let s = rjax::keras::schedules::ExponentialDecay::new(0.1, 100, 0.96);
    /// assert!(!s.staircase);
    /// ```
    pub fn new(initial_learning_rate: f64, decay_steps: usize, decay_rate: f64) -> Self {
        ExponentialDecay {
            initial_learning_rate,
            decay_steps,
            decay_rate,
            staircase: false,
        }
    }

    /// Sets whether the exponent is floored to whole decay periods.
    ///
    /// # Example
    /// ```
    /// let s = rjax::keras::schedules::ExponentialDecay::new(0.1, 100, 0.96).staircase(true);
    /// assert!(s.staircase);
    /// ```
    pub fn staircase(mut self, staircase: bool) -> Self {
        self.staircase = staircase;
        self
    }
}

impl LearningRateSchedule for ExponentialDecay {
    fn name(&self) -> &'static str {
        "ExponentialDecay"
    }

    fn call(&self, step: &Array) -> Array {
        let mut p = step / self.decay_steps as f64;
        if self.staircase {
            p = jnp::floor(&p);
        }
        let rate = jnp::power(&Array::scalar_like(self.decay_rate, &p), &p);
        rate * self.initial_learning_rate
    }
}

/// Cosine decay from `initial` to `alpha * initial` over `decay_steps`,
/// with an optional linear warmup, as Keras' `CosineDecay`.
///
/// # Example
/// ```
/// use rjax::keras::schedules::{CosineDecay, LearningRateSchedule};
/// use rjax::Array;
/// let s = CosineDecay::new(1.0, 10);
/// let at = |step: f64| s.call(&Array::scalar(step)).item::<f64>().unwrap();
/// assert!((at(5.0) - 0.5).abs() < 1e-12);
/// assert!(at(10.0).abs() < 1e-12 && at(50.0).abs() < 1e-12);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineDecay {
    /// The rate at step 0 (where the warmup starts, if any).
    pub initial_learning_rate: f64,
    /// Steps of the cosine decay (after the warmup).
    pub decay_steps: usize,
    /// The final rate as a fraction of the rate the decay starts from.
    pub alpha: f64,
    /// The rate reached at the end of the warmup; `None` for no warmup.
    pub warmup_target: Option<f64>,
    /// Steps of the linear warmup (used only with a `warmup_target`).
    pub warmup_steps: usize,
}

impl CosineDecay {
    /// Cosine decay to 0 (`alpha = 0`) without warmup.
    ///
    /// # Example
    /// ```
    /// let s = rjax::keras::schedules::CosineDecay::new(0.1, 1000);
    /// assert_eq!(s.alpha, 0.0);
    /// ```
    pub fn new(initial_learning_rate: f64, decay_steps: usize) -> Self {
        CosineDecay {
            initial_learning_rate,
            decay_steps,
            alpha: 0.0,
            warmup_target: None,
            warmup_steps: 0,
        }
    }

    /// Sets the final rate as a fraction of the starting rate.
    ///
    /// # Example
    /// ```
    /// let s = rjax::keras::schedules::CosineDecay::new(0.1, 1000).alpha(0.1);
    /// assert_eq!(s.alpha, 0.1);
    /// ```
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Adds a linear warmup from the initial rate to `target` over `steps`
    /// steps before the decay.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::schedules::{CosineDecay, LearningRateSchedule};
    /// use rjax::Array;
    /// let s = CosineDecay::new(0.0, 10).warmup(1.0, 4);
    /// let at = |step: f64| s.call(&Array::scalar(step)).item::<f64>().unwrap();
    /// assert!((at(2.0) - 0.5).abs() < 1e-12 && (at(4.0) - 1.0).abs() < 1e-12);
    /// ```
    pub fn warmup(mut self, target: f64, steps: usize) -> Self {
        self.warmup_target = Some(target);
        self.warmup_steps = steps;
        self
    }

    /// The cosine part: decays `from` over `decay_steps` at `step`
    /// (already clamped to `decay_steps`).
    fn decay(&self, step: &Array, from: f64) -> Array {
        let fraction = step / self.decay_steps as f64;
        let cosine = (jnp::cos(&(fraction * PI)) + 1.0) * 0.5;
        (cosine * (1.0 - self.alpha) + self.alpha) * from
    }
}

impl LearningRateSchedule for CosineDecay {
    fn name(&self) -> &'static str {
        "CosineDecay"
    }

    fn call(&self, step: &Array) -> Array {
        let decay_steps = self.decay_steps as f64;
        let Some(target) = self.warmup_target else {
            let step = jnp::minimum(step, &Array::scalar_like(decay_steps, step));
            return self.decay(&step, self.initial_learning_rate);
        };
        let warmup_steps = self.warmup_steps as f64;
        let step = jnp::minimum(step, &Array::scalar_like(decay_steps + warmup_steps, step));
        let warming = &step * ((target - self.initial_learning_rate) / warmup_steps.max(1.0))
            + self.initial_learning_rate;
        let decayed = self.decay(&(&step - warmup_steps), target);
        let in_warmup = jnp::less(&step, &Array::scalar_like(warmup_steps, &step));
        jnp::where_(&in_warmup, &warming, &decayed)
    }
}

/// An optimizer's learning rate: a fixed number or a schedule.
///
/// Optimizers take `impl Into<LearningRate>`, so both `Adam::new(1e-3)` and
/// `Adam::new(ExponentialDecay::new(1e-3, 1000, 0.9))` work.
///
/// # Example
/// ```
/// use rjax::keras::schedules::{CosineDecay, LearningRate};
/// use rjax::{Array, DType};
/// let fixed = LearningRate::from(0.5);
/// let step = Array::scalar(3i32);
/// assert_eq!(fixed.at(&step, DType::F32).item::<f32>().unwrap(), 0.5);
/// let cosine = LearningRate::from(CosineDecay::new(1.0, 6));
/// assert!((cosine.at(&step, DType::F64).item::<f64>().unwrap() - 0.5).abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
pub enum LearningRate {
    /// The same rate at every step.
    Constant(f64),
    /// A rate computed from the step counter.
    Schedule(Arc<dyn LearningRateSchedule>),
}

impl LearningRate {
    /// The rate at `step` (the integer step counter of an optimizer's
    /// state), as a rank-0 array of the float `dtype`. Traceable.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::schedules::{ExponentialDecay, LearningRate};
    /// use rjax::{Array, DType};
    /// let lr = LearningRate::from(ExponentialDecay::new(1.0, 1, 0.5));
    /// assert_eq!(lr.at(&Array::scalar(2i32), DType::F32).item::<f32>().unwrap(), 0.25);
    /// ```
    pub fn at(&self, step: &Array, dtype: DType) -> Array {
        match self {
            LearningRate::Constant(rate) => {
                Array::from_scalar(rjax_ir::Scalar::from_f64(*rate, dtype))
            }
            LearningRate::Schedule(schedule) => schedule.call(&step.astype(dtype)),
        }
    }

    /// Wraps any schedule, including user-defined ones.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::schedules::{Constant, LearningRate};
    /// let lr = LearningRate::schedule(Constant(0.1));
    /// assert!(matches!(lr, LearningRate::Schedule(_)));
    /// ```
    pub fn schedule(schedule: impl LearningRateSchedule + 'static) -> Self {
        LearningRate::Schedule(Arc::new(schedule))
    }
}

impl From<f64> for LearningRate {
    fn from(rate: f64) -> Self {
        LearningRate::Constant(rate)
    }
}

impl From<f32> for LearningRate {
    fn from(rate: f32) -> Self {
        LearningRate::Constant(rate as f64)
    }
}

impl From<Arc<dyn LearningRateSchedule>> for LearningRate {
    fn from(schedule: Arc<dyn LearningRateSchedule>) -> Self {
        LearningRate::Schedule(schedule)
    }
}

macro_rules! schedule_into_learning_rate {
    ($($schedule:ty),*) => {$(
        impl From<$schedule> for LearningRate {
            fn from(schedule: $schedule) -> Self {
                LearningRate::schedule(schedule)
            }
        }
    )*};
}

schedule_into_learning_rate!(Constant, ExponentialDecay, CosineDecay);
