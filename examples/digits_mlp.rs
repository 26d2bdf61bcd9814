//! A Keras MLP on the UCI handwritten digits (`data/digits.csv.gz`, 1797
//! images of 8x8 pixels): a fixed-key 80/20 train/test split, pixels scaled
//! to [0, 1], the model 64 -> 128 relu -> dropout -> 10 trained with Adam on
//! sparse categorical cross-entropy, a fifth of the training images held
//! out as validation data, and early stopping on the validation loss.
//!
//! It prints `test accuracy: <value>` (an error if below 0.95), saves the
//! weights as safetensors, reloads them into a fresh model and checks that
//! its predictions are the same.
//!
//! ```sh
//! cargo run --release --example digits_mlp [-- --out DIR]
//! ```
//!
//! The weights go to `DIR/digits_mlp.safetensors` (default `target/`).

#[path = "common/digits.rs"]
mod digits;

use rjax::keras::callbacks::EarlyStopping;
use rjax::keras::training::FitConfig;
use rjax::prelude::*;
use rjax::{Error, Result};
use std::path::PathBuf;

/// The accuracy the example must reach on the test images.
const REQUIRED_ACCURACY: f32 = 0.95;

/// The folder given by `--out DIR`, or `target`.
fn out_dir() -> Result<PathBuf> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(PathBuf::from("target")),
        [flag, dir] if flag == "--out" => Ok(PathBuf::from(dir)),
        _ => Err(Error::op("digits_mlp", "usage: digits_mlp [--out DIR]")),
    }
}

fn main() -> Result<()> {
    let out = out_dir()?;
    let keys = random::split_vec(&random::key(0), 2);
    let all = digits::load(&digits::default_path())?;
    let (train, test) = digits::split(&all, &keys[0], 0.2);
    let (train, validation) = digits::split(&train, &keys[1], 0.2);
    println!(
        "{} images: {} to train on, {} to validate on, {} to test on",
        all.count(),
        train.count(),
        validation.count(),
        test.count()
    );

    let mut model = digits::mlp(0)?;
    model.print_summary()?;
    let stopper = EarlyStopping::new("val_loss")
        .patience(5)
        .restore_best_weights(true);
    let history = digits::fit(
        &mut model,
        &train,
        &validation,
        FitConfig {
            epochs: 100,
            callbacks: vec![Box::new(stopper)],
            verbose: 2,
            ..Default::default()
        },
    )?;
    println!("trained for {} epochs", history.epochs.len());

    let logs = model.evaluate(&test.x, &test.labels, 256)?;
    let predictions = model.predict(&test.x, 256)?;
    let accuracy = digits::accuracy(&predictions, &test.labels)?;
    println!("test loss: {:.4}", logs.get("loss").unwrap_or(f64::NAN));
    println!("test accuracy: {accuracy:.4}");

    std::fs::create_dir_all(&out).map_err(|e| Error::Io {
        op: "digits_mlp",
        path: out.display().to_string(),
        message: e.to_string(),
    })?;
    let path = out.join("digits_mlp.safetensors");
    model.save_weights(&path)?;
    let mut reloaded = digits::mlp(1)?;
    reloaded.build(&[digits::PIXELS])?;
    reloaded.load_weights(&path)?;
    let again = reloaded.predict(&test.x, 256)?;
    let same = predictions.to_vec::<f32>()? == again.to_vec::<f32>()?;
    println!(
        "saved the weights to {}, reloaded them into a fresh model: predictions {}",
        path.display(),
        if same { "identical" } else { "DIFFERENT" }
    );

    if !same {
        return Err(Error::op(
            "digits_mlp",
            "the reloaded model predicts differently",
        ));
    }
    if accuracy < REQUIRED_ACCURACY {
        return Err(Error::op(
            "digits_mlp",
            format!("test accuracy {accuracy:.4} is below {REQUIRED_ACCURACY}"),
        ));
    }
    Ok(())
}
