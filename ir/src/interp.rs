//! The reference interpreter: the meaning of every [`Primitive`] as plain
//! loops over [`HostBuffer`]s.
//!
//! This is the oracle that every backend, fusion pass and transformation of
//! rjax is tested against, and (for now) how eager arrays execute. It is
//! written to be obviously correct rather than fast: each primitive is a
//! straightforward loop over row-major multi-indices, computed natively in
//! its element type (`f32` math in `f32`, integers wrapping, integer division
//! and remainder by zero giving 0).
//!
//! [`eval_primitive`] first runs the primitive's shape rule
//! ([`crate::shape::abstract_eval`]), so bad operands give the shape rule's
//! typed error; after that, a broken invariant is an internal error (a
//! panic). Higher-order primitives recurse through [`interpret_closed`].

use crate::buffer::{Data, Element, HostBuffer};
use crate::dtype::{num_elements, row_major_strides, AVal, DType};
use crate::error::{Error, Result};
use crate::jaxpr::{Atom, ClosedJaxpr, Jaxpr};
use crate::primitive::{Primitive, ScatterKind};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::borrow::Cow;

// ---- dtype dispatch -----------------------------------------------------

/// Runs `$body` with the type alias `$T` bound to the Rust type of `$dt`,
/// for the listed dtypes; any other dtype is an internal error (the shape
/// rule has already rejected it).
macro_rules! dispatch {
    ($dt:expr, [$($D:ident => $t:ty),*], $T:ident => $body:expr) => {
        match $dt {
            $(DType::$D => {
                type $T = $t;
                $body
            })*
            #[allow(unreachable_patterns)]
            other => panic!("internal error: unexpected dtype {other}"),
        }
    };
}
/// [`dispatch!`] over `f32`, `f64`.
macro_rules! floats {
    ($dt:expr, $T:ident => $body:expr) => {
        dispatch!($dt, [F32 => f32, F64 => f64], $T => $body)
    };
}
/// [`dispatch!`] over every dtype but bool.
macro_rules! numbers {
    ($dt:expr, $T:ident => $body:expr) => {
        dispatch!($dt, [F32 => f32, F64 => f64, I32 => i32, U32 => u32], $T => $body)
    };
}
/// [`dispatch!`] over the integers and bool.
macro_rules! bitwise {
    ($dt:expr, $T:ident => $body:expr) => {
        dispatch!($dt, [I32 => i32, U32 => u32, Bool => bool], $T => $body)
    };
}
/// [`dispatch!`] over every dtype.
macro_rules! every {
    ($dt:expr, $T:ident => $body:expr) => {
        dispatch!(
            $dt,
            [F32 => f32, F64 => f64, I32 => i32, U32 => u32, Bool => bool],
            $T => $body
        )
    };
}

/// Arithmetic of the numeric element types, each computed natively.
trait Num: Element + PartialOrd {
    const ZERO: Self;
    const ONE: Self;
    /// Identity of `max_nan`: `-inf`, or the integer type's minimum.
    const LOWEST: Self;
    /// Identity of `min_nan`: `+inf`, or the integer type's maximum.
    const HIGHEST: Self;
    fn from_index(i: usize) -> Self;
    fn plus(self, o: Self) -> Self;
    fn minus(self, o: Self) -> Self;
    fn times(self, o: Self) -> Self;
    /// Integer division truncates; by zero it gives 0.
    fn divide(self, o: Self) -> Self;
    /// Sign of the dividend; integer remainder by zero gives 0.
    fn remainder(self, o: Self) -> Self;
    fn negate(self) -> Self;
    fn absolute(self) -> Self;
    /// -1, 0 or 1; floats keep ±0 and NaN.
    fn sign(self) -> Self;
    /// Maximum; NaN if either is NaN; `max(-0, +0) = +0`.
    fn max_nan(self, o: Self) -> Self;
    /// Minimum; NaN if either is NaN; `min(-0, +0) = -0`.
    fn min_nan(self, o: Self) -> Self;
    fn nan(self) -> bool;
}

// The per-type tables below are kept one method per line.
#[rustfmt::skip]
macro_rules! impl_num_float {
    ($t:ty) => {
        impl Num for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const LOWEST: Self = <$t>::NEG_INFINITY;
            const HIGHEST: Self = <$t>::INFINITY;
            fn from_index(i: usize) -> Self { i as $t }
            fn plus(self, o: Self) -> Self { self + o }
            fn minus(self, o: Self) -> Self { self - o }
            fn times(self, o: Self) -> Self { self * o }
            fn divide(self, o: Self) -> Self { self / o }
            fn remainder(self, o: Self) -> Self { self % o }
            fn negate(self) -> Self { -self }
            fn absolute(self) -> Self { self.abs() }
            fn sign(self) -> Self {
                if self > 0.0 { 1.0 } else if self < 0.0 { -1.0 } else { self }
            }
            fn max_nan(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() { <$t>::NAN }
                else if self > o || (self == o && self.is_sign_positive()) { self }
                else { o }
            }
            fn min_nan(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() { <$t>::NAN }
                else if self < o || (self == o && self.is_sign_negative()) { self }
                else { o }
            }
            fn nan(self) -> bool { self.is_nan() }
        }
    };
}
impl_num_float!(f32);
impl_num_float!(f64);

