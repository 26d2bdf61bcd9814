//! Helpers shared by integration tests (`mod common;`).
//!
//! - [`op_cases`]: the `OP_CASES` table, one entry (or more) per primitive,
//!   with the operand shapes, the input domain and what can be checked.
//! - [`rng`]: a small deterministic generator for sampling operands.

pub mod op_cases;
pub mod rng;
