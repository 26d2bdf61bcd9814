//! # rjax-codegen: compiling jaxprs to executables
//!
//! This crate turns a closed jaxpr with concrete input types into an
//! executable that takes device buffers and returns device buffers. It
//! knows nothing of tracing or autodiff. The pipeline (being built; see
//! the project's design notes, section 7):
//!
//! 1. IR passes: dead-code elimination, common-subexpression elimination,
//!    constant folding, algebraic simplification, inlining of `call`.
//! 2. Fusion into kernels written in a backend-neutral kernel IR (loop nests,
//!    affine loads and stores, scalar SSA arithmetic, reductions), with its
//!    own interpreter checked against the reference interpreter.
//! 3. Backends: Cranelift for the CPU (SIMD innermost loops, GEMM through a
//!    well-kept crate, threads) and PTX for NVIDIA GPUs.
//! 4. A cache of executables keyed by (jaxpr fingerprint, input avals,
//!    device).
//!
//! Control flow (`cond`, `while`, `scan`) compiles to program steps that
//! run sub-programs as real loops and branches ([`control`]).
//!
//! [`compile`] runs this pipeline for the CPU ([`cpu`]) and for NVIDIA GPUs
//! ([`ptx`] for the kernels, [`cuda`] for the runtime and cuBLAS).
#![deny(missing_docs)]

pub mod control;
pub mod cpu;
pub mod cuda;
pub mod fusion;
pub mod kernel;
pub mod kernel_interp;
pub mod lower;
pub mod math;
pub mod program;
pub mod ptx;

use rjax_ir::{AVal, ClosedJaxpr, HostBuffer, Result};

/// Where an executable runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    /// The host CPU.
    Cpu,
    /// An NVIDIA GPU, by ordinal.
    Cuda(usize),
}

impl std::fmt::Display for Device {
    /// `cpu`, or `cuda:N`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// A compiled program: runs on buffers of the avals it was compiled for.
pub trait Executable: Send + Sync {
    /// Runs the program.
    ///
    /// # Errors
    /// When the arguments do not match the compiled input avals, or the
    /// device fails.
    fn run(&self, args: &[&HostBuffer]) -> Result<Vec<HostBuffer>>;

    /// Runs the program on arguments the caller hands over: an output may
    /// be written into an argument's storage instead of fresh memory (see
    /// [`cpu::CpuExecutable`]'s implementation for when). The default copies
    /// nothing and calls [`Executable::run`].
    ///
    /// # Errors
    /// As [`Executable::run`].
    fn run_donated(&self, args: Vec<HostBuffer>) -> Result<Vec<HostBuffer>> {
        let refs: Vec<&HostBuffer> = args.iter().collect();
        self.run(&refs)
    }
}

/// Compiles `jaxpr` for inputs of `in_avals` on `device`.
///
/// `fusion::plan` turns the jaxpr into a [`program::Program`] and
/// `math::expand` rewrites the transcendental operations of every kernel;
/// then the Cranelift backend ([`cpu::compile_program`]) or the CUDA
/// runtime ([`cuda::compile_program`]) compiles the result. A CUDA
/// executable used through this trait copies its arguments to the GPU and
/// its results back; [`cuda::CudaExecutable::run_device`] keeps them there.
///
/// # Errors
/// What fusion or the backend reports for programs they cannot handle;
/// for a GPU, [`rjax_ir::Error::Device`] when there is no driver or no such device.
pub fn compile(
    jaxpr: &ClosedJaxpr,
    in_avals: &[AVal],
    device: Device,
) -> Result<Box<dyn Executable>> {
    match device {
        Device::Cpu => Ok(Box::new(cpu::compile_jaxpr(jaxpr, in_avals)?)),
        Device::Cuda(n) => Ok(Box::new(cuda::compile_jaxpr(jaxpr, in_avals, n)?)),
    }
}
