//! A reference executor for the PTX the PTX backend emits, so that its
//! instruction sequences (integer division guards, `fmod`, rounding,
//! NaN-propagating `max`/`min`, conversions, bool bytes, index math,
//! grid-stride loops, block reductions) can be checked against the kernel
//! interpreter without a GPU.
//!
//! Each instruction follows the PTX ISA's definition; where the ISA leaves
//! a result undefined (integer division by zero, `MIN / -1`) this executor
//! gives a poison value, so that an emitted sequence relying on it shows up
//! as a mismatch. A launch runs its blocks one after the other; within a
//! block every thread runs until it reaches a `shfl.sync` or `bar.sync`,
//! and once all the threads concerned (the warp, the block) wait there the
//! exchange is made and they go on. A warp or block whose threads disagree
//! (one at a barrier, another finished) is reported as an error, as is an
//! instruction outside the supported set.

use std::collections::HashMap;

/// What undefined integer results read as.
const POISON: u64 = 0xDEAD_BEEF_DEAD_BEEF;

/// Buffer `i` lives at `(i + 1) << BASE_SHIFT`.
const BASE_SHIFT: u32 = 40;

/// One parsed instruction.
struct Ins {
    /// `Some((p, negated))` for `@p` / `@!p`.
    guard: Option<(String, bool)>,
    /// The opcode's dot-separated parts (`["cvt", "rzi", "s32", "f32"]`).
    op: Vec<String>,
    /// Operands as written.
    args: Vec<String>,
}

/// Where a shared-memory address starts (one shared area per block).
const SHARED_BASE: u64 = 1 << 62;

/// A launch's geometry: blocks and threads per block.
pub struct Geometry {
    /// Blocks in the grid.
    pub blocks: u32,
    /// Threads in each block.
    pub threads: u32,
}

/// A thread's state.
struct Thread {
    regs: HashMap<String, u64>,
    pc: usize,
    /// Waiting at the sync instruction at `pc - 1`, or finished.
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Running,
    Waiting,
    Done,
}

/// Runs the entry named `entry` of `ptx` over `mem` (buffers of
/// little-endian element bytes), parameter `i` pointing at buffer
/// `params[i]`, with geometry `g`; the buffers are updated in place.
pub fn launch(
    ptx: &str,
    entry: &str,
    mem: &mut [Vec<u8>],
    params: &[usize],
    g: &Geometry,
) -> Result<(), String> {
    let start = ptx
        .find(&format!(".entry {entry}("))
        .ok_or_else(|| format!("no entry {entry}"))?;
    let text = &ptx[start..];
    let header_end = text.find('{').ok_or("no body")?;
    let names: Vec<String> = text[..header_end]
        .split(".param .u64")
        .skip(1)
        .map(|p| {
            p.trim_matches(|c: char| c == ',' || c == ')' || c.is_whitespace())
                .to_string()
        })
        .collect();
    if names.len() != params.len() {
        return Err(format!(
            "{} parameters, {} buffers bound",
            names.len(),
            params.len()
        ));
    }
    let body_end = text.find("\n}").ok_or("unterminated body")?;
    let mut code = Vec::new();
    let mut labels = HashMap::new();
    let mut shared = HashMap::new();
    let mut shared_bytes = 0u64;
    for line in text[header_end + 1..body_end].lines() {
        let line = line.trim().trim_end_matches(';');
        if line.is_empty() || line.starts_with(".reg") {
            continue;
        }
        if let Some(decl) = line.strip_prefix(".shared") {
            // `.shared .align 8 .b8 name[bytes]`
            let last = decl.split_whitespace().last().ok_or("bad .shared")?;
            let (name, n) = last
                .trim_end_matches(']')
                .split_once('[')
                .ok_or("bad .shared")?;
            let n: u64 = n.parse().map_err(|e| format!("{line}: {e}"))?;
            shared.insert(name.to_string(), SHARED_BASE + shared_bytes);
            shared_bytes += n.div_ceil(8) * 8;
            continue;
        }
        if let Some(l) = line.strip_suffix(':') {
            labels.insert(l.to_string(), code.len());
            continue;
        }
        code.push(parse(line)?);
    }
    let mut params_map: HashMap<String, u64> = names
        .iter()
        .zip(params)
        .map(|(name, &b)| (name.clone(), (b as u64 + 1) << BASE_SHIFT))
        .collect();
    params_map.extend(shared);
    let mut m = Machine {
        regs: HashMap::new(),
        params: params_map,
        mem,
        shared: vec![0; shared_bytes as usize],
        special: [0; 4],
    };
    let mut steps = 0u64;
    for block in 0..g.blocks {
        m.shared.iter_mut().for_each(|b| *b = 0);
        let mut threads: Vec<Thread> = (0..g.threads)
            .map(|_| Thread {
                regs: HashMap::new(),
                pc: 0,
                state: State::Running,
            })
            .collect();
        loop {
            for (t, th) in threads.iter_mut().enumerate() {
                if th.state != State::Running {
                    continue;
                }
                m.special = [
                    t as u64,
                    u64::from(g.threads),
                    u64::from(block),
                    u64::from(g.blocks),
                ];
                std::mem::swap(&mut m.regs, &mut th.regs);
                let r = m.run_thread(&code, &labels, th, &mut steps);
                std::mem::swap(&mut m.regs, &mut th.regs);
                r?;
            }
            if threads.iter().all(|t| t.state == State::Done) {
                break;
            }
            m.sync(&code, &mut threads)?;
        }
    }
    Ok(())
}