#[rustfmt::skip]
macro_rules! impl_num_int {
    ($t:ty, abs: $abs:expr, sign: $sign:expr) => {
        impl Num for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const LOWEST: Self = <$t>::MIN;
            const HIGHEST: Self = <$t>::MAX;
            fn from_index(i: usize) -> Self { i as $t }
            fn plus(self, o: Self) -> Self { self.wrapping_add(o) }
            fn minus(self, o: Self) -> Self { self.wrapping_sub(o) }
            fn times(self, o: Self) -> Self { self.wrapping_mul(o) }
            fn divide(self, o: Self) -> Self { if o == 0 { 0 } else { self.wrapping_div(o) } }
            fn remainder(self, o: Self) -> Self { if o == 0 { 0 } else { self.wrapping_rem(o) } }
            fn negate(self) -> Self { self.wrapping_neg() }
            fn absolute(self) -> Self { let f: fn($t) -> $t = $abs; f(self) }
            fn sign(self) -> Self { let f: fn($t) -> $t = $sign; f(self) }
            fn max_nan(self, o: Self) -> Self { Ord::max(self, o) }
            fn min_nan(self, o: Self) -> Self { Ord::min(self, o) }
            fn nan(self) -> bool { false }
        }
    };
}
impl_num_int!(i32, abs: |x| x.wrapping_abs(), sign: |x| x.signum());
impl_num_int!(u32, abs: |x| x, sign: |x| u32::from(x != 0));

/// Float functions without a stable inherent method.
trait Float: Copy {
    fn error_function(self) -> Self;
    fn logistic(self) -> Self;
    fn recip_sqrt(self) -> Self;
}

#[rustfmt::skip]
macro_rules! impl_float {
    ($t:ty, $erf:path) => {
        impl Float for $t {
            fn error_function(self) -> Self { $erf(self) }
            fn logistic(self) -> Self { 1.0 / (1.0 + (-self).exp()) }
            fn recip_sqrt(self) -> Self { 1.0 / self.sqrt() }
        }
    };
}
impl_float!(f32, libm::erff);
impl_float!(f64, libm::erf);

/// `convert_element_type` of one element, with Rust `as` semantics (float to
/// integer truncates and saturates, NaN gives 0; `u32` <-> `i32` reinterpret
/// bits); to bool is `!= 0` (NaN gives true), bool to a number 0 or 1.
trait Convert: Element {
    fn to_f32(self) -> f32;
    fn to_f64(self) -> f64;
    fn to_i32(self) -> i32;
    fn to_u32(self) -> u32;
    fn to_bool(self) -> bool;
}

#[rustfmt::skip]
macro_rules! impl_convert {
    ($t:ty, $zero:expr) => {
        impl Convert for $t {
            fn to_f32(self) -> f32 { self as f32 }
            fn to_f64(self) -> f64 { self as f64 }
            fn to_i32(self) -> i32 { self as i32 }
            fn to_u32(self) -> u32 { self as u32 }
            fn to_bool(self) -> bool { self != $zero }
        }
    };
}
impl_convert!(f32, 0.0);
impl_convert!(f64, 0.0);
impl_convert!(i32, 0);
impl_convert!(u32, 0);

#[rustfmt::skip]
impl Convert for bool {
    fn to_f32(self) -> f32 { f32::from(u8::from(self)) }
    fn to_f64(self) -> f64 { f64::from(u8::from(self)) }
    fn to_i32(self) -> i32 { i32::from(self) }
    fn to_u32(self) -> u32 { u32::from(self) }
    fn to_bool(self) -> bool { self }
}

// ---- entry points ---------------------------------------------------------

/// What one primitive computed: the data of its single result (shaped by the
/// shape rule's output), or complete result buffers.
enum Out {
    One(Data),
    Many(Vec<HostBuffer>),
}

/// Runs one primitive on host buffers.
///
/// # Errors
/// The shape rule's error when the operands or parameters do not fit the
/// primitive, or any error of a nested jaxpr (higher-order primitives).
///
/// # Panics
/// Only on an internal error: a result that disagrees with the shape rule.
pub fn eval_primitive(prim: &Primitive, args: &[&HostBuffer]) -> Result<Vec<HostBuffer>> {
    let in_avals: Vec<AVal> = args.iter().map(|b| b.aval()).collect();
    let out_avals = crate::shape::abstract_eval(prim, &in_avals)?;
    let results = match compute(prim, args, &out_avals)? {
        Out::One(data) => {
            let shape = &out_avals[0].shape;
            let buf = HostBuffer::new(data, shape);
            vec![buf.unwrap_or_else(|e| panic!("internal error: {}: {e}", prim.name()))]
        }
        Out::Many(bufs) => bufs,
    };
    let got: Vec<AVal> = results.iter().map(HostBuffer::aval).collect();
    assert!(
        got == out_avals,
        "internal error: {} computed {got:?} but its shape rule gives {out_avals:?}",
        prim.name()
    );
    Ok(results)
}

