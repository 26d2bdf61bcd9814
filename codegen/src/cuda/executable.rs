//! [`CudaExecutable`]: a whole [`Program`] compiled for one GPU.
//!
//! Compilation emits every kernel step into one PTX module
//! ([`crate::ptx::emit_program`]), loads it through the device's module
//! cache, maps GEMM steps to cuBLAS calls ([`super::gemm::plan_gemm`]),
//! uploads the constants once, and reuses the CPU backend's memory plan:
//! arguments and constants are read in place, temporaries share one
//! device arena per call by liveness, outputs get fresh device buffers,
//! and a buffer is zeroed before its first step exactly when the plan says
//! that step does not write all of it.
//! Control steps (`cond`, `while`, `scan`) are compiled with their
//! sub-programs (`super::control`) and run their loops on the host.
//!
//! A call enqueues every step on the device's stream and returns without
//! waiting (except on the scalar a `cond` or a `while` trip reads back); results are [`CudaBuffer`]s, and reading one back
//! ([`CudaBuffer::download`]) waits for the work. Arguments handed over by
//! value are not donated on the GPU yet.

use super::buffer::{alloc, elem_bytes, slice_ptr, CudaBuffer};
use super::control::GpuControl;
use super::driver::{self, device_name, GpuDevice};
use super::gemm::{plan_gemm, run_blas, GemmCall};
use super::launch::{launch, pack_params};
use crate::cpu::plan::{plan, MemoryPlan, OutputPlan, Slot};
use crate::program::{BufferRef, BufferSource, Program};
use crate::ptx::{emit_program, PtxEntry, PtxOptions, PtxStep};
use crate::Executable;
use cudarc::driver::{CudaFunction, CudaModule};
use rjax_ir::error::DeviceErrorKind;
use rjax_ir::{num_elements, AVal, DType, Error, HostBuffer, Result};
use std::sync::Arc;

/// One step, ready to enqueue.
pub(super) enum GpuStep {
    /// A kernel's entries (launched in order) and the program buffers bound
    /// to its buffers.
    Kernel {
        entries: Vec<(PtxEntry, CudaFunction)>,
        args: Vec<BufferRef>,
        scratch: bool,
    },
    /// A matrix product.
    Gemm {
        call: GemmCall,
        dtype: DType,
        lhs: BufferRef,
        rhs: BufferRef,
        out: BufferRef,
    },
    /// A `cond`, `while` or `scan`, its loop run on the host.
    Control(Box<GpuControl>),
}

/// A program compiled for one CUDA device (see the module docs).
pub struct CudaExecutable {
    device: Arc<GpuDevice>,
    in_avals: Vec<AVal>,
    buffers: Vec<(DType, Vec<usize>)>,
    steps: Vec<GpuStep>,
    constants: Vec<CudaBuffer>,
    plan: MemoryPlan,
    scratch_bytes: usize,
}

/// The PTX options for a device of compute capability `(major, minor)`.
///
/// # Errors
/// [`DeviceErrorKind::Failed`] below compute capability 8.0, the oldest
/// target the PTX backend writes.
pub fn ptx_options(ordinal: usize, (major, minor): (i32, i32)) -> Result<PtxOptions> {
    let sm = major * 10 + minor;
    if sm < 80 {
        return Err(Error::device(
            DeviceErrorKind::Failed,
            device_name(ordinal),
            format!(
                "compute capability {major}.{minor} is below 8.0, the oldest GPU generation \
                 rjax's PTX targets (Ampere)"
            ),
        ));
    }
    Ok(PtxOptions { sm: sm as u32 })
}

/// A malformed-program error from the shared validation, relabelled for
/// this backend.
fn relabel(e: Error) -> Error {
    match e {
        Error::Op { message, .. } => Error::op("cuda backend", message),
        other => other,
    }
}

/// Compiles `program` (transcendental operations expanded) for device
/// `ordinal`.
///
/// # Errors
/// The device errors of [`super::devices`]; a malformed program; a GEMM
/// cuBLAS cannot run; a module the driver rejects.
pub fn compile_program(
    program: &Program,
    in_avals: &[AVal],
    ordinal: usize,
) -> Result<CudaExecutable> {
    crate::cpu::validate_program(program, in_avals).map_err(relabel)?;
    let device = driver::get(ordinal)?.clone();
    let opts = ptx_options(ordinal, device.info.compute_capability)?;
    let ptx = emit_program(program, &opts)?;
    let module = device.module(&ptx.ptx)?;
    let mut scratch_bytes = 0;
    let steps = compile_steps(&device, &module, program, ptx.steps, &mut scratch_bytes)?;
    let constants = program
        .buffers
        .iter()
        .filter_map(|b| match &b.source {
            BufferSource::Constant(c) => Some(CudaBuffer::upload(c, ordinal)),
            BufferSource::Argument(_) | BufferSource::Temporary => None,
        })
        .collect::<Result<_>>()?;
    Ok(CudaExecutable {
        device,
        in_avals: in_avals.to_vec(),
        buffers: program
            .buffers
            .iter()
            .map(|b| (b.dtype, b.shape.clone()))
            .collect(),
        steps,
        constants,
        plan: plan(program).map_err(relabel)?,
        scratch_bytes,
    })
}

