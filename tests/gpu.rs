//! The GPU backend on a real GPU, compared with the CPU. Every test checks
//! for a CUDA device at run time and, without one, prints
//! `skipped: no CUDA device` and passes (the CPU-only checks of the device
//! paths are in `tests/devices.rs`).
//!
//! What runs on a GPU: host↔device copies of every dtype; jitted programs
//! on GPU arrays (fused elementwise work with the expanded transcendental
//! functions, one- and two-pass reductions, argmax, cumulative sums,
//! gathers and scatter-adds, concatenate/pad/slice, matrix products in f32
//! and f64 with transposed and batched operands through cuBLAS, the
//! ChaCha20 random bits) compared with the same programs on the CPU;
//! mixing devices; an MLP training step; and the whole conformance corpus
//! with `RJAX_PLATFORM=cuda`, which runs every `jit` check of the harness
//! on the GPU.

use rjax::prelude::*;
use rjax::{Device, Error, Jit};
use rjax_ir::error::DeviceErrorKind;

/// The first GPU, or `None` after printing the skip line.
fn gpu() -> Option<Device> {
    match rjax::device::cuda_devices() {
        Ok(list) if !list.is_empty() => {
            println!(
                "GPU: {} (sm_{}{})",
                list[0].name, list[0].compute_capability.0, list[0].compute_capability.1
            );
            Some(Device::Cuda(0))
        }
        Ok(_) | Err(_) => {
            println!("skipped: no CUDA device");
            None
        }
    }
}

fn values(n: usize, seed: u64) -> Vec<f32> {
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
    Array::from_vec(values(shape.iter().product(), seed), shape).expect("shape")
}

type Program = fn(&Vec<Array>) -> Vec<Array>;

/// Runs `f` under `jit` on the CPU and on `gpu`, and compares: floats
/// within `rtol` (relative to the larger magnitude, plus `rtol` absolute
/// near zero), integers and bools exactly.
fn same_on_both(name: &str, gpu: Device, f: Program, inputs: Vec<Array>, rtol: f64) {
    let on_cpu: Vec<Array> = inputs
        .iter()
        .map(|a| a.to_device(&Device::Cpu).expect("cpu"))
        .collect();
    let on_gpu: Vec<Array> = inputs
        .iter()
        .map(|a| a.to_device(&gpu).expect("to the GPU"))
        .collect();
    let want = Jit::new(f).try_call(&on_cpu).expect("cpu run");
    let got = Jit::new(f).try_call(&on_gpu).expect("gpu run");
    assert_eq!(want.len(), got.len(), "{name}");
    for (k, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(g.device(), gpu, "{name}: output {k} left the GPU");
        assert_eq!(
            (w.dtype(), w.shape()),
            (g.dtype(), g.shape()),
            "{name}: output {k}"
        );
        let (w, g) = (w.to_f64_vec().expect("cpu"), g.to_f64_vec().expect("gpu"));
        let exact = !matches!(want[k].dtype(), DType::F32 | DType::F64);
        for (i, (a, b)) in w.iter().zip(&g).enumerate() {
            let ok = if exact || !a.is_finite() {
                a == b || (a.is_nan() && b.is_nan())
            } else {
                (a - b).abs() <= rtol * a.abs().max(b.abs()).max(1.0)
            };
            assert!(ok, "{name}: output {k}[{i}]: cpu {a}, gpu {b}");
        }
    }
    println!("{name}: gpu matches cpu");
}

