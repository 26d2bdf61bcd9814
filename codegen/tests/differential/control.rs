//! Wrapping a random program in control flow for the differential test:
//! the wrapped program computes the same outputs (same shapes, same
//! values), but through a control step whose sub-program is the random
//! program, so every comparison of the test applies unchanged.

use rjax_ir::{AVal, Atom, ClosedJaxpr, JaxprBuilder, Primitive as P, Scalar, Var};
use std::sync::Arc;

/// `j` itself (`how % 3 == 0`), as the taken branch of a two-branch `cond`
/// whose index (a literal out of range, clamped) picks it (`1`), or as the
/// body of a one-step `scan` taking every input as a constant, with each
/// stacked output reshaped back to its own shape (`2`).
pub fn wrap(j: ClosedJaxpr, how: u64) -> ClosedJaxpr {
    let kind = how % 3;
    if kind == 0 {
        return j;
    }
    let in_avals = j.jaxpr.in_avals();
    let out_avals = j.jaxpr.out_avals();
    let body = Arc::new(j);
    let mut bld = JaxprBuilder::new();
    let ins: Vec<Var> = in_avals.iter().map(|a| bld.new_var(a.clone())).collect();
    let args: Vec<Atom> = ins.iter().map(|v| Atom::Var(*v)).collect();
    let outs: Vec<Atom> = if kind == 1 {
        // Index 7 is clamped to the last branch.
        let mut operands = vec![Atom::Lit(Scalar::I32(7))];
        operands.extend(args);
        let prim = P::Cond {
            branches: vec![body.clone(), body],
        };
        bld.add_eqn(prim, operands, None)
            .expect("cond of the program")
            .into_iter()
            .map(Atom::Var)
            .collect()
    } else {
        let prim = P::Scan {
            body,
            length: 1,
            reverse: false,
            num_consts: args.len(),
            num_carry: 0,
        };
        let stacked = bld.add_eqn(prim, args, None).expect("scan of the program");
        stacked
            .into_iter()
            .zip(&out_avals)
            .map(|(v, aval): (Var, &AVal)| {
                let prim = P::Reshape {
                    new_sizes: aval.shape.clone(),
                };
                Atom::Var(
                    bld.add_eqn(prim, vec![Atom::Var(v)], None)
                        .expect("reshape")[0],
                )
            })
            .collect()
    };
    ClosedJaxpr::new(
        bld.build(vec![], ins, outs).expect("wrapped program"),
        vec![],
    )
}