/// The one table of primitive semantics (operands already validated).
fn compute(prim: &Primitive, a: &[&HostBuffer], outs: &[AVal]) -> Result<Out> {
    use Out::{Many, One};
    use Primitive as P;
    let n = outs.first().map_or(0, AVal::size);
    let out_shape = outs.first().map_or(&[][..], |o| &o.shape[..]);
    Ok(match prim {
        P::Neg => One(numbers!(a[0].dtype(), T => map::<T, T>(a[0], T::negate))),
        P::Exp => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::exp))),
        P::Log => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::ln))),
        P::Log1p => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::ln_1p))),
        P::Expm1 => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::exp_m1))),
        P::Sin => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::sin))),
        P::Cos => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::cos))),
        P::Tanh => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::tanh))),
        P::Logistic => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::logistic))),
        P::Sqrt => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::sqrt))),
        P::Rsqrt => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::recip_sqrt))),
        P::Abs => One(numbers!(a[0].dtype(), T => map::<T, T>(a[0], T::absolute))),
        P::Sign => One(numbers!(a[0].dtype(), T => map::<T, T>(a[0], T::sign))),
        P::Floor => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::floor))),
        P::Ceil => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::ceil))),
        P::Round => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::round))),
        P::Erf => One(floats!(a[0].dtype(), T => map::<T, T>(a[0], T::error_function))),
        P::Not => One(bitwise!(a[0].dtype(), T => map::<T, T>(a[0], |x| !x))),
        P::IsFinite => One(floats!(a[0].dtype(), T => map::<T, bool>(a[0], T::is_finite))),
        P::Add => One(numbers!(a[0].dtype(), T => zip::<T, T>(a, n, T::plus))),
        P::Sub => One(numbers!(a[0].dtype(), T => zip::<T, T>(a, n, T::minus))),
        P::Mul => One(numbers!(a[0].dtype(), T => zip::<T, T>(a, n, T::times))),
        P::Div => One(numbers!(a[0].dtype(), T => zip::<T, T>(a, n, T::divide))),
        P::Rem => One(numbers!(a[0].dtype(), T => zip::<T, T>(a, n, T::remainder))),
        P::Pow => One(floats!(a[0].dtype(), T => zip::<T, T>(a, n, T::powf))),
        P::Max => One(numbers!(a[0].dtype(), T => zip::<T, T>(a, n, T::max_nan))),
        P::Min => One(numbers!(a[0].dtype(), T => zip::<T, T>(a, n, T::min_nan))),
        P::And => One(bitwise!(a[0].dtype(), T => zip::<T, T>(a, n, |x, y| x & y))),
        P::Or => One(bitwise!(a[0].dtype(), T => zip::<T, T>(a, n, |x, y| x | y))),
        P::Xor => One(bitwise!(a[0].dtype(), T => zip::<T, T>(a, n, |x, y| x ^ y))),
        P::Eq => One(every!(a[0].dtype(), T => zip::<T, bool>(a, n, |x, y| x == y))),
        P::Ne => One(every!(a[0].dtype(), T => zip::<T, bool>(a, n, |x, y| x != y))),
        P::Lt => One(numbers!(a[0].dtype(), T => zip::<T, bool>(a, n, |x, y| x < y))),
        P::Le => One(numbers!(a[0].dtype(), T => zip::<T, bool>(a, n, |x, y| x <= y))),
        P::Gt => One(numbers!(a[0].dtype(), T => zip::<T, bool>(a, n, |x, y| x > y))),
        P::Ge => One(numbers!(a[0].dtype(), T => zip::<T, bool>(a, n, |x, y| x >= y))),
        P::Select => One(every!(a[1].dtype(), T => select::<T>(a, n))),
        P::ConvertElementType { new_dtype } => {
            One(every!(a[0].dtype(), T => convert::<T>(a[0], *new_dtype)))
        }
        P::BroadcastInDim {
            shape,
            broadcast_dimensions,
        } => One(broadcast_in_dim(a[0], shape, broadcast_dimensions)),
        P::Reshape { .. } => One(a[0].data().clone()),
        P::Transpose { permutation } => One(transpose(a[0], permutation, out_shape)),
        P::ReduceSum { axes } => {
            One(numbers!(a[0].dtype(), T => reduce::<T>(a[0], axes, T::ZERO, T::plus)))
        }
        P::ReduceMax { axes } => {
            One(numbers!(a[0].dtype(), T => reduce::<T>(a[0], axes, T::LOWEST, T::max_nan)))
        }
        P::ReduceMin { axes } => {
            One(numbers!(a[0].dtype(), T => reduce::<T>(a[0], axes, T::HIGHEST, T::min_nan)))
        }
        P::ReduceProd { axes } => {
            One(numbers!(a[0].dtype(), T => reduce::<T>(a[0], axes, T::ONE, T::times)))
        }
        P::ArgMax { axis, index_dtype } => One(numbers!(a[0].dtype(), T => {
            arg_extreme::<T>(a[0], *axis, *index_dtype, |c, best| c > best)
        })),
        P::ArgMin { axis, index_dtype } => One(numbers!(a[0].dtype(), T => {
            arg_extreme::<T>(a[0], *axis, *index_dtype, |c, best| c < best)
        })),
        P::Cumsum { axis, reverse } => {
            One(numbers!(a[0].dtype(), T => cumsum::<T>(a[0], *axis, *reverse)))
        }
        P::DotGeneral {
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
        } => {
            let dims = [&lhs_contract[..], rhs_contract, lhs_batch, rhs_batch];
            One(numbers!(a[0].dtype(), T => dot_general::<T>(a[0], a[1], dims, out_shape)))
        }
        // `limit` and `high` are implied by the output shape.
        P::Slice { start, strides, .. } => One(slice(a[0], start, strides, out_shape)),
        P::Pad { low, interior, .. } => One(pad(a, low, interior, out_shape)),
        P::Concatenate { axis } => One(concatenate(a, *axis, out_shape)),
        P::Rev { axes } => One(rev(a[0], axes)),
        P::DynamicSlice { slice_sizes } => One(dynamic_slice(a, slice_sizes)),
        P::DynamicUpdateSlice => One(dynamic_update_slice(a)),
        P::Gather { axis } => One(gather(a, *axis, out_shape)?),
        P::Scatter { axis, kind } => One(scatter(a, *axis, *kind)),
        P::Iota {
            dtype,
            shape,
            dimension,
        } => One(numbers!(*dtype, T => iota::<T>(shape, *dimension))),
        P::RandomBits { shape } => One(random_bits(a[0], shape)),
        P::StopGradient => One(a[0].data().clone()),
        P::Call { jaxpr, name: _ } => Many(interpret_closed(jaxpr, &owned(a))?),
        P::Cond { branches } => Many(cond(branches, a)?),
        P::While {
            cond_jaxpr,
            body_jaxpr,
        } => Many(while_loop(cond_jaxpr, body_jaxpr, a)?),
        P::Scan {
            body,
            length,
            reverse,
            num_consts,
            num_carry,
        } => {
            let counts = [*length, *num_consts, *num_carry];
            Many(scan(body, counts, *reverse, a, outs)?)
        }
        P::CustomJvpCall { call, jvp: _ } => Many(interpret_closed(call, &owned(a))?),
        P::CustomVjpCall { call, .. } => Many(interpret_closed(call, &owned(a))?),
        P::CustomLin { .. } => {
            return Err(Error::op(
                "custom_lin",
                "forward-mode differentiation (jvp, jacfwd) of a custom_vjp function is not supported; \
                 use reverse mode (grad, vjp, jacrev)",
            ))
        }
    })
}

