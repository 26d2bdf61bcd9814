//! The GEMM shim: program GEMM steps through the `gemm` crate.
//!
//! The crate computes `dst = alpha·dst + beta·lhs·rhs` with a microkernel
//! that vectorises along the result's contiguous dimension; for the
//! row-major results written here that is `n`, so it packs the right
//! operand into `n`-contiguous panels. A right operand stored the other way
//! round (`rhs` column stride not 1, as in `dy @ wᵀ` of a backward pass) is
//! packed by the crate element by element on one thread, which costs more
//! than the product itself for the shapes of a small MLP. Such an operand
//! is first copied here, by 8×8 register tiles and on the pool, into a
//! row-major scratch buffer kept per thread, and the product reads the copy.
//!
//! Large products run on the pool as single-threaded products of blocks of
//! result columns or rows, several per thread, which work stealing hands
//! out (see [`product`]); batches of small products run one per task.

use std::cell::Cell;

use rayon::prelude::*;
use rjax_ir::DType;

use super::SendPtr;
use crate::program::Gemm;

/// Products at least this large (m·n·k) run on the pool as blocks.
const GEMM_PARALLEL_THRESHOLD: usize = 1 << 18;

/// A right operand whose column stride is not 1 is copied row-major first
/// when the product has at least this many rows (below it the crate's
/// matrix-vector paths read it as it is).
const DENSE_RHS_MIN_ROWS: usize = 16;

/// Scratch buffers up to this size stay cached on their thread for the
/// next call; larger ones are freed after use.
const SCRATCH_KEEP_BYTES: usize = 16 << 20;

/// Blocks per pool thread a parallel product is cut into.
const GEMM_BLOCKS_PER_THREAD: usize = 4;

/// Column blocks are multiples of this many columns (the crate's
/// microkernel covers 64 `f32` result columns at a time).
const COLUMN_BLOCK_ALIGN: usize = 64;

/// Row blocks are multiples of this many rows.
const ROW_BLOCK_ALIGN: usize = 8;

/// Transposed copies of at least this many elements are split over the pool.
const PARALLEL_COPY_ELEMENTS: usize = 1 << 16;

/// Rows of the copy per parallel task.
const COPY_BAND: usize = 64;

/// The GEMM shim: `out[b] = lhs[b] @ rhs[b]` through the `gemm` crate
/// (alpha 0, beta 1: dst is not read).
///
/// # Safety
/// The pointers must address buffers of `g.dtype` that the strides keep in
/// bounds; `out` holds `batch·m·n` elements and overlaps neither operand.
pub(crate) unsafe fn gemm_shim(g: &Gemm, lhs: *mut u8, rhs: *mut u8, out: *mut u8) {
    match g.dtype {
        // SAFETY: the caller's contract, with the element type of g.dtype.
        DType::F32 => unsafe { gemm_typed::<f32>(g, lhs.cast(), rhs.cast(), out.cast(), 0.0, 1.0) },
        // SAFETY: as above.
        DType::F64 => unsafe { gemm_typed::<f64>(g, lhs.cast(), rhs.cast(), out.cast(), 0.0, 1.0) },
        DType::I32 | DType::U32 | DType::Bool => {
            unreachable!("internal error: gemm dtype checked when compiling")
        }
    }
}

/// Whether [`gemm_shim`] may run `g` on the pool: a large product, or a
/// batch of small ones.
pub(super) fn uses_pool(g: &Gemm) -> bool {
    g.batch > 1 || g.m * g.n * g.k >= GEMM_PARALLEL_THRESHOLD
}

