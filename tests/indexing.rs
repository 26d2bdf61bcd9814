//! Indexing and functional updates (`rjax::index`) and the `lax` wrappers:
//! hand-computed results for every index form, `at()` updates through static
//! and integer-array indices (duplicates included), broadcasting of the
//! value, the error texts, and staging under `make_jaxpr`.

use rjax::index::IndexItem;
use rjax::lax::{self, ScatterKind};
use rjax::prelude::*;

/// `0, 1, .., n-1` as an i32 array of `shape`.
fn iota(shape: &[usize]) -> Array {
    let n: usize = shape.iter().product();
    Array::from_vec((0..n as i32).collect::<Vec<i32>>(), shape).unwrap()
}

fn ints(values: &[i32], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).unwrap()
}

fn f32s(values: &[f32], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).unwrap()
}

/// Shape and i32 values of `a`.
fn sv(a: &Array) -> (Vec<usize>, Vec<i32>) {
    (a.shape().to_vec(), a.to_vec::<i32>().unwrap())
}

/// Asserts `x[idx]` has `shape` and `values`.
#[track_caller]
fn check(x: &Array, idx: &[IndexItem], shape: &[usize], values: &[i32]) {
    assert_eq!(
        sv(&x.index(idx)),
        (shape.to_vec(), values.to_vec()),
        "index {idx:?}"
    );
}

fn err(r: rjax::Result<Array>) -> String {
    r.unwrap_err().to_string()
}

// ---- the s! macro -----------------------------------------------------------

#[test]
fn s_macro_builds_items() {
    let a = ints(&[0], &[1]);
    let idx = s![1, .., 2..5, ..;2, -1, NewAxis, ..., 0..=3, ..=-1, 1..;-1, &a, IndexItem::NewAxis];
    let text = format!("{idx:?}");
    assert_eq!(idx.len(), 12);
    assert!(matches!(idx[0], IndexItem::Int(1)));
    assert!(matches!(idx[1], IndexItem::Full));
    assert!(
        matches!(
            idx[2],
            IndexItem::Range {
                start: Some(2),
                stop: Some(5),
                step: 1
            }
        ),
        "{text}"
    );
    assert!(
        matches!(
            idx[3],
            IndexItem::Range {
                start: None,
                stop: None,
                step: 2
            }
        ),
        "{text}"
    );
    assert!(matches!(idx[4], IndexItem::Int(-1)));
    assert!(matches!(idx[5], IndexItem::NewAxis));
    assert!(matches!(idx[6], IndexItem::Ellipsis));
    assert!(
        matches!(
            idx[7],
            IndexItem::Range {
                start: Some(0),
                stop: Some(4),
                step: 1
            }
        ),
        "{text}"
    );
    assert!(
        matches!(
            idx[8],
            IndexItem::Range {
                start: None,
                stop: None,
                step: 1
            }
        ),
        "{text}"
    );
    assert!(
        matches!(
            idx[9],
            IndexItem::Range {
                start: Some(1),
                stop: None,
                step: -1
            }
        ),
        "{text}"
    );
    assert!(matches!(idx[10], IndexItem::Array(_)));
    assert!(matches!(idx[11], IndexItem::NewAxis));
    assert!(s![].is_empty());
    assert_eq!(s![0,].len(), 1);
    let (i, n): (usize, usize) = (1, 3);
    assert!(matches!(
        s![i..n][0],
        IndexItem::Range {
            start: Some(1),
            stop: Some(3),
            step: 1
        }
    ));
    assert!(matches!(s![Ellipsis][0], IndexItem::Ellipsis));
}

// ---- basic indexing ---------------------------------------------------------

#[test]
fn integers_and_negative_integers() {
    let x = iota(&[3, 4]);
    check(&x, &s![1], &[4], &[4, 5, 6, 7]);
    check(&x, &s![-1], &[4], &[8, 9, 10, 11]);
    check(&x, &s![-3, 2], &[], &[2]);
    check(&x, &s![2, -4], &[], &[8]);
    check(&x, &s![.., -1], &[3], &[3, 7, 11]);
    assert_eq!(sv(&x.get(-2)), (vec![4], vec![4, 5, 6, 7]));
    assert_eq!(sv(&x.at(&s![0, 0]).get()), (vec![], vec![0]));
    check(&x, &s![], &[3, 4], &(0..12).collect::<Vec<_>>());
}

