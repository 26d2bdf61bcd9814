//! Running a compiled program on the CPU: [`CpuExecutable`].
//!
//! A call validates the arguments, takes an arena from the executable's
//! pool (see `plan` for what lives where), allocates the output vectors
//! (or takes donated arguments' storage), builds the table of buffer
//! addresses, runs the steps in order and hands the outputs back as
//! [`HostBuffer`]s. Arguments are never copied: kernels read the caller's
//! vectors in place.
//!
//! - **Kernel steps** call the JIT-compiled function. A kernel with a split
//!   loop whose estimated work reaches `PARALLEL_WORK_THRESHOLD` (2^18
//!   executed statements) is split into contiguous ranges of the split
//!   loop, up to `CHUNKS_PER_THREAD` per thread of rayon's global pool
//!   (sized to the cores), which work stealing balances; smaller kernels
//!   run on the calling thread.
//! - **GEMM steps** go through [`gemm_shim`] to the `gemm` crate, which picks
//!   its AVX-512/AVX2/SSE kernels by run-time CPU feature detection; large
//!   products are cut into row or column blocks that the pool runs, and
//!   batches of small products are spread over the pool (see `gemm`).
//!
//! When a program has a step that may use the pool, the whole step loop
//! runs on a pool thread: the caller hands it over once per call, rather
//! than waking around every parallel step.

use std::sync::Mutex;

use rayon::prelude::*;
use rjax_ir::{num_elements, AVal, DType, Data, HostBuffer, Result, Scalar};

use super::env::{error, KernelFn};
use super::plan::{MemoryPlan, OutputPlan, Slot};
use super::translate::{KernelInfo, PARALLEL_WORK_THRESHOLD};
use super::JitCode;
use crate::program::{BufferRef, Gemm, Program, Step};
use crate::Executable;

mod gemm;
mod rows;
pub(crate) use gemm::gemm_shim;
use gemm::uses_pool as gemm_uses_pool;
pub use rows::without_row_pairs;

/// A step ready to run.
enum RStep {
    Kernel {
        f: KernelFn,
        info: KernelInfo,
        args: Vec<BufferRef>,
    },
    Gemm(Gemm),
    Control(Box<super::control::ControlRun>),
}

/// Scratch memory for one call: 64-byte aligned, kept warm in the pool.
struct Arena {
    mem: Vec<u64>,
}

impl Arena {
    fn new(bytes: usize) -> Arena {
        Arena {
            mem: vec![0u64; bytes.div_ceil(8) + 8],
        }
    }

    fn base(&mut self) -> *mut u8 {
        let p = self.mem.as_mut_ptr().cast::<u8>();
        // SAFETY: the vector has 64 spare bytes, so the aligned start stays
        // inside it.
        unsafe { p.add(p.align_offset(64)) }
    }
}

/// A raw pointer that may cross to pool threads.
#[derive(Clone, Copy)]
struct SendPtr<T>(*const T);

// SAFETY: the pointed-to table and buffers outlive the parallel scope that
// uses them, and parallel kernel ranges write disjoint elements (the kernel
// IR's `parallel` contract).
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above; the pointer itself is only read.
unsafe impl<T> Sync for SendPtr<T> {}

/// A closure moved to a pool thread while its caller waits for it.
struct AssertSend<F>(F);

// SAFETY: `execute` hands the step loop (a closure over raw buffer
// addresses and borrows of the executable) to one pool thread and blocks
// until it returns; the addressed buffers and borrowed values outlive the
// call and are not tied to the calling thread.
unsafe impl<F> Send for AssertSend<F> {}

/// A program compiled for the host CPU. Holds its machine code (freed when
/// the executable is dropped), constants, memory plan and arena pool.
pub struct CpuExecutable {
    steps: Vec<RStep>,
    buffers: Vec<(DType, Vec<usize>)>,
    constants: Vec<HostBuffer>,
    plan: MemoryPlan,
    pool: Mutex<Vec<Arena>>,
    /// Whether a step may run on the thread pool (a large kernel or GEMM,
    /// a batch of GEMMs, control flow): the steps then run on a pool
    /// thread (see `execute`).
    uses_pool: bool,
    /// Per step: when it and the next kernel step may run row-interleaved
    /// (see `rows`).
    pairs: Vec<Option<rows::RowPair>>,
    in_avals: Vec<AVal>,
    /// Declared last: the code is freed after everything pointing into it.
    _code: JitCode,
}

