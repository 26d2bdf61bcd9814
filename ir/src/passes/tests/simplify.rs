//! Algebraic simplification.

use super::*;
use crate::interp::eval_primitive;
use crate::passes::{dce, simplify};

/// `simplify` then `dce`, on a closed jaxpr.
fn simplify_dce(c: &ClosedJaxpr) -> ClosedJaxpr {
    ClosedJaxpr::new(dce(&simplify(&c.jaxpr)), c.consts.clone())
}

#[test]
fn removes_exact_float_identities_only() {
    let mut b = B::new();
    let x = b.var(DType::F32, &[3]);
    let p1 = b.op(Primitive::Mul, &[v(x), f(1.0)]);
    let p2 = b.op(Primitive::Mul, &[f(1.0), p1]);
    let p3 = b.op(Primitive::Div, &[p2, f(1.0)]);
    let p4 = b.op(Primitive::Add, &[p3, f(-0.0)]);
    let p5 = b.op(Primitive::Add, &[f(-0.0), p4]);
    let p6 = b.op(Primitive::Sub, &[p5, f(0.0)]);
    // Not identities for floats: -0.0 + 0.0 = 0.0 - -0.0 = +0.0, and x * 0
    // is NaN for NaN and infinite x.
    let k1 = b.op(Primitive::Add, &[p6, f(0.0)]);
    let k2 = b.op(Primitive::Add, &[f(0.0), k1]);
    let k3 = b.op(Primitive::Sub, &[k2, f(-0.0)]);
    let k4 = b.op(Primitive::Mul, &[k3, f(0.0)]);
    let k5 = b.op(Primitive::Mul, &[k3, f(2.0)]);
    let before = b.done(&[], &[x], &[k4, k5, p6]);
    check(
        &before,
        lift(simplify),
        r"
        { lambda ; a:f32[3]. let
            b:f32[3] = add a 0.0:f32[]
            c:f32[3] = add 0.0:f32[] b
            d:f32[3] = sub c -0.0:f32[]
            e:f32[3] = mul d 0.0:f32[]
            f:f32[3] = mul d 2.0:f32[]
          in (e, f, a) }",
    );
}

/// Why `x + 0.0` and `reduce_sum[axes=()]` stay for floats: in the
/// reference interpreter they turn `-0.0` into `+0.0`, while `x + -0.0`
/// keeps it.
#[test]
fn adding_positive_zero_is_not_an_identity_for_floats() {
    let minus_zero = buf(&[-0.0f32], &[1]);
    let bits = |prim: Primitive, args: &[&HostBuffer]| -> u32 {
        let out = eval_primitive(&prim, args).unwrap();
        out[0].as_slice::<f32>().unwrap()[0].to_bits()
    };
    let plus = HostBuffer::scalar(Scalar::F32(0.0));
    let minus = HostBuffer::scalar(Scalar::F32(-0.0));
    assert_eq!(bits(Primitive::Add, &[&minus_zero, &plus]), 0);
    assert_eq!(bits(Primitive::Add, &[&minus_zero, &minus]), 0x8000_0000);
    assert_eq!(bits(Primitive::Sub, &[&minus_zero, &plus]), 0x8000_0000);
    assert_eq!(
        bits(Primitive::ReduceSum { axes: vec![] }, &[&minus_zero]),
        0
    );
}

#[test]
fn removes_integer_identities() {
    let mut b = B::new();
    let x = b.var(DType::I32, &[4]);
    let p1 = b.op(Primitive::Mul, &[v(x), i(1)]);
    let p2 = b.op(Primitive::Add, &[i(0), p1]);
    let p3 = b.op(Primitive::Sub, &[p2, i(0)]);
    let p4 = b.op(Primitive::Div, &[p3, i(1)]);
    let p5 = b.op(Primitive::Add, &[p4, i(0)]);
    let k = b.op(Primitive::Sub, &[i(0), p5]);
    let before = b.done(&[], &[x], &[k, p5]);
    check(
        &before,
        lift(simplify),
        r"
        { lambda ; a:i32[4]. let
            b:i32[4] = sub 0:i32[] a
          in (b, a) }",
    );
}

