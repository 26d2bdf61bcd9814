//! Float `min`/`max` with a constant operand in vectorised loops: the CPU
//! backend lowers them to one `minps`/`maxps` when the constant allows it
//! (see `cpu::simd`), which must stay bit-identical to the kernel
//! interpreter on NaNs, signed zeros, infinities and the constant itself.

#[allow(dead_code)] // the helpers are shared with the other CPU tests
mod cpu_support;

use cpu_support::*;
use rjax_codegen::kernel::{BinaryOp, Const, Expr, ScalarType};
use rjax_ir::{DType, Data, Scalar};

/// Inputs covering the special cases, each constant, and values near them.
fn inputs(n: usize, consts: &[f64]) -> Vec<f64> {
    let special = [
        0.0,
        -0.0,
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1.0,
        -1.0,
        1e-40,
        -1e-40,
    ];
    let mut rng = Rng::new(7);
    (0..n)
        .map(|i| match i % 3 {
            0 => special[(i / 3) % special.len()],
            1 => consts[(i / 3) % consts.len()],
            _ => (rng.unit() - 0.5) * 8.0,
        })
        .collect()
}

fn check(dtype: DType, op: BinaryOp, c: f64, const_first: bool) {
    let n = 203;
    let ty = ScalarType::of(dtype);
    let k = map_kernel(&[dtype], dtype, n, |kb, body, xs| {
        let s = match dtype {
            DType::F64 => Scalar::F64(c),
            _ => Scalar::F32(c as f32),
        };
        let cv = kb.let_(body, ty, Expr::Const(Const::Scalar(s)));
        let (a, b) = if const_first {
            (cv, xs[0])
        } else {
            (xs[0], cv)
        };
        kb.let_(body, ty, Expr::Binary(op, a, b))
    });
    assert_vectorized(&k, 1);
    let consts = [c, -c, 0.0, -0.0];
    let xs = inputs(n, &consts);
    let x = match dtype {
        DType::F64 => Data::F64(xs),
        _ => Data::F32(xs.iter().map(|&v| v as f32).collect()),
    };
    let out = Data::filled(Scalar::zero(dtype), n);
    for narrow in [false, true] {
        let (want, got) = run_both_on(narrow, &k, vec![x.clone(), out.clone()]);
        assert_same_data(
            &format!("{dtype:?} {op:?} c={c} const_first={const_first} narrow={narrow}"),
            &want[1],
            &got[1],
            0.0,
        );
    }
}

#[test]
fn min_and_max_with_constants_match_the_interpreter_bit_for_bit() {
    for dtype in [DType::F32, DType::F64] {
        for op in [BinaryOp::Min, BinaryOp::Max] {
            for c in [0.0, -0.0, 1.5, -2.0, 89.0, -104.0, f64::INFINITY, f64::NAN] {
                for const_first in [false, true] {
                    check(dtype, op, c, const_first);
                }
            }
        }
    }
}

#[test]
fn signed_zeros_follow_the_kernel_semantics() {
    // Hand-checked against the kernel IR's definition (IEEE minimum and
    // maximum: -0 < +0): the interpreter and the backend must both give it.
    for (op, c, x, want) in [
        (BinaryOp::Min, 0.0f32, -0.0f32, -0.0f32),
        (BinaryOp::Min, -0.0, 0.0, -0.0),
        (BinaryOp::Max, 0.0, -0.0, 0.0),
        (BinaryOp::Max, -0.0, 0.0, 0.0),
    ] {
        let n = 8;
        let k = map_kernel(&[DType::F32], DType::F32, n, |kb, body, xs| {
            let cv = kb.let_(
                body,
                ScalarType::F32,
                Expr::Const(Const::Scalar(Scalar::F32(c))),
            );
            kb.let_(body, ScalarType::F32, Expr::Binary(op, xs[0], cv))
        });
        let bufs = vec![
            Data::F32(vec![x; n]),
            Data::filled(Scalar::zero(DType::F32), n),
        ];
        let (w, g) = run_both(&k, bufs);
        for (name, d) in [("interpreter", &w[1]), ("cpu backend", &g[1])] {
            let Data::F32(v) = d else {
                panic!("{name}: not f32")
            };
            assert!(
                v.iter().all(|r| r.to_bits() == want.to_bits()),
                "{name}: {op:?}({x}, {c}) = {v:?}, want {want}"
            );
        }
    }
}
