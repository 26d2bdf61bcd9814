//! Common-subexpression elimination.

use super::*;
use crate::passes::cse;
use std::sync::Arc;

#[test]
fn merges_repeated_equations_in_cascade() {
    let mut b = B::new();
    let x = b.var(DType::F32, &[3]);
    let key = b.var(DType::U32, &[8]);
    let e1 = b.op(Primitive::Exp, &[v(x)]);
    let e2 = b.op(Primitive::Exp, &[v(x)]);
    let s1 = b.op(Primitive::Sin, &[e1]);
    let s2 = b.op(Primitive::Sin, &[e2]);
    let r = b.op(Primitive::Add, &[s1, s2]);
    let bits = Primitive::RandomBits {
        shape: crate::dtype::shape_of(&[3]),
    };
    let rb1 = b.op(bits.clone(), &[v(key)]);
    let rb2 = b.op(bits, &[v(key)]);
    let o = b.op(Primitive::Add, &[rb1, rb2]);
    let iota = Primitive::Iota {
        dtype: DType::I32,
        shape: crate::dtype::shape_of(&[3]),
        dimension: 0,
    };
    let io1 = b.op(iota.clone(), &[]);
    let io2 = b.op(iota, &[]);
    let q = b.op(Primitive::Mul, &[io1, io2]);
    let before = b.done(&[], &[x, key], &[r, o, q, e2]);
    check(
        &before,
        lift(cse),
        r"
        { lambda ; a:f32[3] b:u32[8]. let
            c:f32[3] = exp a
            d:f32[3] = sin c
            e:f32[3] = add d d
            f:u32[3] = random_bits[shape=(3,)] b
            g:u32[3] = add f f
            h:i32[3] = iota[dtype=i32 shape=(3,) dimension=0]
            i:i32[3] = mul h h
          in (e, g, i, c) }",
    );
}

#[test]
fn keeps_different_literals_and_parameters_apart() {
    let nan = f32::NAN;
    let other_nan = f32::from_bits(nan.to_bits() | 1);
    assert!(other_nan.is_nan() && other_nan.to_bits() != nan.to_bits());
    let mut b = B::new();
    let x = b.var(DType::F32, &[2, 2]);
    let p = b.op(Primitive::Mul, &[v(x), f(0.0)]);
    let q = b.op(Primitive::Mul, &[v(x), f(-0.0)]);
    let n1 = b.op(Primitive::Add, &[v(x), f(nan)]);
    let n2 = b.op(Primitive::Add, &[v(x), f(nan)]);
    let n3 = b.op(Primitive::Add, &[v(x), f(other_nan)]);
    let r0 = b.op(Primitive::ReduceSum { axes: vec![0] }, &[v(x)]);
    let r1 = b.op(Primitive::ReduceSum { axes: vec![1] }, &[v(x)]);
    let r2 = b.op(Primitive::ReduceSum { axes: vec![0] }, &[v(x)]);
    let before = b.done(&[], &[x], &[p, q, n1, n2, n3, r0, r1, r2]);
    check(
        &before,
        lift(cse),
        r"
        { lambda ; a:f32[2,2]. let
            b:f32[2,2] = mul a 0.0:f32[]
            c:f32[2,2] = mul a -0.0:f32[]
            d:f32[2,2] = add a nan:f32[]
            e:f32[2,2] = add a nan:f32[]
            f:f32[2] = reduce_sum[axes=(0,)] a
            g:f32[2] = reduce_sum[axes=(1,)] a
          in (b, c, d, d, e, f, g, f) }",
    );
}

#[test]
fn compares_called_jaxprs_by_address() {
    let neg = |b: &mut B, a: Atom| b.op(Primitive::Neg, &[a]);
    let body = unary_fn(DType::F32, &[], neg);
    let twin = unary_fn(DType::F32, &[], neg);
    assert_eq!(body, twin, "structurally equal");
    let call = |jaxpr: &Arc<ClosedJaxpr>| Primitive::Call {
        jaxpr: jaxpr.clone(),
        name: "f".into(),
    };
    let mut b = B::new();
    let x = b.var(DType::F32, &[]);
    let c1 = b.op(call(&body), &[v(x)]);
    let c2 = b.op(call(&body), &[v(x)]);
    let c3 = b.op(call(&twin), &[v(x)]);
    let before = b.done(&[], &[x], &[c1, c2, c3]);
    check(
        &before,
        lift(cse),
        r"
        { lambda ; a:f32[]. let
            b:f32[] = call[
              jaxpr={ lambda ; a:f32[]. let
                  b:f32[] = neg a
                in (b,) }
              name=f
            ] a
            c:f32[] = call[
              jaxpr={ lambda ; a:f32[]. let
                  b:f32[] = neg a
                in (b,) }
              name=f
            ] a
          in (b, b, c) }",
    );
}

#[test]
fn merges_equations_with_several_results() {
    let branch = |second: Primitive, swap: bool| {
        let mut b = B::new();
        let a = b.var(DType::F32, &[]);
        let r = b.op(second, &[v(a)]);
        let outs = if swap { [v(a), r] } else { [r, v(a)] };
        Arc::new(b.done(&[], &[a], &outs))
    };
    let cond = Primitive::Cond {
        branches: vec![branch(Primitive::Neg, false), branch(Primitive::Sin, true)],
    };
    let mut b = B::new();
    let index = b.var(DType::I32, &[]);
    let x = b.var(DType::F32, &[]);
    let first = b.ops(cond.clone(), &[v(index), v(x)]);
    let second = b.ops(cond, &[v(index), v(x)]);
    let sum = b.op(Primitive::Add, &[first[0], second[1]]);
    let before = b.done(&[], &[index, x], &[sum, second[0]]);
    check(
        &before,
        lift(cse),
        r"
        { lambda ; a:i32[] b:f32[]. let
            c:f32[] d:f32[] = cond[
              branches=(
                { lambda ; a:f32[]. let
                    b:f32[] = neg a
                  in (b, a) }
                { lambda ; a:f32[]. let
                    b:f32[] = sin a
                  in (a, b) }
              )
            ] a b
            e:f32[] = add c d
          in (e, c) }",
    );
}
