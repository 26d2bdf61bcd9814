//! The CUDA runtime: NVIDIA GPUs through `cudarc`, loaded dynamically.
//!
//! rjax builds and runs on machines without CUDA: the driver library
//! (`libcuda`) is opened on first use, and its absence is a typed error
//! ([`rjax_ir::Error::Device`] with [`rjax_ir::error::DeviceErrorKind::NoDriver`]), never a
//! panic. What it provides:
//!
//! - [`devices`]: lazy, thread-safe discovery of every device (one context
//!   and one stream per device; every operation on a device is ordered on
//!   its stream);
//! - [`CudaBuffer`]: device storage of one array, with host↔device copies;
//! - [`compile_jaxpr`] / [`compile_program`]: a program planned exactly as
//!   for the CPU (`fusion::plan`, `math::expand`), its kernels emitted as
//!   PTX by [`crate::ptx`] into one module (cached per device, keyed by the
//!   module text), GEMM steps run by cuBLAS as strided batched GEMMs
//!   ([`gemm`]), and kernel entries launched with the parameters and
//!   geometry the PTX backend describes ([`launch`]);
//! - [`CudaExecutable`]: runs on device buffers ([`CudaExecutable::run_device`],
//!   results stay on the device) or, as an [`crate::Executable`], on host
//!   buffers (copied in and out).
//!
//! Control-flow steps (`cond`, `while`, `scan`) run their loop on the
//! host and launch their sub-programs' kernels on the device (`control`):
//! a `cond` and each `while` trip read one scalar back; a `scan` enqueues
//! every iteration without waiting.
//!
//! The bindings are pinned to CUDA 12.8 (`cuda-12080`): the driver must be
//! at least that version, since `cudarc` resolves symbols on first call.

mod buffer;
mod control;
mod driver;
mod executable;
pub mod gemm;
pub mod launch;

pub use buffer::{elem_bytes, CudaBuffer};
pub use driver::CudaDeviceInfo;
pub use executable::{compile_program, ptx_options, CudaExecutable};

use crate::program::Step;
use rjax_ir::{AVal, ClosedJaxpr, Result};

/// Every CUDA device of this machine, discovered on the first call (later
/// calls return the same answer).
///
/// # Errors
/// [`rjax_ir::Error::Device`] saying why there is none: kind `NoDriver`
/// when the driver library cannot be loaded or initialised, `NoDevice`
/// when the driver reports no device, `Failed` when setting a device up
/// fails.
pub fn devices() -> Result<Vec<CudaDeviceInfo>> {
    Ok(driver::all()?.iter().map(|d| d.info.clone()).collect())
}

/// Whether the CUDA driver library can be loaded on this machine (cheap:
/// nothing is initialised).
pub fn driver_present() -> bool {
    driver::driver_present()
}

/// Checks that device `ordinal` exists.
///
/// # Errors
/// As [`devices`], and kind `NoDevice` for an ordinal the driver does not
/// have.
pub fn check_device(ordinal: usize) -> Result<()> {
    driver::get(ordinal).map(|_| ())
}

/// Waits until all work queued on device `ordinal` has finished (for
/// timing; copies back to the host wait on their own).
///
/// # Errors
/// As [`check_device`], or when the device reports a failure.
pub fn synchronize(ordinal: usize) -> Result<()> {
    driver::get(ordinal)?.synchronize()
}

/// Compiles a closed jaxpr for device `ordinal`: `fusion::plan`, then
/// `math::expand` on every kernel (as for the CPU), then
/// [`compile_program`].
///
/// # Errors
/// The device errors of [`devices`]; what fusion reports; as
/// [`compile_program`].
pub fn compile_jaxpr(
    jaxpr: &ClosedJaxpr,
    in_avals: &[AVal],
    ordinal: usize,
) -> Result<CudaExecutable> {
    check_device(ordinal)?;
    let mut program = crate::fusion::plan(jaxpr)?;
    for step in &mut program.steps {
        match step {
            Step::Kernel { kernel, .. } => *kernel = crate::math::expand(kernel),
            Step::Gemm(_) => {}
            Step::Control(c) => {
                for p in c.programs_mut() {
                    crate::control::for_each_kernel_mut(p, &mut |k| *k = crate::math::expand(k));
                }
            }
        }
    }
    compile_program(&program, in_avals, ordinal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rjax_ir::error::DeviceErrorKind;
    use rjax_ir::Error;

    /// On a machine without the driver library, discovery is a typed
    /// error naming the missing library; with it, every ordinal is listed.
    #[test]
    fn discovery_reports_why_there_is_no_device() {
        match devices() {
            Ok(list) => {
                for (i, d) in list.iter().enumerate() {
                    assert_eq!(d.ordinal, i);
                    assert!(d.compute_capability.0 >= 1 && d.multiprocessors >= 1);
                }
            }
            Err(Error::Device {
                kind,
                device,
                message,
            }) => {
                assert_eq!(device, "cuda");
                if !driver_present() {
                    assert_eq!(kind, DeviceErrorKind::NoDriver);
                    assert!(message.contains("libcuda.so"), "{message}");
                }
            }
            Err(other) => panic!("discovery gave a non-device error: {other}"),
        }
    }

    #[test]
    fn ptx_needs_ampere_or_newer() {
        assert_eq!(ptx_options(0, (9, 0)).map(|o| o.sm), Ok(90));
        assert_eq!(ptx_options(0, (8, 6)).map(|o| o.sm), Ok(86));
        let err = ptx_options(1, (7, 5)).expect_err("Turing is too old");
        assert!(matches!(
            &err,
            Error::Device { kind: DeviceErrorKind::Failed, device, .. } if device == "cuda:1"
        ));
        assert!(err.to_string().contains("compute capability 7.5"), "{err}");
    }
}
