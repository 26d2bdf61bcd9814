//! The samplers. Each takes a key and draws from the key's own keystream
//! only, as the module docs of [`random`](super) define; each is written
//! with primitives, so it runs eagerly, stages under `jit` and compiles.

use super::{check_key, random_bits, sort};
use crate::array::Array;
use crate::jnp::{self, fallible, normalize_axis};
use crate::lax;
use rjax_ir::{DType, Error, Result, Scalar, ShapeDisplay};
use std::f64::consts::SQRT_2;

// ---- helpers ------------------------------------------------------------------

/// A rank-0 constant of `dtype`.
fn lit(value: f64, dtype: DType) -> Array {
    Array::from_scalar(Scalar::from_f64(value, dtype))
}

/// Checks that a sampler's dtype is a float.
fn check_float(op: &str, dtype: DType) -> Result<()> {
    match dtype {
        DType::F32 | DType::F64 => Ok(()),
        other => Err(Error::op(
            op,
            format!("dtype must be f32 or f64, got {other}"),
        )),
    }
}

/// `[2] ++ shape`: the shape of a two-word-per-element draw.
fn doubled(shape: &[usize]) -> Vec<usize> {
    std::iter::once(2).chain(shape.iter().copied()).collect()
}

/// `w[i]` for `w` of shape `[2] ++ shape`, with shape `shape`.
fn row(w: &Array, i: usize) -> Result<Array> {
    let mut start = vec![0; w.ndim()];
    let mut limit = w.shape().to_vec();
    start[0] = i;
    limit[0] = i + 1;
    lax::try_reshape(&lax::try_slice(w, &start, &limit, &[])?, &w.shape()[1..])
}

/// The mantissa integers `m` (as floats of `dtype`) and their width `p`:
/// the top 23 bits of one word (f32) or 52 bits of two words (f64).
fn mantissas(key: &Array, shape: &[usize], dtype: DType) -> Result<(Array, i32)> {
    let convert = lax::try_convert_element_type;
    if dtype == DType::F32 {
        let w = random_bits(key, shape)?;
        let m = lax::try_div(&w, &Array::scalar(1u32 << 9))?;
        return Ok((convert(&m, DType::F32)?, 23));
    }
    let w = random_bits(key, &doubled(shape))?;
    let hi = convert(&row(&w, 0)?, DType::F64)?;
    let lo = lax::try_div(&row(&w, 1)?, &Array::scalar(1u32 << 12))?;
    let hi = lax::try_mul(&hi, &lit(2f64.powi(20), DType::F64))?;
    Ok((lax::try_add(&hi, &convert(&lo, DType::F64)?)?, 52))
}

/// `u = m·2^-p`, uniform on `[0, 1)` (exact).
fn unit(key: &Array, shape: &[usize], dtype: DType) -> Result<Array> {
    let (m, p) = mantissas(key, shape, dtype)?;
    lax::try_mul(&m, &lit(2f64.powi(-p), dtype))
}

/// `o = (m + ½)·2^-p`, uniform on the open `(0, 1)` (exact).
fn open_unit(key: &Array, shape: &[usize], dtype: DType) -> Result<Array> {
    let (m, p) = mantissas(key, shape, dtype)?;
    let m = lax::try_add(&m, &lit(0.5, dtype))?;
    lax::try_mul(&m, &lit(2f64.powi(-p), dtype))
}

/// `s = 2o − 1`, uniform on `(−1, 1)` and symmetric about 0 (exact).
fn symmetric_unit(key: &Array, shape: &[usize], dtype: DType) -> Result<Array> {
    let (m, p) = mantissas(key, shape, dtype)?;
    let m = lax::try_add(&m, &lit(0.5, dtype))?;
    let s = lax::try_mul(&m, &lit(2f64.powi(1 - p), dtype))?;
    lax::try_sub(&s, &lit(1.0, dtype))
}

/// `value` rounded to `dtype`, as `f64`.
fn in_dtype(value: f64, dtype: DType) -> f64 {
    if dtype == DType::F32 {
        value as f32 as f64
    } else {
        value
    }
}

