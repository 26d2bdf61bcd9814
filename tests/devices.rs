//! Devices on any machine: the CPU is always there; CUDA devices only with
//! an NVIDIA driver. Without one (the usual CI machine), asking for the GPU
//! (`RJAX_PLATFORM=cuda`, `Array::to_device`) gives typed errors that say
//! so; unknown platforms and mixed devices are typed errors too. With a
//! driver, the same tests check the GPU side of each path instead.
//!
//! The environment-variable cases run in child processes (this test binary
//! re-run on one test, `probe_default_device`, with `RJAX_PLATFORM` set), so
//! no test changes the environment of the others.

use rjax::device::{common_device, parse_platform, PLATFORM_VAR};
use rjax::prelude::*;
use rjax::{Device, Error, Jit};
use rjax_ir::error::DeviceErrorKind;
use std::process::Command;

fn driver_present() -> bool {
    rjax_codegen::cuda::driver_present()
}

fn kind(e: &Error) -> Option<DeviceErrorKind> {
    match e {
        Error::Device { kind, .. } => Some(*kind),
        _ => None,
    }
}

fn x() -> Array {
    Array::from_vec(vec![1.0f32, -2.0, 3.0], &[3]).expect("shape")
}

#[test]
fn devices_list_the_cpu_first_and_gpus_only_with_a_driver() {
    let all = rjax::devices();
    assert_eq!(all[0], Device::Cpu);
    assert!(all[1..].iter().all(|d| matches!(d, Device::Cuda(_))));
    match rjax::device::cuda_devices() {
        Ok(gpus) => assert_eq!(all.len(), 1 + gpus.len()),
        Err(e) => {
            assert_eq!(all, vec![Device::Cpu]);
            if !driver_present() {
                assert_eq!(kind(&e), Some(DeviceErrorKind::NoDriver));
                assert_eq!(
                    e.to_string(),
                    "cuda: the CUDA driver library (libcuda.so) could not be loaded: no NVIDIA \
                     GPU driver is installed on this machine (run on the CPU: unset \
                     RJAX_PLATFORM or set RJAX_PLATFORM=cpu)"
                );
            }
        }
    }
}

#[test]
fn device_names_print_like_jax() {
    assert_eq!(Device::Cpu.to_string(), "cpu");
    assert_eq!(Device::Cuda(3).to_string(), "cuda:3");
}

#[test]
fn platform_values_parse_to_devices() {
    assert_eq!(parse_platform(None), Ok(Device::Cpu));
    assert_eq!(parse_platform(Some("")), Ok(Device::Cpu));
    assert_eq!(parse_platform(Some("cpu")), Ok(Device::Cpu));
    assert_eq!(parse_platform(Some("CPU")), Ok(Device::Cpu));
    assert_eq!(parse_platform(Some("cuda")), Ok(Device::Cuda(0)));
    assert_eq!(parse_platform(Some("gpu")), Ok(Device::Cuda(0)));
    let err = parse_platform(Some("tpu")).expect_err("unknown platform");
    assert_eq!(kind(&err), Some(DeviceErrorKind::UnknownPlatform));
    assert_eq!(
        err.to_string(),
        "tpu: RJAX_PLATFORM must be `cpu` or `cuda`, not `tpu`"
    );
}

#[test]
fn moving_to_a_gpu_without_one_is_a_typed_error() {
    let result = x().to_device(&Device::Cuda(0));
    match rjax::device::cuda_devices() {
        Err(expected) => {
            let err = result.expect_err("no GPU here");
            assert_eq!(err, expected);
            assert!(kind(&err).is_some());
        }
        Ok(gpus) => {
            let y = result.expect("cuda:0 exists");
            assert_eq!(y.device(), Device::Cuda(0));
            assert_eq!(y.to_vec::<f32>(), Ok(vec![1.0, -2.0, 3.0]));
            let missing = x()
                .to_device(&Device::Cuda(gpus.len()))
                .expect_err("no such GPU");
            assert_eq!(kind(&missing), Some(DeviceErrorKind::NoDevice));
            assert!(missing.to_string().contains("no such device"), "{missing}");
        }
    }
}

#[test]
fn arrays_committed_to_the_cpu_compute_as_before() {
    let host = x();
    assert_eq!(host.device(), Device::Cpu);
    let placed = host.to_device(&Device::Cpu).expect("cpu");
    assert_eq!(placed.device(), Device::Cpu);
    assert_eq!(placed.shape(), &[3]);
    assert_eq!(placed.dtype(), DType::F32);
    assert_eq!(placed.to_vec::<f32>(), Ok(vec![1.0, -2.0, 3.0]));
    // Eager operations and jit read committed arrays like host ones.
    let eager = (&placed * 2.0 + &host).to_vec::<f32>();
    assert_eq!(eager, Ok(vec![3.0, -6.0, 9.0]));
    let f = Jit::new(|(a, b): &(Array, Array)| (a * b).sum());
    let y = f
        .try_call(&(placed.clone(), host.clone()))
        .expect("jit on cpu");
    assert_eq!(y.item::<f32>(), Ok(1.0 + 4.0 + 9.0));
    assert_eq!(y.device(), Device::Cpu);
    // Under a transformation, placement is jit's business.
    let g = grad(|v: &Array| v.to_device(&Device::Cpu).expect("traced").square().sum());
    assert_eq!(g(&placed).to_vec::<f32>(), Ok(vec![2.0, -4.0, 6.0]));
}