impl std::fmt::Debug for CpuExecutable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuExecutable")
            .field("steps", &self.steps.len())
            .field("arena_bytes", &self.plan.arena_bytes)
            .field("in_avals", &self.in_avals)
            .finish()
    }
}

fn data_ptr(d: &Data) -> *const u8 {
    match d {
        Data::F32(v) => v.as_ptr().cast(),
        Data::F64(v) => v.as_ptr().cast(),
        Data::I32(v) => v.as_ptr().cast(),
        Data::U32(v) => v.as_ptr().cast(),
        Data::Bool(v) => v.as_ptr().cast(),
    }
}

fn data_mut_ptr(d: &mut Data) -> *mut u8 {
    match d {
        Data::F32(v) => v.as_mut_ptr().cast(),
        Data::F64(v) => v.as_mut_ptr().cast(),
        Data::I32(v) => v.as_mut_ptr().cast(),
        Data::U32(v) => v.as_mut_ptr().cast(),
        Data::Bool(v) => v.as_mut_ptr().cast(),
    }
}

impl CpuExecutable {
    /// Assembles an executable from compiled steps (see `super::compile_program`).
    pub(crate) fn new(
        program: &Program,
        fns: Vec<(KernelFn, KernelInfo)>,
        plan: MemoryPlan,
        in_avals: Vec<AVal>,
        code: JitCode,
    ) -> Result<CpuExecutable> {
        let mut fns = fns.into_iter();
        let steps = program
            .steps
            .iter()
            .map(|s| {
                Ok(match s {
                    Step::Kernel { args, .. } => {
                        let (f, info) = fns
                            .next()
                            .ok_or_else(|| error("internal error: one function per kernel"))?;
                        RStep::Kernel {
                            f,
                            info,
                            args: args.clone(),
                        }
                    }
                    Step::Gemm(g) => RStep::Gemm(g.clone()),
                    Step::Control(c) => RStep::Control(Box::new(
                        super::control::ControlRun::build(program, c, &mut fns)?,
                    )),
                })
            })
            .collect::<Result<Vec<RStep>>>()?;
        let pairs = (0..steps.len())
            .map(|s| {
                let (
                    Some(Step::Kernel {
                        kernel: k0,
                        args: a0,
                    }),
                    Some(Step::Kernel {
                        kernel: k1,
                        args: a1,
                    }),
                ) = (program.steps.get(s), program.steps.get(s + 1))
                else {
                    return None;
                };
                let (Some(RStep::Kernel { info: i0, .. }), Some(RStep::Kernel { info: i1, .. })) =
                    (steps.get(s), steps.get(s + 1))
                else {
                    return None;
                };
                if !rows::pairing_enabled() {
                    return None;
                }
                let pair = rows::row_pair((k0, a0), (k1, a1))?;
                let split = Some(pair.rows);
                (i0.split_extent == split && i1.split_extent == split).then_some(pair)
            })
            .collect();
        let uses_pool = steps.iter().any(|s| match s {
            RStep::Kernel { info, .. } => {
                info.split_extent.is_some() && info.work >= PARALLEL_WORK_THRESHOLD
            }
            RStep::Gemm(g) => gemm_uses_pool(g),
            RStep::Control(_) => true,
        });
        let constants = program
            .buffers
            .iter()
            .filter_map(|pb| match &pb.source {
                crate::program::BufferSource::Constant(c) => Some(c.clone()),
                crate::program::BufferSource::Argument(_)
                | crate::program::BufferSource::Temporary => None,
            })
            .collect();
        Ok(CpuExecutable {
            steps,
            buffers: program
                .buffers
                .iter()
                .map(|pb| (pb.dtype, pb.shape.clone()))
                .collect(),
            constants,
            plan,
            pool: Mutex::new(Vec::new()),
            uses_pool,
            pairs,
            in_avals,
            _code: code,
        })
    }

    /// Bytes of scratch memory one call uses (temporaries that are not
    /// outputs, after sharing by liveness).
    pub fn arena_bytes(&self) -> usize {
        self.plan.arena_bytes
    }

