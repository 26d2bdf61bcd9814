//! Static memory planning for a program on the CPU: where each program
//! buffer lives while the program runs.
//!
//! - **Arguments and constants** are read in place (never copied in).
//! - **Outputs** (temporaries named in [`Program::outputs`]) are allocated
//!   per call as the `Data` vectors the caller receives, or take the storage
//!   of a donated argument (`run_donated`).
//! - **Other temporaries** live in one arena per executable call, at
//!   offsets chosen by liveness: a temporary is live from the first step
//!   that uses it to the last, and two temporaries share bytes only when
//!   one's last step comes before the other's first (best-fit reuse of freed
//!   blocks, 64-byte aligned). Arenas are kept in a pool by the executable,
//!   so repeated calls run on warm pages (TECH-NOTES §7).
//! - **Zeroing:** the kernel interpreter starts temporaries at zero. A
//!   temporary whose first step provably writes every element (a store with
//!   an affine, bijective index over the loops around it, in a kernel that
//!   does not read the buffer; or a GEMM) is not cleared; any other is
//!   zeroed just before its first step.
//! - **Control steps** read their inputs and write every element of their
//!   results (`cpu::control`); their sub-programs get plans of their own.
//! - **Donation:** an output may take a donated argument's storage when
//!   dtype and length match, the argument is not itself an output, no other
//!   program buffer reads the same argument, and either the argument's last
//!   use comes before the output's first step, or both are used only by that
//!   one kernel step as an *in-place* pair: every load of the input and the
//!   one store of the output use the same injective affine index in the same
//!   block, loads first (an elementwise update such as `w - lr * g`), and the
//!   output needs no zeroing. Candidates are tried in argument order.

use std::collections::BTreeMap;

use rjax_ir::{num_elements, DType, Result};

use super::env::{elem_size, error};
use crate::kernel::{BufId, BufferKind, Expr, Index, Kernel, LoopId, Stmt};
use crate::program::{BufferRef, BufferSource, Program, Step};

/// Where a program buffer lives during a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The `i`-th argument's storage.
    Arg(usize),
    /// The `i`-th constant of the executable.
    Const(usize),
    /// At this byte offset in the call's arena.
    Arena(usize),
    /// The `k`-th output vector of the call.
    Out(usize),
    /// Never used by any step.
    Unused,
}

/// How each program output is produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutputPlan {
    /// The `k`-th output vector, moved out.
    Fresh(usize),
    /// A copy of this program buffer (an argument, a constant or an output
    /// listed twice).
    Copy(BufferRef),
}

/// The memory plan of a program.
#[derive(Clone, Debug)]
pub(crate) struct MemoryPlan {
    pub slots: Vec<Slot>,
    pub arena_bytes: usize,
    pub outputs: Vec<OutputPlan>,
    /// Program buffer of each output vector.
    pub fresh: Vec<BufferRef>,
    /// Arena buffers to zero before each step.
    pub zero_arena: Vec<Vec<BufferRef>>,
    /// Per output vector: the step before which it must be zeroed when it
    /// reuses donated storage (None: its first step writes all of it).
    pub fresh_zero_at: Vec<Option<usize>>,
    /// Per output vector: whether its first writer writes all of it, so a
    /// fresh vector for it needs no zero fill.
    pub fresh_written: Vec<bool>,
    /// Per output vector: the argument whose storage it may take.
    pub donation: Vec<Option<usize>>,
}

fn buffers_of(step: &Step) -> Vec<BufferRef> {
    match step {
        Step::Kernel { args, .. } => args.clone(),
        Step::Gemm(g) => vec![g.lhs.0, g.rhs.0, g.out],
        Step::Control(c) => [&c.inputs[..], &c.outputs[..]].concat(),
    }
}

/// Bytes of program buffer `r`.
pub(crate) fn buffer_bytes(program: &Program, r: BufferRef) -> usize {
    let pb = &program.buffers[r.0 as usize];
    num_elements(&pb.shape) * elem_size(pb.dtype) as usize
}

