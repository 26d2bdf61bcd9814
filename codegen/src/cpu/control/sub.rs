//! A compiled sub-program ([`SubRun`]) and its per-run address tables
//! ([`Prepared`]).
//!
//! Running a sub-program once per loop iteration must cost next to
//! nothing beyond its kernels. So the address table of every program
//! buffer and the parameter table of every kernel step are built once per
//! run of the control step ([`SubRun::prepare`]: constants and arena
//! temporaries have fixed addresses), and each iteration only patches the
//! entries bound to the sub-program's arguments and outputs
//! ([`SubRun::set_arg`], [`SubRun::set_out`]: the places each one reaches
//! were listed when compiling) before calling the kernels. A kernel below
//! the threading threshold is called directly, without consulting the
//! thread pool.

use rjax_ir::{HostBuffer, Result};

use super::ControlRun;
use crate::cpu::env::{error, KernelFn};
use crate::cpu::plan::{self, MemoryPlan, OutputPlan, Slot};
use crate::cpu::runtime::{call_kernel, gemm_shim};
use crate::cpu::translate::{KernelInfo, PARALLEL_WORK_THRESHOLD};
use crate::program::{BufferRef, BufferSource, Gemm, Program, Step};

/// A compiled step of a sub-program.
enum SubStep {
    Kernel {
        f: KernelFn,
        info: KernelInfo,
        /// `Some(end)`: call `f(table, 0, end)` on this thread.
        direct: Option<i64>,
        args: Vec<BufferRef>,
    },
    Gemm(Gemm),
    Control(Box<ControlRun>),
}

/// A compiled sub-program (see the module docs).
pub(super) struct SubRun {
    steps: Vec<SubStep>,
    pub(super) plan: MemoryPlan,
    constants: Vec<HostBuffer>,
    /// Bytes of each program buffer.
    bytes: Vec<usize>,
    /// Per argument, per output: the positions in [`Prepared::table`]
    /// its address goes to.
    arg_places: Vec<Vec<usize>>,
    out_places: Vec<Vec<usize>>,
    /// Where each kernel step's parameters start in the table.
    param_at: Vec<usize>,
    /// Where the output addresses start in the table.
    outs_at: usize,
    /// Outputs not wholly written by their first step: (buffer) zeroed
    /// before every run.
    out_zero: Vec<usize>,
    /// Outputs that are copies of another buffer: (output, buffer).
    out_copies: Vec<(usize, usize)>,
    /// When every step is a kernel called on this thread and nothing needs
    /// zeroing or copying: (function, parameter table position, end).
    direct_calls: Option<Vec<(KernelFn, usize, i64)>>,
}

/// The address tables of a sub-program for one run of its control step:
/// one vector holding the address of every program buffer, then the
/// parameter table of every kernel step, then the address of every output.
pub(super) struct Prepared {
    table: Vec<*mut u8>,
}

/// An address a loop writes into a [`Prepared`] table before each
/// iteration: `base[parity] + i · stride` (`parity` alternates the two
/// copies of a double-buffered carry, `i` indexes a slice).
pub(super) struct Patch {
    at: usize,
    base: [*mut u8; 2],
    stride: usize,
}

impl Prepared {
    /// Writes the patches for iteration slice `i` and carry side `parity`.
    #[inline]
    pub(super) fn apply(&mut self, patches: &[Patch], parity: usize, i: usize) {
        for p in patches {
            if let Some(slot) = self.table.get_mut(p.at) {
                *slot = p.base[parity].wrapping_add(i * p.stride);
            }
        }
    }
}

impl Prepared {
    /// Calls `calls` (from [`SubRun::direct_calls`]) on this table.
    ///
    /// # Safety
    /// As for [`SubRun::run`]: the table must come from the sub-program
    /// whose `direct_calls` these are, with every argument and output set.
    #[inline]
    pub(super) unsafe fn call_direct(&mut self, calls: &[(KernelFn, usize, i64)]) {
        let table = self.table.as_ptr();
        for &(f, at, end) in calls {
            // SAFETY: `at` is a parameter table position inside the table
            // (`SubRun::build`); compile_program validated the kernel's
            // parameters against the buffers the table addresses, and
            // nothing needs zeroing or copying.
            unsafe { f(table.add(at), 0, end) };
        }
    }
}