#[test]
fn ranges_with_steps_and_clamped_bounds() {
    let x = iota(&[6]);
    check(&x, &s![1..4], &[3], &[1, 2, 3]);
    check(&x, &s![..2], &[2], &[0, 1]);
    check(&x, &s![4..], &[2], &[4, 5]);
    check(&x, &s![-2..], &[2], &[4, 5]);
    check(&x, &s![..-4], &[2], &[0, 1]);
    check(&x, &s![1..=3], &[3], &[1, 2, 3]);
    check(&x, &s![..=-1], &[6], &[0, 1, 2, 3, 4, 5]);
    check(&x, &s![..=-2], &[5], &[0, 1, 2, 3, 4]);
    check(&x, &s![..;2], &[3], &[0, 2, 4]);
    check(&x, &s![1..;2], &[3], &[1, 3, 5]);
    check(&x, &s![1..5;3], &[2], &[1, 4]);
    // Clamped like Python slices.
    check(&x, &s![-100..100], &[6], &[0, 1, 2, 3, 4, 5]);
    check(&x, &s![4..100;1], &[2], &[4, 5]);
    // Negative steps walk backwards from start (default: the last) to stop.
    check(&x, &s![..;-1], &[6], &[5, 4, 3, 2, 1, 0]);
    check(&x, &s![..;-2], &[3], &[5, 3, 1]);
    check(&x, &s![4..1;-1], &[3], &[4, 3, 2]);
    check(&x, &s![4..;-3], &[2], &[4, 1]);
    check(&x, &s![..2;-1], &[3], &[5, 4, 3]);
    check(&x, &s![-2..-5;-1], &[3], &[4, 3, 2]);
    check(&x, &s![100..;-2], &[3], &[5, 3, 1]);
    check(&x, &s![3..=0;-1], &[4], &[3, 2, 1, 0]);
    check(&x, &s![..=-3;-1], &[3], &[5, 4, 3]);
    // Two dimensions at once.
    let y = iota(&[3, 4]);
    check(&y, &s![..;-1, 1..3], &[3, 2], &[9, 10, 5, 6, 1, 2]);
    check(&y, &s![1.., ..;-2], &[2, 2], &[7, 5, 11, 9]);
}

#[test]
fn zero_length_slices() {
    let x = iota(&[3, 4]);
    check(&x, &s![2..2], &[0, 4], &[]);
    check(&x, &s![.., 3..1], &[3, 0], &[]);
    check(&x, &s![5..], &[0, 4], &[]);
    check(&x, &s![1..3;-1], &[0, 4], &[]);
    check(&x, &s![1, 10..;2], &[0], &[]);
    let empty = iota(&[0, 2]);
    check(&empty, &s![.., 1], &[0], &[]);
    check(&empty, &s![..;-1], &[0, 2], &[]);
}

#[test]
fn new_axis_and_ellipsis() {
    let x = iota(&[2, 3, 4]);
    check(&x, &s![NewAxis, 1, 2], &[1, 4], &[20, 21, 22, 23]);
    check(&x, &s![0, NewAxis, .., -1], &[1, 3], &[3, 7, 11]);
    check(&x, &s![..., 1], &[2, 3], &[1, 5, 9, 13, 17, 21]);
    check(&x, &s![1, ..., 0], &[3], &[12, 16, 20]);
    check(&x, &s![1, 2, ..., 3], &[], &[23]);
    check(
        &x,
        &s![Ellipsis, NewAxis],
        &[2, 3, 4, 1],
        &(0..24).collect::<Vec<_>>(),
    );
    check(&x, &s![..., 0, NewAxis, 1], &[2, 1], &[1, 13]);
    let s0 = Array::scalar(7i32);
    check(&s0, &s![NewAxis, NewAxis], &[1, 1], &[7]);
    check(&s0, &s![...], &[], &[7]);
}

// ---- integer-array indexing -------------------------------------------------

