//! The jaxpr printer: a text form close to JAX's.
//!
//! ```text
//! { lambda a:f32[2000,2] ; b:f32[2,1] c:f32[1]. let
//!     d:f32[2000,1] = dot_general[lhs_contract=(1,) rhs_contract=(0,) lhs_batch=() rhs_batch=()] a b
//!     e:f32[2000,1] = add d c
//!     f:f32[] = mul 2.0:f32[] e
//!   in (e, f) }
//! ```
//!
//! - Constant variables come before the `;`, inputs after it. Every binder
//!   (constvar, invar, equation output) prints as `name:aval`; uses print the
//!   name only.
//! - Names follow JAX's scheme: `a`..`z`, then `ba`, `bb`, .., `bz`, `ca`, ..
//!   (the ordinal written in base 26 with digits `a`..`z`), assigned in order
//!   of first definition: constvars, invars, then equation outputs. Each jaxpr,
//!   nested ones included, names its own variables from `a`.
//! - A variable that is never defined, or whose index is outside the jaxpr's
//!   `avals`, prints as `?17` (its raw index), so broken jaxprs still print.
//! - Parameters print in brackets after the primitive name as `key=value`,
//!   separated by single spaces, in declaration order: integer lists and
//!   shapes as tuples (`()`, `(1,)`, `(0, 1)`), dtypes by name (`f32`),
//!   booleans as `True`/`False`, scatter kinds by name (`add`). Primitives
//!   without parameters print no brackets.
//! - Literals print as `value:dtype[]`: `2.0:f32[]`, `1e-8:f64[]`,
//!   `nan:f32[]`, `-inf:f32[]`, `3:i32[]`, `True:bool[]`.
//! - Higher-order primitives put each parameter on its own line, with their
//!   jaxprs indented inside, as JAX does:
//!
//! ```text
//!     c:f32[] = cond[
//!       branches=(
//!         { lambda ; a:f32[]. let
//!             b:f32[] = neg a
//!           in (b,) }
//!         { lambda ; a:f32[]. let
//!             b:f32[] = sin a
//!           in (b,) }
//!       )
//!     ] a b
//! ```
//!
//! An equation's source location is not printed. The verifier
//! ([`crate::verify`]) reuses this printer to show its problems inline.

use crate::buffer::Scalar;
use crate::dtype::DType;
use crate::jaxpr::{Atom, ClosedJaxpr, Jaxpr, Var};
use crate::primitive::Primitive;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

impl fmt::Display for Jaxpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Printer::new(self).render(None))
    }
}

impl fmt::Display for ClosedJaxpr {
    /// Prints the jaxpr; the constants' values are not printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.jaxpr, f)
    }
}

/// Equation `index` of `jaxpr` as it appears in the jaxpr's full print, with
/// the same variable names, starting at column 0 (the lines of a
/// higher-order primitive's parameters are indented relative to it).
///
/// # Panics
/// If `index` is not below `jaxpr.eqns.len()`.
pub fn eqn_to_string(jaxpr: &Jaxpr, index: usize) -> String {
    assert!(
        index < jaxpr.eqns.len(),
        "eqn_to_string: equation {index} out of range (the jaxpr has {} equations)",
        jaxpr.eqns.len()
    );
    Printer::new(jaxpr).eqn(index)
}

/// The name JAX gives to the variable of ordinal `n`: `a`..`z`, `ba`, ...
fn alpha_name(mut n: usize) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// The printed names of a jaxpr's variables, computed once per jaxpr.
#[derive(Clone, Debug)]
pub(crate) struct Names {
    /// Ordinal of each in-range variable in order of first definition.
    ordinal: Vec<Option<usize>>,
}

impl Names {
    /// Names the variables of `jaxpr` in order of first definition.
    pub(crate) fn new(jaxpr: &Jaxpr) -> Names {
        let mut ordinal = vec![None; jaxpr.avals.len()];
        let mut next = 0;
        let defs = jaxpr
            .constvars
            .iter()
            .chain(&jaxpr.invars)
            .chain(jaxpr.eqns.iter().flat_map(|e| &e.outputs));
        for v in defs {
            if let Some(slot @ None) = ordinal.get_mut(v.index()) {
                *slot = Some(next);
                next += 1;
            }
        }
        Names { ordinal }
    }