#[test]
fn copies_round_trip_every_dtype() {
    let Some(gpu) = gpu() else { return };
    let cases = vec![
        array(&[3, 5], 1),
        Array::from_vec(vec![1.5f64, -2.25, 1e300], &[3]).expect("f64"),
        Array::from_vec(vec![i32::MIN, -1, 0, 7, i32::MAX], &[5]).expect("i32"),
        Array::from_vec(vec![0u32, 1, u32::MAX], &[3]).expect("u32"),
        Array::from_vec(vec![true, false, true, true], &[2, 2]).expect("bool"),
        Array::from_vec(Vec::<f32>::new(), &[0, 4]).expect("empty"),
        Array::scalar(3.5f32),
    ];
    for x in cases {
        let y = x.to_device(&gpu).expect("upload");
        assert_eq!(y.device(), gpu);
        assert_eq!((y.dtype(), y.shape()), (x.dtype(), x.shape()));
        assert_eq!(y.to_f64_vec(), x.to_f64_vec());
        let back = y.to_device(&Device::Cpu).expect("download");
        assert_eq!(back.to_f64_vec(), x.to_f64_vec());
    }
}

#[test]
fn fused_elementwise_and_transcendentals() {
    let Some(gpu) = gpu() else { return };
    let f: Program = |a| {
        let (x, y) = (&a[0], &a[1]);
        vec![
            (x * 2.0 + y).exp() - (y * y + 1.0).log() + x.tanh() * y.sigmoid(),
            x.sin() * y.cos() + (x.abs() + 1.0).sqrt(),
            jnp::where_(&jnp::greater(x, y), x, y),
        ]
    };
    same_on_both(
        "elementwise",
        gpu,
        f,
        vec![array(&[1000, 37], 2), array(&[1000, 37], 3)],
        1e-6,
    );
    let g: Program = |a| vec![(&a[0] + &a[1]).exp()];
    // Broadcasting, and more than one block per SM of work.
    same_on_both(
        "broadcast",
        gpu,
        g,
        vec![array(&[4096, 1024], 4), array(&[1024], 5)],
        1e-6,
    );
}

#[test]
fn reductions_small_and_two_pass() {
    let Some(gpu) = gpu() else { return };
    let f: Program = |a| {
        let x = &a[0];
        vec![
            x.sum(),
            x.max(),
            jnp::sum(x, 1, false),
            jnp::max(x, 0, false),
            x.argmax(1),
            jnp::cumsum(x, 1),
        ]
    };
    same_on_both("reductions", gpu, f, vec![array(&[300, 200], 6)], 1e-5);
    // 2^22 elements: above the one-block limit, so the two-pass scheme.
    let big: Program = |a| vec![a[0].sum(), a[0].max(), (&a[0] * &a[0]).sum()];
    same_on_both("two-pass", gpu, big, vec![array(&[1 << 22], 7)], 1e-5);
}

#[test]
fn indexing_and_layout() {
    let Some(gpu) = gpu() else { return };
    let f: Program = |a| {
        let (x, i) = (&a[0], &a[1]);
        vec![
            x.take(i, 0),
            x.at(&s![i]).add(&Array::scalar(1.0f32)),
            jnp::concatenate(&[x.clone(), x * 2.0], 1),
            jnp::pad(x, &[1, 2], &[0, 3], 0.5),
            x.index(&s![1..5, ..;2]),
            x.transpose(),
        ]
    };
    let idx = Array::from_vec(vec![0i32, 3, 3, 7, 1], &[5]).expect("indices");
    same_on_both("indexing", gpu, f, vec![array(&[8, 6], 8), idx], 0.0);
}

#[test]
fn matrix_products_through_cublas() {
    let Some(gpu) = gpu() else { return };
    let f: Program = |a| {
        let (x, y) = (&a[0], &a[1]);
        vec![
            x.matmul(y),
            x.transpose().transpose().matmul(y) + 1.0,
            y.transpose().matmul(&x.transpose()),
        ]
    };
    same_on_both(
        "matmul f32",
        gpu,
        f,
        vec![array(&[257, 130], 9), array(&[130, 65], 10)],
        1e-5,
    );
    let g: Program = |a| {
        let x = a[0].astype(DType::F64);
        let y = a[1].astype(DType::F64);
        vec![
            jnp::matmul(&x, &y),
            jnp::matmul(&jnp::swapaxes(&y, 1, 2), &jnp::swapaxes(&x, 1, 2)),
        ]
    };
    same_on_both(
        "batched matmul f64",
        gpu,
        g,
        vec![array(&[4, 33, 17], 11), array(&[4, 17, 9], 12)],
        1e-12,
    );
}