#[test]
fn integer_array_indexing() {
    let x = iota(&[3, 4]);
    let i = ints(&[2, 0, -1, -3], &[4]);
    check(
        &x,
        &s![.., &i],
        &[3, 4],
        &[2, 0, 3, 1, 6, 4, 7, 5, 10, 8, 11, 9],
    );
    check(
        &x,
        &s![&ints(&[-1, 0], &[2])],
        &[2, 4],
        &[8, 9, 10, 11, 0, 1, 2, 3],
    );
    check(&x, &s![1, &i], &[4], &[6, 4, 7, 5]);
    check(&x, &s![1.., &ints(&[3], &[1])], &[2, 1], &[7, 11]);
    // A 2-D index array replaces the axis with its two dimensions.
    let j = ints(&[0, 2, 1, 1], &[2, 2]);
    check(
        &x,
        &s![.., &j],
        &[3, 2, 2],
        &[0, 2, 1, 1, 4, 6, 5, 5, 8, 10, 9, 9],
    );
    // A rank-0 index array acts like an integer.
    check(&x, &s![Array::scalar(-1i32), ..], &[4], &[8, 9, 10, 11]);
    // Unsigned index arrays.
    let u = Array::from_vec(vec![3u32, 0], &[2]).unwrap();
    check(&x, &s![0, &u], &[2], &[3, 0]);
    // An empty index array.
    check(&x, &s![&ints(&[], &[0])], &[0, 4], &[]);
    // Positions still out of range after wrapping are clamped, as in JAX.
    check(&x, &s![0, &ints(&[7, -9], &[2])], &[2], &[3, 0]);
}

#[test]
fn advanced_index_placement_follows_numpy() {
    let x = iota(&[2, 3, 4]);
    let i = ints(&[1, 3], &[2]);
    // Adjacent integer and array: the array's dimension stays in place.
    check(&x, &s![.., 0, &i], &[2, 2], &[1, 3, 13, 15]);
    check(
        &x,
        &s![1, &ints(&[2, 0], &[2]), ..],
        &[2, 4],
        &[20, 21, 22, 23, 12, 13, 14, 15],
    );
    // Separated by a slice: the array's dimension goes first
    // (numpy: x[0, :, [1, 3]].shape == (2, 3)).
    check(&x, &s![0, .., &i], &[2, 3], &[1, 5, 9, 3, 7, 11]);
    // Separated by a new axis.
    check(&x, &s![1, NewAxis, &ints(&[2], &[1]), 0], &[1, 1], &[20]);
}

// ---- functional updates through static indices ------------------------------

#[test]
fn at_set_through_basic_indices() {
    let x = iota(&[3, 4]);
    let m1 = Array::scalar(-1i32);
    assert_eq!(
        sv(&x.at(&s![1]).set(&m1)),
        (vec![3, 4], vec![0, 1, 2, 3, -1, -1, -1, -1, 8, 9, 10, 11])
    );
    assert_eq!(
        sv(&x.at(&s![-1, -1]).set(&m1)).1,
        vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -1]
    );
    assert_eq!(
        sv(&x.at(&s![.., 1..;2]).set(&m1)).1,
        vec![0, -1, 2, -1, 4, -1, 6, -1, 8, -1, 10, -1]
    );
    assert_eq!(
        sv(&x.at(&s![..;2, ..;3]).set(&m1)).1,
        vec![-1, 1, 2, -1, 4, 5, 6, 7, -1, 9, 10, -1]
    );
    // A negative step writes the value's first element at the last position.
    let v = ints(&[100, 200], &[2]);
    assert_eq!(
        sv(&iota(&[4])
            .at(&s![..;-1])
            .set(&ints(&[10, 20, 30, 40], &[4])))
        .1,
        vec![40, 30, 20, 10]
    );
    assert_eq!(
        sv(&x.at(&s![3..0;-1, 0]).set(&v)).1,
        vec![0, 1, 2, 3, 200, 5, 6, 7, 100, 9, 10, 11]
    );
    // The whole array, an empty region, and a new axis in the index.
    assert_eq!(sv(&x.at(&s![..]).set(&m1)).1, vec![-1; 12]);
    assert_eq!(sv(&x.at(&s![2..2]).set(&m1)), sv(&x));
    assert_eq!(
        sv(&x.at(&s![NewAxis, 0, 1..3]).set(&ints(&[7, 8], &[1, 2]))).1,
        vec![0, 7, 8, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    );
    // The input is untouched.
    assert_eq!(sv(&x).1, (0..12).collect::<Vec<_>>());
}