/// Compiles emitted steps of `program`: kernel entries found in `module`,
/// GEMMs mapped to cuBLAS, control steps built with their sub-programs;
/// raises `scratch_bytes` to the largest kernel scratch at any level.
pub(super) fn compile_steps(
    device: &Arc<GpuDevice>,
    module: &Arc<CudaModule>,
    program: &Program,
    ptx_steps: Vec<PtxStep>,
    scratch_bytes: &mut usize,
) -> Result<Vec<GpuStep>> {
    let mut steps = Vec::with_capacity(ptx_steps.len());
    for step in ptx_steps {
        steps.push(match step {
            PtxStep::Kernel { kernel, args } => {
                *scratch_bytes = (*scratch_bytes).max(kernel.scratch_bytes);
                let entries = kernel
                    .entries
                    .into_iter()
                    .map(|e| {
                        let f = module.load_function(&e.name).map_err(|err| {
                            device.fail(&format!("finding entry {}", e.name), err)
                        })?;
                        Ok((e, f))
                    })
                    .collect::<Result<_>>()?;
                GpuStep::Kernel {
                    entries,
                    args,
                    scratch: kernel.scratch_bytes > 0,
                }
            }
            PtxStep::Gemm(g) => {
                let call = plan_gemm(&g)?;
                if matches!(call, GemmCall::Blas(_)) {
                    // Fail at compile time when cuBLAS is missing.
                    device.blas()?;
                }
                GpuStep::Gemm {
                    call,
                    dtype: g.dtype,
                    lhs: g.lhs.0,
                    rhs: g.rhs.0,
                    out: g.out,
                }
            }
            PtxStep::Control(c) => GpuStep::Control(Box::new(GpuControl::build(
                device,
                module,
                program,
                *c,
                scratch_bytes,
            )?)),
        });
    }
    Ok(steps)
}

/// Zeroes `bytes` bytes at device address `ptr` of `dev` (stream-ordered).
pub(super) fn zero(dev: &GpuDevice, ptr: u64, bytes: usize) -> Result<()> {
    if bytes == 0 {
        return Ok(());
    }
    dev.ctx
        .bind_to_thread()
        .map_err(|e| dev.fail("binding the context", e))?;
    // SAFETY: `ptr` addresses `bytes` bytes of a live allocation of
    // this device (a program buffer planned by the memory plan).
    unsafe { cudarc::driver::result::memset_d8_async(ptr, 0, bytes, dev.stream.cu_stream()) }
        .map_err(|e| dev.fail("zeroing a buffer", e))
}

/// Enqueues `steps` on buffers at device addresses `ptrs` (by program
/// buffer; `bytes` gives their sizes), zeroing the arena buffers
/// `zero_arena` lists before each step; `scratch` is the kernels' shared
/// scratch area.
pub(super) fn run_steps(
    dev: &GpuDevice,
    steps: &[GpuStep],
    zero_arena: &[Vec<BufferRef>],
    bytes: &dyn Fn(BufferRef) -> usize,
    ptrs: &[u64],
    scratch: Option<u64>,
) -> Result<()> {
    let ptr = |r: BufferRef| ptrs[r.0 as usize];
    for (s, step) in steps.iter().enumerate() {
        for r in &zero_arena[s] {
            zero(dev, ptr(*r), bytes(*r))?;
        }
        match step {
            GpuStep::Kernel {
                entries,
                args,
                scratch: needs,
            } => {
                let bound: Vec<u64> = args.iter().map(|r| ptr(*r)).collect();
                let scratch_ptr = scratch.filter(|_| *needs);
                for (entry, function) in entries {
                    let params = pack_params(entry, &bound, scratch_ptr)?;
                    // SAFETY: compile_program validated the program (every
                    // kernel buffer bound to a program buffer of its dtype
                    // and length, outputs are temporaries, affine indices in
                    // bounds); the addresses are live allocations of this
                    // device planned by the memory plan, which never lets
                    // two live temporaries overlap.
                    unsafe { launch(dev, function, entry, &params)? };
                }
            }
            GpuStep::Gemm {
                call,
                dtype,
                lhs,
                rhs,
                out,
            } => match call {
                GemmCall::Nothing => {}
                GemmCall::Zero => zero(dev, ptr(*out), bytes(*out))?,
                GemmCall::Blas(c) => {
                    // SAFETY: validation checked the operands' strides
                    // against their buffers' lengths and the dtypes; the
                    // result is a temporary, distinct from the operands.
                    unsafe { run_blas(dev, *dtype, c, ptr(*rhs), ptr(*lhs), ptr(*out))? }
                }
            },
            GpuStep::Control(c) => c.run(dev, &ptr, scratch)?,
        }
    }
    Ok(())
}