unsafe fn gemm_typed<T: Elem>(
    g: &Gemm,
    lhs: *const T,
    rhs: *const T,
    out: *mut T,
    zero: T,
    one: T,
) {
    let (m, n, k) = (g.m, g.n, g.k);
    if m == 0 || n == 0 || g.batch == 0 {
        return;
    }
    if k == 0 {
        // SAFETY: out holds batch·m·n elements.
        unsafe { std::slice::from_raw_parts_mut(out, g.batch * m * n).fill(zero) };
        return;
    }
    let big = m * n * k >= GEMM_PARALLEL_THRESHOLD;
    if big || g.batch == 1 {
        for b in 0..g.batch {
            // SAFETY: the caller's contract.
            unsafe { one_product(g, lhs, rhs, out, b, big, zero, one) };
        }
    } else {
        let ptrs = (SendPtr(lhs), SendPtr(rhs), SendPtr(out.cast_const()));
        (0..g.batch).into_par_iter().for_each(move |b| {
            let ptrs = ptrs;
            // SAFETY: the caller's contract; batches write disjoint results.
            unsafe {
                one_product(
                    g,
                    ptrs.0 .0,
                    ptrs.1 .0,
                    ptrs.2 .0.cast_mut(),
                    b,
                    false,
                    zero,
                    one,
                )
            };
        });
    }
}

/// Product `b` of a batched GEMM, on the pool when `parallel`, through a
/// row-major copy of its right operand when that is stored column by
/// column (see the module docs).
///
/// # Safety
/// As [`gemm_shim`]; `b < g.batch`.
#[allow(clippy::too_many_arguments)]
unsafe fn one_product<T: Elem>(
    g: &Gemm,
    lhs: *const T,
    rhs: *const T,
    out: *mut T,
    b: usize,
    parallel: bool,
    zero: T,
    one: T,
) {
    let (ls, rs) = (g.lhs.1, g.rhs.1);
    // SAFETY: the caller's contract; batch b's operands start at b·stride
    // and its result at b·m·n.
    let (lhs, rhs, out) = unsafe {
        (
            lhs.offset(b as isize * ls[0]),
            rhs.offset(b as isize * rs[0]),
            out.add(b * g.m * g.n),
        )
    };
    let lhs = (lhs, [ls[1], ls[2]]);
    if rs[2] == 1 || g.m < DENSE_RHS_MIN_ROWS || g.k <= 2 {
        // SAFETY: the caller's contract.
        unsafe { product(g, lhs, (rhs, [rs[1], rs[2]]), out, parallel, zero, one) };
        return;
    }
    with_scratch::<T, _>(g.k * g.n, |dense| {
        // SAFETY: the caller's contract bounds the k×n operand by its
        // strides; `dense` holds k·n elements, then a row-major copy of it.
        unsafe {
            transpose_copy(rhs, rs[1], rs[2], g.k, g.n, dense, parallel);
            product(
                g,
                lhs,
                (dense.cast_const(), [g.n as isize, 1]),
                out,
                parallel,
                zero,
                one,
            );
        }
    });
}

