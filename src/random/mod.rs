//! `random`: explicit, splittable PRNG keys and samplers (JAX's
//! `jax.random`), on the ChaCha20 stream cipher.
//!
//! Randomness is a pure function of a **key**. A key is an ordinary
//! [`Array`] of dtype `u32` and shape `[8]` (a batch of `n` keys, as
//! [`split`] returns it, is `u32[n, 8]`), so keys flow through `jit`,
//! `grad` and every tree like any other leaf. The same key always gives the
//! same numbers — eagerly, under `jit`, and (once they exist) on every
//! backend — and a key must never be used twice: [`split`] or [`fold_in`] it
//! to get fresh ones.
//!
//! ```
//! use rjax::prelude::*;
//! let key = random::key(0);
//! let (k1, k2) = random::split2(&key);
//! let x = random::normal(&k1, &[2, 3], DType::F32);
//! let w = random::uniform(&k2, &[3], DType::F32, -1.0, 1.0);
//! assert_eq!(x.shape(), &[2, 3]);
//! assert!(w.to_vec::<f32>().unwrap().iter().all(|v| (-1.0..1.0).contains(v)));
//! // A batch of keys is indexed like any array; one key per step:
//! let keys = random::split(&key, 4);
//! let steps: Vec<Array> = (0..4).map(|i| random::bits(&keys.get(i), &[2])).collect();
//! assert_eq!(steps.len(), 4);
//! ```
//!
//! # The derivation
//!
//! Everything below is defined by one function, written `CC(K)`: the
//! keystream of the original ChaCha20 (D. J. Bernstein's 20-round cipher
//! with a 64-bit block counter and a 64-bit nonce) under the 256-bit key
//! whose bytes are the little-endian bytes of the key words `K[0]`, ..,
//! `K[7]` in order, with nonce (stream id) 0 and the block counter starting
//! at 0, read as consecutive little-endian `u32` words: `CC(K)[w]` is word
//! `w % 16` of the output of block `w / 16`. This is exactly
//! `rand_chacha::ChaCha20Rng::from_seed(bytes)` with `set_stream(0)`,
//! `set_word_pos(0)`, read with `next_u32()`. Every block depends only on
//! the key and its counter, so any block of output can be computed on its
//! own (a GPU thread per block).
//!
//! | function | definition (`⊕` is bitwise xor, word by word) |
//! |---|---|
//! | primitive `random_bits(K)` of `shape` | element `i` (row-major) is `CC(K)[i]` |
//! | [`bits`]`(K, shape)` | `random_bits(K)` of `shape` |
//! | [`key`]`(seed)` | `[seed mod 2^32, seed >> 32, 0, 0, 0, 0, 0, 0]` |
//! | [`split`]`(K, n)[i][j]` | `CC(K ⊕ S)[8i + j]` |
//! | [`fold_in`]`(K, d)[j]` | `CC(P ⊕ D)[j]`, with `P[j] = CC(K ⊕ F)[j]` and `D = [d mod 2^32, d >> 32, 0, 0, 0, 0, 0, 0]` |
//!
//! `S` and `F` are fixed *tweaks*: the 32 ASCII bytes
//! `rjax/random/split:chacha20-key-1` and `rjax/random/fold_in:chacha20-k-1`
//! read as eight little-endian words (`S = [0x78616a72, 0x6e61722f,
//! 0x2f6d6f64, 0x696c7073, 0x68633a74, 0x61686361, 0x6b2d3032,
//! 0x312d7965]`, `F = [0x78616a72, 0x6e61722f, 0x2f6d6f64, 0x646c6f66,
//! 0x3a6e695f, 0x63616863, 0x30326168, 0x312d6b2d]`). Samplers read only
//! `CC(K)`, splitting only `CC(K ⊕ S)` and folding only `CC(K ⊕ F)` (and
//! then `CC(P ⊕ D)`), so children are independent of every sample drawn
//! from their parent: they come from different ChaCha20 keys, not from
//! disjoint pieces of one stream. Folding goes through the pseudorandom
//! `P` rather than `K ⊕ F ⊕ D` so that `fold_in(key(0), 5)` and
//! `fold_in(key(5), 0)` differ. The children of `split(K, n)` are a prefix
//! of those of `split(K, m)` for `m > n`, as the table says. `fold_in` data
//! is a `u32` (or an `i32`, taken as its two's-complement bits) or a Rust
//! `u64`/`usize`; all give the same key for the same non-negative value.
//!
//! The samplers turn words of `CC(K)` into values as follows (`N` is the
//! number of output elements, `shape` the output shape):
//!
//! - **f32 mantissas**: `m = floor(bits(K, shape) / 2^9)`, the top 23 bits
//!   of one word per element, and `p = 23`.
//! - **f64 mantissas**: `W = bits(K, [2] ++ shape)`; `m = W[0]·2^20 +
//!   floor(W[1] / 2^12)`, 52 bits from two words (the first `N` words are
//!   the high halves, the next `N` the low halves), and `p = 52`.
//! - From `m`: `u = m·2^-p` in `[0, 1)`, the *open* `o = (m + ½)·2^-p` in
//!   `(0, 1)` and the *symmetric* `s = 2o − 1` in `(−1, 1)`. All three are
//!   exact in the float type (`u` is JAX's mantissa trick).
//! - [`uniform`]: `minval + (maxval − minval)·u`, rounded, then clamped into
//!   `[minval, maxval)`.
//! - [`normal`]: `√2·erfinv(s)`, the inverse-CDF method (as JAX), with
//!   erfinv Giles' polynomial approximation (single precision for f32,
//!   double for f64; see `samplers.rs`).
//! - [`truncated_normal`]: with `a = erf(lower/√2)`, `b = erf(upper/√2)`:
//!   `√2·erfinv(a + (b − a)·o)`, clamped into the open interval.
//! - [`bernoulli`]: `u < p` (f32 mantissas unless `p` is an f64 array).
//! - [`gumbel`]: `−log(−log(o))`; [`categorical`]: `argmax(logits +
//!   gumbel)` along the class axis (the Gumbel-max trick).
//! - [`randint`]: `W = bits(K, [2] ++ shape)`, `minval + (W[0]·2^32 + W[1])
//!   mod (maxval − minval)`, computed exactly; the bias of a 64-bit value
//!   reduced modulo a span of at most `2^32` is below `2^-32` relative.
//! - [`permutation`]: `W = bits(K, [2, n])`; the indices `0..n` sorted by
//!   `(W[0][i], W[1][i], i)`: a stable argsort of 64-bit random keys.
//!   [`shuffle`] gathers slices along an axis by that permutation;
//!   [`shuffle_independent`] sorts each lane of `x` along `axis` by its own
//!   keys `bits(K, [2] ++ x.shape)`.
//! - [`multivariate_normal`]: `mean + L·z` with `z = normal(K, shape ++
//!   [n])` and `L` the lower Cholesky factor of the covariance.
//!
//! # Costs
//!
//! Every sampler is a composition of primitives, so it can be staged and
//! compiled. There is no sort primitive: [`permutation`] and the shuffles
//! run a bitonic sorting network built from `slice`, comparisons and
//! `select`, which is `O(n log² n)` work in `O(log² n)` primitive stages
//! (`n` rounded up to a power of two); staging it for `n` near `2^16` makes
//! several thousand equations. [`multivariate_normal`] builds the Cholesky
//! factor column by column, `O(d²)` small operations for a `d×d`
//! covariance, meant for small `d`.
//!
//! # Keys and differentiation
//!
//! Keys are integers, so they have no tangents: `grad` with respect to a
//! tree that holds a key and float leaves gives the floats' gradients and
//! zeros for the key (the stand-in for JAX's `float0`), and `grad` with
//! respect to keys alone is an error (`grad: no float inputs to
//! differentiate with respect to ...`). Gradients with respect to a
//! sampler's float parameters (for example `mean` and `cov` of
//! [`multivariate_normal`]) are the reparameterisation gradients.

