//! The PTX backend: kernel IR → PTX text for NVIDIA GPUs (sm_80 and sm_90),
//! assembled by the driver (or `ptxas`) and launched by the CUDA runtime.
//!
//! # Interface for the runtime
//!
//! [`emit_kernel`] turns one kernel (its transcendental operations already
//! expanded by [`crate::math::expand`]; this module expands them itself when
//! they are still there) into a [`PtxKernel`]:
//!
//! - [`PtxKernel::ptx`]: a complete PTX module (`.version` from
//!   [`isa_version`], `.target sm_XX`, `.address_size 64`) holding one or more `.visible .entry`
//!   functions;
//! - [`PtxKernel::entries`]: the entries **in launch order**. The runtime
//!   launches every entry, one after the other, on the same stream (stream
//!   order is what makes the second pass of a two-pass reduction see the
//!   first pass's partials, and a later phase see an earlier phase's
//!   stores);
//! - each [`PtxEntry`] lists its parameters ([`PtxEntry::params`]): every
//!   parameter is a `.param .u64` holding a **device pointer**, either to
//!   the kernel's buffer `i` ([`Param::Buffer`]`(BufId(i))`; a program step
//!   binds kernel buffer `i` to program buffer `args[i]`) or to the
//!   kernel's scratch area ([`Param::Scratch`]). There are no scalar
//!   parameters: every extent is static in the kernel IR and baked into the
//!   code;
//! - [`PtxEntry::launch`] gives the geometry: `block` threads per block
//!   (1-D) and a grid rule, [`Grid::Fixed`] (exactly that many blocks) or
//!   [`Grid::Stride`] (a grid-stride loop over `work` items: any grid size
//!   is correct; [`Launch::grid_dim`] picks `min(ceil(work / block),
//!   32 · multiprocessors)`, at least 1). Shared memory is declared
//!   statically inside the PTX, so the dynamic shared-memory size is always
//!   0;
//! - [`PtxKernel::scratch_bytes`]: the size of a device scratch buffer the
//!   runtime allocates (8-byte aligned, contents need not be initialised)
//!   and passes where an entry has [`Param::Scratch`]; 0 means none. It can
//!   be reused by every launch on the same stream.
//!
//! Device buffers hold elements as the host does: f32/f64/i32/u32 in their
//! native little-endian form, bools as one byte (0 or 1) per element. A
//! buffer with no elements is never dereferenced (its pointer may be
//! null). [`ptxas`] checks emitted modules with NVIDIA's assembler when one
//! is installed (tests and CI).
//!
//! [`emit_program`] emits every kernel step of a [`Program`] into one
//! module ([`PtxProgram::ptx`], entry names made unique by step number) and
//! keeps GEMM steps as they are, for cuBLAS; control steps
//! ([`PtxStep::Control`]) carry their sub-programs' kernels, which join the
//! same module under names made unique by their nesting path (`control`).
//!
//! # How kernels map to threads
//!
//! The top-level statements of a kernel are split into **phases**, each
//! one entry (a two-pass reduction: two), launched in order:
//!
//! - a top-level `parallel` loop, with the loops directly nested in it that
//!   are parallel or whose iterations provably write distinct elements and
//!   read no output (collapsed into one iteration space), becomes a
//!   grid-stride loop: one thread per iteration, 32-bit thread arithmetic
//!   when the iteration count is below 2^31, 64-bit otherwise; element
//!   offsets are 32-bit for buffers under 2^31 elements, 64-bit otherwise;
//! - a top-level sequential loop that accumulates into output elements
//!   indexed by its inner loop alone (how a reduction over leading axes,
//!   e.g. a column sum, is written) is interchanged: one thread per output
//!   element, each looping over the outer loop in order, so the result is
//!   bit-identical to the CPU's;
//! - a top-level reduction — accumulators initialised, then a loop whose
//!   only effects are `acc = acc ⊕ x` for an associative `⊕` (add, mul,
//!   max, min, and, or, xor) and elementwise stores of distinct elements
//!   per iteration (the elementwise work sharing the reduction's pass) — is
//!   a block reduction: each thread folds a strided
//!   share, then warp shuffles (`shfl.sync.bfly`) and shared memory
//!   (`bar.sync`) combine the block's values. Up to
//!   [`SINGLE_BLOCK_REDUCTION`] iterations one block does everything;
//!   beyond, pass one ([`REDUCTION_BLOCKS`] blocks) writes one partial per
//!   block and accumulator to scratch and pass two (one block) combines
//!   them and runs what follows the loop (the epilogue). Float sums and
//!   products are therefore reassociated (the CPU folds in row-major
//!   order): they agree with the CPU to rounding; max/min/integer results
//!   are identical;
//! - a scatter-add loop nest (read an output element at a computed index,
//!   add, store back) on f32, f64, i32 or u32 runs one thread per (update
//!   row, element) with `red.global.add` (see `atomic`); float additions to
//!   a duplicated index happen in an unspecified order;
//! - everything else (scatters other than add, cumulative sums, the tail
//!   block of `random_bits`, accumulator code that is not a recognised
//!   reduction) runs on one thread (`block` 1, grid 1), in order.
//!
//! Inside a grid-stride loop, a body that folds along a row (plain
//! reductions and loops of independent iterations, at least 32 long, as in
//! a row sum, a log-sum-exp or a softmax) gets a whole warp per iteration
//! (see `warp`): the lanes split the loops and combine reductions with a
//! shuffle butterfly. Other loops inside an iteration (argmax, cumsum,
//! short rows) run sequentially in its thread.
//! Top-level `Let`s that read only inputs are recomputed in every entry.
//! When the kernel does not fit this scheme (a value or accumulator of one
//! phase used in another) it runs entirely on one thread.
//!
//! `random_bits` is a parallel loop over ChaCha20 blocks in the kernel IR:
//! each thread computes its own block with the very integer arithmetic the
//! CPU runs (same key, counter and word order), so the bits are identical
//! by construction.
//!
//! # Scalar semantics
//!
//! As the kernel interpreter defines them: integers wrap; integer division
//! and remainder by zero give 0 (and `MIN / -1` wraps); float `max`/`min`
//! propagate NaN and order -0 < +0; `Round` is half away from zero; float
//! remainder is the exact `fmod` (computed on the integer significands);
//! float → integer conversions truncate and saturate with NaN → 0 (PTX
//! `cvt.rzi`, which saturates), integer → float and f64 → f32 round to
//! nearest (`cvt.rn`); float arithmetic is IEEE with explicit `.rn`
//! rounding, so ptxas never contracts a multiply and an add into an fma the
//! CPU does not compute; bools are predicates in registers and bytes (0/1)
//! in memory.

