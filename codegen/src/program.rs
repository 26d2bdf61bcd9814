//! A compiled program's plan: the buffers it uses and the steps that fill
//! them, produced by fusion and run by an executor (the kernel interpreter
//! for tests, a backend's runtime otherwise).

use crate::kernel::Kernel;
use rjax_ir::{DType, HostBuffer};

/// A buffer of the program, by position in [`Program::buffers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferRef(pub u32);

/// Where a program buffer's contents come from.
#[derive(Clone, Debug, PartialEq)]
pub enum BufferSource {
    /// The program's `n`-th argument.
    Argument(usize),
    /// A constant baked into the program.
    Constant(HostBuffer),
    /// Computed by a step.
    Temporary,
}

/// A program buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgramBuffer {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Where it comes from.
    pub source: BufferSource,
}

/// A matrix product `out[b] = lhs[b] @ rhs[b]` on row- or column-strided
/// operands, the form every `dot_general` is reduced to (after transposes
/// that fusion inserts where the layout needs them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gemm {
    /// Element type (f32 or f64; integers run as a kernel instead).
    pub dtype: DType,
    /// Batch count.
    pub batch: usize,
    /// Rows of the result.
    pub m: usize,
    /// Columns of the result.
    pub n: usize,
    /// Contracted size.
    pub k: usize,
    /// Left operand and its (batch, row, column) strides in elements.
    pub lhs: (BufferRef, [isize; 3]),
    /// Right operand and its strides.
    pub rhs: (BufferRef, [isize; 3]),
    /// Result, written densely row-major `[batch, m, n]`.
    pub out: BufferRef,
}

/// One step of a program.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Runs a kernel; `args[i]` is bound to the kernel's buffer `i`.
    Kernel {
        /// The kernel.
        kernel: Kernel,
        /// Program buffers for its parameters.
        args: Vec<BufferRef>,
    },
    /// A matrix product.
    Gemm(Gemm),
    /// Control flow running sub-programs (`cond`, `while`, `scan`).
    Control(Box<crate::control::ControlStep>),
}

/// A whole program: buffers, steps, and which buffers are the results.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// Every buffer: arguments, constants, temporaries.
    pub buffers: Vec<ProgramBuffer>,
    /// Steps in execution order.
    pub steps: Vec<Step>,
    /// The results, in order.
    pub outputs: Vec<BufferRef>,
}
