//! [`Array`]: the immutable n-dimensional array handle users compute with.
//!
//! An `Array` is an `Arc` around a concrete value (a host buffer, or a value
//! committed to a device: see [`crate::device`]) or a tracer belonging to a
//! transformation. User code is
//! written once against `Array` and runs eagerly and under every
//! transformation. Cloning is a reference-count bump.

use crate::core::TraceTag;
use rjax_ir::{AVal, DType, Element, Error, HostBuffer, Result, Scalar, Var};
use std::sync::Arc;

/// An immutable n-dimensional array, concrete or traced.
#[derive(Clone)]
pub struct Array(Arc<Repr>);

/// What an [`Array`] holds.
pub(crate) enum Repr {
    /// A value in host memory, not committed to a device.
    Concrete(HostBuffer),
    /// A value committed to a device (on a GPU, in its memory).
    Placed(crate::device::Placed),
    /// A value known only abstractly, inside a transformation.
    Traced(Tracer),
}

/// A value inside a transformation: the trace's tag, the abstract value,
/// and the trace-specific payload.
pub(crate) struct Tracer {
    pub(crate) tag: TraceTag,
    pub(crate) aval: AVal,
    pub(crate) kind: TracerKind,
}

/// The payload of a tracer, one variant per kind of trace. Closed, like
/// `Primitive`: a new trace adds its variant here.
pub(crate) enum TracerKind {
    /// A variable of the jaxpr being staged.
    Staged {
        /// The variable.
        var: Var,
    },
    /// A primal value with its tangent (`None` is a symbolic zero), for
    /// forward-mode differentiation.
    Jvp {
        /// The value.
        primal: Array,
        /// Its tangent; `None` when it is known to be zero.
        tangent: Option<Array>,
    },
    /// A value with a batch axis, for `vmap`: `value` holds every example,
    /// stacked along `axis`; `None` means the value is the same for every
    /// example (not mapped).
    Batch {
        /// All examples' values.
        value: Array,
        /// The axis of `value` that indexes examples, if any.
        axis: Option<usize>,
    },
}

impl Array {
    pub(crate) fn from_repr(repr: Repr) -> Array {
        Array(Arc::new(repr))
    }

    pub(crate) fn repr(&self) -> &Repr {
        &self.0
    }

    /// Wraps a host buffer as a concrete array.
    pub fn from_buffer(buffer: HostBuffer) -> Array {
        Array::from_repr(Repr::Concrete(buffer))
    }

    pub(crate) fn from_placed(placed: crate::device::Placed) -> Array {
        Array::from_repr(Repr::Placed(placed))
    }

    pub(crate) fn tracer(tag: TraceTag, aval: AVal, kind: TracerKind) -> Array {
        Array::from_repr(Repr::Traced(Tracer { tag, aval, kind }))
    }

    /// Identity of the underlying allocation (two clones share it).
    pub(crate) fn ptr_id(&self) -> usize {
        Arc::as_ptr(&self.0) as *const u8 as usize
    }

