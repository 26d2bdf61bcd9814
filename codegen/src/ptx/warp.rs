//! Warp-cooperative rows: when the body of a grid-stride loop reduces
//! along a row (a reduction over the innermost axes, a softmax, a
//! log-sum-exp), each iteration is given to a whole warp. Its 32 lanes
//! split every reduction loop and every loop of independent iterations;
//! a reduction's lanes combine with a butterfly of shuffles, so every lane
//! holds the total and the rest of the body runs on all lanes alike;
//! stores outside loops are done by lane 0.

use rjax_ir::Result;

use super::emit::{Class, Func};
use super::phase::independent;
use super::reduce::{recognise, Reduction};
use crate::kernel::{BufferKind, Expr, Kernel, Stmt};

/// Reductions or independent loops shorter than this stay in one thread.
const MIN_EXTENT: usize = 32;

/// A statement (or reduction) of a warp-cooperative body.
pub(super) enum Seg<'k> {
    /// Run by every lane.
    Uniform(&'k Stmt),
    /// A store outside loops: lane 0 only.
    Store(&'k Stmt),
    /// A reduction split across the lanes.
    Reduce(Reduction<'k>),
    /// A loop of independent iterations split across the lanes.
    Split(&'k Stmt),
}

/// True when some statement of `body` loads an output buffer.
fn loads_output(kernel: &Kernel, body: &[Stmt]) -> bool {
    body.iter().any(|s| match s {
        Stmt::Loop { body, .. } => loads_output(kernel, body),
        Stmt::Let {
            expr: Expr::Load { buf, .. },
            ..
        } => kernel
            .buffers
            .get(buf.0 as usize)
            .is_none_or(|d| d.kind == BufferKind::Output),
        Stmt::Let { .. } | Stmt::Store { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => false,
    })
}

/// The warp-cooperative form of a grid-stride body, when it has one: no
/// loads of outputs (lanes never read what lane 0 stores), every loop a
/// recognised reduction or independent, and some loop at least
/// [`MIN_EXTENT`] long.
pub(super) fn plan<'k>(kernel: &Kernel, body: &'k [Stmt]) -> Option<Vec<Seg<'k>>> {
    if loads_output(kernel, body) {
        return None;
    }
    let mut segs = Vec::new();
    let mut long = false;
    let mut i = 0;
    while i < body.len() {
        let s = &body[i];
        match s {
            Stmt::Let { .. } | Stmt::AccSet { .. } => segs.push(Seg::Uniform(s)),
            Stmt::Store { .. } => segs.push(Seg::Store(s)),
            Stmt::AccInit { .. } => {
                let (red, used) = recognise(kernel, &body[i..])?;
                long |= red.extent >= MIN_EXTENT;
                segs.push(Seg::Reduce(red));
                i += used;
                continue;
            }
            Stmt::Loop {
                id, extent, body, ..
            } => {
                if !independent(kernel, *id, body, None) {
                    return None;
                }
                long |= *extent >= MIN_EXTENT;
                segs.push(Seg::Split(s));
            }
        }
        i += 1;
    }
    long.then_some(segs)
}

impl Func<'_> {
    /// Emits a warp-cooperative body (inside a per-warp grid-stride loop).
    pub(super) fn warp_body(&mut self, segs: &[Seg<'_>]) -> Result<()> {
        let tid = self.special("%tid.x");
        let lane = self.reg(Class::B32);
        self.ins(format!("and.b32 {lane}, {tid}, 31"));
        let lanes = self.reg(Class::B32);
        self.ins(format!("mov.u32 {lanes}, 32"));
        let first = self.reg(Class::Pred);
        self.ins(format!("setp.eq.u32 {first}, {lane}, 0"));
        for seg in segs {
            match seg {
                Seg::Uniform(s) => self.stmt(s)?,
                Seg::Store(s) => {
                    let skip = self.label();
                    self.ins(format!("@!{first} bra {skip}"));
                    self.stmt(s)?;
                    self.place(&skip);
                }
                Seg::Split(s) => {
                    if let Stmt::Loop {
                        id, extent, body, ..
                    } = s
                    {
                        self.strided_loop(*id, *extent, &lane, &lanes, body)?;
                    }
                }
                Seg::Reduce(red) => {
                    let locals = self.init_locals(&red.accs)?;
                    self.strided_loop(red.id, red.extent, &lane, &lanes, red.body)?;
                    let mut totals = Vec::with_capacity(locals.len());
                    for (a, v) in red.accs.iter().zip(&locals) {
                        let w = self.wire_value(a, v);
                        totals.push(self.warp_reduce(a, &w)?);
                    }
                    self.fold_totals(&red.accs, &totals)?;
                }
            }
        }
        Ok(())
    }
}
