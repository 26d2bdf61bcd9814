//! The kernel IR: the backend-neutral form every compiled computation takes
//! between the jaxpr and machine code.
//!
//! A [`Kernel`] is a loop nest over flat, row-major buffers with scalar SSA
//! code inside:
//!
//! - [`Stmt::Loop`] runs its body for `id = 0..extent` (bottom-tested when
//!   lowered, so the body must be correct for every iteration; a zero extent
//!   runs nothing);
//! - [`Stmt::Let`] defines a scalar value once ([`ValueId`]s are unique in the
//!   kernel and visible in the rest of the enclosing block and the blocks
//!   nested in it);
//! - [`Stmt::Store`] writes a value to a buffer element;
//! - accumulators ([`AccId`]) are the only mutable scalars: declared with
//!   [`Stmt::AccInit`], read with [`Expr::AccRead`], overwritten with
//!   [`Stmt::AccSet`] — how reductions, argmax and scans are written.
//!
//! Buffer elements are addressed by an [`Index`]: an affine function of the
//! loop variables plus an optional dynamic term computed in the kernel
//! (gathers, clamped dynamic slices). Backends vectorise an innermost loop
//! whose loads and stores are affine with coefficient 1 (or 0) on it.
//!
//! Transcendental operations ([`UnaryOp::is_transcendental`]) appear in the
//! IR as produced by fusion; `math::expand` rewrites them into basic
//! arithmetic before a backend sees them, so every backend computes the same
//! approximations.
//!
//! The kernel interpreter (`kernel_interp`) is the executable definition of
//! these semantics.

use rjax_ir::{DType, Scalar};
use std::fmt;

/// The type of a scalar value in a kernel: an array dtype, or `Index`
/// (64-bit signed, for address arithmetic and loop variables).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScalarType {
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// 32-bit signed integer.
    I32,
    /// 32-bit unsigned integer.
    U32,
    /// Boolean.
    Bool,
    /// 64-bit signed integer for indices.
    Index,
}

impl ScalarType {
    /// The scalar type of an array dtype.
    pub fn of(dtype: DType) -> ScalarType {
        match dtype {
            DType::F32 => ScalarType::F32,
            DType::F64 => ScalarType::F64,
            DType::I32 => ScalarType::I32,
            DType::U32 => ScalarType::U32,
            DType::Bool => ScalarType::Bool,
        }
    }

    /// True for `F32` and `F64`.
    pub fn is_float(self) -> bool {
        matches!(self, ScalarType::F32 | ScalarType::F64)
    }
}

/// A constant scalar of any kernel type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Const {
    /// An array-dtype constant.
    Scalar(Scalar),
    /// An index constant.
    Index(i64),
}

impl Const {
    /// Its type.
    pub fn ty(self) -> ScalarType {
        match self {
            Const::Scalar(s) => ScalarType::of(s.dtype()),
            Const::Index(_) => ScalarType::Index,
        }
    }
}

/// A scalar SSA value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

/// A loop (and its induction variable, of type `Index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoopId(pub u32);

/// A mutable accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccId(pub u32);

/// A buffer parameter of the kernel (position in [`Kernel::buffers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(pub u32);

/// How a kernel uses a buffer parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufferKind {
    /// Read only.
    Input,
    /// Written (and possibly read back, e.g. by a scatter).
    Output,
}

/// A buffer parameter: element type, number of elements, role.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BufferDecl {
    /// Element type.
    pub dtype: DType,
    /// Number of elements.
    pub len: usize,
    /// Input or output.
    pub kind: BufferKind,
}

/// A flat element index: `offset + Σ coef · loop + dynamic`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Index {
    /// Constant part.
    pub offset: i64,
    /// Affine terms: (loop, coefficient), at most one per loop.
    pub terms: Vec<(LoopId, i64)>,
    /// A computed `Index`-typed value added to the rest.
    pub dynamic: Option<ValueId>,
}

impl Index {
    /// The constant index `offset`.
    pub fn constant(offset: i64) -> Index {
        Index {
            offset,
            terms: Vec::new(),
            dynamic: None,
        }
    }

