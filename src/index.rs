//! NumPy-style indexing and JAX-style functional updates.
//!
//! Arrays are immutable, so `x[idx]` is [`Array::index`] and `x[idx] = v`
//! is `x.at(idx).set(v)` ([`Array::at`]), which returns a new array, as
//! JAX's `x.at[idx].set(v)` does. An index is a list of [`IndexItem`]s,
//! usually written with the [`s!`](crate::s) macro:
//!
//! | `s!` item                            | NumPy      | meaning                                  |
//! |---------------------------------------|------------|------------------------------------------|
//! | `2`, `-1`, `i` (any integer type)     | `2`, `-1`  | one position; the axis is removed        |
//! | `..`                                  | `:`        | the whole axis                           |
//! | `a..b`, `a..`, `..b`                  | `a:b` ...  | a range (exclusive end)                  |
//! | `a..=b`, `..=b`                       | `a:b+1`    | a range with inclusive end               |
//! | `a..b;k`, `..;k`, ...                 | `a:b:k`    | a range with step `k` (may be negative)  |
//! | `NewAxis` (or `IndexItem::NewAxis`)   | `None`     | inserts an axis of size 1                |
//! | `...`, `Ellipsis`                     | `...`      | as many `..` as the other items leave    |
//! | `&a` for an integer [`Array`] `a`     | `[0, 2]`   | gathers the axis at `a`'s positions      |
//!
//! ```
//! use rjax::prelude::*;
//! let x = Array::from_vec((0..12).collect::<Vec<i32>>(), &[3, 4]).unwrap();
//! assert_eq!(x.index(&s![1, ..]).to_vec::<i32>().unwrap(), vec![4, 5, 6, 7]);
//! assert_eq!(x.index(&s![.., 1..;2]).to_vec::<i32>().unwrap(), vec![1, 3, 5, 7, 9, 11]);
//! assert_eq!(x.index(&s![-1, ..;-1]).to_vec::<i32>().unwrap(), vec![11, 10, 9, 8]);
//! assert_eq!(x.index(&s![NewAxis, ..., 0]).shape(), &[1, 3]);
//! let y = x.at(&s![0, 1..3]).set(&Array::scalar(-1i32));
//! assert_eq!(y.index(&s![0]).to_vec::<i32>().unwrap(), vec![0, -1, -1, 3]);
//! ```
//!
//! Semantics follow NumPy: negative positions count from the end, range
//! bounds are clamped into the axis as Python slices are (`4..1;-1` is 4,
//! 3, 2; `..=-1` reaches the last element), and an integer outside the
//! axis is an error (`index: index 5 is out of bounds for axis 0 with size
//! 3`). With one integer-array item, the index array's dimensions replace
//! the axis it indexes; integer items are then advanced indices too, and
//! when an integer item and the array item are separated by a range,
//! `NewAxis` or an ellipsis, the array's dimensions move to the front of
//! the result, exactly as NumPy does. More than one array item (NumPy's
//! broadcast advanced indexing) and boolean masks are not supported.
//!
//! Where JAX departs from NumPy, rjax follows JAX: index-array positions are
//! not checked against the axis (that would need their values). Negative
//! ones are wrapped once; on reading, what is still out of range is
//! clamped into the axis; on updating, it is dropped.
//!
//! # How it is built from primitives
//!
//! Everything is a composition of primitives, so indexing works eagerly
//! and under every transformation. A static index is resolved, per axis,
//! into an ascending strided `slice` (integers are one-element slices),
//! `rev` for negative steps, then a `reshape` that drops the integer axes
//! and inserts the new ones. An index array adds one `gather`.
//!
//! A functional update computes the new region (for `add`, `mul`, `min`
//! and `max` through static indices, `op(x[idx], v)`) and writes it back
//! with `pad` (the region spread into `x`'s shape, interior padding for
//! steps) and a `select` against an equally padded mask: no index arrays,
//! so the result stays static, fusible and linear in `v`. An index array
//! uses `scatter` with the matching kind instead, so duplicate positions
//! accumulate (`add`, `mul`, `min`, `max`) or the last one wins (`set`), as
//! in JAX.

use crate::array::Array;
use crate::core::bind1;
use crate::jnp::{broadcast_to_shape, convert, or_panic};
use rjax_ir::{DType, Error, Primitive, Result, Scalar, ScatterKind, Shape, ShapeDisplay};
use std::ops::{Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};

#[doc(inline)]
pub use crate::s;

