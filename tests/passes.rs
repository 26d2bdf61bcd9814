//! The IR optimizer (`rjax_ir::passes::optimize`) on jaxprs that tracing
//! really produces: `make_jaxpr(grad(loss))` of the chapter's linear
//! classifier and of a 2-layer MLP (the same functions whose unoptimized
//! text `tests/autodiff.rs` pins). Each optimized jaxpr is checked against
//! hand-written text and, on the reference interpreter, against the
//! unoptimized one, bit for bit.

use rjax::prelude::*;
use rjax::Tree;
use rjax_ir::interp::interpret_closed;
use rjax_ir::passes::optimize;
use rjax_ir::{verify::verify_closed, ClosedJaxpr, HostBuffer};

/// Deterministic, varied test data in about [-1, 1] (as in `autodiff.rs`).
fn data(shape: &[usize], seed: f64) -> Array {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|i| (seed + 0.7 * i as f64).sin() as f32)
        .collect();
    Array::from_vec(values, shape).unwrap()
}

/// The leaves of `params` as host buffers.
fn buffers<A: Tree>(params: &A) -> Vec<HostBuffer> {
    let leaves = rjax::tree_leaves(params);
    leaves
        .iter()
        .map(|a| a.try_buffer("test").unwrap().clone())
        .collect()
}

/// Optimizes `make_jaxpr(grad(loss))(params)`, checks that the result
/// verifies, prints as `want` (given as an indented raw string) and
/// computes bit for bit what the unoptimized jaxpr computes.
#[track_caller]
fn check_optimized<A: Tree>(loss: impl Fn(&A) -> Array + Copy, params: &A, want: &str) {
    let before: ClosedJaxpr = make_jaxpr(grad(loss))(params).unwrap();
    let after = optimize(&before);
    verify_closed(&after).unwrap();
    let want: Vec<&str> = want.trim().lines().map(str::trim_start).collect();
    let got = after.to_string();
    let got: Vec<&str> = got.lines().map(str::trim_start).collect();
    assert_eq!(got, want, "\nbefore:\n{before}\nafter:\n{after}");
    let args = buffers(params);
    let expected = interpret_closed(&before, &args).unwrap();
    let actual = interpret_closed(&after, &args).unwrap();
    // Debug text tells every two floats apart (`-0.0` from `0.0` too).
    assert_eq!(
        format!("{actual:?}"),
        format!("{expected:?}"),
        "optimized results differ"
    );
    assert!(after.jaxpr.eqns.len() < before.jaxpr.eqns.len());
}

#[test]
fn linear_classifier_gradient_scales_by_one_literal() {
    let x = data(&[2000, 2], 0.0);
    let y = data(&[2000, 1], 1.0);
    let loss = |p: &(Array, Array)| {
        let (w, b) = p;
        (x.matmul(w) + b - &y).square().mean()
    };
    let params = (data(&[2, 1], 2.0), data(&[1], 3.0));
    // Unoptimized, the scale is `j = div 1.0 2000.0`,
    // `k = broadcast_in_dim j`, `l = mul k i` (see
    // tests/golden/grad_linear_classifier.txt).
    check_optimized(
        loss,
        &params,
        r"
        { lambda a:f32[2000,2] b:f32[2000,1] ; c:f32[2,1] d:f32[1]. let
            e:f32[2000,1] = dot_general[lhs_contract=(1,) rhs_contract=(0,) lhs_batch=() rhs_batch=()] a c
            f:f32[2000,1] = broadcast_in_dim[shape=(2000, 1) broadcast_dimensions=(1,)] d
            g:f32[2000,1] = add e f
            h:f32[2000,1] = sub g b
            i:f32[2000,1] = mul h 2.0:f32[]
            j:f32[2000,1] = mul 0.0005:f32[] i
            k:f32[1] = reduce_sum[axes=(0,)] j
            l:f32[2,1] = dot_general[lhs_contract=(0,) rhs_contract=(0,) lhs_batch=() rhs_batch=()] a j
          in (l, k) }",
    );
}

#[test]
fn mlp_gradient_loses_its_scalar_broadcasts() {
    let x = data(&[8, 4], 0.0);
    let y = data(&[8, 3], 1.0);
    let loss = |p: &(Array, Array, Array, Array)| {
        let (w1, b1, w2, b2) = p;
        (nn::relu(&(x.matmul(w1) + b1)).matmul(w2) + b2 - &y)
            .square()
            .mean()
    };
    let params = (
        data(&[4, 16], 2.0),
        data(&[16], 3.0),
        data(&[16, 3], 4.0),
        data(&[3], 5.0),
    );
    // Unoptimized (tests/golden/grad_mlp.txt), the mean's scale is
    // `div 1.0 24.0` broadcast and multiplied, and relu's cotangent selects
    // from a broadcast `0.0`.
    check_optimized(
        loss,
        &params,
        r"
        { lambda a:f32[8,4] b:f32[8,3] ; c:f32[4,16] d:f32[16] e:f32[16,3] f:f32[3]. let
            g:f32[8,16] = dot_general[lhs_contract=(1,) rhs_contract=(0,) lhs_batch=() rhs_batch=()] a c
            h:f32[8,16] = broadcast_in_dim[shape=(8, 16) broadcast_dimensions=(1,)] d
            i:f32[8,16] = add g h
            j:bool[8,16] = le i 0.0:f32[]
            k:f32[8,16] = select j 0.0:f32[] i
            l:f32[8,3] = dot_general[lhs_contract=(1,) rhs_contract=(0,) lhs_batch=() rhs_batch=()] k e
            m:f32[8,3] = broadcast_in_dim[shape=(8, 3) broadcast_dimensions=(1,)] f
            n:f32[8,3] = add l m
            o:f32[8,3] = sub n b
            p:f32[8,3] = mul o 2.0:f32[]
            q:f32[8,3] = mul 0.041666668:f32[] p
            r:f32[3] = reduce_sum[axes=(0,)] q
            s:f32[16,3] = dot_general[lhs_contract=(0,) rhs_contract=(0,) lhs_batch=() rhs_batch=()] k q
            t:f32[8,16] = dot_general[lhs_contract=(1,) rhs_contract=(1,) lhs_batch=() rhs_batch=()] q e
            u:f32[8,16] = select j 0.0:f32[] t
            v:f32[16] = reduce_sum[axes=(0,)] u
            w:f32[4,16] = dot_general[lhs_contract=(0,) rhs_contract=(0,) lhs_batch=() rhs_batch=()] a u
          in (w, v, s, r) }",
    );
}