#[test]
fn at_add_mul_min_max_through_basic_indices() {
    let x = iota(&[2, 3]);
    let v = ints(&[10, 20], &[2]);
    assert_eq!(sv(&x.at(&s![.., 1]).add(&v)).1, vec![0, 11, 2, 3, 24, 5]);
    assert_eq!(
        sv(&x.at(&s![.., 1..]).mul(&Array::scalar(3i32))).1,
        vec![0, 3, 6, 3, 12, 15]
    );
    assert_eq!(
        sv(&x.at(&s![1]).min(&Array::scalar(4i32))).1,
        vec![0, 1, 2, 3, 4, 4]
    );
    assert_eq!(
        sv(&x.at(&s![..;-1, 0]).max(&ints(&[1, 2], &[2]))).1,
        vec![2, 1, 2, 3, 4, 5]
    );
    // The value is converted to the array's dtype.
    let f = f32s(&[1.0, 2.0, 3.0], &[3]);
    let y = f.at(&s![1..]).add(&ints(&[1, 1], &[2]));
    assert_eq!(y.dtype(), DType::F32);
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 3.0, 4.0]);
    let z = f.at(&s![0]).set(&Array::scalar(0.5f64));
    assert_eq!(z.to_vec::<f32>().unwrap(), vec![0.5, 2.0, 3.0]);
}

#[test]
fn value_broadcasts_to_the_region() {
    let x = iota(&[3, 4]);
    // A row broadcast over the rows of the region.
    let row = ints(&[1, 2], &[2]);
    assert_eq!(
        sv(&x.at(&s![..2, 2..]).set(&row)).1,
        vec![0, 1, 1, 2, 4, 5, 1, 2, 8, 9, 10, 11]
    );
    // A column.
    let col = ints(&[-1, -2], &[2, 1]);
    assert_eq!(
        sv(&x.at(&s![1.., ..2]).set(&col)).1,
        vec![0, 1, 2, 3, -1, -1, 6, 7, -2, -2, 10, 11]
    );
    // Leading unit dimensions beyond the region's rank are dropped, as NumPy does.
    let padded = ints(&[5, 6, 7, 8], &[1, 1, 4]);
    assert_eq!(
        sv(&x.at(&s![0]).set(&padded)).1,
        vec![5, 6, 7, 8, 4, 5, 6, 7, 8, 9, 10, 11]
    );
}

// ---- functional updates through an index array ------------------------------

#[test]
fn at_through_index_arrays_with_duplicates() {
    let x = ints(&[1, 2, 3, 4], &[4]);
    let i = ints(&[0, 2, 0, -1], &[4]);
    let v = ints(&[10, 20, 30, 40], &[4]);
    assert_eq!(sv(&x.at(&s![&i]).add(&v)).1, vec![41, 2, 23, 44]);
    assert_eq!(
        sv(&x.at(&s![&i]).add(&Array::scalar(1i32))).1,
        vec![3, 2, 4, 5]
    );
    assert_eq!(sv(&x.at(&s![&i]).set(&v)).1, vec![30, 2, 20, 40]); // last wins
    assert_eq!(sv(&x.at(&s![&i]).mul(&v)).1, vec![300, 2, 60, 160]);
    assert_eq!(
        sv(&x.at(&s![&i]).min(&ints(&[5, 0, -7, 9], &[4]))).1,
        vec![-7, 2, 0, 4]
    );
    assert_eq!(
        sv(&x.at(&s![&i]).max(&ints(&[5, 0, -7, 9], &[4]))).1,
        vec![5, 2, 3, 9]
    );
    // Out-of-range positions are dropped.
    let far = ints(&[4, -5, 1], &[3]);
    assert_eq!(
        sv(&x.at(&s![&far]).set(&Array::scalar(0i32))).1,
        vec![1, 0, 3, 4]
    );
    assert_eq!(
        sv(&x.at(&s![&far]).add(&ints(&[7, 7, 7], &[3]))).1,
        vec![1, 9, 3, 4]
    );
}

