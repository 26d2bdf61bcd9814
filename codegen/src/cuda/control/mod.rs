//! Control steps on the GPU: [`GpuControl`] runs a `cond`, `while` or
//! `scan` step (see [`crate::control`]) with its loop on the host and the
//! kernels of its sub-programs launched on the device's stream.
//!
//! Each sub-program is a [`SubProgram`]: its steps compiled like the outer
//! program's (kernels from the same module, GEMMs through cuBLAS, nested
//! control steps), its constants uploaded once, and its own memory plan
//! (`cpu::plan`). Running it binds its arguments and outputs to device
//! addresses the control step chooses; its temporaries live in an arena
//! at the start of the step's device scratch, which one run of the step
//! allocates once.
//!
//! - **`cond`** copies the `i32` index to the host (waiting for the work
//!   that computes it) and runs the chosen branch on the operands,
//!   writing the results.
//! - **`while`** copies the carry to the results, then per trip runs the
//!   condition into a one-byte flag in scratch, copies the flag to the
//!   host, and, while it holds, runs the body from one carry copy into the
//!   other (results and scratch copy, alternately); an odd trip count ends
//!   with a copy back to the results.
//! - **`scan`** addresses `xs[i]` and `ys[i]` in place, at `i × slice
//!   bytes` of the stacked device buffers (pointer arithmetic, no copies),
//!   and ping-pongs the carry between the results and the scratch copies,
//!   starting on the side that makes the last iteration write the results.
//!   It never waits for the device: the whole loop is enqueued.
//!
//! The side and slice rules are the pure functions of [`plan`].

mod plan;

use super::buffer::{alloc, slice_ptr, CudaBuffer};
use super::driver::GpuDevice;
use super::executable::{compile_steps, run_steps, zero, GpuStep};
use crate::control::ControlKind;
use crate::cpu::plan::{buffer_bytes, plan as memory_plan, MemoryPlan, OutputPlan, Slot};
use crate::program::{BufferRef, BufferSource, Program};
use crate::ptx::{PtxControl, PtxProgram};
use cudarc::driver::CudaModule;
use rjax_ir::{Error, Result};
use std::sync::Arc;

/// A sub-program compiled for the device (see the module docs).
pub(super) struct SubProgram {
    steps: Vec<GpuStep>,
    plan: MemoryPlan,
    /// Bytes of each program buffer.
    bytes: Vec<usize>,
    constants: Vec<CudaBuffer>,
    /// Per fresh output vector of the plan: the output it is.
    fresh_output: Vec<usize>,
}

impl SubProgram {
    fn build(
        device: &Arc<GpuDevice>,
        module: &Arc<CudaModule>,
        program: &Program,
        ptx: PtxProgram,
        scratch_bytes: &mut usize,
    ) -> Result<SubProgram> {
        let steps = compile_steps(device, module, program, ptx.steps, scratch_bytes)?;
        let plan = memory_plan(program)?;
        let mut fresh_output = vec![0; plan.fresh.len()];
        for (j, o) in plan.outputs.iter().enumerate() {
            if let OutputPlan::Fresh(k) = o {
                fresh_output[*k] = j;
            }
        }
        let constants = program
            .buffers
            .iter()
            .filter_map(|b| match &b.source {
                BufferSource::Constant(c) => Some(CudaBuffer::upload(c, device.ordinal())),
                BufferSource::Argument(_) | BufferSource::Temporary => None,
            })
            .collect::<Result<_>>()?;
        Ok(SubProgram {
            steps,
            bytes: (0..program.buffers.len())
                .map(|i| buffer_bytes(program, BufferRef(i as u32)))
                .collect(),
            plan,
            constants,
            fresh_output,
        })
    }