    fn check_args(&self, avals: impl ExactSizeIterator<Item = AVal>) -> Result<()> {
        if avals.len() != self.in_avals.len() {
            return Err(error(format!(
                "expected {} arguments, got {}",
                self.in_avals.len(),
                avals.len()
            )));
        }
        for (i, (got, want)) in avals.zip(&self.in_avals).enumerate() {
            if &got != want {
                return Err(error(format!(
                    "argument {i} is {got}, the executable was compiled for {want}"
                )));
            }
        }
        Ok(())
    }

    /// A fresh vector for output vector `k`: zero-filled, or, when its
    /// first writer writes all of it, empty with the needed capacity, drawn
    /// from the recycled-storage cache ([`rjax_ir::pool`]) when it can be (its
    /// length is set once the steps have run, see [`set_output_lens`]).
    /// Skipping the fill saves a pass over memory (a `memset` of heap
    /// blocks that glibc's `calloc` cannot prove zero).
    fn fresh_output(&self, k: usize) -> Data {
        let (dtype, shape) = &self.buffers[self.plan.fresh[k].0 as usize];
        let n = num_elements(shape);
        if !self.plan.fresh_written[k] {
            return rjax_ir::pool::take_filled(Scalar::zero(*dtype), n);
        }
        rjax_ir::pool::take_empty(*dtype, n)
    }