#[test]
fn index_arrays_combined_with_static_items() {
    let x = iota(&[3, 4]);
    let i = ints(&[3, 0, 3], &[3]);
    // Rows 1.. only; column 3 gets two additions.
    let y = x.at(&s![1.., &i]).add(&Array::scalar(100i32));
    assert_eq!(sv(&y).1, vec![0, 1, 2, 3, 104, 5, 6, 207, 108, 9, 10, 211]);
    // An integer and an array: x[2, [3, 0, 3]] += [1, 2, 3].
    let y = x.at(&s![2, &i]).add(&ints(&[1, 2, 3], &[3]));
    assert_eq!(sv(&y).1, vec![0, 1, 2, 3, 4, 5, 6, 7, 10, 9, 10, 15]);
    // Separated advanced indices: the region is [3(i), 2(rows)] with i's axis first.
    let z = iota(&[2, 2, 4]);
    let v = ints(&[1, 2, 3, 4, 5, 6], &[3, 2]);
    let y = z.at(&s![0, .., &ints(&[1, 2, 1], &[3])]).set(&v);
    assert_eq!(
        y.index(&s![0]).to_vec::<i32>().unwrap(),
        vec![0, 5, 3, 3, 4, 6, 4, 7]
    );
    assert_eq!(
        y.index(&s![1]).to_vec::<i32>().unwrap(),
        vec![8, 9, 10, 11, 12, 13, 14, 15]
    );
    // A reversed static axis with an array on the other.
    let y = x
        .at(&s![..;-1, &ints(&[0], &[1])])
        .set(&ints(&[7, 8, 9], &[3, 1]));
    assert_eq!(sv(&y).1, vec![9, 1, 2, 3, 8, 5, 6, 7, 7, 9, 10, 11]);
}

// ---- errors -----------------------------------------------------------------

#[test]
fn error_texts() {
    let x = iota(&[3]);
    assert_eq!(
        err(x.try_index(&s![5])),
        "index: index 5 is out of bounds for axis 0 with size 3"
    );
    assert_eq!(
        err(x.try_index(&s![-4])),
        "index: index -4 is out of bounds for axis 0 with size 3"
    );
    assert_eq!(
        err(x.try_get(3)),
        "index: index 3 is out of bounds for axis 0 with size 3"
    );
    let y = iota(&[2, 3]);
    assert_eq!(
        err(y.try_index(&s![.., 3])),
        "index: index 3 is out of bounds for axis 1 with size 3"
    );
    assert_eq!(
        err(y.try_index(&s![0, 0, 0])),
        "index: too many indices for array of shape [2,3]: array is 2-dimensional, but 3 were indexed"
    );
    assert!(y.try_index(&s![0, NewAxis, 0, NewAxis]).is_ok());
    let fi = f32s(&[0.0], &[1]);
    assert_eq!(
        err(y.try_index(&s![&fi])),
        "index: index arrays must have an integer dtype (i32 or u32), got f32 (of shape [1])"
    );
    let mask = Array::from_vec(vec![true, false], &[2]).unwrap();
    assert!(err(y.try_index(&s![&mask]))
        .starts_with("index: boolean index arrays (masks, here of shape [2]) are not supported"));
    assert_eq!(
        err(x.try_index(&s![..;0])),
        "index: slice step cannot be zero"
    );
    assert_eq!(
        err(y.try_index(&s![..., ...])),
        "index: an index can only have a single ellipsis, got 2"
    );
    let i = ints(&[0], &[1]);
    assert!(err(y.try_index(&s![&i, &i]))
        .starts_with("index: at most one integer-array index is supported, got 2"));
    assert_eq!(
        err(iota(&[0]).try_index(&s![&i])),
        "index: cannot index axis 0 of [0], which is empty, with an index array"
    );
    // Updates name the method.
    assert_eq!(
        err(x.at(&s![3]).try_set(&Array::scalar(1i32))),
        "at.set: index 3 is out of bounds for axis 0 with size 3"
    );
    assert_eq!(
        err(y.at(&s![0]).try_add(&ints(&[1, 2], &[2]))),
        "at.add: cannot broadcast shape [2] to [3]"
    );
    let b = Array::from_vec(vec![true, false], &[2]).unwrap();
    assert_eq!(
        err(b.at(&s![0]).try_add(&b)),
        "at.add: needs a numeric array, got bool of shape [2]"
    );
    assert_eq!(
        sv(&b.at(&s![1]).set(&Array::scalar(true)).pipe_i32()).1,
        vec![1, 1]
    );
    // The panicking form panics with the same text.
    let caught = std::panic::catch_unwind(|| x.index(&s![5])).unwrap_err();
    let text = caught.downcast_ref::<String>().cloned().unwrap_or_default();
    assert_eq!(
        text,
        "index: index 5 is out of bounds for axis 0 with size 3"
    );
}