    /// An array from row-major data and a shape.
    ///
    /// # Example
    /// ```
    /// let x = rjax::Array::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    /// assert_eq!(x.shape(), &[2, 2]);
    /// ```
    ///
    /// # Errors
    /// [`Error::DataLength`] when `data` does not fill `shape`.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Array> {
        Ok(Array::from_buffer(HostBuffer::from_vec(data, shape)?))
    }

    /// A rank-0 array.
    ///
    /// # Example
    /// ```
    /// let x = rjax::Array::scalar(2.5f32);
    /// assert_eq!(x.item::<f32>().unwrap(), 2.5);
    /// ```
    pub fn scalar<T: Element>(value: T) -> Array {
        Array::from_buffer(HostBuffer::scalar(value.into_scalar()))
    }

    pub(crate) fn from_scalar(value: Scalar) -> Array {
        Array::from_buffer(HostBuffer::scalar(value))
    }

    /// The host buffer of a concrete array, moved out when this handle is
    /// its only reference and copied otherwise.
    ///
    /// # Errors
    /// [`Error::Concretization`] when the array is a tracer.
    pub fn into_buffer(mut self) -> Result<HostBuffer> {
        if let Some(Repr::Concrete(b)) = Arc::get_mut(&mut self.0) {
            return Ok(std::mem::replace(b, HostBuffer::empty()));
        }
        self.try_buffer("into_buffer").cloned()
    }

    /// The abstract value: dtype and shape.
    pub fn aval(&self) -> AVal {
        match self.repr() {
            Repr::Concrete(b) => b.aval(),
            Repr::Placed(p) => p.aval().clone(),
            Repr::Traced(t) => t.aval.clone(),
        }
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        match self.repr() {
            Repr::Concrete(b) => b.shape(),
            Repr::Placed(p) => &p.aval().shape,
            Repr::Traced(t) => &t.aval.shape,
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self.repr() {
            Repr::Concrete(b) => b.dtype(),
            Repr::Placed(p) => p.dtype(),
            Repr::Traced(t) => t.aval.dtype,
        }
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        self.shape().iter().product()
    }

    /// True if this is a concrete value rather than a tracer.
    pub fn is_concrete(&self) -> bool {
        matches!(self.repr(), Repr::Concrete(_) | Repr::Placed(_))
    }

    /// The device holding the array's data: the CPU for host arrays (also
    /// those not committed to a device), the GPU for arrays moved there
    /// with [`Array::to_device`] or computed there. A tracer reports the
    /// CPU: inside a transformation, `jit` decides placement.
    pub fn device(&self) -> crate::Device {
        self.committed_device().unwrap_or(crate::Device::Cpu)
    }

    /// The device the array is committed to, if any (see [`crate::device`]).
    pub(crate) fn committed_device(&self) -> Option<crate::Device> {
        match self.repr() {
            Repr::Placed(p) => Some(p.device()),
            Repr::Concrete(_) | Repr::Traced(_) => None,
        }
    }

    /// The array committed to `device`: on a GPU, its data copied into the
    /// GPU's memory; on the CPU, its host data. Later `jit` calls run where
    /// their committed arguments live (see [`crate::device`]). Inside a
    /// transformation the array is returned as it is.
    ///
    /// # Example
    /// ```
    /// let x = rjax::Array::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
    /// let y = x.to_device(&rjax::Device::Cpu).unwrap();
    /// assert_eq!(y.device(), rjax::Device::Cpu);
    /// ```
    ///
    /// # Errors
    /// [`Error::Device`] when the device does not exist (no CUDA driver,
    /// no such GPU) or a copy to it fails.
    pub fn to_device(&self, device: &crate::Device) -> Result<Array> {
        crate::device::to_device(self, device)
    }

    /// The host buffer of a concrete array (for an array on a GPU, copied
    /// back on first use and kept).
    ///
    /// # Errors
    /// [`Error::Concretization`] when the array is a tracer, naming `op`;
    /// [`Error::Device`] when copying from a GPU fails.
    pub fn try_buffer(&self, op: &str) -> Result<&HostBuffer> {
        match self.repr() {
            Repr::Concrete(b) => Ok(b),
            Repr::Placed(p) => p.host(),
            Repr::Traced(t) => Err(Error::Concretization {
                op: op.to_string(),
                aval: t.aval.to_string(),
            }),
        }
    }

    /// The elements, row-major, as a `Vec<T>`.
    ///
    /// # Example
    /// ```
    /// let x = rjax::Array::from_vec(vec![1i32, 2, 3], &[3]).unwrap();
    /// assert_eq!(x.to_vec::<i32>().unwrap(), vec![1, 2, 3]);
    /// ```
    ///
    /// # Errors
    /// [`Error::DTypeMismatch`] if `T` is not the array's dtype;
    /// [`Error::Concretization`] under a transformation such as `jit`.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        let buffer = self.try_buffer("to_vec")?;
        buffer
            .as_slice::<T>()
            .map(<[T]>::to_vec)
            .ok_or(Error::DTypeMismatch {
                op: "to_vec",
                expected: T::DTYPE,
                actual: buffer.dtype(),
            })
    }

    /// The single element of an array with one element.
    ///
    /// # Errors
    /// As [`Array::to_vec`], and [`Error::Op`] if the array does not have
    /// exactly one element.
    pub fn item<T: Element>(&self) -> Result<T> {
        let buffer = self.try_buffer("item")?;
        let values = buffer.as_slice::<T>().ok_or(Error::DTypeMismatch {
            op: "item",
            expected: T::DTYPE,
            actual: buffer.dtype(),
        })?;
        match values {
            [one] => Ok(*one),
            _ => Err(Error::op(
                "item",
                format!(
                    "only arrays with one element can be converted to a scalar, got shape {}",
                    rjax_ir::ShapeDisplay(buffer.shape())
                ),
            )),
        }
    }

    /// The elements converted to `f64` (bool as 0/1), whatever the dtype.
    ///
    /// # Errors
    /// [`Error::Concretization`] under a transformation.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        Ok(self.try_buffer("to_f64_vec")?.data().to_f64_vec())
    }
}

/// The last handle of a large concrete array gives its storage to the
/// recycled-storage cache ([`rjax_ir::pool`]), so the next program that
/// needs storage of that size writes into memory that is already mapped.
impl Drop for Array {
    fn drop(&mut self) {
        if let Some(Repr::Concrete(b)) = Arc::get_mut(&mut self.0) {
            if rjax_ir::pool::worth_recycling(b.dtype(), b.data().len()) {
                let b = std::mem::replace(b, HostBuffer::empty());
                rjax_ir::pool::recycle(b.into_data());
            }
        }
    }
}

impl std::fmt::Debug for Array {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.repr() {
            Repr::Concrete(_) => write!(f, "Array({self}, dtype={})", self.dtype()),
            Repr::Placed(p) => write!(
                f,
                "Array({self}, dtype={}, device={})",
                self.dtype(),
                p.device()
            ),
            Repr::Traced(t) => write!(f, "Traced<{}>", t.aval),
        }
    }
}