#[test]
fn cancels_double_negation() {
    let mut b = B::new();
    let x = b.var(DType::I32, &[3]);
    let n1 = b.op(Primitive::Neg, &[v(x)]);
    let n2 = b.op(Primitive::Neg, &[n1]);
    let n3 = b.op(Primitive::Neg, &[n2]);
    let n4 = b.op(Primitive::Neg, &[n3]);
    let before = b.done(&[], &[x], &[n2, n3, n4]);
    check(
        &before,
        simplify_dce,
        r"
        { lambda ; a:i32[3]. let
            b:i32[3] = neg a
          in (a, b, a) }",
    );
}

#[test]
fn composes_transposes() {
    let mut b = B::new();
    let x = b.var(DType::F32, &[2, 3, 4]);
    let t1 = b.op(tr(&[1, 2, 0]), &[v(x)]);
    let back = b.op(tr(&[2, 0, 1]), &[t1]);
    let t2 = b.op(tr(&[1, 0, 2]), &[v(x)]);
    let t3 = b.op(tr(&[0, 2, 1]), &[t2]);
    let same = b.op(tr(&[0, 1, 2]), &[v(x)]);
    let sum = b.op(Primitive::Add, &[t1, t3]);
    let before = b.done(&[], &[x], &[back, sum, same]);
    check(
        &before,
        simplify_dce,
        r"
        { lambda ; a:f32[2,3,4]. let
            b:f32[3,4,2] = transpose[permutation=(1, 2, 0)] a
            c:f32[3,4,2] = transpose[permutation=(1, 2, 0)] a
            d:f32[3,4,2] = add b c
          in (a, d, a) }",
    );
}

#[test]
fn shortens_reshape_chains() {
    let mut b = B::new();
    let x = b.var(DType::F32, &[2, 3, 4]);
    let r1 = b.op(rs(&[6, 4]), &[v(x)]);
    let flat = b.op(rs(&[24]), &[r1]);
    let r2 = b.op(rs(&[6, 4]), &[v(x)]);
    let back = b.op(rs(&[2, 3, 4]), &[r2]);
    let same = b.op(rs(&[2, 3, 4]), &[v(x)]);
    let before = b.done(&[], &[x], &[flat, back, same]);
    check(
        &before,
        simplify_dce,
        r"
        { lambda ; a:f32[2,3,4]. let
            b:f32[24] = reshape[new_sizes=(24,)] a
          in (b, a, a) }",
    );
}

#[test]
fn composes_broadcasts() {
    let mut b = B::new();
    let x = b.var(DType::F32, &[3]);
    let s = b.var(DType::F32, &[1]);
    let b1 = b.op(bcast(&[2, 3], &[1]), &[v(x)]);
    let b2 = b.op(bcast(&[4, 2, 3], &[1, 2]), &[b1]);
    let b3 = b.op(bcast(&[5], &[0]), &[v(s)]);
    let b4 = b.op(bcast(&[2, 5], &[1]), &[b3]);
    let same = b.op(bcast(&[3], &[0]), &[v(x)]);
    let before = b.done(&[], &[x, s], &[b2, b4, same]);
    check(
        &before,
        simplify_dce,
        r"
        { lambda ; a:f32[3] b:f32[1]. let
            c:f32[4,2,3] = broadcast_in_dim[shape=(4, 2, 3) broadcast_dimensions=(2,)] a
            d:f32[2,5] = broadcast_in_dim[shape=(2, 5) broadcast_dimensions=(1,)] b
          in (c, d, a) }",
    );
}

