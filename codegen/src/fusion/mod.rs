//! Fusion: partitioning a closed jaxpr into kernels and library calls, and
//! writing each kernel in the kernel IR ([`crate::kernel`]).
//!
//! # Pipeline
//!
//! 1. `prepare`: `call`, `custom_jvp_call` and `custom_vjp_call` are
//!    inlined, `stop_gradient` is dropped, and the IR passes run
//!    ([`rjax_ir::passes::optimize`]: constant folding, simplification,
//!    common subexpressions, dead code); every program output becomes a distinct
//!    computed value (copies for inputs, constants, literals and repeats);
//!    every float `dot_general` is planned as a GEMM (`gemm`), with
//!    transposes and reshapes of its operands folded into the call's strides
//!    where the layout allows, a transposed copy inserted where it does not,
//!    and a transpose of its result folded into the call (by operand swap:
//!    `(AB)ᵀ = BᵀAᵀ`).
//! 2. `partition`: each value is either *materialised* (a program buffer)
//!    or *fused* into its consumers as an index function. Materialised
//!    values are grouped into steps: one GEMM per float `dot_general`, one
//!    kernel per `cumsum`, `scatter`, `dynamic_update_slice` and
//!    `random_bits`, and multi-output fused kernels for the rest. In
//!    equation order, a materialised value joins the latest kernel that
//!    loops over the same domain (or whose reduction it is an epilogue of)
//!    and that nothing it reads is computed after, provided it reads that
//!    kernel's own results only where and when they are computed; otherwise
//!    it starts a new kernel.
//!    Control-flow equations (`cond`, `while`, `scan`) are steps of their
//!    own (`control`): their operands and results are materialised and
//!    their sub-jaxprs planned recursively as sub-programs.
//! 3. `emit`, `index`, `reduce`, `special`: each step's kernel is
//!    written by evaluating index functions: a fused value at an output
//!    multi-index is an expression over the loop variables; a materialised
//!    one is a load.
//!
//! # Fusion rules
//!
//! - Elementwise operations, `convert_element_type`, `select`,
//!   `broadcast_in_dim`, `reshape`, `transpose`, `slice`, `pad` (a select on
//!   an in-bounds test), `concatenate` (a select chain), `rev`, `iota`,
//!   `dynamic_slice` (clamped dynamic start) and `gather` (an index loaded
//!   from the integer operand, clamped) are index arithmetic: they never
//!   need a buffer of their own.
//! - Reductions (`reduce_*`, `argmax`/`argmin`, integer `dot_general`)
//!   evaluated inside another kernel become an accumulator loop over the
//!   reduced dimensions, placed at the outermost loop where its output
//!   index is known (so `x - max(x)` computes the row maximum once per row).
//!   A materialised `reduce_*` joins the kernel of its operand's domain: it
//!   accumulates in the same loop nest as the elementwise work on that
//!   domain (in a scalar accumulator when the reduced dimensions are the
//!   innermost loops, in its output buffer otherwise), and elementwise
//!   values of its output shape that use it become the kernel's epilogue.
//! - Loops visit elements in row-major order, so every reduction folds its
//!   elements in the reference interpreter's order: results are bit-exact.
//!
//! # Materialisation heuristic
//!
//! A value gets a buffer when it is a program output, a GEMM operand or
//! result, the result of `cumsum`/`scatter`/`dynamic_update_slice`/
//! `random_bits`, or when it has more than one consumer and is expensive to
//! recompute: its fused expression contains a reduction or a transcendental
//! operation, or more than `partition::MAX_SHARED_EXPR` (48) operations. A
//! reduction that would be recomputed for every iteration of a loop its
//! result does not depend on (a column mean used by every row) is
//! materialised instead; this is found while emitting, and planning starts
//! again with that value materialised. A `reduce_*` is also given a buffer
//! (*promoted*) when that lets it share a pass: when a kernel already loops
//! over its operand's domain, or when a materialised value of its result's
//! shape consumes it (an epilogue). If its consumers then cannot read it in
//! that kernel, planning starts again without promoting it.
//!
//! Kernel loops: one loop per non-unit dimension of the kernel's domain,
//! collapsed into one loop over runs of dimensions where every index stays
//! affine; the outermost loop is `parallel` unless a reduction accumulates
//! across it. Invariant expressions are placed in the outermost block where
//! their operands are defined.

mod control;
mod emit;
mod gemm;
mod index;
mod partition;
mod prepare;
mod reduce;
mod special;

use crate::program::Program;
use rjax_ir::{ClosedJaxpr, Error, Result, Var};

/// Plans `jaxpr` as a [`Program`]: its buffers, its steps (fused kernels
/// and GEMM calls) and its outputs.
///
/// `cond`, `while` and `scan` become control steps whose sub-jaxprs are
/// planned recursively (see [`crate::control`]).
///
/// # Errors
/// [`Error::NotYetSupported`] for `custom_lin`; [`Error::Op`] for programs the reference interpreter would
/// also reject when run (a gather from an empty axis into a non-empty
/// result).
pub fn plan(jaxpr: &ClosedJaxpr) -> Result<Program> {
    let graph = prepare::prepare(jaxpr)?;
    let mut hints = partition::Hints::default();
    loop {
        let parts = partition::partition(&graph, &hints)?;
        let retries = match partition::build(&graph, &parts)? {
            partition::Built::Program(program) => return Ok(program),
            partition::Built::Retry(retries) => retries,
        };
        let mut fresh = false;
        for r in retries {
            fresh |= match r {
                Retry::Materialise(v) => hints.forced.insert(v),
                Retry::Separate(_, b) if parts.promoted.contains(&b) => hints.unpromoted.insert(b),
                Retry::Separate(a, b) => hints.forbidden.insert((a, b)),
            };
        }
        if !fresh {
            return Err(internal("planning again did not change the plan"));
        }
    }
}

/// Why emitting a plan failed in a way a different plan avoids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    /// Give this fused value a buffer.
    Materialise(Var),
    /// Do not put the first root in a kernel with the second.
    Separate(Var, Var),
}

/// An emission failure: retry with another plan, or a real error.
#[derive(Debug)]
enum Fail {
    /// Plan again.
    Retry(Retry),
    /// Give up.
    Error(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Error(e)
    }
}

/// Results of emission steps.
type Fallible<T> = std::result::Result<T, Fail>;

/// An internal error (a broken invariant of fusion) as a value.
fn internal(msg: &str) -> Error {
    Error::op("plan", format!("internal error: {msg}"))
}