    /// The coefficient of `lp` (0 when it does not appear).
    pub fn coefficient(&self, lp: LoopId) -> i64 {
        self.terms
            .iter()
            .find(|(l, _)| *l == lp)
            .map_or(0, |(_, c)| *c)
    }
}

/// Operations of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x` (wrapping for integers).
    Neg,
    /// `|x|`.
    Abs,
    /// -1, 0 or 1 (floats keep ±0 and NaN).
    Sign,
    /// Square root.
    Sqrt,
    /// Round toward negative infinity.
    Floor,
    /// Round toward positive infinity.
    Ceil,
    /// Round to nearest, ties away from zero.
    Round,
    /// Round toward zero.
    Trunc,
    /// Logical (bool) or bitwise (integer) not.
    Not,
    /// Float is neither infinite nor NaN (bool result).
    IsFinite,
    /// `e^x` (transcendental).
    Exp,
    /// Natural logarithm (transcendental).
    Log,
    /// `log(1 + x)` (transcendental).
    Log1p,
    /// `e^x - 1` (transcendental).
    Expm1,
    /// Sine (transcendental).
    Sin,
    /// Cosine (transcendental).
    Cos,
    /// Hyperbolic tangent (transcendental).
    Tanh,
    /// `1 / (1 + e^-x)` (transcendental).
    Logistic,
    /// The error function (transcendental).
    Erf,
    /// `1 / sqrt(x)`.
    Rsqrt,
}

impl UnaryOp {
    /// True for the operations `math::expand` rewrites into arithmetic.
    pub fn is_transcendental(self) -> bool {
        use UnaryOp as U;
        match self {
            U::Exp
            | U::Log
            | U::Log1p
            | U::Expm1
            | U::Sin
            | U::Cos
            | U::Tanh
            | U::Logistic
            | U::Erf => true,
            U::Neg
            | U::Abs
            | U::Sign
            | U::Sqrt
            | U::Floor
            | U::Ceil
            | U::Round
            | U::Trunc
            | U::Not
            | U::IsFinite
            | U::Rsqrt => false,
        }
    }
}

/// Operations of two operands of one type (comparisons give bool).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+` (wrapping for integers).
    Add,
    /// `-` (wrapping).
    Sub,
    /// `*` (wrapping).
    Mul,
    /// `/`; integers truncate, and division by zero gives 0.
    Div,
    /// Remainder with the dividend's sign; integer remainder by zero gives 0.
    Rem,
    /// `x ^ y` for floats (transcendental; expanded by `math`).
    Pow,
    /// Maximum; NaN if either is NaN.
    Max,
    /// Minimum; NaN if either is NaN.
    Min,
    /// Bitwise or logical and.
    And,
    /// Bitwise or logical or.
    Or,
    /// Bitwise or logical xor.
    Xor,
    /// Shift left (integers; shift amount taken modulo the width).
    Shl,
    /// Logical shift right.
    ShrLogical,
    /// Arithmetic shift right.
    ShrArith,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// A scalar expression; operands are earlier values.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A constant.
    Const(Const),
    /// The current iteration of a loop (type `Index`).
    LoopVar(LoopId),
    /// An element of a buffer (of the buffer's dtype).
    Load {
        /// The buffer.
        buf: BufId,
        /// Which element.
        index: Index,
    },
    /// A unary operation.
    Unary(UnaryOp, ValueId),
    /// A binary operation.
    Binary(BinaryOp, ValueId, ValueId),
    /// `a * b + c`, fused (one rounding) for floats.
    Fma(ValueId, ValueId, ValueId),
    /// `cond ? on_true : on_false` (`cond` is bool).
    Select(ValueId, ValueId, ValueId),
    /// Value conversion with `convert_element_type` semantics (Index
    /// converts like a 64-bit integer).
    Convert(ScalarType, ValueId),
    /// Reinterpret the bits (F32 <-> I32/U32, F64 <-> Index).
    Bitcast(ScalarType, ValueId),
    /// The current value of an accumulator.
    AccRead(AccId),
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `for id in 0..extent { body }`.
    Loop {
        /// The loop and its variable.
        id: LoopId,
        /// Trip count.
        extent: usize,
        /// Iterations are independent (no iteration reads what another
        /// writes), so a backend may split them across threads.
        parallel: bool,
        /// The body.
        body: Vec<Stmt>,
    },
    /// Defines `value: ty = expr`.
    Let {
        /// The new value.
        value: ValueId,
        /// Its type.
        ty: ScalarType,
        /// How it is computed.
        expr: Expr,
    },
    /// `buf[index] = value`.
    Store {
        /// The buffer (an output).
        buf: BufId,
        /// Which element.
        index: Index,
        /// The value (of the buffer's dtype).
        value: ValueId,
    },
    /// Declares an accumulator with a starting value.
    AccInit {
        /// The accumulator.
        acc: AccId,
        /// Its type.
        ty: ScalarType,
        /// Starting value.
        init: Const,
    },
    /// Overwrites an accumulator.
    AccSet {
        /// The accumulator.
        acc: AccId,
        /// The new value.
        value: ValueId,
    },
}