trait PipeI32 {
    fn pipe_i32(&self) -> Array;
}

impl PipeI32 for Array {
    fn pipe_i32(&self) -> Array {
        lax::convert_element_type(self, DType::I32)
    }
}

// ---- staging ----------------------------------------------------------------

#[test]
fn indexing_and_updates_stage_into_jaxprs() {
    let x = iota(&[3, 4]);
    let i = ints(&[2, -1, 2], &[3]);
    let f = |x: &Array| {
        let a = x.index(&s![..;-1, &i]);
        let b = x.at(&s![1.., ..;2]).add(&Array::scalar(5i32));
        let c = x.at(&s![0, &i]).add(&Array::scalar(1i32));
        (a, b, c)
    };
    let jaxpr = make_jaxpr(f)(&x).unwrap();
    rjax_ir::verify::verify_closed(&jaxpr).unwrap();
    let text = jaxpr.to_string();
    for prim in ["rev", "gather", "pad", "select", "scatter"] {
        assert!(text.contains(prim), "{prim} missing from\n{text}");
    }
    let buffer = x.try_buffer("test").unwrap().clone();
    let staged = rjax_ir::interp::interpret_closed(&jaxpr, &[buffer]).unwrap();
    let (a, b, c) = f(&x);
    for (s, e) in staged.iter().zip([a, b, c]) {
        assert_eq!(
            s.as_slice::<i32>().unwrap(),
            e.to_vec::<i32>().unwrap().as_slice()
        );
    }
}

// ---- lax --------------------------------------------------------------------

#[test]
fn lax_dynamic_slice_clamps() {
    let x = iota(&[3, 4]);
    let at = |r: i32, c: i32| [Array::scalar(r), Array::scalar(c)];
    assert_eq!(
        sv(&lax::dynamic_slice(&x, &at(1, 1), &[2, 2])).1,
        vec![5, 6, 9, 10]
    );
    // Starts are clamped into [0, size - slice_size].
    assert_eq!(
        sv(&lax::dynamic_slice(&x, &at(5, 3), &[2, 2])).1,
        vec![6, 7, 10, 11]
    );
    assert_eq!(
        sv(&lax::dynamic_slice(&x, &at(-2, -7), &[1, 3])).1,
        vec![0, 1, 2]
    );
    assert!(lax::try_dynamic_slice(&x, &at(0, 0)[..1], &[1, 1])
        .unwrap_err()
        .to_string()
        .starts_with("dynamic_slice:"));
}

#[test]
fn lax_dynamic_update_slice() {
    let x = iota(&[3, 4]);
    let u = ints(&[-1, -2, -3, -4], &[2, 2]);
    let at = |r: i32, c: i32| [Array::scalar(r), Array::scalar(c)];
    let y = lax::dynamic_update_slice(&x, &u, &at(1, 2));
    assert_eq!(sv(&y).1, vec![0, 1, 2, 3, 4, 5, -1, -2, 8, 9, -3, -4]);
    // Clamped so the update fits.
    let y = lax::dynamic_update_slice(&x, &u, &at(9, -3));
    assert_eq!(sv(&y).1, vec![0, 1, 2, 3, -1, -2, 6, 7, -3, -4, 10, 11]);
    assert!(lax::try_dynamic_update_slice(&x, &f32s(&[0.0], &[1, 1]), &at(0, 0)).is_err());
}

