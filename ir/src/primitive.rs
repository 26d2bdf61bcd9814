//! The closed set of primitives every rjax program is built from.
//!
//! The set is small and orthogonal, like `jax.lax`: everything in the
//! NumPy-like API is a composition of these. Each variant carries its
//! parameters inline and documents its semantics; the shape rules
//! (`shape.rs`) and the reference interpreter (`interp.rs`) are the
//! executable form of these docs.
//!
//! Conventions shared by the elementwise primitives: all operands have the
//! same dtype, and either the same shape or shape `[]` (a rank-0 operand is
//! broadcast to the others, which is how scalar literals such as the `2.0` in
//! `mul a 2.0` appear in jaxprs). NumPy broadcasting and dtype promotion
//! happen above this level, in `jnp`.
//!
//! Adding a variant must fail to compile until every rule table handles it:
//! no rule `match` over `Primitive` has a `_ =>` arm. See
//! `docs/adding-a-primitive.md`.

use crate::dtype::{DType, Shape};
use crate::jaxpr::ClosedJaxpr;
use smallvec::SmallVec;
use std::sync::Arc;

/// How a scatter combines the update with what is already at an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScatterKind {
    /// Overwrite; with duplicate indices the last update in index order wins.
    Set,
    /// Accumulate with `+` (duplicates all add).
    Add,
    /// Accumulate with `*`.
    Mul,
    /// Keep the minimum.
    Min,
    /// Keep the maximum.
    Max,
}

impl ScatterKind {
    /// Name used in printed jaxprs.
    pub fn name(self) -> &'static str {
        match self {
            ScatterKind::Set => "set",
            ScatterKind::Add => "add",
            ScatterKind::Mul => "mul",
            ScatterKind::Min => "min",
            ScatterKind::Max => "max",
        }
    }
}

