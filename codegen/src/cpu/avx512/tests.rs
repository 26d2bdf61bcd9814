//! Tests of the AVX-512 emitter: generated code runs on special and random
//! inputs and must match the kernel interpreter lane by lane (NaN payloads
//! aside); tails must not store past `count`; reductions must match the
//! interpreter's lane-wise folds. Skipped where the CPU lacks AVX-512.

mod fuzz;
/// Body builder, runner and interpreter reference.
mod harness;

use harness::{check, reference_reduce, run, same, specials, Body, Rng};

use super::{available, emit, Operand, ReduceOp};
use crate::kernel::{BinaryOp, ScalarType, UnaryOp};

use BinaryOp as B;
use ScalarType as S;
use UnaryOp as U;

/// Whether to skip (no AVX-512 here), saying so.
fn skip() -> bool {
    if !available() {
        println!("skipped: no AVX-512 on this CPU");
        return true;
    }
    false
}

/// The lowered unary operations.
const UNARY: &[(UnaryOp, ScalarType)] = &[
    (U::Neg, S::F32),
    (U::Abs, S::F32),
    (U::Sign, S::F32),
    (U::Sqrt, S::F32),
    (U::Rsqrt, S::F32),
    (U::Floor, S::F32),
    (U::Ceil, S::F32),
    (U::Trunc, S::F32),
    (U::Round, S::F32),
    (U::IsFinite, S::F32),
    (U::Neg, S::I32),
    (U::Abs, S::I32),
    (U::Sign, S::I32),
    (U::Not, S::I32),
    (U::Neg, S::U32),
    (U::Abs, S::U32),
    (U::Sign, S::U32),
    (U::Not, S::U32),
    (U::Not, S::Bool),
];

/// The lowered binary operations (shifts separately).
fn binary_table() -> Vec<(BinaryOp, ScalarType)> {
    let mut t = Vec::new();
    let arith = [B::Add, B::Sub, B::Mul, B::Max, B::Min];
    let cmps = [B::Eq, B::Ne, B::Lt, B::Le, B::Gt, B::Ge];
    for op in arith.iter().chain(&cmps).chain(&[B::Div]) {
        t.push((*op, S::F32));
    }
    for ty in [S::I32, S::U32] {
        for op in arith.iter().chain(&cmps).chain(&[B::And, B::Or, B::Xor]) {
            t.push((*op, ty));
        }
    }
    for op in [B::And, B::Or, B::Xor, B::Eq, B::Ne] {
        t.push((op, S::Bool));
    }
    t
}

/// Output pointer type for a result of type `ty` (bools are stored as
/// all-ones/all-zeros 32-bit lanes).
fn out_ty(ty: ScalarType) -> ScalarType {
    if ty == S::Bool {
        S::I32
    } else {
        ty
    }
}

#[test]
fn avx512_unary_ops() {
    if skip() {
        return;
    }
    for &(op, ty) in UNARY {
        // Vector operand.
        let mut b = Body::default();
        let p = b.ptr(ty);
        let x = b.load(p);
        let y = b.unary(op, x);
        let o = b.ptr(out_ty(b.ty(y)));
        b.store(o, y);
        check(&b, 3000, 1 + op as u64);
        // Scalar operand.
        for &s in specials(ty).iter().step_by(3) {
            let mut b = Body::default();
            let x = b.scalar(ty, s);
            let y = b.unary(op, x);
            let o = b.ptr(out_ty(b.ty(y)));
            b.store(o, y);
            check(&b, 20, 7);
        }
    }
}

