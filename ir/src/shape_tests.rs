//! Tests of the shape rules: a valid example per primitive and the exact
//! error text of invalid ones.
use super::*;
use crate::jaxpr::{Atom, JaxprBuilder, Var};
use crate::primitive::ScatterKind as K;
use crate::Scalar;
use std::collections::BTreeSet;
use DType::{Bool, F32, F64, I32, U32};
use Primitive as P;

const BIG: usize = usize::MAX;

fn a(dtype: DType, shape: &[usize]) -> AVal {
    AVal::new(dtype, shape)
}

fn s(dtype: DType) -> AVal {
    AVal::scalar(dtype)
}

fn sh(dims: &[usize]) -> Shape {
    Shape::from_slice(dims)
}

/// One table row: primitive, operands, expected result or error text.
type Case = (
    Primitive,
    Vec<AVal>,
    std::result::Result<Vec<AVal>, &'static str>,
);

fn check(cases: Vec<Case>) {
    for (prim, ins, expected) in cases {
        let got = abstract_eval(&prim, &ins).map_err(|e| e.to_string());
        let want = expected.map_err(String::from);
        assert_eq!(got, want, "{prim:?} on {}", aval_list(&ins));
    }
}

/// A closed jaxpr over inputs `ins` whose outputs `body` computes.
fn jaxpr(
    ins: &[AVal],
    body: impl FnOnce(&mut JaxprBuilder, &[Var]) -> Vec<Atom>,
) -> Arc<ClosedJaxpr> {
    let mut b = JaxprBuilder::new();
    let vars: Vec<Var> = ins.iter().map(|x| b.new_var(x.clone())).collect();
    let outs = body(&mut b, &vars);
    Arc::new(ClosedJaxpr::new(
        b.build(vec![], vars, outs).unwrap(),
        vec![],
    ))
}

fn identity(ins: &[AVal]) -> Arc<ClosedJaxpr> {
    jaxpr(ins, |_, vs| vs.iter().map(|&v| v.into()).collect())
}

fn eqn(b: &mut JaxprBuilder, prim: Primitive, inputs: Vec<Atom>) -> Atom {
    b.add_eqn(prim, inputs, None).unwrap()[0].into()
}

/// `neg` of each input.
fn negate(ins: &[AVal]) -> Arc<ClosedJaxpr> {
    jaxpr(ins, |b, vs| {
        vs.iter().map(|&v| eqn(b, P::Neg, vec![v.into()])).collect()
    })
}

fn reduce_sum(axes: &[usize]) -> Primitive {
    P::ReduceSum {
        axes: axes.to_vec(),
    }
}

fn dot(lc: &[usize], rc: &[usize], lb: &[usize], rb: &[usize]) -> Primitive {
    P::DotGeneral {
        lhs_contract: lc.to_vec(),
        rhs_contract: rc.to_vec(),
        lhs_batch: lb.to_vec(),
        rhs_batch: rb.to_vec(),
    }
}

fn slice(start: &[usize], limit: &[usize], strides: &[usize]) -> Primitive {
    P::Slice {
        start: start.to_vec(),
        limit: limit.to_vec(),
        strides: strides.to_vec(),
    }
}

fn pad(low: &[i64], high: &[i64], interior: &[usize]) -> Primitive {
    P::Pad {
        low: low.to_vec(),
        high: high.to_vec(),
        interior: interior.to_vec(),
    }
}

fn bcast(shape: &[usize], dims: &[usize]) -> Primitive {
    P::BroadcastInDim {
        shape: sh(shape),
        broadcast_dimensions: dims.to_vec(),
    }
}

fn scan(body: Arc<ClosedJaxpr>, length: usize, num_consts: usize, num_carry: usize) -> Primitive {
    P::Scan {
        body,
        length,
        reverse: false,
        num_consts,
        num_carry,
    }
}

/// `(consts c: f32[], carry acc: f32[3], xs x: f32[3]) -> (acc + c * x, sum(x))`.
fn scan_body() -> Arc<ClosedJaxpr> {
    jaxpr(&[s(F32), a(F32, &[3]), a(F32, &[3])], |b, v| {
        let cx = eqn(b, P::Mul, vec![v[0].into(), v[2].into()]);
        let acc = eqn(b, P::Add, vec![v[1].into(), cx]);
        vec![acc, eqn(b, reduce_sum(&[0]), vec![v[2].into()])]
    })
}

/// `x < 10` on an `i32[]` carry.
fn while_cond() -> Arc<ClosedJaxpr> {
    jaxpr(&[s(I32)], |b, v| {
        vec![eqn(b, P::Lt, vec![v[0].into(), Atom::Lit(Scalar::I32(10))])]
    })
}

/// `x + 1` on an `i32[]` carry.
fn while_body() -> Arc<ClosedJaxpr> {
    jaxpr(&[s(I32)], |b, v| {
        vec![eqn(b, P::Add, vec![v[0].into(), Atom::Lit(Scalar::I32(1))])]
    })
}

