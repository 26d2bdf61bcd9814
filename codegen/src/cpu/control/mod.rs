//! Control steps on the CPU: [`ControlRun`] runs a `cond`, `while` or
//! `scan` step (see [`crate::control`]) of a compiled program.
//!
//! Each sub-program is a [`SubRun`]: its compiled steps (kernels from the
//! executable's one JIT module, GEMMs, nested control steps) and its own
//! static memory plan (`plan`). A sub-program runs on raw addresses: its
//! arguments and outputs are addresses the control step hands it (slices of
//! the outer buffers for a scan's `xs` and `ys`, at `i × slice bytes`), its
//! temporaries live in the control step's scratch memory, which one run of
//! the step takes from a pool once, before its first iteration. An
//! iteration allocates nothing: it fills the sub-program's address table
//! and calls its kernels directly. Kernels too small for the thread pool
//! (`PARALLEL_WORK_THRESHOLD`) run on the calling thread.
//!
//! A scan keeps one address table per carry side (iteration `step` uses
//! table `step % 2`, whose carry addresses were set once), so an
//! iteration's work outside its kernels is the `xs`/`ys` slice patches
//! (`sub::Patch`, at `i × slice bytes`) and one direct call per kernel;
//! a body of small kernels with nothing to zero or copy
//! (`sub::SubRun::direct_calls`) is called from the loop itself. That is
//! a few ns per iteration (`benches/scan.rs`: the scalar linear recurrence
//! runs within 1.5× of the hand-written loop), which matters only for tiny
//! bodies. What would remove the rest is translating the body kernel with
//! the loop around it (carry in registers), which this backend does not do.
//!
//! Carries are double-buffered: a `scan` ping-pongs between the result
//! buffer and one scratch copy (starting on the side that makes the last
//! iteration write the result), a `while` between the result buffer and a
//! scratch copy, copying at the end when the trip count left the carry in
//! the scratch copy.

mod sub;
#[cfg(test)]
mod tests;

use std::sync::Mutex;

use rjax_ir::{AVal, DType, Result};

use super::env::{error, KernelFn};
use super::plan;
use super::translate::KernelInfo;
use crate::control::{ControlKind, ControlStep};
use crate::program::{BufferRef, BufferSource, Program};
use sub::SubRun;

/// The compiled sub-programs of a control step.
enum RunKind {
    Cond {
        branches: Vec<SubRun>,
    },
    While {
        cond: Box<SubRun>,
        body: Box<SubRun>,
    },
    Scan {
        body: Box<SubRun>,
        length: usize,
        reverse: bool,
        num_consts: usize,
        num_carry: usize,
    },
}

/// A compiled control step, ready to run on the outer program's buffers.
pub(crate) struct ControlRun {
    kind: RunKind,
    inputs: Vec<BufferRef>,
    outputs: Vec<BufferRef>,
    /// Bytes of each input and output buffer.
    in_bytes: Vec<usize>,
    out_bytes: Vec<usize>,
    /// Scratch layout: sub-program arena, then the carry copies.
    carry_at: Vec<usize>,
    scratch_bytes: usize,
    pool: Mutex<Vec<Vec<u64>>>,
}

/// Rounds up to 64 bytes.
fn align64(n: usize) -> usize {
    n.div_ceil(64) * 64
}

/// Bytes of program buffer `r`.
fn bytes_of(program: &Program, r: BufferRef) -> usize {
    plan::buffer_bytes(program, r)
}

/// Copies `n` bytes between non-overlapping buffers.
///
/// # Safety
/// Both addresses must be valid for `n` bytes and not overlap.
unsafe fn copy(from: *const u8, to: *mut u8, n: usize) {
    if n > 0 {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(from, to, n) };
    }
}

