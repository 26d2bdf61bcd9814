//! Saving and loading a model's weights as safetensors.
//!
//! Each weight is stored under its model name, `layer/weight` (for example
//! `dense_1/kernel`), with its dtype and shape; the file's metadata records
//! the format and the model's name. Loading checks the whole file against
//! the model before replacing anything: a missing or extra name, or a
//! different shape or dtype, is an `Error::WeightsMismatch` that names the
//! weights; a file that cannot be read or parsed is an `Error::Io`.

use crate::keras::models::{Model, ModelWeights, WeightInfo};
use crate::{Array, DType, Error, Result};
use rjax_ir::{Data, HostBuffer};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The safetensors dtype of an rjax dtype.
fn to_safetensors(dtype: DType) -> Dtype {
    match dtype {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::I32 => Dtype::I32,
        DType::U32 => Dtype::U32,
        DType::Bool => Dtype::BOOL,
    }
}

/// The rjax dtype of a safetensors dtype, if rjax has it.
fn from_safetensors(dtype: Dtype) -> Option<DType> {
    DType::ALL.into_iter().find(|d| to_safetensors(*d) == dtype)
}

/// Little-endian bytes of a buffer's elements.
fn to_bytes(data: &Data) -> Vec<u8> {
    match data {
        Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Data::Bool(v) => v.iter().map(|&b| u8::from(b)).collect(),
    }
}

/// Elements of `dtype` from little-endian bytes (which may be unaligned).
fn from_bytes(dtype: DType, bytes: &[u8]) -> Data {
    fn words<const N: usize, T>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
        bytes
            .chunks_exact(N)
            .map(|c| {
                let mut word = [0u8; N];
                word.copy_from_slice(c);
                f(word)
            })
            .collect()
    }
    match dtype {
        DType::F32 => Data::F32(words(bytes, f32::from_le_bytes)),
        DType::F64 => Data::F64(words(bytes, f64::from_le_bytes)),
        DType::I32 => Data::I32(words(bytes, i32::from_le_bytes)),
        DType::U32 => Data::U32(words(bytes, u32::from_le_bytes)),
        DType::Bool => Data::Bool(bytes.iter().map(|&b| b != 0).collect()),
    }
}

/// An `Error::Io` for `path`.
fn io_error(op: &'static str, path: &Path, message: impl ToString) -> Error {
    Error::Io {
        op,
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Up to five names, for messages.
fn some_names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    let shown = names.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        format!("{shown}, ... ({} in all)", names.len())
    } else {
        shown
    }
}

impl Model {
    /// Writes the weights to `path` as safetensors, named `layer/weight`.
    ///
    /// # Errors
    /// `Error::Op` if the model is not built; `Error::Io` if the file
    /// cannot be written.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(2))]).with_input_shape(&[3]);
    /// model.build(&[3]).unwrap();
    /// let path = std::env::temp_dir().join("rjax_doc_save.safetensors");
    /// model.save_weights(&path).unwrap();
    /// model.load_weights(&path).unwrap();
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let infos = self.weight_info()?;
        let values = self
            .weights
            .trainable
            .iter()
            .chain(&self.weights.non_trainable);
        let mut stored: Vec<(String, DType, Vec<usize>, Vec<u8>)> = Vec::new();
        for (info, value) in infos.iter().zip(values) {
            let buffer = value.try_buffer("save_weights")?;
            stored.push((
                info.name.clone(),
                value.dtype(),
                value.shape().to_vec(),
                to_bytes(buffer.data()),
            ));
        }
        let views = stored
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(to_safetensors(*dtype), shape.clone(), bytes)
                    .map(|view| (name.clone(), view))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| io_error("save_weights", path, e))?;
        let metadata = HashMap::from([
            ("format".to_string(), "rjax.keras".to_string()),
            ("model".to_string(), self.name.clone()),
        ]);
        let bytes = safetensors::tensor::serialize(views, Some(metadata))
            .map_err(|e| io_error("save_weights", path, e))?;
        std::fs::write(path, bytes).map_err(|e| io_error("save_weights", path, e))
    }

    /// Replaces the weights with those stored at `path` by
    /// [`Model::save_weights`]. The model must be built (with the same
    /// architecture); nothing changes unless every weight fits.
    ///
    /// # Errors
    /// `Error::Io` when the file cannot be read or parsed;
    /// `Error::WeightsMismatch` when names, shapes or dtypes differ from the
    /// model's; `Error::Op` if the model is not built.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// use rjax::Error;
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(2))]).with_input_shape(&[3]);
    /// model.build(&[3]).unwrap();
    /// let err = model.load_weights("/nonexistent/weights.safetensors").unwrap_err();
    /// assert!(matches!(err, Error::Io { .. }));
    /// ```
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let infos = self.weight_info()?;
        let bytes = std::fs::read(path).map_err(|e| io_error("load_weights", path, e))?;
        let file =
            SafeTensors::deserialize(&bytes).map_err(|e| io_error("load_weights", path, e))?;
        let in_file: BTreeSet<String> = file.names().into_iter().map(String::from).collect();
        let in_model: BTreeSet<String> = infos.iter().map(|w| w.name.clone()).collect();
        let missing: Vec<&String> = in_model.difference(&in_file).collect();
        let extra: Vec<&String> = in_file.difference(&in_model).collect();
        if !missing.is_empty() || !extra.is_empty() {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!(
                    "missing from the file: {}",
                    some_names(missing.into_iter())
                ));
            }
            if !extra.is_empty() {
                parts.push(format!(
                    "not in the model: {}",
                    some_names(extra.into_iter())
                ));
            }
            return Err(Error::WeightsMismatch {
                op: "load_weights",
                message: format!(
                    "{} does not hold this model's weights ({})",
                    path.display(),
                    parts.join("; ")
                ),
            });
        }
        let mut values = Vec::with_capacity(infos.len());
        for info in &infos {
            values.push(load_one(&file, info, path)?);
        }
        let non_trainable = values.split_off(self.weights.trainable.len());
        self.set_weights(ModelWeights {
            trainable: values,
            non_trainable,
        })
    }
}

/// Reads and checks one weight.
fn load_one(file: &SafeTensors, info: &WeightInfo, path: &Path) -> Result<Array> {
    let view = file
        .tensor(&info.name)
        .map_err(|e| io_error("load_weights", path, e))?;
    let dtype = from_safetensors(view.dtype()).ok_or_else(|| Error::WeightsMismatch {
        op: "load_weights",
        message: format!(
            "weight '{}' has dtype {:?} in the file, which rjax does not support",
            info.name,
            view.dtype()
        ),
    })?;
    crate::keras::models::check_weight("load_weights", info, view.shape(), dtype)?;
    let buffer = HostBuffer::new(from_bytes(dtype, view.data()), view.shape())
        .map_err(|e| io_error("load_weights", path, e))?;
    Ok(Array::from_buffer(buffer))
}