/// The largest value of `dtype` below `value` (which is representable).
fn next_down(value: f64, dtype: DType) -> f64 {
    if dtype == DType::F32 {
        (value as f32).next_down() as f64
    } else {
        value.next_down()
    }
}

/// The smallest value of `dtype` above `value` (which is representable).
fn next_up(value: f64, dtype: DType) -> f64 {
    if dtype == DType::F32 {
        (value as f32).next_up() as f64
    } else {
        value.next_up()
    }
}

/// `x` clamped into `[low, high]`.
fn clamp(x: &Array, low: f64, high: f64) -> Result<Array> {
    let dtype = x.dtype();
    lax::try_min(&lax::try_max(x, &lit(low, dtype))?, &lit(high, dtype))
}

// ---- erfinv -------------------------------------------------------------------
//
// The coefficients are Giles' published ones, digit for digit, so that they
// can be checked against the paper's code (hence the allowed excess
// precision for f64).

/// Giles' single-precision erfinv, central region `w < 5`, in `w − 2.5`.
#[allow(clippy::excessive_precision)]
const ERFINV_F32_CENTRAL: [f64; 9] = [
    2.81022636e-08,
    3.43273939e-07,
    -3.5233877e-06,
    -4.39150654e-06,
    0.00021858087,
    -0.00125372503,
    -0.00417768164,
    0.246640727,
    1.50140941,
];
/// Giles' single-precision erfinv, tail `w >= 5`, in `sqrt(w) − 3`.
#[allow(clippy::excessive_precision)]
const ERFINV_F32_TAIL: [f64; 9] = [
    -0.000200214257,
    0.000100950558,
    0.00134934322,
    -0.00367342844,
    0.00573950773,
    -0.0076224613,
    0.00943887047,
    1.00167406,
    2.83297682,
];
/// Giles' double-precision erfinv, `w < 6.25`, in `w − 3.125`.
#[allow(clippy::excessive_precision)]
const ERFINV_F64_CENTRAL: [f64; 23] = [
    -3.6444120640178196996e-21,
    -1.685059138182016589e-19,
    1.2858480715256400167e-18,
    1.115787767802518096e-17,
    -1.333171662854620906e-16,
    2.0972767875968561637e-17,
    6.6376381343583238325e-15,
    -4.0545662729752068639e-14,
    -8.1519341976054721522e-14,
    2.6335093153082322977e-12,
    -1.2975133253453532498e-11,
    -5.4154120542946279317e-11,
    1.051212273321532285e-09,
    -4.1126339803469836976e-09,
    -2.9070369957882005086e-08,
    4.2347877827932403518e-07,
    -1.3654692000834678645e-06,
    -1.3882523362786468719e-05,
    0.0001867342080340571352,
    -0.00074070253416626697512,
    -0.0060336708714301490533,
    0.24015818242558961693,
    1.6536545626831027356,
];
/// Giles' double-precision erfinv, `6.25 <= w < 16`, in `sqrt(w) − 3.25`.
#[allow(clippy::excessive_precision)]
const ERFINV_F64_MIDDLE: [f64; 19] = [
    2.2137376921775787049e-09,
    9.0756561938885390979e-08,
    -2.7517406297064545428e-07,
    1.8239629214389227755e-08,
    1.5027403968909827627e-06,
    -4.013867526981545969e-06,
    2.9234449089955446044e-06,
    1.2475304481671778723e-05,
    -4.7318229009055733981e-05,
    6.8284851459573175448e-05,
    2.4031110387097893999e-05,
    -0.0003550375203628474796,
    0.00095328937973738049703,
    -0.0016882755560235047313,
    0.0024914420961078508066,
    -0.0037512085075692412107,
    0.005370914553590063617,
    1.0052589676941592334,
    3.0838856104922207635,
];
/// Giles' double-precision erfinv, `w >= 16`, in `sqrt(w) − 5`.
#[allow(clippy::excessive_precision)]
const ERFINV_F64_TAIL: [f64; 17] = [
    -2.7109920616438573243e-11,
    -2.5556418169965252055e-10,
    1.5076572693500548083e-09,
    -3.7894654401267369937e-09,
    7.6157012080783393804e-09,
    -1.4960026627149240478e-08,
    2.9147953450901080826e-08,
    -6.7711997758452339498e-08,
    2.2900482228026654717e-07,
    -9.9298272942317002539e-07,
    4.5260625972231537039e-06,
    -1.9681778105531670567e-05,
    7.5995277030017761139e-05,
    -0.00021503011930044477347,
    -0.00013871931833623122026,
    1.0103004648645343977,
    4.8499064014085844221,
];