impl SubRun {
    /// Compiles `program`, taking its kernels' functions from `fns` (in
    /// `control::kernels` order).
    pub(super) fn build(
        program: &Program,
        fns: &mut dyn Iterator<Item = (KernelFn, KernelInfo)>,
    ) -> Result<SubRun> {
        let mut steps = Vec::with_capacity(program.steps.len());
        for step in &program.steps {
            steps.push(match step {
                Step::Kernel { args, .. } => {
                    let (f, info) = fns
                        .next()
                        .ok_or_else(|| error("internal error: one function per kernel"))?;
                    let direct = match info.split_extent {
                        None => Some(0),
                        Some(e) if info.work < PARALLEL_WORK_THRESHOLD => Some(e as i64),
                        Some(_) => None,
                    };
                    SubStep::Kernel {
                        f,
                        info,
                        direct,
                        args: args.clone(),
                    }
                }
                Step::Gemm(g) => SubStep::Gemm(g.clone()),
                Step::Control(c) => SubStep::Control(Box::new(ControlRun::build(program, c, fns)?)),
            });
        }
        let plan = plan::plan(program)?;
        let n_args = program
            .buffers
            .iter()
            .filter_map(|pb| match pb.source {
                BufferSource::Argument(a) => Some(a + 1),
                BufferSource::Constant(_) | BufferSource::Temporary => None,
            })
            .max()
            .unwrap_or(0);
        let mut out_of_fresh = vec![0; plan.fresh.len()];
        let mut out_copies = Vec::new();
        for (j, o) in plan.outputs.iter().enumerate() {
            match *o {
                OutputPlan::Fresh(k) => out_of_fresh[k] = j,
                OutputPlan::Copy(r) => out_copies.push((j, r.0 as usize)),
            }
        }
        let mut arg_places = vec![Vec::new(); n_args];
        let mut out_places = vec![Vec::new(); plan.outputs.len()];
        let mut place = |b: usize, at: usize| match plan.slots[b] {
            Slot::Arg(i) => arg_places[i].push(at),
            Slot::Out(k) => out_places[out_of_fresh[k]].push(at),
            Slot::Const(_) | Slot::Arena(_) | Slot::Unused => {}
        };
        let out_zero: Vec<usize> = plan
            .fresh
            .iter()
            .zip(&plan.fresh_written)
            .filter(|(_, written)| !**written)
            .map(|(r, _)| r.0 as usize)
            .collect();
        // The buffer addresses are only read by GEMM and control steps,
        // zeroing and copies: a body of kernels needs only their tables.
        let by_buffer = !out_zero.is_empty()
            || !out_copies.is_empty()
            || plan.zero_arena.iter().any(|z| !z.is_empty())
            || steps.iter().any(|s| !matches!(s, SubStep::Kernel { .. }));
        let nb = program.buffers.len();
        if by_buffer {
            (0..nb).for_each(|b| place(b, b));
        }
        let mut param_at = Vec::with_capacity(program.steps.len());
        let mut at = nb;
        for step in &program.steps {
            param_at.push(at);
            if let Step::Kernel { args, .. } = step {
                for r in args {
                    place(r.0 as usize, at);
                    at += 1;
                }
            }
        }
        let direct_calls = if by_buffer {
            None
        } else {
            steps
                .iter()
                .zip(&param_at)
                .map(|(s, at)| match s {
                    SubStep::Kernel { f, direct, .. } => direct.map(|end| (*f, *at, end)),
                    SubStep::Gemm(_) | SubStep::Control(_) => None,
                })
                .collect()
        };
        let outs_at = at;
        // The output addresses are read only by the copies of the general
        // path: direct calls leave them out of the patches.
        if direct_calls.is_none() {
            for (j, places) in out_places.iter_mut().enumerate() {
                places.push(outs_at + j);
            }
        }
        Ok(SubRun {
            steps,
            constants: program
                .buffers
                .iter()
                .filter_map(|pb| match &pb.source {
                    BufferSource::Constant(c) => Some(c.clone()),
                    BufferSource::Argument(_) | BufferSource::Temporary => None,
                })
                .collect(),
            bytes: (0..program.buffers.len())
                .map(|i| plan::buffer_bytes(program, BufferRef(i as u32)))
                .collect(),
            plan,
            arg_places,
            out_places,
            param_at,
            outs_at,
            direct_calls,
            out_zero,
            out_copies,
        })
    }

    /// The address tables for runs with temporaries in `arena` (at least
    /// `plan.arena_bytes` bytes, 64-byte aligned); arguments and outputs
    /// are set with [`SubRun::set_arg`] and [`SubRun::set_out`].
    pub(super) fn prepare(&self, arena: *mut u8) -> Prepared {
        let mut table: Vec<*mut u8> = self
            .plan
            .slots
            .iter()
            .map(|slot| match *slot {
                Slot::Const(i) => data_ptr(&self.constants[i]),
                // Offsets stay inside arena_bytes (the plan's invariant);
                // wrapping_add keeps this a plain address computation.
                Slot::Arena(off) => arena.wrapping_add(off),
                Slot::Arg(_) | Slot::Out(_) | Slot::Unused => std::ptr::null_mut(),
            })
            .collect();
        for step in &self.steps {
            if let SubStep::Kernel { args, .. } = step {
                for a in args {
                    table.push(table[a.0 as usize]);
                }
            }
        }
        table.resize(table.len() + self.out_places.len(), std::ptr::null_mut());
        Prepared { table }
    }