/// Runs a jaxpr: constvars bound to `consts`, invars to `args`.
///
/// # Errors
/// [`Error::Op`] (op `interpret`) when the number or abstract values of
/// `consts` or `args` do not match the jaxpr, or when the jaxpr is malformed
/// (a variable read before it is defined, an equation whose results do not
/// match its recorded types); otherwise the first error of an equation.
pub fn interpret(
    jaxpr: &Jaxpr,
    consts: &[HostBuffer],
    args: &[HostBuffer],
) -> Result<Vec<HostBuffer>> {
    let mut env: Vec<Option<HostBuffer>> = vec![None; jaxpr.avals.len()];
    bind(jaxpr, &mut env, "const", &jaxpr.constvars, consts.to_vec())?;
    bind(jaxpr, &mut env, "argument", &jaxpr.invars, args.to_vec())?;
    for eqn in &jaxpr.eqns {
        let values: Vec<Cow<HostBuffer>> = eqn
            .inputs
            .iter()
            .map(|atom| value(&env, atom))
            .collect::<Result<_>>()?;
        let inputs: Vec<&HostBuffer> = values.iter().map(|v| v.as_ref()).collect();
        let results = eval_primitive(&eqn.prim, &inputs)?;
        let what = format!("{} output", eqn.prim.name());
        bind(jaxpr, &mut env, &what, &eqn.outputs, results)?;
    }
    jaxpr
        .outvars
        .iter()
        .map(|atom| value(&env, atom).map(Cow::into_owned))
        .collect()
}

/// Runs a closed jaxpr.
///
/// # Errors
/// As [`interpret`].
pub fn interpret_closed(jaxpr: &ClosedJaxpr, args: &[HostBuffer]) -> Result<Vec<HostBuffer>> {
    interpret(&jaxpr.jaxpr, &jaxpr.consts, args)
}

/// Binds `vars` to `values` (`what` names them in errors), checking their
/// number and abstract values.
fn bind(
    jaxpr: &Jaxpr,
    env: &mut [Option<HostBuffer>],
    what: &str,
    vars: &[crate::jaxpr::Var],
    values: Vec<HostBuffer>,
) -> Result<()> {
    let (want, got) = (vars.len(), values.len());
    if want != got {
        return Err(bad(format!("expected {want} {what} values, got {got}")));
    }
    for (i, (var, value)) in vars.iter().zip(values).enumerate() {
        let Some(expected) = jaxpr
            .avals
            .get(var.index())
            .filter(|_| var.index() < env.len())
        else {
            return Err(bad(format!(
                "{what} {i} is bound to unknown variable {}",
                var.0
            )));
        };
        if *expected != value.aval() {
            let got = value.aval();
            return Err(bad(format!(
                "{what} {i} has type {got}, expected {expected}"
            )));
        }
        env[var.index()] = Some(value);
    }
    Ok(())
}

/// The value of an operand: a bound variable, or a literal as a rank-0 buffer.
fn value<'a>(env: &'a [Option<HostBuffer>], atom: &Atom) -> Result<Cow<'a, HostBuffer>> {
    let var = match atom {
        Atom::Lit(s) => return Ok(Cow::Owned(HostBuffer::scalar(*s))),
        Atom::Var(v) => v.index(),
    };
    let found = env.get(var).and_then(Option::as_ref);
    found
        .map(Cow::Borrowed)
        .ok_or_else(|| bad(format!("variable {var} is read before it is defined")))
}

/// An error of `interpret` itself (a jaxpr that does not fit its inputs).
fn bad(message: String) -> Error {
    Error::op("interpret", message)
}

// ---- small helpers ----------------------------------------------------------

/// The elements of a buffer known (by the shape rule) to hold `T`.
fn sl<T: Element>(b: &HostBuffer) -> &[T] {
    let (want, got) = (T::DTYPE, b.dtype());
    b.as_slice::<T>()
        .unwrap_or_else(|| panic!("internal error: expected {want} data, got {got}"))
}

/// Element `i` of an elementwise operand: a rank-0 operand (one element)
/// broadcasts to every position.
fn at<T: Copy>(v: &[T], i: usize) -> T {
    if v.len() == 1 {
        v[0]
    } else {
        v[i]
    }
}

