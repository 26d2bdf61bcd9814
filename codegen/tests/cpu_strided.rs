//! Vectorised loops with strided accesses and the loop variable as a value
//! (the shape of the `random_bits` ChaCha20 kernel): scatter stores,
//! transposed store groups, gathers, 32-bit iotas of the loop variable and
//! byte rotations must reproduce the kernel interpreter bit for bit,
//! including the scalar tail (odd trip counts) and thread-split ranges;
//! loops that break the vectoriser's independence rules must stay scalar
//! and still be right.

#[allow(dead_code)] // the helpers are shared with the other CPU tests
mod cpu_support;

use cpu_support::*;
use rjax_codegen::cpu;
use rjax_codegen::kernel::{
    BinaryOp, BufId, BufferKind, Const, Expr, KernelBuilder, LoopId, ScalarType, Stmt, ValueId,
};
use rjax_ir::{DType, Data, Scalar};

const U: ScalarType = ScalarType::U32;

fn u32c(kb: &mut KernelBuilder, body: &mut Vec<Stmt>, x: u32) -> ValueId {
    kb.let_(body, U, Expr::Const(Const::Scalar(Scalar::U32(x))))
}

fn bin(
    kb: &mut KernelBuilder,
    body: &mut Vec<Stmt>,
    op: BinaryOp,
    a: ValueId,
    b: ValueId,
) -> ValueId {
    kb.let_(body, U, Expr::Binary(op, a, b))
}

/// `x` rotated left by `s` bits with two shifts and an or, as the
/// `random_bits` kernel spells it.
fn rotl(kb: &mut KernelBuilder, body: &mut Vec<Stmt>, x: ValueId, s: u32) -> ValueId {
    let (l, r) = (u32c(kb, body, s), u32c(kb, body, 32 - s));
    let hi = bin(kb, body, BinaryOp::Shl, x, l);
    let lo = bin(kb, body, BinaryOp::ShrLogical, x, r);
    bin(kb, body, BinaryOp::Or, hi, lo)
}

/// One loop over `n` blocks writing `words` u32 words per block at
/// `stride·i + w` (`stride >= words`): word `w` mixes the block counter
/// `u32(i)` with rotations by 16, 8, 12 and 7 (the ChaCha rotations).
fn counter_kernel(n: usize, words: usize, stride: i64) -> rjax_codegen::kernel::Kernel {
    let mut kb = KernelBuilder::new();
    let i = kb.lp();
    let mut body = Vec::new();
    let iv = kb.let_(&mut body, ScalarType::Index, Expr::LoopVar(i));
    let ctr = kb.let_(&mut body, U, Expr::Convert(U, iv));
    let golden = u32c(&mut kb, &mut body, 0x9E37_79B9);
    let mut x = bin(&mut kb, &mut body, BinaryOp::Mul, ctr, golden);
    for w in 0..words {
        let k = u32c(&mut kb, &mut body, 0x6170_7865 ^ (w as u32 * 0x0101_0101));
        let t = bin(&mut kb, &mut body, BinaryOp::Xor, x, k);
        let t = rotl(&mut kb, &mut body, t, [16, 8, 12, 7][w % 4]);
        x = bin(&mut kb, &mut body, BinaryOp::Add, t, ctr);
        body.push(Stmt::Store {
            buf: BufId(0),
            index: ix(w as i64, &[(i, stride)]),
            value: x,
        });
    }
    let len = (stride as usize * n).max(1);
    kernel(
        "counter",
        &[(DType::U32, len, BufferKind::Output)],
        vec![Stmt::Loop {
            id: i,
            extent: n,
            parallel: true,
            body,
        }],
    )
}

/// The words of [`counter_kernel`], computed directly.
fn counter_words(n: usize, words: usize, stride: usize, fill: &[u32]) -> Vec<u32> {
    let mut out = fill.to_vec();
    for i in 0..n {
        let ctr = i as u32;
        let mut x = ctr.wrapping_mul(0x9E37_79B9);
        for w in 0..words {
            let t =
                (x ^ (0x6170_7865 ^ (w as u32 * 0x0101_0101))).rotate_left([16, 8, 12, 7][w % 4]);
            x = t.wrapping_add(ctr);
            out[stride * i + w] = x;
        }
    }
    out
}