/// Plans the memory of `program` (already validated by the runtime).
pub(crate) fn plan(program: &Program) -> Result<MemoryPlan> {
    let nb = program.buffers.len();
    let mut first = vec![usize::MAX; nb];
    let mut last = vec![0usize; nb];
    for (s, step) in program.steps.iter().enumerate() {
        for r in buffers_of(step) {
            let i = r.0 as usize;
            first[i] = first[i].min(s);
            last[i] = last[i].max(s);
        }
    }
    let mut slots = vec![Slot::Unused; nb];
    let mut n_consts = 0;
    for (i, pb) in program.buffers.iter().enumerate() {
        slots[i] = match &pb.source {
            BufferSource::Argument(a) => Slot::Arg(*a),
            BufferSource::Constant(_) => {
                n_consts += 1;
                Slot::Const(n_consts - 1)
            }
            BufferSource::Temporary => Slot::Unused,
        };
    }
    let mut outputs = Vec::new();
    let mut fresh = Vec::new();
    for r in &program.outputs {
        let i = r.0 as usize;
        if i >= nb {
            return Err(error(format!("program output {i} does not exist")));
        }
        let plan = match (&program.buffers[i].source, slots[i]) {
            (BufferSource::Temporary, Slot::Unused) => {
                slots[i] = Slot::Out(fresh.len());
                fresh.push(*r);
                OutputPlan::Fresh(fresh.len() - 1)
            }
            _ => OutputPlan::Copy(*r),
        };
        outputs.push(plan);
    }
    // Arena temporaries, in order of first use, best fit into freed blocks.
    let mut temps: Vec<usize> = (0..nb)
        .filter(|&i| {
            slots[i] == Slot::Unused
                && first[i] != usize::MAX
                && program.buffers[i].source == BufferSource::Temporary
        })
        .collect();
    temps.sort_by_key(|&i| first[i]);
    // (offset, size, last step of the buffer holding it)
    let mut blocks: Vec<(usize, usize, usize)> = Vec::new();
    let mut arena_bytes = 0usize;
    for &i in &temps {
        let need = buffer_bytes(program, BufferRef(i as u32)).div_ceil(64) * 64;
        let free = blocks
            .iter_mut()
            .filter(|(_, size, end)| *end < first[i] && *size >= need)
            .min_by_key(|(_, size, _)| *size);
        let offset = match free {
            Some(block) => {
                block.2 = last[i];
                block.0
            }
            None => {
                blocks.push((arena_bytes, need, last[i]));
                arena_bytes += need;
                arena_bytes - need
            }
        };
        slots[i] = Slot::Arena(offset);
    }
    let mut zero_arena = vec![Vec::new(); program.steps.len()];
    for &i in &temps {
        let s = first[i];
        if !first_step_writes_all(program, s, BufferRef(i as u32)) {
            zero_arena[s].push(BufferRef(i as u32));
        }
    }
    let fresh_zero_at = fresh
        .iter()
        .map(|r| {
            let s = first[r.0 as usize];
            (s != usize::MAX && !first_step_writes_all(program, s, *r)).then_some(s)
        })
        .collect::<Vec<_>>();
    let fresh_written = fresh
        .iter()
        .map(|r| {
            let s = first[r.0 as usize];
            s != usize::MAX && first_step_writes_all(program, s, *r)
        })
        .collect();
    let donation = plan_donation(program, &fresh, &fresh_zero_at, &first, &last);
    Ok(MemoryPlan {
        slots,
        arena_bytes,
        outputs,
        fresh,
        zero_arena,
        fresh_zero_at,
        fresh_written,
        donation,
    })
}

fn plan_donation(
    program: &Program,
    fresh: &[BufferRef],
    fresh_zero_at: &[Option<usize>],
    first: &[usize],
    last: &[usize],
) -> Vec<Option<usize>> {
    // Arguments that exactly one program buffer reads and that are not
    // outputs themselves.
    let mut by_arg: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, pb) in program.buffers.iter().enumerate() {
        if let BufferSource::Argument(a) = pb.source {
            by_arg.entry(a).or_default().push(i);
        }
    }
    let mut taken = vec![false; program.buffers.len()];
    fresh
        .iter()
        .zip(fresh_zero_at)
        .map(|(out, zero_at)| {
            let o = out.0 as usize;
            let opb = &program.buffers[o];
            let candidate = by_arg
                .iter()
                .filter(|(_, bufs)| bufs.len() == 1)
                .map(|(a, bufs)| (*a, bufs[0]))
                .find(|&(_, i)| {
                    let ipb = &program.buffers[i];
                    if taken[i]
                        || ipb.dtype != opb.dtype
                        || num_elements(&ipb.shape) != num_elements(&opb.shape)
                    {
                        return false;
                    }
                    if program.outputs.iter().any(|r| r.0 as usize == i) || first[o] == usize::MAX {
                        return false;
                    }
                    if first[i] == usize::MAX || last[i] < first[o] {
                        return true;
                    }
                    last[i] == first[o]
                        && zero_at.is_none()
                        && in_place_step(program, first[o], i, o)
                });
            candidate.map(|(a, i)| {
                taken[i] = true;
                a
            })
        })
        .collect()
}