fn parse(line: &str) -> Result<Ins, String> {
    let (guard, rest) = match line.strip_prefix('@') {
        Some(g) => {
            let (p, rest) = g.split_once(' ').ok_or("bad guard")?;
            let (neg, p) = match p.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, p),
            };
            (Some((p.to_string(), neg)), rest.trim())
        }
        None => (None, line),
    };
    let (op, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    Ok(Ins {
        guard,
        op: op.split('.').map(str::to_string).collect(),
        args: args
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect(),
    })
}

struct Machine<'m> {
    /// The running thread's registers.
    regs: HashMap<String, u64>,
    /// Parameter and shared-array names and their addresses.
    params: HashMap<String, u64>,
    mem: &'m mut [Vec<u8>],
    /// The block's shared memory.
    shared: Vec<u8>,
    /// `%tid.x`, `%ntid.x`, `%ctaid.x`, `%nctaid.x` of the running thread.
    special: [u64; 4],
}

/// The width in bits of a type suffix.
fn width(t: &str) -> u32 {
    match &t[1..] {
        "8" => 8,
        "32" => 32,
        "64" => 64,
        _ => 1,
    }
}

fn mask(w: u32) -> u64 {
    if w >= 64 {
        u64::MAX
    } else {
        (1u64 << w) - 1
    }
}

/// Sign-extends the low `w` bits.
fn sext(x: u64, w: u32) -> i64 {
    ((x << (64 - w)) as i64) >> (64 - w)
}

fn f32v(x: u64) -> f32 {
    f32::from_bits(x as u32)
}

fn f64v(x: u64) -> f64 {
    f64::from_bits(x)
}

/// A float of type `t` (`f32`/`f64`) as f64, and back.
fn getf(t: &str, x: u64) -> f64 {
    if t == "f32" {
        f64::from(f32v(x))
    } else {
        f64v(x)
    }
}

fn putf(t: &str, x: f64) -> u64 {
    if t == "f32" {
        u64::from((x as f32).to_bits())
    } else {
        x.to_bits()
    }
}