impl CudaExecutable {
    /// The device ordinal this executable runs on.
    pub fn ordinal(&self) -> usize {
        self.device.ordinal()
    }

    fn bytes(&self, r: BufferRef) -> usize {
        let (dtype, shape) = &self.buffers[r.0 as usize];
        num_elements(shape) * elem_bytes(*dtype)
    }

    fn check_args(&self, args: &[&CudaBuffer]) -> Result<()> {
        if args.len() != self.in_avals.len() {
            return Err(Error::op(
                "cuda executable",
                format!(
                    "{} arguments for a program of {}",
                    args.len(),
                    self.in_avals.len()
                ),
            ));
        }
        for (i, (a, want)) in args.iter().zip(&self.in_avals).enumerate() {
            if a.ordinal() != self.ordinal() {
                return Err(Error::device(
                    DeviceErrorKind::Mismatch,
                    device_name(self.ordinal()),
                    format!(
                        "argument {i} lives on {} but the program runs on {}",
                        device_name(a.ordinal()),
                        device_name(self.ordinal())
                    ),
                ));
            }
            if a.aval() != *want {
                return Err(Error::op(
                    "cuda executable",
                    format!("argument {i} is {}, compiled for {want}", a.aval()),
                ));
            }
        }
        Ok(())
    }

    /// Runs the program on device buffers; the results stay on the device.
    ///
    /// # Errors
    /// When an argument does not match the compiled avals or lives on
    /// another device ([`DeviceErrorKind::Mismatch`]), or a device
    /// operation fails.
    pub fn run_device(&self, args: &[&CudaBuffer]) -> Result<Vec<CudaBuffer>> {
        self.check_args(args)?;
        let dev = &self.device;
        // The arena and scratch memory live until the end of this call;
        // freeing them is ordered on the stream after the steps that use them.
        let arena = alloc(dev, self.plan.arena_bytes, false)?;
        let scratch = (self.scratch_bytes > 0)
            .then(|| alloc(dev, self.scratch_bytes, false))
            .transpose()?;
        let outs = self
            .plan
            .fresh
            .iter()
            .zip(&self.plan.fresh_written)
            .map(|(r, written)| {
                let (dtype, shape) = &self.buffers[r.0 as usize];
                let mem = alloc(dev, self.bytes(*r), !written)?;
                Ok(CudaBuffer::from_parts(
                    dev.clone(),
                    mem,
                    *dtype,
                    shape.clone(),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let arena_base = slice_ptr(dev, &arena);
        let ptrs: Vec<u64> = self
            .plan
            .slots
            .iter()
            .map(|slot| match *slot {
                Slot::Arg(i) => args[i].ptr(),
                Slot::Const(i) => self.constants[i].ptr(),
                Slot::Arena(off) => arena_base + off as u64,
                Slot::Out(k) => outs[k].ptr(),
                Slot::Unused => 0,
            })
            .collect();
        let scratch_base = scratch.as_ref().map(|m| slice_ptr(dev, m));
        run_steps(
            dev,
            &self.steps,
            &self.plan.zero_arena,
            &|r| self.bytes(r),
            &ptrs,
            scratch_base,
        )?;
        // Buffers are immutable once returned, so an output that is an
        // argument, a constant or listed twice shares storage.
        self.plan
            .outputs
            .iter()
            .map(|o| match *o {
                OutputPlan::Fresh(k) => Ok(outs[k].clone()),
                OutputPlan::Copy(r) => match self.plan.slots[r.0 as usize] {
                    Slot::Arg(i) => Ok(args[i].clone()),
                    Slot::Const(i) => Ok(self.constants[i].clone()),
                    Slot::Out(k) => Ok(outs[k].clone()),
                    Slot::Arena(_) | Slot::Unused => Err(Error::op(
                        "cuda backend",
                        "internal error: output planned in the arena",
                    )),
                },
            })
            .collect()
    }
}

impl Executable for CudaExecutable {
    /// Copies the arguments to the device, runs, and copies the results
    /// back (for tests and callers that hold host data).
    fn run(&self, args: &[&HostBuffer]) -> Result<Vec<HostBuffer>> {
        let on_device = args
            .iter()
            .map(|a| CudaBuffer::upload(a, self.ordinal()))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&CudaBuffer> = on_device.iter().collect();
        self.run_device(&refs)?
            .iter()
            .map(CudaBuffer::download)
            .collect()
    }
}
