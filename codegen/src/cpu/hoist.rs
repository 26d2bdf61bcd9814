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
    debug_assert!(
        h.pending.iter().all(Vec::is_empty),
        "internal error: hoisted values left behind"
    );
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
                Stmt::Loop {
                    id,
                    extent,
                    parallel,
                    body,
                } => {
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
                    out.push(Stmt::Loop {
                        id: *id,
                        extent: *extent,
                        parallel: *parallel,
                        body,
                    });
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
                Stmt::Store { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => {
                    out.push(stmt.clone())
                }
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
                if let Some(j) = self.effects.iter().rposition(|fx| fx.stores.contains(buf)) {
                    t = t.max(j + 1);
                }
                t.min(depth)
            }
            Expr::Unary(_, a) | Expr::Convert(_, a) | Expr::Bitcast(_, a) => self.value_level(a),
            Expr::Binary(_, a, b) => self.value_level(a).max(self.value_level(b)),
            Expr::Fma(a, b, c) | Expr::Select(a, b, c) => self
                .value_level(a)
                .max(self.value_level(b))
                .max(self.value_level(c)),
            Expr::AccRead(acc) => match self.effects.iter().rposition(|fx| fx.accs.contains(acc)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{
        BinaryOp, BufferDecl, BufferKind, Const, Index, KernelBuilder, ScalarType,
    };
    use crate::kernel_interp::run_kernel;
    use rjax_ir::{DType, Data, Scalar};

    fn ix(terms: &[(LoopId, i64)]) -> Index {
        Index {
            offset: 0,
            terms: terms.to_vec(),
            dynamic: None,
        }
    }

    /// for i { for j { c = b[i] * 3; r = acc; out[i, j] = a[i, j] * c + r };
    ///         acc = out[i, 0] } and an empty loop, which disappears.
    fn sample() -> Kernel {
        let mut kb = KernelBuilder::new();
        let (i, j, z, acc) = (kb.lp(), kb.lp(), kb.lp(), kb.acc());
        let mut inner = Vec::new();
        let b = kb.let_(
            &mut inner,
            ScalarType::F32,
            Expr::Load {
                buf: BufId(1),
                index: ix(&[(i, 1)]),
            },
        );
        let three = kb.let_(
            &mut inner,
            ScalarType::F32,
            Expr::Const(Const::Scalar(Scalar::F32(3.0))),
        );
        let c = kb.let_(
            &mut inner,
            ScalarType::F32,
            Expr::Binary(BinaryOp::Mul, b, three),
        );
        let r = kb.let_(&mut inner, ScalarType::F32, Expr::AccRead(acc));
        let a = kb.let_(
            &mut inner,
            ScalarType::F32,
            Expr::Load {
                buf: BufId(0),
                index: ix(&[(i, 4), (j, 1)]),
            },
        );
        let f = kb.let_(&mut inner, ScalarType::F32, Expr::Fma(a, c, r));
        inner.push(Stmt::Store {
            buf: BufId(2),
            index: ix(&[(i, 4), (j, 1)]),
            value: f,
        });
        let mut outer = vec![Stmt::Loop {
            id: j,
            extent: 4,
            parallel: true,
            body: inner,
        }];
        let back = kb.let_(
            &mut outer,
            ScalarType::F32,
            Expr::Load {
                buf: BufId(2),
                index: ix(&[(i, 4)]),
            },
        );
        outer.push(Stmt::AccSet { acc, value: back });
        let empty = vec![Stmt::Store {
            buf: BufId(2),
            index: ix(&[]),
            value: back,
        }];
        outer.push(Stmt::Loop {
            id: z,
            extent: 0,
            parallel: false,
            body: empty,
        });
        let body = vec![
            Stmt::AccInit {
                acc,
                ty: ScalarType::F32,
                init: Const::Scalar(Scalar::F32(0.5)),
            },
            Stmt::Loop {
                id: i,
                extent: 3,
                parallel: false,
                body: outer,
            },
        ];
        let decl = |len, kind| BufferDecl {
            dtype: DType::F32,
            len,
            kind,
        };
        Kernel {
            name: "sample".into(),
            buffers: vec![
                decl(12, BufferKind::Input),
                decl(3, BufferKind::Input),
                decl(12, BufferKind::Output),
            ],
            body,
        }
    }

    fn innermost_lets(body: &[Stmt]) -> usize {
        body.iter()
            .map(|s| match s {
                Stmt::Loop { body, .. } if body.iter().any(|s| matches!(s, Stmt::Loop { .. })) => {
                    innermost_lets(body)
                }
                Stmt::Loop { body, .. } => body
                    .iter()
                    .filter(|s| matches!(s, Stmt::Let { .. }))
                    .count(),
                Stmt::Let { .. }
                | Stmt::Store { .. }
                | Stmt::AccInit { .. }
                | Stmt::AccSet { .. } => 0,
            })
            .sum()
    }

    #[test]
    fn hoisting_keeps_results_and_empties_the_inner_loop() {
        let k = sample();
        let h = hoist(&k);
        // b[i] * 3, the constant and the accumulator read (set in the i
        // loop, not in j) leave the j loop: only the load of a and the fma
        // stay.
        assert_eq!(innermost_lets(&k.body), 6);
        assert_eq!(innermost_lets(&h.body), 2);
        let inputs = || {
            vec![
                Data::F32((0..12).map(|x| x as f32 * 0.25 - 1.0).collect()),
                Data::F32(vec![1.0, -2.0, 0.5]),
                Data::F32(vec![7.0; 12]),
            ]
        };
        let (mut want, mut got) = (inputs(), inputs());
        run_kernel(&k, &mut want).expect("original runs");
        run_kernel(&h, &mut got).expect("hoisted runs");
        assert_eq!(want, got);
    }
}