/// Rounds to an integral float with PTX's integer rounding modifier.
fn round_mode(mode: &str, x: f64) -> f64 {
    match mode {
        "rzi" => x.trunc(),
        "rmi" => x.floor(),
        "rpi" => x.ceil(),
        _ => x.round_ties_even(),
    }
}

/// One float operation of `op` in the operands' own type (`$f(i)` reads
/// operand `i`), with IEEE round-to-nearest like PTX's `.rn`.
macro_rules! float_op {
    ($op:expr, $f:expr) => {
        match $op[0] {
            "add" => $f(1)? + $f(2)?,
            "sub" => $f(1)? - $f(2)?,
            "mul" => $f(1)? * $f(2)?,
            "div" => $f(1)? / $f(2)?,
            "neg" => -$f(1)?,
            "abs" => $f(1)?.abs(),
            "sqrt" => $f(1)?.sqrt(),
            "copysign" => $f(2)?.copysign($f(1)?),
            "fma" => $f(1)?.mul_add($f(2)?, $f(3)?),
            _ => return Err(format!("unsupported float op {}", $op.join("."))),
        }
    };
}

impl Machine<'_> {
    fn get(&self, a: &str) -> Result<u64, String> {
        if a.starts_with('%') {
            return match a {
                "%tid.x" => Ok(self.special[0]),
                "%ntid.x" => Ok(self.special[1]),
                "%ctaid.x" => Ok(self.special[2]),
                "%nctaid.x" => Ok(self.special[3]),
                _ => self
                    .regs
                    .get(a)
                    .copied()
                    .ok_or_else(|| format!("{a} read before it is written")),
            };
        }
        if let Some(h) = a.strip_prefix("0f").or_else(|| a.strip_prefix("0d")) {
            return u64::from_str_radix(h, 16).map_err(|e| format!("{a}: {e}"));
        }
        if let Some(h) = a.strip_prefix("0x") {
            return u64::from_str_radix(h, 16).map_err(|e| format!("{a}: {e}"));
        }
        if let Some(&p) = self.params.get(a) {
            return Ok(p);
        }
        a.parse::<i64>()
            .map(|v| v as u64)
            .map_err(|e| format!("operand {a}: {e}"))
    }

    fn set(&mut self, d: &str, v: u64) {
        self.regs.insert(d.to_string(), v);
    }

    /// The `n` bytes at address operand `[r]` (global or shared).
    fn slot(&mut self, a: &str, n: usize) -> Result<&mut [u8], String> {
        let r = a.trim_start_matches('[').trim_end_matches(']');
        let addr = self.get(r)?;
        let (area, off) = if addr >= SHARED_BASE {
            (&mut self.shared, (addr - SHARED_BASE) as usize)
        } else {
            let buf = (addr >> BASE_SHIFT) as usize;
            let off = (addr & mask(BASE_SHIFT)) as usize;
            match buf.checked_sub(1).and_then(|b| self.mem.get_mut(b)) {
                Some(m) => (m, off),
                None => return Err(format!("address {addr:#x} is in no buffer")),
            }
        };
        if off + n > area.len() || off % n != 0 {
            return Err(format!("address {addr:#x} out of bounds or misaligned"));
        }
        Ok(&mut area[off..off + n])
    }

    /// Runs the current thread until it finishes or reaches a sync
    /// instruction (left waiting just past it).
    fn run_thread(
        &mut self,
        code: &[Ins],
        labels: &HashMap<String, usize>,
        th: &mut Thread,
        steps: &mut u64,
    ) -> Result<(), String> {
        while th.pc < code.len() {
            *steps += 1;
            if *steps > 200_000_000 {
                return Err("too many steps".into());
            }
            let ins = &code[th.pc];
            th.pc += 1;
            if let Some((p, neg)) = &ins.guard {
                if (self.get(p)? != 0) == *neg {
                    continue;
                }
            }
            match ins.op[0].as_str() {
                "bra" => {
                    th.pc = *labels
                        .get(&ins.args[0])
                        .ok_or_else(|| format!("no label {}", ins.args[0]))?;
                }
                "ret" | "exit" => break,
                "shfl" | "bar" => {
                    th.state = State::Waiting;
                    return Ok(());
                }
                _ => self
                    .exec(ins)
                    .map_err(|e| format!("{} {}: {e}", ins.op.join("."), ins.args.join(", ")))?,
            }
        }
        th.state = State::Done;
        Ok(())
    }

    /// Completes the sync instructions the waiting threads stopped at: the
    /// shuffles of warps whose 32 lanes all wait at one, else a barrier
    /// every thread of the block waits at.
    fn sync(&mut self, code: &[Ins], threads: &mut [Thread]) -> Result<(), String> {
        let at = |t: &Thread| &code[t.pc - 1];
        let mut progressed = false;
        for warp in threads.chunks_mut(32) {
            if warp.len() != 32 || warp.iter().any(|t| t.state != State::Waiting) {
                continue;
            }
            if at(&warp[0]).op[0] != "shfl" {
                continue;
            }
            if warp.iter().any(|t| t.pc != warp[0].pc) {
                return Err("lanes of a warp at different shuffles".into());
            }
            let ins = at(&warp[0]);
            // shfl.sync.bfly.b32 d, a, b, c, membermask
            if ins.op[2] != "bfly" || ins.args.len() != 5 {
                return Err(format!("unsupported shuffle {}", ins.op.join(".")));
            }
            let read = |t: &Thread, i: usize| -> Result<u64, String> {
                let a = &ins.args[i];
                match a.strip_prefix('%') {
                    Some(_) => t.regs.get(a).copied().ok_or_else(|| format!("{a} unset")),
                    None => a.parse::<u64>().map_err(|e| format!("{a}: {e}")),
                }
            };
            let mut vals = Vec::with_capacity(32);
            for t in warp.iter() {
                vals.push((read(t, 1)? & 0xFFFF_FFFF, read(t, 2)? as usize & 31));
            }
            for (lane, t) in warp.iter_mut().enumerate() {
                let src = lane ^ vals[lane].1;
                t.regs.insert(ins.args[0].clone(), vals[src].0);
                t.state = State::Running;
            }
            progressed = true;
        }
        if progressed {
            return Ok(());
        }
        let all_at_bar = threads
            .iter()
            .all(|t| t.state == State::Waiting && at(t).op[0] == "bar");
        if all_at_bar {
            threads.iter_mut().for_each(|t| t.state = State::Running);
            return Ok(());
        }
        Err("threads stuck: a warp or block does not meet at its sync".into())
    }

    fn exec(&mut self, ins: &Ins) -> Result<(), String> {
        let op: Vec<&str> = ins.op.iter().map(String::as_str).collect();
        let a = &ins.args;
        let t = *op.last().ok_or("empty opcode")?;
        let w = width(t);
        let arg = |i: usize| -> Result<u64, String> {
            let s = a.get(i).ok_or("missing operand")?;
            self.get(s)
        };
        let v = match op[0] {
            "ld" if op[1] == "param" => self.get(a[1].trim_matches(|c| c == '[' || c == ']'))?,
            "ld" => {
                let n = (w / 8) as usize;
                let mut bytes = [0u8; 8];
                bytes[..n].copy_from_slice(self.slot(&a[1], n)?);
                u64::from_le_bytes(bytes)
            }
            "st" => {
                let n = (w / 8) as usize;
                let x = self.get(&a[1])?.to_le_bytes();
                self.slot(&a[0], n)?.copy_from_slice(&x[..n]);
                return Ok(());
            }
            "red" => {
                // red.global.add.t [addr], x
                let n = (w / 8) as usize;
                let x = self.get(&a[1])?;
                let mut bytes = [0u8; 8];
                bytes[..n].copy_from_slice(self.slot(&a[0], n)?);
                let old = u64::from_le_bytes(bytes);
                let sum = match t {
                    "f32" => u64::from((f32v(old) + f32v(x)).to_bits()),
                    "f64" => (f64v(old) + f64v(x)).to_bits(),
                    _ => old.wrapping_add(x) & mask(w),
                };
                self.slot(&a[0], n)?
                    .copy_from_slice(&sum.to_le_bytes()[..n]);
                return Ok(());
            }
            "mov" if a[0].starts_with('{') => {
                // mov.b64 {lo, hi}, v
                let v = self.get(&a[2])?;
                let lo = a[0].trim_start_matches('{').to_string();
                let hi = a[1].trim_end_matches('}').to_string();
                self.set(&lo, v & 0xFFFF_FFFF);
                self.set(&hi, v >> 32);
                return Ok(());
            }
            "mov" if a[1].starts_with('{') => {
                // mov.b64 v, {lo, hi}
                let lo = self.get(a[1].trim_start_matches('{'))?;
                let hi = self.get(a[2].trim_end_matches('}'))?;
                (hi << 32) | (lo & 0xFFFF_FFFF)
            }
            "cvta" | "mov" => arg(1)? & mask(w),
            "selp" => {
                if arg(3)? != 0 {
                    arg(1)?
                } else {
                    arg(2)?
                }
            }
            "setp" => u64::from(compare(op[1], t, arg(1)?, arg(2)?)),
            "cvt" => convert(&op, arg(1)?)?,
            "not" => !arg(1)? & mask(w),
            "and" | "or" | "xor" => {
                let (x, y) = (arg(1)?, arg(2)?);
                let r = match op[0] {
                    "and" => x & y,
                    "or" => x | y,
                    _ => x ^ y,
                };
                r & mask(w)
            }
            "shl" | "shr" => {
                let (x, n) = (arg(1)? & mask(w), (arg(2)? & 0xFFFF_FFFF).min(u64::from(w)));
                let n = n as u32;
                match (op[0], t.as_bytes()[0]) {
                    ("shl", _) if n >= w => 0,
                    ("shl", _) => (x << n) & mask(w),
                    (_, b's') if n >= w => (sext(x, w) >> (w - 1)) as u64 & mask(w),
                    (_, b's') => (sext(x, w) >> n) as u64 & mask(w),
                    _ if n >= w => 0,
                    _ => x >> n,
                }
            }
            "clz" => u64::from((arg(1)? & mask(w)).leading_zeros() - (64 - w)),
            _ if t.starts_with('f') => self.float(&op, t, a)?,
            _ => self.integer(&op, t, a)?,
        };
        self.set(&a[0], v);
        Ok(())
    }

    fn float(&self, op: &[&str], t: &str, a: &[String]) -> Result<u64, String> {
        let bits = |i: usize| self.get(&a[i]);
        if t == "f32" {
            let f = |i: usize| -> Result<f32, String> { Ok(f32v(bits(i)?)) };
            let r = float_op!(op, f);
            Ok(u64::from(r.to_bits()))
        } else {
            let f = |i: usize| -> Result<f64, String> { Ok(f64v(bits(i)?)) };
            let r = float_op!(op, f);
            Ok(r.to_bits())
        }
    }

    fn integer(&self, op: &[&str], t: &str, a: &[String]) -> Result<u64, String> {
        let w = width(t);
        let signed = t.starts_with('s');
        let x = |i: usize| -> Result<u64, String> { Ok(self.get(&a[i])? & mask(w)) };
        let s = |i: usize| -> Result<i64, String> { Ok(sext(x(i)?, w)) };
        let wide = op.get(1) == Some(&"wide");
        Ok(match op[0] {
            "add" => x(1)?.wrapping_add(x(2)?) & mask(w),
            "sub" => x(1)?.wrapping_sub(x(2)?) & mask(w),
            "neg" => x(1)?.wrapping_neg() & mask(w),
            "mul" if wide && signed => (s(1)?.wrapping_mul(s(2)?)) as u64,
            "mul" if wide => x(1)?.wrapping_mul(x(2)?),
            "mul" => x(1)?.wrapping_mul(x(2)?) & mask(w),
            "mad" => x(1)?.wrapping_mul(x(2)?).wrapping_add(x(3)?) & mask(w),
            "min" | "max" => {
                let pick_first = if signed {
                    (s(1)? < s(2)?) == (op[0] == "min")
                } else {
                    (x(1)? < x(2)?) == (op[0] == "min")
                };
                if pick_first {
                    x(1)?
                } else {
                    x(2)?
                }
            }
            "div" | "rem" => {
                let (n, d) = (x(1)?, x(2)?);
                let overflow = signed && s(1)? == sext(1 << (w - 1), w) && s(2)? == -1;
                if d == 0 || overflow {
                    POISON & mask(w)
                } else if signed {
                    let (n, d) = (s(1)?, s(2)?);
                    let r = if op[0] == "div" { n / d } else { n % d };
                    r as u64 & mask(w)
                } else if op[0] == "div" {
                    n / d
                } else {
                    n % d
                }
            }
            _ => return Err(format!("unsupported integer op {}", op.join("."))),
        })
    }
}