/// `c[0]·t^(k-1) + .. + c[k-1]` by Horner's rule, `t` shifted by `shift`.
fn horner(t: &Array, shift: f64, coeffs: &[f64]) -> Result<Array> {
    let dtype = t.dtype();
    let t = lax::try_sub(t, &lit(shift, dtype))?;
    let mut p = lit(coeffs[0], dtype);
    for &c in &coeffs[1..] {
        p = lax::try_add(&lax::try_mul(&p, &t)?, &lit(c, dtype))?;
    }
    Ok(p)
}

/// The inverse error function on `[−1, 1]` (±∞ at ±1), as M. Giles,
/// "Approximating the erfinv function" (GPU Computing Gems 2, 2011):
/// `w = −log((1 − x)(1 + x))`, then a polynomial in `w` or `sqrt(w)` per
/// region, times `x`: the single-precision coefficients for f32, the
/// double-precision ones for f64. Checked through `erf` in
/// `tests/random.rs`: over normal draws, `|erf(erfinv(s)) − s|` stays below
/// `5e-7` (f32, including the rounding of the result) and `1.5e-15` (f64).
/// Every region is evaluated and the right one selected, so the function
/// is branch-free.
fn erf_inv(x: &Array) -> Result<Array> {
    let dtype = x.dtype();
    let one = lit(1.0, dtype);
    let product = lax::try_mul(&lax::try_sub(&one, x)?, &lax::try_add(&one, x)?)?;
    let w = lax::try_neg(&lax::try_log(&product)?)?;
    let root = lax::try_sqrt(&w)?;
    let below = |bound: f64| lax::try_lt(&w, &lit(bound, dtype));
    let p = if dtype == DType::F32 {
        let central = horner(&w, 2.5, &ERFINV_F32_CENTRAL)?;
        let tail = horner(&root, 3.0, &ERFINV_F32_TAIL)?;
        lax::try_select(&below(5.0)?, &central, &tail)?
    } else {
        let central = horner(&w, 3.125, &ERFINV_F64_CENTRAL)?;
        let middle = horner(&root, 3.25, &ERFINV_F64_MIDDLE)?;
        let tail = horner(&root, 5.0, &ERFINV_F64_TAIL)?;
        let outer = lax::try_select(&below(16.0)?, &middle, &tail)?;
        lax::try_select(&below(6.25)?, &central, &outer)?
    };
    let y = lax::try_mul(&p, x)?;
    // At ±1 the polynomials see w = ∞; the answer is ±∞.
    let edge = lax::try_eq(&lax::try_abs(x)?, &one)?;
    let infinite = lax::try_mul(x, &lit(f64::INFINITY, dtype))?;
    lax::try_select(&edge, &infinite, &y)
}

// ---- continuous ----------------------------------------------------------------

fallible! {
    /// Uniform values on `[minval, maxval)` of `shape` and float `dtype`:
    /// `minval + (maxval − minval)·u` with `u` the top 23 (f32) or 52 (f64)
    /// random bits as a fraction, rounded and clamped into the interval.
    ///
    /// # Example
    /// ```
    /// use rjax::{random, DType};
    /// let u = random::uniform(&random::key(0), &[1000], DType::F64, 2.0, 3.0);
    /// assert!(u.to_vec::<f64>().unwrap().iter().all(|v| (2.0..3.0).contains(v)));
    /// ```
    ///
    /// # Errors
    /// A bad key, a dtype other than f32/f64, or bounds that are not finite
    /// with `minval < maxval` in `dtype`.
    pub fn uniform / try_uniform(key: &Array, shape: &[usize], dtype: DType, minval: f64, maxval: f64) -> Array {
        check_key("random.uniform", key)?;
        check_float("random.uniform", dtype)?;
        let (low, high) = (in_dtype(minval, dtype), in_dtype(maxval, dtype));
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(Error::op(
                "random.uniform",
                format!(
                    "need finite minval < maxval in {dtype}, got minval={minval}, maxval={maxval}"
                ),
            ));
        }
        let u = unit(key, shape, dtype)?;
        let scaled = lax::try_mul(&u, &lit(high - low, dtype))?;
        let x = lax::try_add(&scaled, &lit(low, dtype))?;
        clamp(&x, low, next_down(high, dtype))
    }
}

