//! Devices: where arrays live and where computations run.
//!
//! [`devices`] lists the CPU and every CUDA GPU the driver reports;
//! [`default_device`] is the CPU unless the environment variable
//! `RJAX_PLATFORM` says `cuda` (or `gpu`), in which case it is `cuda:0`;
//! asking for CUDA on a machine without an NVIDIA driver is a typed
//! [`Error::Device`] on first use ([`try_default_device`], `jit`'s
//! `try_call`), never a silent fall back to the CPU.
//!
//! # Where an array's data lives
//!
//! Arrays made from host data (`Array::from_vec`, `jnp::zeros`, the results
//! of computations on the CPU) hold a host buffer and are *uncommitted*:
//! they go wherever the computation that uses them runs.
//! [`Array::to_device`](crate::Array::to_device) *commits* an array to a
//! device: on the CPU it keeps the host buffer, on a GPU it copies the data
//! into a device buffer ([`rjax_codegen::cuda::CudaBuffer`]). This is the
//! one change to [`Array`]'s representation: a `Placed` variant beside the
//! host and traced ones. Every existing accessor keeps working on it:
//! reading a GPU array's values (`to_vec`, `item`, printing, or any code
//! that needs its host buffer) copies it to the host once and keeps that
//! copy beside the device buffer.
//!
//! # Where work runs
//!
//! `jit` runs a call on the one device its committed arguments live on,
//! and on [`default_device`] when none is committed; uncommitted arguments
//! are copied there. Committed arguments on two different devices are an
//! [`Error::Device`] of kind [`DeviceErrorKind::Mismatch`] naming both.
//! Results computed on a GPU stay there (committed); results computed on
//! the CPU are ordinary host arrays.
//!
//! Eager operations (outside `jit`) follow the same placement rule, but at
//! first compute on the CPU: a GPU array is read back to the host, the
//! primitive runs there, and the result is copied back to the GPU. Correct,
//! slow: put GPU work inside `jit`.

use crate::array::{Array, Repr};
use rjax_codegen::cuda::CudaBuffer;
use rjax_ir::error::DeviceErrorKind;
use rjax_ir::{AVal, DType, Error, HostBuffer, Result};
use std::sync::OnceLock;

pub use rjax_codegen::cuda::CudaDeviceInfo;
pub use rjax_codegen::Device;

/// The environment variable choosing the default platform.
pub const PLATFORM_VAR: &str = "RJAX_PLATFORM";

/// Every device: the CPU first, then each CUDA GPU (none when there is no
/// driver or no GPU; [`cuda_devices`] says why).
///
/// # Example
/// ```
/// assert_eq!(rjax::devices()[0], rjax::Device::Cpu);
/// ```
pub fn devices() -> Vec<Device> {
    let gpus = rjax_codegen::cuda::devices().unwrap_or_default();
    std::iter::once(Device::Cpu)
        .chain(gpus.iter().map(|d| Device::Cuda(d.ordinal)))
        .collect()
}

/// The CUDA GPUs with their names, compute capabilities and memory.
///
/// # Errors
/// [`Error::Device`] saying why there is none: no driver
/// ([`DeviceErrorKind::NoDriver`]) or no device
/// ([`DeviceErrorKind::NoDevice`]).
pub fn cuda_devices() -> Result<Vec<CudaDeviceInfo>> {
    rjax_codegen::cuda::devices()
}

/// The device `RJAX_PLATFORM`'s value names, without checking that it is
/// present: unset, empty or `cpu` is the CPU; `cuda` or `gpu` is `cuda:0`.
///
/// # Errors
/// [`DeviceErrorKind::UnknownPlatform`] for any other value.
pub fn parse_platform(value: Option<&str>) -> Result<Device> {
    match value.map(str::trim) {
        None | Some("") => Ok(Device::Cpu),
        Some(v) if v.eq_ignore_ascii_case("cpu") => Ok(Device::Cpu),
        Some(v) if v.eq_ignore_ascii_case("cuda") || v.eq_ignore_ascii_case("gpu") => {
            Ok(Device::Cuda(0))
        }
        Some(other) => Err(Error::device(
            DeviceErrorKind::UnknownPlatform,
            other,
            format!("{PLATFORM_VAR} must be `cpu` or `cuda`, not `{other}`"),
        )),
    }
}

/// Checks that `device` exists on this machine.
///
/// # Errors
/// For a GPU: the [`Error::Device`] of [`cuda_devices`], or
/// [`DeviceErrorKind::NoDevice`] for an ordinal the driver does not have.
pub fn check_device(device: &Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        Device::Cuda(n) => rjax_codegen::cuda::check_device(*n),
    }
}

/// The default device (see the [module docs](self)), checked to exist.
///
/// # Errors
/// [`DeviceErrorKind::UnknownPlatform`] for an unknown `RJAX_PLATFORM`;
/// with `RJAX_PLATFORM=cuda`, the error of [`cuda_devices`] when there is
/// no usable GPU.
pub fn try_default_device() -> Result<Device> {
    let value = std::env::var(PLATFORM_VAR).ok();
    let device = parse_platform(value.as_deref())?;
    check_device(&device)?;
    Ok(device)
}

/// The default device.
///
/// # Panics
/// With the error of [`try_default_device`].
#[track_caller]
pub fn default_device() -> Device {
    crate::jnp::or_panic(try_default_device())
}

