//! `dot_general` through cuBLAS: a program's row-major [`Gemm`] step as one
//! column-major strided batched GEMM call.
//!
//! cuBLAS reads and writes column-major matrices. A row-major `m × n`
//! result with row stride `n` is, read column-major, its transpose `n × m`
//! with leading dimension `n`; and `outᵀ = rhsᵀ · lhsᵀ`. So the call
//! computes `C = op(A) · op(B)` with `A` = the rhs buffer, `B` = the lhs
//! buffer and cuBLAS's `(m, n, k)` = our `(n, m, k)`. Each operand, a
//! row-major view `rows × cols` with strides `(row, col)`, must appear to
//! cuBLAS as its own transpose:
//!
//! - unit column stride: the view read column-major *is* its transpose,
//!   with leading dimension = the row stride (`op = N`);
//! - unit row stride: the view read column-major is itself, so cuBLAS
//!   transposes it (`op = T`), leading dimension = the column stride.
//!
//! A dimension of extent 1 accepts either. Operands with neither unit
//! stride (or a leading dimension cuBLAS rejects) are reported as an error:
//! fusion inserts a copy for such layouts before they reach a GEMM.
//! [`plan_gemm`] is the pure part of this and is tested on the CPU against
//! a direct row-major product.

use super::buffer::{alloc, elem_bytes, CudaBuffer};
use super::driver::GpuDevice;
use crate::program::{BufferRef, Gemm};
use rjax_ir::{DType, Error, Result};

/// The arguments of one `cublas<t>gemmStridedBatched` call (column-major),
/// with `A` = the rhs buffer, `B` = the lhs buffer, `C` = the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlasGemm {
    /// `op(A) = Aᵀ`.
    pub transa: bool,
    /// `op(B) = Bᵀ`.
    pub transb: bool,
    /// Rows of `C` (our `n`).
    pub m: i32,
    /// Columns of `C` (our `m`).
    pub n: i32,
    /// Contracted size.
    pub k: i32,
    /// Leading dimension of `A`.
    pub lda: i32,
    /// Leading dimension of `B`.
    pub ldb: i32,
    /// Leading dimension of `C`.
    pub ldc: i32,
    /// Elements between batches of `A`.
    pub stride_a: i64,
    /// Elements between batches of `B`.
    pub stride_b: i64,
    /// Elements between batches of `C`.
    pub stride_c: i64,
    /// Batch count.
    pub batch: i32,
}

/// What a GEMM step does on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmCall {
    /// Nothing: the result is empty.
    Nothing,
    /// The result is all zeros (nothing to contract).
    Zero,
    /// One cuBLAS call.
    Blas(BlasGemm),
}

fn unsupported(g: &Gemm, why: &str) -> Error {
    Error::op(
        "cuda backend",
        format!(
            "matrix product [{}x{}x{}] x{} with lhs strides {:?} and rhs strides {:?} cannot \
             be passed to cuBLAS: {why}",
            g.m, g.k, g.n, g.batch, g.lhs.1, g.rhs.1
        ),
    )
}

/// How cuBLAS reads a row-major operand view `rows × cols` with strides
/// `(row, col)` as its transpose: `(transpose flag, leading dimension)`.
fn operand(rows: usize, cols: usize, row: isize, col: isize) -> Option<(bool, i64)> {
    let (rows_i, cols_i) = (rows as i64, cols as i64);
    if col == 1 || cols <= 1 {
        let ld = if rows <= 1 { cols_i.max(1) } else { row as i64 };
        (ld >= cols_i.max(1)).then_some((false, ld))
    } else if row == 1 || rows <= 1 {
        let ld = col as i64;
        (ld >= rows_i.max(1)).then_some((true, ld))
    } else {
        None
    }
}

