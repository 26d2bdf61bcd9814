//! Cost of `grad` as a function of program length: the gradient of a chain
//! of `n` elementwise operations (alternating `sin` and multiplication by a
//! constant) on a small `f32[16]` array, for `n` = 100, 1000 and 10000.
//!
//! The arrays are tiny, so the time is the autodiff machinery itself:
//! tracing under the jvp trace, staging the linear (tangent) program,
//! dead-code elimination, and transposing it, plus the eager evaluation of
//! each primitive. All of these should be linear in `n`; the reported
//! throughput is operations per second, so a flat throughput across the
//! three sizes means linear cost.
//!
//! `cargo bench --bench grad_chain` (about a minute).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rjax::{grad, Array};
use std::hint::black_box;
use std::time::Duration;

/// `n` elementwise operations: `sin` at even steps, `* 0.999` at odd ones.
fn chain(x: &Array, n: usize) -> Array {
    let mut y = x.clone();
    for i in 0..n {
        y = if i % 2 == 0 { y.sin() } else { y * 0.999 };
    }
    y
}

fn grad_chain(c: &mut Criterion) {
    let x = Array::from_vec((0..16).map(|i| 0.1 * i as f32).collect(), &[16])
        .expect("16 values fill f32[16]");
    let mut group = c.benchmark_group("grad_chain");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for n in [100usize, 1000, 10000] {
        group.throughput(Throughput::Elements(n as u64));
        let df = grad(move |x: &Array| chain(x, n).sum());
        group.bench_with_input(BenchmarkId::from_parameter(n), &x, |b, x| {
            b.iter(|| black_box(df(black_box(x))))
        });
    }
    group.finish();
}

criterion_group!(benches, grad_chain);
criterion_main!(benches);