/// One item of a NumPy-style index; see the [module docs](self) and
/// [`s!`](crate::s), which builds lists of them.
#[derive(Clone, Debug)]
pub enum IndexItem {
    /// One position (negative counts from the end); removes the axis.
    Int(isize),
    /// A Python slice `start:stop:step`: bounds are optional, negative ones
    /// count from the end, and all are clamped into the axis; `step` is
    /// nonzero and may be negative.
    Range {
        /// First position (default: the first, or the last for a negative step).
        start: Option<isize>,
        /// Exclusive end (default: past the last, or before the first for a
        /// negative step).
        stop: Option<isize>,
        /// Distance between positions.
        step: isize,
    },
    /// The whole axis (`..`, NumPy's `:`).
    Full,
    /// Inserts an axis of size 1 (NumPy's `None`/`np.newaxis`).
    NewAxis,
    /// Stands for as many [`IndexItem::Full`] as the other items leave
    /// (NumPy's `...`); at most one per index.
    Ellipsis,
    /// An integer array (`i32` or `u32`) of positions along the axis; its
    /// dimensions replace the axis. At most one per index.
    Array(Array),
}

/// The integer types that index positions and steps may be written in.
pub trait IndexInt: Copy {
    /// The value as an `isize`, saturating at its bounds.
    fn to_isize(self) -> isize;
}

/// A Rust range that can carry a step: what may stand before `;` in
/// [`s!`](crate::s).
pub trait IntoSlice {
    /// The [`IndexItem::Range`] for this range with `step`.
    fn into_slice(self, step: isize) -> IndexItem;
}

/// The exclusive stop for an inclusive end `end` walked with `step`: one
/// past it in the walking direction, or open when that would wrap around
/// (`..=-1` forwards, `..=0` backwards).
fn inclusive_stop(end: isize, step: isize) -> Option<isize> {
    match (step < 0, end) {
        (false, -1) | (true, 0) => None,
        (false, e) => Some(e.saturating_add(1)),
        (true, e) => Some(e.saturating_sub(1)),
    }
}

macro_rules! index_ints {
    ($($t:ty => |$v:ident| $conv:expr;)*) => {$(
        impl IndexInt for $t {
            fn to_isize(self) -> isize {
                let $v = self;
                $conv
            }
        }
        impl From<$t> for IndexItem {
            fn from(i: $t) -> IndexItem {
                IndexItem::Int(i.to_isize())
            }
        }
        impl IntoSlice for Range<$t> {
            fn into_slice(self, step: isize) -> IndexItem {
                let (start, stop) = (Some(self.start.to_isize()), Some(self.end.to_isize()));
                IndexItem::Range { start, stop, step }
            }
        }
        impl IntoSlice for RangeFrom<$t> {
            fn into_slice(self, step: isize) -> IndexItem {
                IndexItem::Range { start: Some(self.start.to_isize()), stop: None, step }
            }
        }
        impl IntoSlice for RangeTo<$t> {
            fn into_slice(self, step: isize) -> IndexItem {
                IndexItem::Range { start: None, stop: Some(self.end.to_isize()), step }
            }
        }
        impl IntoSlice for RangeInclusive<$t> {
            fn into_slice(self, step: isize) -> IndexItem {
                let stop = inclusive_stop(self.end().to_isize(), step);
                IndexItem::Range { start: Some(self.start().to_isize()), stop, step }
            }
        }
        impl IntoSlice for RangeToInclusive<$t> {
            fn into_slice(self, step: isize) -> IndexItem {
                IndexItem::Range { start: None, stop: inclusive_stop(self.end.to_isize(), step), step }
            }
        }
        impl From<Range<$t>> for IndexItem {
            fn from(r: Range<$t>) -> IndexItem { r.into_slice(1) }
        }
        impl From<RangeFrom<$t>> for IndexItem {
            fn from(r: RangeFrom<$t>) -> IndexItem { r.into_slice(1) }
        }
        impl From<RangeTo<$t>> for IndexItem {
            fn from(r: RangeTo<$t>) -> IndexItem { r.into_slice(1) }
        }
        impl From<RangeInclusive<$t>> for IndexItem {
            fn from(r: RangeInclusive<$t>) -> IndexItem { r.into_slice(1) }
        }
        impl From<RangeToInclusive<$t>> for IndexItem {
            fn from(r: RangeToInclusive<$t>) -> IndexItem { r.into_slice(1) }
        }
    )*};
}

index_ints! {
    i32 => |v| v as isize;
    isize => |v| v;
    i64 => |v| isize::try_from(v).unwrap_or(if v < 0 { isize::MIN } else { isize::MAX });
    u32 => |v| isize::try_from(v).unwrap_or(isize::MAX);
    usize => |v| isize::try_from(v).unwrap_or(isize::MAX);
}

impl IntoSlice for RangeFull {
    fn into_slice(self, step: isize) -> IndexItem {
        IndexItem::Range {
            start: None,
            stop: None,
            step,
        }
    }
}

impl From<RangeFull> for IndexItem {
    fn from(_: RangeFull) -> IndexItem {
        IndexItem::Full
    }
}

impl From<&Array> for IndexItem {
    fn from(a: &Array) -> IndexItem {
        IndexItem::Array(a.clone())
    }
}

impl From<Array> for IndexItem {
    fn from(a: Array) -> IndexItem {
        IndexItem::Array(a)
    }
}

