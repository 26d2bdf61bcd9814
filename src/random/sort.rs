//! A bitonic sorting network built from primitives, for [`permutation`]
//! and the shuffles (there is no sort primitive).
//!
//! Lanes are the rows of `[b, n]` arrays. Each lane is padded to `p`, the
//! next power of two, with keys that sort last, and then run through the
//! classic bitonic network: for `k = 2, 4, .., p` and `j = k/2, .., 1`,
//! element `i` is compared with element `i ^ j` and the pair is put in
//! ascending order where `i & k == 0`, descending elsewhere. One
//! `(k, j)` stage is a reshape to `[b, p/2j, 2, j]` (the two halves are the
//! partners), a comparison, and `select`s: `O(p)` work in a constant number
//! of primitives, `log2(p)·(log2(p)+1)/2` stages in all.
//!
//! The sort key of element `i` is the triple `(hi[i], lo[i], i)`, compared
//! lexicographically, so all keys differ and the result is the *stable*
//! argsort of the 64-bit values `hi·2^32 + lo`, whatever the network does
//! with ties. Padding gets `(u32::MAX, u32::MAX, i)` with `i >= n`, which
//! sorts after every real element.
//!
//! [`permutation`]: super::permutation

use crate::array::Array;
use crate::lax;
use rjax_ir::{DType, Result};

/// Sorts each lane of the `[b, n]` `u32` arrays `hi`, `lo` by
/// `(hi, lo, index)` and returns the sorted lane indices (`i32[b, n]`) and
/// each `[b, n]` payload permuted the same way.
pub(super) fn sort_lanes(
    hi: &Array,
    lo: &Array,
    payloads: &[Array],
) -> Result<(Array, Vec<Array>)> {
    let (b, n) = (hi.shape()[0], hi.shape()[1]);
    let p = n.next_power_of_two();
    let pad =
        |x: &Array, value: Array| lax::try_pad(x, &value, &[0, 0], &[0, (p - n) as i64], &[0, 0]);
    // Columns: hi, lo, index, payloads...
    let mut cols = vec![
        pad(hi, Array::scalar(u32::MAX))?,
        pad(lo, Array::scalar(u32::MAX))?,
        lax::try_iota(DType::I32, &[b, p], 1)?,
    ];
    for x in payloads {
        cols.push(pad(
            x,
            lax::try_convert_element_type(&Array::scalar(0i32), x.dtype())?,
        )?);
    }
    let mut k = 2;
    while k <= p {
        let mut j = k / 2;
        while j >= 1 {
            cols = stage(&cols, b, p, k, j)?;
            j /= 2;
        }
        k *= 2;
    }
    let cols = cols
        .iter()
        .map(|c| lax::try_slice(c, &[0, 0], &[b, n], &[]))
        .collect::<Result<Vec<_>>>()?;
    let mut cols = cols.into_iter().skip(2);
    let index = cols
        .next()
        .expect("internal error: sort lost its index column");
    Ok((index, cols.collect()))
}

/// One compare-exchange stage `(k, j)` over every column.
fn stage(cols: &[Array], b: usize, p: usize, k: usize, j: usize) -> Result<Vec<Array>> {
    let blocks = p / (2 * j);
    let halves = |x: &Array| -> Result<(Array, Array)> {
        let x = lax::try_reshape(x, &[b, blocks, 2, j])?;
        let half = |h: usize| {
            let s = lax::try_slice(&x, &[0, 0, h, 0], &[b, blocks, h + 1, j], &[])?;
            lax::try_reshape(&s, &[b, blocks, j])
        };
        Ok((half(0)?, half(1)?))
    };
    let parts = cols.iter().map(halves).collect::<Result<Vec<_>>>()?;
    // a < b for the (hi, lo, index) keys, lexicographically.
    let lt = |c: usize| lax::try_lt(&parts[c].0, &parts[c].1);
    let eq = |c: usize| lax::try_eq(&parts[c].0, &parts[c].1);
    let lo_or_index = lax::try_bitwise_or(&lt(1)?, &lax::try_bitwise_and(&eq(1)?, &lt(2)?)?)?;
    let less = lax::try_bitwise_or(&lt(0)?, &lax::try_bitwise_and(&eq(0)?, &lo_or_index)?)?;
    // Block `blk` (elements blk·2j ..) sorts ascending where blk·2j & k == 0;
    // the pair is swapped when its order disagrees with the direction.
    let ascending: Vec<bool> = (0..blocks).map(|blk| (blk * 2 * j) & k == 0).collect();
    let ascending = Array::from_vec(ascending, &[blocks])?;
    let ascending = lax::try_broadcast_in_dim(&ascending, &[b, blocks, j], &[1])?;
    let swap = lax::try_bitwise_xor(&ascending, &less)?;
    parts
        .iter()
        .map(|(x, y)| {
            let first = lax::try_select(&swap, y, x)?;
            let second = lax::try_select(&swap, x, y)?;
            let first = lax::try_reshape(&first, &[b, blocks, 1, j])?;
            let second = lax::try_reshape(&second, &[b, blocks, 1, j])?;
            let joined = lax::try_concatenate(&[first, second], 2)?;
            lax::try_reshape(&joined, &[b, p])
        })
        .collect()
}
