//! Kernels of their own: `cumsum` (a sequential accumulator loop),
//! `scatter` (a copy, then a sequential update loop), `dynamic_update_slice`
//! (a copy, then a block store) and `random_bits` (ChaCha20 blocks computed
//! in the kernel). Their operands are fused index functions.

use super::emit::{Coord, Ctx, Emitter};
use super::{internal, Fallible};
use crate::kernel::{BinaryOp, Const, Index, ScalarType, ValueId};
use crate::lower::{lowering, Lowering};
use crate::program::Step;
use rjax_ir::{Atom, Error, Scalar, ScatterKind, Var};

/// Emits the kernel of equation `i` as program step `step`.
pub(super) fn emit(cx: &Ctx<'_>, i: usize, step: usize) -> Fallible<Step> {
    use Lowering as L;
    let eqn = &cx.g.jaxpr.eqns[i];
    let v = eqn.outputs[0];
    let mut em = Emitter::new(cx);
    em.root = Some(v);
    em.local.insert(v);
    let ins = &eqn.inputs;
    match lowering(&eqn.prim)? {
        L::Cumsum { axis, reverse } => cumsum(&mut em, v, &ins[0], axis, reverse)?,
        L::Scatter { axis, kind } => scatter(&mut em, v, ins, axis, kind)?,
        L::DynamicUpdateSlice => dynamic_update_slice(&mut em, v, ins)?,
        L::RandomBits => random_bits(&mut em, v, &ins[0])?,
        L::Unary(_)
        | L::Binary(_)
        | L::Select
        | L::Convert(_)
        | L::Identity
        | L::Broadcast { .. }
        | L::Reshape
        | L::Transpose { .. }
        | L::Reduce { .. }
        | L::ArgReduce { .. }
        | L::Dot(_)
        | L::Slice { .. }
        | L::Pad { .. }
        | L::Concatenate { .. }
        | L::Rev { .. }
        | L::DynamicSlice
        | L::Gather { .. }
        | L::Iota { .. }
        | L::Inline(_)
        | L::Control => return Err(internal("not a special kernel").into()),
    }
    let (kernel, args) = em.finish(format!("k{step}_{}", eqn.prim.name()));
    Ok(Step::Kernel { kernel, args })
}

/// Copies `x` into the buffer of `v` with a parallel loop nest.
fn copy(em: &mut Emitter<'_>, v: Var, x: &Atom) -> Fallible<()> {
    let aval = em.cx.g.aval(v).clone();
    let buf = em.output_of(v);
    let (c, opened) = em.nest(&aval.shape, true);
    let e = em.eval_atom(x, &c)?;
    em.store(buf, &aval.shape, &c, e);
    em.end_nest(opened);
    Ok(())
}

/// `cumsum` along `axis`: the other dimensions outside (the outermost in
/// parallel), the axis innermost with an accumulator.
fn cumsum(em: &mut Emitter<'_>, v: Var, x: &Atom, axis: usize, reverse: bool) -> Fallible<()> {
    let aval = em.cx.g.aval(v).clone();
    let ty = ScalarType::of(aval.dtype);
    let buf = em.output_of(v);
    let len = aval.shape[axis];
    let mut outer = aval.shape.to_vec();
    outer[axis] = 1;
    let (mut c, opened) = em.nest(&outer, true);
    let acc = em.acc_init(ty, Const::Scalar(Scalar::zero(aval.dtype)));
    let inner = usize::from(len != 1);
    if len != 1 {
        let l = em.begin_loop(len, false);
        c[axis] = Coord::Lin(if reverse {
            Index {
                offset: len as i64 - 1,
                terms: vec![(l, -1)],
                dynamic: None,
            }
        } else {
            Index {
                offset: 0,
                terms: vec![(l, 1)],
                dynamic: None,
            }
        });
    }
    let e = em.eval_atom(x, &c)?;
    let cur = em.acc_read(acc, ty);
    let next = em.bin(ty, BinaryOp::Add, cur, e);
    em.acc_set(acc, next);
    em.store(buf, &aval.shape, &c, next);
    em.end_nest(inner + opened);
    Ok(())
}