impl IndexItem {
    /// A range with a step: `IndexItem::stepped(1..7, 2)` is NumPy's `1:7:2`,
    /// what `s![1..7;2]` writes.
    ///
    /// # Example
    /// ```
    /// use rjax::index::IndexItem;
    /// let item = IndexItem::stepped(..=0, -1); // from the end back to 0 inclusive
    /// assert!(matches!(item, IndexItem::Range { start: None, stop: None, step: -1 }));
    /// ```
    pub fn stepped<R: IntoSlice, S: IndexInt>(range: R, step: S) -> IndexItem {
        range.into_slice(step.to_isize())
    }

    /// What [`s!`](crate::s) expands a range item to: a Python slice from
    /// optional bounds, with an inclusive `stop` made exclusive.
    #[doc(hidden)]
    pub fn __slice(
        start: Option<isize>,
        stop: Option<isize>,
        inclusive: bool,
        step: isize,
    ) -> IndexItem {
        let stop = match (stop, inclusive) {
            (Some(end), true) => inclusive_stop(end, step),
            (stop, _) => stop,
        };
        IndexItem::Range { start, stop, step }
    }
}

/// Builds a `Vec<`[`IndexItem`]`>` from NumPy-like index syntax.
///
/// Items are separated by commas; each is one of
///
/// - an integer expression (any integer type; negative counts from the end);
/// - a range written like a Rust range, `a..b`, `a..`, `..b`, `..`,
///   `a..=b` or `..=b`, optionally followed by a step after `;`, as in
///   `0..10;2` or `..;-1`. The bounds are integer expressions and mean what
///   they mean in a NumPy slice: `4..1;-1` is NumPy's `4:1:-1` (positions
///   4, 3, 2), and `-3..` the last three. The macro never builds a Rust
///   range from them, so "reversed" bounds are fine;
/// - `NewAxis`, and `...` or `Ellipsis`;
/// - any other expression that converts into an [`IndexItem`], such as
///   `&a` for an integer index array `a`, or `IndexItem::NewAxis`.
///
/// An item expression with a comma at its top level (a generic call, a
/// closure) needs parentheses.
///
/// # Example
/// ```
/// use rjax::prelude::*;
/// use rjax::index::IndexItem;
/// let idx = s![1, .., 2..5, ..;2, -1, NewAxis, ...];
/// assert_eq!(idx.len(), 7);
/// assert!(matches!(idx[3], IndexItem::Range { start: None, stop: None, step: 2 }));
/// let x = Array::from_vec((0..6).collect::<Vec<i32>>(), &[6]).unwrap();
/// assert_eq!(x.index(&s![4..1;-1]).to_vec::<i32>().unwrap(), vec![4, 3, 2]);
/// let n = x.shape()[0];
/// assert_eq!(x.index(&s![n - 2..]).to_vec::<i32>().unwrap(), vec![4, 5]);
/// ```
#[macro_export]
macro_rules! s {
    // `@next [done] tokens`: starts the next item.
    (@next [$($done:expr,)*]) => {{
        let items: ::std::vec::Vec<$crate::index::IndexItem> = ::std::vec![$($done),*];
        items
    }};
    (@next [$($done:expr,)*] NewAxis $(, $($rest:tt)*)?) => {
        $crate::s!(@next [$($done,)* $crate::index::IndexItem::NewAxis,] $($($rest)*)?)
    };
    (@next [$($done:expr,)*] Ellipsis $(, $($rest:tt)*)?) => {
        $crate::s!(@next [$($done,)* $crate::index::IndexItem::Ellipsis,] $($($rest)*)?)
    };
    (@next [$($done:expr,)*] ... $(, $($rest:tt)*)?) => {
        $crate::s!(@next [$($done,)* $crate::index::IndexItem::Ellipsis,] $($($rest)*)?)
    };
    (@next [$($done:expr,)*] .. $(, $($rest:tt)*)?) => {
        $crate::s!(@next [$($done,)* $crate::index::IndexItem::Full,] $($($rest)*)?)
    };
    (@next $done:tt $($rest:tt)+) => { $crate::s!(@start $done [] $($rest)+) };
    // `@start [done] [start tokens] tokens`: an expression, or a range's start.
    (@start $done:tt [$($a:tt)*] .. $($rest:tt)*) => { $crate::s!(@stop $done [$($a)*] false [] $($rest)*) };
    (@start $done:tt [$($a:tt)*] ..= $($rest:tt)*) => { $crate::s!(@stop $done [$($a)*] true [] $($rest)*) };
    (@start [$($done:expr,)*] [$($a:tt)+] $(, $($rest:tt)*)?) => {
        $crate::s!(@next [$($done,)* $crate::index::IndexItem::from($($a)+),] $($($rest)*)?)
    };
    (@start $done:tt [] , $($rest:tt)*) => { ::std::compile_error!("s!: empty index item") };
    (@start $done:tt [$($a:tt)*] ; $($rest:tt)*) => {
        ::std::compile_error!("s!: a step (`;`) applies only to ranges such as `1..;2`")
    };
    (@start $done:tt [$($a:tt)*] $t:tt $($rest:tt)*) => { $crate::s!(@start $done [$($a)* $t] $($rest)*) };
    // `@stop [done] [start] inclusive [stop tokens] tokens`: a range's stop.
    (@stop $done:tt $a:tt $incl:tt [$($b:tt)*] ; $($rest:tt)*) => {
        $crate::s!(@step $done $a $incl [$($b)*] [] $($rest)*)
    };
    (@stop [$($done:expr,)*] [$($a:tt)*] $incl:tt [$($b:tt)*] $(, $($rest:tt)*)?) => {
        $crate::s!(@next [$($done,)* $crate::index::IndexItem::__slice(
            $crate::s!(@opt $($a)*), $crate::s!(@opt $($b)*), $incl, 1), ] $($($rest)*)?)
    };
    (@stop $done:tt $a:tt $incl:tt [$($b:tt)*] $t:tt $($rest:tt)*) => {
        $crate::s!(@stop $done $a $incl [$($b)* $t] $($rest)*)
    };
    // `@step [done] [start] inclusive [stop] [step tokens] tokens`: a range's step.
    (@step [$($done:expr,)*] [$($a:tt)*] $incl:tt [$($b:tt)*] [$($k:tt)+] $(, $($rest:tt)*)?) => {
        $crate::s!(@next [$($done,)* $crate::index::IndexItem::__slice(
            $crate::s!(@opt $($a)*), $crate::s!(@opt $($b)*), $incl,
            $crate::index::IndexInt::to_isize($($k)+)), ] $($($rest)*)?)
    };
    (@step $done:tt $a:tt $incl:tt $b:tt [] $(, $($rest:tt)*)?) => {
        ::std::compile_error!("s!: expected a step after `;`")
    };
    (@step $done:tt $a:tt $incl:tt $b:tt [$($k:tt)*] $t:tt $($rest:tt)*) => {
        $crate::s!(@step $done $a $incl $b [$($k)* $t] $($rest)*)
    };
    // `@opt tokens`: an optional bound.
    (@opt) => { ::std::option::Option::None };
    (@opt $($t:tt)+) => { ::std::option::Option::Some($crate::index::IndexInt::to_isize($($t)+)) };
    ($($items:tt)*) => { $crate::s!(@next [] $($items)*) };
}