fn run_counter(n: usize, words: usize, stride: i64, vectorised: usize) {
    let k = counter_kernel(n, words, stride);
    assert_vectorized(&k, vectorised);
    let bufs = buffers_for(&k, n as u64);
    let Data::U32(fill) = &bufs[0] else {
        panic!("not u32")
    };
    let direct = counter_words(n, words, stride as usize, fill);
    let (want, got) = run_both(&k, bufs);
    let what = format!("n={n} words={words} stride={stride}");
    assert_same_data(
        &format!("interpreter {what}"),
        &Data::U32(direct),
        &want[0],
        0.0,
    );
    assert_same_data(&format!("cpu backend {what}"), &want[0], &got[0], 0.0);
}

#[test]
fn loop_counter_iota_and_strided_stores_match_with_scalar_tails() {
    // 16 words per 16-word block (four transposed groups), 6 words in
    // blocks of 8 (one group and a two-store scatter), 3 words with stride
    // 5 (scatters only); odd trip counts run the scalar tail.
    for (words, stride) in [(16, 16), (6, 8), (3, 5)] {
        for n in [1, 2, 3, 4, 5, 7, 8, 9, 13, 31] {
            run_counter(n, words, stride, 1);
        }
    }
}

#[test]
fn thread_split_ranges_start_anywhere() {
    // Enough work to split the loop across threads: each range starts at
    // an arbitrary iteration, so iota lanes and stores start mid-vector.
    run_counter(40_001, 16, 16, 1);
    run_counter(70_003, 3, 3, 1);
}

/// `for i in 0..n { body(i) }` over the given buffers, the loop parallel.
fn one_loop(
    n: usize,
    bufs: &[(DType, usize, BufferKind)],
    f: impl FnOnce(&mut KernelBuilder, &mut Vec<Stmt>, LoopId),
) -> rjax_codegen::kernel::Kernel {
    let mut kb = KernelBuilder::new();
    let i = kb.lp();
    let mut body = Vec::new();
    f(&mut kb, &mut body, i);
    kernel(
        "strided",
        bufs,
        vec![Stmt::Loop {
            id: i,
            extent: n,
            parallel: true,
            body,
        }],
    )
}

fn store(body: &mut Vec<Stmt>, buf: u32, offset: i64, terms: &[(LoopId, i64)], value: ValueId) {
    body.push(Stmt::Store {
        buf: BufId(buf),
        index: ix(offset, terms),
        value,
    });
}

#[test]
fn gathers_and_f64_pairs_match() {
    for n in [1, 2, 3, 6, 11] {
        // f32: out[2i] = x[3i + 1] * 2, out[2i + 1] = x[3i]: gathers with
        // coefficient 3; two stores cannot fill a four-lane group, so they
        // are scatters.
        let k = one_loop(
            n,
            &[
                (DType::F32, 3 * n + 1, BufferKind::Input),
                (DType::F32, 2 * n, BufferKind::Output),
            ],
            |kb, body, i| {
                let a = kb.let_(
                    body,
                    ScalarType::F32,
                    Expr::Load {
                        buf: BufId(0),
                        index: ix(1, &[(i, 3)]),
                    },
                );
                let b = kb.let_(body, ScalarType::F32, load(0, &[(i, 3)]));
                let two = kb.let_(
                    body,
                    ScalarType::F32,
                    Expr::Const(Const::Scalar(Scalar::F32(2.0))),
                );
                let a2 = kb.let_(body, ScalarType::F32, Expr::Binary(BinaryOp::Mul, a, two));
                store(body, 1, 0, &[(i, 2)], a2);
                store(body, 1, 1, &[(i, 2)], b);
            },
        );
        assert_vectorized(&k, 1);
        check_exact(&k, 200 + n as u64);
        // f64 (two lanes): a transposed pair out[2i], out[2i + 1] from a
        // reversed gather x[n - 1 - i] and a contiguous load.
        let k = one_loop(
            n,
            &[
                (DType::F64, n, BufferKind::Input),
                (DType::F64, 2 * n, BufferKind::Output),
            ],
            |kb, body, i| {
                let a = kb.let_(
                    body,
                    ScalarType::F64,
                    Expr::Load {
                        buf: BufId(0),
                        index: ix(n as i64 - 1, &[(i, -1)]),
                    },
                );
                let b = kb.let_(body, ScalarType::F64, load(0, &[(i, 1)]));
                let s = kb.let_(body, ScalarType::F64, Expr::Binary(BinaryOp::Sub, a, b));
                store(body, 1, 0, &[(i, 2)], s);
                store(body, 1, 1, &[(i, 2)], b);
            },
        );
        assert_vectorized(&k, 1);
        check_exact(&k, 300 + n as u64);
    }
}