/// Copies of borrowed buffers.
fn owned(a: &[&HostBuffer]) -> Vec<HostBuffer> {
    a.iter().map(|b| (*b).clone()).collect()
}

/// Calls `f` with every multi-index of `shape` in row-major order (once with
/// `[]` for a rank-0 shape, never for a shape with a zero dimension).
fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; shape.len()];
    loop {
        f(&idx);
        let mut d = shape.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Flat row-major position of a multi-index, given the strides.
fn ravel(idx: impl IntoIterator<Item = usize>, strides: &[usize]) -> usize {
    idx.into_iter().zip(strides).map(|(i, s)| i * s).sum()
}

/// The new data of shape `out_shape` whose element at multi-index `o` is the
/// element of `x` at the multi-index `src(o, ..)` writes into its scratch.
fn pull(x: &HostBuffer, out_shape: &[usize], mut src: impl FnMut(&[usize], &mut [usize])) -> Data {
    let strides = row_major_strides(x.shape());
    let mut scratch = vec![0usize; x.shape().len()];
    let mut flat = Vec::with_capacity(num_elements(out_shape));
    for_each_index(out_shape, |o| {
        src(o, &mut scratch);
        flat.push(ravel(scratch.iter().copied(), &strides));
    });
    x.data().take(flat.into_iter())
}

/// New data whose element `j` is element `picks[j].1` of source
/// `picks[j].0` (all sources share one dtype).
fn assemble(sources: &[&HostBuffer], picks: &[(usize, usize)]) -> Data {
    every!(sources[0].dtype(), T => {
        let s: Vec<&[T]> = sources.iter().map(|b| sl::<T>(b)).collect();
        T::into_data(picks.iter().map(|&(k, i)| s[k][i]).collect())
    })
}

/// Integer (or bool) elements widened to `i64`, for index operands.
fn index_values(b: &HostBuffer) -> Vec<i64> {
    match b.data() {
        Data::I32(v) => v.iter().map(|&i| i64::from(i)).collect(),
        Data::U32(v) => v.iter().map(|&i| i64::from(i)).collect(),
        Data::Bool(v) => v.iter().map(|&i| i64::from(i)).collect(),
        Data::F32(_) | Data::F64(_) => panic!("internal error: float index operand"),
    }
}

/// A start index clamped into `[0, max]`.
fn clamp_start(i: i64, max: usize) -> usize {
    i.clamp(0, max as i64) as usize
}

/// Clamped start indices of a dynamic slice of `sizes` from `shape`.
fn starts(indices: &[&HostBuffer], shape: &[usize], sizes: &[usize]) -> Vec<usize> {
    indices
        .iter()
        .zip(shape.iter().zip(sizes))
        .map(|(b, (&d, &s))| clamp_start(index_values(b)[0], d - s))
        .collect()
}

/// Sizes of the dimensions before, along and after `axis`.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let (before, after) = (&shape[..axis], &shape[axis + 1..]);
    (num_elements(before), shape[axis], num_elements(after))
}

// ---- elementwise ----------------------------------------------------------

/// Applies `f` to every element.
fn map<T: Element, R: Element>(x: &HostBuffer, f: impl Fn(T) -> R) -> Data {
    R::into_data(sl::<T>(x).iter().map(|&v| f(v)).collect())
}

/// Applies `f` to the elements of `a[0]` and `a[1]` pairwise (`n` results).
fn zip<T: Element, R: Element>(a: &[&HostBuffer], n: usize, f: impl Fn(T, T) -> R) -> Data {
    let (x, y) = (sl::<T>(a[0]), sl::<T>(a[1]));
    R::into_data((0..n).map(|i| f(at(x, i), at(y, i))).collect())
}

/// `select(pred, on_true, on_false)`.
fn select<T: Element>(a: &[&HostBuffer], n: usize) -> Data {
    let (p, t, f) = (sl::<bool>(a[0]), sl::<T>(a[1]), sl::<T>(a[2]));
    let pick = |i| if at(p, i) { at(t, i) } else { at(f, i) };
    T::into_data((0..n).map(pick).collect())
}

/// `convert_element_type` (see [`Convert`]).
fn convert<S: Convert>(x: &HostBuffer, to: DType) -> Data {
    let v = sl::<S>(x).iter().copied();
    match to {
        DType::F32 => Data::F32(v.map(S::to_f32).collect()),
        DType::F64 => Data::F64(v.map(S::to_f64).collect()),
        DType::I32 => Data::I32(v.map(S::to_i32).collect()),
        DType::U32 => Data::U32(v.map(S::to_u32).collect()),
        DType::Bool => Data::Bool(v.map(S::to_bool).collect()),
    }
}

// ---- shape ----------------------------------------------------------------

/// `broadcast_in_dim`: operand dimension `k` reads output dimension
/// `dims[k]`, or index 0 where the operand's size is 1.
fn broadcast_in_dim(x: &HostBuffer, shape: &[usize], dims: &[usize]) -> Data {
    let in_shape = x.shape().to_vec();
    pull(x, shape, |o, i| {
        for (k, &d) in dims.iter().enumerate() {
            i[k] = if in_shape[k] == 1 { 0 } else { o[d] };
        }
    })
}

/// `transpose`: output dimension `k` is operand dimension `perm[k]`.
fn transpose(x: &HostBuffer, perm: &[usize], out_shape: &[usize]) -> Data {
    pull(x, out_shape, |o, i| {
        for (k, &p) in perm.iter().enumerate() {
            i[p] = o[k];
        }
    })
}