/// Whether step `s` may write program buffer `out` over program buffer
/// `input` (see the module docs).
fn in_place_step(program: &Program, s: usize, input: usize, out: usize) -> bool {
    let Step::Kernel { kernel, args } = &program.steps[s] else {
        return false;
    };
    let ins: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(_, r)| r.0 as usize == input)
        .map(|(k, _)| k)
        .collect();
    let outs: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(_, r)| r.0 as usize == out)
        .map(|(k, _)| k)
        .collect();
    if ins.len() != 1 || outs.len() != 1 {
        return false;
    }
    in_place_kernel(kernel, BufId(ins[0] as u32), BufId(outs[0] as u32))
}

/// A block of statements and the loops around it (outermost first).
type BlockInLoops<'k> = (&'k [Stmt], Vec<(LoopId, usize)>);

/// Every block holding a statement that satisfies `pred`, with the loops
/// around it.
fn find_block<'k>(
    body: &'k [Stmt],
    loops: &mut Vec<(LoopId, usize)>,
    pred: &dyn Fn(&Stmt) -> bool,
    found: &mut Vec<BlockInLoops<'k>>,
) {
    if body.iter().any(pred) {
        found.push((body, loops.clone()));
    }
    for s in body {
        if let Stmt::Loop {
            id, extent, body, ..
        } = s
        {
            loops.push((*id, *extent));
            find_block(body, loops, pred, found);
            loops.pop();
        }
    }
}

/// Whether `index` visits distinct elements for distinct iterations of
/// `loops` (every loop with a positive coefficient, mixed-radix ordered).
fn injective(index: &Index, loops: &[(LoopId, usize)]) -> bool {
    if index.dynamic.is_some() {
        return false;
    }
    let mut terms = Vec::new();
    for (l, e) in loops {
        let c = index.coefficient(*l);
        if *e > 1 && c <= 0 {
            return false;
        }
        terms.push((c, *e as i64));
    }
    terms.sort();
    let mut reach = 0i64;
    for (c, e) in terms {
        if e > 1 && c <= reach {
            return false;
        }
        reach += c * (e - 1);
    }
    true
}

fn is_load_of(s: &Stmt, b: BufId) -> Option<&Index> {
    match s {
        Stmt::Let {
            expr: Expr::Load { buf, index },
            ..
        } if *buf == b => Some(index),
        _ => None,
    }
}

fn is_store_to(s: &Stmt, b: BufId) -> Option<&Index> {
    match s {
        Stmt::Store { buf, index, .. } if *buf == b => Some(index),
        _ => None,
    }
}

/// Whether `kernel` may read `input` and write `out` in the same storage.
pub(crate) fn in_place_kernel(kernel: &Kernel, input: BufId, out: BufId) -> bool {
    let touches = |s: &Stmt| is_load_of(s, input).is_some() || is_store_to(s, out).is_some();
    let mut found = Vec::new();
    find_block(&kernel.body, &mut Vec::new(), &touches, &mut found);
    let [(block, loops)] = &found[..] else {
        return false;
    };
    let Some(store_at) = block.iter().position(|s| is_store_to(s, out).is_some()) else {
        return false;
    };
    let index = is_store_to(&block[store_at], out).expect("internal error: store just found");
    let stores = block
        .iter()
        .filter(|s| is_store_to(s, out).is_some())
        .count();
    let loads_ok = block
        .iter()
        .enumerate()
        .all(|(k, s)| is_load_of(s, input).is_none_or(|i| i == index && k < store_at));
    stores == 1 && loads_ok && injective(index, loops)
}

/// Whether step `s` writes every element of `r` before anything reads it.
fn first_step_writes_all(program: &Program, s: usize, r: BufferRef) -> bool {
    match &program.steps[s] {
        Step::Gemm(g) => g.out == r,
        // A control step writes all of every result (see `cpu::control`).
        Step::Control(c) => c.outputs.contains(&r) && !c.inputs.contains(&r),
        Step::Kernel { kernel, args } => {
            let params: Vec<BufId> = args
                .iter()
                .enumerate()
                .filter(|(_, a)| **a == r)
                .map(|(k, _)| BufId(k as u32))
                .collect();
            let [p] = params[..] else { return false };
            let decl = &kernel.buffers[p.0 as usize];
            decl.kind == BufferKind::Output && writes_all(kernel, p, decl.len)
        }
    }
}

