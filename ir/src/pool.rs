//! A small cache of recently freed large element vectors, so that a program
//! run over and over (a jitted step, an eager op in a loop) writes its
//! outputs into memory that is already mapped.
//!
//! Why: the first touch of freshly mapped pages costs a page fault and a
//! zeroing per 4 KiB (about 2.5 GB/s on our machines), and the system
//! allocator hands blocks of more than a few MiB straight back to the
//! operating system when they are freed. Without a cache, an executable
//! that returns a new 64 MiB array on every call spends most of its time
//! faulting pages in. rjax arrays give their storage back here when their
//! last handle is dropped ([`recycle`]), and executables draw output storage
//! from here ([`take_empty`]).
//!
//! Only vectors of at least [`MIN_BYTES`] are kept, at most
//! [`MAX_ENTRIES`] of them and [`max_bytes`] in total (1 GiB unless
//! `RJAX_BUFFER_POOL_MB` says otherwise; `0` turns the cache off); the
//! oldest are released first.

use crate::buffer::Data;
use crate::dtype::DType;
use std::sync::{Mutex, OnceLock};

/// Vectors smaller than this are left to the allocator, which keeps them
/// warm on its own.
pub const MIN_BYTES: usize = 1 << 20;
/// The most vectors kept at once.
pub const MAX_ENTRIES: usize = 32;

/// Kept vectors, oldest first; each has length 0 and its capacity intact.
static POOL: Mutex<Vec<Data>> = Mutex::new(Vec::new());

/// The most bytes the cache keeps: `RJAX_BUFFER_POOL_MB` mebibytes, 1 GiB
/// by default.
pub fn max_bytes() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::env::var("RJAX_BUFFER_POOL_MB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(1 << 30, |mb| mb.saturating_mul(1 << 20))
    })
}

fn capacity_bytes(d: &Data) -> usize {
    match d {
        Data::F32(v) => v.capacity() * 4,
        Data::F64(v) => v.capacity() * 8,
        Data::I32(v) => v.capacity() * 4,
        Data::U32(v) => v.capacity() * 4,
        Data::Bool(v) => v.capacity(),
    }
}

fn capacity(d: &Data) -> usize {
    match d {
        Data::F32(v) => v.capacity(),
        Data::F64(v) => v.capacity(),
        Data::I32(v) => v.capacity(),
        Data::U32(v) => v.capacity(),
        Data::Bool(v) => v.capacity(),
    }
}

fn clear(d: &mut Data) {
    match d {
        Data::F32(v) => v.clear(),
        Data::F64(v) => v.clear(),
        Data::I32(v) => v.clear(),
        Data::U32(v) => v.clear(),
        Data::Bool(v) => v.clear(),
    }
}

/// Offers storage that is no longer needed to the cache; small vectors,
/// and everything when the cache is full or off, are simply freed.
pub fn recycle(mut data: Data) {
    let bytes = capacity_bytes(&data);
    let limit = max_bytes();
    if bytes < MIN_BYTES || bytes > limit {
        return;
    }
    clear(&mut data);
    let evicted = {
        let Ok(mut pool) = POOL.lock() else { return };
        pool.push(data);
        let mut total: usize = pool.iter().map(capacity_bytes).sum();
        let mut evicted = Vec::new();
        while pool.len() > MAX_ENTRIES || total > limit {
            let old = pool.remove(0);
            total -= capacity_bytes(&old);
            evicted.push(old);
        }
        evicted
    };
    // Freed outside the lock.
    drop(evicted);
}

/// Empty storage of `dtype` with room for at least `n` elements: a cached
/// vector when one fits (capacity between `n` and `2n`; the smallest such),
/// a new allocation otherwise. The caller fills it and sets its length.
pub fn take_empty(dtype: DType, n: usize) -> Data {
    let bytes = n.saturating_mul(dtype.size_in_bytes());
    if bytes >= MIN_BYTES {
        if let Ok(mut pool) = POOL.lock() {
            let best = pool
                .iter()
                .enumerate()
                .filter(|(_, d)| {
                    d.dtype() == dtype && (n..=n.saturating_mul(2)).contains(&capacity(d))
                })
                .min_by_key(|(_, d)| capacity(d))
                .map(|(i, _)| i);
            if let Some(i) = best {
                return pool.remove(i);
            }
        }
    }
    match dtype {
        DType::F32 => Data::F32(Vec::with_capacity(n)),
        DType::F64 => Data::F64(Vec::with_capacity(n)),
        DType::I32 => Data::I32(Vec::with_capacity(n)),
        DType::U32 => Data::U32(Vec::with_capacity(n)),
        DType::Bool => Data::Bool(Vec::with_capacity(n)),
    }
}

/// Storage of `n` copies of `value`, drawn from the cache when it can be
/// (see [`take_empty`]).
pub fn take_filled(value: crate::buffer::Scalar, n: usize) -> Data {
    use crate::buffer::Scalar;
    let mut d = take_empty(value.dtype(), n);
    match (&mut d, value) {
        (Data::F32(v), Scalar::F32(x)) => v.resize(n, x),
        (Data::F64(v), Scalar::F64(x)) => v.resize(n, x),
        (Data::I32(v), Scalar::I32(x)) => v.resize(n, x),
        (Data::U32(v), Scalar::U32(x)) => v.resize(n, x),
        (Data::Bool(v), Scalar::Bool(x)) => v.resize(n, x),
        (Data::F32(_) | Data::F64(_) | Data::I32(_) | Data::U32(_) | Data::Bool(_), _) => {
            unreachable!("internal error: take_empty returned another dtype")
        }
    }
    d
}

/// True when storage of `n` elements of `dtype` is large enough to be worth
/// recycling.
pub fn worth_recycling(dtype: DType, n: usize) -> bool {
    n.saturating_mul(dtype.size_in_bytes()) >= MIN_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_vector_is_handed_out_again_empty_and_small_ones_are_not_kept() {
        let n = (MIN_BYTES / 4) * 3;
        let v = vec![7.0f32; n];
        let ptr = v.as_ptr();
        recycle(Data::F32(v));
        // Other tests in this process may race for the same entry, so only
        // check what holds either way, then the identity if we got it.
        let d = take_empty(DType::F32, n);
        assert_eq!(d.len(), 0);
        assert!(capacity(&d) >= n);
        if let Data::F32(v) = &d {
            if v.as_ptr() == ptr {
                assert_eq!(v.capacity(), n);
            }
        } else {
            panic!("wrong dtype from the pool: {:?}", d.dtype());
        }
        // A different dtype or a much smaller request does not take it.
        recycle(d);
        assert!(matches!(take_empty(DType::I32, n), Data::I32(v) if v.capacity() == n));
        let small = take_empty(DType::F32, 16);
        assert!(capacity(&small) < MIN_BYTES / 4);
    }
}
