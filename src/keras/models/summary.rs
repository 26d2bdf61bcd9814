//! `summary()`: the Keras 3 table of layers, output shapes and parameter
//! counts.

use super::model::{dtype_bytes, Model};
use super::network::{Entry, Network, WeightInfo};
use crate::Result;

/// Minimum widths of the three columns' text (Keras' default table).
const WIDTHS: [usize; 3] = [31, 22, 13];

/// Minimum widths of the four columns' text of a graph's table, with
/// "Connected to".
const GRAPH_WIDTHS: [usize; 4] = [19, 17, 10, 17];

/// A table row: each cell's lines.
type Row = Vec<Vec<String>>;

impl Model {
    /// The Keras-style summary: one row per layer with its name and class,
    /// its output shape (`None` for the batch axis) and its parameter
    /// count, then the total, trainable and non-trainable parameter counts
    /// with their sizes. A functional model lists its inputs first; when it
    /// is not a plain chain (merges, several inputs or outputs, shared
    /// layers) a fourth column, "Connected to", names each layer's inputs
    /// as Keras does (`dense[0][0]`, one per line). A shared layer is one
    /// row, its weights counted once. Builds the model first if it has a
    /// declared input shape.
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
        let connected = !net.sequential_like();
        let mut rows: Vec<Row> = Vec::new();
        if self.class_name == "Functional" {
            for (name, shape) in net.graph.input_names.iter().zip(&net.graph.input_shapes) {
                rows.push(vec![
                    vec![format!("{name} (InputLayer)")],
                    vec![shape_text(shape)],
                    vec!["0".to_string()],
                    vec!["-".to_string()],
                ]);
            }
        }
        rows.extend(layer_rows(&net));
        let mut widths: Vec<usize> = if connected {
            GRAPH_WIDTHS.to_vec()
        } else {
            for row in &mut rows {
                row.truncate(3);
            }
            WIDTHS.to_vec()
        };
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                for text in cell {
                    *w = (*w).max(text.chars().count());
                }
            }
        }
        let rule = |left: &str, fill: &str, mid: &str, right: &str| {
            let parts: Vec<String> = widths.iter().map(|w| fill.repeat(w + 2)).collect();
            format!("{left}{}{right}\n", parts.join(mid))
        };
        let line = |bar: &str, cells: &[&str]| {
            let parts: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (text, w))| {
                    // The parameter count is right-aligned, as in Keras.
                    if i == 2 {
                        format!(" {text:>w$} ")
                    } else {
                        format!(" {text:<w$} ")
                    }
                })
                .collect();
            format!("{bar}{}{bar}\n", parts.join(bar))
        };
        let mut out = format!("Model: \"{}\"\n", self.name);
        out += &rule("┏", "━", "┳", "┓");
        let header = ["Layer (type)", "Output Shape", "Param #", "Connected to"];
        out += &line("┃", &header[..widths.len()]);
        out += &rule("┡", "━", "╇", "┩");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out += &rule("├", "─", "┼", "┤");
            }
            let height = row.iter().map(Vec::len).max().unwrap_or(1);
            for k in 0..height {
                let cells: Vec<&str> = row
                    .iter()
                    .map(|cell| cell.get(k).map_or("", String::as_str))
                    .collect();
                out += &line("│", &cells);
            }
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

/// One row per layer of `net`, in order: name and class, output shape
/// (of its first application), parameter count, and the tensors it reads.
fn layer_rows(net: &Network) -> Vec<Row> {
    let counts = net.param_counts();
    net.graph
        .entries
        .iter()
        .zip(&net.graph.names)
        .map(|(entry, name)| {
            let (class, params) = match entry {
                Entry::Layer(l) => (net.graph.layers[*l].class_name(), counts[*l]),
                Entry::Merge(m) => (net.graph.merges[*m].class_name(), 0),
            };
            let nodes = net.applications(*entry);
            let shape = nodes
                .first()
                .map_or_else(String::new, |n| shape_text(&net.node_shapes[*n]));
            let inputs: Vec<String> = nodes
                .iter()
                .flat_map(|n| net.node_inputs(*n))
                .map(|n| net.node_label(n))
                .collect();
            vec![
                vec![format!("{name} ({class})")],
                vec![shape],
                vec![thousands(params)],
                inputs,
            ]
        })
        .collect()
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
