//! `summary()`: the Keras 3 table of layers, output shapes and parameter
//! counts.

use super::model::{dtype_bytes, Model};
use super::network::WeightInfo;
use crate::Result;

/// Minimum widths of the three columns' text (Keras' default table).
const WIDTHS: [usize; 3] = [31, 22, 13];

impl Model {
    /// The Keras-style summary: one row per layer with its name and class,
    /// its output shape (`None` for the batch axis) and its parameter
    /// count, then the total, trainable and non-trainable parameter counts
    /// with their sizes. Builds the model first if it has a declared input
    /// shape.
    ///
    /// # Errors
    /// `Error::Op` if the model is not built and has no input shape, or
    /// when building fails.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut model = Sequential::new(vec![
    ///     Box::new(Dense::new(64).activation("relu")),
    ///     Box::new(Dense::new(10)),
    /// ])
    /// .with_input_shape(&[64]);
    /// let text = model.summary().unwrap();
    /// assert!(text.contains("│ dense_1 (Dense)"));
    /// assert!(text.contains(" Total params: 4,810 (18.79 KB)"));
    /// ```
    pub fn summary(&mut self) -> Result<String> {
        self.build_if_shape_known()?;
        let net = self.network("summary")?;
        let counts = net.param_counts();
        let mut rows: Vec<[String; 3]> = Vec::new();
        if self.class_name == "Functional" {
            rows.push([
                "input_layer (InputLayer)".to_string(),
                shape_text(&net.input_shape),
                "0".to_string(),
            ]);
        }
        for (i, layer) in net.layers.iter().enumerate() {
            rows.push([
                format!("{} ({})", net.names[i], layer.class_name()),
                shape_text(&net.output_shapes[i]),
                thousands(counts[i]),
            ]);
        }
        let mut widths = WIDTHS;
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let rule = |left: &str, fill: &str, mid: &str, right: &str| {
            let parts: Vec<String> = widths.iter().map(|w| fill.repeat(w + 2)).collect();
            format!("{left}{}{right}\n", parts.join(mid))
        };
        let line = |bar: &str, cells: &[String; 3]| {
            format!(
                "{bar} {:<w0$} {bar} {:<w1$} {bar} {:>w2$} {bar}\n",
                cells[0],
                cells[1],
                cells[2],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            )
        };
        let mut out = format!("Model: \"{}\"\n", self.name);
        out += &rule("┏", "━", "┳", "┓");
        let header = ["Layer (type)", "Output Shape", "Param #"].map(String::from);
        out += &line("┃", &header);
        out += &rule("┡", "━", "╇", "┩");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out += &rule("├", "─", "┼", "┤");
            }
            out += &line("│", row);
        }
        out += &rule("└", "─", "┴", "┘");
        let (trainable, non_trainable) = (totals(&net.trainable), totals(&net.non_trainable));
        let total = (trainable.0 + non_trainable.0, trainable.1 + non_trainable.1);
        for (label, (count, bytes)) in [
            ("Total", total),
            ("Trainable", trainable),
            ("Non-trainable", non_trainable),
        ] {
            out += &format!(
                " {label} params: {} ({})\n",
                thousands(count),
                memory_size(bytes)
            );
        }
        Ok(out)
    }

    /// Prints [`Model::summary`] to standard output.
    ///
    /// # Errors
    /// As [`Model::summary`].
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(1))]).with_input_shape(&[2]);
    /// model.print_summary().unwrap();
    /// ```
    pub fn print_summary(&mut self) -> Result<()> {
        print!("{}", self.summary()?);
        Ok(())
    }
}

/// Element count and bytes of a list of weights.
fn totals(infos: &[WeightInfo]) -> (usize, usize) {
    infos.iter().fold((0, 0), |(n, b), w| {
        let size: usize = w.shape.iter().product();
        (n + size, b + size * dtype_bytes(w.dtype))
    })
}

/// `(None, 64)`: a batch of examples of `shape`.
fn shape_text(shape: &[usize]) -> String {
    match shape {
        [] => "(None,)".to_string(),
        _ => {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("(None, {})", dims.join(", "))
        }
    }
}

/// `4810` as `4,810`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Keras' readable memory size: `18.79 KB`, `0.00 B`.
fn memory_size(bytes: usize) -> String {
    let mut size = bytes as f64;
    for unit in ["B", "KB", "MB", "GB"] {
        if size < 1024.0 {
            return format!("{size:.2} {unit}");
        }
        size /= 1024.0;
    }
    format!("{size:.2} TB")
}
