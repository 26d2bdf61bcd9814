//! The frame of the generated function: argument-block access, base
//! pointers in general-purpose registers, accumulators, the masked loop
//! over 16-lane passes and the epilogue; plus the operand helpers the
//! per-operation lowering (`lower`) uses.
//!
//! Register conventions of the generated code:
//!
//! - `rdi`: the argument block; `rax`: the index `i` of the first lane of
//!   the pass; `rdx`: `count`; `r10`, `r11`: scratch;
//! - base pointers 0..10 in `rcx, rsi, r8, r9, rbx, rbp, r12..r15` (the
//!   callee-saved ones pushed and popped), later ones reloaded into `r11`
//!   at each access;
//! - `k1`: the mask of the pass's active lanes; `k2`, `k3`: scratch masks
//!   inside one operation; `k4`–`k7`: bools kept in mask registers (see
//!   `regalloc::Liveness::k_only`), in rotation;
//! - `zmm30`, `zmm31`: scratch inside one operation (broadcasts of
//!   scalars and constants an instruction cannot take from memory); then
//!   one register per accumulator, from `zmm29` down; then the scalars
//!   hoisted out of the loop (see [`emit`]); the rest hold values.

use iced_x86::code_asm::*;
use iced_x86::IcedError;

use super::regalloc::{def, operands, Liveness, Pool};
use super::{Op, Operand, ReduceOp, Vreg, WideCode, WideLoop};
use crate::kernel::ScalarType;

/// Why a loop is not lowered (the caller keeps the 128-bit path).
#[derive(Debug)]
pub(super) struct NoLower;

impl From<IcedError> for NoLower {
    fn from(_: IcedError) -> NoLower {
        NoLower
    }
}

/// Result of a lowering step.
pub(super) type R<T> = Result<T, NoLower>;

/// Fails the lowering.
pub(super) fn no<T>() -> R<T> {
    Err(NoLower)
}

/// A source operand: a register, or a 32-bit memory operand broadcast to
/// all lanes (EVEX embedded broadcast).
#[derive(Clone, Copy)]
pub(super) enum Src {
    /// A zmm register.
    R(AsmRegisterZmm),
    /// `dword_bcst [rdi + disp]`: a slot of the argument block.
    M(i32),
}

/// Calls `a.$m(args..., last [, imm])` with `last` a [`Src`], either form.
macro_rules! rm {
    ($a:expr, $m:ident($($x:expr),* ; $s:expr $(; $imm:expr)?)) => {
        match $s {
            Src::R(r) => $a.$m($($x,)* r $(, $imm)?),
            Src::M(d) => $a.$m($($x,)* dword_bcst(rdi + d) $(, $imm)?),
        }
    };
}
pub(super) use rm;

/// The zmm registers by number.
pub(super) const ZMM: [AsmRegisterZmm; 32] = [
    zmm0, zmm1, zmm2, zmm3, zmm4, zmm5, zmm6, zmm7, zmm8, zmm9, zmm10, zmm11, zmm12, zmm13, zmm14,
    zmm15, zmm16, zmm17, zmm18, zmm19, zmm20, zmm21, zmm22, zmm23, zmm24, zmm25, zmm26, zmm27,
    zmm28, zmm29, zmm30, zmm31,
];
/// The mask registers by number.
pub(super) const K: [AsmRegisterK; 8] = [k0, k1, k2, k3, k4, k5, k6, k7];
/// Scratch zmm registers (within one operation).
const SCRATCH: [u8; 2] = [30, 31];
/// Registers holding base pointers 0..10.
const PTR_REGS: [AsmRegister64; 10] = [rcx, rsi, r8, r9, rbx, rbp, r12, r13, r14, r15];
/// The callee-saved registers among [`PTR_REGS`] (pushed when used).
const CALLEE_SAVED: [AsmRegister64; 6] = [rbx, rbp, r12, r13, r14, r15];

/// `r` write-masked by `k` (1..=7; anything else is a bug).
pub(super) fn masked(r: AsmRegisterZmm, k: u8) -> AsmRegisterZmm {
    debug_assert!((1..=7).contains(&k));
    match k {
        1 => r.k1(),
        2 => r.k2(),
        3 => r.k3(),
        4 => r.k4(),
        5 => r.k5(),
        6 => r.k6(),
        _ => r.k7(),
    }
}