    /// True when `v` is in range and defined somewhere in the jaxpr.
    pub(crate) fn is_named(&self, v: Var) -> bool {
        matches!(self.ordinal.get(v.index()), Some(Some(_)))
    }

    /// The printed name of `v`, or `?index` for an undefined or
    /// out-of-range variable.
    pub(crate) fn var(&self, v: Var) -> String {
        match self.ordinal.get(v.index()) {
            Some(Some(n)) => alpha_name(*n),
            _ => format!("?{}", v.0),
        }
    }
}

/// Comment lines the printer interleaves with a jaxpr's text (the
/// verifier's `error: ...` lines). Each line prints as `; text` at the
/// indentation of the thing it follows.
#[derive(Clone, Debug, Default)]
pub(crate) struct Notes {
    /// Lines right after the `{ lambda ... let` line.
    pub(crate) header: Vec<String>,
    /// Lines after equation `i` (after all of its lines).
    pub(crate) eqns: BTreeMap<usize, Vec<String>>,
    /// Notes for sub-jaxpr `k` (in [`Primitive::sub_jaxprs`] order) of
    /// equation `i`, keyed by `(i, k)`.
    pub(crate) subs: BTreeMap<(usize, usize), Notes>,
    /// Lines after the closing `in (...) }` line.
    pub(crate) footer: Vec<String>,
}

/// Prints one jaxpr, with its names computed once.
pub(crate) struct Printer<'a> {
    jaxpr: &'a Jaxpr,
    names: Names,
}

