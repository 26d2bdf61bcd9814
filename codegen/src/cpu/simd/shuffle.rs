//! Byte shuffles in the vectorised loops of [`super`]:
//!
//! - *byte rotations*: `Or(Shl(x, p), ShrLogical(x, q))` on 32-bit lanes
//!   with constant `p + q = 32` and `p` a multiple of 8 is a rotation of
//!   each lane's bytes: one `pshufb` instead of two shifts and an or
//!   (ChaCha20's rotations by 16 and 8);
//! - *transposed stores*: `lanes` strided stores to one buffer at
//!   consecutive offsets `o, o+1, ..` (coefficient `c`, `|c| >= lanes`)
//!   store, for each lane `j`, `lanes` consecutive elements at
//!   `c·(i+j) + o`. Transposing the `lanes × lanes` block of their vectors
//!   (interleaves, `punpck*`) turns the `lanes²` lane stores of a scatter
//!   into `lanes` vector stores. The group is stored where its last member
//!   was, so it applies only to buffers the loop does not load (a load
//!   between two members could otherwise miss the earlier one's value).

use std::collections::{HashMap, HashSet};

use cranelift_codegen::ir::{
    types, ConstantData, InstBuilder, InstructionData, Opcode, Value, ValueDef,
};

use super::ops::vector_flags;
use super::VectorPlan;
use crate::cpu::translate::{mem_flags, without_term, KernelTranslator};
use crate::kernel::{BinaryOp, BufId, Expr, Index, LoopId, Stmt, ValueId};

/// A rotation candidate: the value `x` and the `Shl` and `ShrLogical`
/// amounts (checked to be constants when emitting).
#[derive(Clone, Copy, Debug)]
pub(super) struct Rotate {
    pub(super) x: ValueId,
    left: ValueId,
    right: ValueId,
}