fallible! {
    /// Standard normal values of `shape` and float `dtype`, by the inverse
    /// CDF: `√2·erfinv(s)` with `s` uniform on `(−1, 1)` (as JAX does).
    ///
    /// # Example
    /// ```
    /// use rjax::{random, DType};
    /// let z = random::normal(&random::key(0), &[10_000], DType::F32);
    /// let mean = z.mean().item::<f32>().unwrap();
    /// assert!(mean.abs() < 0.05);
    /// ```
    ///
    /// # Errors
    /// A bad key, or a dtype other than f32/f64.
    pub fn normal / try_normal(key: &Array, shape: &[usize], dtype: DType) -> Array {
        check_key("random.normal", key)?;
        check_float("random.normal", dtype)?;
        let s = symmetric_unit(key, shape, dtype)?;
        lax::try_mul(&erf_inv(&s)?, &lit(SQRT_2, dtype))
    }
}

fallible! {
    /// Standard normal values conditioned on `lower < x < upper` (either
    /// bound may be infinite), by the inverse CDF: with `a = erf(lower/√2)`
    /// and `b = erf(upper/√2)`, `√2·erfinv(a + (b − a)·o)` for `o` uniform
    /// on `(0, 1)`, clamped into the open interval (as JAX does).
    ///
    /// # Example
    /// ```
    /// use rjax::{random, DType};
    /// let t = random::truncated_normal(&random::key(0), -1.0, 2.0, &[1000], DType::F32);
    /// assert!(t.to_vec::<f32>().unwrap().iter().all(|&v| v > -1.0 && v < 2.0));
    /// ```
    ///
    /// # Errors
    /// A bad key, a dtype other than f32/f64, or not `lower < upper`.
    pub fn truncated_normal / try_truncated_normal(key: &Array, lower: f64, upper: f64, shape: &[usize], dtype: DType) -> Array {
        check_key("random.truncated_normal", key)?;
        check_float("random.truncated_normal", dtype)?;
        let (low, high) = (in_dtype(lower, dtype), in_dtype(upper, dtype));
        if low.is_nan() || high.is_nan() || low >= high {
            return Err(Error::op(
                "random.truncated_normal",
                format!("need lower < upper in {dtype}, got lower={lower}, upper={upper}"),
            ));
        }
        let a = lax::try_erf(&lit(low / SQRT_2, dtype))?;
        let b = lax::try_erf(&lit(high / SQRT_2, dtype))?;
        let o = open_unit(key, shape, dtype)?;
        let u = lax::try_add(&a, &lax::try_mul(&lax::try_sub(&b, &a)?, &o)?)?;
        let z = lax::try_mul(&erf_inv(&u)?, &lit(SQRT_2, dtype))?;
        clamp(&z, next_up(low, dtype), next_down(high, dtype))
    }
}

fallible! {
    /// Standard Gumbel values of `shape` and float `dtype`:
    /// `−log(−log(o))` for `o` uniform on `(0, 1)`.
    ///
    /// # Example
    /// ```
    /// use rjax::{random, DType};
    /// let g = random::gumbel(&random::key(0), &[3], DType::F32);
    /// assert!(g.to_vec::<f32>().unwrap().iter().all(|v| v.is_finite()));
    /// ```
    ///
    /// # Errors
    /// A bad key, or a dtype other than f32/f64.
    pub fn gumbel / try_gumbel(key: &Array, shape: &[usize], dtype: DType) -> Array {
        check_key("random.gumbel", key)?;
        check_float("random.gumbel", dtype)?;
        let o = open_unit(key, shape, dtype)?;
        lax::try_neg(&lax::try_log(&lax::try_neg(&lax::try_log(&o)?)?)?)
    }
}