impl<'a> Printer<'a> {
    /// A printer for `jaxpr`.
    pub(crate) fn new(jaxpr: &'a Jaxpr) -> Printer<'a> {
        Printer {
            jaxpr,
            names: Names::new(jaxpr),
        }
    }

    /// The names of the jaxpr's variables.
    pub(crate) fn names(&self) -> &Names {
        &self.names
    }

    /// A variable's name (`?17` if undefined or out of range).
    pub(crate) fn var(&self, v: Var) -> String {
        self.names.var(v)
    }

    /// An operand: a name, or a literal such as `2.0:f32[]`.
    pub(crate) fn atom(&self, atom: &Atom) -> String {
        match atom {
            Atom::Var(v) => self.var(*v),
            Atom::Lit(s) => literal(*s),
        }
    }

    /// A binder, `name:aval` (just `?17` when out of range).
    fn binder(&self, v: Var) -> String {
        match self.jaxpr.avals.get(v.index()) {
            Some(aval) => format!("{}:{}", self.var(v), aval),
            None => self.var(v),
        }
    }

    /// Equation `i` at column 0.
    pub(crate) fn eqn(&self, i: usize) -> String {
        let mut out = String::new();
        self.write_eqn(&mut out, i, 0, None);
        out
    }

    /// The whole jaxpr, with `notes` interleaved.
    pub(crate) fn render(&self, notes: Option<&Notes>) -> String {
        let mut out = String::new();
        self.write_jaxpr(&mut out, 0, notes);
        out
    }

    /// Writes the jaxpr whose `{` the caller has placed at column `base`:
    /// equations go at `base + 4` and the `in` line at `base + 2`.
    fn write_jaxpr(&self, out: &mut String, base: usize, notes: Option<&Notes>) {
        let j = self.jaxpr;
        out.push_str("{ lambda ");
        for v in &j.constvars {
            out.push_str(&self.binder(*v));
            out.push(' ');
        }
        out.push_str("; ");
        let invars: Vec<String> = j.invars.iter().map(|v| self.binder(*v)).collect();
        out.push_str(&invars.join(" "));
        out.push_str(". let");
        if let Some(n) = notes {
            write_notes(out, base + 4, &n.header);
        }
        for i in 0..j.eqns.len() {
            newline(out, base + 4);
            self.write_eqn(out, i, base + 4, notes);
            if let Some(lines) = notes.and_then(|n| n.eqns.get(&i)) {
                write_notes(out, base + 4, lines);
            }
        }
        newline(out, base + 2);
        out.push_str("in ");
        out.push_str(&tuple(j.outvars.iter().map(|a| self.atom(a))));
        out.push_str(" }");
        if let Some(n) = notes {
            write_notes(out, base + 2, &n.footer);
        }
    }

    /// Writes equation `i`, whose first character the caller has placed at
    /// column `indent`. `notes` are the enclosing jaxpr's.
    fn write_eqn(&self, out: &mut String, i: usize, indent: usize, notes: Option<&Notes>) {
        let eqn = &self.jaxpr.eqns[i];
        if !eqn.outputs.is_empty() {
            let outs: Vec<String> = eqn.outputs.iter().map(|v| self.binder(*v)).collect();
            out.push_str(&outs.join(" "));
            out.push_str(" = ");
        }
        out.push_str(eqn.prim.name());
        let params = params(&eqn.prim);
        let nested = params.iter().any(|(_, p)| !matches!(p, Param::Text(_)));
        if nested {
            out.push('[');
            let mut k = 0;
            for (key, value) in &params {
                newline(out, indent + 2);
                out.push_str(key);
                out.push('=');
                match value {
                    Param::Text(text) => out.push_str(text),
                    Param::Jaxpr(sub) => {
                        let sub_notes = notes.and_then(|n| n.subs.get(&(i, k)));
                        Printer::new(&sub.jaxpr).write_jaxpr(out, indent + 2, sub_notes);
                        k += 1;
                    }
                    Param::Jaxprs([]) => out.push_str("()"),
                    Param::Jaxprs(subs) => {
                        out.push('(');
                        for sub in subs.iter() {
                            newline(out, indent + 4);
                            let sub_notes = notes.and_then(|n| n.subs.get(&(i, k)));
                            Printer::new(&sub.jaxpr).write_jaxpr(out, indent + 4, sub_notes);
                            k += 1;
                        }
                        newline(out, indent + 2);
                        out.push(')');
                    }
                }
            }
            newline(out, indent);
            out.push(']');
        } else if !params.is_empty() {
            let texts: Vec<String> = params
                .iter()
                .map(|(key, value)| match value {
                    Param::Text(text) => format!("{key}={text}"),
                    Param::Jaxpr(_) | Param::Jaxprs(_) => unreachable!("checked above"),
                })
                .collect();
            out.push('[');
            out.push_str(&texts.join(" "));
            out.push(']');
        }
        for atom in &eqn.inputs {
            out.push(' ');
            out.push_str(&self.atom(atom));
        }
    }
}

/// Starts a new line indented to `indent`.
fn newline(out: &mut String, indent: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Writes each note (each of its lines) as `; text` on its own line.
fn write_notes(out: &mut String, indent: usize, notes: &[String]) {
    for line in notes.iter().flat_map(|n| n.lines()) {
        newline(out, indent);
        out.push_str("; ");
        out.push_str(line);
    }
}

/// Python tuple syntax: `()`, `(a,)`, `(a, b)`.
fn tuple<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|x| x.to_string()).collect();
    match items.len() {
        1 => format!("({},)", items[0]),
        _ => format!("({})", items.join(", ")),
    }
}