/// A valid example of every primitive, with its result.
fn examples() -> Vec<(Primitive, Vec<AVal>, Vec<AVal>)> {
    let f23 = a(F32, &[2, 3]);
    let f2 = a(F32, &[2]);
    let un = |p: Primitive| (p, vec![f23.clone()], vec![f23.clone()]);
    let bin = |p: Primitive| (p, vec![f23.clone(), s(F32)], vec![f23.clone()]);
    let bits = |p: Primitive| (p, vec![a(I32, &[4]), a(I32, &[4])], vec![a(I32, &[4])]);
    let cmp = |p: Primitive| (p, vec![f23.clone(), f23.clone()], vec![a(Bool, &[2, 3])]);
    let f = negate(&[a(F32, &[2])]);
    let mut v = vec![];
    for p in [
        P::Neg,
        P::Exp,
        P::Log,
        P::Log1p,
        P::Expm1,
        P::Sin,
        P::Cos,
        P::Tanh,
    ] {
        v.push(un(p));
    }
    for p in [
        P::Logistic,
        P::Sqrt,
        P::Rsqrt,
        P::Abs,
        P::Sign,
        P::Floor,
        P::Ceil,
        P::Round,
    ] {
        v.push(un(p));
    }
    v.push(un(P::Erf));
    v.push((P::Not, vec![a(Bool, &[2])], vec![a(Bool, &[2])]));
    v.push((P::IsFinite, vec![f23.clone()], vec![a(Bool, &[2, 3])]));
    for p in [
        P::Add,
        P::Sub,
        P::Mul,
        P::Div,
        P::Rem,
        P::Pow,
        P::Max,
        P::Min,
    ] {
        v.push(bin(p));
    }
    v.extend([bits(P::And), bits(P::Or), bits(P::Xor)]);
    for p in [P::Eq, P::Ne, P::Lt, P::Le, P::Gt, P::Ge] {
        v.push(cmp(p));
    }
    v.extend([
        (
            P::Select,
            vec![s(Bool), f23.clone(), f23.clone()],
            vec![f23.clone()],
        ),
        (
            P::ConvertElementType { new_dtype: I32 },
            vec![f23.clone()],
            vec![a(I32, &[2, 3])],
        ),
        (
            bcast(&[4, 2], &[1]),
            vec![f2.clone()],
            vec![a(F32, &[4, 2])],
        ),
        (
            P::Reshape {
                new_sizes: sh(&[3, 2]),
            },
            vec![f23.clone()],
            vec![a(F32, &[3, 2])],
        ),
        (
            P::Transpose {
                permutation: vec![1, 0],
            },
            vec![f23.clone()],
            vec![a(F32, &[3, 2])],
        ),
        (reduce_sum(&[1]), vec![f23.clone()], vec![f2.clone()]),
        (
            P::ReduceMax { axes: vec![0] },
            vec![f23.clone()],
            vec![a(F32, &[3])],
        ),
        (
            P::ReduceMin { axes: vec![0, 1] },
            vec![f23.clone()],
            vec![s(F32)],
        ),
        (
            P::ReduceProd { axes: vec![] },
            vec![f23.clone()],
            vec![f23.clone()],
        ),
        (
            P::ArgMax {
                axis: 1,
                index_dtype: I32,
            },
            vec![f23.clone()],
            vec![a(I32, &[2])],
        ),
        (
            P::ArgMin {
                axis: 0,
                index_dtype: U32,
            },
            vec![f23.clone()],
            vec![a(U32, &[3])],
        ),
        (
            P::Cumsum {
                axis: 1,
                reverse: true,
            },
            vec![f23.clone()],
            vec![f23.clone()],
        ),
        (
            dot(&[1], &[0], &[], &[]),
            vec![f23.clone(), a(F32, &[3, 4])],
            vec![a(F32, &[2, 4])],
        ),
        (
            slice(&[0, 1], &[2, 3], &[1, 2]),
            vec![f23.clone()],
            vec![a(F32, &[2, 1])],
        ),
        (
            pad(&[1, 0], &[0, -1], &[0, 1]),
            vec![f23.clone(), s(F32)],
            vec![a(F32, &[3, 4])],
        ),
        (
            P::Concatenate { axis: 0 },
            vec![f23.clone(), f23.clone()],
            vec![a(F32, &[4, 3])],
        ),
        (
            P::Rev { axes: vec![1] },
            vec![f23.clone()],
            vec![f23.clone()],
        ),
        (
            P::DynamicSlice {
                slice_sizes: vec![1, 2],
            },
            vec![f23.clone(), s(I32), s(I32)],
            vec![a(F32, &[1, 2])],
        ),
        (
            P::DynamicUpdateSlice,
            vec![f23.clone(), a(F32, &[1, 3]), s(I32), s(U32)],
            vec![f23.clone()],
        ),
        (
            P::Gather { axis: 1 },
            vec![f23.clone(), a(I32, &[4])],
            vec![a(F32, &[2, 4])],
        ),
        (
            P::Scatter {
                axis: 0,
                kind: K::Add,
            },
            vec![f23.clone(), a(I32, &[5]), a(F32, &[5, 3])],
            vec![f23.clone()],
        ),
        (
            P::Iota {
                dtype: I32,
                shape: sh(&[2, 3]),
                dimension: 1,
            },
            vec![],
            vec![a(I32, &[2, 3])],
        ),
        (
            P::RandomBits { shape: sh(&[2, 3]) },
            vec![a(U32, &[8])],
            vec![a(U32, &[2, 3])],
        ),
        (P::StopGradient, vec![f23.clone()], vec![f23.clone()]),
        (
            P::Call {
                jaxpr: f.clone(),
                name: "f".into(),
            },
            vec![f2.clone()],
            vec![f2.clone()],
        ),
        (
            P::Cond {
                branches: vec![identity(&[a(F32, &[2])]), f.clone()],
            },
            vec![s(I32), f2.clone()],
            vec![f2.clone()],
        ),
        (
            P::While {
                cond_jaxpr: while_cond(),
                body_jaxpr: while_body(),
            },
            vec![s(I32)],
            vec![s(I32)],
        ),
        (
            scan(scan_body(), 5, 1, 1),
            vec![s(F32), a(F32, &[3]), a(F32, &[5, 3])],
            vec![a(F32, &[3]), a(F32, &[5])],
        ),
        (
            P::CustomJvpCall {
                call: f.clone(),
                jvp: identity(&[f2.clone(), f2.clone()]),
            },
            vec![f2.clone()],
            vec![f2.clone()],
        ),
        (
            P::CustomVjpCall {
                call: f.clone(),
                fwd: f.clone(),
                bwd: f.clone(),
                num_outputs: 1,
            },
            vec![f2.clone()],
            vec![f2.clone()],
        ),
        (
            P::CustomLin {
                bwd: identity(&[s(F32), f2.clone()]),
                num_residuals: 1,
            },
            vec![s(F32), s(F32), f2.clone()],
            vec![f2.clone()],
        ),
    ]);
    v
}

#[test]
fn every_primitive_has_a_valid_example() {
    let examples = examples();
    let names: BTreeSet<&str> = examples.iter().map(|(p, _, _)| p.name()).collect();
    assert_eq!(names.len(), examples.len(), "an example is repeated");
    assert_eq!(
        names.len(),
        crate::primitive::PRIMITIVE_NAMES.len(),
        "a primitive has no example"
    );
    for (prim, ins, out) in examples {
        assert_eq!(
            crate::primitive::PRIMITIVE_NAMES[prim.ordinal()],
            prim.name()
        );
        assert_eq!(abstract_eval(&prim, &ins), Ok(out), "{}", prim.name());
    }
}

#[test]
fn unary_rules() {
    check(vec![
        (P::Exp, vec![a(F32, &[3, 4])], Ok(vec![a(F32, &[3, 4])])),
        (P::Log, vec![s(F64)], Ok(vec![s(F64)])),
        (P::Sqrt, vec![a(F32, &[0, 2])], Ok(vec![a(F32, &[0, 2])])),
        (P::Neg, vec![a(U32, &[2])], Ok(vec![a(U32, &[2])])),
        (P::Sign, vec![s(I32)], Ok(vec![s(I32)])),
        (P::Not, vec![a(U32, &[2])], Ok(vec![a(U32, &[2])])),
        (P::IsFinite, vec![s(F64)], Ok(vec![s(Bool)])),
        (
            P::StopGradient,
            vec![a(Bool, &[0])],
            Ok(vec![a(Bool, &[0])]),
        ),
        (
            P::Exp,
            vec![a(I32, &[3])],
            Err("exp: expected a float operand, got i32"),
        ),
        (
            P::Floor,
            vec![s(Bool)],
            Err("floor: expected a float operand, got bool"),
        ),
        (
            P::Abs,
            vec![s(Bool)],
            Err("abs: expected a numeric operand, got bool"),
        ),
        (
            P::Not,
            vec![s(F32)],
            Err("not: expected a bool or integer operand, got f32"),
        ),
        (
            P::IsFinite,
            vec![s(I32)],
            Err("is_finite: expected a float operand, got i32"),
        ),
        (
            P::Exp,
            vec![s(F32), s(F32)],
            Err("exp: expected 1 operand, got 2"),
        ),
        (
            P::StopGradient,
            vec![],
            Err("stop_gradient: expected 1 operand, got 0"),
        ),
    ]);
}

