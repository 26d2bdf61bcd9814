//! `Display` for [`Array`]: the text NumPy's `str(ndarray)` gives (what
//! `print(x)` shows in NumPy and JAX), under NumPy's default print options.
//!
//! A port of the parts of `numpy/_core/arrayprint.py` (NumPy 2.x) that our
//! dtypes reach, with the defaults `precision=8`, `floatmode='maxprec'`,
//! `suppress=False`, `threshold=1000`, `edgeitems=3`, `linewidth=75`:
//!
//! - **Layout** (`_formatArray`): nested brackets, one space between
//!   elements, rows of the last axis wrapped at 75 columns with
//!   continuation lines indented under the first element, `n-1` newlines
//!   between the blocks of an axis with `n` axes below it, and `...` for
//!   the middle of every axis longer than 6 once the array has more than
//!   1000 elements.
//! - **Element formats** are chosen once per array from the elements that
//!   are shown: integers are right-aligned to a common width, booleans print
//!   as ` True`/`False`, and floats (`FloatingFormat`) are positional with
//!   decimal points aligned, or scientific when the largest magnitude is at
//!   least `1e8` (`1e6` for `f32`: NumPy uses `10**min(8, finfo.precision)`),
//!   the smallest nonzero magnitude is below `1e-4`, or their ratio exceeds
//!   1000.
//! - **Float digits** are the shortest that round-trip in the element's own
//!   dtype (NumPy's Dragon4 "unique" mode; Rust's `{}` and `{:e}` give the
//!   same digits), rounded to 8 fractional digits when longer.
//! - **Rank 0** prints the element as NumPy prints the scalar
//!   (`str(np.float32(1))` is `1.0`), with no precision cap.
//!
//! A tracer has no values and prints as its abstract value: `Traced<f32[2,3]>`.

use crate::Array;
use rjax_ir::{Data, HostBuffer};
use std::fmt;

/// Arrays with more elements than this are summarised with `...`.
const THRESHOLD: usize = 1000;
/// Elements shown at each end of a summarised axis.
const EDGE_ITEMS: usize = 3;
/// Column at which rows wrap.
const LINE_WIDTH: usize = 75;
/// Most fractional digits printed for a float inside an array.
const PRECISION: usize = 8;

impl fmt::Display for Array {
    /// Prints like NumPy's `str(ndarray)`; see the module docs.
    ///
    /// # Example
    /// ```
    /// let x = rjax::Array::from_vec(vec![1.0f32, -2.5, 3.25, 4.0], &[2, 2]).unwrap();
    /// assert_eq!(x.to_string(), "[[ 1.   -2.5 ]\n [ 3.25  4.  ]]");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_buffer("display") {
            Ok(buffer) => f.write_str(&array_str(buffer)),
            Err(_) => write!(f, "Traced<{}>", self.aval()),
        }
    }
}

/// The NumPy `str` of a host buffer.
fn array_str(buffer: &HostBuffer) -> String {
    let (shape, data) = (buffer.shape(), buffer.data());
    if shape.is_empty() {
        return scalar_str(data);
    }
    if data.is_empty() {
        return "[]".to_string();
    }
    let summarise = data.len() > THRESHOLD;
    let strides = rjax_ir::row_major_strides(shape);
    let mut shown = Vec::new();
    shown_offsets(shape, &strides, summarise, 0, 0, &mut shown);
    let printer = Printer {
        shape,
        strides: &strides,
        summarise,
        format: ElemFormat::new(data, &shown),
    };
    printer.recurse(0, 0, " ", LINE_WIDTH)
}

/// Pushes the flat offsets of the elements that will be printed, in order
/// (NumPy's `_leading_trailing`).
fn shown_offsets(
    shape: &[usize],
    strides: &[usize],
    summarise: bool,
    axis: usize,
    base: usize,
    out: &mut Vec<usize>,
) {
    if axis == shape.len() {
        out.push(base);
        return;
    }
    for i in axis_indices(shape[axis], summarise) {
        shown_offsets(
            shape,
            strides,
            summarise,
            axis + 1,
            base + i * strides[axis],
            out,
        );
    }
}

/// The indices of an axis of length `len` that are printed.
fn axis_indices(len: usize, summarise: bool) -> Box<dyn Iterator<Item = usize>> {
    if summarise && len > 2 * EDGE_ITEMS {
        Box::new((0..EDGE_ITEMS).chain(len - EDGE_ITEMS..len))
    } else {
        Box::new(0..len)
    }
}

