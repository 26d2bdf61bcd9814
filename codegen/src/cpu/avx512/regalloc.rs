//! Liveness and zmm register assignment for the AVX-512 loop body.
//!
//! The body is straight-line SSA, so a single backward pass finds the dead
//! operations (values no store or reduction needs) and a forward linear
//! scan assigns registers: a value gets a free register when defined and
//! gives it back after its last use (or may hand it to the value its last
//! use defines, for in-place instruction forms). There is no spilling: when
//! no register is free, the loop is not lowered.

use std::collections::{HashMap, HashSet};

use super::{Op, Operand, Vreg};

/// The vector values an operation reads (with repetitions).
pub(super) fn operands(op: &Op) -> Vec<Operand> {
    match op {
        Op::Load { .. } => vec![],
        Op::Store { src, .. } => vec![*src],
        Op::Unary { x, .. } | Op::Convert { x, .. } | Op::Bitcast { x, .. } => vec![*x],
        Op::Reduce { x, .. } => vec![*x],
        Op::Binary { x, y, .. } => vec![*x, *y],
        Op::Fma { a, b, c, .. } => vec![*a, *b, *c],
        Op::Select {
            cond,
            on_true,
            on_false,
            ..
        } => vec![*cond, *on_true, *on_false],
    }
}

/// The value an operation defines.
pub(super) fn def(op: &Op) -> Option<Vreg> {
    match op {
        Op::Load { dst, .. }
        | Op::Unary { dst, .. }
        | Op::Binary { dst, .. }
        | Op::Fma { dst, .. }
        | Op::Select { dst, .. }
        | Op::Convert { dst, .. }
        | Op::Bitcast { dst, .. } => Some(*dst),
        Op::Store { .. } | Op::Reduce { .. } => None,
    }
}

/// How many later operations a bool may be used in and still be read
/// from the mask register it was computed into: the rotating mask
/// registers (k4–k7) are reused after four bool definitions, and each
/// operation defines at most one.
const K_WINDOW: usize = 3;

/// What the backward pass finds.
pub(super) struct Liveness {
    /// Whether each operation is needed.
    pub live: Vec<bool>,
    /// Index of the last operation reading each value.
    pub last_use: HashMap<Vreg, usize>,
    /// Bools used only as `Select` conditions, all within [`K_WINDOW`]
    /// operations of their definition: they stay in mask registers and
    /// never take a zmm register.
    pub k_only: HashSet<Vreg>,
}

impl Liveness {
    /// Liveness of `ops`.
    pub fn new(ops: &[Op]) -> Liveness {
        let mut needed: HashSet<Vreg> = HashSet::new();
        let mut live = vec![false; ops.len()];
        for (i, op) in ops.iter().enumerate().rev() {
            let keep = match def(op) {
                Some(d) => needed.contains(&d),
                None => true,
            };
            if keep {
                live[i] = true;
                for o in operands(op) {
                    if let Operand::Value(v) = o {
                        needed.insert(v);
                    }
                }
            }
        }
        let mut last_use = HashMap::new();
        let mut def_at = HashMap::new();
        let mut cond_only: HashMap<Vreg, bool> = HashMap::new();
        for (i, op) in ops.iter().enumerate().filter(|(i, _)| live[*i]) {
            if let Some(d) = def(op) {
                def_at.insert(d, i);
            }
            for o in operands(op) {
                if let Operand::Value(v) = o {
                    last_use.insert(v, i);
                }
            }
            // A use other than as a select condition needs the zmm form.
            let (conds, others): (Vec<Operand>, Vec<Operand>) = match op {
                Op::Select {
                    cond,
                    on_true,
                    on_false,
                    ..
                } => (vec![*cond], vec![*on_true, *on_false]),
                Op::Load { .. }
                | Op::Store { .. }
                | Op::Unary { .. }
                | Op::Binary { .. }
                | Op::Fma { .. }
                | Op::Convert { .. }
                | Op::Bitcast { .. }
                | Op::Reduce { .. } => (vec![], operands(op)),
            };
            for o in others {
                if let Operand::Value(v) = o {
                    cond_only.insert(v, false);
                }
            }
            for o in conds {
                if let Operand::Value(v) = o {
                    let near = def_at.get(&v).is_some_and(|&p| i <= p + K_WINDOW);
                    let e = cond_only.entry(v).or_insert(true);
                    *e = *e && near;
                }
            }
        }
        let k_only = cond_only
            .into_iter()
            .filter_map(|(v, ok)| ok.then_some(v))
            .collect();
        Liveness {
            live,
            last_use,
            k_only,
        }
    }
}

/// The free zmm registers and the register of each value.
pub(super) struct Pool {
    free: Vec<u8>,
    of: HashMap<Vreg, u8>,
    size: u8,
    peak: u8,
}

impl Pool {
    /// A pool of registers `0..n`.
    pub fn new(n: u8) -> Pool {
        Pool {
            free: (0..n).rev().collect(),
            of: HashMap::new(),
            size: n,
            peak: 0,
        }
    }

    /// A free register for `v`, or `None` when all are taken.
    pub fn alloc(&mut self, v: Vreg) -> Option<u8> {
        let r = self.free.pop()?;
        self.of.insert(v, r);
        self.peak = self.peak.max(self.size - self.free.len() as u8);
        Some(r)
    }

    /// The most registers taken at once so far.
    pub fn peak(&self) -> u8 {
        self.peak
    }

    /// The register holding `v`.
    pub fn get(&self, v: Vreg) -> Option<u8> {
        self.of.get(&v).copied()
    }

    /// Frees `v`'s register (if it still has one).
    pub fn release(&mut self, v: Vreg) {
        if let Some(r) = self.of.remove(&v) {
            self.free.push(r);
        }
    }

    /// Moves `from`'s register to `to` (`from` is dead afterwards).
    pub fn transfer(&mut self, from: Vreg, to: Vreg) -> Option<u8> {
        let r = self.of.remove(&from)?;
        self.of.insert(to, r);
        Some(r)
    }
}