#[test]
fn strided_read_modify_write_of_the_same_element_is_vectorised() {
    // out[2i] += x[i]; out[2i + 1] = x[i]: the load of `out` has the very
    // index of a store, so iterations stay independent (no transposition,
    // the buffer is loaded).
    for n in [1, 4, 5, 10] {
        let k = one_loop(
            n,
            &[
                (DType::I32, n, BufferKind::Input),
                (DType::I32, 2 * n, BufferKind::Output),
            ],
            |kb, body, i| {
                let x = kb.let_(body, ScalarType::I32, load(0, &[(i, 1)]));
                let o = kb.let_(body, ScalarType::I32, load(1, &[(i, 2)]));
                let s = kb.let_(body, ScalarType::I32, Expr::Binary(BinaryOp::Add, o, x));
                store(body, 1, 0, &[(i, 2)], s);
                store(body, 1, 1, &[(i, 2)], x);
            },
        );
        assert_vectorized(&k, 1);
        check_exact(&k, 400 + n as u64);
    }
}

#[test]
fn dependent_iterations_and_other_loop_variable_uses_stay_scalar() {
    let n = 9;
    let io = [
        (DType::U32, 4 * n, BufferKind::Input),
        (DType::U32, 4 * n + 2, BufferKind::Output),
    ];
    // Stores at 2i and 2i + 2 collide across iterations.
    let k = one_loop(n, &io, |kb, body, i| {
        let x = kb.let_(body, U, load(0, &[(i, 1)]));
        let y = kb.let_(body, U, load(0, &[(i, 2)]));
        store(body, 1, 0, &[(i, 2)], x);
        store(body, 1, 2, &[(i, 2)], y);
    });
    assert_vectorized(&k, 0);
    check_exact(&k, 500);
    // A load of a stored buffer at another index reads an earlier
    // iteration's store.
    let k = one_loop(n, &io, |kb, body, i| {
        let prev = kb.let_(body, U, load(1, &[(i, 2)]));
        let one = u32c(kb, body, 1);
        let s = bin(kb, body, BinaryOp::Add, prev, one);
        store(body, 1, 2, &[(i, 2)], s);
    });
    assert_vectorized(&k, 0);
    check_exact(&k, 501);
    // The loop variable converted to f32 (not an integer iota), and used
    // as an index value.
    let k = one_loop(n, &io, |kb, body, i| {
        let iv = kb.let_(body, ScalarType::Index, Expr::LoopVar(i));
        let f = kb.let_(body, ScalarType::F32, Expr::Convert(ScalarType::F32, iv));
        let u = kb.let_(body, U, Expr::Bitcast(U, f));
        store(body, 1, 0, &[(i, 1)], u);
    });
    assert_vectorized(&k, 0);
    check_exact(&k, 502);
    let k = one_loop(n, &io, |kb, body, i| {
        let iv = kb.let_(body, ScalarType::Index, Expr::LoopVar(i));
        let two = kb.let_(body, ScalarType::Index, Expr::Const(Const::Index(2)));
        let d = kb.let_(
            body,
            ScalarType::Index,
            Expr::Binary(BinaryOp::Mul, iv, two),
        );
        let u = kb.let_(body, U, Expr::Convert(U, d));
        store(body, 1, 0, &[(i, 1)], u);
    });
    assert_vectorized(&k, 0);
    check_exact(&k, 503);
}