/// One primitive operation, with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Primitive {
    // ---- elementwise unary --------------------------------------------
    /// `-x`. Numbers (not bool); wraps for `u32`.
    Neg,
    /// `e^x`. Floats.
    Exp,
    /// Natural logarithm; `log(0) = -inf`, negative gives NaN. Floats.
    Log,
    /// `log(1 + x)`, accurate near 0. Floats.
    Log1p,
    /// `e^x - 1`, accurate near 0. Floats.
    Expm1,
    /// Sine (radians). Floats.
    Sin,
    /// Cosine (radians). Floats.
    Cos,
    /// Hyperbolic tangent. Floats.
    Tanh,
    /// The logistic sigmoid `1 / (1 + e^-x)`. Floats.
    Logistic,
    /// Square root; negative gives NaN. Floats.
    Sqrt,
    /// `1 / sqrt(x)`. Floats.
    Rsqrt,
    /// Absolute value. Numbers (not bool); identity for `u32`.
    Abs,
    /// `-1`, `0` or `1` by the sign of `x`; `sign(±0) = ±0` and `sign(NaN) = NaN`
    /// for floats. Numbers (not bool).
    Sign,
    /// Round toward negative infinity. Floats.
    Floor,
    /// Round toward positive infinity. Floats.
    Ceil,
    /// Round to nearest, ties away from zero (`lax.round`'s default). Floats.
    Round,
    /// The error function. Floats.
    Erf,
    /// Logical not for bool, bitwise not for integers.
    Not,
    /// True where `x` is neither infinite nor NaN. Floats in, bool out.
    IsFinite,

    // ---- elementwise binary -------------------------------------------
    /// `x + y`. Numbers (not bool); integers wrap.
    Add,
    /// `x - y`. Numbers (not bool); integers wrap.
    Sub,
    /// `x * y`. Numbers (not bool); integers wrap.
    Mul,
    /// `x / y`; integer division truncates toward zero, and integer division
    /// by zero gives 0 (rather than trapping). Numbers (not bool).
    Div,
    /// Remainder with the sign of the dividend (C `fmod`, `lax.rem`); integer
    /// `rem` by zero gives 0. Numbers (not bool).
    Rem,
    /// `x ^ y` for floats (both operands of one float dtype).
    Pow,
    /// Elementwise maximum; NaN if either float operand is NaN.
    Max,
    /// Elementwise minimum; NaN if either float operand is NaN.
    Min,
    /// Logical and (bool) or bitwise and (integers).
    And,
    /// Logical or (bool) or bitwise or (integers).
    Or,
    /// Logical or bitwise exclusive or.
    Xor,
    /// `x == y`, bool result. Any dtype.
    Eq,
    /// `x != y`, bool result. Any dtype.
    Ne,
    /// `x < y`, bool result. Numbers.
    Lt,
    /// `x <= y`, bool result. Numbers.
    Le,
    /// `x > y`, bool result. Numbers.
    Gt,
    /// `x >= y`, bool result. Numbers.
    Ge,

    // ---- other elementwise --------------------------------------------
    /// `select(pred, on_true, on_false)`: `on_true` where `pred` is true.
    /// `pred` is bool; the cases share a dtype; the three shapes follow the
    /// elementwise convention (equal, or `[]`).
    Select,
    /// Converts each element to `new_dtype`: float to integer truncates toward
    /// zero (saturating, NaN to 0), anything to bool is `x != 0`, bool to a
    /// number is 0 or 1.
    ConvertElementType {
        /// Target element type.
        new_dtype: DType,
    },

    // ---- shape ----------------------------------------------------------
    /// Broadcasts an operand to `shape`: operand dimension `i` becomes output
    /// dimension `broadcast_dimensions[i]` (strictly increasing), whose size
    /// must equal the operand's or the operand's must be 1.
    BroadcastInDim {
        /// Output shape.
        shape: Shape,
        /// For each operand dimension, the output dimension it maps to.
        broadcast_dimensions: Vec<usize>,
    },
    /// Row-major reshape to `new_sizes` (same number of elements). Also how
    /// `squeeze` and `expand_dims` are expressed.
    Reshape {
        /// Output shape.
        new_sizes: Shape,
    },
    /// Permutes dimensions: output dimension `i` is operand dimension
    /// `permutation[i]`.
    Transpose {
        /// A permutation of `0..rank`.
        permutation: Vec<usize>,
    },

    // ---- reductions -----------------------------------------------------
    /// Sum over `axes` (distinct, sorted), which are removed. Numbers.
    ReduceSum {
        /// Axes reduced away.
        axes: Vec<usize>,
    },
    /// Maximum over `axes`; `-inf` (or the type's minimum) for an empty
    /// reduction; NaN propagates. Numbers.
    ReduceMax {
        /// Axes reduced away.
        axes: Vec<usize>,
    },
    /// Minimum over `axes`; `+inf` (or the type's maximum) for an empty
    /// reduction; NaN propagates. Numbers.
    ReduceMin {
        /// Axes reduced away.
        axes: Vec<usize>,
    },
    /// Product over `axes`. Numbers.
    ReduceProd {
        /// Axes reduced away.
        axes: Vec<usize>,
    },
    /// Index of the first maximum along `axis` (removed), as `index_dtype`.
    /// A NaN counts as the maximum. The axis must not be empty.
    ArgMax {
        /// Axis searched.
        axis: usize,
        /// Integer dtype of the result.
        index_dtype: DType,
    },
    /// Index of the first minimum along `axis` (removed), as `index_dtype`.
    /// A NaN counts as the minimum. The axis must not be empty.
    ArgMin {
        /// Axis searched.
        axis: usize,
        /// Integer dtype of the result.
        index_dtype: DType,
    },
    /// Running sum along `axis` (inclusive), from the end if `reverse`.
    Cumsum {
        /// Axis summed along.
        axis: usize,
        /// Sum from the last element backwards.
        reverse: bool,
    },

    // ---- contraction ----------------------------------------------------
    /// General tensor contraction, `lax.dot_general`. Output dimensions are
    /// the batch dimensions (in `lhs_batch` order), then the lhs free
    /// dimensions, then the rhs free dimensions, each in operand order.
    /// Both operands share a numeric dtype.
    DotGeneral {
        /// Contracted lhs dimensions.
        lhs_contract: Vec<usize>,
        /// Contracted rhs dimensions, paired with `lhs_contract`.
        rhs_contract: Vec<usize>,
        /// Batch lhs dimensions.
        lhs_batch: Vec<usize>,
        /// Batch rhs dimensions, paired with `lhs_batch`.
        rhs_batch: Vec<usize>,
    },

    // ---- slicing and joining -------------------------------------------
    /// Static strided slice: along dimension `d`, elements
    /// `start[d], start[d] + strides[d], ...` below `limit[d]`
    /// (`0 <= start <= limit <= size`, `strides >= 1`).
    Slice {
        /// First index per dimension.
        start: Vec<usize>,
        /// Exclusive end per dimension.
        limit: Vec<usize>,
        /// Step per dimension.
        strides: Vec<usize>,
    },
    /// Pads `operand` with the rank-0 second operand `padding_value`:
    /// `low[d]` elements before, `high[d]` after and `interior[d]` between
    /// neighbours along dimension `d`. Negative `low`/`high` crop.
    Pad {
        /// Padding before, per dimension (negative crops).
        low: Vec<i64>,
        /// Padding after, per dimension (negative crops).
        high: Vec<i64>,
        /// Padding between elements, per dimension.
        interior: Vec<usize>,
    },
    /// Joins operands (same dtype and rank, equal sizes except along `axis`)
    /// along `axis`.
    Concatenate {
        /// Joined dimension.
        axis: usize,
    },
    /// Reverses the order of elements along each of `axes`.
    Rev {
        /// Reversed dimensions.
        axes: Vec<usize>,
    },
    /// `dynamic_slice(operand, i_0, .., i_{r-1})`: the block of
    /// `slice_sizes` starting at the run-time start indices (rank-0 integer
    /// operands, one per dimension), each clamped into
    /// `[0, size - slice_size]` as `lax.dynamic_slice` does.
    DynamicSlice {
        /// Size of the block per dimension.
        slice_sizes: Vec<usize>,
    },
    /// `dynamic_update_slice(operand, update, i_0, .., i_{r-1})`: `operand`
    /// with the block at the (clamped) start indices replaced by `update`.
    DynamicUpdateSlice,
    /// `gather(operand, indices)` along `axis` (`jnp.take`): the result has
    /// shape `operand[..axis] ++ indices.shape ++ operand[axis+1..]`.
    /// Indices are integers; out-of-range ones are clamped into range
    /// (negative ones are normalised above this level).
    Gather {
        /// Dimension indexed.
        axis: usize,
    },
    /// `scatter(operand, indices, updates)` along `axis`, the transpose of
    /// `Gather` for `Add`: for every position of `indices`, combines the
    /// matching slice of `updates` (shape as `Gather`'s result) into
    /// `operand` at that index with `kind`. Out-of-range indices are dropped
    /// (JAX's default for scatter).
    Scatter {
        /// Dimension indexed.
        axis: usize,
        /// How updates combine with existing values.
        kind: ScatterKind,
    },

    // ---- creation and randomness ----------------------------------------
    /// No operands: an array of `shape` whose elements are their index along
    /// `dimension`.
    Iota {
        /// Element type.
        dtype: DType,
        /// Output shape.
        shape: Shape,
        /// Dimension that counts.
        dimension: usize,
    },
    /// `random_bits(key)`: `u32` bits of `shape` drawn from the ChaCha20
    /// keystream of the key, a `u32[8]` array holding the 256-bit ChaCha key
    /// (the derivation is documented in `interp.rs` and in `rjax::random`).
    RandomBits {
        /// Output shape.
        shape: Shape,
    },
    /// Identity on values; differentiation treats the result as a constant.
    StopGradient,

    // ---- higher order ---------------------------------------------------
    /// Calls a closed jaxpr (a nested `jit`): operands are its inputs.
    Call {
        /// The called function.
        jaxpr: Arc<ClosedJaxpr>,
        /// A name for printing (the Rust function's, when known).
        name: String,
    },
    /// `cond(index, operands..)`: runs `branches[clamp(index)]` on the
    /// operands; `index` is a rank-0 `i32` (a bool predicate is converted
    /// above this level, false = branch 0). All branches share a signature.
    Cond {
        /// One closed jaxpr per branch.
        branches: Vec<Arc<ClosedJaxpr>>,
    },
    /// `while(carry..)`: while `cond_jaxpr(carry)` (a rank-0 bool) holds,
    /// `carry = body_jaxpr(carry)`. Results are the final carry.
    While {
        /// Loop condition: carry -> bool[].
        cond_jaxpr: Arc<ClosedJaxpr>,
        /// Loop body: carry -> carry.
        body_jaxpr: Arc<ClosedJaxpr>,
    },
    /// `scan(consts.., carry.., xs..)`: for `i` in `0..length` (reversed if
    /// `reverse`), `(carry, y_i) = body(consts, carry, xs[i])`; results are
    /// the final carry followed by the `y`s stacked along a new axis 0.
    Scan {
        /// Body: (consts, carry, x slices) -> (carry, y slices).
        body: Arc<ClosedJaxpr>,
        /// Number of iterations (the leading size of every `xs`).
        length: usize,
        /// Iterate from the last slice to the first.
        reverse: bool,
        /// How many leading operands are loop-invariant constants.
        num_consts: usize,
        /// How many operands after the constants are carried.
        num_carry: usize,
    },
    /// Calls `call` on the operands; differentiation uses the user rule
    /// `jvp`, a jaxpr from (primals.., tangents..) to (outputs.., output
    /// tangents..), instead of differentiating `call`.
    CustomJvpCall {
        /// The primal function.
        call: Arc<ClosedJaxpr>,
        /// The user's forward-mode rule.
        jvp: Arc<ClosedJaxpr>,
    },
    /// Calls `call` on the operands; reverse mode uses the user rules:
    /// `fwd` maps primals to (outputs.., residuals..) and `bwd` maps
    /// (residuals.., output cotangents..) to input cotangents.
    CustomVjpCall {
        /// The primal function.
        call: Arc<ClosedJaxpr>,
        /// Forward pass that also returns residuals.
        fwd: Arc<ClosedJaxpr>,
        /// Backward pass from residuals and cotangents.
        bwd: Arc<ClosedJaxpr>,
        /// Number of primal outputs of `fwd` (the rest are residuals).
        num_outputs: usize,
    },
    /// The linear map of a `custom_vjp` function at a point, made when it is
    /// differentiated: operands are the residuals of `fwd` followed by input
    /// tangents, results are output tangents. It has no forward evaluation
    /// (forward-mode differentiation of a `custom_vjp` function is an error,
    /// as in JAX); its transpose runs `bwd` on (residuals.., cotangents..).
    CustomLin {
        /// Backward pass: (residuals.., output cotangents..) -> input cotangents.
        bwd: Arc<ClosedJaxpr>,
        /// How many leading operands are residuals.
        num_residuals: usize,
    },
}

