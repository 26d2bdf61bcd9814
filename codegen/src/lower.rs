//! The per-primitive lowering table: how each [`Primitive`] reaches the
//! kernel IR.
//!
//! [`lowering`] is the one `match` over [`Primitive`] of the compiler's
//! front half (enum order, no wildcard arm, one short arm per variant). It
//! maps a primitive to a [`Lowering`]: the kernel-IR operation of an
//! elementwise primitive, or the shape of the index arithmetic, loop or
//! library call that fusion ([`crate::fusion`]) emits for it. Fusion then
//! matches exhaustively over [`Lowering`], so a new primitive fails to
//! compile here first, and a new kind of lowering fails to compile in
//! fusion until it is handled there.
//!
//! Higher-order primitives that are only calls (`call`, `custom_jvp_call`,
//! `custom_vjp_call`) lower to [`Lowering::Inline`]: fusion inlines the
//! called jaxpr. `cond`, `while` and `scan` lower to [`Lowering::Control`]:
//! a program step running sub-programs ([`crate::control`]).
//! `custom_lin` is not lowered and gives [`Error::NotYetSupported`].

use crate::kernel::{BinaryOp, UnaryOp};
use rjax_ir::{ClosedJaxpr, DType, Error, Primitive, Result, Scalar, ScatterKind};

/// The rule-kind name used in [`Error::NotYetSupported`] by this table.
pub const RULE: &str = "kernel lowering";

/// The combining operation of a reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// `+`, starting from 0.
    Sum,
    /// NaN-propagating maximum, starting from `-inf` (or the type's minimum).
    Max,
    /// NaN-propagating minimum, starting from `+inf` (or the type's maximum).
    Min,
    /// `*`, starting from 1.
    Prod,
}

impl ReduceOp {
    /// The kernel operation folding one element into the accumulator.
    pub fn combine(self) -> BinaryOp {
        match self {
            ReduceOp::Sum => BinaryOp::Add,
            ReduceOp::Max => BinaryOp::Max,
            ReduceOp::Min => BinaryOp::Min,
            ReduceOp::Prod => BinaryOp::Mul,
        }
    }

    /// The reduction whose fold is `op`, if any (`combine`'s inverse).
    pub fn of_combine(op: BinaryOp) -> Option<ReduceOp> {
        match op {
            BinaryOp::Add => Some(ReduceOp::Sum),
            BinaryOp::Mul => Some(ReduceOp::Prod),
            BinaryOp::Max => Some(ReduceOp::Max),
            BinaryOp::Min => Some(ReduceOp::Min),
            BinaryOp::Sub
            | BinaryOp::Div
            | BinaryOp::Rem
            | BinaryOp::Pow
            | BinaryOp::And
            | BinaryOp::Or
            | BinaryOp::Xor
            | BinaryOp::Shl
            | BinaryOp::ShrLogical
            | BinaryOp::ShrArith
            | BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => None,
        }
    }

    /// The starting value of the accumulator for `dtype` (the result of an
    /// empty reduction), as the reference interpreter defines it.
    pub fn identity(self, dtype: DType) -> Scalar {
        match (self, dtype) {
            (ReduceOp::Sum, d) => Scalar::zero(d),
            (ReduceOp::Prod, d) => Scalar::one(d),
            (ReduceOp::Max, DType::I32) => Scalar::I32(i32::MIN),
            (ReduceOp::Max, DType::U32) => Scalar::U32(u32::MIN),
            (ReduceOp::Max, d) => Scalar::from_f64(f64::NEG_INFINITY, d),
            (ReduceOp::Min, DType::I32) => Scalar::I32(i32::MAX),
            (ReduceOp::Min, DType::U32) => Scalar::U32(u32::MAX),
            (ReduceOp::Min, d) => Scalar::from_f64(f64::INFINITY, d),
        }
    }
}

/// The dimension numbers of a `dot_general`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DotDims<'a> {
    /// Contracted lhs dimensions.
    pub lhs_contract: &'a [usize],
    /// Contracted rhs dimensions, paired with `lhs_contract`.
    pub rhs_contract: &'a [usize],
    /// Batch lhs dimensions.
    pub lhs_batch: &'a [usize],
    /// Batch rhs dimensions, paired with `lhs_batch`.
    pub rhs_batch: &'a [usize],
}