    /// Adds to `out` the patches that put argument `i` at
    /// `base[parity] + slice · stride`.
    pub(super) fn arg_patches(
        &self,
        i: usize,
        base: [*const u8; 2],
        stride: usize,
        out: &mut Vec<Patch>,
    ) {
        let base = [base[0].cast_mut(), base[1].cast_mut()];
        if let Some(places) = self.arg_places.get(i) {
            out.extend(places.iter().map(|&at| Patch { at, base, stride }));
        }
    }

    /// Adds to `out` the patches that put output `j` at
    /// `base[parity] + slice · stride`.
    pub(super) fn out_patches(
        &self,
        j: usize,
        base: [*mut u8; 2],
        stride: usize,
        out: &mut Vec<Patch>,
    ) {
        out.extend(
            self.out_places[j]
                .iter()
                .map(|&at| Patch { at, base, stride }),
        );
    }

    #[inline]
    fn put(p: &mut Prepared, places: &[usize], ptr: *mut u8) {
        for &at in places {
            p.table[at] = ptr;
        }
    }

    /// Sets the address of argument `i`.
    #[inline]
    pub(super) fn set_arg(&self, p: &mut Prepared, i: usize, ptr: *const u8) {
        if let Some(places) = self.arg_places.get(i) {
            Self::put(p, places, ptr.cast_mut());
        }
    }

    /// Sets the address of output `j`.
    #[inline]
    pub(super) fn set_out(&self, p: &mut Prepared, j: usize, ptr: *mut u8) {
        Self::put(p, &self.out_places[j], ptr);
    }

    /// The kernels of a sub-program that is only kernels called on this
    /// thread with nothing to zero or copy: (function, parameter table
    /// position, end), to call in order with [`Prepared::call_direct`].
    pub(super) fn direct_calls(&self) -> Option<&[(KernelFn, usize, i64)]> {
        self.direct_calls.as_deref()
    }

    /// Runs the sub-program once.
    ///
    /// # Safety
    /// `p` must come from [`SubRun::prepare`] on this sub-program with its
    /// arena still valid, and every argument and output must be set:
    /// argument `i` to a buffer of the sub-program's argument `i`, output
    /// `j` to a writable buffer of its output `j` overlapping no argument.
    pub(super) unsafe fn run(&self, p: &mut Prepared) {
        if let Some(calls) = &self.direct_calls {
            // SAFETY: the caller's contract.
            unsafe { p.call_direct(calls) };
            return;
        }
        for &b in &self.out_zero {
            // SAFETY: the output buffer holds bytes[b] writable bytes.
            unsafe { std::ptr::write_bytes(p.table[b], 0, self.bytes[b]) };
        }
        for (s, step) in self.steps.iter().enumerate() {
            for r in &self.plan.zero_arena[s] {
                let b = r.0 as usize;
                // SAFETY: an arena buffer of bytes[b] bytes.
                unsafe { std::ptr::write_bytes(p.table[b], 0, self.bytes[b]) };
            }
            match step {
                SubStep::Kernel {
                    f, info, direct, ..
                } => {
                    let table = &p.table[self.param_at[s]..];
                    // SAFETY: compile_program validated the sub-program
                    // (parameters bound to buffers of their declared types
                    // and lengths, affine indices in bounds) and the
                    // step's bindings; the table addresses those buffers.
                    unsafe {
                        match direct {
                            Some(end) => f(table.as_ptr(), 0, *end),
                            None => call_kernel(*f, *info, table),
                        }
                    }
                }
                SubStep::Gemm(g) => {
                    let b = |r: BufferRef| p.table[r.0 as usize];
                    // SAFETY: validated strides and dtypes, as above.
                    unsafe { gemm_shim(g, b(g.lhs.0), b(g.rhs.0), b(g.out)) };
                }
                SubStep::Control(c) => {
                    // SAFETY: the table addresses every buffer of this
                    // sub-program, validated against the step's bindings.
                    unsafe { c.run(&p.table) };
                }
            }
        }
        for &(j, b) in &self.out_copies {
            // SAFETY: a copy of a distinct buffer of the same size.
            unsafe { super::copy(p.table[b], p.table[self.outs_at + j], self.bytes[b]) };
        }
    }
}

/// The address of a constant's elements.
fn data_ptr(h: &HostBuffer) -> *mut u8 {
    match h.data() {
        rjax_ir::Data::F32(v) => v.as_ptr().cast_mut().cast(),
        rjax_ir::Data::F64(v) => v.as_ptr().cast_mut().cast(),
        rjax_ir::Data::I32(v) => v.as_ptr().cast_mut().cast(),
        rjax_ir::Data::U32(v) => v.as_ptr().cast_mut().cast(),
        rjax_ir::Data::Bool(v) => v.as_ptr().cast_mut().cast(),
    }
}