/// The one list of which primitives carry jaxprs, shared by
/// [`Primitive::sub_jaxprs`] and [`Primitive::sub_jaxprs_mut`]; exhaustive, so
/// a new variant must be classified here.
macro_rules! sub_jaxprs {
    ($prim:expr, $($mode:tt)+) => {{
        use Primitive as P;
        match *$prim {
            P::Call { $($mode)+ jaxpr, .. } => smallvec::smallvec![jaxpr],
            P::Cond { $($mode)+ branches } => branches.into_iter().collect(),
            P::While { $($mode)+ cond_jaxpr, $($mode)+ body_jaxpr } => smallvec::smallvec![cond_jaxpr, body_jaxpr],
            P::Scan { $($mode)+ body, .. } => smallvec::smallvec![body],
            P::CustomJvpCall { $($mode)+ call, $($mode)+ jvp } => smallvec::smallvec![call, jvp],
            P::CustomVjpCall { $($mode)+ call, $($mode)+ fwd, $($mode)+ bwd, .. } => smallvec::smallvec![call, fwd, bwd],
            P::CustomLin { $($mode)+ bwd, .. } => smallvec::smallvec![bwd],
            P::Neg
            | P::Exp
            | P::Log
            | P::Log1p
            | P::Expm1
            | P::Sin
            | P::Cos
            | P::Tanh
            | P::Logistic
            | P::Sqrt
            | P::Rsqrt
            | P::Abs
            | P::Sign
            | P::Floor
            | P::Ceil
            | P::Round
            | P::Erf
            | P::Not
            | P::IsFinite
            | P::Add
            | P::Sub
            | P::Mul
            | P::Div
            | P::Rem
            | P::Pow
            | P::Max
            | P::Min
            | P::And
            | P::Or
            | P::Xor
            | P::Eq
            | P::Ne
            | P::Lt
            | P::Le
            | P::Gt
            | P::Ge
            | P::Select
            | P::ConvertElementType { .. }
            | P::BroadcastInDim { .. }
            | P::Reshape { .. }
            | P::Transpose { .. }
            | P::ReduceSum { .. }
            | P::ReduceMax { .. }
            | P::ReduceMin { .. }
            | P::ReduceProd { .. }
            | P::ArgMax { .. }
            | P::ArgMin { .. }
            | P::Cumsum { .. }
            | P::DotGeneral { .. }
            | P::Slice { .. }
            | P::Pad { .. }
            | P::Concatenate { .. }
            | P::Rev { .. }
            | P::DynamicSlice { .. }
            | P::DynamicUpdateSlice
            | P::Gather { .. }
            | P::Scatter { .. }
            | P::Iota { .. }
            | P::RandomBits { .. }
            | P::StopGradient => SmallVec::new(),
        }
    }};
}