/// Every 251st bit pattern of `f32`, through the float operations whose
/// lowering is a non-trivial sequence.
#[test]
fn avx512_float_sweep() {
    if skip() {
        return;
    }
    let n = (u32::MAX / 251) as usize;
    let xs: Vec<u32> = (0..n as u32).map(|i| i.wrapping_mul(251)).collect();
    type Build = fn(&mut Body, Operand) -> Operand;
    let cases: [(&str, Build); 8] = [
        ("round", |b, x| b.unary(U::Round, x)),
        ("floor", |b, x| b.unary(U::Floor, x)),
        ("ceil", |b, x| b.unary(U::Ceil, x)),
        ("sign", |b, x| b.unary(U::Sign, x)),
        ("rsqrt", |b, x| b.unary(U::Rsqrt, x)),
        ("to_i32", |b, x| b.convert(S::I32, x)),
        ("to_u32", |b, x| b.convert(S::U32, x)),
        ("to_bool", |b, x| b.convert(S::Bool, x)),
    ];
    for (name, build) in cases {
        let mut b = Body::default();
        let p = b.ptr(S::F32);
        let x = b.load(p);
        let y = build(&mut b, x);
        let o = b.ptr(out_ty(b.ty(y)));
        b.store(o, y);
        let mut bufs = vec![xs.clone(), vec![0; n]];
        let want = harness::reference(&b, n, &bufs);
        run(&b.code(), &b, n, &mut bufs);
        let ty = b.ptr_tys[1];
        for i in 0..n {
            assert!(
                same(ty, bufs[1][i], want[1][i]),
                "{name}({:#010x}): got {:#010x}, want {:#010x}",
                xs[i],
                bufs[1][i],
                want[1][i]
            );
        }
    }
}

#[test]
fn avx512_binary_ops() {
    if skip() {
        return;
    }
    for (op, ty) in binary_table() {
        let mut b = Body::default();
        let (p, q) = (b.ptr(ty), b.ptr(ty));
        let (x, y) = (b.load(p), b.load(q));
        let z = b.binary(op, x, y);
        let o = b.ptr(out_ty(b.ty(z)));
        b.store(o, z);
        check(&b, 2000, 11 + op as u64);
        // One operand a broadcast scalar, on either side.
        for &s in specials(ty).iter().step_by(4) {
            for scalar_first in [false, true] {
                let mut b = Body::default();
                let p = b.ptr(ty);
                let x = b.load(p);
                let c = b.scalar(ty, s);
                let (l, r) = if scalar_first { (c, x) } else { (x, c) };
                let z = b.binary(op, l, r);
                let o = b.ptr(out_ty(b.ty(z)));
                b.store(o, z);
                check(&b, 300, 5);
            }
        }
    }
}

/// Float `min`/`max` with a constant the emitter knows (one instruction
/// when the constant allows it, the general sequence otherwise): every
/// special value as the constant, on either side, hoisted into a register
/// or not, over every special value as the other operand.
#[test]
fn avx512_min_max_with_known_constants() {
    if skip() {
        return;
    }
    for op in [B::Max, B::Min] {
        for &c in &specials(S::F32) {
            for (scalar_first, pressure) in [(false, false), (true, false), (false, true)] {
                let mut b = Body::default();
                let p = b.ptr(S::F32);
                let x = b.load(p);
                let k = b.known_scalar(S::F32, c);
                let (l, r) = if scalar_first { (k, x) } else { (x, k) };
                let mut z = b.binary(op, l, r);
                if pressure {
                    // Enough live values that no register is left to hoist
                    // the constant into.
                    let keep: Vec<Operand> = (0..28).map(|_| b.load(p)).collect();
                    z = b.binary(op, z, k);
                    for v in keep {
                        z = b.binary(B::Add, z, v);
                    }
                }
                let o = b.ptr(S::F32);
                b.store(o, z);
                check(&b, 300, 9);
            }
        }
    }
}

#[test]
fn avx512_shifts() {
    if skip() {
        return;
    }
    for ty in [S::I32, S::U32] {
        for op in [B::Shl, B::ShrLogical, B::ShrArith] {
            for amount in [0, 1, 7, 31] {
                let mut b = Body::default();
                let p = b.ptr(ty);
                let x = b.load(p);
                let s = b.scalar(ty, amount);
                let z = b.binary(op, x, s);
                let o = b.ptr(ty);
                b.store(o, z);
                check(&b, 500, 3);
            }
            // Per-lane amounts (any bits: reduced modulo 32).
            let mut b = Body::default();
            let (p, q) = (b.ptr(ty), b.ptr(ty));
            let (x, y) = (b.load(p), b.load(q));
            let z = b.binary(op, x, y);
            let o = b.ptr(ty);
            b.store(o, z);
            check(&b, 500, 9);
        }
    }
}