/// One kernel: buffer parameters and a body.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// A name for dumps and symbols.
    pub name: String,
    /// Buffer parameters, in the order the caller passes them.
    pub buffers: Vec<BufferDecl>,
    /// The statements.
    pub body: Vec<Stmt>,
}

/// Builds kernels, handing out fresh ids.
#[derive(Debug, Default)]
pub struct KernelBuilder {
    next_value: u32,
    next_loop: u32,
    next_acc: u32,
}

impl KernelBuilder {
    /// A builder with no ids handed out.
    pub fn new() -> KernelBuilder {
        KernelBuilder::default()
    }

    /// A fresh value id.
    pub fn value(&mut self) -> ValueId {
        self.next_value += 1;
        ValueId(self.next_value - 1)
    }

    /// A fresh loop id.
    pub fn lp(&mut self) -> LoopId {
        self.next_loop += 1;
        LoopId(self.next_loop - 1)
    }

    /// A fresh accumulator id.
    pub fn acc(&mut self) -> AccId {
        self.next_acc += 1;
        AccId(self.next_acc - 1)
    }

    /// Appends `let v: ty = expr` to `block`, returning `v`.
    pub fn let_(&mut self, block: &mut Vec<Stmt>, ty: ScalarType, expr: Expr) -> ValueId {
        let value = self.value();
        block.push(Stmt::Let { value, ty, expr });
        value
    }
}

// ---- printing ----------------------------------------------------------------

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.offset)?;
        for (l, c) in &self.terms {
            write!(f, " + {c}*i{}", l.0)?;
        }
        if let Some(d) = self.dynamic {
            write!(f, " + v{}", d.0)?;
        }
        Ok(())
    }
}

fn write_block(f: &mut fmt::Formatter<'_>, block: &[Stmt], depth: usize) -> fmt::Result {
    let pad = "  ".repeat(depth);
    for stmt in block {
        match stmt {
            Stmt::Loop {
                id,
                extent,
                parallel,
                body,
            } => {
                let kind = if *parallel { "parallel for" } else { "for" };
                writeln!(f, "{pad}{kind} i{} in 0..{extent} {{", id.0)?;
                write_block(f, body, depth + 1)?;
                writeln!(f, "{pad}}}")?;
            }
            Stmt::Let { value, ty, expr } => writeln!(f, "{pad}v{}: {ty:?} = {expr:?}", value.0)?,
            Stmt::Store { buf, index, value } => {
                writeln!(f, "{pad}b{}[{index}] = v{}", buf.0, value.0)?
            }
            Stmt::AccInit { acc, ty, init } => writeln!(f, "{pad}acc{}: {ty:?} = {init:?}", acc.0)?,
            Stmt::AccSet { acc, value } => writeln!(f, "{pad}acc{} = v{}", acc.0, value.0)?,
        }
    }
    Ok(())
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kernel {}(", self.name)?;
        for (i, b) in self.buffers.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "b{i}: {:?} {}[{}]", b.kind, b.dtype, b.len)?;
        }
        writeln!(f, ") {{")?;
        write_block(f, &self.body, 1)?;
        write!(f, "}}")
    }
}