/// `setp.cmp.t a, b`.
fn compare(cmp: &str, t: &str, a: u64, b: u64) -> bool {
    use std::cmp::Ordering as O;
    let w = width(t);
    let ord = match t.as_bytes()[0] {
        b'f' => getf(t, a).partial_cmp(&getf(t, b)),
        b's' => Some(sext(a & mask(w), w).cmp(&sext(b & mask(w), w))),
        _ => Some((a & mask(w)).cmp(&(b & mask(w)))),
    };
    match (cmp, ord) {
        ("nan", o) => o.is_none(),
        ("neu", o) => o != Some(O::Equal),
        (_, None) => false,
        ("eq", Some(o)) => o == O::Equal,
        ("ne", Some(o)) => o != O::Equal,
        ("lt", Some(o)) => o == O::Less,
        ("le", Some(o)) => o != O::Greater,
        ("gt", Some(o)) => o == O::Greater,
        ("ge", Some(o)) => o != O::Less,
        _ => false,
    }
}

/// `cvt[.mode].d.s`: integer results saturate and NaN gives 0; float
/// results round to nearest (or as the integer rounding mode says).
fn convert(op: &[&str], x: u64) -> Result<u64, String> {
    let (d, s) = (op[op.len() - 2], op[op.len() - 1]);
    let mode = if op.len() == 4 { op[1] } else { "rn" };
    let (dw, sw) = (width(d), width(s));
    if !s.starts_with('f') {
        // integer source: sign- or zero-extended, then truncated or
        // rounded to nearest
        let signed = s.starts_with('s');
        let (v, f) = if signed {
            let v = sext(x & mask(sw), sw);
            (v as u64, v as f64)
        } else {
            let v = x & mask(sw);
            (v, v as f64)
        };
        return Ok(match d {
            "f32" if signed => u64::from((v as i64 as f32).to_bits()),
            "f32" => u64::from((v as f32).to_bits()),
            "f64" => f.to_bits(),
            _ => v & mask(dw),
        });
    }
    let value = getf(s, x);
    if d.starts_with('f') {
        let r = if op.len() == 4 && mode != "rn" {
            round_mode(mode, value)
        } else {
            value
        };
        return Ok(putf(d, r));
    }
    if mode != "rzi" {
        return Err(format!("float to integer with .{mode}"));
    }
    let v = value.trunc();
    Ok(match d {
        "s32" => (v as i32) as u32 as u64,
        "u32" => u64::from(v as u32),
        "s64" => v as i64 as u64,
        "u64" => v as u64,
        _ => return Err(format!("cvt to {d}")),
    })
}