mod atomic;
mod control;
mod emit;
mod fmod;
mod nest;
mod phase;
pub mod ptxas;
mod reduce;
mod scalar;
mod warp;

use crate::kernel::{BufId, Kernel};
use crate::program::{BufferRef, Gemm, Program, Step};
use rjax_ir::Result;

pub use control::PtxControl;

/// Iteration counts up to which a top-level reduction runs in one block
/// (one entry); larger ones use the two-pass scheme.
pub const SINGLE_BLOCK_REDUCTION: usize = 1 << 16;

/// Threads per block of every entry but the serial ones.
pub const BLOCK_THREADS: u32 = 256;

/// Blocks of the first pass of a two-pass reduction (the second pass
/// combines this many partials, one per thread of its block).
pub const REDUCTION_BLOCKS: u32 = 256;

const _: () = assert!(REDUCTION_BLOCKS == BLOCK_THREADS);

/// Code generation options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PtxOptions {
    /// The compute capability as `10 · major + minor`: 80 (A100), 90
    /// (H100/H200); it is written into `.target sm_XX` (the code needs
    /// sm_60 or newer: f64 atomic adds).
    pub sm: u32,
}

impl Default for PtxOptions {
    fn default() -> Self {
        PtxOptions { sm: 80 }
    }
}

/// A parameter of an entry (each is a `.param .u64` device pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Param {
    /// The kernel's buffer with this id.
    Buffer(BufId),
    /// The kernel's scratch area ([`PtxKernel::scratch_bytes`]).
    Scratch,
}

/// How many blocks an entry is launched with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Grid {
    /// Exactly this many blocks.
    Fixed(u32),
    /// A grid-stride loop over `work` iterations: any number of blocks is
    /// correct.
    Stride {
        /// Iterations of the loop.
        work: u64,
    },
}

/// The launch geometry of an entry (1-D grid and blocks, no dynamic shared
/// memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Launch {
    /// Threads per block.
    pub block: u32,
    /// Blocks.
    pub grid: Grid,
}

impl Launch {
    /// The number of blocks to launch on a device with `multiprocessors`
    /// SMs: the fixed count, or enough blocks for one iteration per thread
    /// capped at 32 blocks per SM (the grid-stride loop does the rest).
    pub fn grid_dim(&self, multiprocessors: u32) -> u32 {
        match self.grid {
            Grid::Fixed(n) => n,
            Grid::Stride { work } => {
                let want = work.div_ceil(u64::from(self.block.max(1)));
                let cap = u64::from(multiprocessors.max(1)) * 32;
                want.clamp(1, cap) as u32
            }
        }
    }
}