/// The nesting and line-wrapping half of the printer (NumPy's `_formatArray`).
struct Printer<'a> {
    shape: &'a [usize],
    strides: &'a [usize],
    summarise: bool,
    format: ElemFormat<'a>,
}

impl Printer<'_> {
    /// Formats the sub-array at `axis` starting at flat `offset`. Every line
    /// but the first starts with `hanging`; `width` is the room left before
    /// the closing brackets of the enclosing axes.
    fn recurse(&self, axis: usize, offset: usize, hanging: &str, width: usize) -> String {
        if axis == self.shape.len() {
            return self.format.format(offset);
        }
        let axes_left = self.shape.len() - axis;
        let next_hanging = format!("{hanging} ");
        let next_width = width.saturating_sub(1);
        let len = self.shape[axis];
        let show_summary = self.summarise && len > 2 * EDGE_ITEMS;
        let sub = |i: usize| {
            self.recurse(
                axis + 1,
                offset + i * self.strides[axis],
                &next_hanging,
                next_width,
            )
        };
        let (head, tail) = if show_summary {
            (0..EDGE_ITEMS, len - EDGE_ITEMS..len)
        } else {
            (0..0, 0..len)
        };
        let mut s = String::new();
        if axes_left == 1 {
            // The last axis: elements separated by spaces, wrapped to fit.
            let elem_width = width.saturating_sub(1);
            let mut line = hanging.to_string();
            for i in head {
                extend_line(&mut s, &mut line, &sub(i), elem_width, hanging);
                line.push(' ');
            }
            if show_summary {
                extend_line(&mut s, &mut line, "...", elem_width, hanging);
                line.push(' ');
            }
            for i in tail.start..len - 1 {
                extend_line(&mut s, &mut line, &sub(i), elem_width, hanging);
                line.push(' ');
            }
            extend_line(&mut s, &mut line, &sub(len - 1), elem_width, hanging);
            s.push_str(&line);
        } else {
            // Outer axes: one sub-array per line, blank lines between blocks.
            let line_sep = "\n".repeat(axes_left - 1);
            for i in head {
                s.push_str(hanging);
                s.push_str(&sub(i));
                s.push_str(&line_sep);
            }
            if show_summary {
                s.push_str(hanging);
                s.push_str("...");
                s.push_str(&line_sep);
            }
            for i in tail.start..len - 1 {
                s.push_str(hanging);
                s.push_str(&sub(i));
                s.push_str(&line_sep);
            }
            s.push_str(hanging);
            s.push_str(&sub(len - 1));
        }
        format!("[{}]", &s[hanging.len()..])
    }
}

/// Appends `word` to `line`, first moving `line` into `s` and starting a new
/// one at `indent` if the word would pass `width` (NumPy's `_extendLine`;
/// a line holding only its indent is never broken).
fn extend_line(s: &mut String, line: &mut String, word: &str, width: usize, indent: &str) {
    if line.len() + word.len() > width && line.len() > indent.len() {
        s.push_str(line.trim_end());
        s.push('\n');
        line.clear();
        line.push_str(indent);
    }
    line.push_str(word);
}

