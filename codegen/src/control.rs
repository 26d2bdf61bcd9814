//! Control flow in compiled programs: `cond`, `while` and `scan` as
//! program steps ([`ControlStep`]) that run nested sub-programs.
//!
//! # Design
//!
//! Fusion never looks inside a control-flow equation: its operands get
//! buffers, its results get buffers, and each sub-jaxpr (every branch of a
//! `cond`, the condition and body of a `while`, the body of a `scan`) is
//! planned on its own, recursively, by [`crate::fusion::plan`] into a
//! complete [`Program`] whose arguments are the sub-jaxpr's inputs and whose
//! outputs are its results. The step binds the outer program's buffers to
//! them:
//!
//! - **`cond`**: `inputs[0]` is the `i32[]` branch index, clamped into
//!   `0..branches.len()` as the reference interpreter does; the chosen
//!   branch runs on `inputs[1..]` and writes `outputs`.
//! - **`while`**: the carry (`inputs`, one buffer per carry value) is
//!   copied to the results, then, while `cond(carry)` holds,
//!   `carry = body(carry)`. Executors double-buffer the carry (the body
//!   reads one copy and writes the other), so no body output aliases one
//!   of its inputs.
//! - **`scan`**: `inputs` are `consts.., carry.., xs..`, `outputs` are
//!   `carry.., ys..`. Iteration `i` (descending when `reverse`) runs the
//!   body on `(consts, carry, xs[i])`; the Cranelift runtime addresses the
//!   slice `xs[i]` and the result slice `ys[i]` in place, at byte offset
//!   `i × slice size` of the stacked buffers (nothing is copied), and
//!   ping-pongs the carry between the result buffer and one scratch copy,
//!   starting on whichever side makes the last iteration land in the
//!   result.
//!
//! Loops are real loops: the trip count never reaches the compiler, so
//! compile time does not depend on it. Every executor supports these
//! steps: the kernel interpreter (`kernel_interp`, by running the
//! sub-programs on host buffers), the Cranelift runtime (`cpu`, whose
//! kernels of every nesting level go into the executable's one JIT module
//! and whose sub-programs run with their own memory plans on raw buffer
//! addresses, allocation-free per iteration) and the CUDA runtime (`cuda`:
//! the loop runs on the host and launches the bodies' kernels; unverified
//! on a GPU so far).

use crate::program::{BufferRef, Program, Step};

/// What a [`ControlStep`] does.
#[derive(Clone, Debug, PartialEq)]
pub enum ControlKind {
    /// `cond(index, operands..)`.
    Cond {
        /// One program per branch, each taking the operands.
        branches: Vec<Program>,
    },
    /// `while(carry..)`.
    While {
        /// carry -> `bool[]`.
        cond: Program,
        /// carry -> carry.
        body: Program,
    },
    /// `scan(consts.., carry.., xs..)`.
    Scan {
        /// (consts, carry, x slices) -> (carry, y slices).
        body: Program,
        /// Number of iterations.
        length: usize,
        /// From the last slice to the first.
        reverse: bool,
        /// Leading loop-invariant operands.
        num_consts: usize,
        /// Carried operands after the constants.
        num_carry: usize,
    },
}

/// A control-flow step of a program (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct ControlStep {
    /// What it does.
    pub kind: ControlKind,
    /// Outer-program buffers of its operands.
    pub inputs: Vec<BufferRef>,
    /// Outer-program buffers of its results (temporaries, distinct from
    /// the inputs and from each other).
    pub outputs: Vec<BufferRef>,
}

impl ControlStep {
    /// The sub-programs, in a fixed order (branches in order; condition,
    /// then body; body): the order in which backends visit their kernels.
    pub fn programs(&self) -> Vec<&Program> {
        match &self.kind {
            ControlKind::Cond { branches } => branches.iter().collect(),
            ControlKind::While { cond, body } => vec![cond, body],
            ControlKind::Scan { body, .. } => vec![body],
        }
    }

    /// The sub-programs, mutably, in the order of [`ControlStep::programs`].
    pub fn programs_mut(&mut self) -> Vec<&mut Program> {
        match &mut self.kind {
            ControlKind::Cond { branches } => branches.iter_mut().collect(),
            ControlKind::While { cond, body } => vec![cond, body],
            ControlKind::Scan { body, .. } => vec![body],
        }
    }

    /// The primitive's name, for messages.
    pub fn name(&self) -> &'static str {
        match &self.kind {
            ControlKind::Cond { .. } => "cond",
            ControlKind::While { .. } => "while",
            ControlKind::Scan { .. } => "scan",
        }
    }
}

/// Applies `f` to every kernel of `program`, at every nesting level.
pub fn for_each_kernel_mut(program: &mut Program, f: &mut dyn FnMut(&mut crate::kernel::Kernel)) {
    for step in &mut program.steps {
        match step {
            Step::Kernel { kernel, .. } => f(kernel),
            Step::Gemm(_) => {}
            Step::Control(c) => {
                for p in c.programs_mut() {
                    for_each_kernel_mut(p, f);
                }
            }
        }
    }
}

/// Every kernel of `program`, at every nesting level, in pre-order (a
/// control step's sub-programs in [`ControlStep::programs`] order, at its
/// position among the steps).
pub fn kernels(program: &Program) -> Vec<&crate::kernel::Kernel> {
    fn walk<'p>(program: &'p Program, out: &mut Vec<&'p crate::kernel::Kernel>) {
        for step in &program.steps {
            match step {
                Step::Kernel { kernel, .. } => out.push(kernel),
                Step::Gemm(_) => {}
                Step::Control(c) => {
                    for p in c.programs() {
                        walk(p, out);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(program, &mut out);
    out
}