impl ControlRun {
    /// Compiles control step `c` of `program`, taking the functions of its
    /// kernels from `fns` (in `control::kernels` order).
    pub(crate) fn build(
        program: &Program,
        c: &ControlStep,
        fns: &mut dyn Iterator<Item = (KernelFn, KernelInfo)>,
    ) -> Result<ControlRun> {
        let mut carry_bytes: Vec<usize> = Vec::new();
        let (kind, arena_bytes) = match &c.kind {
            ControlKind::Cond { branches } => {
                let branches = branches
                    .iter()
                    .map(|b| SubRun::build(b, fns))
                    .collect::<Result<Vec<_>>>()?;
                let arena = branches
                    .iter()
                    .map(|b| b.plan.arena_bytes)
                    .max()
                    .unwrap_or(0);
                (RunKind::Cond { branches }, arena)
            }
            ControlKind::While { cond, body } => {
                let (cond, body) = (
                    Box::new(SubRun::build(cond, fns)?),
                    Box::new(SubRun::build(body, fns)?),
                );
                carry_bytes = c.outputs.iter().map(|r| bytes_of(program, *r)).collect();
                // The condition's flag lives after the carry copies.
                carry_bytes.push(1);
                let arena = cond.plan.arena_bytes.max(body.plan.arena_bytes);
                (RunKind::While { cond, body }, arena)
            }
            ControlKind::Scan {
                body,
                length,
                reverse,
                num_consts,
                num_carry,
            } => {
                let body = Box::new(SubRun::build(body, fns)?);
                carry_bytes = c.outputs[..*num_carry]
                    .iter()
                    .map(|r| bytes_of(program, *r))
                    .collect();
                let arena = body.plan.arena_bytes;
                let kind = RunKind::Scan {
                    body,
                    length: *length,
                    reverse: *reverse,
                    num_consts: *num_consts,
                    num_carry: *num_carry,
                };
                (kind, arena)
            }
        };
        let mut at = align64(arena_bytes);
        let mut carry_at = Vec::with_capacity(carry_bytes.len());
        for b in carry_bytes {
            carry_at.push(at);
            at += align64(b);
        }
        Ok(ControlRun {
            kind,
            inputs: c.inputs.clone(),
            outputs: c.outputs.clone(),
            in_bytes: c.inputs.iter().map(|r| bytes_of(program, *r)).collect(),
            out_bytes: c.outputs.iter().map(|r| bytes_of(program, *r)).collect(),
            carry_at,
            scratch_bytes: at,
            pool: Mutex::new(Vec::new()),
        })
    }

    /// Runs the step on the outer program's buffers (`ptrs`, by buffer).
    ///
    /// # Safety
    /// `ptrs` must address every buffer of the outer program the step
    /// binds, with the types `compile_program` validated; the outputs must
    /// overlap no input.
    pub(crate) unsafe fn run(&self, ptrs: &[*mut u8]) {
        let mut mem = self
            .pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_else(|| vec![0u64; self.scratch_bytes.div_ceil(8) + 8]);
        let base = {
            let p = mem.as_mut_ptr().cast::<u8>();
            // SAFETY: the vector has 64 spare bytes for the alignment.
            unsafe { p.add(p.align_offset(64)) }
        };
        let ins: Vec<*const u8> = self
            .inputs
            .iter()
            .map(|r| ptrs[r.0 as usize].cast_const())
            .collect();
        let outs: Vec<*mut u8> = self.outputs.iter().map(|r| ptrs[r.0 as usize]).collect();
        // SAFETY: carry copies sit at carry_at inside the scratch memory.
        let scratch: Vec<*mut u8> = self
            .carry_at
            .iter()
            .map(|&o| unsafe { base.add(o) })
            .collect();
        // SAFETY (all three arms): the caller's contract; the scratch
        // layout was sized in `build`, the arena starts at the aligned base.
        match &self.kind {
            RunKind::Cond { branches } => unsafe {
                let index = ins[0].cast::<i32>().read_unaligned();
                let last = branches.len().saturating_sub(1);
                let i = usize::try_from(index.max(0)).map_or(last, |i| i.min(last));
                let branch = &branches[i];
                let mut p = branch.prepare(base);
                for (k, x) in ins[1..].iter().enumerate() {
                    branch.set_arg(&mut p, k, *x);
                }
                for (j, y) in outs.iter().enumerate() {
                    branch.set_out(&mut p, j, *y);
                }
                branch.run(&mut p);
            },
            RunKind::While { cond, body } => unsafe {
                self.run_while(cond, body, &ins, &outs, &scratch, base)
            },
            RunKind::Scan {
                body,
                length,
                reverse,
                num_consts,
                num_carry,
            } => unsafe {
                let counts = [*length, *num_consts, *num_carry];
                self.run_scan(body, counts, *reverse, &ins, &outs, &scratch, base)
            },
        }
        if let Ok(mut p) = self.pool.lock() {
            p.push(mem);
        }
    }

