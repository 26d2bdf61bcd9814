//! Validation of concrete targets before training: shapes that fit the
//! model's output, finite values, and each loss's value range.

use super::same_rank_shapes;
use crate::Array;
use rjax_ir::{Error, Result, ShapeDisplay};

/// The target values as `f64`, after checking that `y_true` has a batch
/// axis and only finite values.
fn finite_values(op: &str, y_true: &Array) -> Result<Vec<f64>> {
    if y_true.ndim() == 0 {
        return Err(Error::op(
            op,
            "targets must have a batch axis, got a scalar",
        ));
    }
    let values = y_true.to_f64_vec()?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        let message = format!(
            "target {i} (in flat order) is {}; targets must be finite",
            values[i]
        );
        return Err(Error::op(op, message));
    }
    Ok(values)
}

/// The full prediction shape: the targets' batch size, then the output
/// shape of one example.
fn batched(y_true: &Array, output_shape: &[usize]) -> Vec<usize> {
    let mut shape = vec![y_true.shape()[0]];
    shape.extend_from_slice(output_shape);
    shape
}

/// Checks targets compared elementwise with the predictions: their shape
/// must match the output's (up to Keras' trailing unit axis rule), and,
/// with `range = Some((lo, hi))`, each value must lie in `[lo, hi]`.
pub(super) fn dense_targets(
    op: &str,
    y_true: &Array,
    output_shape: &[usize],
    range: Option<(f64, f64)>,
) -> Result<()> {
    let values = finite_values(op, y_true)?;
    let predicted = batched(y_true, output_shape);
    let (t, p) = same_rank_shapes(y_true.shape(), &predicted);
    if t != p {
        let message = format!(
            "targets of shape {} do not fit the model's output of shape {} ({} per example)",
            ShapeDisplay(y_true.shape()),
            ShapeDisplay(&predicted),
            ShapeDisplay(output_shape)
        );
        return Err(Error::op(op, message));
    }
    if let Some((lo, hi)) = range {
        if let Some(i) = values.iter().position(|v| *v < lo || *v > hi) {
            let message = format!(
                "target {i} (in flat order) is {}, outside [{lo}, {hi}]",
                values[i]
            );
            return Err(Error::op(op, message));
        }
    }
    Ok(())
}

/// Checks integer class labels: shape `[batch] ++ output_shape[..-1]`
/// (optionally with a trailing unit axis), integer values in `[0,
/// classes)` where `classes` is the output's last axis.
pub(super) fn sparse_targets(op: &str, y_true: &Array, output_shape: &[usize]) -> Result<()> {
    let values = finite_values(op, y_true)?;
    let Some((&classes, rest)) = output_shape.split_last() else {
        let message = "the model's output has no class axis (its per-example shape is [])";
        return Err(Error::op(op, message));
    };
    let expected = batched(y_true, rest);
    let mut with_unit = expected.clone();
    with_unit.push(1);
    if y_true.shape() != expected.as_slice() && y_true.shape() != with_unit.as_slice() {
        let message = format!(
            "labels of shape {} do not fit the model's output of shape {}: expected labels \
             of shape {} (one class index per example)",
            ShapeDisplay(y_true.shape()),
            ShapeDisplay(&batched(y_true, output_shape)),
            ShapeDisplay(&expected)
        );
        return Err(Error::op(op, message));
    }
    let bad = |v: &f64| v.fract() != 0.0 || *v < 0.0 || *v >= classes as f64;
    if let Some(i) = values.iter().position(bad) {
        let message = format!(
            "label {i} is {}, but labels must be integers in [0, {classes}) for a model \
             with {classes} classes",
            values[i]
        );
        return Err(Error::op(op, message));
    }
    Ok(())
}