#[test]
fn binary_and_select() {
    let f34 = a(F32, &[3, 4]);
    check(vec![
        (P::Add, vec![f34.clone(), s(F32)], Ok(vec![f34.clone()])),
        (P::Mul, vec![s(F32), f34.clone()], Ok(vec![f34.clone()])),
        (P::Sub, vec![s(I32), s(I32)], Ok(vec![s(I32)])),
        (
            P::Div,
            vec![a(U32, &[0]), a(U32, &[0])],
            Ok(vec![a(U32, &[0])]),
        ),
        (P::Pow, vec![s(F64), a(F64, &[2])], Ok(vec![a(F64, &[2])])),
        (
            P::Xor,
            vec![s(Bool), a(Bool, &[2])],
            Ok(vec![a(Bool, &[2])]),
        ),
        (P::Eq, vec![a(Bool, &[2]), s(Bool)], Ok(vec![a(Bool, &[2])])),
        (P::Ge, vec![a(U32, &[2]), s(U32)], Ok(vec![a(Bool, &[2])])),
        (
            P::Add,
            vec![f34.clone(), a(F32, &[5])],
            Err("add: operands must have equal shapes (or rank 0): [3,4] vs [5]"),
        ),
        (
            P::Max,
            vec![a(F32, &[1]), a(F32, &[3])],
            Err("max: operands must have equal shapes (or rank 0): [1] vs [3]"),
        ),
        (
            P::Add,
            vec![s(F32), s(I32)],
            Err("add: operands must have equal dtypes: f32 vs i32"),
        ),
        (
            P::Rem,
            vec![s(Bool), s(Bool)],
            Err("rem: expected a numeric operand, got bool"),
        ),
        (
            P::Pow,
            vec![s(I32), s(I32)],
            Err("pow: expected a float operand, got i32"),
        ),
        (
            P::Min,
            vec![s(Bool), s(Bool)],
            Err("min: expected a numeric operand, got bool"),
        ),
        (
            P::Or,
            vec![s(F32), s(F32)],
            Err("or: expected a bool or integer operand, got f32"),
        ),
        (
            P::Lt,
            vec![s(Bool), s(Bool)],
            Err("lt: expected a numeric operand, got bool"),
        ),
        (P::Sub, vec![s(F32)], Err("sub: expected 2 operands, got 1")),
        (
            P::Select,
            vec![a(Bool, &[3]), a(F32, &[3]), s(F32)],
            Ok(vec![a(F32, &[3])]),
        ),
        (
            P::Select,
            vec![s(Bool), s(I32), a(I32, &[2])],
            Ok(vec![a(I32, &[2])]),
        ),
        (
            P::Select,
            vec![s(F32), s(F32), s(F32)],
            Err("select: predicate must be bool, got f32"),
        ),
        (
            P::Select,
            vec![s(Bool), s(F32), s(I32)],
            Err("select: operands must have equal dtypes: f32 vs i32"),
        ),
        (
            P::Select,
            vec![a(Bool, &[2]), a(F32, &[3]), a(F32, &[3])],
            Err("select: operands must have equal shapes (or rank 0): [2] vs [3]"),
        ),
        (
            P::Select,
            vec![s(Bool), s(F32)],
            Err("select: expected 3 operands, got 2"),
        ),
        (
            P::ConvertElementType { new_dtype: F64 },
            vec![a(Bool, &[0])],
            Ok(vec![a(F64, &[0])]),
        ),
        (
            P::ConvertElementType { new_dtype: F64 },
            vec![],
            Err("convert_element_type: expected 1 operand, got 0"),
        ),
    ]);
}

#[test]
fn broadcast_reshape_transpose() {
    check(vec![
        (
            bcast(&[2, 3], &[1]),
            vec![a(F32, &[3])],
            Ok(vec![a(F32, &[2, 3])]),
        ),
        (bcast(&[2], &[]), vec![s(I32)], Ok(vec![a(I32, &[2])])),
        (
            bcast(&[4, 3], &[0, 1]),
            vec![a(F32, &[1, 3])],
            Ok(vec![a(F32, &[4, 3])]),
        ),
        (
            bcast(&[2, 0], &[1]),
            vec![a(F32, &[0])],
            Ok(vec![a(F32, &[2, 0])]),
        ),
        (
            bcast(&[2, 0], &[1]),
            vec![a(F32, &[1])],
            Ok(vec![a(F32, &[2, 0])]),
        ),
        (
            bcast(&[3], &[]),
            vec![a(F32, &[3])],
            Err(
                "broadcast_in_dim: broadcast_dimensions () need one entry per dimension of \
                 operand [3]",
            ),
        ),
        (
            bcast(&[3, 3], &[1, 0]),
            vec![a(F32, &[3, 3])],
            Err("broadcast_in_dim: broadcast_dimensions (1,0) must be strictly increasing"),
        ),
        (
            bcast(&[3], &[1]),
            vec![a(F32, &[3])],
            Err("broadcast_in_dim: broadcast dimension 1 out of range for shape [3]"),
        ),
        (
            bcast(&[4], &[0]),
            vec![a(F32, &[3])],
            Err(
                "broadcast_in_dim: operand [3] dimension 0 of size 3 cannot broadcast to \
                 size 4 of [4]",
            ),
        ),
        (
            bcast(&[BIG, 2], &[]),
            vec![s(F32)],
            Err("broadcast_in_dim: shape [18446744073709551615,2] has too many elements"),
        ),
        (
            P::Reshape {
                new_sizes: sh(&[6]),
            },
            vec![a(F32, &[2, 3])],
            Ok(vec![a(F32, &[6])]),
        ),
        (
            P::Reshape {
                new_sizes: sh(&[1, 1]),
            },
            vec![s(F32)],
            Ok(vec![a(F32, &[1, 1])]),
        ),
        (
            P::Reshape {
                new_sizes: sh(&[5, 0]),
            },
            vec![a(F32, &[0, 3])],
            Ok(vec![a(F32, &[5, 0])]),
        ),
        (
            P::Reshape {
                new_sizes: sh(&[BIG, 0]),
            },
            vec![a(F32, &[0])],
            Ok(vec![a(F32, &[BIG, 0])]),
        ),
        (
            P::Reshape {
                new_sizes: sh(&[4]),
            },
            vec![a(F32, &[2, 3])],
            Err("reshape: cannot reshape [2,3] (6 elements) to [4] (4 elements)"),
        ),
        (
            P::Reshape {
                new_sizes: sh(&[BIG, 2]),
            },
            vec![a(F32, &[2])],
            Err("reshape: shape [18446744073709551615,2] has too many elements"),
        ),
        (
            P::Transpose {
                permutation: vec![2, 0, 1],
            },
            vec![a(F32, &[2, 3, 4])],
            Ok(vec![a(F32, &[4, 2, 3])]),
        ),
        (
            P::Transpose {
                permutation: vec![],
            },
            vec![s(I32)],
            Ok(vec![s(I32)]),
        ),
        (
            P::Transpose {
                permutation: vec![0, 0],
            },
            vec![a(F32, &[2, 3])],
            Err("transpose: permutation (0,0) is not a permutation of 0..2"),
        ),
        (
            P::Transpose {
                permutation: vec![0, 1, 2],
            },
            vec![a(F32, &[2, 3])],
            Err("transpose: permutation (0,1,2) is not a permutation of 0..2"),
        ),
        (
            P::Transpose {
                permutation: vec![0, BIG],
            },
            vec![a(F32, &[2, 3])],
            Err("transpose: permutation (0,18446744073709551615) is not a permutation of 0..2"),
        ),
    ]);
}