#[test]
fn avx512_fma_operand_forms() {
    if skip() {
        return;
    }
    for ty in [S::F32, S::I32, S::U32] {
        for form in 0..8 {
            for keep in [false, true] {
                let mut b = Body::default();
                let ps: Vec<u32> = (0..3).map(|_| b.ptr(ty)).collect();
                let ops: Vec<Operand> = (0..3)
                    .map(|j| {
                        if form & (1 << j) != 0 {
                            b.scalar(ty, specials(ty)[(5 * j + form) % 12])
                        } else {
                            b.load(ps[j])
                        }
                    })
                    .collect();
                let r = b.fma(ops[0], ops[1], ops[2]);
                let o = b.ptr(ty);
                b.store(o, r);
                if keep {
                    // The operands stay live: no in-place overwrite.
                    let o2 = b.ptr(ty);
                    let s = b.binary(B::Add, ops[0], ops[1]);
                    let s = b.binary(B::Add, s, ops[2]);
                    b.store(o2, s);
                }
                check(&b, 600, 13 + form as u64);
            }
        }
    }
}

#[test]
fn avx512_fma_repeated_operands() {
    if skip() {
        return;
    }
    for ty in [S::F32, S::I32] {
        for form in 0..4 {
            let mut b = Body::default();
            let p = b.ptr(ty);
            let x = b.load(p);
            let s = b.scalar(ty, specials(ty)[13]);
            let r = match form {
                0 => b.fma(x, x, s),
                1 => b.fma(x, x, x),
                2 => b.fma(s, x, x),
                _ => b.fma(x, s, x),
            };
            let o = b.ptr(ty);
            b.store(o, r);
            check(&b, 200, 3);
        }
    }
}

#[test]
fn avx512_select_forms() {
    if skip() {
        return;
    }
    for ty in [S::F32, S::I32, S::U32] {
        // cond only used by nearby selects (mask register), or also stored
        // (all-ones lanes), or far from its select, or a scalar.
        for form in 0..4 {
            let mut b = Body::default();
            let (p, q) = (b.ptr(ty), b.ptr(ty));
            let (x, y) = (b.load(p), b.load(q));
            let c = if form == 3 {
                b.scalar(S::Bool, u32::MAX)
            } else {
                b.binary(B::Lt, x, y)
            };
            if form == 2 {
                let mut t = x;
                for _ in 0..6 {
                    t = b.binary(B::Add, t, y);
                }
                let o = b.ptr(ty);
                b.store(o, t);
            }
            let s1 = b.scalar(ty, specials(ty)[4]);
            let r1 = b.select(c, x, y);
            let r2 = b.select(c, s1, x);
            let r3 = b.select(c, y, s1);
            for r in [r1, r2, r3] {
                let o = b.ptr(ty);
                b.store(o, r);
            }
            if form == 1 {
                let o = b.ptr(S::I32);
                b.store(o, c);
            }
            check(&b, 700, 21 + form);
        }
    }
    // Two bools in mask registers at once, used crosswise.
    let mut b = Body::default();
    let (p, q) = (b.ptr(S::F32), b.ptr(S::F32));
    let (x, y) = (b.load(p), b.load(q));
    let c1 = b.binary(B::Lt, x, y);
    let c2 = b.unary(U::IsFinite, x);
    let r1 = b.select(c2, x, y);
    let r2 = b.select(c1, r1, x);
    for r in [r1, r2] {
        let o = b.ptr(S::F32);
        b.store(o, r);
    }
    check(&b, 300, 4);
    // More bools than rotating mask registers between a bool and its
    // select: it must not be read from a reused mask register.
    let mut b = Body::default();
    let (p, q) = (b.ptr(S::F32), b.ptr(S::F32));
    let (x, y) = (b.load(p), b.load(q));
    let c0 = b.binary(B::Lt, x, y);
    let cs: Vec<Operand> = [B::Eq, B::Le, B::Gt, B::Ge]
        .iter()
        .map(|&op| b.binary(op, x, y))
        .collect();
    let r0 = b.select(c0, x, y);
    let mut rs = vec![r0];
    for c in cs {
        let r = b.select(c, y, x);
        rs.push(r);
    }
    for r in rs {
        let o = b.ptr(S::F32);
        b.store(o, r);
    }
    check(&b, 300, 6);
    // A loaded bool as the condition.
    let mut b = Body::default();
    let (p, q, r) = (b.ptr(S::Bool), b.ptr(S::F32), b.ptr(S::F32));
    let (c, x, y) = (b.load(p), b.load(q), b.load(r));
    let z = b.select(c, x, y);
    let o = b.ptr(S::F32);
    b.store(o, z);
    check(&b, 300, 2);
}

