//! Sampling operands from their domains, and mapping program values into
//! them.

use super::op_cases::{Domain, OpCase};
use super::rng::Rng;
use rjax::{lax, Array, Result};

fn off_grid(rng: &mut Rng, r: f64) -> f64 {
    let whole = (rng.uniform(-r, r)).floor();
    let frac = rng.uniform(0.1, 0.4) + if rng.below(2) == 0 { 0.0 } else { 0.5 };
    whole + frac
}

/// Samples the operands of `case` (row-major data, one vector per operand).
pub fn sample(case: &OpCase, rng: &mut Rng) -> Vec<Vec<f64>> {
    let sizes: Vec<usize> = case
        .operands
        .iter()
        .map(|o| o.shape.iter().product())
        .collect();
    let mut out: Vec<Vec<f64>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
    // Distinct operands share one shuffled grid.
    let distinct: Vec<usize> = (0..case.operands.len())
        .filter(|&i| matches!(case.operands[i].domain, Domain::Distinct(..)))
        .collect();
    let total: usize = distinct.iter().map(|&i| sizes[i]).sum();
    let slots = rng.permutation(total);
    let mut next_slot = 0;
    for (i, o) in case.operands.iter().enumerate() {
        for value in out[i].iter_mut() {
            *value = match o.domain {
                Domain::Any(lo, hi) | Domain::Interval(lo, hi) => rng.uniform(lo, hi),
                Domain::AwayFromZero(lo, hi) => rng.sign() * rng.uniform(lo, hi),
                Domain::OffGrid(r) => off_grid(rng, r),
                Domain::Distinct(lo, hi) => {
                    let width = (hi - lo) / total as f64;
                    let slot = slots[next_slot] as f64;
                    next_slot += 1;
                    lo + (slot + rng.uniform(0.25, 0.75)) * width
                }
                Domain::WithZeros(_) => rng.sign() * rng.uniform(0.3, 1.5),
                Domain::RemDividend => 0.0, // filled below, once the divisor exists
            };
        }
        if let Domain::WithZeros(k) = o.domain {
            for &p in &rng.permutation(sizes[i])[..k] {
                out[i][p] = 0.0;
            }
        }
    }
    for (i, o) in case.operands.iter().enumerate() {
        if let Domain::RemDividend = o.domain {
            let divisor = out[1].clone();
            for (value, d) in out[i].iter_mut().zip(divisor) {
                let quotient = rng.sign() * (rng.below(3) as f64 + rng.uniform(0.1, 0.9));
                *value = quotient * d;
            }
        }
    }
    out
}

/// The sampled operands as arrays.
pub fn sample_arrays(case: &OpCase, rng: &mut Rng) -> Vec<Array> {
    sample(case, rng)
        .into_iter()
        .zip(case.operands)
        .map(|(data, o)| Array::from_vec(data, o.shape).expect("sample fits its shape"))
        .collect()
}

/// Maps `v` into an operand's domain for random programs: restricted
/// domains (`Interval`, `AwayFromZero`) are reached through
/// `lo + (hi - lo) * logistic(v)`; the others take `v` as it is.
pub fn squash(domain: Domain, v: &Array) -> Result<Array> {
    match domain {
        Domain::Interval(lo, hi) | Domain::AwayFromZero(lo, hi) => {
            let unit = lax::try_logistic(v)?;
            lax::try_add(
                &lax::try_mul(&unit, &Array::scalar(hi - lo))?,
                &Array::scalar(lo),
            )
        }
        Domain::Any(..)
        | Domain::OffGrid(_)
        | Domain::Distinct(..)
        | Domain::WithZeros(_)
        | Domain::RemDividend => Ok(v.clone()),
    }
}
