//! The one error type of rjax, shared by the IR, the compiler and the
//! array library.

use crate::dtype::DType;

/// Everything that can go wrong in rjax, as a typed value.
///
/// Messages name the operation and the shapes or dtypes involved, e.g.
/// `add: incompatible shapes for broadcasting: [3,4] vs [5]`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operation was applied to operands or parameters it does not accept
    /// (shapes, dtypes, axes). `op` is the user-facing or primitive name.
    #[error("{op}: {message}")]
    Op {
        /// Operation name (`add`, `reshape`, `matmul`, ...).
        op: String,
        /// What is wrong, naming the shapes and dtypes.
        message: String,
    },
    /// Host data does not fill the requested shape.
    #[error(
        "from_vec: data of length {actual} does not match shape {shape} ({expected} elements)"
    )]
    DataLength {
        /// The requested shape, printed as `[2,3]`.
        shape: String,
        /// Elements the shape holds.
        expected: usize,
        /// Elements provided.
        actual: usize,
    },
    /// Host data was requested as another element type than the array's.
    #[error("{op}: array has dtype {actual}, requested {expected}")]
    DTypeMismatch {
        /// Operation (`to_vec`, `item`).
        op: &'static str,
        /// The Rust type's dtype.
        expected: DType,
        /// The array's dtype.
        actual: DType,
    },
    /// A concrete value was needed while tracing (under `jit` or
    /// `make_jaxpr`), where only its shape and dtype are known.
    #[error(
        "{op}: a concrete value is needed but the array is a tracer {aval} inside a \
         transformation (jit or make_jaxpr); branch with lax::cond or select with \
         jnp::where_ instead of reading values"
    )]
    Concretization {
        /// The operation that needed the value.
        op: String,
        /// The tracer's abstract value, printed.
        aval: String,
    },
    /// A rule for a primitive does not exist yet.
    #[error("not yet supported: {prim} in {rule}")]
    NotYetSupported {
        /// Primitive name.
        prim: &'static str,
        /// Rule kind (`reference interpreter`, `jvp`, ...).
        rule: &'static str,
    },
    /// A jaxpr failed verification; the text shows each problem inline.
    #[error("jaxpr verification failed:\n{0}")]
    Verify(String),
    /// Reading or writing a file failed (`save_weights`, `load_weights`).
    #[error("{op}: {path}: {message}")]
    Io {
        /// Operation (`save_weights`, `load_weights`).
        op: &'static str,
        /// The file.
        path: String,
        /// What went wrong, as the operating system or the format reader
        /// said it.
        message: String,
    },
    /// Saved weights do not fit the model they are loaded into: a name is
    /// missing or extra, or a shape or dtype differs.
    #[error("{op}: {message}")]
    WeightsMismatch {
        /// Operation (`load_weights`, `set_weights`).
        op: &'static str,
        /// Which weights differ and how.
        message: String,
    },
    /// A device is unavailable, the arguments of one call live on
    /// different devices, or an operation on a device failed. `device`
    /// names the device or platform (`cuda`, `cuda:0`, `cpu`).
    #[error("{device}: {message}")]
    Device {
        /// What went wrong, for programs that branch on it.
        kind: DeviceErrorKind,
        /// The device or platform concerned.
        device: String,
        /// What happened and, where there is one, what to do about it.
        message: String,
    },
}

/// The kinds of [`Error::Device`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceErrorKind {
    /// The CUDA driver library (`libcuda`) could not be loaded, or the
    /// driver failed to initialise: no usable NVIDIA driver.
    NoDriver,
    /// A CUDA library besides the driver (cuBLAS) could not be loaded.
    NoLibrary,
    /// The driver is present but has no device, or not the one asked for.
    NoDevice,
    /// The arguments of one call live on different devices.
    Mismatch,
    /// `RJAX_PLATFORM` names no platform rjax knows.
    UnknownPlatform,
    /// A device operation (allocation, copy, module load, kernel launch,
    /// cuBLAS call) failed, or a program uses something the device backend
    /// cannot run.
    Failed,
}

impl Error {
    /// Shorthand for [`Error::Device`].
    pub fn device(
        kind: DeviceErrorKind,
        device: impl Into<String>,
        message: impl Into<String>,
    ) -> Error {
        Error::Device {
            kind,
            device: device.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Op`].
    pub fn op(op: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Op {
            op: op.into(),
            message: message.into(),
        }
    }
}

/// `Result` with rjax's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
