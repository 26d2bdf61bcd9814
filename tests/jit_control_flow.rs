//! `jit` of programs with control flow (`lax::scan`, `lax::cond`,
//! `lax::while_loop`, `lax::fori_loop`) runs compiled code, not the
//! reference interpreter, and gives the results of plain Rust loops.
//!
//! Whether a program ran compiled is observed through `RJAX_LOG_COMPILES`:
//! `jit` logs `rjax: not compiled (..)` when it falls back to the
//! interpreter. The environment variable is read per call, so the check
//! runs these programs in a child process of this test binary with the
//! variable set and reads its standard error.

use rjax::lax::{self, ScanOptions};
use rjax::{jit, jnp, Array};

fn f32s(v: &[f32], shape: &[usize]) -> Array {
    Array::from_vec(v.to_vec(), shape).expect("values fill the shape")
}

/// `h = tanh(a * h + x_t)`, `y_t = 2 h`, over f32[3] for 5 steps, in
/// reverse when asked.
fn recurrence(args: &(Array, Array, Array), reverse: bool) -> (Array, Array) {
    let (a, h0, xs) = args;
    let options = ScanOptions {
        reverse,
        ..ScanOptions::default()
    };
    lax::scan(
        |h: &Array, x: &Array| {
            let h = (a * h + x).tanh();
            let y = &h * 2.0;
            (h, y)
        },
        h0,
        xs,
        options,
    )
}

fn recurrence_args() -> (Array, Array, Array) {
    let xs: Vec<f32> = (0..15).map(|i| (i as f32 * 0.37).sin()).collect();
    (
        f32s(&[0.5, -0.75, 1.25], &[3]),
        f32s(&[0.1, 0.2, -0.3], &[3]),
        f32s(&xs, &[5, 3]),
    )
}

/// The recurrence by hand, in f64.
fn recurrence_by_hand(reverse: bool) -> (Vec<f64>, Vec<f64>) {
    let (a, mut h) = ([0.5f64, -0.75, 1.25], vec![0.1f64, 0.2, -0.3]);
    let mut ys = vec![0f64; 15];
    let order: Vec<usize> = if reverse {
        (0..5).rev().collect()
    } else {
        (0..5).collect()
    };
    for t in order {
        for j in 0..3 {
            let x = f64::from((((t * 3 + j) as f32) * 0.37).sin());
            h[j] = (a[j] * h[j] + x).tanh();
            ys[t * 3 + j] = 2.0 * h[j];
        }
    }
    (h, ys)
}

#[track_caller]
fn assert_close(got: &Array, want: &[f64]) {
    let got: Vec<f32> = got.to_vec().expect("f32 result");
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(*g) - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "element {i}: got {g}, want {w}"
        );
    }
}

/// The control-flow programs, each checked against plain loops.
fn run_programs() {
    for reverse in [false, true] {
        let f = jit(move |args: &(Array, Array, Array)| recurrence(args, reverse));
        let (h, ys) = f(&recurrence_args());
        let (want_h, want_ys) = recurrence_by_hand(reverse);
        assert_close(&h, &want_h);
        assert_close(&ys, &want_ys);
    }

    // cond on the sign of the sum: x * 2 or -x.
    let g = jit(|x: &Array| {
        let positive = jnp::greater(&x.sum(), &Array::scalar(0.0f32));
        lax::cond(&positive, |x: &Array| x * 2.0, |x: &Array| -x, x)
    });
    assert_close(&g(&f32s(&[1.0, -0.5], &[2])), &[2.0, -1.0]);
    assert_close(&g(&f32s(&[1.0, -3.0], &[2])), &[-1.0, 3.0]);

    // while x.sum() < 100: x = x * 3; a data-dependent trip count.
    let w = jit(|x: &Array| {
        lax::while_loop(
            |x: &Array| jnp::less(&x.sum(), &Array::scalar(100.0f32)),
            |x: &Array| x * 3.0,
            x,
        )
    });
    // 3 -> 9 -> 27 -> 81 -> 243: four trips; 200: none.
    assert_close(&w(&f32s(&[1.0, 2.0], &[2])), &[81.0, 162.0]);
    assert_close(&w(&f32s(&[150.0, 50.0], &[2])), &[150.0, 50.0]);

    // fori_loop: s = sum over i in 0..10 of i * x.
    let l = jit(|x: &Array| {
        lax::fori_loop(
            0,
            10,
            |i: &Array, s: &Array| s + &(x * &i.astype(rjax::DType::F32)),
            &jnp::zeros_like(x),
        )
    });
    assert_close(&l(&f32s(&[1.0, -0.5], &[2])), &[45.0, -22.5]);
}

#[test]
fn control_flow_under_jit_matches_plain_loops() {
    run_programs();
}

#[test]
fn control_flow_under_jit_is_compiled() {
    if std::env::var_os("RJAX_JIT_CF_CHILD").is_some() {
        run_programs();
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = std::process::Command::new(exe)
        .args([
            "control_flow_under_jit_is_compiled",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RJAX_JIT_CF_CHILD", "1")
        .env("RJAX_LOG_COMPILES", "1")
        .env_remove("RJAX_JIT_BACKEND")
        .output()
        .expect("child test runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stderr}");
    let traces = stderr.matches("rjax: tracing").count();
    assert_eq!(
        traces, 5,
        "expected one trace per jitted function, log:\n{stderr}"
    );
    assert!(
        !stderr.contains("not compiled"),
        "a program fell back to the interpreter:\n{stderr}"
    );
}