    /// Runs the steps with the given argument addresses and output vectors;
    /// `args` gives the argument vectors still available for copies.
    fn execute(
        &self,
        arg_ptrs: &[*const u8],
        mut outs: Vec<Data>,
        donated: &[bool],
        args: &[Option<&Data>],
    ) -> Result<Vec<HostBuffer>> {
        let mut arena = self
            .pool
            .lock()
            .map_err(|_| error("arena pool poisoned"))?
            .pop();
        let arena = arena.get_or_insert_with(|| Arena::new(self.plan.arena_bytes));
        let arena_base = arena.base();
        let out_ptrs: Vec<*mut u8> = outs.iter_mut().map(data_mut_ptr).collect();
        let ptrs: Vec<*mut u8> = self
            .plan
            .slots
            .iter()
            .map(|slot| match *slot {
                // Inputs are only read: compile_program checked that no step
                // writes an argument or a constant.
                Slot::Arg(i) => arg_ptrs[i].cast_mut(),
                Slot::Const(i) => data_ptr(self.constants[i].data()).cast_mut(),
                // SAFETY: the plan keeps every offset + size within
                // arena_bytes, the arena's length.
                Slot::Arena(off) => unsafe { arena_base.add(off) },
                Slot::Out(k) => out_ptrs[k],
                Slot::Unused => std::ptr::null_mut(),
            })
            .collect();
        let fresh_zero: Vec<Option<usize>> = (0..outs.len())
            .map(|k| self.plan.fresh_zero_at[k].filter(|_| donated[k]))
            .collect();
        let run = || self.run_steps(&ptrs, &fresh_zero);
        if !self.uses_pool || rayon::current_thread_index().is_some() {
            run();
        } else {
            // One hand-over to the pool per call instead of one per
            // parallel step: each parallel region then starts from a pool
            // thread (a cheap fork to the other, spinning, workers) and the
            // calling thread sleeps once rather than around every region.
            // Programs with no parallel step stay on the calling thread.
            let run = AssertSend(run);
            rayon::scope(move |_| {
                let run = run;
                (run.0)();
            });
        }
        for (k, out) in outs.iter_mut().enumerate() {
            let n = num_elements(&self.buffers[self.plan.fresh[k].0 as usize].1);
            // SAFETY: a vector shorter than its buffer is a fresh one of
            // capacity n (`fresh_output`) whose first writer, which has run,
            // wrote all n elements through its address.
            unsafe { set_output_len(out, n) };
        }
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(Arena {
                mem: std::mem::take(&mut arena.mem),
            });
        }
        // Copies first (an output listed twice is copied from the vector
        // that its first listing then moves out).
        let mut copies = Vec::with_capacity(self.plan.outputs.len());
        for o in &self.plan.outputs {
            copies.push(match *o {
                OutputPlan::Fresh(_) => None,
                OutputPlan::Copy(r) => Some(self.copy_of(r, args, &outs)?),
            });
        }
        let mut outs: Vec<Option<Data>> = outs.into_iter().map(Some).collect();
        let mut results = Vec::with_capacity(self.plan.outputs.len());
        for (o, copy) in self.plan.outputs.iter().zip(copies) {
            let (data, r) = match (*o, copy) {
                (OutputPlan::Copy(r), Some(d)) => (d, r),
                (OutputPlan::Fresh(k), _) => (
                    outs[k].take().expect("internal error: output taken twice"),
                    self.plan.fresh[k],
                ),
                (OutputPlan::Copy(_), None) => {
                    return Err(error("internal error: output copy missing"))
                }
            };
            results.push(HostBuffer::new(data, &self.buffers[r.0 as usize].1)?);
        }
        Ok(results)
    }

    /// Runs the steps in order over the buffer addresses `ptrs`, first
    /// zeroing what the plan zeroes before each step; `fresh_zero[k]` is
    /// the step before which output `k` (a donated vector) is zeroed.
    fn run_steps(&self, ptrs: &[*mut u8], fresh_zero: &[Option<usize>]) {
        let zero_before = |s: usize| {
            let zero = self.plan.zero_arena[s].iter().copied().chain(
                (0..fresh_zero.len())
                    .filter(|&k| fresh_zero[k] == Some(s))
                    .map(|k| self.plan.fresh[k]),
            );
            for r in zero {
                let bytes = self.bytes(r);
                // SAFETY: ptrs[r] addresses `bytes` writable bytes of buffer r.
                unsafe { std::ptr::write_bytes(ptrs[r.0 as usize], 0, bytes) };
            }
        };
        let mut paired_with_previous = false;
        for (s, step) in self.steps.iter().enumerate() {
            if std::mem::take(&mut paired_with_previous) {
                continue;
            }
            if let Some((first, second)) = self.row_pair_at(s, ptrs, fresh_zero) {
                // The second step's zeroed buffers are among what it
                // writes, which `row_pair_at` found apart from everything
                // the first step touches: zeroing them first is safe.
                zero_before(s);
                zero_before(s + 1);
                // SAFETY: as for `call_kernel` on each step; `rows` checked
                // that interleaving by rows keeps every read after the
                // write it depends on, and `row_pair_at` that no written
                // buffer shares storage with another.
                unsafe { call_kernel_pair(first, second) };
                paired_with_previous = true;
                continue;
            }
            zero_before(s);
            match step {
                RStep::Kernel { f, info, args } => {
                    let table: Vec<*mut u8> = args.iter().map(|a| ptrs[a.0 as usize]).collect();
                    // SAFETY: compile_program checked that every parameter
                    // is bound to a buffer of the declared dtype and length,
                    // that outputs are temporaries, and every affine index
                    // is in bounds.
                    unsafe { call_kernel(*f, *info, &table) };
                }
                RStep::Gemm(g) => {
                    let p = |r: BufferRef| ptrs[r.0 as usize];
                    // SAFETY: compile_program checked the operand strides
                    // against the buffers' lengths and the dtypes.
                    unsafe { gemm_shim(g, p(g.lhs.0), p(g.rhs.0), p(g.out)) };
                }
                // SAFETY: compile_program validated the step's bindings;
                // ptrs addresses every buffer of the program.
                RStep::Control(c) => unsafe { c.run(ptrs) },
            }
        }
    }

    /// The two kernels of steps `s` and `s + 1` with their buffer tables,
    /// when they may run row-interleaved in this call: every buffer zeroed
    /// before the second is one it writes, and the written buffers share
    /// no storage with any other buffer of the two.
    #[allow(clippy::type_complexity)]
    fn row_pair_at(
        &self,
        s: usize,
        ptrs: &[*mut u8],
        fresh_zero: &[Option<usize>],
    ) -> Option<(
        (KernelFn, KernelInfo, Vec<*mut u8>),
        (KernelFn, KernelInfo, Vec<*mut u8>),
    )> {
        let pair = self.pairs.get(s)?.as_ref()?;
        let zeroed_fresh = (0..fresh_zero.len())
            .filter(|&k| fresh_zero[k] == Some(s + 1))
            .map(|k| self.plan.fresh[k]);
        let mut zeroed = self.plan.zero_arena[s + 1]
            .iter()
            .copied()
            .chain(zeroed_fresh);
        if !zeroed.all(|r| pair.written.contains(&r)) {
            return None;
        }
        let ranges: Vec<(BufferRef, usize, usize)> = pair
            .buffers
            .iter()
            .map(|&r| (r, ptrs[r.0 as usize] as usize, self.bytes(r)))
            .collect();
        if !rows::disjoint_storage(&ranges, &pair.written) {
            return None;
        }
        let kernel = |s: usize| match self.steps.get(s) {
            Some(RStep::Kernel { f, info, args }) => {
                Some((*f, *info, args.iter().map(|a| ptrs[a.0 as usize]).collect()))
            }
            Some(RStep::Gemm(_) | RStep::Control(_)) | None => None,
        };
        Some((kernel(s)?, kernel(s + 1)?))
    }

    /// How many pairs of consecutive kernel steps may run row-interleaved
    /// (see `rows`): for tests and tools.
    pub fn row_pairs(&self) -> usize {
        self.pairs.iter().flatten().count()
    }

    fn bytes(&self, r: BufferRef) -> usize {
        let (dtype, shape) = &self.buffers[r.0 as usize];
        num_elements(shape) * super::env::elem_size(*dtype) as usize
    }

    fn copy_of(&self, r: BufferRef, args: &[Option<&Data>], outs: &[Data]) -> Result<Data> {
        match self.plan.slots[r.0 as usize] {
            Slot::Arg(i) => args
                .get(i)
                .copied()
                .flatten()
                .cloned()
                .ok_or_else(|| error("internal error: copied argument was donated")),
            Slot::Const(i) => Ok(self.constants[i].data().clone()),
            Slot::Out(k) => Ok(outs[k].clone()),
            Slot::Arena(_) | Slot::Unused => {
                Err(error("internal error: output planned in the arena"))
            }
        }
    }
}