#[test]
fn reductions_rules() {
    let argmax = |axis, index_dtype| P::ArgMax { axis, index_dtype };
    check(vec![
        (
            reduce_sum(&[0, 2]),
            vec![a(F32, &[2, 3, 4])],
            Ok(vec![a(F32, &[3])]),
        ),
        (
            P::ReduceMax { axes: vec![] },
            vec![a(I32, &[2])],
            Ok(vec![a(I32, &[2])]),
        ),
        (
            P::ReduceProd { axes: vec![] },
            vec![s(F64)],
            Ok(vec![s(F64)]),
        ),
        (
            P::ReduceMin { axes: vec![0] },
            vec![a(U32, &[0, 3])],
            Ok(vec![a(U32, &[3])]),
        ),
        (
            reduce_sum(&[3]),
            vec![a(F32, &[2, 3])],
            Err("reduce_sum: axis 3 out of range for rank 2"),
        ),
        (
            reduce_sum(&[1, 0]),
            vec![a(F32, &[2, 3])],
            Err("reduce_sum: axes (1,0) must be distinct and in ascending order"),
        ),
        (
            P::ReduceProd { axes: vec![0, 0] },
            vec![a(F32, &[2, 3])],
            Err("reduce_prod: axes (0,0) must be distinct and in ascending order"),
        ),
        (
            P::ReduceMax { axes: vec![0] },
            vec![a(Bool, &[2])],
            Err("reduce_max: expected a numeric operand, got bool"),
        ),
        (
            argmax(1, I32),
            vec![a(F32, &[2, 3])],
            Ok(vec![a(I32, &[2])]),
        ),
        (
            argmax(0, U32),
            vec![a(I32, &[3, 0])],
            Ok(vec![a(U32, &[0])]),
        ),
        (
            argmax(2, I32),
            vec![a(F32, &[2, 3])],
            Err("argmax: axis 2 out of range for rank 2"),
        ),
        (
            argmax(0, I32),
            vec![s(F32)],
            Err("argmax: axis 0 out of range for rank 0"),
        ),
        (
            argmax(0, I32),
            vec![a(F32, &[0, 3])],
            Err("argmax: axis 0 of [0,3] is empty"),
        ),
        (
            P::ArgMin {
                axis: 0,
                index_dtype: F32,
            },
            vec![a(F32, &[3])],
            Err("argmin: index_dtype must be i32 or u32, got f32"),
        ),
        (
            argmax(0, I32),
            vec![a(Bool, &[3])],
            Err("argmax: expected a numeric operand, got bool"),
        ),
        (
            P::Cumsum {
                axis: 0,
                reverse: false,
            },
            vec![a(U32, &[0])],
            Ok(vec![a(U32, &[0])]),
        ),
        (
            P::Cumsum {
                axis: 1,
                reverse: false,
            },
            vec![a(F32, &[4])],
            Err("cumsum: axis 1 out of range for rank 1"),
        ),
        (
            P::Cumsum {
                axis: 0,
                reverse: true,
            },
            vec![a(Bool, &[4])],
            Err("cumsum: expected a numeric operand, got bool"),
        ),
    ]);
}

#[test]
fn dot_general_rules() {
    check(vec![
        (
            dot(&[1], &[0], &[], &[]),
            vec![a(F32, &[2, 3]), a(F32, &[3, 4])],
            Ok(vec![a(F32, &[2, 4])]),
        ),
        (
            dot(&[2], &[1], &[0], &[0]),
            vec![a(F64, &[5, 2, 3]), a(F64, &[5, 3, 4])],
            Ok(vec![a(F64, &[5, 2, 4])]),
        ),
        (
            dot(&[2], &[0], &[1], &[2]),
            vec![a(F32, &[2, 5, 3]), a(F32, &[3, 4, 5])],
            Ok(vec![a(F32, &[5, 2, 4])]),
        ),
        (
            dot(&[], &[], &[], &[]),
            vec![a(I32, &[2]), a(I32, &[3])],
            Ok(vec![a(I32, &[2, 3])]),
        ),
        (
            dot(&[0], &[0], &[], &[]),
            vec![a(U32, &[3]), a(U32, &[3])],
            Ok(vec![s(U32)]),
        ),
        (
            dot(&[1], &[0], &[], &[]),
            vec![a(F32, &[2, 0]), a(F32, &[0, 4])],
            Ok(vec![a(F32, &[2, 4])]),
        ),
        (
            dot(&[1], &[0], &[], &[]),
            vec![a(F32, &[2, 3]), a(F32, &[4, 5])],
            Err(
                "dot_general: contracting dimension sizes differ: lhs [2,3] dim 1 is 3, \
                 rhs [4,5] dim 0 is 4",
            ),
        ),
        (
            dot(&[2], &[1], &[0], &[0]),
            vec![a(F32, &[5, 2, 3]), a(F32, &[6, 3, 4])],
            Err(
                "dot_general: batch dimension sizes differ: lhs [5,2,3] dim 0 is 5, rhs \
                 [6,3,4] dim 0 is 6",
            ),
        ),
        (
            dot(&[1], &[], &[], &[]),
            vec![a(F32, &[2, 3]), a(F32, &[3])],
            Err("dot_general: lhs_contract (1) and rhs_contract () differ in length"),
        ),
        (
            dot(&[], &[], &[0], &[]),
            vec![a(F32, &[2, 3]), a(F32, &[3])],
            Err("dot_general: lhs_batch (0) and rhs_batch () differ in length"),
        ),
        (
            dot(&[2], &[0], &[], &[]),
            vec![a(F32, &[2, 3]), a(F32, &[3])],
            Err("dot_general: lhs dimension 2 out of range for lhs [2,3]"),
        ),
        (
            dot(&[1], &[0], &[0], &[0]),
            vec![a(F32, &[3, 3]), a(F32, &[3, 3])],
            Err("dot_general: rhs dimension 0 repeated in rhs_batch/rhs_contract"),
        ),
        (
            dot(&[0], &[0], &[], &[]),
            vec![a(F32, &[3]), a(F64, &[3])],
            Err("dot_general: operands must have equal dtypes: f32 vs f64"),
        ),
        (
            dot(&[0], &[0], &[], &[]),
            vec![a(Bool, &[3]), a(Bool, &[3])],
            Err("dot_general: expected a numeric operand, got bool"),
        ),
        (
            dot(&[0], &[0], &[], &[]),
            vec![a(F32, &[3])],
            Err("dot_general: expected 2 \
             operands, got 1"),
        ),
    ]);
}

