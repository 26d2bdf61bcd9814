use rjax::prelude::*;
use rjax::{custom_vjp, jnp, try_grad, try_jvp};

#[test]
fn scratch() {
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
    println!("{}", make_jaxpr(grad(loss))(&params).unwrap());
    let x = jnp::zeros(&[8, 4], DType::F32);
    let y = jnp::zeros(&[8, 3], DType::F32);
    let mlp = |p: &(Array, Array, Array, Array)| {
        let (w1, b1, w2, b2) = p;
        (nn::relu(&(x.matmul(w1) + b1)).matmul(w2) + b2 - &y)
            .square()
            .mean()
    };
    let params = (
        jnp::zeros(&[4, 16], DType::F32),
        jnp::zeros(&[16], DType::F32),
        jnp::zeros(&[16, 3], DType::F32),
        jnp::zeros(&[3], DType::F32),
    );
    println!("{}", make_jaxpr(grad(mlp))(&params).unwrap());
    println!(
        "{:?}",
        try_grad(|x: &Array| x * 2.0)(&Array::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap())
            .err()
            .map(|e| e.to_string())
    );
    println!(
        "{:?}",
        try_grad(|x: &Array| jnp::convert(x, DType::I32).unwrap().sum())(&Array::scalar(1.0f32))
            .err()
            .map(|e| e.to_string())
    );
    let clip = custom_vjp(
        |x: &Array| x.clone(),
        |x: &Array| (x.clone(), ()),
        |_: &(), ct: &Array| ct.clip(-1.0, 1.0),
    );
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        try_jvp(
            |x: &Array| clip(x),
            &Array::scalar(1.0f32),
            &Array::scalar(1.0f32),
        )
        .map(|(a, b)| (a.item::<f32>(), b.item::<f32>()))
    }));
    println!(
        "{:?}",
        r.as_ref().map(|r| r.as_ref().err().map(|e| e.to_string()))
    );
    if let Err(e) = r {
        println!("panic: {:?}", e.downcast_ref::<String>());
    }
    let g = grad(|x: &Array| nn::softplus(x).sum())(
        &Array::from_vec(vec![-1e4f32, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4], &[7]).unwrap(),
    );
    println!("{:?}", g.to_vec::<f32>());
    println!(
        "{}",
        make_jaxpr(|x: &Array| nn::softplus(x))(&Array::scalar(1.0f32)).unwrap()
    );
    println!(
        "{}",
        make_jaxpr(grad(|x: &Array| nn::softplus(x)))(&Array::scalar(1.0f32)).unwrap()
    );
}