impl Executable for CpuExecutable {
    fn run(&self, args: &[&HostBuffer]) -> Result<Vec<HostBuffer>> {
        self.check_args(args.iter().map(|a| a.aval()))?;
        let arg_ptrs: Vec<*const u8> = args.iter().map(|a| data_ptr(a.data())).collect();
        let outs = (0..self.plan.fresh.len())
            .map(|k| self.fresh_output(k))
            .collect::<Vec<_>>();
        let donated = vec![false; outs.len()];
        let copies: Vec<Option<&Data>> = args.iter().map(|a| Some(a.data())).collect();
        self.execute(&arg_ptrs, outs, &donated, &copies)
    }

    /// Runs the program, allowing outputs to be written into the arguments'
    /// storage: each output whose dtype and length match an argument that
    /// is dead by the time the output is written (or that one elementwise
    /// kernel updates in place) reuses that argument's vector instead of
    /// fresh memory. The arguments are consumed either way.
    ///
    /// # Errors
    /// As [`Executable::run`].
    fn run_donated(&self, args: Vec<HostBuffer>) -> Result<Vec<HostBuffer>> {
        self.check_args(args.iter().map(HostBuffer::aval))?;
        let mut datas: Vec<Option<Data>> = args.into_iter().map(|a| Some(a.into_data())).collect();
        let arg_ptrs: Vec<*const u8> = datas
            .iter()
            .map(|d| data_ptr(d.as_ref().expect("internal error: argument")))
            .collect();
        let mut donated = vec![false; self.plan.fresh.len()];
        let mut outs = Vec::with_capacity(self.plan.fresh.len());
        for (k, is_donated) in donated.iter_mut().enumerate() {
            match self.plan.donation[k].and_then(|a| datas[a].take()) {
                Some(d) => {
                    *is_donated = true;
                    outs.push(d);
                }
                None => outs.push(self.fresh_output(k)),
            }
        }
        let copies: Vec<Option<&Data>> = datas.iter().map(Option::as_ref).collect();
        self.execute(&arg_ptrs, outs, &donated, &copies)
    }
}

/// Sets the length of an output vector left empty by `fresh_output` to its
/// element count `n`; a full vector is left as it is.
///
/// # Safety
/// When `d` is shorter than `n`, its capacity must be at least `n` and its
/// first `n` elements initialised (with valid values for the element type).
unsafe fn set_output_len(d: &mut Data, n: usize) {
    // SAFETY: the caller's contract, for each element type.
    unsafe {
        match d {
            Data::F32(v) if v.len() < n => v.set_len(n),
            Data::F64(v) if v.len() < n => v.set_len(n),
            Data::I32(v) if v.len() < n => v.set_len(n),
            Data::U32(v) if v.len() < n => v.set_len(n),
            Data::Bool(v) if v.len() < n => v.set_len(n),
            Data::F32(_) | Data::F64(_) | Data::I32(_) | Data::U32(_) | Data::Bool(_) => {}
        }
    }
}

