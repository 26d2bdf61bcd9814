//! Control steps in the kernel interpreter: each sub-program runs through
//! [`super::run_program`] on host buffers, as the reference interpreter
//! runs the sub-jaxprs (`cond` clamps its index, `while` tests before
//! every iteration, `scan` slices `xs` and stacks `ys` along axis 0).

use super::{program_error, run_program};
use crate::control::{ControlKind, ControlStep};
use crate::program::{BufferRef, Program};
use rjax_ir::{num_elements, Data, HostBuffer, Result};

/// Runs control step `c` of `program` on the program's buffers `bufs`:
/// reads its inputs, writes its outputs.
pub(super) fn run(c: &ControlStep, program: &Program, bufs: &mut [Data]) -> Result<()> {
    let host = |r: BufferRef, bufs: &[Data]| -> Result<HostBuffer> {
        let pb = program
            .buffers
            .get(r.0 as usize)
            .ok_or_else(|| program_error(format!("buffer {} does not exist", r.0)))?;
        HostBuffer::new(bufs[r.0 as usize].clone(), &pb.shape)
    };
    let inputs = c
        .inputs
        .iter()
        .map(|r| host(*r, bufs))
        .collect::<Result<Vec<_>>>()?;
    let results = match &c.kind {
        ControlKind::Cond { branches } => {
            let index = match inputs.first().map(HostBuffer::data) {
                Some(Data::I32(v)) if v.len() == 1 => v[0],
                _ => return Err(program_error("cond index is not an i32 scalar".into())),
            };
            let last = branches.len().saturating_sub(1);
            let i = usize::try_from(index.max(0)).map_or(last, |i| i.min(last));
            let branch = branches
                .get(i)
                .ok_or_else(|| program_error("cond without branches".into()))?;
            run_program(branch, &inputs[1..])?
        }
        ControlKind::While { cond, body } => {
            let mut carry = inputs;
            loop {
                let go = run_program(cond, &carry)?;
                match go.first().map(HostBuffer::data) {
                    Some(Data::Bool(v)) if v.len() == 1 => {
                        if !v[0] {
                            break;
                        }
                    }
                    _ => return Err(program_error("while condition is not a bool scalar".into())),
                }
                carry = run_program(body, &carry)?;
            }
            carry
        }
        ControlKind::Scan {
            body,
            length,
            reverse,
            num_consts,
            num_carry,
        } => scan(body, *length, *reverse, [*num_consts, *num_carry], &inputs)?,
    };
    if results.len() != c.outputs.len() {
        return Err(program_error(format!(
            "{} gave {} results for {} outputs",
            c.name(),
            results.len(),
            c.outputs.len()
        )));
    }
    for (r, value) in c.outputs.iter().zip(results) {
        let slot = &mut bufs[r.0 as usize];
        if slot.dtype() != value.dtype() || slot.len() != value.len() {
            return Err(program_error(format!(
                "{} result {} does not fit buffer {} ({}[{}])",
                c.name(),
                value.aval(),
                r.0,
                slot.dtype(),
                slot.len()
            )));
        }
        *slot = value.into_data();
    }
    Ok(())
}

/// `scan`: the carry threads through the body, `ys` are stacked.
fn scan(
    body: &Program,
    length: usize,
    reverse: bool,
    [num_consts, num_carry]: [usize; 2],
    inputs: &[HostBuffer],
) -> Result<Vec<HostBuffer>> {
    let fixed = num_consts + num_carry;
    if fixed > inputs.len() {
        return Err(program_error(
            "scan has fewer operands than consts and carries".into(),
        ));
    }
    let mut carry = inputs[num_consts..fixed].to_vec();
    let y_bufs: Vec<&crate::program::ProgramBuffer> = body
        .outputs
        .iter()
        .skip(num_carry)
        .map(|r| &body.buffers[r.0 as usize])
        .collect();
    let mut ys: Vec<Vec<Option<HostBuffer>>> = vec![vec![None; length]; y_bufs.len()];
    for step in 0..length {
        let i = if reverse { length - 1 - step } else { step };
        let mut args = inputs[..num_consts].to_vec();
        args.append(&mut carry);
        for x in &inputs[fixed..] {
            let inner = num_elements(&x.shape()[1..]);
            let data = x.data().take(i * inner..(i + 1) * inner);
            args.push(HostBuffer::new(data, &x.shape()[1..])?);
        }
        let mut results = run_program(body, &args)?;
        let y = results.split_off(num_carry.min(results.len()));
        carry = results;
        for (slot, value) in ys.iter_mut().zip(y) {
            slot[i] = Some(value);
        }
    }
    for (pb, parts) in y_bufs.iter().zip(ys) {
        let mut data = Data::filled(rjax_ir::Scalar::zero(pb.dtype), 0);
        let mut shape = vec![length];
        shape.extend_from_slice(&pb.shape);
        for p in parts.into_iter().flatten() {
            append(&mut data, p.into_data())?;
        }
        carry.push(HostBuffer::new(data, &shape)?);
    }
    Ok(carry)
}

/// Appends `more` to `data` (of the same element type).
fn append(data: &mut Data, more: Data) -> Result<()> {
    match (data, more) {
        (Data::F32(a), Data::F32(b)) => a.extend(b),
        (Data::F64(a), Data::F64(b)) => a.extend(b),
        (Data::I32(a), Data::I32(b)) => a.extend(b),
        (Data::U32(a), Data::U32(b)) => a.extend(b),
        (Data::Bool(a), Data::Bool(b)) => a.extend(b),
        (a, b) => {
            return Err(program_error(format!(
                "scan output slices of {} and {}",
                a.dtype(),
                b.dtype()
            )))
        }
    }
    Ok(())
}