/// What a resolved index does along one input axis, or a new unit axis.
#[derive(Clone, Debug)]
enum Entry {
    /// Keeps the `len` positions `start, start + step, ..` of the axis.
    Slice {
        start: usize,
        step: isize,
        len: usize,
    },
    /// Keeps position `i` and removes the axis.
    Int(usize),
    /// Gathers the axis at the positions of an integer array.
    Gather(Array),
    /// Inserts an axis of size 1.
    NewAxis,
}

/// An index resolved against a shape: the static slice that every form
/// starts with, the optional gather, and the shapes in between.
struct Plan {
    /// The indexed array's shape.
    shape: Vec<usize>,
    /// Ascending strided slice per input axis (integers are one-element
    /// slices, the gathered axis is whole).
    start: Vec<usize>,
    limit: Vec<usize>,
    strides: Vec<usize>,
    /// Axes reversed after slicing (negative steps).
    rev: Vec<usize>,
    /// Shape after the slice.
    sliced: Vec<usize>,
    /// The gathered input axis and its index array.
    gather: Option<(usize, Array)>,
    /// Shape after the reshape that drops integer axes and inserts new ones.
    walked: Vec<usize>,
    /// Moves the index array's dimensions to the front (NumPy's rule for
    /// separated advanced indices); `None` when they stay in place.
    perm: Option<Vec<usize>>,
}

/// Resolves a Python slice against an axis of size `n`, as
/// `PySlice_AdjustIndices` does.
fn resolve_range(
    op: &str,
    start: Option<isize>,
    stop: Option<isize>,
    step: isize,
    n: usize,
) -> Result<Entry> {
    if step == 0 {
        return Err(Error::op(op, "slice step cannot be zero"));
    }
    let n = isize::try_from(n).unwrap_or(isize::MAX);
    let wrap = |v: isize| if v < 0 { v.saturating_add(n) } else { v };
    // First position and the distance to the (exclusive) stop, walking by `step`.
    let (first, distance) = if step > 0 {
        let b = start.map_or(0, |v| wrap(v).clamp(0, n));
        (b, stop.map_or(n, |v| wrap(v).clamp(0, n)) - b)
    } else {
        let b = start.map_or(n - 1, |v| wrap(v).clamp(-1, n - 1));
        (b, b - stop.map_or(-1, |v| wrap(v).clamp(-1, n - 1)))
    };
    let len = match distance {
        d if d > 0 => (d - 1).unsigned_abs() / step.unsigned_abs() + 1,
        _ => 0,
    };
    let start = if len == 0 { 0 } else { first.unsigned_abs() };
    Ok(Entry::Slice { start, step, len })
}