mod samplers;
mod sort;

pub use samplers::*;

use crate::array::Array;
use crate::core::bind1;
use crate::jnp::fallible;
use crate::lax;
use rjax_ir::{DType, Error, Primitive, Result, Shape, ShapeDisplay};

/// Number of `u32` words in a key (a 256-bit ChaCha20 key).
pub const KEY_WORDS: usize = 8;

/// The eight little-endian words of 32 ASCII bytes.
const fn ascii_words(text: &[u8; 32]) -> [u32; KEY_WORDS] {
    let mut words = [0u32; KEY_WORDS];
    let mut i = 0;
    while i < KEY_WORDS {
        words[i] = u32::from_le_bytes([
            text[4 * i],
            text[4 * i + 1],
            text[4 * i + 2],
            text[4 * i + 3],
        ]);
        i += 1;
    }
    words
}

/// The tweak `S` that [`split`] xors into a key (see the module docs).
const SPLIT_TWEAK: [u32; KEY_WORDS] = ascii_words(b"rjax/random/split:chacha20-key-1");
/// The tweak `F` that [`fold_in`] xors into a key (see the module docs).
const FOLD_IN_TWEAK: [u32; KEY_WORDS] = ascii_words(b"rjax/random/fold_in:chacha20-k-1");

/// A new key from a seed: `[seed mod 2^32, seed >> 32, 0, 0, 0, 0, 0, 0]`.
///
/// # Example
/// ```
/// let key = rjax::random::key(42);
/// assert_eq!(key.to_vec::<u32>().unwrap(), vec![42, 0, 0, 0, 0, 0, 0, 0]);
/// ```
pub fn key(seed: u64) -> Array {
    words_array(&seed_words(seed))
}

