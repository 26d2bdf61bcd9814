//! Numeric helpers shared by the autodiff property tests: reading arrays,
//! normwise comparison, central finite differences.

use super::rng::Rng;
use rjax::Array;

pub fn vals(a: &Array) -> Vec<f64> {
    a.to_f64_vec().expect("a concrete array")
}

pub fn array(data: Vec<f64>, shape: &[usize]) -> Array {
    Array::from_vec(data, shape).expect("data fits the shape")
}

pub fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `sum |a_i b_i|`: the scale of the rounding error of `dot(a, b)`.
pub fn dot_abs(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum()
}

/// Normwise comparison: `max |got - want| <= rtol * max(|got|, |want|) + atol`.
pub fn close(what: &str, got: &[f64], want: &[f64], rtol: f64, atol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} values, expected {}",
            got.len(),
            want.len()
        ));
    }
    let err = got.iter().zip(want).fold(0.0f64, |m, (g, w)| {
        if (g - w).is_nan() {
            f64::NAN
        } else {
            m.max((g - w).abs())
        }
    });
    let bound = rtol * max_abs(got).max(max_abs(want)) + atol;
    if err <= bound {
        Ok(())
    } else {
        Err(format!(
            "{what}: max error {err:.3e} > {bound:.3e}\n  got  {got:?}\n  want {want:?}"
        ))
    }
}

/// Arrays shaped like `like`, filled from `rng` with values in `[-1, 1)`.
pub fn random_like(like: &[Array], rng: &mut Rng) -> Vec<Array> {
    like.iter()
        .map(|a| array(rng.vector(a.size()), a.shape()))
        .collect()
}

pub fn flat(arrays: &[Array]) -> Vec<f64> {
    arrays.iter().flat_map(vals).collect()
}

/// `x + s * t`, leaf by leaf.
pub fn axpy(x: &[Array], s: f64, t: &[Array]) -> Vec<Array> {
    x.iter()
        .zip(t)
        .map(|(x, t)| {
            let v = vals(x)
                .iter()
                .zip(vals(t))
                .map(|(x, t)| x + s * t)
                .collect();
            array(v, x.shape())
        })
        .collect()
}

/// Central difference of `f` at `x` along `t` with step `h`.
pub fn directional_fd(
    f: &dyn Fn(&[Array]) -> Vec<f64>,
    x: &[Array],
    t: &[Array],
    h: f64,
) -> Vec<f64> {
    let plus = f(&axpy(x, h, t));
    let minus = f(&axpy(x, -h, t));
    plus.iter()
        .zip(minus)
        .map(|(p, m)| (p - m) / (2.0 * h))
        .collect()
}

/// The finite-difference step for inputs `x`: `step * max(1, max |x|)`.
pub fn fd_step(step: f64, x: &[Array]) -> f64 {
    step * max_abs(&flat(x)).max(1.0)
}
