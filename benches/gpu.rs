//! GPU benchmarks (see `benches/GPU.md` for what they measure and the
//! recorded results). Without a CUDA device it prints
//! `skipped: no CUDA device` and exits successfully.
//!
//! Run with `cargo bench --bench gpu -- [--quick]`. Every figure is the
//! best of several repetitions after a warm-up, each timed from the first
//! enqueue to the end of `synchronize`.
//!
//! - `copy`: device-to-device copy of 2^28 f32 (the measured ceiling);
//! - `fused`: `jit(|(x, y)| x * 2 + y)` over 2^28 f32, reported in bytes
//!   moved per second (two reads and one write per element) and as a
//!   fraction of `copy` (target ≥ 0.8);
//! - `matmul`: `jit(|(a, b)| a.matmul(b))` against one cuBLAS call on the
//!   same buffers (`rjax_codegen::cuda::gemm::blas_matmul`), n × n f32;
//! - `mlp_step`: the training step of `benches/workloads.rs` (784-512-512-10
//!   MLP, batch 128, SGD) on the GPU, in steps per second, the figure to
//!   set beside JAX's `mlp_step` on the same GPU.

use rjax::prelude::*;
use rjax::Device;
use rjax_codegen::cuda::{self, gemm::blas_matmul, CudaBuffer};
use std::time::Instant;

/// Best time of `reps` runs of `f` (after one warm-up), each ended by a
/// device synchronisation.
fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    let sync = || cuda::synchronize(0).expect("synchronize");
    f();
    sync();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            sync();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn array(shape: &[usize], seed: u64) -> Array {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(6364136223846793005) | 1;
    let data: Vec<f32> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Array::from_vec(data, shape).expect("shape")
}

fn on_gpu(shape: &[usize], seed: u64) -> Array {
    array(shape, seed)
        .to_device(&Device::Cuda(0))
        .expect("copy to the GPU")
}

type Params = Vec<(Array, Array)>;

fn mlp_loss(params: &Params, x: &Array, labels: &Array) -> Array {
    let mut h = x.clone();
    for (i, (w, b)) in params.iter().enumerate() {
        h = h.matmul(w) + b;
        if i + 1 < params.len() {
            h = nn::relu(&h);
        }
    }
    -(nn::log_softmax(&h, -1) * labels)
        .sum_axes(-1, false)
        .mean()
}

fn main() {
    let gpus = match cuda::devices() {
        Ok(list) if !list.is_empty() => list,
        Ok(_) | Err(_) => {
            println!("skipped: no CUDA device");
            return;
        }
    };
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 10 };
    let card = &gpus[0];
    println!(
        "device: {} (compute capability {}.{}, {} SMs, {:.1} GiB)",
        card.name,
        card.compute_capability.0,
        card.compute_capability.1,
        card.multiprocessors,
        card.total_memory as f64 / (1u64 << 30) as f64
    );

    let n = 1usize << 28;
    let gb = |bytes: f64, t: f64| bytes / t / 1e9;
    let x = on_gpu(&[n], 1);
    let y = on_gpu(&[n], 2);
    let host = x.to_device(&Device::Cpu).expect("host copy");
    let xb = CudaBuffer::upload(host.try_buffer("bench").expect("host"), 0).expect("upload");
    let t_copy = best_of(reps, || {
        xb.duplicate().expect("copy");
    });
    let copy_bw = gb(2.0 * 4.0 * n as f64, t_copy);
    println!("copy: {copy_bw:.1} GB/s (2^28 f32, read + write)");
    let fused = rjax::Jit::new(|(a, b): &(Array, Array)| a * 2.0 + b);
    let args = (x, y);
    let t_fused = best_of(reps, || {
        fused.try_call(&args).expect("fused");
    });
    let fused_bw = gb(3.0 * 4.0 * n as f64, t_fused);
    println!(
        "fused: {fused_bw:.1} GB/s = {:.3} of copy (target >= 0.8)",
        fused_bw / copy_bw
    );
    drop(args);

    for n in [1024usize, 4096, 8192] {
        let (a, b) = (on_gpu(&[n, n], 3), on_gpu(&[n, n], 4));
        let flops = 2.0 * (n * n * n) as f64;
        let mm = rjax::Jit::new(|(a, b): &(Array, Array)| a.matmul(b));
        let args = (a, b);
        let t_rjax = best_of(reps, || {
            mm.try_call(&args).expect("matmul");
        });
        let bufs: Vec<CudaBuffer> = [&args.0, &args.1]
            .iter()
            .map(|a| CudaBuffer::upload(a.try_buffer("bench").expect("host"), 0).expect("upload"))
            .collect();
        let t_blas = best_of(reps, || {
            blas_matmul(&bufs[0], &bufs[1]).expect("cublas");
        });
        println!(
            "matmul_{n}: rjax {:.0} GFLOP/s, cuBLAS {:.0} GFLOP/s, ratio {:.3} (target >= 0.9)",
            flops / t_rjax / 1e9,
            flops / t_blas / 1e9,
            t_blas / t_rjax
        );
    }

    let sizes = [784usize, 512, 512, 10];
    let params: Params = sizes
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let scale = (2.0 / w[0] as f64).sqrt();
            (
                on_gpu(&[w[0], w[1]], 10 + i as u64) * scale,
                jnp::zeros(&[w[1]], DType::F32)
                    .to_device(&Device::Cuda(0))
                    .expect("gpu"),
            )
        })
        .collect();
    let labels = nn::one_hot(
        &Array::from_vec((0..128).map(|i| i % 10).collect::<Vec<i32>>(), &[128]).expect("labels"),
        10,
        DType::F32,
    )
    .to_device(&Device::Cuda(0))
    .expect("gpu");
    let step = rjax::Jit::new(|(p, x, y): &(Params, Array, Array)| {
        let g = grad(|p: &Params| mlp_loss(p, x, y))(p);
        tree_map2(p, &g, |p, g| p - g * 0.01)
    });
    let mut state = (params, on_gpu(&[128, 784], 6), labels);
    let t_step = best_of(reps, || {
        state.0 = step.try_call(&state).expect("mlp step");
    });
    println!("mlp_step: {:.1} steps/s", 1.0 / t_step);
}
