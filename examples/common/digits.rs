//! The UCI handwritten digits (`data/digits.csv.gz`: 1797 images of 8x8
//! pixels valued 0..16, one per line, then the label 0..9), loaded into
//! arrays and split with a fixed key, and the MLP that classifies them.
//! Shared by `examples/digits_mlp.rs`, `tests/digits.rs` and the
//! `digits_epoch` benchmark.

use flate2::read::GzDecoder;
use rjax::keras::callbacks::History;
use rjax::keras::layers::{Dense, Dropout};
use rjax::keras::losses::SparseCategoricalCrossentropy;
use rjax::keras::metrics::SparseCategoricalAccuracy;
use rjax::keras::models::Sequential;
use rjax::keras::optimizers::Adam;
use rjax::keras::training::FitConfig;
use rjax::prelude::*;
use rjax::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Examples per training step.
pub const BATCH_SIZE: usize = 32;
/// The dropout rate between the hidden and the output layer.
pub const DROPOUT: f64 = 0.2;
/// Adam's learning rate.
pub const LEARNING_RATE: f64 = 1e-3;

/// Pixels per image.
pub const PIXELS: usize = 64;
/// Classes (the digits 0..9).
pub const CLASSES: usize = 10;

/// Images and labels.
#[derive(Clone, Debug)]
pub struct Digits {
    /// The images, `f32[n, 64]`, pixels scaled from 0..16 to [0, 1].
    pub x: Array,
    /// The labels, `i32[n]`, 0..9.
    pub labels: Array,
}

impl Digits {
    /// The number of images.
    pub fn count(&self) -> usize {
        self.labels.shape()[0]
    }

    /// The images and labels at `indices` (an `i32[k]` array), in that order.
    fn take(&self, indices: &Array) -> Digits {
        Digits {
            x: self.x.take(indices, 0),
            labels: self.labels.take(indices, 0),
        }
    }
}

/// `data/digits.csv.gz` in this repository.
pub fn default_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv.gz")
}

/// Reads a gzip-compressed CSV of digits: 64 integer pixel values 0..16 and
/// a label 0..9 per line, no header.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read or decompressed, and
/// [`Error::Op`] naming the line if a line is malformed.
pub fn load(path: &Path) -> Result<Digits> {
    let io = |e: std::io::Error| Error::Io {
        op: "load_digits",
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut text = String::new();
    GzDecoder::new(std::fs::File::open(path).map_err(io)?)
        .read_to_string(&mut text)
        .map_err(io)?;
    parse(&text).map_err(|(line, message)| {
        Error::op(
            "load_digits",
            format!("{}: line {line}: {message}", path.display()),
        )
    })
}

/// Parses the decompressed CSV; an error is a line number and a message.
fn parse(text: &str) -> std::result::Result<Digits, (usize, String)> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let values = line
            .split(',')
            .map(|f| f.trim().parse::<u8>())
            .collect::<std::result::Result<Vec<u8>, _>>()
            .map_err(|e| (i + 1, format!("not a small integer: {e}")))?;
        if values.len() != PIXELS + 1 {
            return Err((
                i + 1,
                format!("{} values, expected {}", values.len(), PIXELS + 1),
            ));
        }
        let (image, label) = values.split_at(PIXELS);
        if let Some(v) = image.iter().find(|v| **v > 16) {
            return Err((i + 1, format!("pixel value {v} is outside 0..16")));
        }
        if usize::from(label[0]) >= CLASSES {
            return Err((i + 1, format!("label {} is outside 0..9", label[0])));
        }
        pixels.extend(image.iter().map(|v| f32::from(*v) / 16.0));
        labels.push(i32::from(label[0]));
    }
    let n = labels.len();
    let x = Array::from_vec(pixels, &[n, PIXELS]).map_err(|e| (0, e.to_string()))?;
    let labels = Array::from_vec(labels, &[n]).map_err(|e| (0, e.to_string()))?;
    Ok(Digits { x, labels })
}

/// Splits `digits` into a training set and a test set holding
/// `test_fraction` of the images, in an order drawn from `key`.
pub fn split(digits: &Digits, key: &Array, test_fraction: f64) -> (Digits, Digits) {
    let n = digits.count();
    let n_test = ((n as f64) * test_fraction).round() as usize;
    let order = random::permutation(key, n);
    let train = order.index(&s![..n - n_test]);
    let test = order.index(&s![n - n_test..]);
    (digits.take(&train), digits.take(&test))
}

/// The most likely class of each row of `logits`, and how often it is the
/// label, counted on the host (independently of the metrics of `fit`).
///
/// # Errors
/// Logits that are not `f32` or labels that are not `i32`.
pub fn accuracy(logits: &Array, labels: &Array) -> Result<f32> {
    let (logits, labels) = (logits.to_vec::<f32>()?, labels.to_vec::<i32>()?);
    let right = logits
        .chunks(CLASSES)
        .zip(&labels)
        .filter(|(row, label)| {
            let best = row
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, v)| {
                    if *v > best.1 {
                        (i, *v)
                    } else {
                        best
                    }
                });
            best.0 as i32 == **label
        })
        .count();
    Ok(right as f32 / labels.len() as f32)
}

/// The MLP 64 -> 128 relu -> dropout -> 10 logits, with initial weights
/// drawn from `seed`, compiled with Adam, sparse categorical cross-entropy
/// on logits and sparse categorical accuracy.
///
/// # Errors
/// None in practice (`compile` rejects only unknown names).
pub fn mlp(seed: u64) -> Result<Sequential> {
    let mut model = Sequential::new(vec![
        Box::new(Dense::new(128).activation("relu")),
        Box::new(Dropout::new(DROPOUT)),
        Box::new(Dense::new(CLASSES)),
    ])
    .with_input_shape(&[PIXELS])
    .with_seed(seed);
    model.compile(
        Adam::new(LEARNING_RATE),
        SparseCategoricalCrossentropy::new().from_logits(true),
        vec![SparseCategoricalAccuracy.into()],
    )?;
    Ok(model)
}

/// Trains `model` on `train` for up to `config.epochs` epochs of
/// [`BATCH_SIZE`] images, evaluating on `validation` after each epoch.
///
/// # Errors
/// Data that `fit` rejects.
pub fn fit(
    model: &mut Sequential,
    train: &Digits,
    validation: &Digits,
    config: FitConfig,
) -> Result<History> {
    model.fit(
        &train.x,
        &train.labels,
        FitConfig {
            batch_size: BATCH_SIZE,
            validation_data: Some((validation.x.clone(), validation.labels.clone())),
            ..config
        },
    )
}
