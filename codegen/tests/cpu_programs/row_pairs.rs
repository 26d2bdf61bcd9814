//! Row-interleaved kernel pairs (`cpu::runtime::rows`): programs whose
//! second kernel reads rows the first just wrote (softmax, a row
//! normalisation) run their two kernels interleaved by chunks of rows.
//! The schedule must not change a single bit: the paired executable is
//! compared with the same program compiled without pairing, and both with
//! the reference interpreter.

use super::*;

/// Softmax over the last axis of a `rows x cols` matrix, as `nn::softmax`
/// writes it: `e = exp(x - max(x)); e / sum(e)`.
fn softmax(rows: usize, cols: usize) -> ClosedJaxpr {
    softmax_reading(rows, cols, false)
}

/// [`softmax`], or, when `reversed`, with the division reading the
/// exponentials of the mirrored row (`rev` along the rows): row `i` of the
/// second pass then needs row `rows - 1 - i` of the first.
fn softmax_reading(rows: usize, cols: usize, reversed: bool) -> ClosedJaxpr {
    build(&[AVal::new(DType::F32, &[rows, cols])], |b, xs| {
        let row = |b: &mut JaxprBuilder, prim: Primitive, x: Var| {
            let r = eqn(b, prim, &[x]);
            let r = eqn(
                b,
                Primitive::Reshape {
                    new_sizes: [rows, 1].into_iter().collect(),
                },
                &[r],
            );
            eqn(
                b,
                Primitive::BroadcastInDim {
                    shape: [rows, cols].into_iter().collect(),
                    broadcast_dimensions: vec![0, 1],
                },
                &[r],
            )
        };
        let m = row(b, Primitive::ReduceMax { axes: vec![1] }, xs[0]);
        let d = eqn(b, Primitive::Sub, &[xs[0], m]);
        let e = eqn(b, Primitive::Exp, &[d]);
        let s = row(b, Primitive::ReduceSum { axes: vec![1] }, e);
        let num = if reversed {
            eqn(b, Primitive::Rev { axes: vec![0] }, &[e])
        } else {
            e
        };
        let y = eqn(b, Primitive::Div, &[num, s]);
        vec![Atom::Var(y)]
    })
}

/// `(x - mean) * scale` per row, with `mean` the row mean: a reduction
/// then an elementwise pass over the same rows.
fn centre(rows: usize, cols: usize) -> ClosedJaxpr {
    build(&[AVal::new(DType::F32, &[rows, cols])], |b, xs| {
        let s = eqn(b, Primitive::ReduceSum { axes: vec![1] }, &[xs[0]]);
        let m = lit(b, Primitive::Div, s, Scalar::F32(cols as f32));
        let m = eqn(
            b,
            Primitive::Reshape {
                new_sizes: [rows, 1].into_iter().collect(),
            },
            &[m],
        );
        let m = eqn(
            b,
            Primitive::BroadcastInDim {
                shape: [rows, cols].into_iter().collect(),
                broadcast_dimensions: vec![0, 1],
            },
            &[m],
        );
        let c = eqn(b, Primitive::Sub, &[xs[0], m]);
        let y = lit(b, Primitive::Mul, c, Scalar::F32(0.5));
        vec![Atom::Var(y), Atom::Var(s)]
    })
}

fn run(exe: &dyn Executable, args: &[HostBuffer]) -> Vec<HostBuffer> {
    let refs: Vec<&HostBuffer> = args.iter().collect();
    exe.run(&refs).unwrap_or_else(|e| panic!("run: {e}"))
}

#[test]
fn paired_rows_give_the_same_bits_as_the_steps_in_sequence() {
    for (name, closed) in [
        ("softmax", softmax(700, 1000)),
        ("centre", centre(512, 777)),
    ] {
        let args = [smooth(DType::F32, &closed.jaxpr.in_avals()[0].shape, 3)];
        let avals: Vec<AVal> = args.iter().map(HostBuffer::aval).collect();
        let paired = cpu::compile_jaxpr(&closed, &avals).expect("compile");
        assert_eq!(
            paired.row_pairs(),
            1,
            "{name}: no row pair in\n{}",
            closed.jaxpr
        );
        let sequential =
            cpu::without_row_pairs(|| cpu::compile_jaxpr(&closed, &avals)).expect("compile");
        assert_eq!(sequential.row_pairs(), 0);
        let want = run(&sequential, &args);
        for round in 0..3 {
            let got = run(&paired, &args);
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_same_data(
                    &format!("{name} call {round} output {k}"),
                    w.data(),
                    g.data(),
                    0.0,
                );
            }
        }
        // And against the reference: row sums of up to 1000 terms in
        // [-1, 1] summed in another order by the vectorised loops (error
        // at most n · eps ≈ 6e-5 absolute), exp expanded (a few ulps).
        let reference = interpret_closed(&closed, &args).expect("reference");
        for (k, (g, w)) in want.iter().zip(&reference).enumerate() {
            assert_same_data(&format!("{name} output {k}"), w.data(), g.data(), 1e-4);
        }
    }
}

#[test]
fn a_second_pass_reading_other_rows_is_not_paired() {
    let closed = softmax_reading(300, 500, true);
    let args = [smooth(DType::F32, &[300, 500], 4)];
    let avals: Vec<AVal> = args.iter().map(HostBuffer::aval).collect();
    let exe = cpu::compile_jaxpr(&closed, &avals).expect("compile");
    assert_eq!(exe.row_pairs(), 0, "paired:\n{}", closed.jaxpr);
    let reference = interpret_closed(&closed, &args).expect("reference");
    let got = run(&exe, &args);
    assert_same_data("reversed softmax", reference[0].data(), got[0].data(), 1e-4);
}