/// Lowers `l` (see the module docs of [`super`]), or `None`.
///
/// Two passes when registers are left over: the first finds how many
/// value registers the body needs at most; the second keeps the most used
/// scalars broadcast in the spare registers for the whole loop (instead of
/// a broadcast load at every use).
pub(crate) fn emit(l: &WideLoop) -> Option<WideCode> {
    let (code, peak) = Gen::new(l, &[]).ok()?.build().ok()?;
    let spare = usize::from(value_registers(l)?.saturating_sub(peak));
    let hoist = most_used_scalars(l, spare);
    if hoist.is_empty() {
        return Some(code);
    }
    match Gen::new(l, &hoist).ok()?.build() {
        Ok((hoisted, _)) => Some(hoisted),
        Err(NoLower) => Some(code),
    }
}

/// Registers for values (and hoisted scalars): all but the two scratch
/// registers and one per accumulator; `None` past 8 accumulators.
fn value_registers(l: &WideLoop) -> Option<u8> {
    let n_acc = u8::try_from(l.accs.len()).ok()?;
    (n_acc <= 8).then(|| 30 - n_acc)
}

/// Up to `n` scalars, the most used first (ties: lower index first).
fn most_used_scalars(l: &WideLoop, n: usize) -> Vec<u32> {
    let mut uses = vec![0usize; l.scalars as usize];
    for op in &l.ops {
        for o in operands(op) {
            if let Operand::Scalar(s) = o {
                if let Some(u) = uses.get_mut(s as usize) {
                    *u += 1;
                }
            }
        }
    }
    let mut order: Vec<u32> = (0..l.scalars).filter(|&s| uses[s as usize] > 0).collect();
    order.sort_by_key(|&s| std::cmp::Reverse(uses[s as usize]));
    order.truncate(n);
    order
}

/// The code generator's state.
pub(super) struct Gen<'l> {
    /// The assembler.
    pub a: CodeAssembler,
    l: &'l WideLoop,
    live: Liveness,
    pool: Pool,
    /// Constant bits, in slot order after the scalars.
    consts: Vec<u32>,
    scratch_used: usize,
    /// Bools held in mask registers: value and mask register.
    kcache: Vec<(Vreg, u8)>,
    next_k: u8,
    /// The register of each accumulator.
    accs: Vec<u8>,
    /// Scalars broadcast once before the loop, and their registers.
    hoisted: Vec<(u32, u8)>,
    /// Index of the operation being lowered.
    at: usize,
}