#[test]
fn lax_gather_and_scatter() {
    let x = iota(&[2, 3]);
    let i = ints(&[2, 2, 0], &[3]);
    assert_eq!(
        sv(&lax::gather(&x, &i, 1)),
        (vec![2, 3], vec![2, 2, 0, 5, 5, 3])
    );
    let zeros = ints(&[0; 6], &[2, 3]);
    let ones = ints(&[1; 6], &[2, 3]);
    assert_eq!(
        sv(&lax::scatter_add(&zeros, &i, &ones, 1)).1,
        vec![1, 0, 2, 1, 0, 2]
    );
    let u = ints(&[1, 2, 3, 4, 5, 6], &[2, 3]);
    assert_eq!(
        sv(&lax::scatter(&zeros, &i, &u, 1, ScatterKind::Set)).1,
        vec![3, 0, 2, 6, 0, 5]
    );
    assert_eq!(
        sv(&lax::scatter(&ones, &i, &u, 1, ScatterKind::Max)).1,
        vec![3, 1, 2, 6, 1, 5]
    );
    let e = lax::try_scatter_add(&zeros, &i, &ints(&[1; 2], &[2]), 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("scatter: updates shape [2] must be [2,3]"),
        "{e}"
    );
}

#[test]
fn lax_dot_general_with_batch_dims() {
    // a: [2 batch, 2 m, 3 k], b: [3 k, 2 batch] -> [2 batch, 2 m].
    let a = f32s(
        &[1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.],
        &[2, 2, 3],
    );
    let b = f32s(&[1., 0., 0., 1., 1., 2.], &[3, 2]);
    let c = lax::dot_general(&a, &b, &[2], &[0], &[0], &[1]);
    assert_eq!(c.shape(), &[2, 2]);
    // batch 0: b[:, 0] = [1, 0, 1]: rows [1,2,3] -> 4, [4,5,6] -> 10
    // batch 1: b[:, 1] = [0, 1, 2]: rows [7,8,9] -> 26, [10,11,12] -> 35
    assert_eq!(c.to_vec::<f32>().unwrap(), vec![4.0, 10.0, 26.0, 35.0]);
    let e = lax::try_dot_general(&a, &b, &[2], &[1], &[0], &[1])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("dot_general:"), "{e}");
}

#[test]
fn lax_is_strict_and_binds_one_primitive() {
    let x = f32s(&[1.0, 2.0], &[2]);
    assert!(lax::try_add(&x, &f32s(&[1.0, 2.0, 3.0], &[3])).is_err());
    assert!(lax::try_mul(&x, &ints(&[1, 2], &[2])).is_err());
    assert_eq!(
        lax::max(&x, &Array::scalar(1.5f32))
            .to_vec::<f32>()
            .unwrap(),
        vec![1.5, 2.0]
    );
    assert_eq!(sv(&lax::iota(DType::I32, &[2, 2], 0)).1, vec![0, 0, 1, 1]);
    assert_eq!(sv(&lax::rev(&iota(&[3]), &[0])).1, vec![2, 1, 0]);
    assert_eq!(
        sv(&lax::concatenate(&[iota(&[2]), iota(&[1])], 0)).1,
        vec![0, 1, 0]
    );
    assert_eq!(lax::reduce_max(&x, &[0]).item::<f32>().unwrap(), 2.0);
    let sel = lax::select(
        &lax::gt(&x, &Array::scalar(1.0f32)),
        &x,
        &Array::scalar(0.0f32),
    );
    assert_eq!(sel.to_vec::<f32>().unwrap(), vec![0.0, 2.0]);
    let jaxpr = make_jaxpr(|x: &Array| lax::stop_gradient(&lax::exp(x)))(&x).unwrap();
    assert_eq!(jaxpr.jaxpr.eqns.len(), 2, "{jaxpr}");
}