impl Primitive {
    /// The name printed in jaxprs and used in error messages.
    pub fn name(&self) -> &'static str {
        use Primitive as P;
        match self {
            P::Neg => "neg",
            P::Exp => "exp",
            P::Log => "log",
            P::Log1p => "log1p",
            P::Expm1 => "expm1",
            P::Sin => "sin",
            P::Cos => "cos",
            P::Tanh => "tanh",
            P::Logistic => "logistic",
            P::Sqrt => "sqrt",
            P::Rsqrt => "rsqrt",
            P::Abs => "abs",
            P::Sign => "sign",
            P::Floor => "floor",
            P::Ceil => "ceil",
            P::Round => "round",
            P::Erf => "erf",
            P::Not => "not",
            P::IsFinite => "is_finite",
            P::Add => "add",
            P::Sub => "sub",
            P::Mul => "mul",
            P::Div => "div",
            P::Rem => "rem",
            P::Pow => "pow",
            P::Max => "max",
            P::Min => "min",
            P::And => "and",
            P::Or => "or",
            P::Xor => "xor",
            P::Eq => "eq",
            P::Ne => "ne",
            P::Lt => "lt",
            P::Le => "le",
            P::Gt => "gt",
            P::Ge => "ge",
            P::Select => "select",
            P::ConvertElementType { .. } => "convert_element_type",
            P::BroadcastInDim { .. } => "broadcast_in_dim",
            P::Reshape { .. } => "reshape",
            P::Transpose { .. } => "transpose",
            P::ReduceSum { .. } => "reduce_sum",
            P::ReduceMax { .. } => "reduce_max",
            P::ReduceMin { .. } => "reduce_min",
            P::ReduceProd { .. } => "reduce_prod",
            P::ArgMax { .. } => "argmax",
            P::ArgMin { .. } => "argmin",
            P::Cumsum { .. } => "cumsum",
            P::DotGeneral { .. } => "dot_general",
            P::Slice { .. } => "slice",
            P::Pad { .. } => "pad",
            P::Concatenate { .. } => "concatenate",
            P::Rev { .. } => "rev",
            P::DynamicSlice { .. } => "dynamic_slice",
            P::DynamicUpdateSlice => "dynamic_update_slice",
            P::Gather { .. } => "gather",
            P::Scatter { .. } => "scatter",
            P::Iota { .. } => "iota",
            P::RandomBits { .. } => "random_bits",
            P::StopGradient => "stop_gradient",
            P::Call { .. } => "call",
            P::Cond { .. } => "cond",
            P::While { .. } => "while",
            P::Scan { .. } => "scan",
            P::CustomJvpCall { .. } => "custom_jvp_call",
            P::CustomVjpCall { .. } => "custom_vjp_call",
            P::CustomLin { .. } => "custom_lin",
        }
    }

    /// True for the primitives that carry jaxprs (call, cond, while, scan,
    /// custom_jvp_call, custom_vjp_call, custom_lin).
    pub fn is_higher_order(&self) -> bool {
        !self.sub_jaxprs().is_empty()
    }

    /// The closed jaxprs a higher-order primitive carries, in parameter order
    /// (empty for first-order primitives; no heap allocation for up to four).
    pub fn sub_jaxprs(&self) -> SmallVec<[&Arc<ClosedJaxpr>; 4]> {
        sub_jaxprs!(self, ref)
    }

    /// Mutable access to the closed jaxprs a primitive carries, in the order
    /// of [`Primitive::sub_jaxprs`] (for passes that rewrite them).
    pub fn sub_jaxprs_mut(&mut self) -> SmallVec<[&mut Arc<ClosedJaxpr>; 4]> {
        sub_jaxprs!(self, ref mut)
    }
}

