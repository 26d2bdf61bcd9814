//! Random typed loop bodies (floats, integers, bools, conversions between
//! them, selects, stores and reductions) checked against the interpreter:
//! register allocation, in-place forms and mask-register bools in
//! combinations the hand-written tests do not reach.

use super::harness::{check, reference_reduce, same, specials, Body, Rng};
use super::{skip, UNARY};
use crate::cpu::avx512::{Operand, ReduceOp};
use crate::kernel::{BinaryOp, ScalarType, UnaryOp};

use BinaryOp as B;
use ScalarType as S;

const TYS: [ScalarType; 4] = [S::F32, S::I32, S::U32, S::Bool];

/// Binary operations valid for `ty` (shifts aside).
fn binaries(ty: ScalarType) -> &'static [BinaryOp] {
    match ty {
        S::F32 => &[
            B::Add,
            B::Sub,
            B::Mul,
            B::Div,
            B::Max,
            B::Min,
            B::Lt,
            B::Ne,
            B::Ge,
        ],
        S::I32 | S::U32 => &[
            B::Add,
            B::Sub,
            B::Mul,
            B::Max,
            B::Min,
            B::And,
            B::Xor,
            B::Gt,
            B::Le,
            B::Eq,
        ],
        S::Bool => &[B::And, B::Or, B::Xor, B::Eq, B::Ne],
        S::F64 | S::Index => &[],
    }
}

/// One random body of about `len` operations over four input pointers.
fn random_body(rng: &mut Rng, len: usize) -> (Body, Vec<(u32, ReduceOp, ScalarType)>) {
    let mut b = Body::default();
    let mut pools: Vec<Vec<Operand>> = vec![Vec::new(); TYS.len()];
    for (t, &ty) in TYS.iter().enumerate() {
        let p = b.ptr(ty);
        let x = b.load(p);
        pools[t].push(x);
        let s = specials(ty);
        let c = b.scalar(ty, s[rng.next() as usize % s.len()]);
        pools[t].push(c);
    }
    let pick = |rng: &mut Rng, pool: &Vec<Operand>| {
        let n = pool.len();
        pool[n - 1 - rng.next() as usize % n.min(8)]
    };
    for _ in 0..len {
        let t = rng.next() as usize % TYS.len();
        let ty = TYS[t];
        let (x, y, z) = (
            pick(rng, &pools[t]),
            pick(rng, &pools[t]),
            pick(rng, &pools[t]),
        );
        let v = match rng.next() % 6 {
            0 => {
                let ops: Vec<UnaryOp> = UNARY
                    .iter()
                    .filter(|(_, uty)| *uty == ty)
                    .map(|(op, _)| *op)
                    .collect();
                b.unary(ops[rng.next() as usize % ops.len()], x)
            }
            1 | 2 => {
                let ops = binaries(ty);
                b.binary(ops[rng.next() as usize % ops.len()], x, y)
            }
            3 if ty != S::Bool => b.fma(x, y, z),
            3 => {
                let other = rng.next() as usize % 3;
                let (a, c) = (pick(rng, &pools[other]), pick(rng, &pools[other]));
                b.select(x, a, c)
            }
            4 => {
                let to = TYS[rng.next() as usize % TYS.len()];
                b.convert(to, x)
            }
            _ => {
                let cond = pick(rng, &pools[3]);
                b.select(cond, x, y)
            }
        };
        let vt = TYS.iter().position(|&t| t == b.ty(v)).expect("32-bit type");
        pools[vt].push(v);
    }
    for (t, &ty) in TYS.iter().enumerate() {
        let out = if ty == S::Bool { S::I32 } else { ty };
        for _ in 0..2 {
            let v = pick(rng, &pools[t]);
            let o = b.ptr(out);
            b.store(o, v);
        }
    }
    // Reductions of stored values (compared through the stored buffer).
    let mut reds = Vec::new();
    for (t, &ty) in TYS[..3].iter().enumerate() {
        let op =
            [ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min][rng.next() as usize % 4];
        let v = pick(rng, &pools[t]);
        let o = b.ptr(ty);
        b.store(o, v);
        let acc = b.acc(op, ty);
        b.reduce(acc, v);
        reds.push((o, op, ty));
    }
    (b, reds)
}

#[test]
fn avx512_random_bodies() {
    if skip() {
        return;
    }
    let mut rng = Rng(0x5EED);
    let mut lowered = 0;
    for round in 0..60 {
        let (b, reds) = random_body(&mut rng, 20 + round);
        if crate::cpu::avx512::emit(&b.l).is_none() {
            continue;
        }
        lowered += 1;
        let count = [37, 100, 257][round % 3];
        let (accs, bufs) = check(&b, count, round as u64 + 1);
        for (j, &(o, op, ty)) in reds.iter().enumerate() {
            let id = super::identity(op, ty);
            let want = reference_reduce(op, ty, id, &bufs[o as usize]);
            for lane in 0..16 {
                assert!(
                    same(ty, accs[j][lane], want[lane]),
                    "round {round} acc {j} lane {lane}: got {:#x}, want {:#x}",
                    accs[j][lane],
                    want[lane]
                );
            }
        }
    }
    // Nearly all fit the registers.
    assert!(lowered >= 50, "only {lowered} of 60 bodies lowered");
}