/// How every element of one array is formatted, chosen from the elements
/// that are shown.
enum ElemFormat<'a> {
    Bool(&'a [bool]),
    I32(&'a [i32], usize),
    U32(&'a [u32], usize),
    F32(&'a [f32], FloatFormat),
    F64(&'a [f64], FloatFormat),
}

impl<'a> ElemFormat<'a> {
    fn new(data: &'a Data, shown: &[usize]) -> ElemFormat<'a> {
        fn int_width<T: Copy + Ord + fmt::Display>(v: &[T], shown: &[usize]) -> usize {
            let max = shown.iter().map(|&i| v[i]).max();
            let min = shown.iter().map(|&i| v[i]).min();
            let len = |x: Option<T>| x.map_or(0, |x| x.to_string().len());
            len(max).max(len(min))
        }
        match data {
            Data::Bool(v) => ElemFormat::Bool(v),
            Data::I32(v) => ElemFormat::I32(v, int_width(v, shown)),
            Data::U32(v) => ElemFormat::U32(v, int_width(v, shown)),
            Data::F32(v) => ElemFormat::F32(v, FloatFormat::new(shown.iter().map(|&i| v[i]))),
            Data::F64(v) => ElemFormat::F64(v, FloatFormat::new(shown.iter().map(|&i| v[i]))),
        }
    }

    /// The text of the element at flat offset `i`.
    fn format(&self, i: usize) -> String {
        match self {
            ElemFormat::Bool(v) => if v[i] { " True" } else { "False" }.to_string(),
            ElemFormat::I32(v, w) => format!("{:>w$}", v[i]),
            ElemFormat::U32(v, w) => format!("{:>w$}", v[i]),
            ElemFormat::F32(v, f) => f.format(v[i]),
            ElemFormat::F64(v, f) => f.format(v[i]),
        }
    }
}

/// The float dtypes, with the constants NumPy's rules use for each.
trait Float:
    Copy + PartialOrd + fmt::Display + fmt::LowerExp + std::ops::Div<Output = Self> + std::str::FromStr
{
    const ZERO: Self;
    /// Magnitudes at or above this switch arrays to scientific notation.
    const EXP_MAX: Self;
    /// Nonzero magnitudes below this switch arrays to scientific notation.
    const EXP_MIN: Self;
    /// A max/min magnitude ratio above this switches to scientific notation.
    const EXP_RATIO: Self;
    /// Rank-0 values at or above this magnitude print in scientific notation.
    const SCALAR_MAX: f64;
    fn abs(self) -> Self;
    fn is_finite(self) -> bool;
    fn is_nan(self) -> bool;
    fn to_f64(self) -> f64;
}

macro_rules! impl_float {
    ($t:ty, $exp_max:expr, $scalar_max:expr) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const EXP_MAX: Self = $exp_max;
            const EXP_MIN: Self = 1e-4;
            const EXP_RATIO: Self = 1000.0;
            const SCALAR_MAX: f64 = $scalar_max;
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    };
}
impl_float!(f32, 1e6, 1e6);
impl_float!(f64, 1e8, 1e16);

/// A finite float split into the parts NumPy aligns: integer digits (with
/// sign), fractional digits, and the decimal exponent in scientific mode.
struct Parts {
    int: String,
    frac: String,
    exp: i32,
}

/// The digits NumPy's Dragon4 prints for `x` in "unique" mode with a cutoff
/// of `PRECISION` fractional digits, trailing zeros trimmed: the
/// [`shortest`] digits, or `x` rounded to `PRECISION` digits when those are
/// longer.
fn parts<T: Float>(x: T, scientific: bool) -> Parts {
    let shortest = shortest(x, scientific);
    let text = if split(&shortest).frac.len() > PRECISION {
        rounded(x, scientific, PRECISION)
    } else {
        shortest
    };
    let mut parts = split(&text);
    parts.frac.truncate(parts.frac.trim_end_matches('0').len());
    parts
}

/// The shortest digits that round-trip in `x`'s own dtype, positional
/// (`{}`) or scientific (`{:e}`). Dragon4 rounds the last digit to nearest
/// with ties to even, where Rust's shortest formatting rounds ties up
/// (`-288865.625f32` is `-288865.62` in NumPy, `-288865.63` from `{}`), so
/// the exactly rounded digits of the same length win when they round-trip.
fn shortest<T: Float>(x: T, scientific: bool) -> String {
    let shortest = if scientific {
        format!("{x:e}")
    } else {
        format!("{x}")
    };
    let exact = rounded(x, scientific, split(&shortest).frac.len());
    if exact.parse::<T>().is_ok_and(|y| y == x) {
        exact
    } else {
        shortest
    }
}

/// `x` rounded exactly (ties to even) to `digits` fractional digits, as
/// Rust's `{:.N}` and `{:.Ne}` do.
fn rounded<T: Float>(x: T, scientific: bool, digits: usize) -> String {
    if scientific {
        format!("{x:.digits$e}")
    } else {
        format!("{x:.digits$}")
    }
}

/// Splits Rust's float text (`-1.25`, `1.5e-5`) into its parts.
fn split(s: &str) -> Parts {
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    Parts {
        int: int.to_string(),
        frac: frac.to_string(),
        exp: exp.parse().unwrap_or(0),
    }
}

/// NumPy's `FloatingFormat` in `maxprec` mode: the padding and notation
/// shared by every element of an array.
struct FloatFormat {
    scientific: bool,
    /// Width of the integer part (with sign).
    pad_left: usize,
    /// Width after the decimal point (in scientific mode: mantissa digits,
    /// `e`, sign and exponent digits).
    pad_right: usize,
    /// Scientific mode: fractional mantissa digits, zero-padded.
    precision: usize,
    /// Scientific mode: exponent digits, zero-padded.
    exp_digits: usize,
}

impl FloatFormat {
    fn new<T: Float>(values: impl Iterator<Item = T> + Clone) -> FloatFormat {
        let finite = values.clone().filter(|x| x.is_finite());
        let mut nonzero = finite.clone().map(Float::abs).filter(|&a| a != T::ZERO);
        let scientific = nonzero.next().is_some_and(|first| {
            let (min, max) = nonzero.fold((first, first), |(lo, hi), a| {
                (if a < lo { a } else { lo }, if a > hi { a } else { hi })
            });
            max >= T::EXP_MAX || min < T::EXP_MIN || max / min > T::EXP_RATIO
        });
        let mut format = FloatFormat {
            scientific,
            pad_left: 0,
            pad_right: 0,
            precision: 0,
            exp_digits: 0,
        };
        for p in finite.map(|x| parts(x, scientific)) {
            format.pad_left = format.pad_left.max(p.int.len());
            format.precision = format.precision.max(p.frac.len());
            format.exp_digits = format.exp_digits.max(exp_digits(p.exp).len());
        }
        format.pad_right = if scientific {
            format.exp_digits + 2 + format.precision
        } else {
            format.precision
        };
        // Room for `nan`, `inf` and `-inf`, right-aligned in the full width.
        let neg_inf = usize::from(
            values
                .clone()
                .any(|x| !x.is_finite() && !x.is_nan() && x < T::ZERO),
        );
        if values.clone().any(|x| !x.is_finite()) {
            let needed = 3 + neg_inf;
            format.pad_left = format
                .pad_left
                .max(needed.saturating_sub(format.pad_right + 1));
        }
        format
    }

    fn format<T: Float>(&self, x: T) -> String {
        let width = self.pad_left + self.pad_right + 1;
        if !x.is_finite() {
            return format!("{:>width$}", non_finite(x));
        }
        let mut p = parts(x, self.scientific);
        if self.scientific && p.frac.len() < self.precision {
            // Dragon4's `min_digits`: the exact digits continue past the
            // shortest ones (`8.3183078e+08` for `831830784f32`, not `...80e+08`).
            p = split(&rounded(x, true, self.precision));
        }
        let (int, pad_left) = (&p.int, self.pad_left);
        if self.scientific {
            let (frac, precision) = (&p.frac, self.precision);
            let sign = if p.exp < 0 { '-' } else { '+' };
            let exp = format!("{:0>w$}", exp_digits(p.exp), w = self.exp_digits);
            format!("{int:>pad_left$}.{frac:0<precision$}e{sign}{exp}")
        } else {
            format!("{int:>pad_left$}.{:<w$}", p.frac, w = self.pad_right)
        }
    }
}

/// The digits of an exponent's magnitude, at least two of them.
fn exp_digits(exp: i32) -> String {
    format!("{:02}", exp.unsigned_abs())
}

/// `nan`, `inf` or `-inf`.
fn non_finite<T: Float>(x: T) -> &'static str {
    if x.is_nan() {
        "nan"
    } else if x > T::ZERO {
        "inf"
    } else {
        "-inf"
    }
}

/// A rank-0 array, printed as NumPy prints the scalar: `True`, `3`, `1.0`,
/// `2.5`, `1e-05`, `1.5e+16`.
fn scalar_str(data: &Data) -> String {
    match data {
        Data::Bool(v) => if v[0] { "True" } else { "False" }.to_string(),
        Data::I32(v) => v[0].to_string(),
        Data::U32(v) => v[0].to_string(),
        Data::F32(v) => float_scalar_str(v[0]),
        Data::F64(v) => float_scalar_str(v[0]),
    }
}

/// NumPy's scalar `str` for floats: positional with at least one
/// fractional digit when `1e-4 <= |x| < SCALAR_MAX` (or `x` is zero),
/// otherwise scientific with trailing zeros and a bare point trimmed; the
/// digits are the shortest that round-trip, never capped.
fn float_scalar_str<T: Float>(x: T) -> String {
    if !x.is_finite() {
        return non_finite(x).to_string();
    }
    let a = x.abs().to_f64();
    if a == 0.0 || (1e-4..T::SCALAR_MAX).contains(&a) {
        let mut s = shortest(x, false);
        if !s.contains('.') {
            s.push_str(".0");
        }
        return s;
    }
    let p = split(&shortest(x, true));
    let point = if p.frac.is_empty() { "" } else { "." };
    let sign = if p.exp < 0 { '-' } else { '+' };
    format!("{}{point}{}e{sign}{}", p.int, p.frac, exp_digits(p.exp))
}
