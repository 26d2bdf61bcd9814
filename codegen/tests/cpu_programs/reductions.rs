//! Full reductions of large arrays, which the CPU backend runs in two
//! steps (per-chunk partial results on every core, then their combination:
//! `cpu::split_reductions`), against the reference interpreter: integer
//! sums, maxima and minima bit for bit, float sums within the rounding
//! of another summation order.

use super::*;

/// `reduce(x)` over every axis of a vector of `n` elements of `dtype`,
/// optionally of `x * y` (a fused product under the reduction) and
/// divided by `n` after it (a mean: code after the loop).
fn reduction(n: usize, dtype: DType, prim: Primitive, product: bool, mean: bool) -> ClosedJaxpr {
    let aval = AVal::new(dtype, &[n]);
    build(&[aval.clone(), aval], |b, xs| {
        let x = if product {
            eqn(b, Primitive::Mul, &[xs[0], xs[1]])
        } else {
            xs[0]
        };
        let r = eqn(b, prim, &[x]);
        let r = if mean {
            lit(b, Primitive::Div, r, Scalar::from_f64(n as f64, dtype))
        } else {
            r
        };
        vec![Atom::Var(r)]
    })
}

fn all(prim: fn(Vec<usize>) -> Primitive) -> Primitive {
    prim(vec![0])
}

fn sum(axes: Vec<usize>) -> Primitive {
    Primitive::ReduceSum { axes }
}
fn max(axes: Vec<usize>) -> Primitive {
    Primitive::ReduceMax { axes }
}
fn min(axes: Vec<usize>) -> Primitive {
    Primitive::ReduceMin { axes }
}

/// The compiled program has one more kernel step than fusion planned: the
/// reduction was split.
fn assert_split(closed: &ClosedJaxpr) {
    let planned = rjax_codegen::fusion::plan(closed).expect("plan");
    let split = cpu::split_reductions(&planned);
    assert_eq!(
        split.steps.len(),
        planned.steps.len() + 1,
        "not split:\n{}",
        closed.jaxpr
    );
}

#[test]
fn large_integer_reductions_are_split_and_exact() {
    // 2^20 + 12345: a remainder after the equal chunks.
    let n = (1 << 20) + 12345;
    for prim in [all(sum), all(max), all(min)] {
        for product in [false, true] {
            let closed = reduction(n, DType::I32, prim.clone(), product, false);
            assert_split(&closed);
            let args = [host(DType::I32, &[n], 3), host(DType::I32, &[n], 4)];
            check_jaxpr("i32 reduction", &closed, &args, 0.0);
        }
    }
}

#[test]
fn large_float_maxima_and_minima_are_split_and_exact() {
    let n = 3 * (1 << 19) + 7;
    for prim in [all(max), all(min)] {
        let closed = reduction(n, DType::F32, prim, false, false);
        assert_split(&closed);
        let args = [host(DType::F32, &[n], 5), host(DType::F32, &[n], 6)];
        check_jaxpr("f32 max/min", &closed, &args, 0.0);
    }
}

#[test]
fn large_float_sums_means_and_dot_products_are_split_and_close() {
    let n = (1 << 21) + 1;
    for (product, mean) in [(false, false), (false, true), (true, false)] {
        let closed = reduction(n, DType::F32, all(sum), product, mean);
        assert_split(&closed);
        let args = [smooth(DType::F32, &[n], 7), smooth(DType::F32, &[n], 8)];
        // Sums of 2^21 terms in [-1, 1], both in f32 but in another order:
        // the reference's sequential rounding error grows like
        // sqrt(n) · eps · |partial sum| (about 1e-4 of these sums; 2.4e-5
        // seen for the plain sum); 1e-3 relative leaves a margin of ten.
        check_jaxpr("f32 sum", &closed, &args, 1e-3);
    }
}

#[test]
fn small_reductions_stay_in_one_step() {
    let closed = reduction(1000, DType::F32, all(sum), false, false);
    let planned = rjax_codegen::fusion::plan(&closed).expect("plan");
    assert_eq!(
        cpu::split_reductions(&planned).steps.len(),
        planned.steps.len()
    );
}
