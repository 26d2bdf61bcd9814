//! `lax::scan` under `jit`: compile time against the trip count, and run
//! time against the same loop written by hand in Rust.
//!
//! - `scan_compile/N`: compiling (fusion, kernel IR, Cranelift) the jaxpr
//!   of a scan of `h = tanh(a * h + x_t)` over f32[64] for N = 10^2, 10^3
//!   and 10^4 steps. The loop is compiled as a loop, so the time should not
//!   depend on N.
//! - `scan_run/{tanh,linear}/{rjax,hand}/D`: 10^4 steps of
//!   `h = tanh(a * h + x_t)` (`tanh`) or `h = a * h + 0.5 * x_t`
//!   (`linear`), `y_t = h`, over f32[D] (D = 1, 64, 1024): the jitted rjax
//!   function (cached executable; each call allocates its outputs), and a
//!   plain Rust loop over `Vec<f32>` (`f32::tanh` from the standard
//!   library) that also allocates its outputs.
//!
//! `cargo bench --bench scan` (about a minute).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rjax::lax::{scan, ScanOptions};
use rjax::{jit, make_jaxpr, Array};
use std::hint::black_box;
use std::time::Duration;

/// Steps of the run-time benchmark.
const STEPS: usize = 10_000;

/// The recurrence: `(a, h0, xs) -> (h_T, ys)`.
fn recurrence(args: &(Array, Array, Array)) -> (Array, Array) {
    let (a, h0, xs) = args;
    scan(
        |h: &Array, x: &Array| {
            let h = (a * h + x).tanh();
            (h.clone(), h)
        },
        h0,
        xs,
        ScanOptions::default(),
    )
}

/// The linear recurrence `h = a * h + 0.5 * x_t`, `y_t = h`.
fn linear(args: &(Array, Array, Array)) -> (Array, Array) {
    let (a, h0, xs) = args;
    scan(
        |h: &Array, x: &Array| {
            let h = a * h + x * 0.5;
            (h.clone(), h)
        },
        h0,
        xs,
        ScanOptions::default(),
    )
}

/// The linear recurrence by hand.
fn linear_by_hand(a: &[f32], h0: &[f32], xs: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let d = h0.len();
    let mut h = h0.to_vec();
    let mut ys = vec![0f32; xs.len()];
    for (x, y) in xs.chunks_exact(d).zip(ys.chunks_exact_mut(d)) {
        for j in 0..d {
            h[j] = a[j] * h[j] + x[j] * 0.5;
        }
        y.copy_from_slice(&h);
    }
    (h, ys)
}

/// The tanh recurrence by hand.
fn by_hand(a: &[f32], h0: &[f32], xs: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let d = h0.len();
    let mut h = h0.to_vec();
    let mut ys = vec![0f32; xs.len()];
    for (x, y) in xs.chunks_exact(d).zip(ys.chunks_exact_mut(d)) {
        for j in 0..d {
            h[j] = (a[j] * h[j] + x[j]).tanh();
        }
        y.copy_from_slice(&h);
    }
    (h, ys)
}

/// Inputs for `d` features and `steps` steps.
fn inputs(d: usize, steps: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let a = (0..d).map(|j| 0.5 + 0.4 * (j % 5) as f32 / 5.0).collect();
    let h0 = (0..d).map(|j| 0.01 * j as f32).collect();
    let xs = (0..d * steps)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    (a, h0, xs)
}

fn arrays(d: usize, steps: usize) -> (Array, Array, Array) {
    let (a, h0, xs) = inputs(d, steps);
    let arr = |v: Vec<f32>, s: &[usize]| Array::from_vec(v, s).expect("inputs fill their shapes");
    (arr(a, &[d]), arr(h0, &[d]), arr(xs, &[steps, d]))
}

fn scan_compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan_compile");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for steps in [100usize, 1000, 10_000] {
        let args = arrays(64, steps);
        let jaxpr = make_jaxpr(recurrence)(&args).expect("the scan traces");
        let avals = jaxpr.jaxpr.in_avals();
        group.bench_with_input(BenchmarkId::from_parameter(steps), &jaxpr, |b, j| {
            b.iter(|| {
                rjax_codegen::compile(black_box(j), &avals, rjax_codegen::Device::Cpu)
                    .expect("the scan compiles")
            })
        });
    }
    group.finish();
}

type Jitted = Box<dyn Fn(&(Array, Array, Array)) -> (Array, Array)>;
type Hand = fn(&[f32], &[f32], &[f32]) -> (Vec<f32>, Vec<f32>);

fn scan_run(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan_run");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let cases: [(&str, Jitted, Hand); 2] = [
        ("tanh", Box::new(jit(recurrence)), by_hand),
        ("linear", Box::new(jit(linear)), linear_by_hand),
    ];
    for (name, f, hand) in &cases {
        for d in [1usize, 64, 1024] {
            group.throughput(Throughput::Elements((d * STEPS) as u64));
            let args = arrays(d, STEPS);
            let (a, h0, xs) = inputs(d, STEPS);
            // Same results (within the tanh expansion's error) before timing.
            let (h, _) = f(&args);
            let (want, _) = hand(&a, &h0, &xs);
            let got: Vec<f32> = h.to_vec().expect("f32 result");
            let worst = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
                .fold(0f32, f32::max);
            assert!(
                worst < 1e-4,
                "jitted {name} scan differs from the loop by {worst}"
            );
            group.bench_with_input(
                BenchmarkId::new(format!("{name}/rjax"), d),
                &args,
                |b, args| b.iter(|| f(black_box(args))),
            );
            let inputs = (a, h0, xs);
            group.bench_with_input(
                BenchmarkId::new(format!("{name}/hand"), d),
                &inputs,
                |b, (a, h0, xs)| b.iter(|| hand(black_box(a), black_box(h0), black_box(xs))),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, scan_compile, scan_run);
criterion_main!(benches);
