//! `OP_CASES`: the table of primitive test cases (STYLE item 9, after JAX's
//! `LAX_GRAD_OPS`).
//!
//! Every entry names one primitive of `rjax_ir::PRIMITIVE_NAMES`, applies it
//! through the public API (`lax::*`, or `rjax::core::bind` where no wrapper
//! exists) to generated `f64` operands, and says:
//!
//! - the operand shapes and the domain each operand is sampled from (away
//!   from the poles, kinks, jumps and ties where a derivative does not
//!   exist or finite differences cannot see it);
//! - what can be checked ([`Kind`]): a smooth primitive is checked against
//!   finite differences in forward mode and by the adjoint identity in
//!   reverse mode; a piecewise-constant or non-float one must have a zero
//!   derivative; a forward-only one (`while`) must refuse reverse mode;
//!   one without a rule must fail with `NotYetSupported`;
//! - whether it is linear in its operands (then `jvp(f, x, t)` is `f(t)`);
//! - and, when it takes part in random programs, a shape-generic form
//!   ([`Generic`]).
//!
//! Operands are sampled by [`super::sampling`]; the shape-generic forms
//! live in [`super::generic`].
//!
//! Builders return `f64` arrays: non-float results are converted with
//! `convert_element_type`, so every entry is a function from `f64` arrays
//! to an `f64` array. Integer operands (indices, branch numbers, PRNG keys)
//! are constants inside the builder.

use super::generic::*;
use rjax::core::{bind, bind1};
use rjax::lax::{self, ScatterKind};
use rjax::{custom_jvp, custom_vjp, jnp, make_jaxpr, Array, DType, Result};
use rjax_ir::{Primitive, Shape};
use std::sync::Arc;

/// Where an operand is sampled.
#[derive(Clone, Copy, Debug)]
pub enum Domain {
    /// Smooth everywhere; sampled uniformly in `[lo, hi)`.
    Any(f64, f64),
    /// Valid or well-conditioned only on `(lo, hi)` (log needs `x > 0`, a
    /// `pow` base must be positive); random programs squash their values
    /// into it.
    Interval(f64, f64),
    /// `|x|` in `[lo, hi)` with either sign: a kink, jump or pole at 0
    /// (abs, sign, a divisor).
    AwayFromZero(f64, f64),
    /// In `[-r, r)` with a fractional part in `[0.1, 0.4]` or `[0.6, 0.9]`:
    /// away from the jumps of floor, ceil, round and truncation.
    OffGrid(f64),
    /// In `[lo, hi)`, with all elements of all `Distinct` operands at least
    /// `(hi - lo) / 2k` apart (`k` elements): no ties for max/min/argmax.
    Distinct(f64, f64),
    /// Like `AwayFromZero(0.3, 1.5)` with exactly `k` elements set to 0
    /// (reduce_prod's derivative at zeros).
    WithZeros(usize),
    /// A `rem` dividend `x` given the divisor `y` (operand 1): `x / y` has
    /// a fractional part in `[0.1, 0.9]`, away from the jumps of `rem`.
    RemDividend,
}

/// One float operand: its shape and domain.
#[derive(Clone, Copy, Debug)]
pub struct Operand {
    /// Shape.
    pub shape: &'static [usize],
    /// Where its values are sampled.
    pub domain: Domain,
}

/// A builder: applies the primitive to the operands, returning `f64`.
pub type Build = fn(&[Array]) -> Result<Array>;