/// `scatter`: a copy of the operand, then the updates in row-major order,
/// each combined into its target; an out-of-range index rewrites the
/// clamped target with its own value.
fn scatter(
    em: &mut Emitter<'_>,
    v: Var,
    ins: &[Atom],
    axis: usize,
    kind: ScatterKind,
) -> Fallible<()> {
    let g = em.cx.g;
    let aval = g.aval(v).clone();
    let (us, ri) = (g.atom_aval(&ins[2]).shape, g.atom_aval(&ins[1]).rank());
    copy(em, v, &ins[0])?;
    let size = aval.shape[axis] as i64;
    if size == 0 || us.contains(&0) {
        return Ok(());
    }
    let ty = ScalarType::of(aval.dtype);
    let buf = em.output_of(v);
    let (c, opened) = em.nest(&us, false);
    let k = em.eval_atom(&ins[1], &c[axis..axis + ri])?;
    let k = em.index_of(k);
    let (zero, n) = (em.index_const(0), em.index_const(size));
    let (ge, lt) = (em.cmp(BinaryOp::Ge, k, zero), em.cmp(BinaryOp::Lt, k, n));
    let inside = em.bin(ScalarType::Bool, BinaryOp::And, ge, lt);
    let t = em.clamp(k, 0, size - 1);
    let mut target: Vec<Coord> = c[..axis].to_vec();
    target.push(Coord::of_value(t));
    target.extend_from_slice(&c[axis + ri..]);
    let old = em.load(buf, aval.dtype, &aval.shape, &target);
    let u = em.eval_atom(&ins[2], &c)?;
    let new = match kind {
        ScatterKind::Set => u,
        ScatterKind::Add => em.bin(ty, BinaryOp::Add, old, u),
        ScatterKind::Mul => em.bin(ty, BinaryOp::Mul, old, u),
        ScatterKind::Min => em.bin(ty, BinaryOp::Min, old, u),
        ScatterKind::Max => em.bin(ty, BinaryOp::Max, old, u),
    };
    let value = em.select(inside, new, old);
    em.store(buf, &aval.shape, &target, value);
    em.end_nest(opened);
    Ok(())
}

/// `dynamic_update_slice`: a copy of the operand, then the update stored
/// at the clamped start indices.
fn dynamic_update_slice(em: &mut Emitter<'_>, v: Var, ins: &[Atom]) -> Fallible<()> {
    let g = em.cx.g;
    let aval = g.aval(v).clone();
    let us = g.atom_aval(&ins[1]).shape;
    copy(em, v, &ins[0])?;
    if us.contains(&0) {
        return Ok(());
    }
    let mut starts = Vec::with_capacity(us.len());
    for d in 0..us.len() {
        let room = (aval.shape[d] - us[d]) as i64;
        starts.push(if room > 0 {
            let s = em.eval_atom(&ins[2 + d], &[])?;
            let s = em.index_of(s);
            Some(em.clamp(s, 0, room))
        } else {
            None
        });
    }
    let buf = em.output_of(v);
    let (c, opened) = em.nest(&us, true);
    let u = em.eval_atom(&ins[1], &c)?;
    let mut target = Vec::with_capacity(c.len());
    for (coord, s) in c.iter().zip(&starts) {
        target.push(match s {
            Some(s) => {
                let at = em.lin(coord);
                let shift = Index {
                    offset: 0,
                    terms: vec![],
                    dynamic: Some(*s),
                };
                Coord::Lin(em.add(&at, &shift))
            }
            None => coord.clone(),
        });
    }
    em.store(buf, &aval.shape, &target, u);
    em.end_nest(opened);
    Ok(())
}