/// One `m×n×k` product of operands given with their (row, column)
/// strides into the row-major `out`: on the calling thread, or, when
/// `parallel`, as single-threaded products of column blocks spread over
/// the pool (row blocks when the result is too narrow to split by columns,
/// or when the left operand is stored by columns and has more rows than
/// the result has columns: the operand the blocks share, which each block
/// packs again, is then the smaller one). Blocks rather than the
/// crate's own threads: the crate gives each thread a fixed share, which a
/// core taken by another process turns into a wait for the slowest share;
/// several blocks per thread let work stealing move the work instead.
///
/// # Safety
/// As [`gemm_shim`] for the one product.
#[allow(clippy::too_many_arguments)]
unsafe fn product<T: Elem>(
    g: &Gemm,
    lhs: (*const T, [isize; 2]),
    rhs: (*const T, [isize; 2]),
    out: *mut T,
    parallel: bool,
    zero: T,
    one: T,
) {
    let (m, n, k) = (g.m, g.n, g.k);
    let ptrs = (SendPtr(lhs.0), SendPtr(rhs.0), SendPtr(out.cast_const()));
    let (ls, rs) = (lhs.1, rhs.1);
    // The product of rows r0..r1 and columns c0..c1.
    let block = move |r0: usize, r1: usize, c0: usize, c1: usize| {
        let ptrs = ptrs;
        // SAFETY: the caller's contract; the block's operands and result
        // lie inside the whole product's, and blocks write disjoint parts.
        unsafe {
            gemm::gemm(
                r1 - r0,
                c1 - c0,
                k,
                ptrs.2 .0.cast_mut().add(r0 * n + c0),
                1,
                n as isize,
                false,
                ptrs.0 .0.offset(r0 as isize * ls[0]),
                ls[1],
                ls[0],
                ptrs.1 .0.offset(c0 as isize * rs[1]),
                rs[1],
                rs[0],
                zero,
                one,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    };
    let by_columns = (ls[1] == 1 || n > m) && n >= 2 * COLUMN_BLOCK_ALIGN;
    let (extent, align) = if by_columns {
        (n, COLUMN_BLOCK_ALIGN)
    } else {
        (m, ROW_BLOCK_ALIGN)
    };
    let blocks = if parallel {
        (rayon::current_num_threads() * GEMM_BLOCKS_PER_THREAD).min(extent.div_ceil(align))
    } else {
        1
    };
    if blocks < 2 {
        block(0, m, 0, n);
        return;
    }
    let size = extent.div_ceil(blocks).next_multiple_of(align);
    (0..extent.div_ceil(size)).into_par_iter().for_each(|b| {
        let (lo, hi) = (b * size, ((b + 1) * size).min(extent));
        if by_columns {
            block(0, m, lo, hi);
        } else {
            block(lo, hi, 0, n);
        }
    });
}

thread_local! {
    /// Scratch storage for row-major operand copies, reused across calls
    /// (8-byte words, so it suits both f32 and f64).
    static SCRATCH: Cell<Vec<u64>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on a scratch buffer of at least `len` elements of `T` taken
/// from this thread's cache (a nested call on the same thread, from work
/// stealing inside `f`, gets a buffer of its own).
fn with_scratch<T, R>(len: usize, f: impl FnOnce(*mut T) -> R) -> R {
    let words = (len * std::mem::size_of::<T>()).div_ceil(8);
    let mut buf = SCRATCH.with(Cell::take);
    if buf.len() < words {
        buf = vec![0u64; words];
    }
    let r = f(buf.as_mut_ptr().cast());
    if buf.len() * 8 <= SCRATCH_KEEP_BYTES {
        SCRATCH.with(|s| {
            let cached = s.take();
            // Keep the larger of the two if a nested call left one behind.
            s.set(if cached.len() > buf.len() {
                cached
            } else {
                buf
            });
        });
    }
    r
}

/// Copies the `rows × cols` matrix at `src` (strides `rs`, `cs` in
/// elements) into `dst` row-major, by bands of rows spread over the pool
/// when the copy is large and `parallel` is set.
///
/// # Safety
/// Every `src[i·rs + j·cs]` for `i < rows`, `j < cols` must be readable,
/// and `dst` must hold `rows·cols` writable elements not overlapping `src`.
unsafe fn transpose_copy<T: Elem>(
    src: *const T,
    rs: isize,
    cs: isize,
    rows: usize,
    cols: usize,
    dst: *mut T,
    parallel: bool,
) {
    // SAFETY: the caller's contract.
    let dst = unsafe { std::slice::from_raw_parts_mut(dst, rows * cols) };
    let src = SendPtr(src);
    let band = move |(b, band): (usize, &mut [T])| {
        let src = src;
        let r0 = b * COPY_BAND;
        let nr = band.len() / cols;
        // SAFETY: rows r0..r0 + nr of the source matrix are readable (the
        // caller's contract) and `band` holds those rows of the copy.
        unsafe { copy_band(src.0.offset(r0 as isize * rs), rs, cs, nr, cols, band) };
    };
    if parallel && rows * cols >= PARALLEL_COPY_ELEMENTS {
        dst.par_chunks_mut(COPY_BAND * cols)
            .enumerate()
            .for_each(band);
    } else {
        dst.chunks_mut(COPY_BAND * cols).enumerate().for_each(band);
    }
}

/// Copies the `rows × cols` matrix at `src` (strides `rs`, `cs`) into
/// `dst` row-major: by 8×8 tiles through registers where the element type
/// has a [`Elem::tile8`] and the source rows are contiguous (`rs == 1`, a
/// stored transpose), element by element in 8×8 tiles otherwise.
///
/// # Safety
/// As [`transpose_copy`]; `dst.len() == rows·cols`.
unsafe fn copy_band<T: Elem>(
    src: *const T,
    rs: isize,
    cs: isize,
    rows: usize,
    cols: usize,
    dst: &mut [T],
) {
    let fast = rs == 1 && T::has_tile8();
    for r0 in (0..rows).step_by(8) {
        for c0 in (0..cols).step_by(8) {
            let at = r0 * cols + c0;
            // SAFETY: (r0, c0) is inside the source matrix.
            let s = unsafe { src.offset(r0 as isize * rs + c0 as isize * cs) };
            if fast && r0 + 8 <= rows && c0 + 8 <= cols {
                // SAFETY: the 8×8 tile at (r0, c0) is inside both matrices:
                // source row c0 + j starts at s + j·cs and holds 8
                // contiguous elements (rs == 1); copy row r0 + i starts at
                // dst[at + i·cols].
                unsafe { T::tile8(s, cs, dst[at..].as_mut_ptr(), cols) };
                continue;
            }
            for r in 0..(rows - r0).min(8) {
                for c in 0..(cols - c0).min(8) {
                    // SAFETY: (r0 + r, c0 + c) is inside the source matrix.
                    dst[at + r * cols + c] =
                        unsafe { *s.offset(r as isize * rs + c as isize * cs) };
                }
            }
        }
    }
}

/// Element types of the shim: `f32` and `f64`.
trait Elem: Copy + Send + Sync + 'static {
    /// Whether [`Elem::tile8`] runs on this CPU.
    fn has_tile8() -> bool;

    /// Writes the transpose of the 8×8 tile whose row `j` is the 8
    /// contiguous elements at `src + j·src_stride` to the 8×8 tile whose
    /// row `i` starts at `dst + i·dst_stride`.
    ///
    /// # Safety
    /// [`Elem::has_tile8`] must hold and both tiles be in bounds.
    unsafe fn tile8(src: *const Self, src_stride: isize, dst: *mut Self, dst_stride: usize);
}

impl Elem for f64 {
    fn has_tile8() -> bool {
        false
    }

    unsafe fn tile8(_: *const f64, _: isize, _: *mut f64, _: usize) {
        unreachable!("internal error: no f64 register transpose")
    }
}

impl Elem for f32 {
    fn has_tile8() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    unsafe fn tile8(src: *const f32, src_stride: isize, dst: *mut f32, dst_stride: usize) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked `has_tile8` (AVX) and the bounds.
        unsafe {
            tile8_avx(src, src_stride, dst, dst_stride)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("internal error: no register transpose on this target")
    }
}

/// The 8×8 `f32` transpose of [`Elem::tile8`] with AVX shuffles.
///
/// # Safety
/// AVX must be available and both tiles in bounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn tile8_avx(src: *const f32, ss: isize, dst: *mut f32, ds: usize) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's contract: rows j < 8 of the source tile are 8
    // readable elements at src + j·ss, rows i < 8 of the destination 8
    // writable elements at dst + i·ds.
    unsafe {
        let r = |j: isize| _mm256_loadu_ps(src.offset(j * ss));
        let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
        let (r4, r5, r6, r7) = (r(4), r(5), r(6), r(7));
        let t0 = _mm256_unpacklo_ps(r0, r1);
        let t1 = _mm256_unpackhi_ps(r0, r1);
        let t2 = _mm256_unpacklo_ps(r2, r3);
        let t3 = _mm256_unpackhi_ps(r2, r3);
        let t4 = _mm256_unpacklo_ps(r4, r5);
        let t5 = _mm256_unpackhi_ps(r4, r5);
        let t6 = _mm256_unpacklo_ps(r6, r7);
        let t7 = _mm256_unpackhi_ps(r6, r7);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let w = |i: usize, v: __m256| _mm256_storeu_ps(dst.add(i * ds), v);
        w(0, _mm256_permute2f128_ps::<0x20>(u0, u4));
        w(1, _mm256_permute2f128_ps::<0x20>(u1, u5));
        w(2, _mm256_permute2f128_ps::<0x20>(u2, u6));
        w(3, _mm256_permute2f128_ps::<0x20>(u3, u7));
        w(4, _mm256_permute2f128_ps::<0x31>(u0, u4));
        w(5, _mm256_permute2f128_ps::<0x31>(u1, u5));
        w(6, _mm256_permute2f128_ps::<0x31>(u2, u6));
        w(7, _mm256_permute2f128_ps::<0x31>(u3, u7));
    }
}