/// Resolves an integer position against axis `axis` of size `n`.
fn resolve_int(op: &str, i: isize, axis: usize, n: usize) -> Result<usize> {
    let size = isize::try_from(n).unwrap_or(isize::MAX);
    if i < -size || i >= size {
        return Err(Error::op(
            op,
            format!("index {i} is out of bounds for axis {axis} with size {n}"),
        ));
    }
    Ok(if i < 0 {
        (i + size).unsigned_abs()
    } else {
        i.unsigned_abs()
    })
}

/// Checks an index array's dtype.
fn check_index_array(op: &str, a: &Array) -> Result<()> {
    match a.dtype() {
        DType::I32 | DType::U32 => Ok(()),
        DType::Bool => Err(Error::op(
            op,
            format!(
                "boolean index arrays (masks, here of shape {}) are not supported: the result's shape \
                 would depend on the values; use jnp::where_",
                ShapeDisplay(a.shape())
            ),
        )),
        d => Err(Error::op(
            op,
            format!("index arrays must have an integer dtype (i32 or u32), got {d} (of shape {})", ShapeDisplay(a.shape())),
        )),
    }
}

/// Resolves `items` into one [`Entry`] per input axis plus the new axes.
fn resolve(op: &str, shape: &[usize], items: &[IndexItem]) -> Result<Vec<Entry>> {
    let rank = shape.len();
    let count = |f: fn(&IndexItem) -> bool| items.iter().filter(|i| f(i)).count();
    let consumed = count(|i| !matches!(i, IndexItem::NewAxis | IndexItem::Ellipsis));
    let ellipses = count(|i| matches!(i, IndexItem::Ellipsis));
    let arrays = count(|i| matches!(i, IndexItem::Array(_)));
    let xs = ShapeDisplay(shape);
    if ellipses > 1 {
        return Err(Error::op(
            op,
            format!("an index can only have a single ellipsis, got {ellipses}"),
        ));
    }
    if consumed > rank {
        let msg = format!("too many indices for array of shape {xs}: array is {rank}-dimensional, but {consumed} were indexed");
        return Err(Error::op(op, msg));
    }
    if arrays > 1 {
        let msg = format!(
            "at most one integer-array index is supported, got {arrays} (indexing {xs}); \
             NumPy's broadcasting of several index arrays is not implemented"
        );
        return Err(Error::op(op, msg));
    }
    let full = |n: usize| Entry::Slice {
        start: 0,
        step: 1,
        len: n,
    };
    let mut entries = Vec::with_capacity(items.len().max(rank));
    let mut axis = 0;
    for item in items {
        let entry = match item {
            IndexItem::NewAxis => {
                entries.push(Entry::NewAxis);
                continue;
            }
            IndexItem::Ellipsis => {
                entries.extend(shape[axis..axis + rank - consumed].iter().map(|&n| full(n)));
                axis += rank - consumed;
                continue;
            }
            IndexItem::Int(i) => Entry::Int(resolve_int(op, *i, axis, shape[axis])?),
            IndexItem::Full => full(shape[axis]),
            IndexItem::Range { start, stop, step } => {
                resolve_range(op, *start, *stop, *step, shape[axis])?
            }
            IndexItem::Array(a) => {
                check_index_array(op, a)?;
                Entry::Gather(a.clone())
            }
        };
        entries.push(entry);
        axis += 1;
    }
    entries.extend(shape[axis..].iter().map(|&n| full(n)));
    Ok(entries)
}

