//! The rjax side of `benches/compare_jax.py`: runs each workload and prints
//! one JSON object `{"name": [value, "unit"], ...}` on stdout.
//!
//! Run directly with `cargo bench --bench workloads -- [--quick]`. Figures
//! are steady-state (after a warm-up call), best of several repetitions,
//! with buffers allocated by the runtime on each call.

// The benchmarks use part of the examples' shared modules.
#[allow(dead_code)]
#[path = "../examples/common/digits.rs"]
mod digits;
#[allow(dead_code)]
#[path = "../examples/common/linear.rs"]
mod linear;

use rjax::keras::callbacks::{Callback, CallbackContext, Logs};
use rjax::keras::training::FitConfig;
use rjax::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A callback that records the wall time between the start of training and
/// each epoch's end, and between consecutive epoch ends.
#[derive(Debug, Default)]
struct EpochTimes {
    last: Option<Instant>,
    times: Arc<Mutex<Vec<f64>>>,
}

impl Callback for EpochTimes {
    fn on_train_begin(&mut self, _ctx: &mut CallbackContext) -> rjax::Result<()> {
        self.last = Some(Instant::now());
        Ok(())
    }

    fn on_epoch_end(&mut self, _: usize, _: &Logs, _: &mut CallbackContext) -> rjax::Result<()> {
        let now = Instant::now();
        if let (Some(last), Ok(mut times)) = (self.last, self.times.lock()) {
            times.push((now - last).as_secs_f64());
        }
        self.last = Some(now);
        Ok(())
    }
}

/// Seconds per epoch of the digits MLP (`examples/digits_mlp.rs`: batch
/// size 32, validation after each epoch), steady state: the best epoch
/// after the first, which traces and compiles the steps.
fn digits_epoch(reps: usize) -> rjax::Result<f64> {
    let all = digits::load(&digits::default_path())?;
    let (train, validation) = digits::split(&all, &random::key(0), 0.2);
    let mut model = digits::mlp(0)?;
    let times = Arc::new(Mutex::new(Vec::new()));
    let timer = EpochTimes {
        last: None,
        times: Arc::clone(&times),
    };
    let config = FitConfig {
        epochs: 1 + reps,
        callbacks: vec![Box::new(timer)],
        verbose: 0,
        ..Default::default()
    };
    digits::fit(&mut model, &train, &validation, config)?;
    let times = times.lock().map(|t| t.clone()).unwrap_or_default();
    Ok(times.iter().skip(1).copied().fold(f64::INFINITY, f64::min))
}

/// Seconds for the chapter-3 linear classifier through Keras: a fresh
/// `Sequential([Dense(1)])`, `compile(SGD(0.1), mse, binary_accuracy)` and
/// `fit` for 40 epochs of one batch of 2000 points, end to end (tracing and
/// compiling included); the best of `reps` runs.
fn keras_linear(reps: usize) -> rjax::Result<f64> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/linear_classifier/points.csv");
    let data = linear::load_points(&path)?;
    let init = (
        jnp::zeros(&[2, 1], DType::F32),
        jnp::zeros(&[1], DType::F32),
    );
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        linear::train_keras(&data, &init, 40, 0.0, 0)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Best wall time of `reps` runs of `f`, in seconds.
fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn normal(n: usize, seed: u64) -> Vec<f32> {
    // A small deterministic generator; the values only need to be varied.
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn array(shape: &[usize], seed: u64) -> Array {
    Array::from_vec(normal(shape.iter().product(), seed), shape).expect("shape")
}

type Params = Vec<(Array, Array)>;

fn mlp_params(sizes: &[usize]) -> Params {
    sizes
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let scale = (2.0 / w[0] as f32).sqrt();
            (
                array(&[w[0], w[1]], i as u64 + 10) * scale as f64,
                jnp::zeros(&[w[1]], DType::F32),
            )
        })
        .collect()
}

