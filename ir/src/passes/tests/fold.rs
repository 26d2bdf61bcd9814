//! Constant folding.

use super::*;
use crate::passes::{fold_constants, fold_constants_closed, FOLD_LIMIT};

#[test]
fn folds_literal_arithmetic_into_literals() {
    let mut b = B::new();
    let x = b.var(DType::F32, &[2]);
    let c1 = b.op(Primitive::Div, &[f(1.0), f(2000.0)]);
    let c2 = b.op(Primitive::Add, &[c1, c1]);
    let to_int = Primitive::ConvertElementType {
        new_dtype: DType::I32,
    };
    let n = b.op(to_int, &[f(2.7)]);
    let lt = b.op(Primitive::Lt, &[n, i(3)]);
    let s = b.op(Primitive::Select, &[lt, f(1.5), f(-1.5)]);
    let y = b.op(Primitive::Mul, &[v(x), s]);
    let z = b.op(Primitive::Add, &[y, c2]);
    let before = b.done(&[], &[x], &[z, n, lt]);
    let want = r"
        { lambda ; a:f32[2]. let
            b:f32[2] = mul a 1.5:f32[]
            c:f32[2] = add b 0.001:f32[]
          in (c, 2:i32[], True:bool[]) }";
    check(&before, lift(fold_constants), want);
    check(&before, fold_constants_closed, want);
}

#[test]
fn folds_one_over_two_thousand_to_the_f32_literal() {
    let mut b = B::new();
    let c = b.op(Primitive::Div, &[f(1.0), f(2000.0)]);
    let folded = fold_constants_closed(&b.done(&[], &[], &[c]));
    assert_eq!(folded.jaxpr.outvars, vec![f(0.0005)]);
    assert!(folded.jaxpr.eqns.is_empty());
}

#[test]
fn leaves_what_should_not_be_folded() {
    let neg = unary_fn(DType::F32, &[], |b, a| b.op(Primitive::Neg, &[a]));
    let mut b = B::new();
    let x = b.var(DType::F32, &[3]);
    let iota = Primitive::Iota {
        dtype: DType::F32,
        shape: crate::dtype::shape_of(&[3]),
        dimension: 0,
    };
    let io = b.op(iota, &[]);
    let two = b.op(bcast(&[3], &[]), &[f(2.0)]);
    let y = b.op(Primitive::Mul, &[v(x), io]);
    let z = b.op(Primitive::Add, &[y, two]);
    let call = Primitive::Call {
        jaxpr: neg,
        name: "f".into(),
    };
    let c = b.op(call, &[f(2.0)]);
    let w = b.op(Primitive::Mul, &[z, c]);
    let before = b.done(&[], &[x], &[w]);
    let want = r"
        { lambda ; a:f32[3]. let
            b:f32[3] = iota[dtype=f32 shape=(3,) dimension=0]
            c:f32[3] = broadcast_in_dim[shape=(3,) broadcast_dimensions=()] 2.0:f32[]
            d:f32[3] = mul a b
            e:f32[3] = add d c
            f:f32[] = call[
              jaxpr={ lambda ; a:f32[]. let
                  b:f32[] = neg a
                in (b,) }
              name=f
            ] 2.0:f32[]
            g:f32[3] = mul e f
          in (g,) }";
    check(&before, lift(fold_constants), want);
    check(&before, fold_constants_closed, want);
}

#[test]
fn folds_small_constant_arrays_into_new_constants() {
    let mut b = B::new();
    let c0 = b.var(DType::F32, &[3]);
    let four = b.var(DType::F32, &[]);
    let big = b.var(DType::F32, &[2000]);
    let key = b.var(DType::U32, &[8]);
    let x = b.var(DType::F32, &[3]);
    let m = b.op(Primitive::Mul, &[v(c0), v(four)]);
    let r = b.op(Primitive::ReduceSum { axes: vec![0] }, &[m]);
    let y = b.op(Primitive::Mul, &[v(x), m]);
    let z = b.op(Primitive::Add, &[y, r]);
    let big_sum = b.op(Primitive::ReduceSum { axes: vec![0] }, &[v(big)]);
    let w = b.op(Primitive::Mul, &[z, big_sum]);
    let bits = Primitive::RandomBits {
        shape: crate::dtype::shape_of(&[4]),
    };
    let rb = b.op(bits, &[v(key)]);
    let big_value = HostBuffer::full(Scalar::F32(0.5), &[2000]);
    let consts = [
        (c0, buf(&[0.0f32, 1.0, 2.0], &[3])),
        (four, HostBuffer::scalar(Scalar::F32(4.0))),
        (big, big_value.clone()),
        (key, buf(&[1u32, 2, 3, 4, 5, 6, 7, 8], &[8])),
    ];
    let before = b.done(&consts, &[x], &[w, rb]);
    let after = check(
        &before,
        fold_constants_closed,
        r"
        { lambda a:f32[2000] b:f32[3] c:u32[4] ; d:f32[3]. let
            e:f32[3] = mul d b
            f:f32[3] = add e 12.0:f32[]
            g:f32[] = reduce_sum[axes=(0,)] a
            h:f32[3] = mul f g
          in (h, c) }",
    );
    assert_eq!(after.consts.len(), 3);
    assert_eq!(after.consts[0], big_value);
    assert_eq!(after.consts[1], buf(&[0.0f32, 4.0, 8.0], &[3]));
    // The bits are the interpreter's (`same_results` compared them); here
    // only their type is pinned.
    assert_eq!(after.consts[2].aval(), AVal::new(DType::U32, &[4]));
}

#[test]
fn folds_arrays_up_to_the_limit_only() {
    let mut b = B::new();
    let small = b.var(DType::I32, &[FOLD_LIMIT]);
    let large = b.var(DType::I32, &[FOLD_LIMIT + 1]);
    let s = b.op(Primitive::Neg, &[v(small)]);
    let l = b.op(Primitive::Neg, &[v(large)]);
    let small_value = buf(&vec![3i32; FOLD_LIMIT], &[FOLD_LIMIT]);
    let large_value = buf(&vec![5i32; FOLD_LIMIT + 1], &[FOLD_LIMIT + 1]);
    let consts = [(small, small_value), (large, large_value.clone())];
    let before = b.done(&consts, &[], &[s, l]);
    let after = check(
        &before,
        fold_constants_closed,
        r"
        { lambda a:i32[1025] b:i32[1024] ; . let
            c:i32[1025] = neg a
          in (b, c) }",
    );
    assert_eq!(after.consts[0], large_value);
    assert_eq!(
        after.consts[1],
        buf(&vec![-3i32; FOLD_LIMIT], &[FOLD_LIMIT])
    );
}
