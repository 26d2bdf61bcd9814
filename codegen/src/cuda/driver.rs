//! Device discovery and the per-device state: one context, one stream, a
//! cuBLAS handle made on first use, and a module cache.
//!
//! Discovery runs once per process, on first use, behind a `OnceLock`, so
//! it is thread-safe and its outcome (devices or the typed error saying why
//! there are none) is shared by every caller. The CUDA driver library is
//! loaded dynamically; its presence is checked before any context is
//! created, because `cudarc` panics when it is missing (a panic anywhere in
//! discovery is caught and reported as an error as well).
//!
//! Every operation on a device is ordered on the device's one stream, so no
//! cross-stream events are needed: event tracking is switched off for the
//! contexts rjax creates.

use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaModule, CudaStream, DriverError};
use rjax_ir::error::DeviceErrorKind;
use rjax_ir::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// What rjax knows about one CUDA device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CudaDeviceInfo {
    /// The device ordinal (`Device::Cuda(ordinal)`).
    pub ordinal: usize,
    /// The device's name, as the driver reports it.
    pub name: String,
    /// Compute capability `(major, minor)`.
    pub compute_capability: (i32, i32),
    /// Device memory in bytes.
    pub total_memory: usize,
    /// Streaming multiprocessors (used to size grid-stride launches).
    pub multiprocessors: u32,
}

/// The state rjax keeps for one device.
pub(crate) struct GpuDevice {
    pub(crate) info: CudaDeviceInfo,
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    blas: OnceLock<std::result::Result<Mutex<CudaBlas>, Error>>,
    modules: Mutex<HashMap<String, Arc<CudaModule>>>,
}

/// The name of device `ordinal` in messages: `cuda:0`.
pub(crate) fn device_name(ordinal: usize) -> String {
    format!("cuda:{ordinal}")
}

/// A failed driver call on device `ordinal`, as rjax's error.
pub(crate) fn driver_error(ordinal: usize, what: &str, e: DriverError) -> Error {
    Error::device(
        DeviceErrorKind::Failed,
        device_name(ordinal),
        format!("{what} failed: {e}"),
    )
}

impl GpuDevice {
    /// The device's ordinal.
    pub(crate) fn ordinal(&self) -> usize {
        self.info.ordinal
    }

    /// Wraps a driver error of this device.
    pub(crate) fn fail(&self, what: &str, e: DriverError) -> Error {
        driver_error(self.ordinal(), what, e)
    }

    /// The cuBLAS handle (bound to this device's stream), created on first
    /// use; a missing cuBLAS library is a typed error.
    pub(crate) fn blas(&self) -> Result<&Mutex<CudaBlas>> {
        self.blas
            .get_or_init(|| {
                // SAFETY: only probes whether the library can be opened.
                if !unsafe { cudarc::cublas::sys::is_culib_present() } {
                    return Err(Error::device(
                        DeviceErrorKind::NoLibrary,
                        device_name(self.ordinal()),
                        "the cuBLAS library (libcublas.so) could not be loaded; rjax runs \
                         matrix products on the GPU through cuBLAS (install the CUDA toolkit's \
                         cuBLAS or put its directory on LD_LIBRARY_PATH)",
                    ));
                }
                CudaBlas::new(self.stream.clone())
                    .map(Mutex::new)
                    .map_err(|e| {
                        Error::device(
                            DeviceErrorKind::Failed,
                            device_name(self.ordinal()),
                            format!("creating a cuBLAS handle failed: {e}"),
                        )
                    })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The module for `ptx`, loaded once per device and kept for the life
    /// of the process (keyed by the text itself, like the CPU executables
    /// are keyed by the program).
    pub(crate) fn module(&self, ptx: &str) -> Result<Arc<CudaModule>> {
        let mut cache = self
            .modules
            .lock()
            .map_err(|_| self.fail_msg("the module cache lock is poisoned"))?;
        if let Some(m) = cache.get(ptx) {
            return Ok(m.clone());
        }
        let module = self
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
            .map_err(|e| self.fail("loading a PTX module", e))?;
        cache.insert(ptx.to_string(), module.clone());
        Ok(module)
    }

    /// A [`DeviceErrorKind::Failed`] error of this device with `message`.
    pub(crate) fn fail_msg(&self, message: impl Into<String>) -> Error {
        Error::device(
            DeviceErrorKind::Failed,
            device_name(self.ordinal()),
            message,
        )
    }

    /// Waits until every operation queued on the device has finished.
    pub(crate) fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(|e| self.fail("synchronizing the stream", e))
    }
}

type Discovery = std::result::Result<Vec<Arc<GpuDevice>>, Error>;

static DEVICES: OnceLock<Discovery> = OnceLock::new();

/// Every CUDA device, discovered on first call.
///
/// # Errors
/// [`DeviceErrorKind::NoDriver`] when the driver library cannot be loaded
/// or fails to initialise, [`DeviceErrorKind::NoDevice`] when it reports no
/// device, [`DeviceErrorKind::Failed`] when setting a device up fails.
pub(crate) fn all() -> Result<&'static [Arc<GpuDevice>]> {
    DEVICES
        .get_or_init(discover_guarded)
        .as_deref()
        .map_err(Clone::clone)
}

/// Device `ordinal`.
///
/// # Errors
/// As [`all`], and [`DeviceErrorKind::NoDevice`] when there is no device
/// with that ordinal.
pub(crate) fn get(ordinal: usize) -> Result<&'static Arc<GpuDevice>> {
    let devices = all()?;
    devices.get(ordinal).ok_or_else(|| {
        Error::device(
            DeviceErrorKind::NoDevice,
            device_name(ordinal),
            format!(
                "no such device: the CUDA driver reports {} device(s) (cuda:0 to cuda:{})",
                devices.len(),
                devices.len().saturating_sub(1)
            ),
        )
    })
}

