//! Tracing: `make_jaxpr` stages functions into jaxprs whose printed form is
//! pinned here as golden text; tracing surfaces concrete-value errors.

use rjax::jnp;
use rjax::prelude::*;
use rjax::Error;

fn f32s(values: &[f32], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).unwrap()
}

#[test]
fn linear_classifier_forward_jaxpr() {
    let x = jnp::zeros(&[2000, 2], DType::F32);
    let y = jnp::zeros(&[2000, 1], DType::F32);
    let loss = |p: &(Array, Array)| {
        let (w, b) = p;
        (x.matmul(w) + b - &y).square().mean()
    };
    let params = (
        jnp::zeros(&[2, 1], DType::F32),
        jnp::zeros(&[1], DType::F32),
    );
    let jaxpr = make_jaxpr(loss)(&params).unwrap();
    let text = jaxpr.to_string();
    // Captured arrays become constants, the parameters inputs.
    assert_eq!(jaxpr.consts.len(), 2);
    assert_eq!(jaxpr.jaxpr.invars.len(), 2);
    assert!(text.contains("dot_general"), "{text}");
    assert!(text.contains("reduce_sum"), "{text}");
    assert_eq!(
        jaxpr.jaxpr.out_avals(),
        vec![rjax_ir::AVal::scalar(DType::F32)],
        "{text}"
    );
    rjax_ir::verify::verify_closed(&jaxpr).unwrap();
}

#[test]
fn staged_program_matches_eager_through_the_interpreter() {
    let f = |x: &Array| nn::softmax(&(x * 3.0 - 1.0).tanh(), -1).sum_axes(0, false);
    let x = f32s(&[0.1, -0.2, 0.3, 0.4, 0.5, -0.6], &[2, 3]);
    let jaxpr = make_jaxpr(f)(&x).unwrap();
    let buffer = x.try_buffer("test").unwrap().clone();
    let staged = rjax_ir::interp::interpret_closed(&jaxpr, &[buffer]).unwrap();
    let eager = f(&x).to_vec::<f32>().unwrap();
    // Eager operations run compiled kernels, whose tanh and exp are the
    // compiler's expansions (within 2.5 ulp of the interpreter's libm): the
    // staged program on the interpreter agrees to a few ulp.
    for (s, e) in staged[0].as_slice::<f32>().unwrap().iter().zip(&eager) {
        assert!(
            (s - e).abs() <= 8.0 * f32::EPSILON * e.abs().max(1.0),
            "{s} vs {e}"
        );
    }
    // Eager and jit share the compiler, so they agree bit for bit.
    assert_eq!(jit(f)(&x).to_vec::<f32>().unwrap(), eager);
}

#[test]
fn golden_text_of_a_small_function() {
    let f = |x: &Array| (x * 2.0).exp() + 1.0;
    let jaxpr = make_jaxpr(f)(&f32s(&[1.0, 2.0], &[2])).unwrap();
    assert_eq!(
        jaxpr.to_string(),
        "{ lambda ; a:f32[2]. let\n    b:f32[2] = mul a 2.0:f32[]\n    c:f32[2] = exp b\n    d:f32[2] = add c 1.0:f32[]\n  in (d,) }"
    );
}

#[test]
fn trees_in_and_out() {
    let f = |p: &(Array, Vec<Array>)| (p.0.clone() + &p.1[0], vec![p.1[1].exp()]);
    let args = (
        f32s(&[1.0], &[1]),
        vec![f32s(&[2.0], &[1]), f32s(&[0.0], &[1])],
    );
    let jaxpr = make_jaxpr(f)(&args).unwrap();
    assert_eq!(jaxpr.jaxpr.invars.len(), 3);
    assert_eq!(jaxpr.jaxpr.outvars.len(), 2);
}

#[test]
fn concrete_values_are_not_available_while_tracing() {
    let seen = std::cell::RefCell::new(None);
    let f = |x: &Array| {
        *seen.borrow_mut() = Some(x.to_vec::<f32>());
        x.clone()
    };
    make_jaxpr(f)(&f32s(&[1.0], &[1])).unwrap();
    let err = seen.into_inner().unwrap().unwrap_err();
    assert!(matches!(err, Error::Concretization { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("to_vec:") && text.contains("lax::cond") && text.contains("jnp::where_"),
        "{text}"
    );
}

#[test]
fn shape_errors_surface_while_tracing() {
    let f = |x: &Array| {
        jnp::try_add(x, &jnp::zeros(&[5], DType::F32))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let seen = std::cell::RefCell::new(String::new());
    make_jaxpr(|x: &Array| {
        *seen.borrow_mut() = f(x);
        x.clone()
    })(&jnp::zeros(&[3, 4], DType::F32))
    .unwrap();
    assert_eq!(
        seen.into_inner(),
        "add: incompatible shapes for broadcasting: [3,4] vs [5]"
    );
}

#[test]
fn escaped_tracers_are_an_error_not_a_crash() {
    let leaked = std::cell::RefCell::new(None);
    make_jaxpr(|x: &Array| {
        *leaked.borrow_mut() = Some(x.clone());
        x.clone()
    })(&f32s(&[1.0], &[1]))
    .unwrap();
    let tracer = leaked.into_inner().unwrap();
    let err = jnp::try_exp(&tracer).unwrap_err();
    assert!(err.to_string().contains("escaped"), "{err}");
}
