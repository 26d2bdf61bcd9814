//! Inlining of `call`.

use super::*;
use crate::passes::{inline_calls, inline_calls_closed};
use std::sync::Arc;

fn call(jaxpr: &Arc<ClosedJaxpr>, name: &str) -> Primitive {
    Primitive::Call {
        jaxpr: jaxpr.clone(),
        name: name.into(),
    }
}

#[test]
fn inlines_nested_calls_with_fresh_variables() {
    let g = unary_fn(DType::F32, &[3], |b, a| b.op(Primitive::Sin, &[a]));
    let f = {
        let mut b = B::new();
        let a = b.var(DType::F32, &[3]);
        let c = b.var(DType::F32, &[3]);
        let s = b.op(call(&g, "g"), &[v(a)]);
        let m = b.op(Primitive::Mul, &[s, v(c)]);
        Arc::new(b.done(&[], &[a, c], &[m, v(c), f(2.0)]))
    };
    let mut b = B::new();
    let x = b.var(DType::F32, &[3]);
    let y = b.var(DType::F32, &[3]);
    let first = b.ops(call(&f, "f"), &[v(x), v(y)]);
    let second = b.ops(call(&f, "f"), &[first[0], v(x)]);
    let w = b.op(Primitive::Mul, &[first[1], first[2]]);
    let before = b.done(&[], &[x, y], &[second[0], second[1], w, second[2]]);
    let want = r"
        { lambda ; a:f32[3] b:f32[3]. let
            c:f32[3] = sin a
            d:f32[3] = mul c b
            e:f32[3] = sin d
            f:f32[3] = mul e a
            g:f32[3] = mul b 2.0:f32[]
          in (f, a, g, 2.0:f32[]) }";
    check(&before, lift(inline_calls), want);
    check(&before, inline_calls_closed, want);
}

#[test]
fn adds_the_constants_of_a_called_jaxpr_once() {
    let k = buf(&[3.0f32, 4.0], &[2]);
    let m = buf(&[10.0f32, 20.0], &[2]);
    let h = {
        let mut b = B::new();
        let c = b.var(DType::F32, &[2]);
        let a = b.var(DType::F32, &[2]);
        let r = b.op(Primitive::Mul, &[v(a), v(c)]);
        Arc::new(b.done(&[(c, k.clone())], &[a], &[r]))
    };
    let mut b = B::new();
    let c = b.var(DType::F32, &[2]);
    let x = b.var(DType::F32, &[2]);
    let p = b.op(call(&h, "h"), &[v(x)]);
    let q = b.op(call(&h, "h"), &[p]);
    let r = b.op(Primitive::Add, &[q, v(c)]);
    let before = b.done(&[(c, m.clone())], &[x], &[r]);
    let after = check(
        &before,
        inline_calls_closed,
        r"
        { lambda a:f32[2] b:f32[2] ; c:f32[2]. let
            d:f32[2] = mul c b
            e:f32[2] = mul d b
            f:f32[2] = add e a
          in (f,) }",
    );
    assert_eq!(after.consts, vec![m, k]);
    // Without a place for the constants, the calls stay.
    let plain = inline_calls(&before.jaxpr);
    assert_eq!(plain.to_string(), before.to_string());
}

#[test]
fn inlines_calls_whose_results_are_inputs_or_literals() {
    let pass = {
        let mut b = B::new();
        let a = b.var(DType::I32, &[2]);
        let c = b.var(DType::I32, &[]);
        Arc::new(b.done(&[], &[a, c], &[v(c), v(a), i(7)]))
    };
    let mut b = B::new();
    let x = b.var(DType::I32, &[2]);
    let outs = b.ops(call(&pass, "pass"), &[v(x), i(5)]);
    let sum = b.op(Primitive::Add, &[outs[1], outs[2]]);
    let before = b.done(&[], &[x], &[outs[0], sum]);
    check(
        &before,
        inline_calls_closed,
        r"
        { lambda ; a:i32[2]. let
            b:i32[2] = add a 7:i32[]
          in (5:i32[], b) }",
    );
}