#[test]
fn avx512_convert_and_bitcast() {
    if skip() {
        return;
    }
    let tys = [S::F32, S::I32, S::U32, S::Bool];
    for from in tys {
        for to in tys {
            let mut b = Body::default();
            let p = b.ptr(from);
            let x = b.load(p);
            let y = b.convert(to, x);
            let o = b.ptr(out_ty(to));
            b.store(o, y);
            check(&b, 2000, 31);
        }
    }
    for (from, to) in [
        (S::F32, S::I32),
        (S::F32, S::U32),
        (S::I32, S::F32),
        (S::U32, S::F32),
    ] {
        let mut b = Body::default();
        let p = b.ptr(from);
        let x = b.load(p);
        let y = b.bitcast(to, x);
        // Used afterwards as its new type.
        let z = b.binary(B::Add, y, y);
        let (o, o2) = (b.ptr(to), b.ptr(to));
        b.store(o, y);
        b.store(o2, z);
        check(&b, 500, 37);
    }
}

/// Element counts around the 16-lane pass boundaries.
const COUNTS: [usize; 7] = [0, 1, 15, 16, 17, 33, 1000];

#[test]
fn avx512_tails() {
    if skip() {
        return;
    }
    for count in COUNTS {
        let mut b = Body::default();
        let (p, q) = (b.ptr(S::F32), b.ptr(S::F32));
        let (x, y) = (b.load(p), b.load(q));
        let z = b.binary(B::Mul, x, y);
        let o = b.ptr(S::F32);
        b.store(o, z);
        let acc = b.acc(ReduceOp::Sum, S::I32);
        let one = b.scalar(S::I32, 1);
        b.reduce(acc, one);
        let (accs, _) = check(&b, count, 41);
        // Lane j counts the elements 16 k + j below count.
        for (j, &lane) in accs[0].iter().enumerate() {
            let want = (count + 15 - j) / 16;
            assert_eq!(lane as usize, want, "count {count}, lane {j}");
        }
    }
}

#[test]
fn avx512_reductions() {
    if skip() {
        return;
    }
    for ty in [S::F32, S::I32, S::U32] {
        for op in [ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min] {
            for count in COUNTS {
                for scalar in [false, true] {
                    let mut b = Body::default();
                    let acc = b.acc(op, ty);
                    let x = if scalar {
                        b.scalar(ty, specials(ty)[count % 12])
                    } else {
                        let p = b.ptr(ty);
                        b.load(p)
                    };
                    b.reduce(acc, x);
                    let code = b.code();
                    let mut rng = Rng(count as u64 + 77);
                    let xs: Vec<u32> = if scalar {
                        vec![b.scalars[0].1; count]
                    } else {
                        harness::inputs(&[ty], count, &mut rng).remove(0)
                    };
                    let mut bufs = if scalar { vec![] } else { vec![xs.clone()] };
                    let got = run(&code, &b, count, &mut bufs)[0];
                    let id = identity(op, ty);
                    let want = reference_reduce(op, ty, id, &xs);
                    for j in 0..16 {
                        assert!(
                            same(ty, got[j], want[j]),
                            "{op:?} {ty:?} count {count} scalar {scalar} lane {j}: \
                             got {:#x}, want {:#x}",
                            got[j],
                            want[j]
                        );
                    }
                }
            }
        }
    }
}