/// How one primitive is lowered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lowering<'a> {
    /// Elementwise, one kernel operation on one operand.
    Unary(UnaryOp),
    /// Elementwise, one kernel operation on two operands (comparisons give
    /// bool).
    Binary(BinaryOp),
    /// Elementwise `select(pred, on_true, on_false)`.
    Select,
    /// Elementwise conversion to a dtype.
    Convert(DType),
    /// The operand itself (`stop_gradient`).
    Identity,
    /// Index arithmetic: operand dimension `k` reads output dimension
    /// `dims[k]` (index 0 where the operand's size is 1).
    Broadcast {
        /// Output dimension of each operand dimension.
        dims: &'a [usize],
    },
    /// Index arithmetic: row-major reshape.
    Reshape,
    /// Index arithmetic: output dimension `k` is operand dimension `perm[k]`.
    Transpose {
        /// The permutation.
        perm: &'a [usize],
    },
    /// A loop with an accumulator over `axes`.
    Reduce {
        /// How elements combine.
        op: ReduceOp,
        /// Reduced operand dimensions.
        axes: &'a [usize],
    },
    /// A loop along `axis` keeping the best value and its index.
    ArgReduce {
        /// Searched dimension.
        axis: usize,
        /// Integer dtype of the result.
        index_dtype: DType,
        /// `argmax` (true) or `argmin` (false).
        max: bool,
    },
    /// A sequential running sum along `axis`.
    Cumsum {
        /// Summed dimension.
        axis: usize,
        /// From the last element backwards.
        reverse: bool,
    },
    /// A GEMM call (floats) or an accumulator loop (integers).
    Dot(DotDims<'a>),
    /// Index arithmetic: `start + stride * i` per dimension.
    Slice {
        /// First index per dimension.
        start: &'a [usize],
        /// Step per dimension.
        strides: &'a [usize],
    },
    /// A select between the operand and the padding value on an in-bounds
    /// test.
    Pad {
        /// Padding before, per dimension (negative crops).
        low: &'a [i64],
        /// Padding between elements, per dimension.
        interior: &'a [usize],
    },
    /// A piecewise select between the operands along `axis`.
    Concatenate {
        /// Joined dimension.
        axis: usize,
    },
    /// Index arithmetic: `size - 1 - i` along `axes`.
    Rev {
        /// Reversed dimensions.
        axes: &'a [usize],
    },
    /// Index arithmetic with clamped run-time start indices.
    DynamicSlice,
    /// A copy, then a block store at clamped run-time start indices.
    DynamicUpdateSlice,
    /// A load at an index read from the integer operand (clamped).
    Gather {
        /// Indexed dimension.
        axis: usize,
    },
    /// A copy, then a sequential update loop.
    Scatter {
        /// Indexed dimension.
        axis: usize,
        /// How updates combine.
        kind: ScatterKind,
    },
    /// The index along `dimension`, converted to the output dtype.
    Iota {
        /// Counting dimension.
        dimension: usize,
    },
    /// ChaCha20 blocks computed in the kernel, 16 output words per block.
    RandomBits,
    /// The called jaxpr, inlined into the caller.
    Inline(&'a ClosedJaxpr),
    /// Control flow (`cond`, `while`, `scan`): a step of its own whose
    /// sub-jaxprs are compiled as sub-programs ([`crate::control`]).
    Control,
}

/// How `prim` is lowered.
///
/// # Errors
/// [`Error::NotYetSupported`] (rule [`RULE`]) for `custom_lin`.
pub fn lowering(prim: &Primitive) -> Result<Lowering<'_>> {
    use BinaryOp as B;
    use Lowering as L;
    use Primitive as P;
    use UnaryOp as U;
    Ok(match prim {
        P::Neg => L::Unary(U::Neg),
        P::Exp => L::Unary(U::Exp),
        P::Log => L::Unary(U::Log),
        P::Log1p => L::Unary(U::Log1p),
        P::Expm1 => L::Unary(U::Expm1),
        P::Sin => L::Unary(U::Sin),
        P::Cos => L::Unary(U::Cos),
        P::Tanh => L::Unary(U::Tanh),
        P::Logistic => L::Unary(U::Logistic),
        P::Sqrt => L::Unary(U::Sqrt),
        P::Rsqrt => L::Unary(U::Rsqrt),
        P::Abs => L::Unary(U::Abs),
        P::Sign => L::Unary(U::Sign),
        P::Floor => L::Unary(U::Floor),
        P::Ceil => L::Unary(U::Ceil),
        P::Round => L::Unary(U::Round),
        P::Erf => L::Unary(U::Erf),
        P::Not => L::Unary(U::Not),
        P::IsFinite => L::Unary(U::IsFinite),
        P::Add => L::Binary(B::Add),
        P::Sub => L::Binary(B::Sub),
        P::Mul => L::Binary(B::Mul),
        P::Div => L::Binary(B::Div),
        P::Rem => L::Binary(B::Rem),
        P::Pow => L::Binary(B::Pow),
        P::Max => L::Binary(B::Max),
        P::Min => L::Binary(B::Min),
        P::And => L::Binary(B::And),
        P::Or => L::Binary(B::Or),
        P::Xor => L::Binary(B::Xor),
        P::Eq => L::Binary(B::Eq),
        P::Ne => L::Binary(B::Ne),
        P::Lt => L::Binary(B::Lt),
        P::Le => L::Binary(B::Le),
        P::Gt => L::Binary(B::Gt),
        P::Ge => L::Binary(B::Ge),
        P::Select => L::Select,
        P::ConvertElementType { new_dtype } => L::Convert(*new_dtype),
        P::BroadcastInDim {
            broadcast_dimensions,
            ..
        } => L::Broadcast {
            dims: broadcast_dimensions,
        },
        P::Reshape { .. } => L::Reshape,
        P::Transpose { permutation } => L::Transpose { perm: permutation },
        P::ReduceSum { axes } => reduce(ReduceOp::Sum, axes),
        P::ReduceMax { axes } => reduce(ReduceOp::Max, axes),
        P::ReduceMin { axes } => reduce(ReduceOp::Min, axes),
        P::ReduceProd { axes } => reduce(ReduceOp::Prod, axes),
        P::ArgMax { axis, index_dtype } => arg(*axis, *index_dtype, true),
        P::ArgMin { axis, index_dtype } => arg(*axis, *index_dtype, false),
        P::Cumsum { axis, reverse } => L::Cumsum {
            axis: *axis,
            reverse: *reverse,
        },
        P::DotGeneral {
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
        } => L::Dot(DotDims {
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
        }),
        P::Slice { start, strides, .. } => L::Slice { start, strides },
        P::Pad { low, interior, .. } => L::Pad { low, interior },
        P::Concatenate { axis } => L::Concatenate { axis: *axis },
        P::Rev { axes } => L::Rev { axes },
        P::DynamicSlice { .. } => L::DynamicSlice,
        P::DynamicUpdateSlice => L::DynamicUpdateSlice,
        P::Gather { axis } => L::Gather { axis: *axis },
        P::Scatter { axis, kind } => L::Scatter {
            axis: *axis,
            kind: *kind,
        },
        P::Iota { dimension, .. } => L::Iota {
            dimension: *dimension,
        },
        P::RandomBits { .. } => L::RandomBits,
        P::StopGradient => L::Identity,
        P::Call { jaxpr, .. } => L::Inline(jaxpr),
        P::Cond { .. } => L::Control,
        P::While { .. } => L::Control,
        P::Scan { .. } => L::Control,
        P::CustomJvpCall { call, .. } => L::Inline(call),
        P::CustomVjpCall { call, .. } => L::Inline(call),
        P::CustomLin { .. } => return unsupported(prim),
    })
}

/// [`Lowering::Reduce`].
fn reduce(op: ReduceOp, axes: &[usize]) -> Lowering<'_> {
    Lowering::Reduce { op, axes }
}

/// [`Lowering::ArgReduce`].
fn arg(axis: usize, index_dtype: DType, max: bool) -> Lowering<'static> {
    Lowering::ArgReduce {
        axis,
        index_dtype,
        max,
    }
}

/// The error for a primitive this table does not lower yet.
fn unsupported<T>(prim: &Primitive) -> Result<T> {
    Err(Error::NotYetSupported {
        prim: prim.name(),
        rule: RULE,
    })
}