#[test]
fn arguments_on_two_devices_are_a_typed_error_naming_both() {
    let err = common_device("jit", &[Some(Device::Cpu), None, Some(Device::Cuda(0))])
        .expect_err("cpu and cuda:0");
    assert_eq!(kind(&err), Some(DeviceErrorKind::Mismatch));
    assert_eq!(
        err.to_string(),
        "cpu, cuda:0: jit: argument 0 lives on cpu but argument 2 lives on cuda:0; put every \
         argument of one call on one device with Array::to_device"
    );
    let err = common_device("add", &[Some(Device::Cuda(1)), Some(Device::Cuda(0))])
        .expect_err("two GPUs");
    assert!(
        err.to_string().contains("argument 1 lives on cuda:0"),
        "{err}"
    );
    assert_eq!(
        common_device("jit", &[None, Some(Device::Cuda(0)), Some(Device::Cuda(0))]),
        Ok(Some(Device::Cuda(0)))
    );
    assert_eq!(common_device("jit", &[None, None]), Ok(None));
}

/// What `try_default_device`, `default_device`, `jit` and an eager
/// operation do in this process's environment. Run alone it checks the
/// environment the tests run in; `platform_variable_*` run it in child
/// processes with `RJAX_PLATFORM` set and read the `PROBE` lines.
#[test]
fn probe_default_device() {
    let value = std::env::var(PLATFORM_VAR).ok();
    let default = rjax::try_default_device();
    let panicked = std::panic::catch_unwind(rjax::default_device)
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned());
    let jitted = Jit::new(|v: &Array| v * 2.0)
        .try_call(&x())
        .and_then(|y| y.to_vec::<f32>());
    let eager = (x() + 1.0).to_vec::<f32>();
    let show = |r: &Result<String, Error>| match r {
        Ok(v) => format!("ok {v}"),
        Err(e) => format!("err {e}"),
    };
    println!(
        "PROBE default: {}",
        show(&default.clone().map(|d| d.to_string()))
    );
    println!(
        "PROBE jit: {}",
        show(&jitted.clone().map(|v| format!("{v:?}")))
    );
    // Eager operations on host arrays run on the CPU whatever the default.
    assert_eq!(eager, Ok(vec![2.0, -1.0, 4.0]));
    let expected =
        parse_platform(value.as_deref()).and_then(|d| rjax::device::check_device(&d).map(|()| d));
    assert_eq!(default, expected);
    match expected {
        Ok(Device::Cpu) => {
            assert_eq!(jitted, Ok(vec![2.0, -4.0, 6.0]));
            assert_eq!(panicked, None);
        }
        Ok(Device::Cuda(_)) => assert_eq!(jitted, Ok(vec![2.0, -4.0, 6.0])),
        Err(e) => {
            assert_eq!(jitted, Err(e.clone()));
            assert_eq!(panicked, Some(e.to_string()));
        }
    }
}

/// Runs `probe_default_device` in a child process with `RJAX_PLATFORM` set
/// to `value`; returns its `PROBE` lines.
fn probe_with(value: &str) -> Vec<String> {
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args([
            "--exact",
            "probe_default_device",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PLATFORM_VAR, value)
        .output()
        .expect("run the probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "probe with {PLATFORM_VAR}={value} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = stdout
        .lines()
        .filter_map(|l| {
            l.find("PROBE ")
                .map(|i| l[i + "PROBE ".len()..].to_string())
        })
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    lines
}

#[test]
fn platform_variable_cuda_without_a_driver_says_so() {
    let lines = probe_with("cuda");
    if driver_present() {
        assert!(lines[0].starts_with("default: "), "{lines:?}");
        return;
    }
    let message = "cuda: the CUDA driver library (libcuda.so) could not be loaded: no NVIDIA \
                   GPU driver is installed on this machine (run on the CPU: unset \
                   RJAX_PLATFORM or set RJAX_PLATFORM=cpu)";
    assert_eq!(lines[0], format!("default: err {message}"));
    assert_eq!(lines[1], format!("jit: err {message}"));
}

#[test]
fn platform_variable_with_an_unknown_value_is_a_typed_error() {
    let lines = probe_with("bogus");
    let message = "bogus: RJAX_PLATFORM must be `cpu` or `cuda`, not `bogus`";
    assert_eq!(lines[0], format!("default: err {message}"));
    assert_eq!(lines[1], format!("jit: err {message}"));
}

#[test]
fn platform_variable_cpu_runs_on_the_cpu() {
    let lines = probe_with("cpu");
    assert_eq!(lines[0], "default: ok cpu");
    assert_eq!(lines[1], "jit: ok [2.0, -4.0, 6.0]");
}