/// Whether `kernel` stores to every element of `buf` (of `len` elements)
/// with one store and never loads it.
pub(crate) fn writes_all(kernel: &Kernel, buf: BufId, len: usize) -> bool {
    let mut loads = Vec::new();
    find_block(
        &kernel.body,
        &mut Vec::new(),
        &|s| is_load_of(s, buf).is_some(),
        &mut loads,
    );
    if !loads.is_empty() {
        return false;
    }
    let mut stores = Vec::new();
    find_block(
        &kernel.body,
        &mut Vec::new(),
        &|s| is_store_to(s, buf).is_some(),
        &mut stores,
    );
    stores.iter().any(|(block, loops)| {
        block
            .iter()
            .filter_map(|s| is_store_to(s, buf))
            .any(|index| {
                let covered: usize = loops
                    .iter()
                    .filter(|(l, _)| index.coefficient(*l) != 0)
                    .map(|(_, e)| *e)
                    .product();
                index.offset == 0 && covered == len && bijective(index, loops)
            })
    })
}

/// Whether `index` maps the iterations of the loops it uses one-to-one onto
/// `0..Π extents` (coefficients 1, e1, e1·e2, ... in some order).
fn bijective(index: &Index, loops: &[(LoopId, usize)]) -> bool {
    if index.dynamic.is_some() {
        return false;
    }
    let mut terms: Vec<(i64, i64)> = loops
        .iter()
        .map(|(l, e)| (index.coefficient(*l), *e as i64))
        .filter(|(c, e)| *c != 0 && *e > 1)
        .collect();
    if index
        .terms
        .iter()
        .any(|(l, c)| *c != 0 && !loops.iter().any(|(x, _)| x == l))
    {
        return false;
    }
    terms.sort();
    let mut expect = 1i64;
    for (c, e) in terms {
        if c != expect {
            return false;
        }
        expect *= e;
    }
    true
}

/// The element type and length of a program buffer, for validation.
pub(crate) fn dtype_len(program: &Program, r: BufferRef) -> Option<(DType, usize)> {
    program
        .buffers
        .get(r.0 as usize)
        .map(|pb| (pb.dtype, num_elements(&pb.shape)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{BufferDecl, KernelBuilder, ScalarType};
    use rjax_ir::DType;

    fn elementwise(n: usize) -> Kernel {
        let mut kb = KernelBuilder::new();
        let i = kb.lp();
        let mut body = Vec::new();
        let idx = Index {
            offset: 0,
            terms: vec![(i, 1)],
            dynamic: None,
        };
        let x = kb.let_(
            &mut body,
            ScalarType::F32,
            Expr::Load {
                buf: BufId(0),
                index: idx.clone(),
            },
        );
        body.push(Stmt::Store {
            buf: BufId(1),
            index: idx,
            value: x,
        });
        Kernel {
            name: "copy".into(),
            buffers: vec![
                BufferDecl {
                    dtype: DType::F32,
                    len: n,
                    kind: BufferKind::Input,
                },
                BufferDecl {
                    dtype: DType::F32,
                    len: n,
                    kind: BufferKind::Output,
                },
            ],
            body: vec![Stmt::Loop {
                id: i,
                extent: n,
                parallel: true,
                body,
            }],
        }
    }

    #[test]
    fn elementwise_is_in_place_and_writes_all() {
        let k = elementwise(10);
        assert!(in_place_kernel(&k, BufId(0), BufId(1)));
        assert!(writes_all(&k, BufId(1), 10));
        assert!(!writes_all(&k, BufId(1), 11));
    }

    #[test]
    fn injectivity_needs_mixed_radix_coefficients() {
        let (a, b) = (LoopId(0), LoopId(1));
        let idx = |ca, cb| Index {
            offset: 0,
            terms: vec![(a, ca), (b, cb)],
            dynamic: None,
        };
        assert!(injective(&idx(4, 1), &[(a, 3), (b, 4)]));
        assert!(!injective(&idx(3, 1), &[(a, 3), (b, 4)]));
        assert!(!injective(&idx(0, 1), &[(a, 3), (b, 4)]));
        assert!(bijective(&idx(4, 1), &[(a, 3), (b, 4)]));
        assert!(!bijective(&idx(5, 1), &[(a, 3), (b, 4)]));
    }
}
