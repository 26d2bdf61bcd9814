//! Weight initializers: how a layer draws its weights' starting values.
//!
//! An [`Initializer`] is a pure function of a PRNG key, a shape and a dtype,
//! so the same model seed always gives the same weights. The variance
//! scaling family (`glorot_*`, `he_*`, `lecun_*`) computes fan-in and
//! fan-out as Keras does: for a kernel of shape `[.., in, out]` the fans are
//! `in · r` and `out · r`, where `r` is the product of the leading
//! (receptive-field) dimensions; a vector of length `n` has both fans `n`.
//! The normal variants draw from a normal truncated at two standard
//! deviations, with the standard deviation corrected for the truncation
//! (divided by 0.87962566103423978), like Keras.

use crate::{random, Array, DType, Error, Result};

/// How a weight's initial value is drawn.
///
/// # Example
/// ```
/// use rjax::keras::initializers::Initializer;
/// use rjax::{random, DType};
/// let w = Initializer::GlorotUniform.init(&random::key(0), &[4, 3], DType::F32);
/// let limit = (6.0f32 / 7.0).sqrt();
/// assert!(w.to_vec::<f32>().unwrap().iter().all(|v| v.abs() <= limit));
/// let b = Initializer::from_name("zeros").unwrap().init(&random::key(1), &[3], DType::F32);
/// assert_eq!(b.to_vec::<f32>().unwrap(), vec![0.0; 3]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Initializer {
    /// Uniform in `±sqrt(6 / (fan_in + fan_out))` (the `Dense` kernel
    /// default).
    GlorotUniform,
    /// Truncated normal with standard deviation `sqrt(2 / (fan_in + fan_out))`.
    GlorotNormal,
    /// Truncated normal with standard deviation `sqrt(2 / fan_in)`.
    HeNormal,
    /// Uniform in `±sqrt(6 / fan_in)`.
    HeUniform,
    /// Truncated normal with standard deviation `sqrt(1 / fan_in)`.
    LecunNormal,
    /// Uniform in `±sqrt(3 / fan_in)`.
    LecunUniform,
    /// All zeros (the bias default).
    Zeros,
    /// All ones.
    Ones,
    /// Every element equal to the value.
    Constant(f64),
    /// Normal with the given mean and standard deviation (Keras' defaults
    /// are 0 and 0.05).
    RandomNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        stddev: f64,
    },
    /// Uniform in `[minval, maxval)` (Keras' defaults are ±0.05).
    RandomUniform {
        /// Lower bound.
        minval: f64,
        /// Upper bound.
        maxval: f64,
    },
    /// Normal with the given mean and standard deviation, truncated at two
    /// standard deviations.
    TruncatedNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        stddev: f64,
    },
}

/// The standard deviation of a standard normal truncated to `[-2, 2]`.
const TRUNCATION_STDDEV: f64 = 0.879_625_661_034_239_8;

/// The initializers' Keras names, as [`Initializer::from_name`] accepts them.
const NAMES: [&str; 12] = [
    "glorot_uniform",
    "glorot_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "zeros",
    "ones",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "constant",
];

impl Initializer {
    /// The initializer with Keras name `name` (`"glorot_uniform"`,
    /// `"he_normal"`, `"zeros"`, ...; parameters take Keras' defaults:
    /// `constant` is 0, `random_normal` has standard deviation 0.05).
    ///
    /// # Errors
    /// `Error::Op` naming the known initializers when `name` is unknown.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::initializers::Initializer;
    /// assert_eq!(Initializer::from_name("he_normal").unwrap(), Initializer::HeNormal);
    /// assert!(Initializer::from_name("he_nromal").is_err());
    /// ```
    pub fn from_name(name: &str) -> Result<Initializer> {
        Ok(match name {
            "glorot_uniform" => Initializer::GlorotUniform,
            "glorot_normal" => Initializer::GlorotNormal,
            "he_normal" => Initializer::HeNormal,
            "he_uniform" => Initializer::HeUniform,
            "lecun_normal" => Initializer::LecunNormal,
            "lecun_uniform" => Initializer::LecunUniform,
            "zeros" => Initializer::Zeros,
            "ones" => Initializer::Ones,
            "constant" => Initializer::Constant(0.0),
            "random_normal" => Initializer::RandomNormal {
                mean: 0.0,
                stddev: 0.05,
            },
            "random_uniform" => Initializer::RandomUniform {
                minval: -0.05,
                maxval: 0.05,
            },
            "truncated_normal" => Initializer::TruncatedNormal {
                mean: 0.0,
                stddev: 0.05,
            },
            _ => {
                return Err(Error::op(
                    "initializer",
                    format!("unknown initializer '{name}' (known: {})", NAMES.join(", ")),
                ))
            }
        })
    }

    /// A value of `shape` and `dtype` drawn with `key`.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::initializers::Initializer;
    /// use rjax::{random, DType};
    /// let c = Initializer::Constant(0.5).init(&random::key(0), &[2], DType::F32);
    /// assert_eq!(c.to_vec::<f32>().unwrap(), vec![0.5, 0.5]);
    /// ```
    pub fn init(&self, key: &Array, shape: &[usize], dtype: DType) -> Array {
        let (fan_in, fan_out) = fans(shape);
        let uniform = |limit: f64| random::uniform(key, shape, dtype, -limit, limit);
        let truncated = |mean: f64, stddev: f64| {
            random::truncated_normal(key, -2.0, 2.0, shape, dtype) * stddev + mean
        };
        match *self {
            Initializer::GlorotUniform => uniform((6.0 / (fan_in + fan_out)).sqrt()),
            Initializer::GlorotNormal => {
                truncated(0.0, (2.0 / (fan_in + fan_out)).sqrt() / TRUNCATION_STDDEV)
            }
            Initializer::HeNormal => truncated(0.0, (2.0 / fan_in).sqrt() / TRUNCATION_STDDEV),
            Initializer::HeUniform => uniform((6.0 / fan_in).sqrt()),
            Initializer::LecunNormal => truncated(0.0, (1.0 / fan_in).sqrt() / TRUNCATION_STDDEV),
            Initializer::LecunUniform => uniform((3.0 / fan_in).sqrt()),
            Initializer::Zeros => crate::jnp::zeros(shape, dtype),
            Initializer::Ones => crate::jnp::ones(shape, dtype),
            Initializer::Constant(value) => crate::jnp::full(shape, value, dtype),
            Initializer::RandomNormal { mean, stddev } => {
                random::normal(key, shape, dtype) * stddev + mean
            }
            Initializer::RandomUniform { minval, maxval } => {
                random::uniform(key, shape, dtype, minval, maxval)
            }
            Initializer::TruncatedNormal { mean, stddev } => truncated(mean, stddev),
        }
    }
}

/// Keras' `compute_fans`: `(fan_in, fan_out)` of a weight of `shape`, at
/// least 1 each.
///
/// # Example
/// ```
/// use rjax::keras::initializers::fans;
/// assert_eq!(fans(&[64, 10]), (64.0, 10.0));
/// assert_eq!(fans(&[3, 3, 8, 16]), (72.0, 144.0));
/// ```
pub fn fans(shape: &[usize]) -> (f64, f64) {
    let (fan_in, fan_out) = match shape {
        [] => (1, 1),
        [n] => (*n, *n),
        [lead @ .., fan_in, fan_out] => {
            let receptive: usize = lead.iter().product();
            (fan_in * receptive, fan_out * receptive)
        }
    };
    (fan_in.max(1) as f64, fan_out.max(1) as f64)
}