// ---- discrete ------------------------------------------------------------------

/// A success probability for [`bernoulli`]: a Rust float, or a float array
/// that broadcasts to the output shape.
#[derive(Clone, Debug)]
pub enum Probability {
    /// One probability for every element (compared in f32).
    Scalar(f64),
    /// One probability per element (compared in the array's dtype).
    Array(Array),
}

impl From<f64> for Probability {
    fn from(p: f64) -> Probability {
        Probability::Scalar(p)
    }
}

impl From<f32> for Probability {
    fn from(p: f32) -> Probability {
        Probability::Scalar(p as f64)
    }
}

impl From<&Array> for Probability {
    fn from(p: &Array) -> Probability {
        Probability::Array(p.clone())
    }
}

impl From<Array> for Probability {
    fn from(p: Array) -> Probability {
        Probability::Array(p)
    }
}

fallible! {
    /// Booleans of `shape` that are true with probability `p`: `u < p` for
    /// `u` uniform on `[0, 1)` (f32 for a Rust `p`, so the probability is
    /// `p` rounded up to a multiple of `2^-23`; an array `p` of dtype f64
    /// compares in f64).
    ///
    /// # Example
    /// ```
    /// use rjax::random;
    /// let b = random::bernoulli(&random::key(0), 0.25, &[8]);
    /// assert_eq!(b.dtype(), rjax::DType::Bool);
    /// ```
    ///
    /// # Errors
    /// A bad key, an integer `p` array, or one that does not broadcast to
    /// `shape`.
    pub fn bernoulli / try_bernoulli<P: Into<Probability>>(key: &Array, p: P, shape: &[usize]) -> Array {
        check_key("random.bernoulli", key)?;
        let p = match p.into() {
            Probability::Scalar(p) => lit(p, DType::F32),
            Probability::Array(p) => {
                check_float("random.bernoulli", p.dtype())
                    .map_err(|_| {
                        let msg = format!("p must be a float array, got {}", p.dtype());
                        Error::op("random.bernoulli", msg)
                    })?;
                jnp::broadcast_to_shape("random.bernoulli", &p, shape)?
            }
        };
        let u = unit(key, shape, p.dtype())?;
        lax::try_lt(&u, &p)
    }
}

fallible! {
    /// Integers uniform on `[minval, maxval)` of `shape` and `dtype` (i32 or
    /// u32). Each value is `minval + (hi·2^32 + lo) mod (maxval − minval)`
    /// for two random words `hi`, `lo`, computed exactly, so the bias is
    /// below `2^-32` relative for any span.
    ///
    /// # Example
    /// ```
    /// use rjax::{random, DType};
    /// let d = random::randint(&random::key(0), &[100], 1, 7, DType::I32);
    /// assert!(d.to_vec::<i32>().unwrap().iter().all(|v| (1..7).contains(v)));
    /// ```
    ///
    /// # Errors
    /// A bad key, a dtype other than i32/u32, or bounds outside the dtype or
    /// not `minval < maxval`.
    pub fn randint / try_randint(key: &Array, shape: &[usize], minval: i64, maxval: i64, dtype: DType) -> Array {
        check_key("random.randint", key)?;
        let (lowest, limit) = match dtype {
            DType::I32 => (i32::MIN as i64, 1i64 << 31),
            DType::U32 => (0, 1i64 << 32),
            other => {
                let msg = format!("dtype must be i32 or u32, got {other}");
                return Err(Error::op("random.randint", msg));
            }
        };
        if !(lowest <= minval && minval < maxval && maxval <= limit) {
            return Err(Error::op(
                "random.randint",
                format!(
                    "need {lowest} <= minval < maxval <= {limit} for {dtype}, \
                     got minval={minval}, maxval={maxval}"
                ),
            ));
        }
        let span = lit((maxval - minval) as f64, DType::F64);
        let w = random_bits(key, &doubled(shape))?;
        let (hi, lo) = (row(&w, 0)?, row(&w, 1)?);
        // (hi·2^32 + lo) mod span, sixteen bits of lo at a time: every
        // intermediate is an integer below 2^48, exact in f64, and f64 `rem`
        // is exact.
        let f64s = |x: &Array| lax::try_convert_element_type(x, DType::F64);
        let radix = Array::scalar(1u32 << 16);
        let lo_high = f64s(&lax::try_div(&lo, &radix)?)?;
        let lo_low = f64s(&lax::try_rem(&lo, &radix)?)?;
        let shift = lit(65536.0, DType::F64);
        let mut r = lax::try_rem(&f64s(&hi)?, &span)?;
        for digit in [lo_high, lo_low] {
            r = lax::try_rem(&lax::try_add(&lax::try_mul(&r, &shift)?, &digit)?, &span)?;
        }
        let r = lax::try_add(&r, &lit(minval as f64, DType::F64))?;
        lax::try_convert_element_type(&r, dtype)
    }
}