#[test]
fn slice_and_pad() {
    check(vec![
        (
            slice(&[1], &[8], &[3]),
            vec![a(F32, &[10])],
            Ok(vec![a(F32, &[3])]),
        ),
        (
            slice(&[1], &[7], &[3]),
            vec![a(F32, &[10])],
            Ok(vec![a(F32, &[2])]),
        ),
        (
            slice(&[0, 1], &[5, 1], &[2, 1]),
            vec![a(F32, &[5, 4])],
            Ok(vec![a(F32, &[3, 0])]),
        ),
        (
            slice(&[0], &[0], &[BIG]),
            vec![a(I32, &[0])],
            Ok(vec![a(I32, &[0])]),
        ),
        (slice(&[], &[], &[]), vec![s(F32)], Ok(vec![s(F32)])),
        (
            slice(&[0], &[1, 2], &[1]),
            vec![a(F32, &[5])],
            Err(
                "slice: parameters need one entry per dimension of [5], got lengths start \
                 1, limit 2, strides 1",
            ),
        ),
        (
            slice(&[0, 0], &[1, 1], &[1, 0]),
            vec![a(F32, &[2, 2])],
            Err("slice: stride of dimension 1 must be >= 1, got 0"),
        ),
        (
            slice(&[3], &[2], &[1]),
            vec![a(F32, &[4])],
            Err("slice: dimension 0 of [4]: need start <= limit <= 4, got start 3, limit 2"),
        ),
        (
            slice(&[0], &[5], &[1]),
            vec![a(F32, &[4])],
            Err("slice: dimension 0 of [4]: need start <= limit <= 4, got start 0, limit 5"),
        ),
        (
            pad(&[1], &[2], &[1]),
            vec![a(F32, &[3]), s(F32)],
            Ok(vec![a(F32, &[8])]),
        ),
        (
            pad(&[-1], &[-1], &[0]),
            vec![a(F32, &[3]), s(F32)],
            Ok(vec![a(F32, &[1])]),
        ),
        (
            pad(&[-3], &[0], &[0]),
            vec![a(F32, &[3]), s(F32)],
            Ok(vec![a(F32, &[0])]),
        ),
        (
            pad(&[-2], &[1], &[2]),
            vec![a(I32, &[3]), s(I32)],
            Ok(vec![a(I32, &[6])]),
        ),
        (
            pad(&[2], &[1], &[5]),
            vec![a(Bool, &[0]), s(Bool)],
            Ok(vec![a(Bool, &[3])]),
        ),
        (pad(&[], &[], &[]), vec![s(F32), s(F32)], Ok(vec![s(F32)])),
        (
            pad(&[-4], &[0], &[0]),
            vec![a(F32, &[3]), s(F32)],
            Err(
                "pad: padding dimension 0 of [3] with low -4, high 0, interior 0 gives a \
                 negative (or too large) size",
            ),
        ),
        (
            pad(&[0], &[0], &[BIG]),
            vec![a(F32, &[3]), s(F32)],
            Err(
                "pad: padding dimension 0 of [3] with low 0, high 0, interior \
                 18446744073709551615 gives a negative (or too large) size",
            ),
        ),
        (
            pad(&[0], &[0], &[0]),
            vec![a(F32, &[3]), a(F32, &[1])],
            Err("pad: padding value must be a rank-0 f32, got f32[1]"),
        ),
        (
            pad(&[0], &[0], &[0]),
            vec![a(F32, &[3]), s(F64)],
            Err("pad: padding value must be a rank-0 f32, got f64[]"),
        ),
        (
            pad(&[0], &[0], &[]),
            vec![a(F32, &[3]), s(F32)],
            Err(
                "pad: parameters need one entry per dimension of [3], got lengths low 1, \
                 high 1, interior 0",
            ),
        ),
        (
            pad(&[0], &[0], &[0]),
            vec![a(F32, &[3])],
            Err("pad: expected 2 operands, got 1"),
        ),
    ]);
}

#[test]
fn concatenate_and_rev() {
    let cat = |axis| P::Concatenate { axis };
    check(vec![
        (
            cat(0),
            vec![a(F32, &[2, 3]), a(F32, &[4, 3])],
            Ok(vec![a(F32, &[6, 3])]),
        ),
        (cat(1), vec![a(I32, &[2, 3])], Ok(vec![a(I32, &[2, 3])])),
        (
            cat(0),
            vec![a(F32, &[0, 3]), a(F32, &[0, 3])],
            Ok(vec![a(F32, &[0, 3])]),
        ),
        (
            cat(0),
            vec![],
            Err("concatenate: expected at least 1 operand, got 0"),
        ),
        (
            cat(0),
            vec![a(F32, &[2]), a(I32, &[2])],
            Err("concatenate: operands must have equal dtypes: f32 vs i32"),
        ),
        (
            cat(0),
            vec![a(F32, &[2, 3]), a(F32, &[2, 4])],
            Err("concatenate: operand shapes [2,3] and [2,4] differ outside axis 0"),
        ),
        (
            cat(0),
            vec![a(F32, &[2, 3]), a(F32, &[2])],
            Err("concatenate: operand shapes [2,3] and [2] differ outside axis 0"),
        ),
        (
            cat(2),
            vec![a(F32, &[2, 3])],
            Err("concatenate: axis 2 out of range for rank 2"),
        ),
        (
            cat(0),
            vec![s(F32), s(F32)],
            Err("concatenate: axis 0 out of range for rank 0"),
        ),
        (
            cat(0),
            vec![a(F32, &[BIG]), a(F32, &[1])],
            Err("concatenate: concatenated size along axis 0 overflows"),
        ),
        (
            P::Rev { axes: vec![1, 0] },
            vec![a(F32, &[2, 3])],
            Ok(vec![a(F32, &[2, 3])]),
        ),
        (P::Rev { axes: vec![] }, vec![s(Bool)], Ok(vec![s(Bool)])),
        (
            P::Rev { axes: vec![2] },
            vec![a(F32, &[2, 3])],
            Err("rev: axis 2 out of range for rank 2"),
        ),
        (
            P::Rev { axes: vec![0, 0] },
            vec![a(F32, &[2])],
            Err("rev: axis 0 repeated in axes (0,0)"),
        ),
    ]);
}