/// The error for a machine without the CUDA driver library.
pub(crate) fn no_driver_error() -> Error {
    Error::device(
        DeviceErrorKind::NoDriver,
        "cuda",
        "the CUDA driver library (libcuda.so) could not be loaded: no NVIDIA GPU driver is \
         installed on this machine (run on the CPU: unset RJAX_PLATFORM or set \
         RJAX_PLATFORM=cpu)",
    )
}

/// Whether the CUDA driver library can be loaded (no context is created).
pub(crate) fn driver_present() -> bool {
    // SAFETY: only probes whether the library can be opened.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

fn discover_guarded() -> Discovery {
    if !driver_present() {
        return Err(no_driver_error());
    }
    std::panic::catch_unwind(discover).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(Error::device(
            DeviceErrorKind::NoDriver,
            "cuda",
            format!("the CUDA driver could not be used: {what}"),
        ))
    })
}

fn discover() -> Discovery {
    use cudarc::driver::sys::{CUdevice_attribute, CUresult};
    if let Err(e) = cudarc::driver::result::init() {
        let kind = if e.0 == CUresult::CUDA_ERROR_NO_DEVICE {
            DeviceErrorKind::NoDevice
        } else {
            DeviceErrorKind::NoDriver
        };
        return Err(Error::device(
            kind,
            "cuda",
            format!("the CUDA driver failed to initialise: {e}"),
        ));
    }
    let count = CudaContext::device_count().map_err(|e| {
        Error::device(
            DeviceErrorKind::NoDriver,
            "cuda",
            format!("counting CUDA devices failed: {e}"),
        )
    })?;
    if count <= 0 {
        return Err(Error::device(
            DeviceErrorKind::NoDevice,
            "cuda",
            "the CUDA driver is installed but reports no device",
        ));
    }
    (0..count as usize)
        .map(|ordinal| {
            let fail = |what: &'static str| move |e: DriverError| driver_error(ordinal, what, e);
            let ctx = CudaContext::new(ordinal).map_err(fail("creating a context"))?;
            // SAFETY: rjax queues every operation on a device on its one
            // stream (below), so stream order alone orders all accesses to
            // a buffer; the events cudarc records are not needed.
            unsafe { ctx.disable_event_tracking() };
            let stream = ctx.new_stream().map_err(fail("creating a stream"))?;
            let info = CudaDeviceInfo {
                ordinal,
                name: ctx.name().map_err(fail("reading the device name"))?,
                compute_capability: ctx
                    .compute_capability()
                    .map_err(fail("reading the compute capability"))?,
                total_memory: ctx.total_mem().map_err(fail("reading the memory size"))?,
                multiprocessors: ctx
                    .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
                    .map_err(fail("reading the multiprocessor count"))?
                    .max(1) as u32,
            };
            Ok(Arc::new(GpuDevice {
                info,
                ctx,
                stream,
                blas: OnceLock::new(),
                modules: Mutex::new(HashMap::new()),
            }))
        })
        .collect()
}