fallible! {
    /// Class indices (i32) drawn from the unnormalised log-probabilities
    /// `logits` along `axis`, by the Gumbel-max trick: `argmax(logits +
    /// gumbel)`. The result has `shape`, by default the shape of `logits`
    /// without `axis`; a given `shape` must end with a shape that the
    /// batch shape of `logits` broadcasts to (JAX's rule).
    ///
    /// # Example
    /// ```
    /// use rjax::{random, Array};
    /// let logits = Array::from_vec(vec![0.0f32, 0.0, -1e9], &[3]).unwrap();
    /// let c = random::categorical(&random::key(0), &logits, -1, Some(&[50]));
    /// assert!(c.to_vec::<i32>().unwrap().iter().all(|&i| i == 0 || i == 1));
    /// ```
    ///
    /// # Errors
    /// A bad key, integer or rank-0 `logits`, an out-of-range axis, or a
    /// `shape` that the batch shape does not broadcast to.
    pub fn categorical / try_categorical(key: &Array, logits: &Array, axis: isize, shape: Option<&[usize]>) -> Array {
        const OP: &str = "random.categorical";
        check_key(OP, key)?;
        check_float(OP, logits.dtype())
            .map_err(|_| Error::op(OP, format!("logits must be floats, got {}", logits.dtype())))?;
        if logits.ndim() == 0 {
            return Err(Error::op(OP, "logits must have a class axis, got a rank-0 array"));
        }
        let axis = normalize_axis(OP, axis, logits.ndim())?;
        let mut batch = logits.shape().to_vec();
        let classes = batch.remove(axis);
        let out: Vec<usize> = shape.map_or_else(|| batch.clone(), <[usize]>::to_vec);
        let prefix = out.len().checked_sub(batch.len()).ok_or_else(|| {
            let (o, b) = (ShapeDisplay(&out), ShapeDisplay(&batch));
            Error::op(OP, format!("shape {o} has fewer dimensions than the batch shape {b}"))
        })?;
        let suffix = &out[prefix..];
        if batch.iter().zip(suffix).any(|(&b, &s)| b != s && b != 1) {
            let (b, o) = (ShapeDisplay(&batch), ShapeDisplay(&out));
            return Err(Error::op(OP, format!("batch shape {b} does not broadcast to shape {o}")));
        }
        let mut noise_shape = out.clone();
        noise_shape.insert(prefix + axis, classes);
        let noise = try_gumbel(key, &noise_shape, logits.dtype())?;
        let perturbed = jnp::try_add(&noise, logits)?;
        lax::try_argmax(&perturbed, prefix + axis, DType::I32)
    }
}

// ---- permutations ----------------------------------------------------------------

