//! The tracing core: the current trace, `bind`, and the eager trace.
//!
//! rjax follows JAX's "stackless" design. A thread-local *current trace*
//! receives every primitive application through [`bind`]. Each
//! transformation is a [`Trace`] that owns a parent trace, unpacks the
//! arguments that carry its own tag, runs its rule with the parent installed
//! as the current trace, and packs the results back into its own tracers.
//! Arguments that are not its tracers (concrete arrays, tracers of outer
//! transformations) are constants to it. Tags are unique per trace instance,
//! so nested transformations of the same kind never confuse each other's
//! values.
//!
//! The bottom of every chain is [`EvalTrace`], which runs primitives on
//! concrete host buffers (compiled single-primitive kernels, see `eager`).

use crate::array::{Array, Repr};
use rjax_ir::{Error, HostBuffer, Primitive, Result};
use std::cell::RefCell;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identifies one trace instance; tracers carry the tag of the trace that
/// made them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceTag(u64);

impl TraceTag {
    /// A tag never handed out before.
    pub fn fresh() -> TraceTag {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TraceTag(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// An interpretation of primitives: eager evaluation, staging, and (in later
/// modules) jvp, linearize and batching.
pub trait Trace {
    /// The tag of the tracers this trace makes; `None` for the eager trace.
    fn tag(&self) -> Option<TraceTag>;

    /// Applies `prim` to `args`, returning one array per output.
    ///
    /// # Errors
    /// The primitive's shape-rule error, or a trace-specific error.
    fn process_primitive(
        &self,
        prim: &Primitive,
        args: &[Array],
        loc: &'static Location<'static>,
    ) -> Result<Vec<Array>>;
}

thread_local! {
    static CURRENT_TRACE: RefCell<Rc<dyn Trace>> = RefCell::new(Rc::new(EvalTrace));
}

/// The trace that [`bind`] hands primitives to.
pub fn current_trace() -> Rc<dyn Trace> {
    CURRENT_TRACE.with(|c| c.borrow().clone())
}

/// Runs `f` with `trace` as the current trace, restoring the previous one on
/// return and on panic.
pub fn with_trace<R>(trace: Rc<dyn Trace>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Rc<dyn Trace>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(previous) = self.0.take() {
                CURRENT_TRACE.with(|c| *c.borrow_mut() = previous);
            }
        }
    }
    let previous = CURRENT_TRACE.with(|c| std::mem::replace(&mut *c.borrow_mut(), trace));
    let _restore = Restore(Some(previous));
    f()
}

/// Applies a primitive to arrays through the current trace.
///
/// # Errors
/// The shape rule's error when the operands do not fit the primitive.
#[track_caller]
pub fn bind(prim: Primitive, args: &[Array]) -> Result<Vec<Array>> {
    let loc = Location::caller();
    current_trace().process_primitive(&prim, args, loc)
}

/// Like [`bind`], for primitives with exactly one output.
///
/// # Errors
/// As [`bind`].
#[track_caller]
pub fn bind1(prim: Primitive, args: &[Array]) -> Result<Array> {
    let mut outs = bind(prim, args)?;
    debug_assert_eq!(
        outs.len(),
        1,
        "internal error: bind1 on a multi-output primitive"
    );
    Ok(outs.swap_remove(0))
}

/// Eager evaluation on the CPU: every primitive runs at once on concrete
/// host buffers.
pub struct EvalTrace;

impl Trace for EvalTrace {
    fn tag(&self) -> Option<TraceTag> {
        None
    }

    fn process_primitive(
        &self,
        prim: &Primitive,
        args: &[Array],
        _loc: &'static Location<'static>,
    ) -> Result<Vec<Array>> {
        let device = crate::device::placement(prim.name(), args)?;
        let buffers = args
            .iter()
            .map(|a| match a.repr() {
                Repr::Concrete(b) => Ok(b),
                Repr::Placed(p) => p.host(),
                Repr::Traced(t) => Err(Error::op(
                    prim.name(),
                    format!(
                        "a tracer {} escaped the transformation that made it (it was stored \
                         outside the traced function and used after it returned)",
                        t.aval
                    ),
                )),
            })
            .collect::<Result<Vec<&HostBuffer>>>()?;
        let outs = crate::eager::eval(prim, &buffers)?;
        crate::device::place_results(device, outs)
    }
}