/// The identities of the `ReduceOp` docs, written out independently.
fn identity(op: ReduceOp, ty: ScalarType) -> u32 {
    match (op, ty) {
        (ReduceOp::Sum, S::F32) => 0x8000_0000,
        (ReduceOp::Prod, S::F32) => 0x3F80_0000,
        (ReduceOp::Max, S::F32) => 0xFF80_0000,
        (ReduceOp::Min, S::F32) => 0x7F80_0000,
        (ReduceOp::Sum, _) => 0,
        (ReduceOp::Prod, _) => 1,
        (ReduceOp::Max, S::U32) => 0,
        (ReduceOp::Min, S::U32) => u32::MAX,
        (ReduceOp::Max, _) => 0x8000_0000,
        (ReduceOp::Min, _) => 0x7FFF_FFFF,
    }
}

/// A long float chain with several values live at once (register
/// allocation, in-place forms, mask-register bools).
fn chain(b: &mut Body, len: usize, seed: u64) -> Vec<Operand> {
    let mut rng = Rng(seed);
    let ps: Vec<u32> = (0..4).map(|_| b.ptr(S::F32)).collect();
    let mut vals: Vec<Operand> = ps.iter().map(|&p| b.load(p)).collect();
    let consts: Vec<Operand> = [0.5f32, -1.25, 3.0, 1e-3]
        .iter()
        .map(|c| b.scalar(S::F32, c.to_bits()))
        .collect();
    for _ in 0..len {
        let pick = |rng: &mut Rng| {
            if rng.next().is_multiple_of(5) {
                consts[rng.next() as usize % consts.len()]
            } else {
                let n = vals.len();
                vals[n - 1 - (rng.next() as usize % n.min(6))]
            }
        };
        let (x, y, z) = (pick(&mut rng), pick(&mut rng), pick(&mut rng));
        let x = if matches!(x, Operand::Scalar(_)) {
            vals[vals.len() - 1]
        } else {
            x
        };
        let v = match rng.next() % 12 {
            0 => b.binary(B::Add, x, y),
            1 => b.binary(B::Sub, y, x),
            2 => b.binary(B::Mul, x, y),
            3 => b.binary(B::Max, x, y),
            4 => b.binary(B::Min, y, x),
            5 | 6 => b.fma(x, y, z),
            7 => {
                let c = b.binary(B::Lt, x, y);
                b.select(c, y, z)
            }
            8 => b.unary(U::Round, x),
            9 => {
                let a = b.unary(U::Abs, x);
                b.unary(U::Sqrt, a)
            }
            10 => b.binary(B::Div, x, y),
            _ => b.unary(U::Neg, x),
        };
        vals.push(v);
    }
    vals
}

#[test]
fn avx512_long_chain() {
    if skip() {
        return;
    }
    for seed in 1..6 {
        let mut b = Body::default();
        let vals = chain(&mut b, 40, seed);
        for &v in vals.iter().rev().step_by(7) {
            let o = b.ptr(S::F32);
            b.store(o, v);
        }
        check(&b, 1000, seed);
    }
}

#[test]
fn avx512_many_pointers_and_registers() {
    if skip() {
        return;
    }
    // 14 loaded pointers (some reloaded from the argument block at each
    // access), all live at once, summed, plus accumulators.
    let mut b = Body::default();
    let ps: Vec<u32> = (0..14).map(|_| b.ptr(S::I32)).collect();
    let xs: Vec<Operand> = ps.iter().map(|&p| b.load(p)).collect();
    let mut s = xs[13];
    for &x in xs[..13].iter().rev() {
        s = b.binary(B::Xor, s, x);
        s = b.binary(B::Mul, s, x);
    }
    let o = b.ptr(S::I32);
    b.store(o, s);
    let acc = b.acc(ReduceOp::Max, S::I32);
    b.reduce(acc, s);
    let (accs, bufs) = check(&b, 100, 3);
    let want = reference_reduce(ReduceOp::Max, S::I32, i32::MIN as u32, &bufs[14]);
    assert_eq!(accs[0], want);

    // Eight accumulators (the most) over one loaded value; a ninth is
    // declined.
    let mut b = Body::default();
    let p = b.ptr(S::U32);
    let x = b.load(p);
    let ops = [ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min];
    for (j, &op) in ops.iter().cycle().take(8).enumerate() {
        let ty = if j < 4 { S::U32 } else { S::I32 };
        let acc = b.acc(op, ty);
        let v = if j < 4 { x } else { b.convert(S::I32, x) };
        b.reduce(acc, v);
    }
    let (accs, bufs) = check(&b, 333, 8);
    for (j, &op) in ops.iter().cycle().take(8).enumerate() {
        let ty = if j < 4 { S::U32 } else { S::I32 };
        let want = reference_reduce(op, ty, identity(op, ty), &bufs[0]);
        assert_eq!(accs[j], want, "accumulator {j}");
    }
    let acc = b.acc(ReduceOp::Sum, S::U32);
    b.reduce(acc, x);
    assert!(emit(&b.l).is_none());

    // More live values than registers: declined.
    let mut b = Body::default();
    let ps: Vec<u32> = (0..35).map(|_| b.ptr(S::F32)).collect();
    let xs: Vec<Operand> = ps.iter().map(|&p| b.load(p)).collect();
    let mut s = xs[34];
    for &x in xs[..34].iter().rev() {
        s = b.binary(B::Add, s, x);
    }
    let o = b.ptr(S::F32);
    b.store(o, s);
    assert!(emit(&b.l).is_none());
}