#[test]
fn dynamic_slicing() {
    let ds = |sizes: &[usize]| P::DynamicSlice {
        slice_sizes: sizes.to_vec(),
    };
    let dus = P::DynamicUpdateSlice;
    let f54 = a(F32, &[5, 4]);
    check(vec![
        (
            ds(&[2, 4]),
            vec![f54.clone(), s(I32), s(U32)],
            Ok(vec![a(F32, &[2, 4])]),
        ),
        (
            ds(&[0, 0]),
            vec![f54.clone(), s(I32), s(I32)],
            Ok(vec![a(F32, &[0, 0])]),
        ),
        (ds(&[]), vec![s(F32)], Ok(vec![s(F32)])),
        (
            ds(&[]),
            vec![],
            Err("dynamic_slice: expected at least 1 operand, got 0"),
        ),
        (
            ds(&[2, 4]),
            vec![f54.clone(), s(I32)],
            Err("dynamic_slice: expected 2 start indices (one per dimension of [5,4]), got 1"),
        ),
        (
            ds(&[2, 4]),
            vec![f54.clone(), s(F32), s(I32)],
            Err("dynamic_slice: start index 0 must be a rank-0 i32 or u32, got f32[]"),
        ),
        (
            ds(&[2, 4]),
            vec![f54.clone(), s(I32), a(I32, &[1])],
            Err("dynamic_slice: start index 1 must be a rank-0 i32 or u32, got i32[1]"),
        ),
        (
            ds(&[6, 4]),
            vec![f54.clone(), s(I32), s(I32)],
            Err("dynamic_slice: slice_sizes (6,4) do not fit in operand [5,4]"),
        ),
        (
            ds(&[2]),
            vec![f54.clone(), s(I32), s(I32)],
            Err(
                "dynamic_slice: parameters need one entry per dimension of [5,4], got \
                 lengths slice_sizes 1",
            ),
        ),
        (
            dus.clone(),
            vec![f54.clone(), a(F32, &[2, 4]), s(I32), s(I32)],
            Ok(vec![f54.clone()]),
        ),
        (
            dus.clone(),
            vec![f54.clone(), a(F32, &[0, 0]), s(U32), s(I32)],
            Ok(vec![f54.clone()]),
        ),
        (dus.clone(), vec![s(I32), s(I32)], Ok(vec![s(I32)])),
        (
            dus.clone(),
            vec![f54.clone()],
            Err("dynamic_update_slice: expected at least 2 \
             operands, got 1"),
        ),
        (
            dus.clone(),
            vec![f54.clone(), a(I32, &[2, 4]), s(I32), s(I32)],
            Err("dynamic_update_slice: update dtype i32 differs from operand dtype f32"),
        ),
        (
            dus.clone(),
            vec![f54.clone(), a(F32, &[4]), s(I32), s(I32)],
            Err(
                "dynamic_update_slice: update [4] does not fit in operand [5,4] (ranks \
                 must match)",
            ),
        ),
        (
            dus.clone(),
            vec![f54.clone(), a(F32, &[2, 5]), s(I32), s(I32)],
            Err(
                "dynamic_update_slice: update [2,5] does not fit in operand [5,4] (ranks \
                 must match)",
            ),
        ),
        (
            dus,
            vec![f54.clone(), a(F32, &[2, 4]), s(I32)],
            Err(
                "dynamic_update_slice: expected 2 start indices (one per dimension of \
                 [5,4]), got 1",
            ),
        ),
    ]);
}

#[test]
fn gather_and_scatter() {
    let gather = |axis| P::Gather { axis };
    let scatter = |axis, kind| P::Scatter { axis, kind };
    let f53 = a(F32, &[5, 3]);
    check(vec![
        (
            gather(0),
            vec![f53.clone(), a(I32, &[2, 2])],
            Ok(vec![a(F32, &[2, 2, 3])]),
        ),
        (gather(1), vec![f53.clone(), s(U32)], Ok(vec![a(F32, &[5])])),
        (
            gather(0),
            vec![a(Bool, &[0]), a(I32, &[4])],
            Ok(vec![a(Bool, &[4])]),
        ),
        (
            gather(0),
            vec![f53.clone(), a(F32, &[2])],
            Err("gather: indices must be integers (i32 or u32), got f32[2]"),
        ),
        (
            gather(2),
            vec![f53.clone(), a(I32, &[2])],
            Err("gather: axis 2 out of range for rank 2"),
        ),
        (
            gather(0),
            vec![s(F32), s(I32)],
            Err("gather: axis 0 out of range for rank 0"),
        ),
        (
            gather(0),
            vec![a(F32, &[BIG]), a(I32, &[2])],
            Ok(vec![a(F32, &[2])]),
        ),
        (
            gather(0),
            vec![a(F32, &[2, BIG]), a(I32, &[3])],
            Err("gather: shape [3,18446744073709551615] has too many elements"),
        ),
        (
            scatter(0, K::Add),
            vec![f53.clone(), a(U32, &[2]), a(F32, &[2, 3])],
            Ok(vec![f53.clone()]),
        ),
        (
            scatter(1, K::Max),
            vec![f53.clone(), s(I32), a(F32, &[5])],
            Ok(vec![f53.clone()]),
        ),
        (
            scatter(0, K::Set),
            vec![a(Bool, &[4]), a(I32, &[0]), a(Bool, &[0])],
            Ok(vec![a(Bool, &[4])]),
        ),
        (
            scatter(0, K::Add),
            vec![f53.clone(), a(I32, &[2]), a(F32, &[3])],
            Err("scatter: updates shape [3] must be [2,3] (operand [5,3], indices [2], axis 0)"),
        ),
        (
            scatter(0, K::Mul),
            vec![f53.clone(), a(I32, &[2]), a(I32, &[2, 3])],
            Err("scatter: updates dtype i32 differs from operand dtype f32"),
        ),
        (
            scatter(0, K::Add),
            vec![a(Bool, &[4]), a(I32, &[1]), a(Bool, &[1])],
            Err("scatter: kind add needs a numeric operand, got bool"),
        ),
        (
            scatter(0, K::Min),
            vec![f53.clone(), s(F32), a(F32, &[3])],
            Err("scatter: indices must be integers (i32 or u32), got f32[]"),
        ),
        (
            scatter(0, K::Set),
            vec![f53.clone()],
            Err("scatter: expected 3 operands, got 1"),
        ),
    ]);
}