impl Plan {
    fn new(op: &str, shape: &[usize], items: &[IndexItem]) -> Result<Plan> {
        let entries = resolve(op, shape, items)?;
        let mut plan = Plan {
            shape: shape.to_vec(),
            start: vec![],
            limit: vec![],
            strides: vec![],
            rev: vec![],
            sliced: vec![],
            gather: None,
            walked: vec![],
            perm: None,
        };
        let mut gather_pos = 0;
        let mut axes = shape.iter().enumerate();
        for entry in &entries {
            if matches!(entry, Entry::NewAxis) {
                plan.walked.push(1);
                continue;
            }
            let Some((axis, &n)) = axes.next() else {
                panic!("internal error: index resolved to more entries than axes");
            };
            let (start, limit, stride) = match entry {
                Entry::Slice { len: 0, .. } => {
                    plan.walked.push(0);
                    (0, 0, 1)
                }
                &Entry::Slice { start, step, len } => {
                    plan.walked.push(len);
                    let span = (len - 1) * step.unsigned_abs();
                    if step < 0 {
                        plan.rev.push(axis);
                        (start - span, start + 1, step.unsigned_abs())
                    } else {
                        (start, start + span + 1, step.unsigned_abs())
                    }
                }
                &Entry::Int(i) => (i, i + 1, 1),
                Entry::Gather(a) => {
                    gather_pos = plan.walked.len();
                    plan.walked.extend_from_slice(a.shape());
                    plan.gather = Some((axis, a.clone()));
                    (0, n, 1)
                }
                Entry::NewAxis => unreachable!("internal error: new axes are handled above"),
            };
            plan.start.push(start);
            plan.limit.push(limit);
            plan.strides.push(stride);
            plan.sliced.push((limit - start).div_ceil(stride));
        }
        // NumPy: advanced indices (the array and any integers) separated by
        // a slice, an ellipsis or a new axis put the array's dimensions first.
        let advanced: Vec<usize> = (entries.iter().enumerate())
            .filter(|(_, e)| matches!(e, Entry::Int(_) | Entry::Gather(_)))
            .map(|(i, _)| i)
            .collect();
        if let (Some((_, a)), Some(first), Some(last)) =
            (&plan.gather, advanced.first(), advanced.last())
        {
            let k = a.ndim();
            if last - first + 1 != advanced.len() && gather_pos > 0 && k > 0 {
                let r = plan.walked.len();
                let perm = (gather_pos..gather_pos + k)
                    .chain(0..gather_pos)
                    .chain(gather_pos + k..r);
                plan.perm = Some(perm.collect());
            }
        }
        Ok(plan)
    }

    /// The shape of `x[idx]`.
    fn result_shape(&self) -> Vec<usize> {
        match &self.perm {
            Some(perm) => perm.iter().map(|&p| self.walked[p]).collect(),
            None => self.walked.clone(),
        }
    }

    /// The shape after the gather (the sliced shape with the index array's
    /// dimensions in place of the gathered axis).
    fn gathered_shape(&self) -> Vec<usize> {
        match &self.gather {
            Some((axis, a)) => {
                let mut s = self.sliced[..*axis].to_vec();
                s.extend_from_slice(a.shape());
                s.extend_from_slice(&self.sliced[axis + 1..]);
                s
            }
            None => self.sliced.clone(),
        }
    }

    /// True when the static slice keeps every element in order.
    fn slice_is_identity(&self) -> bool {
        self.rev.is_empty() && self.sliced == self.shape
    }

    /// `x` sliced and reversed: integers kept as unit axes, the gathered axis whole.
    #[track_caller]
    fn slice(&self, x: &Array) -> Result<Array> {
        let mut y = x.clone();
        if self.sliced != self.shape {
            let prim = Primitive::Slice {
                start: self.start.clone(),
                limit: self.limit.clone(),
                strides: self.strides.clone(),
            };
            y = bind1(prim, &[y])?;
        }
        if !self.rev.is_empty() {
            y = bind1(
                Primitive::Rev {
                    axes: self.rev.clone(),
                },
                &[y],
            )?;
        }
        Ok(y)
    }

    /// Writes `new` (of the sliced shape) back into `x` at the sliced
    /// positions: `select(mask, pad(new), x)`.
    #[track_caller]
    fn write_back(&self, x: &Array, new: Array) -> Result<Array> {
        if self.slice_is_identity() {
            return Ok(new);
        }
        if self.sliced.contains(&0) {
            return Ok(x.clone());
        }
        let new = if self.rev.is_empty() {
            new
        } else {
            bind1(
                Primitive::Rev {
                    axes: self.rev.clone(),
                },
                &[new],
            )?
        };
        let low: Vec<i64> = self.start.iter().map(|&s| s as i64).collect();
        let high: Vec<i64> = self
            .shape
            .iter()
            .zip(&self.limit)
            .map(|(&n, &l)| (n - l) as i64)
            .collect();
        let interior: Vec<usize> = self.strides.iter().map(|&s| s - 1).collect();
        let pad = |v: Array, fill: Scalar| {
            let prim = Primitive::Pad {
                low: low.clone(),
                high: high.clone(),
                interior: interior.clone(),
            };
            bind1(prim, &[v, Array::from_scalar(fill)])
        };
        let ones = Primitive::BroadcastInDim {
            shape: Shape::from_slice(&self.sliced),
            broadcast_dimensions: vec![],
        };
        let ones = bind1(ones, &[Array::from_scalar(Scalar::Bool(true))])?;
        let mask = pad(ones, Scalar::Bool(false))?;
        let spread = pad(new, Scalar::zero(x.dtype()))?;
        bind1(Primitive::Select, &[mask, spread, x.clone()])
    }
}

/// `indices` with negative entries wrapped once by the axis size `n`.
#[track_caller]
fn wrap_negative(indices: &Array, n: usize) -> Result<Array> {
    if indices.dtype() != DType::I32 {
        return Ok(indices.clone());
    }
    let n = Array::scalar(i32::try_from(n).unwrap_or(i32::MAX));
    let negative = bind1(Primitive::Lt, &[indices.clone(), Array::scalar(0i32)])?;
    let wrapped = bind1(Primitive::Add, &[indices.clone(), n])?;
    bind1(Primitive::Select, &[negative, wrapped, indices.clone()])
}