/// The `Or`s of `body` whose operands are `Shl(x, p)` and
/// `ShrLogical(x, q)` of the same `x`, both defined in `body`.
pub(super) fn rotations(body: &[Stmt]) -> HashMap<ValueId, Rotate> {
    let mut shifts = HashMap::new();
    let mut found = HashMap::new();
    for s in body {
        let Stmt::Let { value, expr, .. } = s else {
            continue;
        };
        match expr {
            Expr::Binary(op @ (BinaryOp::Shl | BinaryOp::ShrLogical), x, amount) => {
                shifts.insert(*value, (*op == BinaryOp::Shl, *x, *amount));
            }
            Expr::Binary(BinaryOp::Or, a, b) => {
                let pair = shifts.get(a).zip(shifts.get(b));
                if let Some((&(la, xa, pa), &(lb, xb, pb))) = pair {
                    if la != lb && xa == xb {
                        let (left, right) = if la { (pa, pb) } else { (pb, pa) };
                        found.insert(*value, Rotate { x: xa, left, right });
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// Groups of store statements (positions in `body`) to store transposed:
/// keyed by the position of the group's last statement, members in offset
/// order. `loaded` are the buffers the loop loads; `lanes` the vector
/// width. Assumes the stores already passed `independent_stores`.
pub(super) fn store_groups(
    id: LoopId,
    body: &[Stmt],
    lanes: i64,
    loaded: &HashSet<BufId>,
) -> HashMap<usize, Vec<usize>> {
    let mut by_buf: HashMap<BufId, Vec<(usize, &Index)>> = HashMap::new();
    for (k, s) in body.iter().enumerate() {
        if let Stmt::Store { buf, index, .. } = s {
            by_buf.entry(*buf).or_default().push((k, index));
        }
    }
    let mut groups = HashMap::new();
    for (buf, mut stores) in by_buf {
        let c = stores[0].1.coefficient(id);
        let family = without_term(stores[0].1, id);
        let same = stores.iter().all(|(_, ix)| {
            let f = without_term(ix, id);
            ix.coefficient(id) == c && f.terms == family.terms && f.dynamic == family.dynamic
        });
        if loaded.contains(&buf) || c.abs() < lanes || !same {
            continue;
        }
        stores.sort_by_key(|(_, ix)| ix.offset);
        // Two stores of one element: program order decides which value
        // stays, and moving one of them into a group could reorder them.
        if stores.windows(2).any(|w| w[0].1.offset == w[1].1.offset) {
            continue;
        }
        let mut k = 0;
        while k + lanes as usize <= stores.len() {
            let run = &stores[k..k + lanes as usize];
            let consecutive = run
                .iter()
                .enumerate()
                .all(|(j, (_, ix))| ix.offset == run[0].1.offset + j as i64);
            if consecutive {
                let members: Vec<usize> = run.iter().map(|(pos, _)| *pos).collect();
                let last = members.iter().copied().max().unwrap_or(0);
                groups.insert(last, members);
                k += lanes as usize;
            } else {
                k += 1;
            }
        }
    }
    groups
}

/// Interleave mask of the low (`high = false`) or high halves of two
/// vectors, in elements of `e` bytes.
fn interleave(e: usize, high: bool) -> [u8; 16] {
    let base = if high { 8 } else { 0 };
    let mut m = [0u8; 16];
    for k in 0..8 / e {
        for t in 0..e {
            m[2 * k * e + t] = (base + k * e + t) as u8;
            m[2 * k * e + e + t] = (16 + base + k * e + t) as u8;
        }
    }
    m
}

impl KernelTranslator<'_, '_> {
    /// The integer value of `v` when it is an `iconst`.
    fn iconst_value(&self, v: Value) -> Option<i64> {
        let dfg = &self.b.func.dfg;
        let ValueDef::Result(inst, _) = dfg.value_def(v) else {
            return None;
        };
        match dfg.insts[inst] {
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm,
            } => Some(imm.bits()),
            _ => None,
        }
    }

    /// `shuffle(a, b, mask)` on the bytes of two vectors (of one type).
    fn byte_shuffle(&mut self, a: Value, b: Value, mask: [u8; 16]) -> Value {
        let imm = self
            .b
            .func
            .dfg
            .immediates
            .push(ConstantData::from(mask.to_vec()));
        let a8 = self.b.ins().bitcast(types::I8X16, vector_flags(), a);
        let b8 = if a == b {
            a8
        } else {
            self.b.ins().bitcast(types::I8X16, vector_flags(), b)
        };
        let r = self.b.ins().shuffle(a8, b8, imm);
        let ty = self.b.func.dfg.value_type(a);
        self.b.ins().bitcast(ty, vector_flags(), r)
    }

    /// The rotation `rot` of the 32-bit lanes of `x` as one byte shuffle,
    /// when its amounts are constants summing to 32 and a multiple of 8;
    /// `None` otherwise (emit the shifts and the or).
    pub(super) fn byte_rotate(&mut self, rot: &Rotate, x: Value) -> Option<Value> {
        let left = self.iconst_value(self.val(rot.left).ok()?)? & 0xffff_ffff;
        let right = self.iconst_value(self.val(rot.right).ok()?)? & 0xffff_ffff;
        if left + right != 32 || left % 8 != 0 || left == 0 {
            return None;
        }
        let s = (left / 8) as usize;
        let mut mask = [0u8; 16];
        for (b, m) in mask.iter_mut().enumerate() {
            let (lane, byte) = (b / 4, b % 4);
            *m = (lane * 4 + (byte + 4 - s) % 4) as u8;
        }
        Some(self.byte_shuffle(x, x, mask))
    }

    /// Stores the vectors `vs` (one per member of a store group, in offset
    /// order, copy `u` of the body) transposed: lane `j` of every member,
    /// contiguously, at `addr + (u·lanes + j)·stride`.
    pub(super) fn transposed_store(
        &mut self,
        plan: &VectorPlan,
        vs: &[Value],
        addr: Value,
        u: usize,
        stride: i64,
    ) {
        let mut sh = |x: usize, y: usize, e: usize, high: bool, rows: &[Value]| {
            self.byte_shuffle(rows[x], rows[y], interleave(e, high))
        };
        // 2 lanes: [a0 b0], [a1 b1]. 4 lanes: interleave 32-bit elements
        // ([a0 b0 a1 b1], [c0 d0 c1 d1], [a2 b2 a3 b3], [c2 d2 c3 d3]), then
        // 64-bit halves of those pairs.
        let t: Vec<Value> = if vs.len() == 4 {
            vec![
                sh(0, 1, 4, false, vs),
                sh(2, 3, 4, false, vs),
                sh(0, 1, 4, true, vs),
                sh(2, 3, 4, true, vs),
            ]
        } else {
            vs.to_vec()
        };
        let rows: Vec<Value> = (0..vs.len() / 2)
            .flat_map(|k| [(k, false), (k, true)])
            .map(|(k, high)| sh(2 * k, 2 * k + 1, 8, high, &t))
            .collect();
        for (j, row) in rows.into_iter().enumerate() {
            let off = (u as i64 * plan.lanes + j as i64) * stride;
            let (a, off) = self.lane_address(addr, off);
            self.b.ins().store(mem_flags(), row, a, off);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies a shuffle mask to two vectors of bytes.
    fn apply(a: &[u8; 16], b: &[u8; 16], m: [u8; 16]) -> [u8; 16] {
        m.map(|k| {
            if k < 16 {
                a[k as usize]
            } else {
                b[k as usize - 16]
            }
        })
    }

    #[test]
    fn interleave_masks_are_the_punpck_patterns() {
        let a: [u8; 16] = std::array::from_fn(|k| k as u8);
        let b: [u8; 16] = std::array::from_fn(|k| 100 + k as u8);
        // punpckldq: a0 b0 a1 b1 in 32-bit elements.
        let lo = apply(&a, &b, interleave(4, false));
        assert_eq!(
            lo,
            [0, 1, 2, 3, 100, 101, 102, 103, 4, 5, 6, 7, 104, 105, 106, 107]
        );
        // punpckhqdq: the high 64-bit halves.
        let hi = apply(&a, &b, interleave(8, true));
        assert_eq!(
            hi,
            [8, 9, 10, 11, 12, 13, 14, 15, 108, 109, 110, 111, 112, 113, 114, 115]
        );
    }
}
