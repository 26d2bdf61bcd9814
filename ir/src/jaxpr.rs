//! The jaxpr: rjax's program representation.
//!
//! A [`Jaxpr`] is a list of equations in SSA form over typed variables.
//! Variables are `u32` indices into the jaxpr's own arena of abstract
//! values ([`Jaxpr::aval`]); names in the printed form are assigned in order
//! of definition. A [`ClosedJaxpr`] also carries the values of its constant
//! variables. Jaxprs are built with [`JaxprBuilder`], which runs the shape
//! rule of every equation as it is added and verifies the result.

use crate::buffer::{HostBuffer, Scalar};
use crate::dtype::AVal;
use crate::error::Result;
use crate::primitive::Primitive;
use std::panic::Location;

/// A variable of a jaxpr: an index into its arena of abstract values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Var(pub u32);

impl Var {
    /// The arena index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// An equation operand: a variable or a rank-0 literal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Atom {
    /// A variable defined earlier (or an input).
    Var(Var),
    /// A rank-0 constant.
    Lit(Scalar),
}

impl From<Var> for Atom {
    fn from(v: Var) -> Atom {
        Atom::Var(v)
    }
}

/// One equation: `outputs = prim(inputs)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Eqn {
    /// The operation and its parameters.
    pub prim: Primitive,
    /// Operands.
    pub inputs: Vec<Atom>,
    /// Results, each defined here for the first and only time.
    pub outputs: Vec<Var>,
    /// Where in user code the operation was called, when known.
    pub loc: Option<&'static Location<'static>>,
}

/// A function in SSA form: `constvars` and `invars` in, `outvars` out.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Jaxpr {
    /// Abstract value of every variable, indexed by [`Var::index`].
    pub avals: Vec<AVal>,
    /// Variables bound to constants (see [`ClosedJaxpr::consts`]).
    pub constvars: Vec<Var>,
    /// Input variables.
    pub invars: Vec<Var>,
    /// Equations in execution order.
    pub eqns: Vec<Eqn>,
    /// Results.
    pub outvars: Vec<Atom>,
}

impl Jaxpr {
    /// The abstract value of a variable.
    pub fn aval(&self, var: Var) -> &AVal {
        &self.avals[var.index()]
    }

    /// The abstract value of an operand (literals are rank 0).
    pub fn atom_aval(&self, atom: &Atom) -> AVal {
        match atom {
            Atom::Var(v) => self.aval(*v).clone(),
            Atom::Lit(s) => AVal::scalar(s.dtype()),
        }
    }

    /// Abstract values of the inputs.
    pub fn in_avals(&self) -> Vec<AVal> {
        self.invars.iter().map(|v| self.aval(*v).clone()).collect()
    }

    /// Abstract values of the outputs.
    pub fn out_avals(&self) -> Vec<AVal> {
        self.outvars.iter().map(|a| self.atom_aval(a)).collect()
    }
}

/// A jaxpr together with the values of its constant variables.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedJaxpr {
    /// The program.
    pub jaxpr: Jaxpr,
    /// One value per `jaxpr.constvars`, in order.
    pub consts: Vec<HostBuffer>,
}

impl ClosedJaxpr {
    /// Closes a jaxpr over constants; `consts` must match `constvars`.
    pub fn new(jaxpr: Jaxpr, consts: Vec<HostBuffer>) -> ClosedJaxpr {
        assert_eq!(
            jaxpr.constvars.len(),
            consts.len(),
            "internal error: ClosedJaxpr needs one constant per constvar"
        );
        ClosedJaxpr { jaxpr, consts }
    }
}

/// Builds a jaxpr one equation at a time, running each equation's shape rule.
#[derive(Clone, Debug, Default)]
pub struct JaxprBuilder {
    avals: Vec<AVal>,
    eqns: Vec<Eqn>,
}

impl JaxprBuilder {
    /// An empty builder.
    pub fn new() -> JaxprBuilder {
        JaxprBuilder::default()
    }

    /// A fresh variable of the given abstract value (for inputs and constants).
    pub fn new_var(&mut self, aval: AVal) -> Var {
        let var = Var(u32::try_from(self.avals.len()).expect("internal error: too many variables"));
        self.avals.push(aval);
        var
    }

    /// The abstract value of a variable made by this builder.
    pub fn aval(&self, var: Var) -> &AVal {
        &self.avals[var.index()]
    }

    /// The abstract value of an operand.
    pub fn atom_aval(&self, atom: &Atom) -> AVal {
        match atom {
            Atom::Var(v) => self.aval(*v).clone(),
            Atom::Lit(s) => AVal::scalar(s.dtype()),
        }
    }

    /// Appends `prim(inputs)`, returning the fresh output variables.
    ///
    /// # Errors
    /// The shape rule's error when the operands do not fit the primitive.
    pub fn add_eqn(
        &mut self,
        prim: Primitive,
        inputs: Vec<Atom>,
        loc: Option<&'static Location<'static>>,
    ) -> Result<Vec<Var>> {
        let in_avals: Vec<AVal> = inputs.iter().map(|a| self.atom_aval(a)).collect();
        let out_avals = crate::shape::abstract_eval(&prim, &in_avals)?;
        let outputs = out_avals.into_iter().map(|a| self.new_var(a)).collect();
        let eqn = Eqn {
            prim,
            inputs,
            outputs,
            loc,
        };
        let outs = eqn.outputs.clone();
        self.eqns.push(eqn);
        Ok(outs)
    }

    /// Number of equations added so far.
    pub fn num_eqns(&self) -> usize {
        self.eqns.len()
    }

    /// Finishes the jaxpr and verifies it.
    ///
    /// # Errors
    /// [`crate::Error::Verify`] if the result is not well formed (for example
    /// an output that was never defined).
    pub fn build(self, constvars: Vec<Var>, invars: Vec<Var>, outvars: Vec<Atom>) -> Result<Jaxpr> {
        let jaxpr = Jaxpr {
            avals: self.avals,
            constvars,
            invars,
            eqns: self.eqns,
            outvars,
        };
        crate::verify::verify(&jaxpr)?;
        Ok(jaxpr)
    }
}
