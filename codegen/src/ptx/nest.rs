//! Shapes of kernel IR that several PTX phase recognisers look for: the
//! two-level loop nest `for o { lets; for i { body } }` and the test of one
//! expression node against what a phase may read.

use crate::kernel::{AccId, BufId, BufferKind, Expr, Index, Kernel, LoopId, Stmt};

/// A top-level sequential loop whose body is lets followed by one loop.
pub(super) struct Nest<'k> {
    /// The outer (sequential) loop and its extent.
    pub(super) outer: (LoopId, usize),
    /// The lets opening the outer loop's body.
    pub(super) lets: &'k [Stmt],
    /// The inner loop and its extent.
    pub(super) inner: (LoopId, usize),
    /// The inner loop's body.
    pub(super) body: &'k [Stmt],
}

/// Splits `lp` into a [`Nest`] when it is a sequential loop ending in a
/// nested loop.
pub(super) fn split(lp: &Stmt) -> Option<Nest<'_>> {
    let Stmt::Loop {
        id: outer,
        extent: oe,
        parallel: false,
        body,
    } = lp
    else {
        return None;
    };
    let (last, lets) = body.split_last()?;
    let Stmt::Loop {
        id: inner,
        extent: ie,
        body: ib,
        ..
    } = last
    else {
        return None;
    };
    Some(Nest {
        outer: (*outer, *oe),
        lets,
        inner: (*inner, *ie),
        body: ib,
    })
}

/// Whether `e`'s own node (not its operands) is allowed: a load when
/// `load` accepts its buffer and index, an accumulator read when `acc`
/// accepts it, any other node always.
pub(super) fn node_ok(
    e: &Expr,
    load: impl Fn(&BufId, &Index) -> bool,
    acc: impl Fn(&AccId) -> bool,
) -> bool {
    match e {
        Expr::Load { buf, index } => load(buf, index),
        Expr::AccRead(a) => acc(a),
        Expr::Const(_)
        | Expr::LoopVar(_)
        | Expr::Unary(..)
        | Expr::Binary(..)
        | Expr::Fma(..)
        | Expr::Select(..)
        | Expr::Convert(..)
        | Expr::Bitcast(..) => true,
    }
}

/// Whether buffer `b` has kind `kind` (a buffer the kernel does not
/// declare counts as `missing`).
pub(super) fn buffer_is(kernel: &Kernel, b: &BufId, kind: BufferKind, missing: bool) -> bool {
    kernel
        .buffers
        .get(b.0 as usize)
        .map_or(missing, |d| d.kind == kind)
}