/// `reshape` unless the shape already matches.
#[track_caller]
fn reshape(x: Array, shape: &[usize]) -> Result<Array> {
    if x.shape() == shape {
        return Ok(x);
    }
    bind1(
        Primitive::Reshape {
            new_sizes: Shape::from_slice(shape),
        },
        &[x],
    )
}

/// `x[idx]`, naming `op` in errors.
#[track_caller]
fn get(op: &str, x: &Array, items: &[IndexItem]) -> Result<Array> {
    let plan = Plan::new(op, x.shape(), items)?;
    let mut y = plan.slice(x)?;
    if let Some((axis, indices)) = &plan.gather {
        let n = x.shape()[*axis];
        if n == 0 && indices.size() > 0 {
            let xs = ShapeDisplay(x.shape());
            return Err(Error::op(
                op,
                format!("cannot index axis {axis} of {xs}, which is empty, with an index array"),
            ));
        }
        y = bind1(
            Primitive::Gather { axis: *axis },
            &[y, wrap_negative(indices, n)?],
        )?;
    }
    y = reshape(y, &plan.walked)?;
    match plan.perm {
        Some(permutation) => bind1(Primitive::Transpose { permutation }, &[y]),
        None => Ok(y),
    }
}

/// `x.at[idx]` updated with `v` by `kind`, naming `op` in errors.
#[track_caller]
fn update(op: &str, x: &Array, items: &[IndexItem], v: &Array, kind: ScatterKind) -> Result<Array> {
    if kind != ScatterKind::Set && x.dtype() == DType::Bool {
        return Err(Error::op(
            op,
            format!(
                "needs a numeric array, got {} of shape {}",
                x.dtype(),
                ShapeDisplay(x.shape())
            ),
        ));
    }
    let plan = Plan::new(op, x.shape(), items)?;
    let region = plan.result_shape();
    let mut v = convert(v, x.dtype())?;
    // NumPy drops leading unit dimensions of a value with more than the region's.
    let extra = v.ndim().saturating_sub(region.len());
    if extra > 0 && v.shape()[..extra].iter().all(|&d| d == 1) {
        let inner = v.shape()[extra..].to_vec();
        v = reshape(v, &inner)?;
    }
    let mut v = broadcast_to_shape(op, &v, &region)?;
    if let Some(perm) = &plan.perm {
        let mut inverse = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        v = bind1(
            Primitive::Transpose {
                permutation: inverse,
            },
            &[v],
        )?;
    }
    let new = match &plan.gather {
        Some((axis, indices)) => {
            let updates = reshape(v, &plan.gathered_shape())?;
            let indices = wrap_negative(indices, x.shape()[*axis])?;
            let sub = plan.slice(x)?;
            bind1(
                Primitive::Scatter { axis: *axis, kind },
                &[sub, indices, updates],
            )?
        }
        None => {
            let v = reshape(v, &plan.sliced)?;
            let prim = match kind {
                ScatterKind::Set => return plan.write_back(x, v),
                ScatterKind::Add => Primitive::Add,
                ScatterKind::Mul => Primitive::Mul,
                ScatterKind::Min => Primitive::Min,
                ScatterKind::Max => Primitive::Max,
            };
            bind1(prim, &[plan.slice(x)?, v])?
        }
    };
    plan.write_back(x, new)
}

impl Array {
    /// `x[idx]`: NumPy basic indexing, and integer-array indexing along one
    /// axis (see the [module docs](crate::index) for the rules).
    ///
    /// # Example
    /// ```
    /// use rjax::prelude::*;
    /// let x = Array::from_vec((0..6).collect::<Vec<i32>>(), &[2, 3]).unwrap();
    /// assert_eq!(x.index(&s![.., -1]).to_vec::<i32>().unwrap(), vec![2, 5]);
    /// let i = Array::from_vec(vec![2i32, 0, -1], &[3]).unwrap();
    /// assert_eq!(x.index(&s![1, &i]).to_vec::<i32>().unwrap(), vec![5, 3, 5]);
    /// ```
    ///
    /// # Panics
    /// With the error of [`Array::try_index`].
    #[track_caller]
    pub fn index(&self, idx: &[IndexItem]) -> Array {
        or_panic(self.try_index(idx))
    }

    /// Like [`Array::index`], returning the error instead of panicking.
    ///
    /// # Errors
    /// [`Error::Op`] naming `index`: an integer out of bounds (`index:
    /// index 5 is out of bounds for axis 0 with size 3`), more items than
    /// axes, a zero step, several ellipses or index arrays, or an index
    /// array that is not of an integer dtype.
    #[track_caller]
    pub fn try_index(&self, idx: &[IndexItem]) -> Result<Array> {
        get("index", self, idx)
    }

