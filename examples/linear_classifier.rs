//! The linear classifier of *Deep Learning with Python*, chapter 3, written
//! three ways: eager `grad` steps, a jitted `value_and_grad` step, and a
//! Keras `Sequential([Dense(1)])` trained with `fit`.
//!
//! Two classes of 1000 points each are drawn from `random::multivariate_normal`
//! (covariance [[1, 0.5], [0.5, 1]], means [0, 3] and [3, 0]) with a fixed
//! key; the model is `prediction = x @ W + b`, trained with mean squared
//! error against 0/1 targets, learning rate 0.1, 40 full-batch steps. The
//! program prints the loss at a few steps and the accuracy of each way (on
//! all the points), and draws the chapter's three figures as PNG files.
//! Keras trains on the first 80% of the shuffled points and reports its
//! validation loss and accuracy on the rest.
//!
//! ```sh
//! cargo run --release --example linear_classifier [-- --out DIR] [--points CSV]
//! ```
//!
//! `--out` picks the folder of the figures (default `target/figures`);
//! `--points` trains on a CSV file of `x0,x1,target` rows (such as
//! `data/linear_classifier/points.csv`) instead of sampling the points.

#[path = "common/linear.rs"]
mod linear;
#[path = "common/plots.rs"]
mod plots;

use linear::{Dataset, Params, Trained};
use plots::{Line, PlotResult};
use rjax::prelude::*;
use std::path::{Path, PathBuf};

/// Points per class.
const PER_CLASS: usize = 1000;
/// Full-batch training steps.
const STEPS: usize = 40;
/// The fraction of the points Keras holds out for validation.
const VALIDATION_SPLIT: f64 = 0.2;
/// The steps whose loss is printed.
const SHOWN_STEPS: [usize; 4] = [0, 10, 20, 39];

/// The command line: `--out DIR` and `--points CSV`.
struct Options {
    out: PathBuf,
    points: Option<PathBuf>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        out: PathBuf::from("target/figures"),
        points: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--out" => options.out = PathBuf::from(value()?),
            "--points" => options.points = Some(PathBuf::from(value()?)),
            other => {
                return Err(format!(
                    "unknown argument {other}; use --out DIR, --points CSV"
                ))
            }
        }
    }
    Ok(options)
}

/// The chapter's two classes, sampled with fixed keys.
fn sample_points(key: &Array) -> rjax::Result<Dataset> {
    let (negative_key, positive_key) = random::split2(key);
    let cov = Array::from_vec(vec![1.0f32, 0.5, 0.5, 1.0], &[2, 2])?;
    let class = |key: &Array, mean: [f32; 2]| -> rjax::Result<Array> {
        let mean = Array::from_vec(mean.to_vec(), &[2])?;
        random::try_multivariate_normal(key, &mean, &cov, &[PER_CLASS], DType::F32)
    };
    let x = jnp::concatenate(
        &[
            class(&negative_key, [0.0, 3.0])?,
            class(&positive_key, [3.0, 0.0])?,
        ],
        0,
    );
    let y = jnp::concatenate(
        &[
            jnp::zeros(&[PER_CLASS, 1], DType::F32),
            jnp::ones(&[PER_CLASS, 1], DType::F32),
        ],
        0,
    );
    Ok(Dataset { x, y })
}

/// Prints the loss of one way at the shown steps.
fn print_losses(way: &str, run: &Trained) {
    let shown: Vec<String> = SHOWN_STEPS
        .iter()
        .filter_map(|&s| run.losses.get(s).map(|l| format!("step {s}: {l:.4}")))
        .collect();
    println!("{way:<6} loss  {}", shown.join("  "));
}

/// Prints `<way> accuracy: <value>` for the final parameters of one way, on
/// every point.
fn report(way: &str, data: &Dataset, run: &Trained) -> rjax::Result<()> {
    print_losses(way, run);
    let accuracy = linear::accuracy(&linear::predict(&run.params, &data.x), &data.y)?;
    println!("{way} accuracy: {accuracy:.4}");
    Ok(())
}

/// The rows of an `f32[n, 2]` array as points.
fn points(x: &Array) -> rjax::Result<Vec<(f32, f32)>> {
    Ok(x.to_vec::<f32>()?.chunks(2).map(|p| (p[0], p[1])).collect())
}

/// Whether each entry of an `f32[n, 1]` array is above 0.5.
fn above_half(values: &Array) -> rjax::Result<Vec<bool>> {
    Ok(values.to_vec::<f32>()?.iter().map(|v| *v > 0.5).collect())
}

/// The chapter's three figures: the data by class, the predictions by
/// class, and the decision line `x @ W + b = 0.5` over the points.
fn draw_figures(out: &Path, data: &Dataset, params: &Params) -> PlotResult<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    plots::register_font()?;
    let xy = points(&data.x)?;
    let predicted = above_half(&linear::predict(params, &data.x))?;
    let (w, b) = (params.0.to_vec::<f32>()?, params.1.item::<f32>()?);
    // w0 * x0 + w1 * x1 + b = 0.5, solved for x1.
    let line = Line {
        slope: -w[0] / w[1],
        intercept: (0.5 - b) / w[1],
    };
    let files = [
        "linear_classifier_data.png",
        "linear_classifier_predictions.png",
        "linear_classifier_decision_line.png",
    ]
    .map(|name| out.join(name));
    plots::scatter(
        &files[0],
        "The two classes",
        &xy,
        &above_half(&data.y)?,
        None,
    )?;
    plots::scatter(
        &files[1],
        "Predictions (x @ W + b > 0.5)",
        &xy,
        &predicted,
        None,
    )?;
    plots::scatter(&files[2], "The decision line", &xy, &predicted, Some(line))?;
    Ok(files.to_vec())
}

fn main() -> PlotResult<()> {
    let options = options()?;
    let keys = random::split_vec(&random::key(3), 3);
    let data = match &options.points {
        Some(path) => linear::load_points(path)?,
        None => sample_points(&keys[0])?,
    };
    // The chapter's start: W uniform in [0, 1), b zero.
    let init = (
        random::uniform(&keys[1], &[2, 1], DType::F32, 0.0, 1.0),
        jnp::zeros(&[1], DType::F32),
    );
    println!(
        "{} points, {STEPS} full-batch steps of learning rate {}",
        data.y.shape()[0],
        linear::LEARNING_RATE
    );

    let eager = linear::train_eager(&data, &init, STEPS)?;
    report("eager", &data, &eager)?;
    let jitted = linear::train_jit(&data, &init, STEPS)?;
    report("jit", &data, &jitted)?;

    // Keras holds out the last fraction of the data before any shuffling,
    // and the classes are stored in order: shuffle first.
    let order = random::permutation(&keys[2], data.y.shape()[0]);
    let shuffled = Dataset {
        x: data.x.take(&order, 0),
        y: data.y.take(&order, 0),
    };
    let (keras, history) = linear::train_keras(&shuffled, &init, STEPS, VALIDATION_SPLIT, 1)?;
    if let (Some(loss), Some(accuracy)) =
        (history.get("val_loss"), history.get("val_binary_accuracy"))
    {
        if let (Some(loss), Some(accuracy)) = (loss.last(), accuracy.last()) {
            println!("keras  validation ({VALIDATION_SPLIT} of the points): val_loss {loss:.4}, val_binary_accuracy {accuracy:.4}");
        }
    }
    report("keras", &data, &keras)?;

    let files = draw_figures(&options.out, &data, &jitted.params)?;
    for file in files {
        println!("wrote {}", file.display());
    }
    Ok(())
}