/// `[lo, hi, 0, 0, 0, 0, 0, 0]` for a 64-bit value.
fn seed_words(value: u64) -> [u32; KEY_WORDS] {
    let mut words = [0u32; KEY_WORDS];
    words[0] = value as u32;
    words[1] = (value >> 32) as u32;
    words
}

/// Eight words as a concrete `u32[8]` array.
fn words_array(words: &[u32; KEY_WORDS]) -> Array {
    Array::from_vec(words.to_vec(), &[KEY_WORDS])
        .expect("internal error: eight words fill shape [8]")
}

/// Checks that `key` is one key, `u32[8]`, naming `op` otherwise.
pub(crate) fn check_key(op: &str, key: &Array) -> Result<()> {
    if key.dtype() == DType::U32 && key.shape() == [KEY_WORDS] {
        return Ok(());
    }
    let hint = if key.dtype() == DType::U32 && key.ndim() == 2 && key.shape()[1] == KEY_WORDS {
        " (this is a batch of keys from split: pick one with keys.get(i))"
    } else {
        ""
    };
    Err(Error::op(
        op,
        format!(
            "expected a key, u32[8], got {}{}{hint}",
            key.dtype(),
            ShapeDisplay(key.shape())
        ),
    ))
}

/// The primitive `random_bits` of `shape` under `key` (unchecked).
#[track_caller]
pub(crate) fn random_bits(key: &Array, shape: &[usize]) -> Result<Array> {
    let prim = Primitive::RandomBits {
        shape: Shape::from_slice(shape),
    };
    bind1(prim, std::slice::from_ref(key))
}

/// `key ⊕ tweak`.
#[track_caller]
fn tweaked(key: &Array, tweak: &[u32; KEY_WORDS]) -> Result<Array> {
    lax::try_bitwise_xor(key, &words_array(tweak))
}

fallible! {
    /// Random `u32` bits of `shape`: element `i` (row-major) is word `i` of
    /// the key's ChaCha20 keystream (see the [module docs](self)).
    ///
    /// # Example
    /// ```
    /// use rjax::random;
    /// let b = random::bits(&random::key(0), &[2, 2]);
    /// assert_eq!(b.dtype(), rjax::DType::U32);
    /// // The first words are the first words of any longer draw.
    /// let longer = random::bits(&random::key(0), &[6]).to_vec::<u32>().unwrap();
    /// assert_eq!(b.to_vec::<u32>().unwrap(), longer[..4].to_vec());
    /// ```
    pub fn bits / try_bits(key: &Array, shape: &[usize]) -> Array {
        check_key("random.bits", key)?;
        random_bits(key, shape)
    }
}

fallible! {
    /// `n` new keys from `key`, as a batch `u32[n, 8]`: index it
    /// (`keys.get(i)`) for one key. Child `i` is words `8i..8i+8` of the
    /// keystream of `key ⊕ S` (see the [module docs](self)).
    ///
    /// # Example
    /// ```
    /// use rjax::random;
    /// let keys = random::split(&random::key(1), 3);
    /// assert_eq!(keys.shape(), &[3, 8]);
    /// let second = keys.get(1);
    /// assert_eq!(second.shape(), &[8]);
    /// ```
    pub fn split / try_split(key: &Array, n: usize) -> Array {
        check_key("random.split", key)?;
        random_bits(&tweaked(key, &SPLIT_TWEAK)?, &[n, KEY_WORDS])
    }
}