fn mlp_loss(params: &Params, x: &Array, labels: &Array) -> Array {
    let mut h = x.clone();
    for (i, (w, b)) in params.iter().enumerate() {
        h = h.matmul(w) + b;
        if i + 1 < params.len() {
            h = nn::relu(&h);
        }
    }
    let logp = nn::log_softmax(&h, -1);
    -(logp * labels).sum_axes(-1, false).mean()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 10 };
    let mut results: Vec<(String, f64, &str)> = Vec::new();

    for n in [256usize, 1024, 2048] {
        let (a, b) = (array(&[n, n], 1), array(&[n, n], 2));
        let f = jit(|(a, b): &(Array, Array)| a.matmul(b));
        let args = (a, b);
        let t = best_of(reps, || {
            f(&args);
        });
        results.push((
            format!("matmul_{n}"),
            2.0 * (n * n * n) as f64 / t / 1e9,
            "GFLOP/s",
        ));
    }
    for (name, n) in [("fused_1m", 1usize << 20), ("fused_16m", 1 << 24)] {
        let x = array(&[n], 3);
        let f = jit(|x: &Array| (x * 1.5 + 0.5).tanh() * 0.3 + (-(x * x)).exp());
        let t = best_of(reps, || {
            f(&x);
        });
        results.push((name.into(), 8.0 * n as f64 / t / 1e9, "GB/s"));
    }
    {
        let n = 1usize << 24;
        let x = array(&[n], 4);
        let f = jit(|x: &Array| x.sum());
        let t = best_of(reps, || {
            f(&x);
        });
        results.push(("sum_16m".into(), 4.0 * n as f64 / t / 1e9, "GB/s"));
    }
    {
        let x = array(&[4096, 1024], 5);
        let f = jit(|x: &Array| nn::softmax(x, -1));
        let t = best_of(reps, || {
            f(&x);
        });
        results.push((
            "softmax".into(),
            8.0 * (4096 * 1024) as f64 / t / 1e9,
            "GB/s",
        ));
    }
    {
        let params = mlp_params(&[784, 512, 512, 10]);
        let x = array(&[128, 784], 6);
        let labels = nn::one_hot(
            &Array::from_vec((0..128).map(|i| i % 10).collect::<Vec<i32>>(), &[128]).unwrap(),
            10,
            DType::F32,
        );
        let step = jit(|(p, x, y): &(Params, Array, Array)| {
            let g = grad(|p: &Params| mlp_loss(p, x, y))(p);
            tree_map2(p, &g, |p, g| p - g * 0.01)
        });
        let mut state = (params, x, labels);
        let t = best_of(reps, || {
            let next = step(&state);
            state.0 = next;
        });
        results.push(("mlp_step".into(), 1.0 / t, "steps/s"));
    }
    for depth in [2usize, 8, 32] {
        let sizes: Vec<usize> = std::iter::repeat_n(64, depth + 1).collect();
        let params = mlp_params(&sizes);
        let x = array(&[32, 64], 7);
        let y = nn::one_hot(
            &Array::from_vec((0..32).map(|i| i % 64).collect::<Vec<i32>>(), &[32]).unwrap(),
            64,
            DType::F32,
        );
        let t = Instant::now();
        let f = jit(grad(|p: &Params| mlp_loss(p, &x, &y)));
        f(&params);
        results.push((
            format!("compile_d{depth}"),
            t.elapsed().as_secs_f64(),
            "s (first call)",
        ));
    }
    {
        let (a, b) = (array(&[4], 8), array(&[4], 9));
        let iters = if quick { 2_000 } else { 20_000 };
        let t = best_of(3, || {
            for _ in 0..iters {
                std::hint::black_box(&a + &b);
            }
        });
        results.push(("eager_add".into(), t / iters as f64 * 1e6, "us/op"));
    }
    {
        // The chapter's linear classifier: 40 full-batch steps on 2000
        // points, end to end (tracing and compiling the step included).
        let x = array(&[2000, 2], 11);
        let y = jnp::greater(&x.sum_axes(-1, true), &Array::scalar(0.0f32)).astype(DType::F32);
        let t = Instant::now();
        let step = jit(|(p, x, y): &((Array, Array), Array, Array)| {
            let loss = |p: &(Array, Array)| (x.matmul(&p.0) + &p.1 - y).square().mean();
            let (l, g) = value_and_grad(loss)(p);
            (l, tree_map2(p, &g, |p, g| p - g * 0.1))
        });
        let mut params = (
            jnp::zeros(&[2, 1], DType::F32),
            jnp::zeros(&[1], DType::F32),
        );
        for _ in 0..40 {
            let (l, next) = step(&(params, x.clone(), y.clone()));
            std::hint::black_box(l);
            params = next;
        }
        results.push(("linear_classifier".into(), t.elapsed().as_secs_f64(), "s"));
    }
    {
        let n = 1usize << 24;
        let key = random::key(0);
        let f = jit(move |k: &Array| random::normal(k, &[n], DType::F32));
        let t = best_of(reps, || {
            f(&key);
        });
        results.push(("normal_16m".into(), n as f64 / t / 1e9, "Gsamples/s"));
    }
    match digits_epoch(reps) {
        Ok(t) => results.push(("digits_epoch".into(), t, "s")),
        Err(e) => eprintln!("digits_epoch: {e}"),
    }
    match keras_linear(reps) {
        Ok(t) => results.push(("keras_linear".into(), t, "s")),
        Err(e) => eprintln!("keras_linear: {e}"),
    }
    let body: Vec<String> = results
        .iter()
        .map(|(k, v, u)| format!("\"{k}\": [{v}, \"{u}\"]"))
        .collect();
    println!("{{{}}}", body.join(", "));
}