    /// `x[i]`: the sub-array at position `i` of the first axis (negative
    /// counts from the end).
    ///
    /// # Example
    /// ```
    /// let x = rjax::Array::from_vec(vec![1i32, 2, 3, 4], &[2, 2]).unwrap();
    /// assert_eq!(x.get(-1).to_vec::<i32>().unwrap(), vec![3, 4]);
    /// ```
    ///
    /// # Panics
    /// With the error of [`Array::try_get`].
    #[track_caller]
    pub fn get(&self, i: isize) -> Array {
        or_panic(self.try_get(i))
    }

    /// Like [`Array::get`], returning the error instead of panicking.
    ///
    /// # Errors
    /// As [`Array::try_index`].
    #[track_caller]
    pub fn try_get(&self, i: isize) -> Result<Array> {
        get("index", self, &[IndexItem::Int(i)])
    }

    /// The functional-update view `x.at[idx]` of JAX: its methods return a
    /// new array with the indexed region replaced or combined with a value.
    ///
    /// # Example
    /// ```
    /// use rjax::prelude::*;
    /// let x = Array::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[4]).unwrap();
    /// let y = x.at(&s![1..;2]).mul(&Array::scalar(10.0f32));
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 20.0, 3.0, 40.0]);
    /// let i = Array::from_vec(vec![0i32, 0, 3], &[3]).unwrap();
    /// let z = x.at(&s![&i]).add(&Array::scalar(1.0f32)); // duplicates accumulate
    /// assert_eq!(z.to_vec::<f32>().unwrap(), vec![3.0, 2.0, 3.0, 5.0]);
    /// ```
    pub fn at<'a>(&'a self, idx: &'a [IndexItem]) -> At<'a> {
        At { x: self, idx }
    }
}

/// `x.at[idx]`: a pending functional update of [`Array::at`].
///
/// Each method takes a value `v`, converted to `x`'s dtype and broadcast to
/// the shape of `x[idx]`, and returns a new array. Through an index array,
/// duplicate positions accumulate (`add`, `mul`, `min`, `max`) or the last
/// one wins (`set`), and positions still out of range after wrapping
/// negative ones once are dropped, as in JAX.
#[derive(Clone, Copy, Debug)]
pub struct At<'a> {
    x: &'a Array,
    idx: &'a [IndexItem],
}

macro_rules! at_methods {
    ($($(#[$meta:meta])* $name:ident / $try_name:ident => $kind:ident, $op:literal;)*) => {$(
        $(#[$meta])*
        ///
        /// # Panics
        #[doc = concat!("With the error of [`At::", stringify!($try_name), "`].")]
        #[track_caller]
        pub fn $name(&self, v: &Array) -> Array {
            or_panic(self.$try_name(v))
        }

        #[doc = concat!("Like [`At::", stringify!($name), "`], returning the error instead of panicking.")]
        ///
        /// # Errors
        #[doc = concat!("[`Error::Op`] naming `", $op, "`: the index errors of [`Array::try_index`], ")]
        /// or a value that does not broadcast to the indexed region.
        #[track_caller]
        pub fn $try_name(&self, v: &Array) -> Result<Array> {
            update($op, self.x, self.idx, v, ScatterKind::$kind)
        }
    )*};
}

impl At<'_> {
    at_methods! {
        /// `x` with `x[idx]` replaced by `v` (`x.at[idx].set(v)`).
        ///
        /// # Example
        /// ```
        /// use rjax::prelude::*;
        /// let x = Array::from_vec(vec![0i32; 6], &[2, 3]).unwrap();
        /// let v = Array::from_vec(vec![1i32, 2, 3], &[3]).unwrap();
        /// let y = x.at(&s![-1]).set(&v);
        /// assert_eq!(y.to_vec::<i32>().unwrap(), vec![0, 0, 0, 1, 2, 3]);
        /// ```
        set / try_set => Set, "at.set";
        /// `x` with `v` added to `x[idx]` (`x.at[idx].add(v)`).
        add / try_add => Add, "at.add";
        /// `x` with `x[idx]` multiplied by `v` (`x.at[idx].multiply(v)`).
        mul / try_mul => Mul, "at.mul";
        /// `x` with `x[idx]` replaced by `minimum(x[idx], v)` (`x.at[idx].min(v)`).
        min / try_min => Min, "at.min";
        /// `x` with `x[idx]` replaced by `maximum(x[idx], v)` (`x.at[idx].max(v)`).
        max / try_max => Max, "at.max";
    }

    /// `x[idx]`, as [`Array::index`] (`x.at[idx].get()`).
    ///
    /// # Panics
    /// With the error of [`At::try_get`].
    #[track_caller]
    pub fn get(&self) -> Array {
        or_panic(self.try_get())
    }

    /// Like [`At::get`], returning the error instead of panicking.
    ///
    /// # Errors
    /// As [`Array::try_index`].
    #[track_caller]
    pub fn try_get(&self) -> Result<Array> {
        get("index", self.x, self.idx)
    }
}