/// Chunks per pool thread a split kernel is cut into.
const CHUNKS_PER_THREAD: usize = 4;
/// The least estimated work (executed statements) of one chunk.
const CHUNK_WORK: u64 = 1 << 16;

/// Runs two kernels split over the same rows as one parallel loop over
/// chunks of rows, `first` then `second` on each chunk (see `rows`).
///
/// # Safety
/// As [`call_kernel`] for each, and interleaving them by rows must be
/// equivalent to running them one after the other.
unsafe fn call_kernel_pair(
    first: (KernelFn, KernelInfo, Vec<*mut u8>),
    second: (KernelFn, KernelInfo, Vec<*mut u8>),
) {
    let (f0, i0, t0) = first;
    let (f1, i1, t1) = second;
    let Some(rows) = i0.split_extent else {
        // SAFETY: the caller's contract.
        unsafe {
            call_kernel(f0, i0, &t0);
            call_kernel(f1, i1, &t1);
        }
        return;
    };
    let work = i0.work.saturating_add(i1.work);
    if work < PARALLEL_WORK_THRESHOLD {
        // SAFETY: the caller's contract; whole ranges, in order.
        unsafe {
            f0(t0.as_ptr(), 0, rows as i64);
            f1(t1.as_ptr(), 0, rows as i64);
        }
        return;
    }
    // Chunks of about PAIR_CHUNK_WORK statements (at least one row): what
    // the first writes is still in cache when the second reads it. Rayon
    // hands contiguous runs of chunks to each thread.
    let per_row = (work / rows as u64).max(1);
    let rows_per_chunk = usize::try_from(PAIR_CHUNK_WORK / per_row)
        .unwrap_or(usize::MAX)
        .clamp(1, rows);
    let chunks = rows.div_ceil(rows_per_chunk);
    let (p0, p1) = (SendPtr(t0.as_ptr()), SendPtr(t1.as_ptr()));
    (0..chunks).into_par_iter().for_each(move |c| {
        let (p0, p1) = (p0, p1);
        let begin = (c * rows_per_chunk) as i64;
        let end = ((c + 1) * rows_per_chunk).min(rows) as i64;
        // SAFETY: the caller's contract; chunks are disjoint row ranges of
        // independent iterations, and each chunk runs the first kernel
        // before the second.
        unsafe {
            f0(p0.0, begin, end);
            f1(p1.0, begin, end);
        }
    });
}

/// Statements per chunk of a row-interleaved pair (see `call_kernel_pair`).
const PAIR_CHUNK_WORK: u64 = 1 << 15;

/// Calls a kernel, split across the pool when it is large enough.
///
/// # Safety
/// `table` must hold valid addresses of the kernel's buffers.
pub(crate) unsafe fn call_kernel(f: KernelFn, info: KernelInfo, table: &[*mut u8]) {
    let threads = rayon::current_num_threads();
    let Some(extent) = info.split_extent else {
        // SAFETY: the caller's contract; without a split loop the range is ignored.
        unsafe { f(table.as_ptr(), 0, 0) };
        return;
    };
    // Several chunks per thread (each of at least CHUNK_WORK statements),
    // so that rayon's work stealing evens out threads that run slower
    // (a core shared with another process, page faults on fresh outputs).
    let by_work = usize::try_from(info.work / CHUNK_WORK).unwrap_or(usize::MAX);
    let chunks = (threads * CHUNKS_PER_THREAD)
        .min(by_work)
        .max(threads)
        .min(extent);
    if chunks < 2 || info.work < PARALLEL_WORK_THRESHOLD {
        // SAFETY: the caller's contract; the whole range.
        unsafe { f(table.as_ptr(), 0, extent as i64) };
        return;
    }
    let tp = SendPtr(table.as_ptr());
    (0..chunks).into_par_iter().for_each(move |c| {
        let begin = extent * c / chunks;
        let end = extent * (c + 1) / chunks;
        let tp = tp;
        // SAFETY: the caller's contract; the ranges are disjoint and the
        // split loop's iterations independent.
        unsafe { f(tp.0, begin as i64, end as i64) };
    });
}