#[test]
fn drops_no_op_conversions_reductions_and_selects() {
    let mut b = B::new();
    let x = b.var(DType::F32, &[3]);
    let n = b.var(DType::I32, &[3]);
    let p = b.var(DType::Bool, &[3]);
    let convert = |d| Primitive::ConvertElementType { new_dtype: d };
    let c1 = b.op(convert(DType::F32), &[v(x)]);
    let c2 = b.op(convert(DType::I32), &[v(x)]);
    let none = || Primitive::ReduceSum { axes: vec![] };
    let r1 = b.op(none(), &[v(x)]);
    let r2 = b.op(none(), &[v(n)]);
    let s1 = b.op(Primitive::Select, &[bl(true), v(x), r1]);
    let s2 = b.op(Primitive::Select, &[bl(false), v(x), r1]);
    let s3 = b.op(Primitive::Select, &[v(p), v(x), v(x)]);
    let s4 = b.op(Primitive::Select, &[v(p), v(x), r1]);
    let before = b.done(&[], &[x, n, p], &[c1, c2, r1, r2, s1, s2, s3, s4]);
    check(
        &before,
        simplify_dce,
        r"
        { lambda ; a:f32[3] b:i32[3] c:bool[3]. let
            d:i32[3] = convert_element_type[new_dtype=i32] a
            e:f32[3] = add a 0.0:f32[]
            f:f32[3] = select c a e
          in (a, d, e, b, a, e, a, f) }",
    );
}

#[test]
fn keeps_a_select_whose_operand_is_smaller_than_the_result() {
    let mut b = B::new();
    let s = b.var(DType::F32, &[]);
    let t = b.var(DType::F32, &[2]);
    let r = b.op(Primitive::Select, &[bl(true), v(s), v(t)]);
    let before = b.done(&[], &[s, t], &[r]);
    check(
        &before,
        simplify_dce,
        r"
        { lambda ; a:f32[] b:f32[2]. let
            c:f32[2] = select True:bool[] a b
          in (c,) }",
    );
}

#[test]
fn absorbs_broadcast_scalars_into_elementwise_operations() {
    let mut b = B::new();
    let x = b.var(DType::F32, &[2, 3]);
    let s = b.var(DType::F32, &[]);
    let p = b.var(DType::Bool, &[2, 3]);
    let two = b.op(bcast(&[2, 3], &[]), &[f(2.0)]);
    let scaled = b.op(Primitive::Mul, &[two, v(x)]);
    let bs = b.op(bcast(&[2, 3], &[]), &[v(s)]);
    let zero = b.op(bcast(&[2, 3], &[]), &[f(0.0)]);
    let sel = b.op(Primitive::Select, &[v(p), zero, scaled]);
    // Both operands are broadcasts: one must stay to keep the shape.
    let sum = b.op(Primitive::Add, &[bs, zero]);
    let same = b.op(Primitive::Mul, &[bs, f(1.0)]);
    let top = b.op(Primitive::Max, &[bs, two]);
    let one = b.op(bcast(&[2, 3], &[]), &[f(1.0)]);
    let x1 = b.op(Primitive::Mul, &[one, v(x)]);
    let before = b.done(&[], &[x, s, p], &[sel, sum, same, top, x1]);
    check(
        &before,
        simplify_dce,
        r"
        { lambda ; a:f32[2,3] b:f32[] c:bool[2,3]. let
            d:f32[2,3] = mul 2.0:f32[] a
            e:f32[2,3] = broadcast_in_dim[shape=(2, 3) broadcast_dimensions=()] b
            f:f32[2,3] = select c 0.0:f32[] d
            g:f32[2,3] = add e 0.0:f32[]
            h:f32[2,3] = max e 2.0:f32[]
          in (f, g, e, h, a) }",
    );
}

#[test]
fn leaves_unrelated_equations_alone() {
    let mut b = B::new();
    let x = b.var(DType::F32, &[2, 3]);
    let e = b.op(Primitive::Exp, &[v(x)]);
    let t = b.op(tr(&[1, 0]), &[e]);
    let r = b.op(rs(&[6]), &[t]);
    let before = b.done(&[], &[x], &[r]);
    let after = simplify(&before.jaxpr);
    assert_eq!(after.to_string(), before.to_string());
}