/// `True` or `False`, as JAX prints booleans.
fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// A float that always reads as one: `2.0`, `1e-8`, `nan`, `inf`, `-inf`.
fn float_text<T: fmt::Debug + Into<f64> + Copy>(x: T) -> String {
    let wide: f64 = x.into();
    if wide.is_nan() {
        return "nan".to_string();
    }
    if wide.is_infinite() {
        return if wide > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let text = format!("{x:?}");
    if text.contains(['.', 'e', 'E']) {
        text
    } else {
        text + ".0"
    }
}

/// A literal operand: `2.0:f32[]`, `3:i32[]`, `True:bool[]`.
fn literal(s: Scalar) -> String {
    let value = match s {
        Scalar::F32(x) => float_text(x),
        Scalar::F64(x) => float_text(x),
        Scalar::I32(x) => x.to_string(),
        Scalar::U32(x) => x.to_string(),
        Scalar::Bool(x) => py_bool(x).to_string(),
    };
    format!("{value}:{}[]", s.dtype())
}

/// A parameter value.
enum Param<'p> {
    /// Printed inline.
    Text(String),
    /// One jaxpr.
    Jaxpr(&'p ClosedJaxpr),
    /// A tuple of jaxprs.
    Jaxprs(&'p [Arc<ClosedJaxpr>]),
}

/// The parameters of a primitive, in declaration order. Sub-jaxprs appear in
/// the same order as [`Primitive::sub_jaxprs`].
fn params(prim: &Primitive) -> Vec<(&'static str, Param<'_>)> {
    use Primitive as P;
    let ints = |xs: &[usize]| Param::Text(tuple(xs));
    let int = |x: usize| Param::Text(x.to_string());
    let dtype = |d: DType| Param::Text(d.name().to_string());
    let boolean = |b: bool| Param::Text(py_bool(b).to_string());
    match prim {
        P::Neg
        | P::Exp
        | P::Log
        | P::Log1p
        | P::Expm1
        | P::Sin
        | P::Cos
        | P::Tanh
        | P::Logistic
        | P::Sqrt
        | P::Rsqrt
        | P::Abs
        | P::Sign
        | P::Floor
        | P::Ceil
        | P::Round
        | P::Erf
        | P::Not
        | P::IsFinite
        | P::Add
        | P::Sub
        | P::Mul
        | P::Div
        | P::Rem
        | P::Pow
        | P::Max
        | P::Min
        | P::And
        | P::Or
        | P::Xor
        | P::Eq
        | P::Ne
        | P::Lt
        | P::Le
        | P::Gt
        | P::Ge
        | P::Select
        | P::DynamicUpdateSlice
        | P::StopGradient => vec![],
        P::ConvertElementType { new_dtype } => vec![("new_dtype", dtype(*new_dtype))],
        P::BroadcastInDim {
            shape,
            broadcast_dimensions,
        } => vec![
            ("shape", ints(shape)),
            ("broadcast_dimensions", ints(broadcast_dimensions)),
        ],
        P::Reshape { new_sizes } => vec![("new_sizes", ints(new_sizes))],
        P::Transpose { permutation } => vec![("permutation", ints(permutation))],
        P::ReduceSum { axes }
        | P::ReduceMax { axes }
        | P::ReduceMin { axes }
        | P::ReduceProd { axes }
        | P::Rev { axes } => vec![("axes", ints(axes))],
        P::ArgMax { axis, index_dtype } | P::ArgMin { axis, index_dtype } => {
            vec![("axis", int(*axis)), ("index_dtype", dtype(*index_dtype))]
        }
        P::Cumsum { axis, reverse } => vec![("axis", int(*axis)), ("reverse", boolean(*reverse))],
        P::DotGeneral {
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
        } => vec![
            ("lhs_contract", ints(lhs_contract)),
            ("rhs_contract", ints(rhs_contract)),
            ("lhs_batch", ints(lhs_batch)),
            ("rhs_batch", ints(rhs_batch)),
        ],
        P::Slice {
            start,
            limit,
            strides,
        } => vec![
            ("start", ints(start)),
            ("limit", ints(limit)),
            ("strides", ints(strides)),
        ],
        P::Pad {
            low,
            high,
            interior,
        } => vec![
            ("low", Param::Text(tuple(low))),
            ("high", Param::Text(tuple(high))),
            ("interior", ints(interior)),
        ],
        P::Concatenate { axis } | P::Gather { axis } => vec![("axis", int(*axis))],
        P::DynamicSlice { slice_sizes } => vec![("slice_sizes", ints(slice_sizes))],
        P::Scatter { axis, kind } => {
            vec![
                ("axis", int(*axis)),
                ("kind", Param::Text(kind.name().to_string())),
            ]
        }
        P::Iota {
            dtype: d,
            shape,
            dimension,
        } => {
            vec![
                ("dtype", dtype(*d)),
                ("shape", ints(shape)),
                ("dimension", int(*dimension)),
            ]
        }
        P::RandomBits { shape } => vec![("shape", ints(shape))],
        P::Call { jaxpr, name } => {
            vec![
                ("jaxpr", Param::Jaxpr(jaxpr)),
                ("name", Param::Text(name.clone())),
            ]
        }
        P::Cond { branches } => vec![("branches", Param::Jaxprs(branches))],
        P::While {
            cond_jaxpr,
            body_jaxpr,
        } => vec![
            ("cond_jaxpr", Param::Jaxpr(cond_jaxpr)),
            ("body_jaxpr", Param::Jaxpr(body_jaxpr)),
        ],
        P::Scan {
            body,
            length,
            reverse,
            num_consts,
            num_carry,
        } => vec![
            ("body", Param::Jaxpr(body)),
            ("length", int(*length)),
            ("reverse", boolean(*reverse)),
            ("num_consts", int(*num_consts)),
            ("num_carry", int(*num_carry)),
        ],
        P::CustomJvpCall { call, jvp } => {
            vec![("call", Param::Jaxpr(call)), ("jvp", Param::Jaxpr(jvp))]
        }
        P::CustomVjpCall {
            call,
            fwd,
            bwd,
            num_outputs,
        } => vec![
            ("call", Param::Jaxpr(call)),
            ("fwd", Param::Jaxpr(fwd)),
            ("bwd", Param::Jaxpr(bwd)),
            ("num_outputs", int(*num_outputs)),
        ],
        P::CustomLin { bwd, num_residuals } => {
            vec![
                ("bwd", Param::Jaxpr(bwd)),
                ("num_residuals", int(*num_residuals)),
            ]
        }
    }
}

/// A label for each sub-jaxpr of `prim`, in [`Primitive::sub_jaxprs`] order:
/// the parameter name, indexed for tuples (`body`, `branches[1]`).
pub(crate) fn sub_jaxpr_labels(prim: &Primitive) -> Vec<String> {
    let mut labels = Vec::new();
    for (key, value) in params(prim) {
        match value {
            Param::Text(_) => {}
            Param::Jaxpr(_) => labels.push(key.to_string()),
            Param::Jaxprs(list) => labels.extend((0..list.len()).map(|i| format!("{key}[{i}]"))),
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::HostBuffer;
    use crate::dtype::{shape_of, AVal};
    use crate::jaxpr::Eqn;
    use crate::ScatterKind;

    /// A golden file from `ir/tests/golden`, without its final newline.
    macro_rules! golden {
        ($name:literal) => {
            include_str!(concat!("../tests/golden/", $name)).trim_end_matches('\n')
        };
    }

    fn f32a(shape: &[usize]) -> AVal {
        AVal::new(DType::F32, shape)
    }

    /// Parses avals written as printed: `"f32[2,3] i32[]"`.
    fn avals(text: &str) -> Vec<AVal> {
        let parse = |t: &str| {
            let (dtype, dims) = t.trim_end_matches(']').split_once('[').unwrap();
            let dims = dims
                .split(',')
                .filter(|d| !d.is_empty())
                .map(|d| d.parse().unwrap());
            AVal::new(
                DType::from_name(dtype).unwrap(),
                &dims.collect::<Vec<usize>>(),
            )
        };
        text.split_whitespace().map(parse).collect()
    }

    fn var(i: u32) -> Atom {
        Atom::Var(Var(i))
    }

    fn lit(s: Scalar) -> Atom {
        Atom::Lit(s)
    }

    fn vars(indices: &[u32]) -> Vec<Var> {
        indices.iter().map(|&i| Var(i)).collect()
    }

    fn eqn(prim: Primitive, inputs: Vec<Atom>, outputs: &[u32]) -> Eqn {
        Eqn {
            prim,
            inputs,
            outputs: vars(outputs),
            loc: None,
        }
    }

    /// A jaxpr from its parts, variables given by index.
    fn jx(avals: Vec<AVal>, consts: &[u32], ins: &[u32], eqns: Vec<Eqn>, outs: Vec<Atom>) -> Jaxpr {
        Jaxpr {
            avals,
            constvars: vars(consts),
            invars: vars(ins),
            eqns,
            outvars: outs,
        }
    }

    fn closed(jaxpr: Jaxpr) -> Arc<ClosedJaxpr> {
        Arc::new(ClosedJaxpr {
            jaxpr,
            consts: vec![],
        })
    }

    /// The jaxpr `f32[] -> f32[]` applying `prim`.
    fn unary(prim: Primitive) -> Arc<ClosedJaxpr> {
        let eqns = vec![eqn(prim, vec![var(0)], &[1])];
        closed(jx(vec![f32a(&[]); 2], &[], &[0], eqns, vec![var(1)]))
    }

    #[test]
    fn linear_classifier_forward() {
        // Squared-error loss of a linear model: sum((x @ w + b - y)^2) / 4.
        let mut avals = avals("f32[2,1] f32[1] f32[4,2]");
        avals.extend(vec![f32a(&[4, 1]); 6]);
        avals.extend(vec![f32a(&[]); 2]);
        let dot = Primitive::DotGeneral {
            lhs_contract: vec![1],
            rhs_contract: vec![0],
            lhs_batch: vec![],
            rhs_batch: vec![],
        };
        let bcast = Primitive::BroadcastInDim {
            shape: shape_of(&[4, 1]),
            broadcast_dimensions: vec![1],
        };
        let eqns = vec![
            eqn(dot, vec![var(2), var(0)], &[4]),
            eqn(bcast, vec![var(1)], &[5]),
            eqn(Primitive::Add, vec![var(4), var(5)], &[6]),
            eqn(Primitive::Sub, vec![var(6), var(3)], &[7]),
            eqn(Primitive::Mul, vec![var(7), var(7)], &[8]),
            eqn(
                Primitive::ReduceSum { axes: vec![0, 1] },
                vec![var(8)],
                &[9],
            ),
            eqn(Primitive::Mul, vec![var(9), lit(Scalar::F32(0.25))], &[10]),
        ];
        let jaxpr = jx(avals, &[], &[0, 1, 2, 3], eqns, vec![var(6), var(10)]);
        let expected = golden!("printer_linear_classifier.txt");
        assert_eq!(jaxpr.to_string(), expected);
        assert_eq!(closed(jaxpr.clone()).to_string(), expected);
        assert_eq!(eqn_to_string(&jaxpr, 3), "h:f32[4,1] = sub g d");
    }

    #[test]
    fn literals_and_constvars() {
        let avals = avals(
            "f32[3] i32[] f64[2] u32[8] bool[] f32[3] f64[2] i32[] u32[8] bool[] i32[2,3] f64[2]",
        );
        let iota = Primitive::Iota {
            dtype: DType::I32,
            shape: shape_of(&[2, 3]),
            dimension: 1,
        };
        let select_args = vec![lit(Scalar::Bool(false)), lit(Scalar::F64(f64::NAN)), var(6)];
        let eqns = vec![
            eqn(Primitive::Mul, vec![var(0), lit(Scalar::F32(2.0))], &[5]),
            eqn(Primitive::Add, vec![var(2), lit(Scalar::F64(1e-10))], &[6]),
            eqn(Primitive::Sub, vec![var(1), lit(Scalar::I32(-3))], &[7]),
            eqn(Primitive::Xor, vec![var(3), lit(Scalar::U32(7))], &[8]),
            eqn(Primitive::And, vec![var(4), lit(Scalar::Bool(true))], &[9]),
            eqn(iota, vec![], &[10]),
            eqn(Primitive::Select, select_args, &[11]),
        ];
        let outs = [f32::INFINITY, f32::NEG_INFINITY, 1e20, 0.1].map(|x| lit(Scalar::F32(x)));
        let mut outvars = vec![var(5), var(11)];
        outvars.extend(&outs[..2]);
        outvars.push(lit(Scalar::F64(-0.0)));
        outvars.extend(&outs[2..]);
        let jaxpr = jx(avals, &[0, 1], &[2, 3, 4], eqns, outvars);
        let expected = golden!("printer_literals.txt");
        assert_eq!(jaxpr.to_string(), expected);
        // The constants' values are not printed.
        let consts = vec![
            HostBuffer::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap(),
            HostBuffer::scalar(Scalar::I32(4)),
        ];
        assert_eq!(ClosedJaxpr::new(jaxpr, consts).to_string(), expected);
    }

    #[test]
    fn params_of_every_kind() {
        use Primitive as P;
        let cases = [
            (
                P::ConvertElementType {
                    new_dtype: DType::Bool,
                },
                "[new_dtype=bool]",
            ),
            (
                P::Reshape {
                    new_sizes: shape_of(&[6]),
                },
                "[new_sizes=(6,)]",
            ),
            (
                P::Transpose {
                    permutation: vec![1, 0],
                },
                "[permutation=(1, 0)]",
            ),
            (
                P::ArgMax {
                    axis: 1,
                    index_dtype: DType::I32,
                },
                "[axis=1 index_dtype=i32]",
            ),
            (
                P::Cumsum {
                    axis: 0,
                    reverse: true,
                },
                "[axis=0 reverse=True]",
            ),
            (
                P::Scatter {
                    axis: 0,
                    kind: ScatterKind::Add,
                },
                "[axis=0 kind=add]",
            ),
            (
                P::RandomBits {
                    shape: shape_of(&[]),
                },
                "[shape=()]",
            ),
            (P::StopGradient, ""),
            (
                P::Slice {
                    start: vec![0],
                    limit: vec![4],
                    strides: vec![2],
                },
                "[start=(0,) limit=(4,) strides=(2,)]",
            ),
            (
                P::Pad {
                    low: vec![-1, 0],
                    high: vec![2, 0],
                    interior: vec![0, 1],
                },
                "[low=(-1, 0) high=(2, 0) interior=(0, 1)]",
            ),
        ];
        for (prim, params) in cases {
            let name = prim.name();
            let eqns = vec![eqn(prim, vec![var(0)], &[1])];
            let jaxpr = jx(vec![f32a(&[4]); 2], &[], &[0], eqns, vec![var(1)]);
            assert_eq!(
                eqn_to_string(&jaxpr, 0),
                format!("b:f32[4] = {name}{params} a")
            );
        }
    }

    #[test]
    fn cond_and_scan_nest() {
        // A scan body (carry, x) -> (carry', y) with a cond inside.
        let cond = Primitive::Cond {
            branches: vec![unary(Primitive::Neg), unary(Primitive::Sin)],
        };
        let to_i32 = Primitive::ConvertElementType {
            new_dtype: DType::I32,
        };
        let body_avals = avals("f32[] f32[] i32[] bool[] f32[] f32[]");
        let eqns = vec![
            eqn(Primitive::Gt, vec![var(1), lit(Scalar::F32(0.0))], &[3]),
            eqn(to_i32, vec![var(3)], &[2]),
            eqn(cond, vec![var(2), var(0)], &[4]),
            eqn(Primitive::Add, vec![var(4), var(1)], &[5]),
        ];
        let body = closed(jx(body_avals, &[], &[0, 1], eqns, vec![var(5), var(4)]));
        let scan = Primitive::Scan {
            body,
            length: 5,
            reverse: false,
            num_consts: 0,
            num_carry: 1,
        };
        let eqns = vec![eqn(scan, vec![var(0), var(1)], &[2, 3])];
        let avals = avals("f32[] f32[5] f32[] f32[5]");
        let jaxpr = jx(avals, &[], &[0, 1], eqns, vec![var(2), var(3)]);
        assert_eq!(jaxpr.to_string(), golden!("printer_scan_cond.txt"));
        let eqn0 = eqn_to_string(&jaxpr, 0);
        let head = "c:f32[] d:f32[5] = scan[\n  body={ lambda ; a:f32[] b:f32[]. let\n";
        assert!(eqn0.starts_with(head), "{eqn0}");
        assert!(eqn0.ends_with("\n  num_carry=1\n] a b"), "{eqn0}");
    }

    #[test]
    fn call_while_and_custom_rules() {
        let f = unary(Primitive::Exp);
        let empty = closed(jx(vec![f32a(&[])], &[], &[0], vec![], vec![var(0)]));
        let call = Primitive::Call {
            jaxpr: f.clone(),
            name: "f".into(),
        };
        let while_ = Primitive::While {
            cond_jaxpr: f.clone(),
            body_jaxpr: empty,
        };
        let eqns = vec![
            eqn(call, vec![var(0)], &[1]),
            eqn(while_, vec![var(1)], &[2]),
            eqn(Primitive::Cond { branches: vec![] }, vec![var(2)], &[3]),
        ];
        let jaxpr = jx(vec![f32a(&[]); 4], &[], &[0], eqns, vec![var(3)]);
        assert_eq!(jaxpr.to_string(), golden!("printer_call_while.txt"));
        let vjp = Primitive::CustomVjpCall {
            call: f.clone(),
            fwd: f.clone(),
            bwd: f,
            num_outputs: 1,
        };
        assert_eq!(sub_jaxpr_labels(&vjp), ["call", "fwd", "bwd"]);
        let cond = Primitive::Cond {
            branches: vec![unary(Primitive::Neg); 2],
        };
        assert_eq!(sub_jaxpr_labels(&cond), ["branches[0]", "branches[1]"]);
        assert!(sub_jaxpr_labels(&Primitive::Add).is_empty());
    }

    #[test]
    fn names_roll_over_after_z() {
        let cases = [
            (0, "a"),
            (25, "z"),
            (26, "ba"),
            (27, "bb"),
            (51, "bz"),
            (52, "ca"),
        ];
        for (n, name) in cases.into_iter().chain([(675, "zz"), (676, "baa")]) {
            assert_eq!(alpha_name(n), name);
        }
        // A chain of 30 negations: a, b = neg a, ..., bd = neg bc.
        let eqns = (1..30)
            .map(|i| eqn(Primitive::Neg, vec![var(i - 1)], &[i]))
            .collect();
        let jaxpr = jx(vec![f32a(&[]); 30], &[], &[0], eqns, vec![var(29)]);
        let text = jaxpr.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "{ lambda ; a:f32[]. let");
        assert_eq!(lines[25], "    z:f32[] = neg y");
        assert_eq!(lines[26], "    ba:f32[] = neg z");
        assert_eq!(lines[27], "    bb:f32[] = neg ba");
        assert_eq!(lines[29], "    bd:f32[] = neg bc");
        assert_eq!(lines[30], "  in (bd,) }");
        assert_eq!(eqn_to_string(&jaxpr, 26), "bb:f32[] = neg ba");
    }

    #[test]
    fn names_follow_definition_order_not_index() {
        let eqns = vec![
            eqn(Primitive::Sin, vec![var(2)], &[1]),
            eqn(Primitive::Cos, vec![var(1)], &[0]),
        ];
        let jaxpr = jx(vec![f32a(&[]); 3], &[], &[2], eqns, vec![var(0)]);
        let expected =
            "{ lambda ; a:f32[]. let\n    b:f32[] = sin a\n    c:f32[] = cos b\n  in (c,) }";
        assert_eq!(jaxpr.to_string(), expected);
    }

    #[test]
    fn broken_jaxprs_print_without_panicking() {
        // Var 5 is in range but never defined; 17 and 99 are out of range.
        let eqns = vec![
            eqn(Primitive::Add, vec![var(0), var(5)], &[1]),
            eqn(Primitive::Mul, vec![var(17), var(1)], &[17, 1]),
            eqn(Primitive::Neg, vec![var(3)], &[3]),
        ];
        let outs = vec![var(4), var(17), var(3)];
        let jaxpr = jx(vec![f32a(&[2]); 6], &[99], &[0, 0], eqns, outs);
        let expected = "\
{ lambda ?99 ; a:f32[2] a:f32[2]. let
    b:f32[2] = add a ?5
    ?17 b:f32[2] = mul ?17 b
    c:f32[2] = neg c
  in (?4, ?17, c) }";
        assert_eq!(jaxpr.to_string(), expected);
        assert_eq!(Jaxpr::default().to_string(), "{ lambda ; . let\n  in () }");
    }

    #[test]
    fn notes_are_interleaved() {
        let call = Primitive::Call {
            jaxpr: unary(Primitive::Neg),
            name: "g".into(),
        };
        let eqns = vec![eqn(call, vec![var(0)], &[1])];
        let jaxpr = jx(vec![f32a(&[]); 2], &[], &[0], eqns, vec![var(1)]);
        let mut sub = Notes::default();
        sub.eqns.insert(0, vec!["inner eqn".into()]);
        sub.header.push("inner header".into());
        sub.footer.push("inner footer".into());
        let mut notes = Notes::default();
        notes.header.push("top".into());
        notes.eqns.insert(0, vec!["under call\nsecond line".into()]);
        notes.subs.insert((0, 0), sub);
        notes.footer.push("bottom".into());
        let expected = "\
{ lambda ; a:f32[]. let
    ; top
    b:f32[] = call[
      jaxpr={ lambda ; a:f32[]. let
          ; inner header
          b:f32[] = neg a
          ; inner eqn
        in (b,) }
        ; inner footer
      name=g
    ] a
    ; under call
    ; second line
  in (b,) }
  ; bottom";
        assert_eq!(Printer::new(&jaxpr).render(Some(&notes)), expected);
    }
}
