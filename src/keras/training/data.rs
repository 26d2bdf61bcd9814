//! Host-side data handling for `fit`, `evaluate` and `predict`: checking
//! the data before anything runs, splitting off validation data,
//! shuffling with a key, and cutting batches.
//!
//! Batches are gathered on the host from the concrete input buffers, so an
//! epoch costs no device work besides the jitted steps themselves.

use crate::{random, Array, Error, Result};
use rjax_ir::{Data, HostBuffer};

/// The number of examples of `a` (its leading axis), or an error naming
/// `what` for a rank-0 array.
pub(crate) fn num_examples(op: &str, what: &str, a: &Array) -> Result<usize> {
    a.shape().first().copied().ok_or_else(|| {
        Error::op(
            op,
            format!("{what} must have a batch axis (examples along axis 0), got a rank-0 array"),
        )
    })
}

/// Checks `x` and `y` as a data set: concrete, same number of examples, at
/// least one, no NaN or infinity. Returns the number of examples.
pub(crate) fn check_pair(op: &str, what: &str, x: &Array, y: &Array) -> Result<usize> {
    let n = num_examples(op, &format!("{what}x"), x)?;
    let ny = num_examples(op, &format!("{what}y"), y)?;
    if n != ny {
        return Err(Error::op(
            op,
            format!(
                "{what}x has {n} examples but {what}y has {ny}; they must have the same length"
            ),
        ));
    }
    if n == 0 {
        return Err(Error::op(
            op,
            format!("{what}x and {what}y hold no examples"),
        ));
    }
    check_finite(op, &format!("{what}x"), x)?;
    check_finite(op, &format!("{what}y"), y)?;
    Ok(n)
}

/// Checks that `a` is concrete and holds no NaN or infinity.
pub(crate) fn check_finite(op: &str, what: &str, a: &Array) -> Result<()> {
    let buffer = a.try_buffer(op)?;
    let bad = match buffer.data() {
        Data::F32(v) => v.iter().position(|x| !x.is_finite()),
        Data::F64(v) => v.iter().position(|x| !x.is_finite()),
        Data::I32(_) | Data::U32(_) | Data::Bool(_) => None,
    };
    match bad {
        None => Ok(()),
        Some(i) => {
            let row_len = buffer.len() / buffer.shape().first().copied().unwrap_or(1).max(1);
            let value = buffer.data().get(i).to_f64();
            Err(Error::op(
                op,
                format!(
                    "{what} contains a non-finite value ({value}) in example {}; \
                     clean or impute the data before training",
                    i / row_len.max(1)
                ),
            ))
        }
    }
}

/// The rows `rows` of `a` (examples along axis 0), gathered on the host.
pub(crate) fn take_rows(op: &str, a: &Array, rows: &[usize]) -> Result<Array> {
    let buffer = a.try_buffer(op)?;
    let n = buffer.shape().first().copied().unwrap_or(0);
    let row_len = buffer.len().checked_div(n).unwrap_or(0);
    let data = buffer
        .data()
        .take(rows.iter().flat_map(|&r| r * row_len..(r + 1) * row_len));
    let shape: Vec<usize> = std::iter::once(rows.len())
        .chain(buffer.shape().iter().skip(1).copied())
        .collect();
    Ok(Array::from_buffer(HostBuffer::new(data, &shape)?))
}

/// The contiguous examples `start..end` of `a`.
pub(crate) fn slice_rows(op: &str, a: &Array, start: usize, end: usize) -> Result<Array> {
    let rows: Vec<usize> = (start..end).collect();
    take_rows(op, a, &rows)
}

/// The permutation `random::permutation(key, n)` gives, computed on the
/// host from the same bits: indices sorted by `(W[0][i], W[1][i], i)` for
/// `W = bits(key, [2, n])`.
pub(crate) fn permutation(key: &Array, n: usize) -> Result<Vec<usize>> {
    let words = random::try_bits(key, &[2, n])?.to_vec::<u32>()?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (words[i], words[n + i], i));
    Ok(order)
}

/// The batches of `0..n` in `order` (or in order), each of at most
/// `batch_size` examples; the last may be smaller.
pub(crate) fn batches(order: Option<&[usize]>, n: usize, batch_size: usize) -> Vec<Vec<usize>> {
    let all: Vec<usize> = match order {
        Some(order) => order.to_vec(),
        None => (0..n).collect(),
    };
    all.chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}