/// One `.entry` of a kernel's module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtxEntry {
    /// The entry's symbol (for `load_function`).
    pub name: String,
    /// Its parameters, in order.
    pub params: Vec<Param>,
    /// How to launch it.
    pub launch: Launch,
}

/// A kernel in PTX: the module text and how to launch its entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtxKernel {
    /// A complete PTX module.
    pub ptx: String,
    /// Entries, in launch order (all on one stream).
    pub entries: Vec<PtxEntry>,
    /// Bytes of device scratch memory the entries share (0: none).
    pub scratch_bytes: usize,
}

/// One step of a [`PtxProgram`].
#[derive(Clone, Debug, PartialEq)]
pub enum PtxStep {
    /// Launch the entries (in order) with `args[i]` bound to kernel buffer
    /// `i`; the entries live in [`PtxProgram::ptx`].
    Kernel {
        /// The entries and their scratch size (its `ptx` holds this kernel
        /// alone).
        kernel: PtxKernel,
        /// Program buffers for the kernel's buffers.
        args: Vec<BufferRef>,
    },
    /// A matrix product, for cuBLAS.
    Gemm(Gemm),
    /// A `cond`, `while` or `scan` whose loop the runtime runs on the host,
    /// launching its sub-programs' kernels (see `control`).
    Control(Box<PtxControl>),
}

/// A program's kernels in one PTX module.
#[derive(Clone, Debug, PartialEq)]
pub struct PtxProgram {
    /// One module with every entry of every kernel step.
    pub ptx: String,
    /// The steps, in program order.
    pub steps: Vec<PtxStep>,
}

/// The PTX ISA version written for `sm`: 7.8 (CUDA 11.8, the first to
/// know sm_89 and sm_90) up to sm_9x, 8.7 (CUDA 12.8) for newer targets.
pub fn isa_version(sm: u32) -> &'static str {
    if sm >= 100 {
        "8.7"
    } else {
        "7.8"
    }
}

/// The module header for `opts`.
pub fn header(opts: &PtxOptions) -> String {
    format!(
        ".version {}\n.target sm_{}\n.address_size 64\n\n",
        isa_version(opts.sm),
        opts.sm
    )
}

/// Emits one kernel (see the module docs for the mapping to threads).
///
/// # Errors
/// When the kernel does not pass the kernel-IR checker.
pub fn emit_kernel(kernel: &Kernel, opts: &PtxOptions) -> Result<PtxKernel> {
    let base = emit::entry_base(&kernel.name, None);
    let (body, entries, scratch_bytes) = emit::emit_entries(kernel, &base)?;
    Ok(PtxKernel {
        ptx: format!("{}{}", header(opts), body),
        entries,
        scratch_bytes,
    })
}

/// Emits every kernel step of `program` into one module, with the kernels
/// of control steps' sub-programs at every nesting level.
///
/// # Errors
/// As [`emit_kernel`].
pub fn emit_program(program: &Program, opts: &PtxOptions) -> Result<PtxProgram> {
    let (body, steps) = emit_steps(program, opts, "")?;
    Ok(PtxProgram {
        ptx: format!("{}{}", header(opts), body),
        steps,
    })
}

/// The entries of `program`'s steps (the sub-program at `path`, see
/// `control`) and the steps.
fn emit_steps(program: &Program, opts: &PtxOptions, path: &str) -> Result<(String, Vec<PtxStep>)> {
    let mut ptx = String::new();
    let mut steps = Vec::with_capacity(program.steps.len());
    for (i, step) in program.steps.iter().enumerate() {
        match step {
            Step::Kernel { kernel, args } => {
                let base = control::nested_base(path, emit::entry_base(&kernel.name, Some(i)));
                let (body, entries, scratch_bytes) = emit::emit_entries(kernel, &base)?;
                ptx.push_str(&body);
                steps.push(PtxStep::Kernel {
                    kernel: PtxKernel {
                        ptx: format!("{}{}", header(opts), body),
                        entries,
                        scratch_bytes,
                    },
                    args: args.clone(),
                });
            }
            Step::Gemm(g) => steps.push(PtxStep::Gemm(g.clone())),
            Step::Control(c) => steps.push(control::emit_control(c, i, path, opts, &mut ptx)?),
        }
    }
    Ok((ptx, steps))
}
