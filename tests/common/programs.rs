//! Random programs: 1–6 steps drawn from the shape-generic entries of
//! `OP_CASES`, as data (`Program`) interpreted through the public API by
//! [`run_program`], and the proptest strategy that generates them.

use super::numeric::{array, max_abs, vals};
use super::op_cases::{Generic, OpCase, OP_CASES};
use super::sampling::squash;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use rjax::{lax, Array};

/// The table entries random programs draw from.
pub fn program_ops() -> Vec<&'static OpCase> {
    OP_CASES.iter().filter(|c| c.generic.is_some()).collect()
}

/// Values above this magnitude are passed through `3 tanh(v / 3)` before
/// the next step, so compositions stay well conditioned (sin of 1e6 has
/// no useful finite difference).
const NORMALIZE_ABOVE: f64 = 3.0;
/// Steps that would make a larger array are skipped.
const MAX_SIZE: usize = 36;

/// One step: an op from [`program_ops`], a seed for its parameters, and
/// which earlier value of the same shape is its second operand.
#[derive(Clone, Debug)]
pub struct Step {
    /// Index into [`program_ops`].
    pub op: usize,
    /// Picks the op's parameters.
    pub seed: u64,
    /// Picks the second operand among earlier values of the same shape.
    pub partner: usize,
}

/// A program: an input of `shape`, then `steps`. `seed` draws tangents
/// and cotangents.
#[derive(Clone)]
pub struct Program {
    /// Shape of the input.
    pub shape: Vec<usize>,
    /// The input, row-major.
    pub input: Vec<f64>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Seeds the tangents and cotangents the properties draw.
    pub seed: u64,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ops = program_ops();
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| {
                let c = ops[s.op];
                format!(
                    "{}[{}](seed {}, partner {})",
                    c.name, c.note, s.seed, s.partner
                )
            })
            .collect();
        write!(
            f,
            "Program {{ shape: {:?}, input: {:?}, steps: {steps:?}, seed: {} }}",
            self.shape, self.input, self.seed
        )
    }
}

/// Where values were normalized: decided once from concrete values at the
/// evaluation point, then fixed, so every transformation sees one smooth
/// function.
pub type Plan = Vec<bool>;

pub fn normalize(v: &Array) -> Array {
    lax::tanh(&(v / 3.0)) * 3.0
}

/// Runs `p` on `x`. With `plan == None` (eager), decides where to normalize
/// and returns that plan; otherwise follows it.
pub fn run_program(p: &Program, x: &Array, plan: Option<&Plan>) -> (Array, Plan) {
    let ops = program_ops();
    let mut made = Vec::new();
    let mut slot = 0;
    let mut prepare = |v: &Array| -> Array {
        let big = match plan {
            Some(plan) => plan[slot],
            None => max_abs(&vals(v)) > NORMALIZE_ABOVE,
        };
        slot += 1;
        made.push(big);
        if big {
            normalize(v)
        } else {
            v.clone()
        }
    };
    let mut history = vec![x.clone()];
    let mut current = x.clone();
    for step in &p.steps {
        let case = ops[step.op];
        let generic = case.generic.expect("program ops have a generic form");
        let domain = |k: usize| case.operands[k].domain;
        let next = match generic {
            Generic::Unary(f) => f(&squash(domain(0), &prepare(&current)).expect("squash")),
            Generic::Binary(f) => {
                let same: Vec<&Array> = history
                    .iter()
                    .filter(|h| h.shape() == current.shape())
                    .collect();
                let partner = same[step.partner % same.len()].clone();
                let a = squash(domain(0), &prepare(&current)).expect("squash");
                let b = squash(domain(1), &prepare(&partner)).expect("squash");
                f(&a, &b, step.seed)
            }
            Generic::Reshaping(f) => f(&prepare(&current), step.seed),
        };
        let next = next.unwrap_or_else(|e| panic!("{} failed in a program: {e}", case.name));
        if next.size() <= MAX_SIZE {
            history.push(next.clone());
            current = next;
        }
    }
    (current, made)
}

/// Fixed, uneven weights for scalarizing an output of `shape`.
pub fn weights(shape: &[usize]) -> Array {
    let n: usize = shape.iter().product();
    array(
        (0..n)
            .map(|k| 0.75 + 0.5 * (1.3 * k as f64 + 0.4).sin())
            .collect(),
        shape,
    )
}

pub fn program_strategy() -> impl Strategy<Value = Program> {
    let n_ops = program_ops().len();
    let step = (0..n_ops, any::<u64>(), 0usize..8).prop_map(|(op, seed, partner)| Step {
        op,
        seed,
        partner,
    });
    // Rank 0 to 3, mostly 1 and 2; dimensions 1 to 3.
    let rank = prop_oneof![1 => Just(0usize), 3 => Just(1), 4 => Just(2), 1 => Just(3)];
    (
        rank.prop_flat_map(|r| prop::collection::vec(1usize..=3, r)),
        prop::collection::vec(step, 1..=6),
        any::<u64>(),
    )
        .prop_flat_map(|(shape, steps, seed)| {
            let n: usize = shape.iter().product();
            prop::collection::vec(-1.5f64..1.5, n).prop_map(move |input| Program {
                shape: shape.clone(),
                input,
                steps: steps.clone(),
                seed,
            })
        })
}

/// Cases per property (each takes well under a millisecond in release).
pub const PROGRAM_CASES: u32 = 256;

/// Runs `check` on [`PROGRAM_CASES`] programs from a fixed seed.
pub fn for_programs(check: impl Fn(&Program, &Array, &Plan) -> Result<(), String>) {
    let config = Config {
        cases: PROGRAM_CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let result = runner.run(&program_strategy(), |p| {
        let x = array(p.input.clone(), &p.shape);
        let (_, plan) = run_program(&p, &x, None);
        check(&p, &x, &plan).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