fallible! {
    /// A random permutation of `0..n` (i32): the stable argsort of the
    /// 64-bit random keys `hi·2^32 + lo` drawn with `bits(key, [2, n])`.
    /// Built as a bitonic sorting network of primitives (no sort primitive
    /// exists): `O(n log² n)` work, `O(log² n)` stages.
    ///
    /// # Example
    /// ```
    /// use rjax::random;
    /// let mut p = random::permutation(&random::key(0), 5).to_vec::<i32>().unwrap();
    /// p.sort();
    /// assert_eq!(p, vec![0, 1, 2, 3, 4]);
    /// ```
    ///
    /// # Errors
    /// A bad key, or `n` beyond `i32` indices.
    pub fn permutation / try_permutation(key: &Array, n: usize) -> Array {
        check_key("random.permutation", key)?;
        if i32::try_from(n).is_err() {
            let msg = format!("n = {n} does not fit i32 indices");
            return Err(Error::op("random.permutation", msg));
        }
        if n <= 1 {
            return lax::try_iota(DType::I32, &[n], 0);
        }
        let w = random_bits(key, &[2, n])?;
        let lane = |i: usize| lax::try_reshape(&row(&w, i)?, &[1, n]);
        let (hi, lo) = (lane(0)?, lane(1)?);
        let (index, _) = sort::sort_lanes(&hi, &lo, &[])?;
        lax::try_reshape(&index, &[n])
    }
}

fallible! {
    /// `x` with its slices along `axis` reordered by
    /// [`permutation`]`(key, x.shape[axis])` (JAX's `permutation(key, x,
    /// axis)`).
    ///
    /// # Example
    /// ```
    /// use rjax::{random, Array};
    /// let x = Array::from_vec((0..6).collect::<Vec<i32>>(), &[3, 2]).unwrap();
    /// let y = random::shuffle(&random::key(0), &x, 0);
    /// let rows = y.to_vec::<i32>().unwrap();
    /// assert!(rows.chunks(2).all(|r| r[1] == r[0] + 1)); // rows stay whole
    /// ```
    ///
    /// # Errors
    /// A bad key, a rank-0 `x` or an out-of-range axis.
    pub fn shuffle / try_shuffle(key: &Array, x: &Array, axis: isize) -> Array {
        let axis = normalize_axis("random.shuffle", axis, x.ndim())?;
        let perm = try_permutation(key, x.shape()[axis])
            .map_err(|e| rename(e, "random.permutation", "random.shuffle"))?;
        lax::try_gather(x, &perm, axis)
    }
}

fallible! {
    /// `x` with every lane along `axis` shuffled independently (JAX's
    /// `permutation(key, x, axis, independent=True)`): each lane is sorted
    /// by its own 64-bit keys from `bits(key, [2] ++ x.shape)`.
    ///
    /// # Example
    /// ```
    /// use rjax::{random, Array};
    /// let x = Array::from_vec((0..8).collect::<Vec<i32>>(), &[2, 4]).unwrap();
    /// let y = random::shuffle_independent(&random::key(0), &x, 1).to_vec::<i32>().unwrap();
    /// let mut first = y[..4].to_vec();
    /// first.sort();
    /// assert_eq!(first, vec![0, 1, 2, 3]); // each row keeps its own elements
    /// ```
    ///
    /// # Errors
    /// A bad key, a rank-0 `x` or an out-of-range axis.
    pub fn shuffle_independent / try_shuffle_independent(key: &Array, x: &Array, axis: isize) -> Array {
        const OP: &str = "random.shuffle_independent";
        check_key(OP, key)?;
        let axis = normalize_axis(OP, axis, x.ndim())?;
        let n = x.shape()[axis];
        if n <= 1 {
            return Ok(x.clone());
        }
        let w = random_bits(key, &doubled(x.shape()))?;
        let last = x.ndim() as isize - 1;
        let moved = |a: &Array| jnp::try_moveaxis(a, axis as isize, last);
        let lanes = x.size() / n;
        let flat = |a: &Array| lax::try_reshape(&moved(a)?, &[lanes, n]);
        let (hi, lo) = (flat(&row(&w, 0)?)?, flat(&row(&w, 1)?)?);
        let (_, mut sorted) = sort::sort_lanes(&hi, &lo, &[flat(x)?])?;
        let sorted = sorted.pop().expect("internal error: sort lost its payload");
        let moved_shape = moved(x)?.shape().to_vec();
        jnp::try_moveaxis(&lax::try_reshape(&sorted, &moved_shape)?, last, axis as isize)
    }
}

