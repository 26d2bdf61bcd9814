//! A first look at rjax: arrays, NumPy-style operations, broadcasting,
//! indexing, functional updates and `make_jaxpr`.
//!
//! Run with `cargo run --release --example quickstart`.

use rjax::prelude::*;

fn main() -> rjax::Result<()> {
    // Arrays are immutable values with a shape and a dtype.
    let x = Array::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    println!("x =\n{x}");
    println!("x.shape() = {:?}, x.dtype() = {}", x.shape(), x.dtype());

    // NumPy broadcasting and weakly typed Rust scalars: the result stays f32.
    let b = Array::from_vec(vec![10.0f32, 20.0, 30.0], &[3])?;
    let y = (&x * 2.0 + &b).exp().log();
    println!("log(exp(2x + b)) =\n{y}");

    // Reductions with axes and keepdims, matmul, and nn functions.
    println!("sum over axis 1 = {}", jnp::sum(&x, 1, false));
    println!("mean = {}", x.mean());
    let w = jnp::ones(&[3, 2], DType::F32);
    println!("x @ w =\n{}", x.matmul(&w));
    println!("softmax(x, -1) =\n{}", nn::softmax(&x, -1));

    // Indexing and JAX-style functional updates: x itself never changes.
    println!("x[1, ::2] = {}", x.index(&s![1, ..;2]));
    let z = x.at(&s![0, ..]).set(&Array::scalar(0.0f32));
    println!("x.at[0, :].set(0) =\n{z}\nx is unchanged =\n{x}");

    // Tracing: the same function, staged into a jaxpr instead of run.
    let loss = |p: &(Array, Array)| {
        let (w, b) = p;
        (x.matmul(w) + b).square().mean()
    };
    let params = (
        jnp::zeros(&[3, 1], DType::F32),
        jnp::zeros(&[1], DType::F32),
    );
    println!("loss(params) = {}", loss(&params));
    println!("make_jaxpr(loss) =\n{}", make_jaxpr(loss)(&params)?);
    Ok(())
}