/// Maps a row-major GEMM step to cuBLAS's column-major call.
///
/// # Errors
/// `Error::Op` (op `cuda backend`) when an operand's layout cannot be
/// described to cuBLAS (see the module docs) or a size exceeds cuBLAS's
/// 32-bit arguments.
pub fn plan_gemm(g: &Gemm) -> Result<GemmCall> {
    if g.batch == 0 || g.m == 0 || g.n == 0 {
        return Ok(GemmCall::Nothing);
    }
    if g.k == 0 {
        return Ok(GemmCall::Zero);
    }
    let (_, ls) = g.lhs;
    let (_, rs) = g.rhs;
    let (transa, lda) = operand(g.k, g.n, rs[1], rs[2])
        .ok_or_else(|| unsupported(g, "the rhs has no unit stride"))?;
    let (transb, ldb) = operand(g.m, g.k, ls[1], ls[2])
        .ok_or_else(|| unsupported(g, "the lhs has no unit stride"))?;
    let int = |v: i64| i32::try_from(v).map_err(|_| unsupported(g, "a size exceeds 2^31 - 1"));
    let batch_stride = |s: isize| if g.batch == 1 { 0 } else { s as i64 };
    Ok(GemmCall::Blas(BlasGemm {
        transa,
        transb,
        m: int(g.n as i64)?,
        n: int(g.m as i64)?,
        k: int(g.k as i64)?,
        lda: int(lda)?,
        ldb: int(ldb)?,
        ldc: int(g.n as i64)?,
        stride_a: batch_stride(rs[0]),
        stride_b: batch_stride(ls[0]),
        stride_c: (g.m * g.n) as i64,
        batch: int(g.batch as i64)?,
    }))
}

/// Runs `call` on `device` for `dtype` (f32 or f64) with `a` = the rhs,
/// `b` = the lhs and `c` = the result's device addresses.
///
/// # Safety
/// The addresses must point to live device buffers of `dtype` on `device`
/// that the call's sizes, leading dimensions and batch strides keep in
/// bounds, and `c` must not overlap `a` or `b`.
pub(crate) unsafe fn run_blas(
    device: &GpuDevice,
    dtype: DType,
    call: &BlasGemm,
    a: u64,
    b: u64,
    c: u64,
) -> Result<()> {
    use cudarc::cublas::{result, sys::cublasOperation_t};
    let op = |t: bool| {
        if t {
            cublasOperation_t::CUBLAS_OP_T
        } else {
            cublasOperation_t::CUBLAS_OP_N
        }
    };
    let blas = device.blas()?;
    let blas = blas
        .lock()
        .map_err(|_| device.fail_msg("the cuBLAS handle lock is poisoned"))?;
    device
        .ctx
        .bind_to_thread()
        .map_err(|e| device.fail("binding the context", e))?;
    let handle = *blas.handle();
    let (ta, tb) = (op(call.transa), op(call.transb));
    // SAFETY: the caller's contract; alpha and beta live across the call,
    // which the handle (bound to the device's stream) only enqueues.
    let status = unsafe {
        match dtype {
            DType::F32 => result::sgemm_strided_batched(
                handle,
                ta,
                tb,
                call.m,
                call.n,
                call.k,
                &1.0f32,
                a as *const f32,
                call.lda,
                call.stride_a,
                b as *const f32,
                call.ldb,
                call.stride_b,
                &0.0f32,
                c as *mut f32,
                call.ldc,
                call.stride_c,
                call.batch,
            ),
            DType::F64 => result::dgemm_strided_batched(
                handle,
                ta,
                tb,
                call.m,
                call.n,
                call.k,
                &1.0f64,
                a as *const f64,
                call.lda,
                call.stride_a,
                b as *const f64,
                call.ldb,
                call.stride_b,
                &0.0f64,
                c as *mut f64,
                call.ldc,
                call.stride_c,
                call.batch,
            ),
            DType::I32 | DType::U32 | DType::Bool => {
                return Err(device.fail_msg(format!("cuBLAS has no {dtype} matrix product")))
            }
        }
    };
    status.map_err(|e| device.fail_msg(format!("cuBLAS gemm failed: {e:?}")))
}