// ---- reductions -------------------------------------------------------------

/// Folds every element into its output position (the multi-index without
/// `axes`) with `f`, starting from `init`, in row-major order.
fn reduce<T: Num>(x: &HostBuffer, axes: &[usize], init: T, f: fn(T, T) -> T) -> Data {
    let kept: Vec<usize> = (0..x.shape().len()).filter(|d| !axes.contains(d)).collect();
    let out_shape: Vec<usize> = kept.iter().map(|&d| x.shape()[d]).collect();
    let out_strides = row_major_strides(&out_shape);
    let mut acc = vec![init; num_elements(&out_shape)];
    let v = sl::<T>(x);
    let mut flat = 0;
    for_each_index(x.shape(), |i| {
        let o = ravel(kept.iter().map(|&d| i[d]), &out_strides);
        acc[o] = f(acc[o], v[flat]);
        flat += 1;
    });
    T::into_data(acc)
}

/// `argmax` / `argmin` along `axis`: the first index whose element is
/// `better` than all before it; the first NaN wins outright.
fn arg_extreme<T: Num>(
    x: &HostBuffer,
    axis: usize,
    index_dtype: DType,
    better: fn(T, T) -> bool,
) -> Data {
    let (outer, len, inner) = split_at_axis(x.shape(), axis);
    let v = sl::<T>(x);
    let mut found = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for j in 0..inner {
            let elem = |k: usize| v[(o * len + k) * inner + j];
            let mut best = 0;
            for k in 1..len {
                if elem(best).nan() {
                    break;
                }
                if elem(k).nan() || better(elem(k), elem(best)) {
                    best = k;
                }
            }
            found.push(best);
        }
    }
    dispatch!(index_dtype, [I32 => i32, U32 => u32], I => I::into_data(found.into_iter().map(I::from_index).collect()))
}

/// Inclusive running sum along `axis`, from the end if `reverse`.
fn cumsum<T: Num>(x: &HostBuffer, axis: usize, reverse: bool) -> Data {
    let (outer, len, inner) = split_at_axis(x.shape(), axis);
    let v = sl::<T>(x);
    let mut out = v.to_vec();
    for o in 0..outer {
        for j in 0..inner {
            let mut acc = T::ZERO;
            for step in 0..len {
                let k = if reverse { len - 1 - step } else { step };
                let pos = (o * len + k) * inner + j;
                acc = acc.plus(v[pos]);
                out[pos] = acc;
            }
        }
    }
    T::into_data(out)
}

// ---- contraction --------------------------------------------------------------

/// `dot_general` with `dims = [lhs_contract, rhs_contract, lhs_batch,
/// rhs_batch]`: every output element (batch, lhs free, rhs free) is the sum,
/// in row-major order over the contracted sizes, of the products.
fn dot_general<T: Num>(
    l: &HostBuffer,
    r: &HostBuffer,
    dims: [&[usize]; 4],
    out_shape: &[usize],
) -> Data {
    let [lc, rc, lb, rb] = dims;
    let (ls, rs) = (l.shape(), r.shape());
    let lfree: Vec<usize> = (0..ls.len())
        .filter(|d| !lc.contains(d) && !lb.contains(d))
        .collect();
    let rfree: Vec<usize> = (0..rs.len())
        .filter(|d| !rc.contains(d) && !rb.contains(d))
        .collect();
    let csizes: Vec<usize> = lc.iter().map(|&d| ls[d]).collect();
    let (lstr, rstr) = (row_major_strides(ls), row_major_strides(rs));
    let (lv, rv) = (sl::<T>(l), sl::<T>(r));
    let (mut li, mut ri) = (vec![0usize; ls.len()], vec![0usize; rs.len()]);
    let mut out = Vec::with_capacity(num_elements(out_shape));
    for_each_index(out_shape, |o| {
        let (ob, rest) = o.split_at(lb.len());
        let (ol, or) = rest.split_at(lfree.len());
        for (k, (&dl, &dr)) in lb.iter().zip(rb).enumerate() {
            li[dl] = ob[k];
            ri[dr] = ob[k];
        }
        for (&d, &i) in lfree.iter().zip(ol) {
            li[d] = i;
        }
        for (&d, &i) in rfree.iter().zip(or) {
            ri[d] = i;
        }
        let mut acc = T::ZERO;
        for_each_index(&csizes, |c| {
            for (k, (&dl, &dr)) in lc.iter().zip(rc).enumerate() {
                li[dl] = c[k];
                ri[dr] = c[k];
            }
            let prod =
                lv[ravel(li.iter().copied(), &lstr)].times(rv[ravel(ri.iter().copied(), &rstr)]);
            acc = acc.plus(prod);
        });
        out.push(acc);
    });
    T::into_data(out)
}

// ---- slicing and joining ----------------------------------------------------

/// Static strided slice.
fn slice(x: &HostBuffer, start: &[usize], strides: &[usize], out_shape: &[usize]) -> Data {
    pull(x, out_shape, |o, i| {
        for (d, slot) in i.iter_mut().enumerate() {
            *slot = start[d] + o[d] * strides[d];
        }
    })
}