    /// Enqueues one run reading `args` and writing `outs` (device
    /// addresses), its temporaries at `arena`.
    fn run(
        &self,
        dev: &GpuDevice,
        args: &[u64],
        outs: &[u64],
        arena: u64,
        scratch: Option<u64>,
    ) -> Result<()> {
        let ptrs: Vec<u64> = self
            .plan
            .slots
            .iter()
            .map(|slot| match *slot {
                Slot::Arg(i) => args[i],
                Slot::Const(i) => self.constants[i].ptr(),
                Slot::Arena(off) => arena + off as u64,
                Slot::Out(k) => outs[self.fresh_output[k]],
                Slot::Unused => 0,
            })
            .collect();
        let bytes = |r: BufferRef| self.bytes[r.0 as usize];
        for (k, written) in self.plan.fresh_written.iter().enumerate() {
            if !written {
                zero(
                    dev,
                    ptrs[self.plan.fresh[k].0 as usize],
                    bytes(self.plan.fresh[k]),
                )?;
            }
        }
        run_steps(
            dev,
            &self.steps,
            &self.plan.zero_arena,
            &bytes,
            &ptrs,
            scratch,
        )?;
        for (j, o) in self.plan.outputs.iter().enumerate() {
            if let OutputPlan::Copy(r) = o {
                copy(dev, outs[j], ptrs[r.0 as usize], bytes(*r))?;
            }
        }
        Ok(())
    }
}

/// Enqueues a copy of `bytes` bytes between device addresses.
fn copy(dev: &GpuDevice, dst: u64, src: u64, bytes: usize) -> Result<()> {
    if bytes == 0 || dst == src {
        return Ok(());
    }
    dev.ctx
        .bind_to_thread()
        .map_err(|e| dev.fail("binding the context", e))?;
    // SAFETY: both addresses point at `bytes` bytes of live allocations of
    // this device (program buffers or the step's scratch), which never
    // overlap: control-step results are distinct temporaries.
    unsafe { cudarc::driver::result::memcpy_dtod_async(dst, src, bytes, dev.stream.cu_stream()) }
        .map_err(|e| dev.fail("copying on the device", e))
}

/// Copies `N` bytes at device address `src` to the host, waiting for the
/// work queued before.
fn read<const N: usize>(dev: &GpuDevice, src: u64) -> Result<[u8; N]> {
    let mut host = [0u8; N];
    dev.ctx
        .bind_to_thread()
        .map_err(|e| dev.fail("binding the context", e))?;
    // SAFETY: `src` addresses at least `N` bytes of a live allocation (a
    // scalar program buffer or the flag in the step's scratch); `host`
    // outlives the copy, which the synchronisation below completes.
    unsafe { cudarc::driver::result::memcpy_dtoh_async(&mut host, src, dev.stream.cu_stream()) }
        .map_err(|e| dev.fail("copying to the host", e))?;
    dev.synchronize()?;
    Ok(host)
}

/// The compiled sub-programs of a control step.
enum Kind {
    Cond(Vec<SubProgram>),
    While(Box<[SubProgram; 2]>),
    Scan {
        body: Box<SubProgram>,
        length: usize,
        reverse: bool,
        num_consts: usize,
        num_carry: usize,
    },
}

/// A control step compiled for the device, ready to run on the outer
/// program's buffers.
pub(super) struct GpuControl {
    kind: Kind,
    inputs: Vec<BufferRef>,
    outputs: Vec<BufferRef>,
    in_bytes: Vec<usize>,
    out_bytes: Vec<usize>,
    arena_bytes: usize,
    /// Offsets of the carry copies (and a `while`'s flag) in scratch.
    slots: Vec<usize>,
    scratch_bytes: usize,
}

