//! Scatter-add as atomic additions: the kernel IR writes a scatter-add as
//! a sequential loop over the update rows whose inner loop reads an output
//! element at a computed index, adds an update to it (where the index is in
//! bounds) and stores it back. For f32, f64, i32 and u32 outputs that loop
//! nest runs as one grid-stride loop over every (row, element) pair, each
//! thread doing `red.global.add` at the element. Integer results equal the
//! CPU's; float sums over duplicate indices are added in an unspecified
//! order (they agree with the CPU to rounding). Other scatter kinds (set,
//! mul, min, max) and bool outputs run in order on one thread.

use std::collections::HashMap;

use rjax_ir::{DType, Result};

use super::emit::Func;
use crate::kernel::{BinaryOp, BufId, BufferKind, Expr, Index, Kernel, LoopId, Stmt, ValueId};

/// A recognised scatter-add loop nest.
pub(super) struct AtomicAdd<'k> {
    /// The whole nest (for the phase checks).
    pub(super) lp: &'k Stmt,
    /// The row loop, its extent and the lets opening its body.
    pub(super) outer: (LoopId, usize, &'k [Stmt]),
    /// The element loop and its extent.
    pub(super) inner: (LoopId, usize),
    /// The element loop's body.
    pub(super) body: &'k [Stmt],
    /// The updated buffer and element.
    buf: BufId,
    index: &'k Index,
    /// Values replaced by the atomic: the old element, the sum, the select.
    skipped: Vec<ValueId>,
    /// The addend and the in-bounds condition.
    x: ValueId,
    cond: Option<ValueId>,
}

/// The `red` type suffix for an output dtype, if the hardware adds it
/// atomically.
fn red_type(dtype: DType) -> Option<&'static str> {
    match dtype {
        DType::F32 => Some("f32"),
        DType::F64 => Some("f64"),
        DType::I32 => Some("s32"),
        DType::U32 => Some("u32"),
        DType::Bool => None,
    }
}

/// Recognises a scatter-add nest (see the module docs).
pub(super) fn recognise<'k>(kernel: &Kernel, lp: &'k Stmt) -> Option<AtomicAdd<'k>> {
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
    let is_output = |b: &BufId| {
        kernel
            .buffers
            .get(b.0 as usize)
            .is_none_or(|d| d.kind == BufferKind::Output)
    };
    let plain = |e: &Expr| match e {
        Expr::Load { buf, .. } => !is_output(buf),
        Expr::AccRead(_) => false,
        Expr::Const(_)
        | Expr::LoopVar(_)
        | Expr::Unary(..)
        | Expr::Binary(..)
        | Expr::Fma(..)
        | Expr::Select(..)
        | Expr::Convert(..)
        | Expr::Bitcast(..) => true,
    };
    let lets_ok = lets
        .iter()
        .all(|s| matches!(s, Stmt::Let { expr, .. } if plain(expr)));
    if !lets_ok {
        return None;
    }
    // the element loop: lets and exactly one store
    let mut defs: HashMap<ValueId, &Expr> = HashMap::new();
    let mut uses: HashMap<ValueId, usize> = HashMap::new();
    let mut store = None;
    let mut old = None;
    for s in ib {
        match s {
            Stmt::Let { value, expr, .. } => {
                if !plain(expr) {
                    match expr {
                        Expr::Load { buf, index } if old.is_none() => {
                            old = Some((*value, *buf, index))
                        }
                        _ => return None,
                    }
                }
                defs.insert(*value, expr);
                let mut ops = Vec::new();
                super::phase::expr_operands(expr, &mut ops);
                for v in ops {
                    *uses.entry(v).or_default() += 1;
                }
            }
            Stmt::Store { buf, index, value } if store.is_none() => {
                *uses.entry(*value).or_default() += 1;
                if let Some(d) = index.dynamic {
                    *uses.entry(d).or_default() += 1;
                }
                store = Some((*buf, index, *value));
            }
            Stmt::Store { .. } | Stmt::Loop { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => {
                return None
            }
        }
    }
    let (buf, index, stored) = store?;
    let (old, obuf, oindex) = old?;
    if obuf != buf || oindex != index {
        return None;
    }
    red_type(kernel.buffers.get(buf.0 as usize)?.dtype)?;
    let once = |v: ValueId| uses.get(&v) == Some(&1);
    // stored = select(c, sum, old) or sum; sum = old + x or x + old
    let (sum, cond, old_uses) = match defs.get(&stored) {
        Some(Expr::Select(c, t, f)) if *f == old && *c != old => (*t, Some(*c), 2),
        _ => (stored, None, 1),
    };
    let x = match defs.get(&sum) {
        Some(Expr::Binary(BinaryOp::Add, a, b)) if *a == old && *b != old => *b,
        Some(Expr::Binary(BinaryOp::Add, a, b)) if *b == old && *a != old => *a,
        _ => return None,
    };
    if uses.get(&old) != Some(&old_uses) || !once(sum) || !once(stored) || cond == Some(sum) {
        return None;
    }
    let mut skipped = vec![old, sum];
    if cond.is_some() {
        skipped.push(stored);
    }
    Some(AtomicAdd {
        lp,
        outer: (*outer, *oe, lets),
        inner: (*inner, *ie),
        body: ib,
        buf,
        index,
        skipped,
        x,
        cond,
    })
}

impl Func<'_> {
    /// The element loop's body with the read-add-store replaced by an
    /// atomic addition.
    pub(super) fn atomic_body(&mut self, a: &AtomicAdd<'_>) -> Result<()> {
        for s in a.body {
            match s {
                Stmt::Let { value, .. } if a.skipped.contains(value) => {}
                Stmt::Store { .. } => {
                    let dtype = self.kernel.buffers[a.buf.0 as usize].dtype;
                    let t = red_type(dtype)
                        .ok_or_else(|| self.error(format!("no atomic add for {dtype}")))?;
                    let addr = self.address(a.buf, a.index)?;
                    let x = self.val(a.x)?;
                    let guard = match a.cond {
                        Some(c) => format!("@{} ", self.val(c)?),
                        None => String::new(),
                    };
                    self.ins(format!("{guard}red.global.add.{t} [{addr}], {x}"));
                }
                Stmt::Let { .. }
                | Stmt::Loop { .. }
                | Stmt::AccInit { .. }
                | Stmt::AccSet { .. } => self.stmt(s)?,
            }
        }
        Ok(())
    }
}