/// `pad(operand, padding_value)`: output position `p` along dimension `d`
/// holds operand element `(p - low) / (interior + 1)` when that division is
/// exact and in range, else the padding value.
fn pad(a: &[&HostBuffer], low: &[i64], interior: &[usize], out_shape: &[usize]) -> Data {
    let shape = a[0].shape();
    let strides = row_major_strides(shape);
    let mut picks = Vec::with_capacity(num_elements(out_shape));
    for_each_index(out_shape, |o| {
        let mut flat = Some(0usize);
        for d in 0..shape.len() {
            let rel = o[d] as i64 - low[d];
            let step = interior[d] as i64 + 1;
            let inside = rel >= 0 && rel % step == 0 && rel / step < shape[d] as i64;
            flat = flat
                .filter(|_| inside)
                .map(|f| f + (rel / step) as usize * strides[d]);
        }
        picks.push(flat.map_or((1, 0), |f| (0, f)));
    });
    assemble(&a[..2], &picks)
}

/// Joins the operands along `axis`.
fn concatenate(a: &[&HostBuffer], axis: usize, out_shape: &[usize]) -> Data {
    let strides: Vec<_> = a.iter().map(|b| row_major_strides(b.shape())).collect();
    let mut picks = Vec::with_capacity(num_elements(out_shape));
    for_each_index(out_shape, |o| {
        let (mut k, mut pos) = (0, o[axis]);
        while pos >= a[k].shape()[axis] {
            pos -= a[k].shape()[axis];
            k += 1;
        }
        let idx = o
            .iter()
            .enumerate()
            .map(|(d, &i)| if d == axis { pos } else { i });
        picks.push((k, ravel(idx, &strides[k])));
    });
    assemble(a, &picks)
}

/// Reverses the listed dimensions.
fn rev(x: &HostBuffer, axes: &[usize]) -> Data {
    let shape = x.shape().to_vec();
    pull(x, &shape, |o, i| {
        for (d, slot) in i.iter_mut().enumerate() {
            *slot = if axes.contains(&d) {
                shape[d] - 1 - o[d]
            } else {
                o[d]
            };
        }
    })
}

/// `dynamic_slice(operand, starts..)` with clamped starts.
fn dynamic_slice(a: &[&HostBuffer], sizes: &[usize]) -> Data {
    let begin = starts(&a[1..], a[0].shape(), sizes);
    pull(a[0], sizes, |o, i| {
        for (d, slot) in i.iter_mut().enumerate() {
            *slot = begin[d] + o[d];
        }
    })
}

/// `dynamic_update_slice(operand, update, starts..)` with clamped starts.
fn dynamic_update_slice(a: &[&HostBuffer]) -> Data {
    let (shape, ushape) = (a[0].shape(), a[1].shape());
    let begin = starts(&a[2..], shape, ushape);
    let ustrides = row_major_strides(ushape);
    let mut picks = Vec::with_capacity(a[0].len());
    let mut flat = 0;
    for_each_index(shape, |o| {
        let inside = (0..o.len()).all(|d| o[d] >= begin[d] && o[d] < begin[d] + ushape[d]);
        if inside {
            let rel = (0..o.len()).map(|d| o[d] - begin[d]);
            picks.push((1, ravel(rel, &ustrides)));
        } else {
            picks.push((0, flat));
        }
        flat += 1;
    });
    assemble(&a[..2], &picks)
}

/// `gather(operand, indices)` along `axis`, indices clamped into range.
///
/// # Errors
/// When a non-empty result would be gathered from an empty axis.
fn gather(a: &[&HostBuffer], axis: usize, out_shape: &[usize]) -> Result<Data> {
    let (x, idx) = (a[0], a[1]);
    let size = x.shape()[axis];
    if size == 0 && num_elements(out_shape) > 0 {
        let msg = format!("cannot gather from empty axis {axis} of {:?}", x.shape());
        return Err(Error::op("gather", msg));
    }
    let (ind, istr, ri) = (
        index_values(idx),
        row_major_strides(idx.shape()),
        idx.shape().len(),
    );
    Ok(pull(x, out_shape, |o, i| {
        i[..axis].copy_from_slice(&o[..axis]);
        let k = ind[ravel(o[axis..axis + ri].iter().copied(), &istr)];
        i[axis] = clamp_start(k, size.saturating_sub(1));
        i[axis + 1..].copy_from_slice(&o[axis + ri..]);
    }))
}

/// `scatter(operand, indices, updates)` along `axis` with `kind`.
fn scatter(a: &[&HostBuffer], axis: usize, kind: ScatterKind) -> Data {
    let dt = a[0].dtype();
    match kind {
        ScatterKind::Set => every!(dt, T => scatter_with::<T>(a, axis, |_, u| u)),
        ScatterKind::Add => numbers!(dt, T => scatter_with::<T>(a, axis, T::plus)),
        ScatterKind::Mul => numbers!(dt, T => scatter_with::<T>(a, axis, T::times)),
        ScatterKind::Min => numbers!(dt, T => scatter_with::<T>(a, axis, T::min_nan)),
        ScatterKind::Max => numbers!(dt, T => scatter_with::<T>(a, axis, T::max_nan)),
    }
}

/// Visits the updates in row-major order, combining each into the operand
/// copy at its index with `combine(old, update)`; out-of-range indices
/// (negative or `>= size`) are dropped.
fn scatter_with<T: Element>(a: &[&HostBuffer], axis: usize, combine: impl Fn(T, T) -> T) -> Data {
    let (x, idx, upd) = (a[0], a[1], a[2]);
    let (strides, size) = (row_major_strides(x.shape()), x.shape()[axis] as i64);
    let (ind, istr, ri) = (
        index_values(idx),
        row_major_strides(idx.shape()),
        idx.shape().len(),
    );
    let (mut out, u) = (sl::<T>(x).to_vec(), sl::<T>(upd));
    let mut flat = 0;
    for_each_index(upd.shape(), |o| {
        let k = ind[ravel(o[axis..axis + ri].iter().copied(), &istr)];
        if (0..size).contains(&k) {
            let target = o[..axis]
                .iter()
                .copied()
                .chain([k as usize])
                .chain(o[axis + ri..].iter().copied());
            let t = ravel(target, &strides);
            out[t] = combine(out[t], u[flat]);
        }
        flat += 1;
    });
    T::into_data(out)
}