/// ChaCha's constant words ("expand 32-byte k").
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// `random_bits(key)`: output word `i` (row-major) is word `i % 16` of
/// ChaCha20 block `i / 16` under the 256-bit key, block counter in words
/// 12-13, nonce (stream) 0 in words 14-15: the reference interpreter's
/// derivation (the `rand_chacha` keystream). Full blocks run in a parallel
/// loop; a partial last block is computed once after it.
fn random_bits(em: &mut Emitter<'_>, v: Var, key: &Atom) -> Fallible<()> {
    let n = em.cx.g.aval(v).size();
    let shape = [n];
    let buf = em.output_of(v);
    let mut k = Vec::with_capacity(8);
    for j in 0..8 {
        k.push(em.eval_atom(key, &[Coord::constant(j)])?);
    }
    let (full, tail) = (n / 16, n % 16);
    if u32::try_from(full).is_err() {
        let msg = format!("{n} elements need more than 2^32 ChaCha20 blocks");
        return Err(Error::op("random_bits", msg).into());
    }
    let hi = em.scalar(Scalar::U32(0));
    if full > 0 {
        let l = em.begin_loop(full, true);
        let b = em.coord_value(&Coord::of_loop(l));
        let lo = em.let_(
            ScalarType::U32,
            crate::kernel::Expr::Convert(ScalarType::U32, b),
        );
        let words = chacha_block(em, &k, lo, hi);
        for (w, x) in words.iter().enumerate() {
            let at = Index {
                offset: w as i64,
                terms: vec![(l, 16)],
                dynamic: None,
            };
            em.store(buf, &shape, &[Coord::Lin(at)], *x);
        }
        em.end_loop();
    }
    if tail > 0 {
        let lo = em.scalar(Scalar::U32(full as u32));
        let words = chacha_block(em, &k, lo, hi);
        for (w, x) in words.iter().take(tail).enumerate() {
            em.store(buf, &shape, &[Coord::constant((16 * full + w) as i64)], *x);
        }
    }
    Ok(())
}

/// The 16 output words of one ChaCha20 block (20 rounds, then the input
/// added back).
fn chacha_block(
    em: &mut Emitter<'_>,
    key: &[ValueId],
    ctr_lo: ValueId,
    ctr_hi: ValueId,
) -> Vec<ValueId> {
    let mut init: Vec<ValueId> = SIGMA.iter().map(|&s| em.scalar(Scalar::U32(s))).collect();
    init.extend_from_slice(key);
    let zero = em.scalar(Scalar::U32(0));
    init.extend_from_slice(&[ctr_lo, ctr_hi, zero, zero]);
    let mut x = init.clone();
    for _ in 0..10 {
        for [a, b, c, d] in [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]] {
            quarter_round(em, &mut x, [a, b, c, d]);
        }
        for [a, b, c, d] in [[0, 5, 10, 15], [1, 6, 11, 12], [2, 7, 8, 13], [3, 4, 9, 14]] {
            quarter_round(em, &mut x, [a, b, c, d]);
        }
    }
    x.iter()
        .zip(&init)
        .map(|(&a, &b)| em.bin(ScalarType::U32, BinaryOp::Add, a, b))
        .collect()
}

/// ChaCha's quarter round on words `a, b, c, d` of the state.
fn quarter_round(em: &mut Emitter<'_>, x: &mut [ValueId], [a, b, c, d]: [usize; 4]) {
    let u = ScalarType::U32;
    for (p, q, r, s) in [(a, b, d, 16), (c, d, b, 12), (a, b, d, 8), (c, d, b, 7)] {
        x[p] = em.bin(u, BinaryOp::Add, x[p], x[q]);
        let t = em.bin(u, BinaryOp::Xor, x[r], x[p]);
        x[r] = rotl(em, t, s);
    }
}

/// Rotates a `u32` left by `s` bits.
fn rotl(em: &mut Emitter<'_>, x: ValueId, s: u32) -> ValueId {
    let u = ScalarType::U32;
    let (l, r) = (em.scalar(Scalar::U32(s)), em.scalar(Scalar::U32(32 - s)));
    let hi = em.bin(u, BinaryOp::Shl, x, l);
    let lo = em.bin(u, BinaryOp::ShrLogical, x, r);
    em.bin(u, BinaryOp::Or, hi, lo)
}