/// `e` with the operation name `from` replaced by `to`.
fn rename(e: Error, from: &str, to: &str) -> Error {
    match e {
        Error::Op { op, message } if op == from => Error::op(to, message),
        other => other,
    }
}

// ---- multivariate ---------------------------------------------------------------

/// The lower Cholesky factor of `cov` (`[d, d]`, reading its lower
/// triangle), column by column: column `j` is `cov[:, j] − Σ_{k<j} L[:, k]
/// L[j, k]`, divided by the square root of its `j`-th entry, with zeros
/// above the diagonal. `O(d²)` small operations; NaN where `cov` is not
/// positive definite.
fn cholesky(cov: &Array) -> Result<Array> {
    let d = cov.shape()[0];
    let dtype = cov.dtype();
    if d == 0 {
        return Ok(cov.clone());
    }
    let entry =
        |v: &Array, j: usize| lax::try_reshape(&lax::try_slice(v, &[j], &[j + 1], &[])?, &[]);
    let mut cols: Vec<Array> = Vec::with_capacity(d);
    for j in 0..d {
        let mut col = lax::try_reshape(&lax::try_slice(cov, &[0, j], &[d, j + 1], &[])?, &[d])?;
        for prev in &cols {
            col = lax::try_sub(&col, &lax::try_mul(prev, &entry(prev, j)?)?)?;
        }
        let scaled = lax::try_div(&col, &lax::try_sqrt(&entry(&col, j)?)?)?;
        let below = Array::from_vec((0..d).map(|i| i >= j).collect(), &[d])?;
        cols.push(lax::try_select(&below, &scaled, &lit(0.0, dtype))?);
    }
    jnp::try_stack(&cols, 1)
}

fallible! {
    /// Samples of a multivariate normal with `mean` (`[d]`) and covariance
    /// `cov` (`[d, d]`, symmetric positive definite; its lower triangle is
    /// read), of shape `shape ++ [d]` and float `dtype`: `mean + L·z` with
    /// `z` standard normal and `L` the Cholesky factor of `cov`, built from
    /// primitives (`O(d²)` operations, for small `d`). A covariance that is
    /// not positive definite gives NaN, as JAX's Cholesky method does.
    /// Gradients with respect to `mean` and `cov` are the
    /// reparameterisation gradients.
    ///
    /// # Example
    /// ```
    /// use rjax::{random, Array, DType};
    /// let mean = Array::from_vec(vec![1.0f64, -1.0], &[2]).unwrap();
    /// let cov = Array::from_vec(vec![2.0f64, 0.5, 0.5, 1.0], &[2, 2]).unwrap();
    /// let x = random::multivariate_normal(&random::key(0), &mean, &cov, &[5], DType::F64);
    /// assert_eq!(x.shape(), &[5, 2]);
    /// ```
    ///
    /// # Errors
    /// A bad key, a dtype other than f32/f64, or shapes other than `[d]`
    /// and `[d, d]`.
    pub fn multivariate_normal / try_multivariate_normal(key: &Array, mean: &Array, cov: &Array, shape: &[usize], dtype: DType) -> Array {
        const OP: &str = "random.multivariate_normal";
        check_key(OP, key)?;
        check_float(OP, dtype)?;
        let d = mean.shape().first().copied().unwrap_or(0);
        if mean.ndim() != 1 || cov.shape() != [d, d] {
            return Err(Error::op(
                OP,
                format!(
                    "need mean [d] and cov [d,d], got {} and {}",
                    ShapeDisplay(mean.shape()),
                    ShapeDisplay(cov.shape())
                ),
            ));
        }
        let factor = cholesky(&jnp::convert(cov, dtype)?)?;
        let mut z_shape = shape.to_vec();
        z_shape.push(d);
        let z = try_normal(key, &z_shape, dtype)?;
        // y[.., i] = Σ_k z[.., k] L[i, k]
        let y = lax::try_dot_general(&z, &factor, &[shape.len()], &[1], &[], &[])?;
        let mean = jnp::convert(mean, dtype)?;
        lax::try_add(&y, &lax::try_broadcast_in_dim(&mean, &z_shape, &[shape.len()])?)
    }
}