    /// `while`: the carry ping-pongs between the results and the scratch
    /// copies; the flag is the last scratch slot.
    unsafe fn run_while(
        &self,
        cond: &SubRun,
        body: &SubRun,
        ins: &[*const u8],
        outs: &[*mut u8],
        scratch: &[*mut u8],
        arena: *mut u8,
    ) {
        let n = outs.len();
        let flag = scratch[n];
        for k in 0..n {
            // SAFETY: input and result k have out_bytes[k] bytes each.
            unsafe { copy(ins[k], outs[k], self.out_bytes[k]) };
        }
        let (mut cur, mut next) = (outs, &scratch[..n]);
        let (mut pc, mut pb) = (cond.prepare(arena), body.prepare(arena));
        cond.set_out(&mut pc, 0, flag);
        loop {
            for (k, x) in cur.iter().enumerate() {
                cond.set_arg(&mut pc, k, *x);
                body.set_arg(&mut pb, k, *x);
            }
            // SAFETY: the condition reads the carry and writes the flag.
            unsafe { cond.run(&mut pc) };
            // SAFETY: the flag is a bool the condition wrote.
            if unsafe { flag.read() } == 0 {
                break;
            }
            for (k, y) in next.iter().enumerate() {
                body.set_out(&mut pb, k, *y);
            }
            // SAFETY: the body reads one carry copy and writes the other.
            unsafe { body.run(&mut pb) };
            std::mem::swap(&mut cur, &mut next);
        }
        if cur.as_ptr() != outs.as_ptr() {
            for k in 0..n {
                // SAFETY: scratch copy k and result k have out_bytes[k] bytes.
                unsafe { copy(cur[k], outs[k], self.out_bytes[k]) };
            }
        }
    }

    /// `scan`: `xs[i]` and `ys[i]` addressed in place, the carry
    /// ping-ponging between the results and the scratch copies.
    #[allow(clippy::too_many_arguments)]
    unsafe fn run_scan(
        &self,
        body: &SubRun,
        [length, num_consts, num_carry]: [usize; 3],
        reverse: bool,
        ins: &[*const u8],
        outs: &[*mut u8],
        scratch: &[*mut u8],
        arena: *mut u8,
    ) {
        let fixed = num_consts + num_carry;
        let slice = |total: usize| total.checked_div(length).unwrap_or(0);
        let xs: Vec<(*const u8, usize)> = ins[fixed..]
            .iter()
            .zip(&self.in_bytes[fixed..])
            .map(|(p, b)| (*p, slice(*b)))
            .collect();
        let ys: Vec<(*mut u8, usize)> = outs[num_carry..]
            .iter()
            .zip(&self.out_bytes[num_carry..])
            .map(|(p, b)| (*p, slice(*b)))
            .collect();
        let (mut cur, mut next) = (&outs[..num_carry], scratch);
        if length % 2 == 1 {
            std::mem::swap(&mut cur, &mut next);
        }
        for k in 0..num_carry {
            // SAFETY: carry k has out_bytes[k] bytes in each copy.
            unsafe { copy(ins[num_consts + k], cur[k], self.out_bytes[k]) };
        }
        // One address table per carry side: iteration `step` uses table
        // `step % 2`, which reads carry side `step % 2` and writes the
        // other, so the carry addresses are set once per table and an
        // iteration patches only the `xs`/`ys` slices (`i` × slice bytes).
        let mut carry_patches = Vec::new();
        for k in 0..num_carry {
            let (c, n) = (cur[k].cast_const(), next[k].cast_const());
            body.arg_patches(num_consts + k, [c, n], 0, &mut carry_patches);
            body.out_patches(k, [next[k], cur[k]], 0, &mut carry_patches);
        }
        let mut tables = [body.prepare(arena), body.prepare(arena)];
        for (parity, p) in tables.iter_mut().enumerate() {
            for (k, c) in ins[..num_consts].iter().enumerate() {
                body.set_arg(p, k, *c);
            }
            p.apply(&carry_patches, parity, 0);
        }
        let mut patches = Vec::new();
        for (k, (x, b)) in xs.iter().enumerate() {
            body.arg_patches(fixed + k, [*x, *x], *b, &mut patches);
        }
        for (k, (y, b)) in ys.iter().enumerate() {
            body.out_patches(num_carry + k, [*y, *y], *b, &mut patches);
        }
        let direct = body.direct_calls();
        for step in 0..length {
            let i = if reverse { length - 1 - step } else { step };
            let p = &mut tables[step % 2];
            p.apply(&patches, 0, i);
            // SAFETY: the body reads the constants, one carry copy and the
            // x slices, and writes the other copy and the y slices.
            unsafe {
                match direct {
                    Some(calls) => p.call_direct(calls),
                    None => body.run(p),
                }
            }
        }
    }
}