#[test]
fn random_bits_are_identical_on_both() {
    let Some(gpu) = gpu() else { return };
    let f: Program = |a| {
        vec![
            random::bits(&a[0], &[1000, 3]),
            random::uniform(&a[0], &[4097], DType::F32, 0.0, 1.0),
            random::normal(&a[0], &[513], DType::F64),
        ]
    };
    same_on_both("random", gpu, f, vec![random::key(42)], 0.0);
}

#[test]
fn mixing_devices_is_a_typed_error_naming_both() {
    let Some(gpu) = gpu() else { return };
    let x = array(&[4], 13).to_device(&Device::Cpu).expect("cpu");
    let y = array(&[4], 14).to_device(&gpu).expect("gpu");
    let err = Jit::new(|(a, b): &(Array, Array)| a + b)
        .try_call(&(x.clone(), y.clone()))
        .expect_err("cpu and cuda:0");
    assert!(
        matches!(
            err,
            Error::Device {
                kind: DeviceErrorKind::Mismatch,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("argument 0 lives on cpu") && text.contains("argument 1 lives on cuda:0"),
        "{text}"
    );
    // Eager operations panic with the same message.
    let panic = std::panic::catch_unwind(|| &x + &y).expect_err("mixed eager add");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("lives on cuda:0"), "{message}");
    // Uncommitted arrays follow the committed one.
    let z = Jit::new(|(a, b): &(Array, Array)| a + b)
        .try_call(&(array(&[4], 13), y))
        .expect("host + gpu");
    assert_eq!(z.device(), gpu);
}

#[test]
fn mlp_training_step_matches_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let step: Program = |a| {
        let (x, labels) = (&a[4], &a[5]);
        let loss = |p: &Vec<Array>| {
            let h = nn::relu(&(x.matmul(&p[0]) + &p[1]));
            let logits = h.matmul(&p[2]) + &p[3];
            -(nn::log_softmax(&logits, -1) * labels).sum() / x.shape()[0] as f64
        };
        let params = a[..4].to_vec();
        let (l, g) = value_and_grad(loss)(&params);
        let mut out = vec![l];
        out.extend(params.iter().zip(&g).map(|(p, g)| p - g * 0.1));
        out
    };
    let labels = nn::one_hot(
        &Array::from_vec((0..256).map(|i| i % 10).collect::<Vec<i32>>(), &[256]).expect("labels"),
        10,
        DType::F32,
    );
    let inputs = vec![
        array(&[64, 128], 20) * 0.1,
        jnp::zeros(&[128], DType::F32),
        array(&[128, 10], 21) * 0.1,
        jnp::zeros(&[10], DType::F32),
        array(&[256, 64], 22),
        labels,
    ];
    same_on_both("mlp step", gpu, step, inputs, 1e-5);
}

/// The conformance corpus with `RJAX_PLATFORM=cuda`: the harness's `jit`
/// checks then run on the GPU. Needs the harness built (`cargo test
/// --release` builds every test binary first).
#[test]
fn conformance_corpus_under_jit_on_the_gpu() {
    let Some(_) = gpu() else { return };
    let exe = std::env::current_exe().expect("test binary");
    let deps = exe.parent().expect("deps folder");
    let harness = std::fs::read_dir(deps)
        .expect("deps folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("conformance-") && !n.contains('.'))
        })
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let harness = harness.expect(
        "build the conformance harness first: cargo test --release --test conformance --no-run",
    );
    let out = std::process::Command::new(harness)
        .args(["--nocapture", "--test-threads=1"])
        .env("RJAX_PLATFORM", "cuda")
        .output()
        .expect("run the conformance harness");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines().filter(|l| l.starts_with("conformance[")) {
        println!("{line}");
    }
    assert!(
        out.status.success(),
        "conformance on the GPU failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
