//! Device buffers: typed, row-major element storage in a GPU's memory, and
//! the copies between host and device.
//!
//! A [`CudaBuffer`] holds its bytes in a `cudarc` allocation on its
//! device's stream (freed, stream-ordered, when the last clone is dropped),
//! with the dtype and shape beside them. Elements are laid out as on the
//! host: `f32`, `f64`, `i32`, `u32` in their native little-endian form and
//! `bool` as one byte holding 0 or 1 (what the PTX kernels read and write).

use super::driver::{self, GpuDevice};
use cudarc::driver::{CudaSlice, DevicePtr};
use rjax_ir::{num_elements, AVal, DType, Data, HostBuffer, Result, Scalar};
use std::sync::Arc;

/// Bytes per element of `dtype` in device memory.
pub fn elem_bytes(dtype: DType) -> usize {
    match dtype {
        DType::F32 | DType::I32 | DType::U32 => 4,
        DType::F64 => 8,
        DType::Bool => 1,
    }
}

/// An immutable array's storage on a CUDA device; cloning shares it.
#[derive(Clone)]
pub struct CudaBuffer {
    device: Arc<GpuDevice>,
    mem: Arc<CudaSlice<u8>>,
    dtype: DType,
    shape: Vec<usize>,
}

impl std::fmt::Debug for CudaBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaBuffer({} on cuda:{})", self.aval(), self.ordinal())
    }
}

/// Allocates `bytes` bytes (at least one, so every buffer has an address)
/// on `device`, zeroed when `zeroed`.
pub(crate) fn alloc(device: &GpuDevice, bytes: usize, zeroed: bool) -> Result<CudaSlice<u8>> {
    let n = bytes.max(1);
    let mem = if zeroed {
        device.stream.alloc_zeros::<u8>(n)
    } else {
        // SAFETY: the memory is uninitialised; every caller passes
        // `zeroed = false` only for buffers that are written in full (by a
        // copy, or by the first program step, as the memory plan proves)
        // before anything reads them, and u8 has no invalid bit patterns.
        unsafe { device.stream.alloc::<u8>(n) }
    };
    mem.map_err(|e| device.fail(&format!("allocating {bytes} bytes"), e))
}

/// The device address of `mem`, an allocation of `device`.
pub(crate) fn slice_ptr(device: &GpuDevice, mem: &CudaSlice<u8>) -> u64 {
    let (ptr, _sync) = mem.device_ptr(&device.stream);
    ptr
}

/// The bytes of host element storage (no copy).
fn host_bytes(data: &Data) -> &[u8] {
    fn bytes<T: Copy>(v: &[T]) -> &[u8] {
        // SAFETY: T is f32, f64, i32, u32 or bool: plain values without
        // padding, so all `size_of_val(v)` bytes are initialised, and u8
        // has no alignment requirement.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
    }
    match data {
        Data::F32(v) => bytes(v),
        Data::F64(v) => bytes(v),
        Data::I32(v) => bytes(v),
        Data::U32(v) => bytes(v),
        Data::Bool(v) => bytes(v),
    }
}

/// Mutable bytes of numeric host storage (any bit pattern is a valid
/// element); `None` for bool, which only admits 0 and 1.
fn host_bytes_mut(data: &mut Data) -> Option<&mut [u8]> {
    fn bytes<T: Copy>(v: &mut [T]) -> &mut [u8] {
        // SAFETY: T is f32, f64, i32 or u32: every byte pattern is a valid
        // value, there is no padding, and u8 has no alignment requirement.
        unsafe {
            std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(v))
        }
    }
    match data {
        Data::F32(v) => Some(bytes(v)),
        Data::F64(v) => Some(bytes(v)),
        Data::I32(v) => Some(bytes(v)),
        Data::U32(v) => Some(bytes(v)),
        Data::Bool(_) => None,
    }
}

impl CudaBuffer {
    /// Wraps device memory holding a `dtype` array of `shape`.
    pub(crate) fn from_parts(
        device: Arc<GpuDevice>,
        mem: CudaSlice<u8>,
        dtype: DType,
        shape: Vec<usize>,
    ) -> CudaBuffer {
        CudaBuffer {
            device,
            mem: Arc::new(mem),
            dtype,
            shape,
        }
    }

    /// Copies a host buffer to device `ordinal`.
    ///
    /// # Errors
    /// The device errors of [`crate::cuda::devices`] when the device is
    /// missing; a failed allocation or copy.
    pub fn upload(host: &HostBuffer, ordinal: usize) -> Result<CudaBuffer> {
        let device = driver::get(ordinal)?;
        let src = host_bytes(host.data());
        let mut mem = alloc(device, src.len(), false)?;
        if !src.is_empty() {
            let mut dst = mem.slice_mut(0..src.len());
            device
                .stream
                .memcpy_htod(src, &mut dst)
                .map_err(|e| device.fail("copying to the device", e))?;
        }
        Ok(CudaBuffer::from_parts(
            device.clone(),
            mem,
            host.dtype(),
            host.shape().to_vec(),
        ))
    }

    /// Copies the buffer back to the host (waits for the device's queued
    /// work first, as every copy on the stream does).
    ///
    /// # Errors
    /// A failed copy.
    pub fn download(&self) -> Result<HostBuffer> {
        let n = num_elements(&self.shape);
        let bytes = n * elem_bytes(self.dtype);
        let mut data = Data::filled(Scalar::zero(self.dtype), n);
        if bytes > 0 {
            let src = self.mem.slice(0..bytes);
            let copy = |dst: &mut [u8]| {
                self.device
                    .stream
                    .memcpy_dtoh(&src, dst)
                    .map_err(|e| self.device.fail("copying to the host", e))
            };
            match host_bytes_mut(&mut data) {
                Some(dst) => copy(dst)?,
                None => {
                    let mut raw = vec![0u8; n];
                    copy(&mut raw)?;
                    data = Data::Bool(raw.into_iter().map(|b| b != 0).collect());
                }
            }
            self.device.synchronize()?;
        }
        HostBuffer::new(data, &self.shape)
    }

    /// A new buffer with the same contents (a device-to-device copy).
    ///
    /// # Errors
    /// A failed allocation or copy.
    pub fn duplicate(&self) -> Result<CudaBuffer> {
        let bytes = self.num_bytes();
        let mut mem = alloc(&self.device, bytes, false)?;
        if bytes > 0 {
            let src = self.mem.slice(0..bytes);
            let mut dst = mem.slice_mut(0..bytes);
            self.device
                .stream
                .memcpy_dtod(&src, &mut dst)
                .map_err(|e| self.device.fail("copying on the device", e))?;
        }
        Ok(CudaBuffer::from_parts(
            self.device.clone(),
            mem,
            self.dtype,
            self.shape.clone(),
        ))
    }

    /// The device ordinal.
    pub fn ordinal(&self) -> usize {
        self.device.ordinal()
    }

    /// The device state.
    pub(crate) fn gpu(&self) -> &Arc<GpuDevice> {
        &self.device
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Dtype and shape.
    pub fn aval(&self) -> AVal {
        AVal::new(self.dtype, &self.shape)
    }

    /// Bytes of the elements.
    pub fn num_bytes(&self) -> usize {
        num_elements(&self.shape) * elem_bytes(self.dtype)
    }

    /// The device address of the first element.
    pub(crate) fn ptr(&self) -> u64 {
        slice_ptr(&self.device, &self.mem)
    }
}