/// Checks control step `c` (step `s` of `program`): its buffers exist,
/// its results are distinct temporaries, and every sub-program takes and
/// returns what the step binds; each sub-program is validated in turn with
/// `validate` (the backend's program check).
pub(super) fn validate(
    program: &Program,
    s: usize,
    c: &ControlStep,
    validate: fn(&Program, &[AVal]) -> Result<()>,
) -> Result<()> {
    let fail = |m: String| error(format!("step {s} ({}): {m}", c.name()));
    let aval = |r: &BufferRef| -> Result<AVal> {
        let pb = program
            .buffers
            .get(r.0 as usize)
            .ok_or_else(|| fail(format!("buffer {} does not exist", r.0)))?;
        Ok(AVal::new(pb.dtype, &pb.shape))
    };
    let ins = c.inputs.iter().map(aval).collect::<Result<Vec<_>>>()?;
    let outs = c.outputs.iter().map(aval).collect::<Result<Vec<_>>>()?;
    for (k, r) in c.outputs.iter().enumerate() {
        let temp = program.buffers[r.0 as usize].source == BufferSource::Temporary;
        if !temp || c.inputs.contains(r) || c.outputs[..k].contains(r) {
            return Err(fail(format!(
                "result buffer {} is not a distinct temporary",
                r.0
            )));
        }
    }
    // (sub-program, its argument avals, its result avals)
    let mut subs: Vec<(&Program, Vec<AVal>, Vec<AVal>)> = Vec::new();
    match &c.kind {
        ControlKind::Cond { branches } => {
            if ins.first() != Some(&AVal::scalar(DType::I32)) || branches.is_empty() {
                return Err(fail("needs an i32[] index and at least one branch".into()));
            }
            subs.extend(
                branches
                    .iter()
                    .map(|b| (b, ins[1..].to_vec(), outs.clone())),
            );
        }
        ControlKind::While { cond, body } => {
            if ins != outs {
                return Err(fail("carry and results differ".into()));
            }
            subs.push((cond, ins.clone(), vec![AVal::scalar(DType::Bool)]));
            subs.push((body, ins.clone(), outs.clone()));
        }
        ControlKind::Scan {
            body,
            length,
            num_consts,
            num_carry,
            ..
        } => {
            let fixed = num_consts + num_carry;
            if fixed > ins.len()
                || *num_carry > outs.len()
                || ins[*num_consts..fixed] != outs[..*num_carry]
            {
                return Err(fail("carries do not match".into()));
            }
            let unstack = |a: &AVal| -> Result<AVal> {
                match a.shape.split_first() {
                    Some((n, rest)) if n == length => Ok(AVal::new(a.dtype, rest)),
                    _ => Err(fail(format!("{a} is not stacked along {length}"))),
                }
            };
            let mut args = ins[..fixed].to_vec();
            for x in &ins[fixed..] {
                args.push(unstack(x)?);
            }
            let mut results = outs[..*num_carry].to_vec();
            for y in &outs[*num_carry..] {
                results.push(unstack(y)?);
            }
            subs.push((body, args, results));
        }
    }
    for (sub, args, results) in subs {
        validate(sub, &args)?;
        let got = sub
            .outputs
            .iter()
            .map(|r| {
                sub.buffers
                    .get(r.0 as usize)
                    .map(|pb| AVal::new(pb.dtype, &pb.shape))
                    .ok_or_else(|| fail(format!("sub-program output {} does not exist", r.0)))
            })
            .collect::<Result<Vec<_>>>()?;
        if got != results {
            return Err(fail(
                "a sub-program's results do not match the step's".into(),
            ));
        }
    }
    Ok(())
}