#[test]
fn creation_rules() {
    let iota = |dtype, shape: &[usize], dimension| P::Iota {
        dtype,
        shape: sh(shape),
        dimension,
    };
    let bits = |shape: &[usize]| P::RandomBits { shape: sh(shape) };
    check(vec![
        (iota(I32, &[2, 3], 1), vec![], Ok(vec![a(I32, &[2, 3])])),
        (iota(F32, &[0], 0), vec![], Ok(vec![a(F32, &[0])])),
        (iota(U32, &[BIG, 0], 0), vec![], Ok(vec![a(U32, &[BIG, 0])])),
        (
            iota(Bool, &[2], 0),
            vec![],
            Err("iota: dtype must be numeric, got bool"),
        ),
        (
            iota(I32, &[2, 3], 2),
            vec![],
            Err("iota: dimension 2 out of range for shape [2,3]"),
        ),
        (
            iota(I32, &[], 0),
            vec![],
            Err("iota: dimension 0 out of range for shape []"),
        ),
        (
            iota(I32, &[2], 0),
            vec![s(I32)],
            Err("iota: expected 0 operands, got 1"),
        ),
        (
            iota(I32, &[BIG, BIG], 0),
            vec![],
            Err("iota: shape [18446744073709551615,18446744073709551615] has too many elements"),
        ),
        (bits(&[2, 3]), vec![a(U32, &[8])], Ok(vec![a(U32, &[2, 3])])),
        (bits(&[]), vec![a(U32, &[8])], Ok(vec![s(U32)])),
        (
            bits(&[2]),
            vec![a(U32, &[4])],
            Err("random_bits: key must be u32[8], got u32[4]"),
        ),
        (
            bits(&[2]),
            vec![a(I32, &[8])],
            Err("random_bits: key must be u32[8], got i32[8]"),
        ),
        (
            bits(&[2]),
            vec![],
            Err("random_bits: expected 1 operand, got 0"),
        ),
    ]);
}

#[test]
fn call_and_custom_calls() {
    let (f2, f3) = (a(F32, &[2]), a(F32, &[3]));
    let f = negate(&[a(F32, &[2])]);
    let two = jaxpr(&[f2.clone(), s(I32)], |b, v| {
        vec![
            eqn(b, P::Exp, vec![v[0].into()]),
            v[1].into(),
            Atom::Lit(Scalar::Bool(true)),
        ]
    });
    let call = |jaxpr: &Arc<ClosedJaxpr>| P::Call {
        jaxpr: jaxpr.clone(),
        name: "f".into(),
    };
    let jvp = |call: &Arc<ClosedJaxpr>| P::CustomJvpCall {
        call: call.clone(),
        jvp: f.clone(),
    };
    let vjp = |call: &Arc<ClosedJaxpr>| P::CustomVjpCall {
        call: call.clone(),
        fwd: f.clone(),
        bwd: f.clone(),
        num_outputs: 1,
    };
    let outs = vec![f2.clone(), s(I32), s(Bool)];
    check(vec![
        (call(&two), vec![f2.clone(), s(I32)], Ok(outs.clone())),
        (jvp(&two), vec![f2.clone(), s(I32)], Ok(outs.clone())),
        (vjp(&two), vec![f2.clone(), s(I32)], Ok(outs)),
        (call(&identity(&[])), vec![], Ok(vec![])),
        (
            call(&f),
            vec![f3.clone()],
            Err("call: jaxpr takes (f32[2]), but is given (f32[3])"),
        ),
        (
            call(&f),
            vec![],
            Err("call: jaxpr takes (f32[2]), but is given ()"),
        ),
        (
            jvp(&f),
            vec![f2.clone(), f2.clone()],
            Err("custom_jvp_call: call takes (f32[2]), but is given (f32[2], f32[2])"),
        ),
        (
            vjp(&f),
            vec![a(F64, &[2])],
            Err("custom_vjp_call: call takes (f32[2]), but is given (f64[2])"),
        ),
    ]);
}

#[test]
fn cond_rules() {
    let f2 = a(F32, &[2]);
    let (id, neg) = (identity(&[a(F32, &[2])]), negate(&[a(F32, &[2])]));
    let cond = |branches: Vec<Arc<ClosedJaxpr>>| P::Cond { branches };
    let to_i32 = jaxpr(&[a(F32, &[2])], |b, v| {
        vec![eqn(
            b,
            P::ConvertElementType { new_dtype: I32 },
            vec![v[0].into()],
        )]
    });
    check(vec![
        (
            cond(vec![id.clone(), neg.clone()]),
            vec![s(I32), f2.clone()],
            Ok(vec![f2.clone()]),
        ),
        (
            cond(vec![neg.clone()]),
            vec![s(I32), f2.clone()],
            Ok(vec![f2.clone()]),
        ),
        (cond(vec![identity(&[])]), vec![s(I32)], Ok(vec![])),
        (
            cond(vec![id.clone()]),
            vec![s(Bool), f2.clone()],
            Err("cond: branch index must be i32[], got bool[]"),
        ),
        (
            cond(vec![id.clone()]),
            vec![a(I32, &[1]), f2.clone()],
            Err("cond: branch index must be i32[], got i32[1]"),
        ),
        (
            cond(vec![]),
            vec![s(I32), f2.clone()],
            Err("cond: needs at least one branch"),
        ),
        (
            cond(vec![id.clone()]),
            vec![],
            Err("cond: expected at least 1 operand (the branch index), got 0"),
        ),
        (
            cond(vec![id.clone(), neg]),
            vec![s(I32), a(F32, &[3])],
            Err("cond: branch 0 takes (f32[2]), but is given (f32[3])"),
        ),
        (
            cond(vec![id.clone(), identity(&[s(F32)])]),
            vec![s(I32), f2.clone()],
            Err("cond: branch 1 takes (f32[]), but is given (f32[2])"),
        ),
        (
            cond(vec![id, to_i32]),
            vec![s(I32), f2.clone()],
            Err("cond: branch 1 returns (i32[2]), but branch 0 returns (f32[2])"),
        ),
    ]);
}