impl GpuControl {
    /// Compiles control step `ptx` of `program` (its kernels are in
    /// `module`), raising `scratch_bytes` to the largest kernel scratch of
    /// its sub-programs.
    pub(super) fn build(
        device: &Arc<GpuDevice>,
        module: &Arc<CudaModule>,
        program: &Program,
        ptx: PtxControl,
        scratch_bytes: &mut usize,
    ) -> Result<GpuControl> {
        let PtxControl { step, programs } = ptx;
        let mut subs = step
            .programs()
            .into_iter()
            .zip(programs)
            .map(|(p, x)| SubProgram::build(device, module, p, x, scratch_bytes))
            .collect::<Result<Vec<_>>>()?;
        let arena_bytes = subs.iter().map(|s| s.plan.arena_bytes).max().unwrap_or(0);
        let out_bytes: Vec<usize> = step
            .outputs
            .iter()
            .map(|r| buffer_bytes(program, *r))
            .collect();
        let missing = || {
            Error::op(
                "cuda backend",
                format!("{}: sub-program missing", step.name()),
            )
        };
        let (kind, mut carry) = match &step.kind {
            ControlKind::Cond { .. } => (Kind::Cond(subs), vec![]),
            ControlKind::While { .. } => {
                let body = subs.pop().ok_or_else(missing)?;
                let cond = subs.pop().ok_or_else(missing)?;
                (Kind::While(Box::new([cond, body])), out_bytes.clone())
            }
            ControlKind::Scan {
                length,
                reverse,
                num_consts,
                num_carry,
                ..
            } => {
                let kind = Kind::Scan {
                    body: Box::new(subs.pop().ok_or_else(missing)?),
                    length: *length,
                    reverse: *reverse,
                    num_consts: *num_consts,
                    num_carry: *num_carry,
                };
                (kind, out_bytes[..*num_carry].to_vec())
            }
        };
        if matches!(kind, Kind::While(_)) {
            carry.push(1);
        }
        let (slots, total) = plan::scratch_layout(arena_bytes, &carry);
        Ok(GpuControl {
            kind,
            in_bytes: step
                .inputs
                .iter()
                .map(|r| buffer_bytes(program, *r))
                .collect(),
            inputs: step.inputs,
            outputs: step.outputs,
            out_bytes,
            arena_bytes,
            slots,
            scratch_bytes: total,
        })
    }

    /// Runs the step on the outer program's buffers (`ptr` gives each one's
    /// device address; `scratch` is the kernels' shared scratch area).
    pub(super) fn run(
        &self,
        dev: &GpuDevice,
        ptr: &dyn Fn(BufferRef) -> u64,
        scratch: Option<u64>,
    ) -> Result<()> {
        // Freed, stream-ordered, when this run has enqueued everything.
        let mem = alloc(dev, self.scratch_bytes, false)?;
        let base = slice_ptr(dev, &mem);
        let ins: Vec<u64> = self.inputs.iter().map(|r| ptr(*r)).collect();
        let outs: Vec<u64> = self.outputs.iter().map(|r| ptr(*r)).collect();
        let copies: Vec<u64> = self.slots.iter().map(|o| base + *o as u64).collect();
        debug_assert!(self.arena_bytes <= self.slots.first().map_or(self.scratch_bytes, |o| *o));
        match &self.kind {
            Kind::Cond(branches) => {
                let index = i32::from_le_bytes(read::<4>(dev, ins[0])?);
                let b = &branches[plan::cond_branch(index, branches.len())];
                b.run(dev, &ins[1..], &outs, base, scratch)
            }
            Kind::While(subs) => {
                let [cond, body] = &**subs;
                let n = outs.len();
                for k in 0..n {
                    copy(dev, outs[k], ins[k], self.out_bytes[k])?;
                }
                let sides = [&outs[..], &copies[..n]];
                let flag = copies[n];
                let mut trips = 0;
                loop {
                    let (r, w) = plan::while_sides(trips);
                    cond.run(dev, sides[r], &[flag], base, scratch)?;
                    if read::<1>(dev, flag)?[0] == 0 {
                        break;
                    }
                    body.run(dev, sides[r], sides[w], base, scratch)?;
                    trips += 1;
                }
                if plan::while_ends_in_scratch(trips) {
                    for k in 0..n {
                        copy(dev, outs[k], copies[k], self.out_bytes[k])?;
                    }
                }
                Ok(())
            }
            Kind::Scan {
                body,
                length,
                reverse,
                num_consts,
                num_carry,
            } => {
                let addresses = plan::ScanAddresses {
                    ins: &ins,
                    outs: &outs,
                    copies: &copies,
                    in_bytes: &self.in_bytes,
                    out_bytes: &self.out_bytes,
                    length: *length,
                    reverse: *reverse,
                    num_consts: *num_consts,
                    num_carry: *num_carry,
                };
                for (dst, src, bytes) in addresses.init() {
                    copy(dev, dst, src, bytes)?;
                }
                for step in 0..*length {
                    let (args, res) = addresses.iteration(step);
                    body.run(dev, &args, &res, base, scratch)?;
                }
                Ok(())
            }
        }
    }
}
