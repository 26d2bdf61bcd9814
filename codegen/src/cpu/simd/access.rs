//! Memory accesses and loop-variable values of the vectorised loops of
//! [`super`] that are not plain contiguous vectors:
//!
//! - *strided stores* (coefficient `c ∉ {0, 1}` on the loop): each lane is
//!   extracted and stored at `base + j·c` (a scatter);
//! - *strided loads* (coefficient `c ∉ {0, 1}`): each lane is loaded as a
//!   scalar and inserted (a gather);
//! - *iotas*: `Convert(I32 | U32, LoopVar(L))` becomes `splat(i) + [0, 1,
//!   2, 3]` (plus the unrolled copy's offset), which is what the scalar
//!   loop's truncating `Index -> u32` conversion gives lane by lane.
//!
//! It also holds the rule that keeps the stores of one buffer independent
//! across iterations ([`independent_stores`]).

use std::collections::HashSet;

use cranelift_codegen::ir::{types, ConstantData, InstBuilder, Value};
use rjax_ir::Result;

use super::VectorPlan;
use crate::cpu::env::clif_type;
use crate::cpu::translate::{mem_flags, without_term, KernelTranslator};
use crate::kernel::{BufId, Index, LoopId, ScalarType};

/// Whether the stores `indices` to one buffer in loop `id` touch each
/// element in at most one iteration, so that the iterations may run in any
/// order (lane by lane) without changing the final contents.
///
/// Identical indices are one access (the same element, in the same
/// iteration). Distinct indices must share the loop's coefficient `c`
/// (non-zero), every other term and the dynamic term, and have offsets
/// that differ modulo `|c|`: then `c·i + o = c·i' + o'` forces `o ≡ o'`,
/// hence `o = o'` and `i = i'`.
pub(super) fn independent_stores(id: LoopId, indices: &[&Index]) -> bool {
    let mut distinct: Vec<&Index> = Vec::new();
    for ix in indices {
        if !distinct.contains(ix) {
            distinct.push(ix);
        }
    }
    let Some(first) = distinct.first() else {
        return true;
    };
    let c = first.coefficient(id);
    if c == 0 {
        return false;
    }
    let family = |ix: &Index| Index {
        offset: 0,
        ..without_term(ix, id)
    };
    let base = family(first);
    let mut residues = HashSet::new();
    distinct.iter().all(|ix| {
        ix.coefficient(id) == c
            && family(ix) == base
            && residues.insert(ix.offset.rem_euclid(c.abs()))
    })
}

impl KernelTranslator<'_, '_> {
    /// `addr + off` as an address and a 32-bit immediate offset.
    pub(super) fn lane_address(&mut self, addr: Value, off: i64) -> (Value, i32) {
        match i32::try_from(off) {
            Ok(o) => (addr, o),
            Err(_) => (self.b.ins().iadd_imm_s(addr, off), 0),
        }
    }

    /// Stores the lanes of `v` (copy `u` of the body) at `addr` plus
    /// `(u·lanes + j)·stride` bytes for lane `j`.
    pub(super) fn scatter_store(
        &mut self,
        plan: &VectorPlan,
        v: Value,
        addr: Value,
        u: usize,
        stride: i64,
    ) {
        for j in 0..plan.lanes {
            let x = self.b.ins().extractlane(v, j as u8);
            let (a, off) = self.lane_address(addr, (u as i64 * plan.lanes + j) * stride);
            self.b.ins().store(mem_flags(), x, a, off);
        }
    }

    /// Loads lane `j` of a `ty` vector (copy `u` of the body) from `addr`
    /// plus `(u·lanes + j)·stride` bytes.
    pub(super) fn gather_load(
        &mut self,
        plan: &VectorPlan,
        ty: ScalarType,
        addr: Value,
        u: usize,
        stride: i64,
    ) -> Value {
        let load = |this: &mut Self, j: i64| {
            let (a, off) = this.lane_address(addr, (u as i64 * plan.lanes + j) * stride);
            this.b.ins().load(clif_type(ty), mem_flags(), a, off)
        };
        let x = load(self, 0);
        let mut v = self.b.ins().scalar_to_vector(plan.vtype(ty), x);
        for j in 1..plan.lanes {
            let x = load(self, j);
            v = self.b.ins().insertlane(v, x, j as u8);
        }
        v
    }

    /// The 32-bit iota of loop `id` for copy `u` of the body: lane `j`
    /// holds `(i + u·lanes + j) mod 2^32`, `i` the loop variable.
    pub(super) fn iota(&mut self, plan: &VectorPlan, id: LoopId, u: usize) -> Result<Value> {
        let iv = self.loop_val(id)?;
        let lo = self.b.ins().ireduce(types::I32, iv);
        let base = self.b.ins().splat(types::I32X4, lo);
        let first = u as i64 * plan.lanes;
        let bytes: Vec<u8> = (first..first + plan.lanes)
            .flat_map(|k| (k as u32).to_le_bytes())
            .collect();
        let c = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        let steps = self.b.ins().vconst(types::I32X4, c);
        Ok(self.b.ins().iadd(base, steps))
    }

    /// The address of `buf[index]` and the byte stride of one iteration of
    /// loop `id`.
    pub(super) fn strided_address(
        &mut self,
        buf: BufId,
        index: &Index,
        id: LoopId,
    ) -> Result<(Value, i64)> {
        let addr = self.address(buf, index)?;
        let size = self.elem_size(buf)?;
        Ok((addr, index.coefficient(id) * size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ix(offset: i64, terms: &[(LoopId, i64)]) -> Index {
        Index {
            offset,
            terms: terms.to_vec(),
            dynamic: None,
        }
    }

    #[test]
    fn strided_stores_with_distinct_residues_are_independent() {
        let (l, m) = (LoopId(0), LoopId(1));
        let words: Vec<Index> = (0..16).map(|w| ix(w, &[(m, 64), (l, 16)])).collect();
        let refs: Vec<&Index> = words.iter().collect();
        assert!(independent_stores(l, &refs));
        // Offsets 0 and 16 collide: iteration i+1 rewrites what i stored.
        let (a, b) = (ix(0, &[(l, 16)]), ix(16, &[(l, 16)]));
        assert!(!independent_stores(l, &[&a, &b]));
        // Unit stride: two distinct offsets always collide; identical ones
        // are the same element in the same iteration.
        let (a, b) = (ix(0, &[(l, 1)]), ix(1, &[(l, 1)]));
        assert!(!independent_stores(l, &[&a, &b]));
        assert!(independent_stores(l, &[&a, &a]));
        // A negative stride, and a mismatch in another term or coefficient.
        let (a, b) = (ix(7, &[(l, -2)]), ix(4, &[(l, -2)]));
        assert!(independent_stores(l, &[&a, &b]));
        let (a, b) = (ix(0, &[(l, 2)]), ix(1, &[(l, 2), (m, 1)]));
        assert!(!independent_stores(l, &[&a, &b]));
        let (a, b) = (ix(0, &[(l, 2)]), ix(1, &[(l, 4)]));
        assert!(!independent_stores(l, &[&a, &b]));
        // Coefficient 0: every iteration stores the same element.
        let a = ix(0, &[(m, 3)]);
        assert!(!independent_stores(l, &[&a]));
    }
}
