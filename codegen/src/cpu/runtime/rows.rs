//! Row-interleaved kernel pairs: two consecutive kernel steps whose
//! parallel outer loops run over the same rows, where the second only
//! reads, in row `i`, what the first wrote in row `i`, run as one parallel
//! loop over chunks of rows: `first(chunk); second(chunk)`.
//!
//! Fusion ends a kernel where a value needs a whole row to be finished
//! first (softmax: the row sum, then the division by it; layer
//! normalisation): the second kernel then reads back, from memory, rows the
//! first wrote long before. Interleaved by chunks of a few rows, it finds
//! them still in the core's cache. Both kernels compute exactly what they
//! computed in sequence, since no row of one depends on another row of the
//! other.
//!
//! A pair qualifies ([`row_pair`]) when:
//! - each kernel is `[lets.., parallel for i in 0..rows { .. }]` with the
//!   same `rows ≥ 8` (the runtime splits that loop);
//! - the second writes no buffer the first reads or writes;
//! - every buffer the first writes and the second reads is accessed, by
//!   those stores and loads, only at `c·i + r` with one `c` for all of them
//!   and `0 ≤ r < c` over every iteration of the inner loops (row `i`'s own
//!   slab), without dynamic index terms.
//!
//! Distinct buffers that share storage (temporaries reusing arena space by
//! liveness, donated arguments) would break the interleaving: `execute`
//! checks the actual address ranges at every call and runs the two steps
//! one after the other when a written buffer overlaps another one.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use crate::kernel::{Expr, Index, Kernel, LoopId, Stmt};
use crate::program::BufferRef;

thread_local! {
    static UNPAIRED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with row-interleaved pairs turned off for programs compiled on
/// this thread (for tests comparing both schedules).
pub fn without_row_pairs<R>(f: impl FnOnce() -> R) -> R {
    let before = UNPAIRED.with(|u| u.replace(true));
    let r = f();
    UNPAIRED.with(|u| u.set(before));
    r
}

/// Whether programs compiled now on this thread may pair steps.
pub(super) fn pairing_enabled() -> bool {
    !UNPAIRED.with(Cell::get)
}

/// Where a kernel reads and writes, by program buffer.
struct Accesses<'k> {
    reads: Vec<(BufferRef, &'k Index)>,
    writes: Vec<(BufferRef, &'k Index)>,
    extents: HashMap<LoopId, usize>,
}

/// The parallel outer loop of `k` (id and extent) when `k` is
/// `[lets.., parallel loop]`.
fn outer_loop(k: &Kernel) -> Option<(LoopId, usize)> {
    let (last, lets) = k.body.split_last()?;
    if !lets.iter().all(|s| matches!(s, Stmt::Let { .. })) {
        return None;
    }
    match last {
        Stmt::Loop {
            id,
            extent,
            parallel: true,
            ..
        } => Some((*id, *extent)),
        Stmt::Loop { .. }
        | Stmt::Let { .. }
        | Stmt::Store { .. }
        | Stmt::AccInit { .. }
        | Stmt::AccSet { .. } => None,
    }
}

fn accesses<'k>(k: &'k Kernel, args: &[BufferRef]) -> Option<Accesses<'k>> {
    fn walk<'k>(block: &'k [Stmt], args: &[BufferRef], acc: &mut Accesses<'k>) -> Option<()> {
        for s in block {
            match s {
                Stmt::Loop {
                    id, extent, body, ..
                } => {
                    acc.extents.insert(*id, *extent);
                    walk(body, args, acc)?;
                }
                Stmt::Let {
                    expr: Expr::Load { buf, index },
                    ..
                } => acc.reads.push((*args.get(buf.0 as usize)?, index)),
                Stmt::Store { buf, index, .. } => {
                    acc.writes.push((*args.get(buf.0 as usize)?, index))
                }
                Stmt::Let { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => {}
            }
        }
        Some(())
    }
    let mut acc = Accesses {
        reads: Vec::new(),
        writes: Vec::new(),
        extents: HashMap::new(),
    };
    walk(&k.body, args, &mut acc)?;
    Some(acc)
}

/// The row stride `c` of `index` on loop `row` when every other term keeps
/// it inside the row's slab `[c·i, c·i + c)`.
fn row_local(index: &Index, row: LoopId, extents: &HashMap<LoopId, usize>) -> Option<i64> {
    if index.dynamic.is_some() {
        return None;
    }
    let c = index.coefficient(row);
    if c <= 0 {
        return None;
    }
    let (mut lo, mut hi) = (index.offset, index.offset);
    for &(l, k) in &index.terms {
        if l == row {
            continue;
        }
        let span = k.checked_mul(i64::try_from(*extents.get(&l)?).ok()?.checked_sub(1)?)?;
        if span < 0 {
            lo += span;
        } else {
            hi += span;
        }
    }
    (lo >= 0 && hi < c).then_some(c)
}

/// Two kernel steps that may run row-interleaved.
#[derive(Clone, Debug)]
pub(super) struct RowPair {
    /// The rows of both outer loops.
    pub rows: usize,
    /// The buffers of both steps.
    pub buffers: Vec<BufferRef>,
    /// The buffers either step writes.
    pub written: HashSet<BufferRef>,
}

/// Whether steps `first` then `second` (kernels with their program
/// buffers) may run row-interleaved (module docs).
pub(super) fn row_pair(
    first: (&Kernel, &[BufferRef]),
    second: (&Kernel, &[BufferRef]),
) -> Option<RowPair> {
    let (row0, rows) = outer_loop(first.0)?;
    let (row1, rows1) = outer_loop(second.0)?;
    if rows != rows1 || rows < 8 {
        return None;
    }
    let a0 = accesses(first.0, first.1)?;
    let a1 = accesses(second.0, second.1)?;
    let touched0: HashSet<BufferRef> = a0.reads.iter().chain(&a0.writes).map(|a| a.0).collect();
    if a1.writes.iter().any(|(b, _)| touched0.contains(b)) {
        return None;
    }
    let written0: HashSet<BufferRef> = a0.writes.iter().map(|a| a.0).collect();
    // The row stride of each buffer the second reads from the first.
    let mut stride: HashMap<BufferRef, i64> = HashMap::new();
    for &(b, index) in &a1.reads {
        if !written0.contains(&b) {
            continue;
        }
        let c = row_local(index, row1, &a1.extents)?;
        if *stride.entry(b).or_insert(c) != c {
            return None;
        }
    }
    for &(b, index) in &a0.writes {
        let Some(&c) = stride.get(&b) else { continue };
        if row_local(index, row0, &a0.extents)? != c {
            return None;
        }
    }
    let mut buffers: Vec<BufferRef> = first.1.iter().chain(second.1).copied().collect();
    buffers.sort_unstable();
    buffers.dedup();
    let written = a0.writes.iter().chain(&a1.writes).map(|a| a.0).collect();
    Some(RowPair {
        rows,
        buffers,
        written,
    })
}

/// Whether every buffer one of the two steps writes occupies bytes no other
/// buffer of either step occupies (`ranges`: program buffer, first byte,
/// length; `written`: the buffers either writes).
pub(super) fn disjoint_storage(
    ranges: &[(BufferRef, usize, usize)],
    written: &HashSet<BufferRef>,
) -> bool {
    ranges.iter().enumerate().all(|(i, &(a, pa, na))| {
        ranges[i + 1..].iter().all(|&(b, pb, nb)| {
            a == b
                || !(written.contains(&a) || written.contains(&b))
                || pa + na <= pb
                || pb + nb <= pa
        })
    })
}