fallible! {
    /// Two new keys from `key`: the rows of `split(key, 2)` (JAX's
    /// `split(key)`).
    ///
    /// # Example
    /// ```
    /// use rjax::random;
    /// let key = random::key(7);
    /// let (a, b) = random::split2(&key);
    /// let both = random::split(&key, 2);
    /// assert_eq!(a.to_vec::<u32>().unwrap(), both.get(0).to_vec::<u32>().unwrap());
    /// assert_eq!(b.to_vec::<u32>().unwrap(), both.get(1).to_vec::<u32>().unwrap());
    /// ```
    pub fn split2 / try_split2(key: &Array) -> (Array, Array) {
        let keys = try_split(key, 2)?;
        Ok((keys.try_get(0)?, keys.try_get(1)?))
    }
}

fallible! {
    /// `n` new keys from `key` as a `Vec`, for iterating in Rust: the rows
    /// of [`split`]`(key, n)`.
    ///
    /// # Example
    /// ```
    /// use rjax::{random, DType};
    /// let draws: Vec<_> = random::split_vec(&random::key(3), 3)
    ///     .iter()
    ///     .map(|k| random::normal(k, &[2], DType::F32))
    ///     .collect();
    /// assert_eq!(draws.len(), 3);
    /// ```
    pub fn split_vec / try_split_vec(key: &Array, n: usize) -> Vec<Array> {
        let keys = try_split(key, n)?;
        (0..n).map(|i| keys.try_get(i as isize)).collect()
    }
}

/// Data that [`fold_in`] can fold into a key: a Rust integer, or a rank-0
/// `u32`/`i32` array (which may be traced, for example a loop counter
/// under `jit`).
pub trait FoldInData {
    /// The data as the `u32[8]` word vector `D` of the module docs.
    ///
    /// # Errors
    /// When an array is not a rank-0 `u32` or `i32`.
    fn data_words(&self) -> Result<Array>;
}

macro_rules! fold_in_int {
    ($($t:ty => $conv:expr;)*) => {$(
        impl FoldInData for $t {
            fn data_words(&self) -> Result<Array> {
                let conv: fn($t) -> u64 = $conv;
                Ok(words_array(&seed_words(conv(*self))))
            }
        }
    )*};
}

fold_in_int! {
    u32 => u64::from;
    i32 => |v| u64::from(v as u32);
    u64 => |v| v;
    usize => |v| v as u64;
}

impl FoldInData for Array {
    #[track_caller]
    fn data_words(&self) -> Result<Array> {
        if self.ndim() != 0 || !matches!(self.dtype(), DType::U32 | DType::I32) {
            return Err(Error::op(
                "random.fold_in",
                format!(
                    "data must be a rank-0 u32 or i32 array, got {}{}",
                    self.dtype(),
                    ShapeDisplay(self.shape())
                ),
            ));
        }
        let word = crate::jnp::convert(self, DType::U32)?;
        let word = lax::try_reshape(&word, &[1])?;
        let zero = Array::scalar(0u32);
        lax::try_pad(&word, &zero, &[0], &[KEY_WORDS as i64 - 1], &[0])
    }
}

impl FoldInData for &Array {
    #[track_caller]
    fn data_words(&self) -> Result<Array> {
        (*self).data_words()
    }
}

fallible! {
    /// A new key from `key` and `data`, for example a step number: see the
    /// [module docs](self) for the derivation. Different data give
    /// independent keys; `data` may be a Rust integer or a rank-0
    /// `u32`/`i32` array, traced or not.
    ///
    /// # Example
    /// ```
    /// use rjax::{random, Array};
    /// let key = random::key(0);
    /// let a = random::fold_in(&key, 3);
    /// let b = random::fold_in(&key, &Array::scalar(3u32));
    /// assert_eq!(a.to_vec::<u32>().unwrap(), b.to_vec::<u32>().unwrap());
    /// assert_ne!(a.to_vec::<u32>().unwrap(), random::fold_in(&key, 4).to_vec::<u32>().unwrap());
    /// ```
    pub fn fold_in / try_fold_in<D: FoldInData>(key: &Array, data: D) -> Array {
        check_key("random.fold_in", key)?;
        let d = data.data_words()?;
        let p = random_bits(&tweaked(key, &FOLD_IN_TWEAK)?, &[KEY_WORDS])?;
        random_bits(&lax::try_bitwise_xor(&p, &d)?, &[KEY_WORDS])
    }
}