// ---- creation and randomness ------------------------------------------------

/// `iota`: each element is its index along `dimension`.
fn iota<T: Num>(shape: &[usize], dimension: usize) -> Data {
    let mut v = Vec::with_capacity(num_elements(shape));
    for_each_index(shape, |i| v.push(T::from_index(i[dimension])));
    T::into_data(v)
}

/// `random_bits(key)`. The derivation, which every backend must reproduce:
/// the 8 `u32` words of the key are written little-endian, in order, into
/// 32 bytes, which seed `rand_chacha::ChaCha20Rng::from_seed` (the 256-bit
/// ChaCha20 key); the generator is set to stream 0 and word position 0
/// (its defaults); output element `i` in row-major order is the `i`-th
/// `next_u32()` of that keystream. Equivalently: the original ChaCha20
/// (20 rounds, 64-bit block counter from 0, 64-bit nonce 0) keystream under
/// that key, read as consecutive little-endian `u32` words.
fn random_bits(key: &HostBuffer, shape: &[usize]) -> Data {
    let words = sl::<u32>(key);
    assert_eq!(
        words.len(),
        8,
        "internal error: random_bits key must have 8 words"
    );
    let mut seed = [0u8; 32];
    for (bytes, w) in seed.chunks_exact_mut(4).zip(words) {
        bytes.copy_from_slice(&w.to_le_bytes());
    }
    let mut rng = ChaCha20Rng::from_seed(seed);
    rng.set_stream(0);
    rng.set_word_pos(0);
    Data::U32((0..num_elements(shape)).map(|_| rng.next_u32()).collect())
}

// ---- higher order -----------------------------------------------------------

/// `cond(index, operands..)`: the branch at the index clamped into range.
fn cond(branches: &[std::sync::Arc<ClosedJaxpr>], a: &[&HostBuffer]) -> Result<Vec<HostBuffer>> {
    let last = branches
        .len()
        .checked_sub(1)
        .expect("internal error: cond without branches");
    let i = clamp_start(index_values(a[0])[0], last);
    interpret_closed(&branches[i], &owned(&a[1..]))
}

/// `while(carry..)`: `carry = body(carry)` while `cond(carry)` is true.
fn while_loop(
    cond: &ClosedJaxpr,
    body: &ClosedJaxpr,
    a: &[&HostBuffer],
) -> Result<Vec<HostBuffer>> {
    let mut carry = owned(a);
    while sl::<bool>(&interpret_closed(cond, &carry)?[0])[0] {
        carry = interpret_closed(body, &carry)?;
    }
    Ok(carry)
}

/// `scan` with `counts = [length, num_consts, num_carry]`: iteration `i`
/// (descending if `reverse`) runs `body(consts, carry, xs[i])`, and its
/// `y` outputs are stacked at position `i` of the results `outs[num_carry..]`.
fn scan(
    body: &ClosedJaxpr,
    [length, num_consts, num_carry]: [usize; 3],
    reverse: bool,
    a: &[&HostBuffer],
    outs: &[AVal],
) -> Result<Vec<HostBuffer>> {
    let fixed = num_consts + num_carry;
    let mut carry = owned(&a[num_consts..fixed]);
    let y_avals = &outs[num_carry..];
    let mut ys: Vec<Vec<Option<HostBuffer>>> = vec![vec![None; length]; y_avals.len()];
    let order: Vec<usize> = if reverse {
        (0..length).rev().collect()
    } else {
        (0..length).collect()
    };
    for i in order {
        let mut inputs = owned(&a[..num_consts]);
        inputs.append(&mut carry);
        inputs.extend(a[fixed..].iter().map(|x| leading_slice(x, i)));
        let mut results = interpret_closed(body, &inputs)?;
        let y = results.split_off(num_carry);
        carry = results;
        for (slot, value) in ys.iter_mut().zip(y) {
            slot[i] = Some(value);
        }
    }
    for (aval, parts) in y_avals.iter().zip(ys) {
        let parts: Vec<HostBuffer> = parts
            .into_iter()
            .map(|p| p.expect("internal error: scan slot"))
            .collect();
        carry.push(stack(aval, &parts));
    }
    Ok(carry)
}

/// `x[i]`: the slice at index `i` of the leading dimension.
fn leading_slice(x: &HostBuffer, i: usize) -> HostBuffer {
    let inner = num_elements(&x.shape()[1..]);
    let data = x.data().take(i * inner..(i + 1) * inner);
    HostBuffer::new(data, &x.shape()[1..]).expect("internal error: leading slice")
}

/// Stacks equal-shaped `parts` along a new axis 0, giving `aval`.
fn stack(aval: &AVal, parts: &[HostBuffer]) -> HostBuffer {
    let data = every!(aval.dtype, T => {
        T::into_data(parts.iter().flat_map(|p| sl::<T>(p).iter().copied()).collect())
    });
    HostBuffer::new(data, &aval.shape).expect("internal error: stacked scan output")
}

#[cfg(test)]
#[path = "interp_tests.rs"]
mod tests;
