//! The pure part of running a control step on the GPU: which branch a
//! `cond` takes, which slice a `scan` iteration addresses, and on which
//! side of the double-buffered carry each iteration reads and writes.
//!
//! Side 0 of a carry is the step's result buffer, side 1 its scratch copy.
//! A `scan` of `length` iterations starts on side 1 when `length` is odd,
//! so that its last iteration writes side 0 (nothing is copied at the end);
//! a `while` starts on side 0 and copies back when its trip count was odd.
//! These are the rules the Cranelift runtime follows (`cpu::control`),
//! written here as functions the GPU runtime calls and tests check.

/// The branch a `cond` with `branches` branches runs for `index`, clamped
/// into `0..branches` as the reference interpreter does.
pub(crate) fn cond_branch(index: i32, branches: usize) -> usize {
    let last = branches.saturating_sub(1);
    usize::try_from(index.max(0)).map_or(last, |i| i.min(last))
}

/// The slice scan iteration `step` (counted from 0) addresses.
pub(crate) fn scan_slice(step: usize, length: usize, reverse: bool) -> usize {
    if reverse {
        length - 1 - step
    } else {
        step
    }
}

/// Bytes of one slice of a stacked scan operand or result of `total`
/// bytes (0 for a scan of length 0).
pub(crate) fn slice_bytes(total: usize, length: usize) -> usize {
    total.checked_div(length).unwrap_or(0)
}

/// The side of the carry a scan of `length` iterations initialises.
pub(crate) fn scan_start_side(length: usize) -> usize {
    length % 2
}

/// The carry sides `(read, write)` of scan iteration `step`.
pub(crate) fn scan_sides(step: usize, length: usize) -> (usize, usize) {
    let read = (scan_start_side(length) + step) % 2;
    (read, 1 - read)
}

/// The carry sides `(read, write)` of the `trip`-th body run of a `while`
/// (the carry starts on side 0).
pub(crate) fn while_sides(trip: usize) -> (usize, usize) {
    (trip % 2, 1 - trip % 2)
}

/// Whether a `while` that ran its body `trips` times left the carry in
/// the scratch copy (it is then copied to the results).
pub(crate) fn while_ends_in_scratch(trips: usize) -> bool {
    trips % 2 == 1
}

/// Scratch layout of a control step: the sub-programs' arena (the largest
/// of theirs), then one copy of each carry, then (for a `while`) one byte
/// for the condition's flag, each 64-byte aligned. Returns the offsets of
/// the copies (and flag) and the total size.
pub(crate) fn scratch_layout(arena_bytes: usize, slots: &[usize]) -> (Vec<usize>, usize) {
    let align = |n: usize| n.div_ceil(64) * 64;
    let mut at = align(arena_bytes);
    let offsets = slots
        .iter()
        .map(|b| {
            let o = at;
            at += align(*b);
            o
        })
        .collect();
    (offsets, at)
}

/// The device addresses a `scan` binds: per iteration, the body's
/// arguments `(consts, carry side read, x slices)` and results `(carry
/// side written, y slices)`.
pub(crate) struct ScanAddresses<'a> {
    /// The step's inputs `(consts, carry, xs)`.
    pub ins: &'a [u64],
    /// The step's outputs `(carry, ys)`: side 0 of the carry.
    pub outs: &'a [u64],
    /// The scratch copies of the carry: side 1.
    pub copies: &'a [u64],
    /// Bytes of each input and output buffer (whole, stacked).
    pub in_bytes: &'a [usize],
    /// Bytes of each output buffer.
    pub out_bytes: &'a [usize],
    /// Iterations.
    pub length: usize,
    /// From the last slice to the first.
    pub reverse: bool,
    /// Leading loop-invariant inputs.
    pub num_consts: usize,
    /// Carried values.
    pub num_carry: usize,
}