/// The name of every primitive, in declaration order. Tests use it to check
/// that their tables cover every primitive. A new variant must be added
/// here as well as to [`Primitive::name`] (which the compiler enforces);
/// [`Primitive::ordinal`] panics for a name missing from this list, and the
/// shape rules' test of one example per primitive calls it for every
/// variant.
pub const PRIMITIVE_NAMES: [&str; 67] = [
    "neg",
    "exp",
    "log",
    "log1p",
    "expm1",
    "sin",
    "cos",
    "tanh",
    "logistic",
    "sqrt",
    "rsqrt",
    "abs",
    "sign",
    "floor",
    "ceil",
    "round",
    "erf",
    "not",
    "is_finite",
    "add",
    "sub",
    "mul",
    "div",
    "rem",
    "pow",
    "max",
    "min",
    "and",
    "or",
    "xor",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "select",
    "convert_element_type",
    "broadcast_in_dim",
    "reshape",
    "transpose",
    "reduce_sum",
    "reduce_max",
    "reduce_min",
    "reduce_prod",
    "argmax",
    "argmin",
    "cumsum",
    "dot_general",
    "slice",
    "pad",
    "concatenate",
    "rev",
    "dynamic_slice",
    "dynamic_update_slice",
    "gather",
    "scatter",
    "iota",
    "random_bits",
    "stop_gradient",
    "call",
    "cond",
    "while",
    "scan",
    "custom_jvp_call",
    "custom_vjp_call",
    "custom_lin",
];

impl Primitive {
    /// The position of this primitive's name in [`PRIMITIVE_NAMES`].
    pub fn ordinal(&self) -> usize {
        let index = PRIMITIVE_NAMES.iter().position(|n| *n == self.name());
        index.expect("internal error: primitive missing from PRIMITIVE_NAMES")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_listed_in_order() {
        let mut sorted = PRIMITIVE_NAMES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), PRIMITIVE_NAMES.len());
        assert_eq!(Primitive::Neg.ordinal(), 0);
        assert_eq!(Primitive::StopGradient.ordinal(), 59);
    }
}