/// The one device of `devices` (one entry per argument; `None` for an
/// uncommitted one), or `None` when no argument is committed.
///
/// # Errors
/// [`DeviceErrorKind::Mismatch`] naming the first two different devices
/// and the arguments on them; `op` names the operation in the message.
pub fn common_device(op: &str, devices: &[Option<Device>]) -> Result<Option<Device>> {
    let mut found: Option<(usize, Device)> = None;
    for (i, d) in devices.iter().enumerate() {
        let Some(d) = *d else { continue };
        match found {
            None => found = Some((i, d)),
            Some((j, first)) if first != d => {
                return Err(Error::device(
                    DeviceErrorKind::Mismatch,
                    format!("{first}, {d}"),
                    format!(
                        "{op}: argument {j} lives on {first} but argument {i} lives on {d}; \
                         put every argument of one call on one device with Array::to_device"
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(found.map(|(_, d)| d))
}

/// The device `arrays` are committed to, if any (see [`common_device`]).
pub(crate) fn placement(op: &str, arrays: &[Array]) -> Result<Option<Device>> {
    if arrays.iter().all(|a| a.committed_device().is_none()) {
        return Ok(None);
    }
    let devices: Vec<Option<Device>> = arrays.iter().map(Array::committed_device).collect();
    common_device(op, &devices)
}

/// Host results of a computation whose arguments were committed to
/// `device`: on a GPU they are copied there, otherwise they stay host
/// arrays.
pub(crate) fn place_results(device: Option<Device>, outs: Vec<HostBuffer>) -> Result<Vec<Array>> {
    match device {
        Some(Device::Cuda(n)) => outs
            .iter()
            .map(|b| Ok(Array::from_placed(Placed::cuda(CudaBuffer::upload(b, n)?))))
            .collect(),
        Some(Device::Cpu) | None => Ok(outs.into_iter().map(Array::from_buffer).collect()),
    }
}

/// A concrete array committed to a device.
pub(crate) struct Placed {
    device: Device,
    aval: AVal,
    /// The device buffer, for a GPU.
    cuda: Option<CudaBuffer>,
    /// The host buffer: always set on the CPU; on a GPU, filled the first
    /// time the values are read on the host.
    host: OnceLock<HostBuffer>,
}

impl Placed {
    /// A host buffer committed to the CPU.
    pub(crate) fn cpu(buffer: HostBuffer) -> Placed {
        Placed {
            device: Device::Cpu,
            aval: buffer.aval(),
            cuda: None,
            host: OnceLock::from(buffer),
        }
    }

    /// A device buffer on its GPU.
    pub(crate) fn cuda(buffer: CudaBuffer) -> Placed {
        Placed {
            device: Device::Cuda(buffer.ordinal()),
            aval: buffer.aval(),
            cuda: Some(buffer),
            host: OnceLock::new(),
        }
    }

    /// The device.
    pub(crate) fn device(&self) -> Device {
        self.device
    }

    /// Dtype and shape.
    pub(crate) fn aval(&self) -> &AVal {
        &self.aval
    }

    /// Element type.
    pub(crate) fn dtype(&self) -> DType {
        self.aval.dtype
    }

    /// The device buffer, on a GPU.
    pub(crate) fn cuda_buffer(&self) -> Option<&CudaBuffer> {
        self.cuda.as_ref()
    }

    /// The values on the host, copied back from the GPU on first use.
    ///
    /// # Errors
    /// When the copy fails.
    pub(crate) fn host(&self) -> Result<&HostBuffer> {
        if let Some(h) = self.host.get() {
            return Ok(h);
        }
        let buffer = match &self.cuda {
            Some(b) => b.download()?,
            None => {
                return Err(Error::device(
                    DeviceErrorKind::Failed,
                    self.device.to_string(),
                    "internal error: a placed array holds no data",
                ))
            }
        };
        Ok(self.host.get_or_init(|| buffer))
    }
}

/// `array`'s values as a buffer on GPU `ordinal`: shared when it already
/// lives there, copied otherwise.
///
/// # Errors
/// [`Error::Concretization`] for a tracer; a failed copy.
pub(crate) fn cuda_buffer_of(array: &Array, ordinal: usize) -> Result<CudaBuffer> {
    if let Repr::Placed(p) = array.repr() {
        if let Some(b) = p.cuda_buffer().filter(|b| b.ordinal() == ordinal) {
            return Ok(b.clone());
        }
    }
    CudaBuffer::upload(array.try_buffer("to_device")?, ordinal)
}

/// `array` committed to `device` (see [`Array::to_device`]).
pub(crate) fn to_device(array: &Array, device: &Device) -> Result<Array> {
    if let Repr::Traced(_) = array.repr() {
        return Ok(array.clone());
    }
    if array.committed_device() == Some(*device) {
        return Ok(array.clone());
    }
    check_device(device)?;
    let placed = match device {
        Device::Cpu => Placed::cpu(array.try_buffer("to_device")?.clone()),
        Device::Cuda(n) => Placed::cuda(cuda_buffer_of(array, *n)?),
    };
    Ok(Array::from_placed(placed))
}

/// Runs a GPU executable on `leaves`, copying those not already on its GPU
/// there; the results stay on the GPU.
///
/// # Errors
/// A failed copy or device operation.
pub(crate) fn run_cuda(
    exe: &rjax_codegen::cuda::CudaExecutable,
    leaves: &[Array],
) -> Result<Vec<Array>> {
    let buffers = leaves
        .iter()
        .map(|a| cuda_buffer_of(a, exe.ordinal()))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&CudaBuffer> = buffers.iter().collect();
    Ok(exe
        .run_device(&refs)?
        .into_iter()
        .map(|b| Array::from_placed(Placed::cuda(b)))
        .collect())
}
