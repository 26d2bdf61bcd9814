//! Loop-invariant code motion on the kernel IR, run before translation.
//!
//! Cranelift hoists only some invariants on its own (TECH-NOTES §1f), so
//! the backend moves every `Let` whose value does not change across a loop's
//! iterations to just before that loop, as far out as its operands allow:
//!
//! - an operand defined at depth `d` (inside `d` loops) pins the value to
//!   depth `d` or deeper; `LoopVar(l)` pins it to the body of `l`;
//! - a `Load` is pinned by its index's loops and dynamic term, and is never
//!   moved out of a loop that stores to the same buffer (a scatter reading
//!   back its output);
//! - an `AccRead` is never moved out of a loop that initialises or sets the
//!   accumulator.
//!
//! Loops with a zero extent are removed first: they do nothing, and removing
//! them makes hoisting safe, since every remaining loop body runs at least
//! once, so a hoisted load reads an element the original kernel read too.
//! Kernel IR values have no side effects and integer division cannot trap
//! in this backend, so moving a value earlier never changes results.

use std::collections::{HashMap, HashSet};

use crate::kernel::{AccId, BufId, Expr, Kernel, LoopId, Stmt, ValueId};

/// The kernel with zero-extent loops removed and invariant `Let`s hoisted.
pub(crate) fn hoist(kernel: &Kernel) -> Kernel {
    let mut h = Hoister::default();
    let body = h.block(&kernel.body, 0);
    debug_assert!(h.pending.iter().all(Vec::is_empty), "internal error: hoisted values left behind");
    Kernel {
        name: kernel.name.clone(),
        buffers: kernel.buffers.clone(),
        body,
    }
}

/// What a loop (with its nested loops) writes: buffers stored to and
/// accumulators initialised or set.
#[derive(Default)]
struct Effects {
    stores: HashSet<BufId>,
    accs: HashSet<AccId>,
}

fn collect_effects(body: &[Stmt], fx: &mut Effects) {
    for stmt in body {
        match stmt {
            Stmt::Loop { body, .. } => collect_effects(body, fx),
            Stmt::Store { buf, .. } => {
                fx.stores.insert(*buf);
            }
            Stmt::AccSet { acc, .. } | Stmt::AccInit { acc, .. } => {
                fx.accs.insert(*acc);
            }
            Stmt::Let { .. } => {}
        }
    }
}

#[derive(Default)]
struct Hoister {
    /// Depth at which each value is (now) defined.
    level: HashMap<ValueId, usize>,
    /// Depth of each loop's body.
    loop_depth: HashMap<LoopId, usize>,
    /// Effects of the enclosing loops, outermost first.
    effects: Vec<Effects>,
    /// `pending[d]`: values moved to depth `d`, to be placed just before the
    /// loop at depth `d` that is being processed.
    pending: Vec<Vec<Stmt>>,
}

impl Hoister {
    fn block(&mut self, stmts: &[Stmt], depth: usize) -> Vec<Stmt> {
        let mut out = Vec::with_capacity(stmts.len());
        for stmt in stmts {
            match stmt {
                Stmt::Loop { id, extent, parallel, body } => {
                    if *extent == 0 {
                        continue;
                    }
                    let mut fx = Effects::default();
                    collect_effects(body, &mut fx);
                    self.effects.push(fx);
                    self.loop_depth.insert(*id, depth + 1);
                    if self.pending.len() <= depth {
                        self.pending.resize_with(depth + 1, Vec::new);
                    }
                    let body = self.block(body, depth + 1);
                    self.effects.pop();
                    out.append(&mut self.pending[depth]);
                    out.push(Stmt::Loop { id: *id, extent: *extent, parallel: *parallel, body });
                }
                Stmt::Let { value, expr, .. } => {
                    let target = self.target_depth(expr, depth);
                    self.level.insert(*value, target);
                    if target == depth {
                        out.push(stmt.clone());
                    } else {
                        self.pending[target].push(stmt.clone());
                    }
                }
                Stmt::Store { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => out.push(stmt.clone()),
            }
        }
        out
    }

    fn value_level(&self, v: &ValueId) -> usize {
        self.level.get(v).copied().unwrap_or(0)
    }

    /// The shallowest depth at which `expr` may be evaluated, given that it
    /// appears at `depth`.
    fn target_depth(&self, expr: &Expr, depth: usize) -> usize {
        match expr {
            Expr::Const(_) => 0,
            Expr::LoopVar(l) => self.loop_depth.get(l).copied().unwrap_or(depth),
            Expr::Load { buf, index } => {
                let mut t = index
                    .terms
                    .iter()
                    .filter(|(_, c)| *c != 0)
                    .map(|(l, _)| self.loop_depth.get(l).copied().unwrap_or(depth))
                    .max()
                    .unwrap_or(0);
                if let Some(d) = index.dynamic {
                    t = t.max(self.value_level(&d));
                }
                // Not out of a loop that writes this buffer.
                if let Some(j) = self.effects.iter().position(|fx| fx.stores.contains(buf)) {
                    t = t.max(j + 1);
                }
                t.min(depth)
            }
            Expr::Unary(_, a) | Expr::Convert(_, a) | Expr::Bitcast(_, a) => self.value_level(a),
            Expr::Binary(_, a, b) => self.value_level(a).max(self.value_level(b)),
            Expr::Fma(a, b, c) | Expr::Select(a, b, c) => {
                self.value_level(a).max(self.value_level(b)).max(self.value_level(c))
            }
            Expr::AccRead(acc) => match self.effects.iter().position(|fx| fx.accs.contains(acc)) {
                Some(j) => j + 1,
                // Not set in any enclosing loop: it may still be set earlier
                // in this block, so stay after those sets: move no further
                // out than the enclosing loops allow (their entry is after
                // every earlier statement of the outer blocks).
                None => 0,
            },
        }
        .min(depth)
    }
}