/// `lhs @ rhs` for row-major `[m, k]` and `[k, n]` matrices of f32 or f64
/// on one GPU: one cuBLAS call and nothing else (the baseline benchmarks
/// compare rjax's matrix products with).
///
/// # Errors
/// `Error::Op` for operands that are not two matrices of one float dtype
/// with matching inner sizes on one device; a failed device operation.
pub fn blas_matmul(lhs: &CudaBuffer, rhs: &CudaBuffer) -> Result<CudaBuffer> {
    let (&[m, k], &[k2, n]) = (lhs.shape(), rhs.shape()) else {
        return Err(Error::op(
            "blas_matmul",
            format!(
                "expected two matrices, got {} and {}",
                lhs.aval(),
                rhs.aval()
            ),
        ));
    };
    let dtype = lhs.dtype();
    if k != k2
        || dtype != rhs.dtype()
        || !matches!(dtype, DType::F32 | DType::F64)
        || lhs.ordinal() != rhs.ordinal()
    {
        return Err(Error::op(
            "blas_matmul",
            format!(
                "cannot multiply {} on cuda:{} by {} on cuda:{}",
                lhs.aval(),
                lhs.ordinal(),
                rhs.aval(),
                rhs.ordinal()
            ),
        ));
    }
    let g = Gemm {
        dtype,
        batch: 1,
        m,
        n,
        k,
        lhs: (BufferRef(0), [0, k as isize, 1]),
        rhs: (BufferRef(1), [0, n as isize, 1]),
        out: BufferRef(2),
    };
    let device = lhs.gpu();
    let call = plan_gemm(&g)?;
    let mem = alloc(
        device,
        m * n * elem_bytes(dtype),
        !matches!(call, GemmCall::Blas(_)),
    )?;
    let out = CudaBuffer::from_parts(device.clone(), mem, dtype, vec![m, n]);
    if let GemmCall::Blas(c) = call {
        // SAFETY: both operands are dense row-major matrices of `dtype` on
        // this device with the sizes the plan was made from, and `out` is
        // a fresh m x n allocation.
        unsafe { run_blas(device, dtype, &c, rhs.ptr(), lhs.ptr(), out.ptr())? };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cuBLAS's strided batched GEMM on the host, as its documentation
    /// defines it: `C[b] = op(A[b]) · op(B[b])`, all column-major.
    fn blas_reference(c: &BlasGemm, a: &[f64], b: &[f64]) -> Vec<f64> {
        let (m, n, k) = (c.m as usize, c.n as usize, c.k as usize);
        let at = |bt: usize, i: usize, p: usize| {
            let base = bt * c.stride_a as usize;
            if c.transa {
                a[base + p + i * c.lda as usize]
            } else {
                a[base + i + p * c.lda as usize]
            }
        };
        let bt_ = |bt: usize, p: usize, j: usize| {
            let base = bt * c.stride_b as usize;
            if c.transb {
                b[base + j + p * c.ldb as usize]
            } else {
                b[base + p + j * c.ldb as usize]
            }
        };
        let mut out = vec![f64::NAN; c.batch as usize * c.stride_c as usize];
        for bt in 0..c.batch as usize {
            for i in 0..m {
                for j in 0..n {
                    let s: f64 = (0..k).map(|p| at(bt, i, p) * bt_(bt, p, j)).sum();
                    out[bt * c.stride_c as usize + i + j * c.ldc as usize] = s;
                }
            }
        }
        out
    }

    /// The row-major product the step means, read through its strides.
    fn direct(g: &Gemm, lhs: &[f64], rhs: &[f64]) -> Vec<f64> {
        let (ls, rs) = (g.lhs.1, g.rhs.1);
        let mut out = Vec::new();
        for b in 0..g.batch as isize {
            for i in 0..g.m as isize {
                for j in 0..g.n as isize {
                    out.push(
                        (0..g.k as isize)
                            .map(|p| {
                                lhs[(b * ls[0] + i * ls[1] + p * ls[2]) as usize]
                                    * rhs[(b * rs[0] + p * rs[1] + j * rs[2]) as usize]
                            })
                            .sum(),
                    );
                }
            }
        }
        out
    }

    /// Strides of a dense `[batch, rows, cols]` buffer, stored row-major
    /// (`transposed = false`) or as `[batch, cols, rows]`.
    fn strides(rows: usize, cols: usize, transposed: bool) -> [isize; 3] {
        let (r, c) = (rows as isize, cols as isize);
        if transposed {
            [r * c, 1, r]
        } else {
            [r * c, c, 1]
        }
    }

    fn values(n: usize, seed: u64) -> Vec<f64> {
        (0..n)
            .map(|i| ((i as u64 * 7919 + seed * 104729) % 17) as f64 - 8.0)
            .collect()
    }

    #[test]
    fn every_layout_matches_the_row_major_product() {
        let sizes = [
            (1, 1, 1, 1),
            (2, 3, 4, 5),
            (3, 1, 4, 2),
            (1, 5, 1, 3),
            (2, 4, 3, 1),
        ];
        for &(batch, m, k, n) in &sizes {
            for lt in [false, true] {
                for rt in [false, true] {
                    let g = Gemm {
                        dtype: DType::F64,
                        batch,
                        m,
                        n,
                        k,
                        lhs: (BufferRef(0), strides(m, k, lt)),
                        rhs: (BufferRef(1), strides(k, n, rt)),
                        out: BufferRef(2),
                    };
                    let lhs = values(batch * m * k, 1);
                    let rhs = values(batch * k * n, 2);
                    let GemmCall::Blas(call) = plan_gemm(&g).expect("plan") else {
                        panic!("expected a cuBLAS call for {g:?}")
                    };
                    // cuBLAS's A is the rhs, B the lhs; C read row-major is
                    // the result.
                    let got = blas_reference(&call, &rhs, &lhs);
                    assert_eq!(got, direct(&g, &lhs, &rhs), "{g:?} -> {call:?}");
                }
            }
        }
    }

    #[test]
    fn sizes_and_flags_follow_the_swap() {
        let g = Gemm {
            dtype: DType::F32,
            batch: 3,
            m: 2,
            n: 5,
            k: 4,
            lhs: (BufferRef(0), [8, 1, 2]),
            rhs: (BufferRef(1), [20, 5, 1]),
            out: BufferRef(2),
        };
        let want = BlasGemm {
            transa: false,
            transb: true,
            m: 5,
            n: 2,
            k: 4,
            lda: 5,
            ldb: 2,
            ldc: 5,
            stride_a: 20,
            stride_b: 8,
            stride_c: 10,
            batch: 3,
        };
        assert_eq!(plan_gemm(&g), Ok(GemmCall::Blas(want)));
    }

    #[test]
    fn empty_and_uncontracted_products_need_no_call() {
        let mut g = Gemm {
            dtype: DType::F32,
            batch: 1,
            m: 0,
            n: 3,
            k: 2,
            lhs: (BufferRef(0), [0, 2, 1]),
            rhs: (BufferRef(1), [0, 3, 1]),
            out: BufferRef(2),
        };
        assert_eq!(plan_gemm(&g), Ok(GemmCall::Nothing));
        g.m = 2;
        g.k = 0;
        assert_eq!(plan_gemm(&g), Ok(GemmCall::Zero));
    }

    #[test]
    fn operands_without_a_unit_stride_are_an_error() {
        let g = Gemm {
            dtype: DType::F32,
            batch: 2,
            m: 3,
            n: 2,
            k: 4,
            // rows of the lhs are `batch` apart: neither stride is 1.
            lhs: (BufferRef(0), [1, 8, 2]),
            rhs: (BufferRef(1), [8, 2, 1]),
            out: BufferRef(2),
        };
        let err = plan_gemm(&g).expect_err("no unit stride");
        assert!(
            err.to_string().contains("the lhs has no unit stride"),
            "{err}"
        );
        assert!(matches!(err, Error::Op { .. }), "{err:?}");
    }
}