impl<'l> Gen<'l> {
    /// A generator for `l`: accumulators in `zmm29` down, the `hoist`ed
    /// scalars below them, values below those.
    fn new(l: &'l WideLoop, hoist: &[u32]) -> R<Gen<'l>> {
        let n_acc = u8::try_from(l.accs.len()).map_err(|_| NoLower)?;
        let values = value_registers(l).ok_or(NoLower)?;
        let n_hoist = u8::try_from(hoist.len()).map_err(|_| NoLower)?;
        let values = values.checked_sub(n_hoist).ok_or(NoLower)?;
        let accs = (0..n_acc).map(|j| 29 - j).collect();
        let hoisted = hoist.iter().copied().zip(values..).collect();
        Ok(Gen {
            a: CodeAssembler::new(64)?,
            l,
            live: Liveness::new(&l.ops),
            pool: Pool::new(values),
            consts: Vec::new(),
            scratch_used: 0,
            kcache: Vec::new(),
            next_k: 0,
            accs,
            hoisted,
            at: 0,
        })
    }

    /// Emits the whole function; also returns the most value registers
    /// live at once.
    fn build(mut self) -> R<(WideCode, u8)> {
        let l = self.l;
        let n_ptr_regs = (l.ptrs as usize).min(PTR_REGS.len());
        let saved: Vec<AsmRegister64> = CALLEE_SAVED
            .iter()
            .copied()
            .filter(|r| PTR_REGS[..n_ptr_regs].contains(r))
            .collect();
        for &r in &saved {
            self.a.push(r)?;
        }
        self.a.mov(rdx, qword_ptr(rdi))?;
        for (p, &r) in PTR_REGS[..n_ptr_regs].iter().enumerate() {
            self.a.mov(r, qword_ptr(rdi + slot_disp(1 + p as u32)?))?;
        }
        for (j, &(op, ty)) in l.accs.iter().enumerate() {
            let id = identity(op, ty)?;
            self.a.mov(r10d, id)?;
            self.a.vpbroadcastd(ZMM[self.accs[j] as usize], r10d)?;
        }
        for &(s, r) in &self.hoisted {
            let at = dword_ptr(rdi + slot_disp(self.scalar_slot(s)?)?);
            self.a.vbroadcastss(ZMM[r as usize], at)?;
        }
        let mut top = self.a.create_label();
        let mut end = self.a.create_label();
        self.a.xor(eax, eax)?;
        self.a.test(rdx, rdx)?;
        self.a.jle(end)?;
        self.a.set_label(&mut top)?;
        // k1 = lanes i..min(i + 16, count).
        self.a.mov(r10, rdx)?;
        self.a.sub(r10, rax)?;
        self.a.mov(r11d, 16)?;
        self.a.cmp(r10, r11)?;
        self.a.cmovg(r10, r11)?;
        self.a.mov(r11d, 0xFFFF)?;
        self.a.bzhi(r11d, r11d, r10d)?;
        self.a.kmovw(k1, r11d)?;
        for (i, op) in l.ops.iter().enumerate() {
            if self.live.live[i] {
                self.at = i;
                self.scratch_used = 0;
                self.op(op)?;
                self.release_dead(op);
            }
        }
        self.a.add(rax, 16)?;
        self.a.cmp(rax, rdx)?;
        self.a.jl(top)?;
        self.a.set_label(&mut end)?;
        let first_acc = self.const_base() + self.consts.len() as u32;
        let acc_slots: Vec<u32> = (0..l.accs.len() as u32)
            .map(|j| first_acc + 8 * j)
            .collect();
        for (j, &s) in acc_slots.iter().enumerate() {
            let at = zmmword_ptr(rdi + slot_disp(s)?);
            self.a.vmovups(at, ZMM[self.accs[j] as usize])?;
        }
        self.a.vzeroupper()?;
        for &r in saved.iter().rev() {
            self.a.pop(r)?;
        }
        self.a.ret()?;
        let bytes = self.a.assemble(0)?;
        let base = self.const_base();
        let code = WideCode {
            bytes,
            slots: first_acc + 8 * l.accs.len() as u32,
            consts: (base..).zip(self.consts.iter().copied()).collect(),
            acc_slots,
        };
        Ok((code, self.pool.peak()))
    }

    /// Frees the registers of the values whose last use is this operation
    /// (and of a value defined here but never used).
    fn release_dead(&mut self, op: &Op) {
        for o in operands(op) {
            if let Operand::Value(v) = o {
                if self.live.last_use.get(&v) == Some(&self.at) {
                    self.pool.release(v);
                }
            }
        }
        if let Some(d) = def(op) {
            if !self.live.last_use.contains_key(&d) {
                self.pool.release(d);
            }
        }
    }

    /// The first constant slot (after the scalars).
    fn const_base(&self) -> u32 {
        1 + self.l.ptrs + self.l.scalars
    }

    /// The memory operand of the current pass's 16 elements of pointer
    /// `p`.
    pub(super) fn elems(&mut self, p: u32) -> R<AsmMemoryOperand> {
        if p >= self.l.ptrs {
            return no();
        }
        if let Some(&r) = PTR_REGS.get(p as usize) {
            return Ok(zmmword_ptr(r + rax * 4));
        }
        self.a.mov(r11, qword_ptr(rdi + slot_disp(1 + p)?))?;
        Ok(zmmword_ptr(r11 + rax * 4))
    }

    /// The bits of scalar `s` when they are known when compiling.
    pub(super) fn known_scalar(&self, s: u32) -> Option<u32> {
        self.l.known.get(s as usize).copied().flatten()
    }

    /// The slot of scalar `s`.
    fn scalar_slot(&self, s: u32) -> R<u32> {
        if s >= self.l.scalars {
            return no();
        }
        Ok(1 + self.l.ptrs + s)
    }

    /// A broadcast memory operand holding constant `bits`.
    pub(super) fn cst(&mut self, bits: u32) -> R<Src> {
        let i = match self.consts.iter().position(|&b| b == bits) {
            Some(i) => i,
            None => {
                self.consts.push(bits);
                self.consts.len() - 1
            }
        };
        let slot = self.const_base() + i as u32;
        Ok(Src::M(slot_disp(slot)?))
    }

    /// Constant `bits` in a scratch register.
    pub(super) fn cst_reg(&mut self, bits: u32) -> R<AsmRegisterZmm> {
        let c = self.cst(bits)?;
        self.broadcast(c)
    }

    /// A scratch register, free until the end of this operation.
    pub(super) fn scratch(&mut self) -> R<AsmRegisterZmm> {
        let r = *SCRATCH.get(self.scratch_used).ok_or(NoLower)?;
        self.scratch_used += 1;
        Ok(ZMM[r as usize])
    }

    /// Operand `o` as a source: its register, or a broadcast of the scalar
    /// from the argument block.
    pub(super) fn src(&mut self, o: Operand) -> R<Src> {
        match o {
            Operand::Value(v) => Ok(Src::R(self.value_reg(v)?)),
            Operand::Scalar(s) => {
                if let Some(&(_, r)) = self.hoisted.iter().find(|(h, _)| *h == s) {
                    return Ok(Src::R(ZMM[r as usize]));
                }
                let slot = self.scalar_slot(s)?;
                Ok(Src::M(slot_disp(slot)?))
            }
        }
    }

    /// Operand `o` in a register (a scalar is broadcast into a scratch).
    pub(super) fn reg(&mut self, o: Operand) -> R<AsmRegisterZmm> {
        let s = self.src(o)?;
        self.broadcast(s)
    }

    /// `s` in a register: itself, or broadcast into a scratch register.
    pub(super) fn broadcast(&mut self, s: Src) -> R<AsmRegisterZmm> {
        match s {
            Src::R(r) => Ok(r),
            Src::M(d) => {
                let z = self.scratch()?;
                self.a.vbroadcastss(z, dword_ptr(rdi + d))?;
                Ok(z)
            }
        }
    }

    /// The register holding value `v` (a bool only in a mask register is
    /// materialised first).
    fn value_reg(&mut self, v: Vreg) -> R<AsmRegisterZmm> {
        if let Some(r) = self.pool.get(v) {
            return Ok(ZMM[r as usize]);
        }
        no()
    }

    /// A fresh register for the value `v` defined here.
    pub(super) fn dst(&mut self, v: Vreg) -> R<AsmRegisterZmm> {
        let r = self.pool.alloc(v).ok_or(NoLower)?;
        Ok(ZMM[r as usize])
    }

    /// The register of `o` for `v` to overwrite in place when this is
    /// `o`'s last use, else `None`.
    pub(super) fn steal(&mut self, v: Vreg, o: Operand) -> Option<AsmRegisterZmm> {
        let Operand::Value(x) = o else { return None };
        if self.live.last_use.get(&x) != Some(&self.at) {
            return None;
        }
        self.pool.transfer(x, v).map(|r| ZMM[r as usize])
    }

    /// `v = o` (a copy, or the same register when `o` dies here).
    pub(super) fn copy(&mut self, v: Vreg, o: Operand) -> R<()> {
        if self.steal(v, o).is_some() {
            return Ok(());
        }
        let d = self.dst(v)?;
        match self.src(o)? {
            Src::R(r) => self.a.vmovdqa32(d, r)?,
            Src::M(m) => self.a.vpbroadcastd(d, dword_ptr(rdi + m))?,
        }
        Ok(())
    }

    /// The mask register to compute bool `v` into; [`Gen::bool_done`]
    /// completes it.
    pub(super) fn bool_k(&mut self, v: Vreg) -> u8 {
        if self.live.k_only.contains(&v) {
            let k = 4 + self.next_k;
            self.next_k = (self.next_k + 1) % 4;
            k
        } else {
            2
        }
    }

    /// Records bool `v`, computed into mask register `k` (from
    /// [`Gen::bool_k`]): kept there, or expanded into all-ones lanes.
    pub(super) fn bool_done(&mut self, v: Vreg, k: u8) -> R<()> {
        if k >= 4 {
            self.kcache.retain(|&(_, kk)| kk != k);
            self.kcache.push((v, k));
            return Ok(());
        }
        let d = self.dst(v)?;
        self.a.vpmovm2d(d, K[k as usize])?;
        Ok(())
    }

    /// A mask register holding bool operand `o`.
    pub(super) fn cond_k(&mut self, o: Operand) -> R<u8> {
        if let Operand::Value(v) = o {
            if let Some(&(_, k)) = self.kcache.iter().find(|(x, _)| *x == v) {
                return Ok(k);
            }
        }
        let r = self.reg(o)?;
        self.a.vpmovd2m(k2, r)?;
        Ok(2)
    }

    /// `acc op= x` on the active lanes.
    pub(super) fn reduce(&mut self, acc: u32, x: Operand) -> R<()> {
        let &(op, ty) = self.l.accs.get(acc as usize).ok_or(NoLower)?;
        let z = ZMM[self.accs[acc as usize] as usize];
        let x = self.src(x)?;
        let zk = z.k1();
        let a = &mut self.a;
        match (op, ty) {
            (ReduceOp::Sum, ScalarType::F32) => rm!(a, vaddps(zk, z; x))?,
            (ReduceOp::Prod, ScalarType::F32) => rm!(a, vmulps(zk, z; x))?,
            (ReduceOp::Max | ReduceOp::Min, ScalarType::F32) => {
                let imm = if op == ReduceOp::Max {
                    RANGE_MAX
                } else {
                    RANGE_MIN
                };
                // k2: active lanes where either is NaN (they become
                // NaN); k3: the other active lanes.
                rm!(a, vcmpps(k2, z; x; CMP_UNORD_Q))?;
                a.kandw(k2, k2, k1)?;
                a.kandnw(k3, k2, k1)?;
                rm!(a, vaddps(z.k2(), z; x))?;
                rm!(a, vrangeps(z.k3(), z; x; imm))?;
            }
            (ReduceOp::Sum, ScalarType::I32 | ScalarType::U32) => rm!(a, vpaddd(zk, z; x))?,
            (ReduceOp::Prod, ScalarType::I32 | ScalarType::U32) => rm!(a, vpmulld(zk, z; x))?,
            (ReduceOp::Max, ScalarType::I32) => rm!(a, vpmaxsd(zk, z; x))?,
            (ReduceOp::Min, ScalarType::I32) => rm!(a, vpminsd(zk, z; x))?,
            (ReduceOp::Max, ScalarType::U32) => rm!(a, vpmaxud(zk, z; x))?,
            (ReduceOp::Min, ScalarType::U32) => rm!(a, vpminud(zk, z; x))?,
            (
                ReduceOp::Sum | ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min,
                ScalarType::F64 | ScalarType::Bool | ScalarType::Index,
            ) => return no(),
        }
        Ok(())
    }
}

/// `vrangeps` immediates: maximum / minimum, sign from the comparison
/// (`max(-0, +0) = +0`, `min(-0, +0) = -0`; but a NaN operand does not
/// make the result NaN, so the lanes where either is NaN are fixed up
/// with `x + y`).
pub(super) const RANGE_MAX: i32 = 0b0101;
/// See [`RANGE_MAX`].
pub(super) const RANGE_MIN: i32 = 0b0100;
/// `vcmpps` predicate: unordered (either operand NaN).
pub(super) const CMP_UNORD_Q: i32 = 0x03;

/// Byte displacement of slot `s`.
fn slot_disp(s: u32) -> R<i32> {
    i32::try_from(u64::from(s) * 8).map_err(|_| NoLower)
}

/// The identity of a reduction, as lane bits.
fn identity(op: ReduceOp, ty: ScalarType) -> R<u32> {
    Ok(match (op, ty) {
        (ReduceOp::Sum, ScalarType::F32) => (-0.0f32).to_bits(),
        (ReduceOp::Prod, ScalarType::F32) => 1.0f32.to_bits(),
        (ReduceOp::Max, ScalarType::F32) => f32::NEG_INFINITY.to_bits(),
        (ReduceOp::Min, ScalarType::F32) => f32::INFINITY.to_bits(),
        (ReduceOp::Sum, ScalarType::I32 | ScalarType::U32) => 0,
        (ReduceOp::Prod, ScalarType::I32 | ScalarType::U32) => 1,
        (ReduceOp::Max, ScalarType::I32) => i32::MIN as u32,
        (ReduceOp::Min, ScalarType::I32) => i32::MAX as u32,
        (ReduceOp::Max, ScalarType::U32) => 0,
        (ReduceOp::Min, ScalarType::U32) => u32::MAX,
        (
            ReduceOp::Sum | ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min,
            ScalarType::F64 | ScalarType::Bool | ScalarType::Index,
        ) => return no(),
    })
}