#[test]
fn avx512_declines_unsupported() {
    type Build = fn(&mut Body, Operand) -> Operand;
    let cases: [Build; 7] = [
        |b, x| b.unary(U::Exp, x),
        |b, x| b.binary(B::Rem, x, x),
        |b, x| b.binary(B::Pow, x, x),
        |b, x| b.binary(B::And, x, x),
        |b, x| b.binary(B::Shl, x, x),
        |b, x| b.unary(U::Not, x),
        |b, x| b.convert(S::F64, x),
    ];
    for build in cases {
        let mut b = Body::default();
        let p = b.ptr(S::F32);
        let x = b.load(p);
        let y = build(&mut b, x);
        b.store(p, y);
        assert!(emit(&b.l).is_none(), "{:?}", b.l);
    }
    let mut b = Body::default();
    let p = b.ptr(S::I32);
    let x = b.load(p);
    let y = b.binary(B::Div, x, x);
    b.store(p, y);
    assert!(emit(&b.l).is_none());
}

/// An `exp`-like body (clamp, reduction by ln 2, degree-7 polynomial,
/// scaling by 2^k through the exponent bits), as `math::expand` writes it.
fn exp_like(b: &mut Body, x: Operand) -> Operand {
    let mut f = |v: f32| b.scalar(S::F32, v.to_bits());
    let (hi, lo, log2e, ln2hi, ln2lo) = (
        f(89.0),
        f(-104.0),
        f(std::f32::consts::LOG2_E),
        f(-0.693_145_75),
        f(-1.428_606_8e-6),
    );
    let coef: Vec<Operand> = [
        1.0f32 / 5040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
    ]
    .iter()
    .map(|&c| f(c))
    .collect();
    let one = f(1.0);
    let (i1, i127, i23) = (
        b.scalar(S::I32, 1),
        b.scalar(S::I32, 127),
        b.scalar(S::I32, 23),
    );
    let xc = b.binary(B::Min, x, hi);
    let xc = b.binary(B::Max, xc, lo);
    let t = b.binary(B::Mul, xc, log2e);
    let k = b.unary(U::Round, t);
    let r = b.fma(k, ln2hi, xc);
    let r = b.fma(k, ln2lo, r);
    let mut p = coef[0];
    for &c in &coef[1..] {
        p = b.fma(p, r, c);
    }
    let em = b.binary(B::Mul, p, r);
    let y = b.binary(B::Add, one, em);
    let ki = b.convert(S::I32, k);
    let k1 = b.binary(B::ShrArith, ki, i1);
    let k2 = b.binary(B::Sub, ki, k1);
    let mut y = y;
    for kk in [k1, k2] {
        let e = b.binary(B::Add, kk, i127);
        let e = b.binary(B::Shl, e, i23);
        let s = b.bitcast(S::F32, e);
        y = b.binary(B::Mul, y, s);
    }
    y
}

#[test]
fn avx512_exp_like_body() {
    if skip() {
        return;
    }
    let mut b = Body::default();
    let p = b.ptr(S::F32);
    let x = b.load(p);
    let y = exp_like(&mut b, x);
    let o = b.ptr(S::F32);
    b.store(o, y);
    check(&b, 5000, 17);
}