#[test]
fn while_loop_rules() {
    let w = |c: &Arc<ClosedJaxpr>, b: &Arc<ClosedJaxpr>| P::While {
        cond_jaxpr: c.clone(),
        body_jaxpr: b.clone(),
    };
    let (cond, body) = (while_cond(), while_body());
    let not_bool = identity(&[s(I32)]);
    let two_carry = [s(I32), a(F32, &[2])];
    let cond2 = jaxpr(&two_carry, |b, v| {
        vec![eqn(b, P::Lt, vec![v[0].into(), Atom::Lit(Scalar::I32(3))])]
    });
    let body2 = jaxpr(&two_carry, |b, v| {
        vec![
            eqn(b, P::Add, vec![v[0].into(), Atom::Lit(Scalar::I32(1))]),
            eqn(b, P::Neg, vec![v[1].into()]),
        ]
    });
    let swap_types = jaxpr(&[s(I32)], |b, v| {
        vec![eqn(
            b,
            P::ConvertElementType { new_dtype: F32 },
            vec![v[0].into()],
        )]
    });
    check(vec![
        (w(&cond, &body), vec![s(I32)], Ok(vec![s(I32)])),
        (
            w(&cond2, &body2),
            two_carry.to_vec(),
            Ok(two_carry.to_vec()),
        ),
        (
            w(&cond, &body),
            vec![s(F32)],
            Err("while: cond_jaxpr takes (i32[]), but is given (f32[])"),
        ),
        (
            w(&not_bool, &body),
            vec![s(I32)],
            Err("while: cond_jaxpr must return (bool[]), but returns (i32[])"),
        ),
        (
            w(&cond2, &body),
            two_carry.to_vec(),
            Err("while: body_jaxpr takes (i32[]), but is given (i32[], f32[2])"),
        ),
        (
            w(&cond, &swap_types),
            vec![s(I32)],
            Err("while: body_jaxpr must return the carry (i32[]), but returns (f32[])"),
        ),
    ]);
}

#[test]
fn scan_rules() {
    let body = scan_body();
    let (c, acc) = (s(F32), a(F32, &[3]));
    // No ys: a carry-only body over zero-length xs.
    let carry_only = identity(&[a(F32, &[3])]);
    // Body (carry, x) -> (carry, x) that stacks the xs back.
    let echo = identity(&[s(I32), a(F32, &[2])]);
    check(vec![
        (
            scan(body.clone(), 5, 1, 1),
            vec![c.clone(), acc.clone(), a(F32, &[5, 3])],
            Ok(vec![acc.clone(), a(F32, &[5])]),
        ),
        (
            scan(body.clone(), 0, 1, 1),
            vec![c.clone(), acc.clone(), a(F32, &[0, 3])],
            Ok(vec![acc.clone(), a(F32, &[0])]),
        ),
        (
            scan(carry_only.clone(), 7, 0, 1),
            vec![acc.clone()],
            Ok(vec![acc.clone()]),
        ),
        (
            scan(echo, 4, 0, 1),
            vec![s(I32), a(F32, &[4, 2])],
            Ok(vec![s(I32), a(F32, &[4, 2])]),
        ),
        (
            scan(body.clone(), 4, 1, 1),
            vec![c.clone(), acc.clone(), a(F32, &[5, 3])],
            Err("scan: xs operand 0 has shape [5,3], but length is 4"),
        ),
        (
            scan(body.clone(), 5, 1, 1),
            vec![c.clone(), acc.clone(), s(F32)],
            Err("scan: xs operand 0 has shape [], but length is 5"),
        ),
        (
            scan(body.clone(), 5, 1, 1),
            vec![c.clone(), acc.clone(), a(F32, &[5, 4])],
            Err(
                "scan: body takes (f32[], f32[3], f32[3]), but is given (f32[], f32[3], \
                 f32[4])",
            ),
        ),
        (
            scan(body.clone(), 5, 2, 1),
            vec![c.clone(), acc.clone()],
            Err("scan: num_consts 2 + num_carry 1 exceed the 2 operands"),
        ),
        (
            scan(body.clone(), 5, BIG, 1),
            vec![c.clone()],
            Err("scan: num_consts 18446744073709551615 + num_carry 1 exceed the 1 operands"),
        ),
        (
            scan(body.clone(), 3, 2, 0),
            vec![c.clone(), acc.clone(), a(F32, &[3, 3])],
            Ok(vec![a(F32, &[3, 3]), a(F32, &[3])]),
        ),
        (
            scan(body, 3, 0, 2),
            vec![c, acc.clone(), a(F32, &[3, 3])],
            Err(
                "scan: body must return the carry (f32[], f32[3]) followed by the ys, but \
                 returns (f32[3], f32[])",
            ),
        ),
        (
            scan(carry_only, BIG, 0, 0),
            vec![a(F32, &[BIG, 3])],
            Err("scan: shape [18446744073709551615,3] has too many elements"),
        ),
    ]);
}

/// No operand list and no parameters make a rule panic: every example
/// primitive, plus some with extreme parameters, on every list of up to
/// three operands drawn from a pool of odd abstract values.
#[test]
fn never_panics() {
    let pool = [
        s(F32),
        s(I32),
        s(Bool),
        a(U32, &[8]),
        a(F32, &[0, 3]),
        a(I32, &[2, 3, 4]),
        a(F32, &[BIG, 2]),
        a(F32, &[BIG, 0]),
    ];
    let mut prims: Vec<Primitive> = examples().into_iter().map(|(p, _, _)| p).collect();
    prims.extend([
        bcast(&[BIG, BIG], &[0, 1]),
        P::Transpose {
            permutation: vec![BIG, BIG, BIG],
        },
        reduce_sum(&[BIG]),
        P::ArgMax {
            axis: BIG,
            index_dtype: U32,
        },
        dot(&[BIG], &[0], &[1], &[BIG]),
        dot(&[0, 1], &[0, 1], &[2], &[2]),
        slice(&[BIG, 0], &[BIG, 3], &[BIG, 1]),
        pad(&[i64::MIN, i64::MAX], &[i64::MAX, i64::MIN], &[BIG, BIG]),
        P::Concatenate { axis: BIG },
        P::Rev { axes: vec![BIG] },
        P::DynamicSlice {
            slice_sizes: vec![BIG, BIG],
        },
        P::Gather { axis: BIG },
        P::Scatter {
            axis: 1,
            kind: K::Add,
        },
        P::Iota {
            dtype: F32,
            shape: sh(&[BIG, 2]),
            dimension: BIG,
        },
        P::RandomBits {
            shape: sh(&[BIG, BIG]),
        },
        scan(scan_body(), BIG, BIG, BIG),
        scan(identity(&[]), BIG, 0, 0),
    ]);
    let mut lists: Vec<Vec<AVal>> = vec![vec![]];
    for x in &pool {
        lists.push(vec![x.clone()]);
        for y in &pool {
            lists.push(vec![x.clone(), y.clone()]);
            for z in &pool {
                lists.push(vec![x.clone(), y.clone(), z.clone()]);
            }
        }
    }
    for prim in &prims {
        for ins in &lists {
            if let Ok(outs) = abstract_eval(prim, ins) {
                for out in outs {
                    assert!(element_count("test", &out.shape).is_ok(), "{prim:?}");
                }
            }
        }
    }
}