impl ScanAddresses<'_> {
    fn side(&self, s: usize) -> &[u64] {
        if s == 0 {
            &self.outs[..self.num_carry]
        } else {
            &self.copies[..self.num_carry]
        }
    }

    /// The copies that initialise the carry: `(destination, source,
    /// bytes)`.
    pub(crate) fn init(&self) -> Vec<(u64, u64, usize)> {
        let start = self.side(scan_start_side(self.length));
        (0..self.num_carry)
            .map(|k| (start[k], self.ins[self.num_consts + k], self.out_bytes[k]))
            .collect()
    }

    /// The body's argument and result addresses in iteration `step`.
    pub(crate) fn iteration(&self, step: usize) -> (Vec<u64>, Vec<u64>) {
        let (nc, ncarry) = (self.num_consts, self.num_carry);
        let fixed = nc + ncarry;
        let i = scan_slice(step, self.length, self.reverse) as u64;
        let (r, w) = scan_sides(step, self.length);
        let at = |base: &u64, total: &usize| base + i * slice_bytes(*total, self.length) as u64;
        let mut args = self.ins[..nc].to_vec();
        args.extend_from_slice(self.side(r));
        args.extend(
            self.ins[fixed..]
                .iter()
                .zip(&self.in_bytes[fixed..])
                .map(|(x, b)| at(x, b)),
        );
        let mut res = self.side(w).to_vec();
        res.extend(
            self.outs[ncarry..]
                .iter()
                .zip(&self.out_bytes[ncarry..])
                .map(|(y, b)| at(y, b)),
        );
        (args, res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scan of 3 over (one const, one carry of 8 bytes, one xs of 3 × 4
    /// bytes) -> (carry, ys of 3 × 16 bytes), at made-up addresses.
    #[test]
    fn scan_addresses_slices_and_alternates_the_carry() {
        let (ins, outs, copies) = ([1000, 2000, 3000], [4000, 5000], [6000]);
        for reverse in [false, true] {
            let a = ScanAddresses {
                ins: &ins,
                outs: &outs,
                copies: &copies,
                in_bytes: &[32, 8, 12],
                out_bytes: &[8, 48],
                length: 3,
                reverse,
                num_consts: 1,
                num_carry: 1,
            };
            // odd length: start in the copy, so the last write is the result
            assert_eq!(a.init(), [(6000, 2000, 8)]);
            let order: [u64; 3] = if reverse { [2, 1, 0] } else { [0, 1, 2] };
            let carry = [(6000, 4000), (4000, 6000), (6000, 4000)];
            for step in 0..3 {
                let i = order[step];
                let (r, w) = carry[step];
                assert_eq!(
                    a.iteration(step),
                    (vec![1000, r, 3000 + 4 * i], vec![w, 5000 + 16 * i])
                );
            }
        }
    }

    #[test]
    fn cond_clamps_like_the_interpreter() {
        assert_eq!(cond_branch(-5, 3), 0);
        assert_eq!(cond_branch(0, 3), 0);
        assert_eq!(cond_branch(2, 3), 2);
        assert_eq!(cond_branch(7, 3), 2);
        assert_eq!(cond_branch(i32::MAX, 1), 0);
    }

    #[test]
    fn scan_visits_every_slice_once_in_order() {
        let fwd: Vec<usize> = (0..4).map(|s| scan_slice(s, 4, false)).collect();
        let rev: Vec<usize> = (0..4).map(|s| scan_slice(s, 4, true)).collect();
        assert_eq!(fwd, [0, 1, 2, 3]);
        assert_eq!(rev, [3, 2, 1, 0]);
        assert_eq!(slice_bytes(48, 4), 12);
        assert_eq!(slice_bytes(0, 0), 0);
    }

    /// Simulates the ping-pong: each iteration must read the side the
    /// previous one wrote, and the last must write the result (side 0).
    #[test]
    fn scan_carry_ends_in_the_result_for_every_length() {
        for length in 0..7 {
            let mut holds = scan_start_side(length);
            for step in 0..length {
                let (read, write) = scan_sides(step, length);
                assert_eq!(read, holds, "length {length} step {step}");
                assert_ne!(read, write);
                holds = write;
            }
            assert_eq!(holds, 0, "length {length}");
        }
    }

    #[test]
    fn while_copies_back_exactly_when_the_carry_is_in_scratch() {
        for trips in 0..6 {
            let mut holds = 0;
            for trip in 0..trips {
                let (read, write) = while_sides(trip);
                assert_eq!(read, holds);
                holds = write;
            }
            assert_eq!(while_ends_in_scratch(trips), holds == 1, "{trips}");
        }
    }

    #[test]
    fn scratch_slots_are_aligned_and_disjoint() {
        let (at, total) = scratch_layout(100, &[8, 1, 130]);
        assert_eq!(at, [128, 192, 256]);
        assert_eq!(total, 256 + 192);
        assert_eq!(scratch_layout(0, &[]), (vec![], 0));
    }
}