#[test]
fn only_the_vectorised_loops_variable_becomes_an_iota() {
    // The inner counter is an iota; the outer one is invariant in the
    // inner loop (a splat), checked against a direct computation.
    let (rows, cols) = (3, 7);
    let mut kb = KernelBuilder::new();
    let (r, c) = (kb.lp(), kb.lp());
    let mut inner = Vec::new();
    let iv = kb.let_(&mut inner, ScalarType::Index, Expr::LoopVar(c));
    let ci = kb.let_(
        &mut inner,
        ScalarType::I32,
        Expr::Convert(ScalarType::I32, iv),
    );
    let rv = kb.let_(&mut inner, ScalarType::Index, Expr::LoopVar(r));
    let ri = kb.let_(
        &mut inner,
        ScalarType::I32,
        Expr::Convert(ScalarType::I32, rv),
    );
    let m = kb.let_(
        &mut inner,
        ScalarType::I32,
        Expr::Const(Const::Scalar(Scalar::I32(-1000))),
    );
    let rm = kb.let_(
        &mut inner,
        ScalarType::I32,
        Expr::Binary(BinaryOp::Mul, ri, m),
    );
    let s = kb.let_(
        &mut inner,
        ScalarType::I32,
        Expr::Binary(BinaryOp::Sub, rm, ci),
    );
    inner.push(Stmt::Store {
        buf: BufId(0),
        index: ix(0, &[(r, cols as i64), (c, 1)]),
        value: s,
    });
    let k = kernel(
        "iota2d",
        &[(DType::I32, rows * cols, BufferKind::Output)],
        nest2((r, rows), (c, cols), inner),
    );
    assert_vectorized(&k, 1);
    let mut got = vec![Data::I32(vec![0; rows * cols])];
    cpu::run_kernel(&k, &mut got).unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<i32> = (0..rows * cols)
        .map(|e| -1000 * (e / cols) as i32 - (e % cols) as i32)
        .collect();
    assert_same_data("iota2d", &Data::I32(want), &got[0], 0.0);
    check_exact(&k, 600);
}

#[test]
fn unrolled_store_groups_forwards_and_backwards() {
    // out[4i + w] = x[i]·(w + 1) and out[4(n − 1 − i) + w] = x[i] − w: a
    // small body (unrolled), one four-store group with coefficient ±4.
    for n in [1, 3, 4, 8, 17, 35] {
        for c in [4i64, -4] {
            let k = one_loop(
                n,
                &[
                    (DType::F32, n, BufferKind::Input),
                    (DType::F32, 4 * n, BufferKind::Output),
                ],
                |kb, body, i| {
                    let x = kb.let_(body, ScalarType::F32, load(0, &[(i, 1)]));
                    let base = if c > 0 { 0 } else { 4 * (n as i64 - 1) };
                    for w in 0..4 {
                        let m = kb.let_(
                            body,
                            ScalarType::F32,
                            Expr::Const(Const::Scalar(Scalar::F32(w as f32 + 1.0))),
                        );
                        let op = if c > 0 { BinaryOp::Mul } else { BinaryOp::Sub };
                        let y = kb.let_(body, ScalarType::F32, Expr::Binary(op, x, m));
                        store(body, 1, base + w, &[(i, c)], y);
                    }
                },
            );
            assert_vectorized(&k, 1);
            check_exact(&k, 700 + n as u64);
        }
    }
}

#[test]
fn a_later_store_of_the_same_element_still_wins() {
    // out[4i + 3] is stored twice (x, then x + 1) before the other three
    // words of its row: the second value must stay, as in program order.
    for n in [4, 9] {
        let k = one_loop(
            n,
            &[
                (DType::U32, n, BufferKind::Input),
                (DType::U32, 4 * n, BufferKind::Output),
            ],
            |kb, body, i| {
                let x = kb.let_(body, U, load(0, &[(i, 1)]));
                let one = u32c(kb, body, 1);
                let y = bin(kb, body, BinaryOp::Add, x, one);
                store(body, 1, 3, &[(i, 4)], x);
                store(body, 1, 3, &[(i, 4)], y);
                for w in 0..3 {
                    store(body, 1, w, &[(i, 4)], x);
                }
            },
        );
        assert_vectorized(&k, 1);
        check_exact(&k, 800 + n as u64);
    }
}