/// What can be checked for an entry.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Float result, smooth on the domain: jvp against central finite
    /// differences, vjp by the adjoint identity.
    Smooth,
    /// Float result that is locally constant on the domain (or defined to
    /// have no derivative): jvp, vjp and finite differences must all be 0.
    PiecewiseConstant(&'static str),
    /// A bool or integer result (or operands): no tangent flows through it;
    /// derivatives of the (converted) result must be 0.
    NonFloat(&'static str),
    /// The value passes through, but its derivative is defined to be 0
    /// (`stop_gradient`): jvp and vjp must be 0, finite differences are not.
    StopsGradient(&'static str),
    /// Reverse mode only, by design: forward mode of a `custom_vjp`
    /// function is an error (as in JAX); vjp is checked against finite
    /// differences.
    ReverseOnly(&'static str),
    /// Forward mode only, by design: jvp is checked against finite
    /// differences, and `vjp` must fail with an error that points to
    /// `scan` (reverse mode of `while`, as in JAX).
    ForwardOnly(&'static str),
    /// No jvp rule yet: `jvp` and `vjp` fail with
    /// `Error::NotYetSupported { prim: error_prim, rule: "jvp" }`. The
    /// primal value is checked against `reference`, the same function
    /// written without the primitive. This asserts the current behaviour:
    /// when the rule lands, the check fails and the entry becomes `Smooth`.
    NotYetSupported {
        /// Why the rule is missing.
        reason: &'static str,
        /// The `prim` the error names.
        error_prim: &'static str,
        /// The same function without the primitive.
        reference: Build,
    },
}

/// Tolerances.
#[derive(Clone, Copy, Debug)]
pub struct Fd {
    /// Finite-difference step, relative to `max(1, max |x|)`.
    pub step: f64,
    /// Relative tolerance of derivatives against finite differences.
    pub rtol: f64,
    /// Relative tolerance of identities that hold up to rounding (the
    /// adjoint identity, `jvp(f, x, t) == f(t)` for linear `f`).
    pub exact: f64,
}

/// Central differences with `h = 1e-6`: truncation error `h^2 |f'''| / 6`
/// is ~1e-13 for the functions here, rounding error about
/// `10 ulp * |f| / h` ~ 2e-9 |f|; `1e-5` relative leaves a wide margin
/// while any wrong rule is off by O(1).
/// Identities that hold up to rounding get `1e-12` relative to the sum of
/// absolute terms: a few hundred ulp.
pub const DEFAULT_FD: Fd = Fd {
    step: 1e-6,
    rtol: 1e-5,
    exact: 1e-12,
};

/// Where the primitive shows up when the builder is staged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Appears {
    /// In `make_jaxpr` of the builder.
    Jaxpr,
    /// Only in the linear jaxpr that differentiating the builder stages.
    LinearJaxpr,
}

/// A shape-generic form of an entry, for random programs. Values it
/// receives are `f64` arrays of any small shape; the seed picks parameters
/// (axes, offsets).
#[derive(Clone, Copy, Debug)]
pub enum Generic {
    /// Elementwise on one operand.
    Unary(fn(&Array) -> Result<Array>),
    /// On two operands of the same shape.
    Binary(fn(&Array, &Array, u64) -> Result<Array>),
    /// Changes the shape (or reduces).
    Reshaping(fn(&Array, u64) -> Result<Array>),
}

/// One entry of [`OP_CASES`].
#[derive(Clone, Copy, Debug)]
pub struct OpCase {
    /// The primitive's name, as in `PRIMITIVE_NAMES`.
    pub name: &'static str,
    /// Which variant of the primitive this entry exercises.
    pub note: &'static str,
    /// The float operands.
    pub operands: &'static [Operand],
    /// Applies the primitive.
    pub build: Build,
    /// What can be checked.
    pub kind: Kind,
    /// Linear in the operands jointly.
    pub linear: bool,
    /// Finite-difference settings.
    pub fd: Fd,
    /// Where staging shows the primitive.
    pub appears: Appears,
    /// The form random programs use, if they use this entry.
    pub generic: Option<Generic>,
}

impl OpCase {
    const fn new(name: &'static str, operands: &'static [Operand], build: Build) -> OpCase {
        OpCase {
            name,
            note: "",
            operands,
            build,
            kind: Kind::Smooth,
            linear: false,
            fd: DEFAULT_FD,
            appears: Appears::Jaxpr,
            generic: None,
        }
    }
    const fn note(self, note: &'static str) -> OpCase {
        OpCase { note, ..self }
    }
    const fn kind(self, kind: Kind) -> OpCase {
        OpCase { kind, ..self }
    }
    const fn linear(self) -> OpCase {
        OpCase {
            linear: true,
            ..self
        }
    }
    const fn fd(self, step: f64, rtol: f64, exact: f64) -> OpCase {
        OpCase {
            fd: Fd { step, rtol, exact },
            ..self
        }
    }
    const fn appears(self, appears: Appears) -> OpCase {
        OpCase { appears, ..self }
    }
    const fn generic(self, g: Generic) -> OpCase {
        OpCase {
            generic: Some(g),
            ..self
        }
    }

    /// What the entry's kind says about its derivative, for reports.
    pub fn describe(&self) -> String {
        match self.kind {
            Kind::Smooth => "smooth".to_string(),
            Kind::PiecewiseConstant(why) => format!("piecewise constant: {why}"),
            Kind::NonFloat(why) => format!("non-float: {why}"),
            Kind::StopsGradient(why) => format!("stops the gradient: {why}"),
            Kind::ReverseOnly(why) => format!("reverse only: {why}"),
            Kind::ForwardOnly(why) => format!("forward only: {why}"),
            Kind::NotYetSupported { reason, .. } => format!("not yet supported: {reason}"),
        }
    }
}

const fn op(shape: &'static [usize], domain: Domain) -> Operand {
    Operand { shape, domain }
}

const S23: &[usize] = &[2, 3];
const ANY: Domain = Domain::Any(-2.0, 2.0);
const NONZERO: Domain = Domain::AwayFromZero(0.1, 2.0);
const DIVISOR: Domain = Domain::AwayFromZero(0.5, 2.0);
const DISTINCT: Domain = Domain::Distinct(-2.0, 2.0);
const X23: &[Operand] = &[op(S23, ANY)];
const XY23: &[Operand] = &[op(S23, ANY), op(S23, ANY)];
const XY23_DISTINCT: &[Operand] = &[op(S23, DISTINCT), op(S23, DISTINCT)];
const XY23_NONZERO: &[Operand] = &[op(S23, NONZERO), op(S23, NONZERO)];

const CMP_REASON: &str = "comparison: bool result, zero derivative";
const BITWISE_REASON: &str = "bool operands and result: no tangents at all";

/// Every test case, at least one per primitive.
pub static OP_CASES: &[OpCase] = &[
    // ---- elementwise unary ------------------------------------------------
    OpCase::new("neg", X23, |x| lax::try_neg(&x[0]))
        .linear()
        .generic(Generic::Unary(lax::try_neg)),
    OpCase::new("exp", &[op(S23, Domain::Interval(-2.0, 2.0))], |x| {
        lax::try_exp(&x[0])
    })
    .note("smooth everywhere; programs keep its input in (-2, 2) so compositions stay finite")
    .generic(Generic::Unary(lax::try_exp)),
    OpCase::new("log", &[op(S23, Domain::Interval(0.2, 3.0))], |x| {
        lax::try_log(&x[0])
    })
    .generic(Generic::Unary(lax::try_log)),
    OpCase::new("log1p", &[op(S23, Domain::Interval(-0.7, 2.0))], |x| {
        lax::try_log1p(&x[0])
    })
    .generic(Generic::Unary(lax::try_log1p)),
    OpCase::new("expm1", &[op(S23, Domain::Interval(-2.0, 2.0))], |x| {
        lax::try_expm1(&x[0])
    })
    .generic(Generic::Unary(lax::try_expm1)),
    OpCase::new("sin", &[op(S23, Domain::Any(-3.0, 3.0))], |x| {
        lax::try_sin(&x[0])
    })
    .generic(Generic::Unary(lax::try_sin)),
    OpCase::new("cos", &[op(S23, Domain::Any(-3.0, 3.0))], |x| {
        lax::try_cos(&x[0])
    })
    .generic(Generic::Unary(lax::try_cos)),
    OpCase::new("tanh", X23, |x| lax::try_tanh(&x[0])).generic(Generic::Unary(lax::try_tanh)),
    OpCase::new("logistic", &[op(S23, Domain::Any(-3.0, 3.0))], |x| {
        lax::try_logistic(&x[0])
    })
    .generic(Generic::Unary(lax::try_logistic)),
    OpCase::new("sqrt", &[op(S23, Domain::Interval(0.2, 3.0))], |x| {
        lax::try_sqrt(&x[0])
    })
    .generic(Generic::Unary(lax::try_sqrt)),
    OpCase::new("rsqrt", &[op(S23, Domain::Interval(0.2, 3.0))], |x| {
        lax::try_rsqrt(&x[0])
    })
    .generic(Generic::Unary(lax::try_rsqrt)),
    OpCase::new("abs", &[op(S23, NONZERO)], |x| lax::try_abs(&x[0]))
        .note("kink at 0: sampled away from it, and kept out of random programs"),
    OpCase::new("sign", &[op(S23, NONZERO)], |x| lax::try_sign(&x[0]))
        .kind(Kind::PiecewiseConstant("jump at 0, constant elsewhere")),
    OpCase::new("floor", &[op(S23, Domain::OffGrid(3.0))], |x| {
        lax::try_floor(&x[0])
    })
    .kind(Kind::PiecewiseConstant(
        "jumps at integers, constant elsewhere",
    )),
    OpCase::new("ceil", &[op(S23, Domain::OffGrid(3.0))], |x| {
        lax::try_ceil(&x[0])
    })
    .kind(Kind::PiecewiseConstant(
        "jumps at integers, constant elsewhere",
    )),
    OpCase::new("round", &[op(S23, Domain::OffGrid(3.0))], |x| {
        lax::try_round(&x[0])
    })
    .kind(Kind::PiecewiseConstant(
        "jumps at half-integers, constant elsewhere",
    )),
    OpCase::new("erf", X23, |x| lax::try_erf(&x[0])).generic(Generic::Unary(lax::try_erf)),
    OpCase::new("not", &[op(S23, NONZERO)], |x| {
        f64_of(&lax::try_bitwise_not(&lax::try_gt(&x[0], &zero())?)?)
    })
    .note("not(x > 0)")
    .kind(Kind::NonFloat("bool operand and result")),
    OpCase::new("is_finite", X23, |x| f64_of(&lax::try_is_finite(&x[0])?))
        .kind(Kind::NonFloat("bool result, zero derivative")),
    // ---- elementwise binary -----------------------------------------------
    OpCase::new("add", &[op(S23, ANY), op(&[], ANY)], |x| {
        lax::try_add(&x[0], &x[1])
    })
    .note("rank-0 second operand (broadcast in jvp, summed in transpose)")
    .linear()
    .generic(Generic::Binary(|a, b, _| lax::try_add(a, b))),
    OpCase::new("sub", XY23, |x| lax::try_sub(&x[0], &x[1]))
        .linear()
        .generic(Generic::Binary(|a, b, _| lax::try_sub(a, b))),
    OpCase::new("mul", XY23, |x| lax::try_mul(&x[0], &x[1]))
        .generic(Generic::Binary(|a, b, _| lax::try_mul(a, b))),
    OpCase::new("mul", &[op(&[], ANY), op(S23, ANY)], |x| {
        lax::try_mul(&x[0], &x[1])
    })
    .note("rank-0 first operand"),
    OpCase::new("mul", X23, |x| lax::try_mul(&x[0], &x[0]))
        .note("x * x with the same array twice (the rule's single-term path)"),
    OpCase::new("div", &[op(S23, ANY), op(S23, DIVISOR)], |x| {
        lax::try_div(&x[0], &x[1])
    })
    .generic(Generic::Binary(|a, b, _| lax::try_div(a, b))),
    OpCase::new(
        "rem",
        &[op(S23, Domain::RemDividend), op(S23, DIVISOR)],
        |x| lax::try_rem(&x[0], &x[1]),
    )
    .note("x / y away from integers, where rem jumps"),
    OpCase::new(
        "pow",
        &[
            op(S23, Domain::Interval(0.3, 2.5)),
            op(S23, Domain::Interval(-2.0, 2.0)),
        ],
        |x| lax::try_pow(&x[0], &x[1]),
    )
    .generic(Generic::Binary(|a, b, _| lax::try_pow(a, b))),
    OpCase::new("max", XY23_DISTINCT, |x| lax::try_max(&x[0], &x[1]))
        .note("no ties")
        .generic(Generic::Binary(|a, b, _| lax::try_max(a, b))),
    OpCase::new("min", XY23_DISTINCT, |x| lax::try_min(&x[0], &x[1]))
        .note("no ties")
        .generic(Generic::Binary(|a, b, _| lax::try_min(a, b))),
    OpCase::new("and", XY23_NONZERO, |x| {
        f64_of(&lax::try_bitwise_and(&positive(&x[0])?, &positive(&x[1])?)?)
    })
    .note("(x > 0) and (y > 0)")
    .kind(Kind::NonFloat(BITWISE_REASON)),
    OpCase::new("or", XY23_NONZERO, |x| {
        f64_of(&lax::try_bitwise_or(&positive(&x[0])?, &positive(&x[1])?)?)
    })
    .kind(Kind::NonFloat(BITWISE_REASON)),
    OpCase::new("xor", XY23_NONZERO, |x| {
        f64_of(&lax::try_bitwise_xor(&positive(&x[0])?, &positive(&x[1])?)?)
    })
    .kind(Kind::NonFloat(BITWISE_REASON)),
    OpCase::new("eq", XY23_DISTINCT, |x| {
        f64_of(&lax::try_eq(
            &x[0],
            &lax::try_select(&pattern(S23)?, &x[0], &x[1])?,
        )?)
    })
    .note("x == select(pattern, x, y): equal exactly where the pattern is true")
    .kind(Kind::NonFloat(CMP_REASON)),
    OpCase::new("ne", XY23_DISTINCT, |x| f64_of(&lax::try_ne(&x[0], &x[1])?))
        .kind(Kind::NonFloat(CMP_REASON)),
    OpCase::new("lt", XY23_DISTINCT, |x| f64_of(&lax::try_lt(&x[0], &x[1])?))
        .kind(Kind::NonFloat(CMP_REASON)),
    OpCase::new("le", XY23_DISTINCT, |x| f64_of(&lax::try_le(&x[0], &x[1])?))
        .kind(Kind::NonFloat(CMP_REASON)),
    OpCase::new("gt", XY23_DISTINCT, |x| f64_of(&lax::try_gt(&x[0], &x[1])?))
        .kind(Kind::NonFloat(CMP_REASON)),
    OpCase::new("ge", XY23_DISTINCT, |x| f64_of(&lax::try_ge(&x[0], &x[1])?))
        .kind(Kind::NonFloat(CMP_REASON)),
    // ---- other elementwise ------------------------------------------------
    OpCase::new("select", XY23, |x| {
        lax::try_select(&pattern(S23)?, &x[0], &x[1])
    })
    .note("constant predicate")
    .linear()
    .generic(Generic::Binary(|a, b, _| {
        lax::try_select(&pattern(a.shape())?, a, b)
    })),
    OpCase::new("select", &[op(S23, ANY), op(&[], ANY)], |x| {
        lax::try_select(&pattern(S23)?, &x[0], &x[1])
    })
    .note("rank-0 on_false")
    .linear(),
    OpCase::new("convert_element_type", X23, |x| {
        f64_of(&lax::try_convert_element_type(&x[0], DType::F32)?)
    })
    .note(
        "f64 -> f32 -> f64; f32 rounding (6e-8 relative) needs h = 1e-2 and rtol 1e-4 \
         against finite differences, and f32-level 1e-6 for the adjoint identity \
         (<f32(ct), t> and <ct, f32(t)> round differently)",
    )
    .linear()
    .fd(1e-2, 1e-4, 1e-6),
    OpCase::new(
        "convert_element_type",
        &[op(S23, Domain::OffGrid(3.0))],
        |x| f64_of(&lax::try_convert_element_type(&x[0], DType::I32)?),
    )
    .note("f64 -> i32 (truncation) -> f64")
    .kind(Kind::PiecewiseConstant("truncation to an integer dtype")),
    // ---- shape ------------------------------------------------------------
    OpCase::new("broadcast_in_dim", &[op(&[3, 1], ANY)], |x| {
        lax::try_broadcast_in_dim(&x[0], &[2, 3, 4], &[1, 2])
    })
    .note("new leading dimension and a size-1 dimension expanded")
    .linear()
    .generic(Generic::Reshaping(g_broadcast)),
    OpCase::new("reshape", X23, |x| lax::try_reshape(&x[0], &[3, 2]))
        .linear()
        .generic(Generic::Reshaping(g_reshape)),
    OpCase::new("transpose", &[op(&[2, 3, 4], ANY)], |x| {
        lax::try_transpose(&x[0], &[2, 0, 1])
    })
    .linear()
    .generic(Generic::Reshaping(g_transpose)),
    // ---- reductions -------------------------------------------------------
    OpCase::new("reduce_sum", &[op(&[2, 3, 2], ANY)], |x| {
        lax::try_reduce_sum(&x[0], &[0, 2])
    })
    .linear()
    .generic(Generic::Reshaping(|x, s| {
        lax::try_reduce_sum(x, &one_axis(x, s))
    })),
    OpCase::new("reduce_max", &[op(S23, DISTINCT)], |x| {
        lax::try_reduce_max(&x[0], &[1])
    })
    .note("no ties")
    .generic(Generic::Reshaping(|x, s| {
        lax::try_reduce_max(x, &one_axis(x, s))
    })),
    OpCase::new("reduce_min", &[op(&[3, 2], DISTINCT)], |x| {
        lax::try_reduce_min(&x[0], &[0])
    })
    .note("no ties")
    .generic(Generic::Reshaping(|x, s| {
        lax::try_reduce_min(x, &one_axis(x, s))
    })),
    OpCase::new(
        "reduce_prod",
        &[op(S23, Domain::AwayFromZero(0.3, 1.5))],
        |x| lax::try_reduce_prod(&x[0], &[1]),
    )
    .generic(Generic::Reshaping(|x, s| {
        lax::try_reduce_prod(x, &one_axis(x, s))
    })),
    OpCase::new("reduce_prod", &[op(S23, Domain::WithZeros(1))], |x| {
        lax::try_reduce_prod(&x[0], &[1])
    })
    .note("one exact zero (a polynomial, so finite differences are exact there)"),
    OpCase::new("reduce_prod", &[op(&[4], Domain::WithZeros(2))], |x| {
        lax::try_reduce_prod(&x[0], &[0])
    })
    .note("two exact zeros in the reduced slice: gradient 0"),
    OpCase::new("argmax", &[op(S23, DISTINCT)], |x| {
        f64_of(&lax::try_argmax(&x[0], 1, DType::I32)?)
    })
    .kind(Kind::NonFloat("integer result")),
    OpCase::new("argmin", &[op(S23, DISTINCT)], |x| {
        f64_of(&lax::try_argmin(&x[0], 0, DType::I32)?)
    })
    .kind(Kind::NonFloat("integer result")),
    OpCase::new("cumsum", X23, |x| lax::try_cumsum(&x[0], 1, false))
        .linear()
        .generic(Generic::Reshaping(g_cumsum)),
    OpCase::new("cumsum", &[op(&[3, 2], ANY)], |x| {
        lax::try_cumsum(&x[0], 0, true)
    })
    .note("reverse")
    .linear(),
    // ---- contraction ------------------------------------------------------
    OpCase::new("dot_general", &[op(S23, ANY), op(&[3, 4], ANY)], |x| {
        lax::try_dot_general(&x[0], &x[1], &[1], &[0], &[], &[])
    })
    .note("matrix product")
    .generic(Generic::Binary(g_dot)),
    OpCase::new(
        "dot_general",
        &[op(&[3, 2, 4], ANY), op(&[4, 2, 5], ANY)],
        |x| lax::try_dot_general(&x[0], &x[1], &[2], &[0], &[1], &[1]),
    )
    .note("batch dimension in the middle of both operands"),
    OpCase::new(
        "dot_general",
        &[op(&[2, 3, 2], ANY), op(&[3, 2], ANY)],
        |x| lax::try_dot_general(&x[0], &x[1], &[2, 1], &[1, 0], &[], &[]),
    )
    .note("two contracted dimensions paired out of order"),
    // ---- slicing and joining ----------------------------------------------
    OpCase::new("slice", &[op(&[4, 5], ANY)], |x| {
        lax::try_slice(&x[0], &[1, 0], &[4, 5], &[2, 2])
    })
    .note("strided")
    .linear()
    .generic(Generic::Reshaping(g_slice)),
    OpCase::new("pad", &[op(S23, ANY), op(&[], ANY)], |x| {
        lax::try_pad(&x[0], &x[1], &[1, -1], &[0, 2], &[1, 0])
    })
    .note("interior padding, a negative (cropping) low; the padding value is differentiated too")
    .linear()
    .generic(Generic::Reshaping(g_pad)),
    OpCase::new("concatenate", &[op(S23, ANY), op(&[2, 1], ANY)], |x| {
        lax::try_concatenate(&[x[0].clone(), x[1].clone()], 1)
    })
    .linear()
    .generic(Generic::Binary(g_concatenate)),
    OpCase::new("rev", X23, |x| lax::try_rev(&x[0], &[0, 1]))
        .linear()
        .generic(Generic::Reshaping(|x, s| lax::try_rev(x, &one_axis(x, s)))),
    OpCase::new("dynamic_slice", &[op(&[4, 5], ANY)], |x| {
        lax::try_dynamic_slice(&x[0], &[index(2), index(4)], &[2, 3])
    })
    .note("second start index clamped from 4 to 2")
    .linear()
    .generic(Generic::Reshaping(g_dynamic_slice)),
    OpCase::new(
        "dynamic_update_slice",
        &[op(&[4, 5], ANY), op(&[2, 2], ANY)],
        |x| lax::try_dynamic_update_slice(&x[0], &x[1], &[index(1), index(4)]),
    )
    .note("second start index clamped from 4 to 3")
    .linear()
    .generic(Generic::Binary(g_dynamic_update_slice)),
    OpCase::new("gather", &[op(&[4, 3], ANY)], |x| {
        lax::try_gather(&x[0], &indices(&[2, 0, 2])?, 0)
    })
    .note("duplicate indices")
    .linear()
    .generic(Generic::Reshaping(g_gather)),
    OpCase::new("gather", &[op(&[3, 4], ANY)], |x| {
        lax::try_gather(&x[0], &indices(&[5, -1, 3])?, 1)
    })
    .note("out-of-range indices 5 and -1, clamped to 3 and 0")
    .linear(),
    OpCase::new("scatter", &[op(&[4, 3], ANY), op(&[3, 3], ANY)], |x| {
        lax::try_scatter(&x[0], &indices(&[2, 0, 2])?, &x[1], 0, ScatterKind::Add)
    })
    .note("add, duplicate indices")
    .linear()
    .generic(Generic::Binary(g_scatter_add)),
    OpCase::new("scatter", &[op(&[4, 3], ANY), op(&[3, 3], ANY)], |x| {
        lax::try_scatter(&x[0], &indices(&[1, 7, -1])?, &x[1], 0, ScatterKind::Add)
    })
    .note("add, out-of-range indices 7 and -1 (their updates are dropped)")
    .linear(),
    OpCase::new("scatter", &[op(&[4, 3], ANY), op(&[2, 3], ANY)], |x| {
        lax::try_scatter(&x[0], &indices(&[3, 0])?, &x[1], 0, ScatterKind::Set)
    })
    .note("set, unique indices")
    .linear(),
    OpCase::new("scatter", &[op(&[4, 3], ANY), op(&[3, 3], ANY)], |x| {
        lax::try_scatter(&x[0], &indices(&[1, 2, 1])?, &x[1], 0, ScatterKind::Set)
    })
    .note("set, duplicate indices (the last update wins)")
    .linear(),
    OpCase::new(
        "scatter",
        &[op(&[4, 2], DISTINCT), op(&[3, 2], DISTINCT)],
        |x| lax::try_scatter(&x[0], &indices(&[2, 0, 2])?, &x[1], 0, ScatterKind::Max),
    )
    .note("max, duplicate indices, no ties"),
    OpCase::new(
        "scatter",
        &[op(&[2, 4], DISTINCT), op(&[2, 3], DISTINCT)],
        |x| lax::try_scatter(&x[0], &indices(&[1, 3, 1])?, &x[1], 1, ScatterKind::Min),
    )
    .note("min along axis 1, duplicate indices, no ties"),
    OpCase::new("scatter", &[op(&[4, 3], ANY)], |x| {
        let factors = Array::from_vec(vec![1.5, -0.5, 2.0, 0.25, 3.0, -1.0], &[2, 3])?;
        lax::try_scatter(&x[0], &indices(&[1, 1])?, &factors, 0, ScatterKind::Mul)
    })
    .note("mul with constant updates (linear in the operand)")
    .linear(),
    OpCase::new("scatter", &[op(&[4, 3], ANY), op(&[2, 3], ANY)], |x| {
        lax::try_scatter(&x[0], &indices(&[1, 3])?, &x[1], 0, ScatterKind::Mul)
    })
    .note("mul differentiated with respect to the updates")
    .kind(Kind::NotYetSupported {
        reason: "the derivative with respect to the updates needs products over duplicate \
                 indices; unsupported, as in JAX without unique_indices",
        error_prim: "scatter (mul) with respect to the updates",
        reference: |x| {
            let rows = |i: usize| lax::try_slice(&x[0], &[i, 0], &[i + 1, 3], &[]);
            let upd = |i: usize| lax::try_slice(&x[1], &[i, 0], &[i + 1, 3], &[]);
            let parts = [
                rows(0)?,
                lax::try_mul(&rows(1)?, &upd(0)?)?,
                rows(2)?,
                lax::try_mul(&rows(3)?, &upd(1)?)?,
            ];
            lax::try_concatenate(&parts, 0)
        },
    }),
    // ---- creation and randomness ------------------------------------------
    OpCase::new("iota", X23, |_| f64_of(&lax::try_iota(DType::I32, S23, 1)?))
        .note("no operands: the result is a constant of the differentiated function")
        .kind(Kind::NonFloat("no operands, integer result")),
    OpCase::new("random_bits", X23, |_| {
        let key = Array::from_vec((1..=8u32).collect(), &[8])?;
        let bits = bind1(
            Primitive::RandomBits {
                shape: Shape::from_slice(S23),
            },
            &[key],
        )?;
        lax::try_mul(&f64_of(&bits)?, &Array::scalar(1.0 / 4_294_967_296.0))
    })
    .note("u32 key in, u32 bits out (scaled to [0, 1) as f64)")
    .kind(Kind::NonFloat("integer key and result")),
    OpCase::new("stop_gradient", X23, |x| lax::try_stop_gradient(&x[0])).kind(Kind::StopsGradient(
        "identity whose derivative is defined to be zero",
    )),
    // ---- higher order -----------------------------------------------------
    OpCase::new("call", XY23, |x| call_case(&x[0], &x[1]))
        .note("a make_jaxpr'd a * exp(b) + c with a captured constant c")
        .generic(Generic::Unary(g_call)),
    OpCase::new("cond", X23, cond_case).note("branch 1 of (sin, x * x)"),
    OpCase::new("while", X23, while_case)
        .note("x * 1.5 three times, counted by an integer carry")
        .kind(Kind::ForwardOnly(
            "reverse mode of while is an error by design (as in JAX): its trip count is only \
             known at run time; scan or fori_loop with static bounds are reverse-differentiable",
        )),
    OpCase::new("scan", &[op(&[3], ANY), op(&[4, 3], ANY)], scan_case)
        .note("carry + x, emitting carry * x, over 4 rows"),
    OpCase::new("custom_jvp_call", X23, |x| Ok(custom_sin_times_x(&x[0])))
        .note("x sin x with a (correct) hand-written rule")
        .generic(Generic::Unary(|x| Ok(custom_sin_times_x(x)))),
    OpCase::new("custom_vjp_call", XY23, |x| {
        let f = custom_vjp(
            |p: &(Array, Array)| &p.0 * &p.1.exp(),
            |p: &(Array, Array)| {
                let e = p.1.exp();
                (&p.0 * &e, (p.0.clone(), e))
            },
            |r: &(Array, Array), ct: &Array| (ct * &r.1, ct * &r.0 * &r.1),
        );
        Ok(f(&(x[0].clone(), x[1].clone())))
    })
    .note("x * exp(y) with a hand-written backward pass")
    .kind(Kind::ReverseOnly(
        "forward mode of a custom_vjp function is an error by design (as in JAX)",
    )),
    OpCase::new("custom_lin", X23, |x| {
        let f = custom_vjp(
            |v: &Array| v.sin(),
            |v: &Array| (v.sin(), v.cos()),
            |c: &Array, ct: &Array| ct * c,
        );
        Ok(f(&x[0]))
    })
    .note("made by differentiating a custom_vjp function (sin with bwd ct * cos)")
    .kind(Kind::ReverseOnly(
        "the linear map of a custom_vjp function: transposable, no forward evaluation",
    ))
    .appears(Appears::LinearJaxpr),
];

// ---- builders' helpers --------------------------------------------------------

fn f64_of(x: &Array) -> Result<Array> {
    lax::try_convert_element_type(x, DType::F64)
}

fn zero() -> Array {
    Array::scalar(0.0f64)
}

fn positive(x: &Array) -> Result<Array> {
    lax::try_gt(x, &zero())
}

/// A fixed bool pattern of `shape` (true except every third element).
fn pattern(shape: &[usize]) -> Result<Array> {
    let n: usize = shape.iter().product();
    Array::from_vec((0..n).map(|k| k % 3 != 1).collect(), shape)
}

fn call_case(a: &Array, b: &Array) -> Result<Array> {
    let c = Array::from_vec(vec![0.5, -1.0, 2.0, 0.0, 1.5, -0.25], &[2, 3])?;
    let inner = |p: &(Array, Array)| lax::add(&lax::mul(&p.0, &lax::exp(&p.1)), &c);
    let jaxpr = make_jaxpr(inner)(&(a.clone(), b.clone()))?;
    let prim = Primitive::Call {
        jaxpr: Arc::new(jaxpr),
        name: "inner".to_string(),
    };
    bind1(prim, &[a.clone(), b.clone()])
}

fn cond_case(x: &[Array]) -> Result<Array> {
    let b0 = make_jaxpr(|v: &Array| lax::sin(v))(&x[0])?;
    let b1 = make_jaxpr(|v: &Array| lax::mul(v, v))(&x[0])?;
    let prim = Primitive::Cond {
        branches: vec![Arc::new(b0), Arc::new(b1)],
    };
    bind1(prim, &[index(1), x[0].clone()])
}

fn while_case(x: &[Array]) -> Result<Array> {
    let carry = (x[0].clone(), index(0));
    let cond = make_jaxpr(|c: &(Array, Array)| lax::lt(&c.1, &index(3)))(&carry)?;
    let body = make_jaxpr(|c: &(Array, Array)| {
        (
            lax::mul(&c.0, &Array::scalar(1.5f64)),
            lax::add(&c.1, &index(1)),
        )
    })(&carry)?;
    let prim = Primitive::While {
        cond_jaxpr: Arc::new(cond),
        body_jaxpr: Arc::new(body),
    };
    Ok(bind(prim, &[carry.0, carry.1])?.swap_remove(0))
}

fn scan_case(x: &[Array]) -> Result<Array> {
    let slice = (x[0].clone(), jnp::zeros(&[3], DType::F64));
    let body =
        make_jaxpr(|p: &(Array, Array)| (lax::add(&p.0, &p.1), lax::mul(&p.0, &p.1)))(&slice)?;
    let prim = Primitive::Scan {
        body: Arc::new(body),
        length: 4,
        reverse: false,
        num_consts: 0,
        num_carry: 1,
    };
    Ok(bind(prim, &[x[0].clone(), x[1].clone()])?.swap_remove(0))
}

fn custom_sin_times_x(x: &Array) -> Array {
    let f = custom_jvp(
        |v: &Array| lax::mul(&lax::sin(v), v),
        |v: &Array, t: &Array| {
            let y = lax::mul(&lax::sin(v), v);
            let dy = lax::add(&lax::mul(&lax::cos(v), v), &lax::sin(v));
            (y, lax::mul(t, &dy))
        },
    );
    f(x)
}
