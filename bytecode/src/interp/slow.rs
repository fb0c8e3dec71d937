//! The interpreter's loop for the instructions without a fast form
//! (`exec::Op::Other`): calls the fast loop does not make (variadic,
//! structs in memory, through pointers, `setjmp`), `va_*`, 128-bit and
//! narrow-width arithmetic, frame memory, switches; and the moves of a
//! frame to compiled code (on-stack replacement).

use super::*;

impl<'m> Interp<'m> {
    /// Runs until the frame above `floor` returns: `Some(results)` when
    /// that was the last frame, `None` when the result went to the caller
    /// frame at `floor` (a run resumed after `setjmp`, see
    /// `CallReturnsTwice`).
    pub(super) fn run(
        &self,
        m: &dyn Machine,
        regs: &mut Vec<u64>,
        frames: &mut Vec<Frame>,
        floor: usize,
    ) -> Result<Option<[u64; 2]>, Trap> {
        let module = self.module;
        // The running frame's code, position and registers, kept in locals
        // (the frame's own `pc` is written back only when it calls).
        loop {
            // The fast ops, calls and returns in a loop of their own
            // (`fast`), whose few live values stay in machine registers;
            // it stops at the first op it does not run, its position
            // saved in the frame on top.
            if let Some(done) = self.fast(m, regs, frames, floor)? {
                return Ok(done);
            }
            let (code, _, mut pc, base) = self.resume(frames);
            let loops = &self.entries[frames[frames.len() - 1].func as usize].loops;
            let fr = window(regs, base);
            // The rest, from the instruction itself.
            let inst = &code[pc];
            pc += 1;
            match inst {
                Inst::Const { dst, value } => fr[*dst as usize] = *value,
                Inst::Addr { dst, sym } => fr[*dst as usize] = m.symbol(*sym),
                Inst::FuncAddr { dst, func } => fr[*dst as usize] = m.function_address(*func),
                Inst::Move { dst, src } => fr[*dst as usize] = fr[*src as usize],
                Inst::Bin { op, w, dst, a, b } => {
                    let v = bin(*op, *w, fr[*a as usize], fr[*b as usize])?;
                    fr[*dst as usize] = v;
                }
                Inst::Abs { w, dst, a } => {
                    fr[*dst as usize] = mask(*w, sext(*w, fr[*a as usize]).wrapping_abs() as u64)
                }
                Inst::FBin { op, f, dst, a, b } => {
                    fr[*dst as usize] = fbin(*op, *f, fr[*a as usize], fr[*b as usize])
                }
                Inst::F64Add { dst, a, b } => {
                    fr[*dst as usize] =
                        (f64_of(fr[*a as usize]) + f64_of(fr[*b as usize])).to_bits()
                }
                Inst::F64Sub { dst, a, b } => {
                    fr[*dst as usize] =
                        (f64_of(fr[*a as usize]) - f64_of(fr[*b as usize])).to_bits()
                }
                Inst::F64Mul { dst, a, b } => {
                    fr[*dst as usize] =
                        (f64_of(fr[*a as usize]) * f64_of(fr[*b as usize])).to_bits()
                }
                Inst::F64Div { dst, a, b } => {
                    fr[*dst as usize] =
                        (f64_of(fr[*a as usize]) / f64_of(fr[*b as usize])).to_bits()
                }
                Inst::FUn { op, f, dst, a } => fr[*dst as usize] = fun(*op, *f, fr[*a as usize]),
                Inst::FMulAdd { f, dst, a, b, c } => {
                    let (a, b, c) = (fr[*a as usize], fr[*b as usize], fr[*c as usize]);
                    fr[*dst as usize] = fmuladd(*f, a, b, c)
                }
                Inst::Wide { op, dst, a, b } => {
                    let x = wide(fr[*a as usize], fr[*a as usize + 1]);
                    let y = wide(fr[*b as usize], fr[*b as usize + 1]);
                    let v = bin128(*op, x, y)?;
                    fr[*dst as usize] = v as u64;
                    fr[*dst as usize + 1] = (v >> 64) as u64;
                }
                Inst::Overflow {
                    op,
                    signed,
                    w,
                    dst,
                    a,
                    b,
                } => {
                    let (x, y) = (fr[*a as usize], fr[*b as usize]);
                    let (value, overflowed) = overflow(*op, *signed, *w, x, y);
                    fr[*dst as usize] = value;
                    fr[*dst as usize + 1] = overflowed as u64;
                }
                Inst::WideCmp { p, dst, a, b } => {
                    let x = wide(fr[*a as usize], fr[*a as usize + 1]);
                    let y = wide(fr[*b as usize], fr[*b as usize + 1]);
                    fr[*dst as usize] = icmp128(*p, x, y) as u64;
                }
                Inst::WideExt {
                    signed,
                    from,
                    dst,
                    a,
                } => {
                    let v = fr[*a as usize];
                    let x = if *signed {
                        sext(*from, v) as i128 as u128
                    } else {
                        mask(*from, v) as u128
                    };
                    fr[*dst as usize] = x as u64;
                    fr[*dst as usize + 1] = (x >> 64) as u64;
                }
                Inst::WideTrunc { to, dst, a } => fr[*dst as usize] = mask(*to, fr[*a as usize]),
                Inst::WideFloat {
                    signed,
                    to_float,
                    f,
                    dst,
                    a,
                } => {
                    if *to_float {
                        let x = wide(fr[*a as usize], fr[*a as usize + 1]);
                        fr[*dst as usize] = match (f, signed) {
                            (Float::F32, true) => from_f32(x as i128 as f32),
                            (Float::F32, false) => from_f32(x as f32),
                            (Float::F64, true) => (x as i128 as f64).to_bits(),
                            (Float::F64, false) => (x as f64).to_bits(),
                        };
                    } else {
                        let v = fr[*a as usize];
                        let x = match f {
                            Float::F32 => f32_of(v) as f64,
                            Float::F64 => f64_of(v),
                        };
                        let bits = if *signed {
                            x as i128 as u128
                        } else {
                            x as u128
                        };
                        fr[*dst as usize] = bits as u64;
                        fr[*dst as usize + 1] = (bits >> 64) as u64;
                    }
                }
                Inst::ICmp { p, w, dst, a, b } => {
                    fr[*dst as usize] = icmp(*p, *w, fr[*a as usize], fr[*b as usize]) as u64
                }
                Inst::FCmp { p, f, dst, a, b } => {
                    fr[*dst as usize] = fcmp(*p, *f, fr[*a as usize], fr[*b as usize]) as u64
                }
                Inst::Cast { op, dst, a } => fr[*dst as usize] = cast(*op, fr[*a as usize]),
                Inst::Select { dst, cond, a, b } => {
                    let pick = if fr[*cond as usize] & 1 != 0 { a } else { b };
                    fr[*dst as usize] = fr[*pick as usize];
                }
                Inst::Load { size, dst, addr } => {
                    fr[*dst as usize] = mem::load(fr[*addr as usize], *size)
                }
                Inst::Store { size, addr, src } => {
                    mem::store(fr[*addr as usize], *size, fr[*src as usize])
                }
                Inst::Offset {
                    dst,
                    base: b,
                    index,
                    scale,
                } => {
                    let off = (fr[*index as usize] as i64).wrapping_mul(*scale);
                    fr[*dst as usize] = fr[*b as usize].wrapping_add(off as u64);
                }
                Inst::AddImm { dst, a, imm } => {
                    fr[*dst as usize] = fr[*a as usize].wrapping_add(*imm as u64)
                }
                Inst::Alloca { dst, size, align } => {
                    let at = self.alloca(*size as u64, *align as u64)?;
                    fr[*dst as usize] = at;
                }
                Inst::AllocaDyn {
                    dst,
                    count,
                    elem,
                    align,
                } => {
                    let size = fr[*count as usize]
                        .checked_mul(*elem as u64)
                        .ok_or(Trap::StackOverflow)?;
                    let at = self.alloca(size, *align as u64)?;
                    fr[*dst as usize] = at;
                }
                Inst::StackSave { dst } => fr[*dst as usize] = self.sp.get() as u64,
                Inst::StackRestore { src } => {
                    let to = fr[*src as usize] as usize;
                    let mark = frames.last().map_or(0, |f| f.stack_mark);
                    if to <= self.sp.get() && to >= mark {
                        self.sp.set(to);
                    }
                }
                Inst::MemCopy { dst, src, len } => {
                    mem::copy(fr[*dst as usize], fr[*src as usize], fr[*len as usize])
                }
                Inst::MemSet { dst, byte, len } => mem::set(
                    fr[*dst as usize],
                    fr[*byte as usize] as u8,
                    fr[*len as usize],
                ),
                Inst::Jump { to } => pc = *to as usize,
                Inst::BackJump { to, block } => {
                    loops.back_edge(*block);
                    pc = *to as usize;
                    let func = frames[frames.len() - 1].func;
                    if let Some(v) = self.replace_on_stack(m, func, *block, fr, frames) {
                        // The continuation ran the frame to its end.
                        if let Some(done) = self.pop_frame(regs, frames, v, floor) {
                            return Ok(done);
                        }
                        self.switch_back(frames);
                        // The frame on top has its position.
                        continue;
                    }
                }
                Inst::Branch {
                    cond,
                    then,
                    els,
                    edge,
                } => {
                    let taken = fr[*cond as usize] & 1 != 0;
                    loops.edge(*edge as usize, taken);
                    pc = if taken { *then } else { *els } as usize
                }
                Inst::CmpBranch {
                    p,
                    w,
                    a,
                    b,
                    then,
                    els,
                    edge,
                } => {
                    let taken = icmp(*p, *w, fr[*a as usize], fr[*b as usize]);
                    loops.edge(*edge as usize, taken);
                    pc = if taken { *then } else { *els } as usize
                }
                Inst::Switch {
                    w,
                    value,
                    default,
                    cases,
                } => {
                    let v = mask(*w, fr[*value as usize]);
                    pc = cases
                        .iter()
                        .find(|(c, _)| *c == v)
                        .map_or(*default, |(_, t)| *t) as usize;
                }
                Inst::Ret { .. } | Inst::Ret2 { .. } => {
                    let v = match inst {
                        Inst::Ret2 { a, b } => [fr[*a as usize], fr[*b as usize]],
                        Inst::Ret { value } => [value.map_or(0, |v| fr[v as usize]), 0],
                        _ => unreachable!(),
                    };
                    if let Some(done) = self.pop_frame(regs, frames, v, floor) {
                        return Ok(done);
                    }
                    self.switch_back(frames);
                    // The frame on top has its position.
                    continue;
                }
                Inst::Call {
                    callee,
                    args,
                    ret,
                    ret2,
                    ..
                } => {
                    let values = || -> Vec<(u64, Class)> {
                        args.iter().map(|&(a, c)| (fr[a as usize], c)).collect()
                    };
                    let target = match callee {
                        Callee::Function(i) => match m.compiled(*i) {
                            None => Ok(*i),
                            Some(addr) => Err(addr),
                        },
                        Callee::Symbol(s) => Err(m.symbol(*s)),
                        Callee::Indirect(p, site) => {
                            let addr = fr[*p as usize];
                            let f = m.function_at(addr);
                            loops.call_target(*site as usize, f);
                            match f {
                                Some(i)
                                    if m.compiled(i).is_none()
                                        && matches!(
                                            module.functions[i as usize].body,
                                            Body::Code { .. }
                                        ) =>
                                {
                                    Ok(i)
                                }
                                _ => Err(addr),
                            }
                        }
                    };
                    match target {
                        Err(addr) => {
                            self.call_out(m, fr, addr, inst);
                            self.switch_back(frames);
                        }
                        Ok(i) => {
                            if let Some(f) = frames.last_mut() {
                                f.pc = pc;
                            }
                            let callee_fn = &module.functions[i as usize];
                            let dst = (ret.map(|(d, _)| d), ret2.map(|(d, _)| d));
                            if callee_fn.variadic {
                                let placed = abi::place(values());
                                let (params, g, x, s) = abi::take(
                                    &callee_fn.params,
                                    &placed.gp,
                                    &placed.xmm,
                                    placed.stack.as_ptr() as u64,
                                );
                                let top = frames.last_mut().expect("caller");
                                let extra = top.variadic.get_or_insert_default();
                                extra.outgoing = placed.stack;
                                let va = VarArgs {
                                    gp: placed.gp,
                                    xmm: placed.xmm,
                                    stack: extra.outgoing.as_ptr() as u64,
                                    gp_used: g,
                                    xmm_used: x,
                                    stack_used: s,
                                };
                                self.enter(m, regs, frames, i, &params, dst, Some(va))?;
                                self.switch_to(i);
                                // The frame on top has its position.
                                continue;
                            } else {
                                // Straight from the caller's registers into
                                // the callee's: no allocation on the way.
                                if !matches!(callee_fn.body, Body::Code { .. }) {
                                    return Err(Trap::NotInterpretable(i));
                                }
                                let callee_base = frames.last().map_or(0, |f| f.end);
                                let end = callee_base + self.entries[i as usize].regs;
                                if regs.len() < end {
                                    regs.resize(end, 0);
                                }
                                for (k, (&(a, _), &c)) in
                                    args.iter().zip(&callee_fn.params).enumerate()
                                {
                                    let mut v = canonical(regs[base + a as usize], c);
                                    if let Class::Memory { size } = c {
                                        // The callee's own copy, as a
                                        // native call's stack slots are.
                                        let copy = self.alloca(size as u64, 8)?;
                                        mem::copy(copy, v, size as u64);
                                        v = copy;
                                    }
                                    regs[callee_base + k] = v;
                                }
                                self.switch_to(i);
                                self.open_frame(m, regs, frames, i, callee_base, end, dst, None);
                                // The frame on top has its position.
                                continue;
                            }
                        }
                    }
                }
                Inst::CallReturnsTwice { callee, args, ret } => {
                    let addr = match callee {
                        Callee::Symbol(s) => m.symbol(*s),
                        Callee::Indirect(p, site) => {
                            let addr = fr[*p as usize];
                            loops.call_target(*site as usize, m.function_at(addr));
                            addr
                        }
                        Callee::Function(_) => unreachable!("refused by the validator"),
                    };
                    let mut a = [0u64; 2];
                    for (k, &reg) in args.iter().enumerate() {
                        a[k] = fr[reg as usize];
                    }
                    if let Some(f) = frames.last_mut() {
                        f.pc = pc;
                    }
                    let depth = frames.len();
                    let sp = self.sp.get();
                    let ret = *ret;
                    let mut outcome = None;
                    let mut then = |value: u64| {
                        // Back to the state right after the call (after a
                        // longjmp, frames pushed since are gone).
                        frames.truncate(depth);
                        frames[depth - 1].pc = pc;
                        self.sp.set(sp);
                        if let Some((dst, c)) = ret {
                            regs[base + dst as usize] = canonical(value, c);
                        }
                        outcome = Some(self.run(m, regs, frames, depth - 1));
                    };
                    m.call_returns_twice(addr, a, &mut then);
                    match outcome.expect("the continuation ran") {
                        Ok(None) => {
                            // The frame on top has its position.
                            continue;
                        }
                        done => return done,
                    }
                }
                Inst::VaStart { list } => {
                    let list = fr[*list as usize];
                    let va = frames
                        .last()
                        .and_then(|f| f.va().cloned())
                        .unwrap_or(VarArgs {
                            gp: [0; 6],
                            xmm: [0; 8],
                            stack: 0,
                            gp_used: 6,
                            xmm_used: 8,
                            stack_used: 0,
                        });
                    // The register save area, as a native prologue makes it:
                    // six general registers, then eight 16-byte XMM slots.
                    let area = self.alloca(176, 16)?;
                    for (i, v) in va.gp.iter().enumerate() {
                        mem::store(area + 8 * i as u64, Size::B8, *v);
                    }
                    for (i, v) in va.xmm.iter().enumerate() {
                        mem::store(area + 48 + 16 * i as u64, Size::B8, *v);
                    }
                    mem::store(list, Size::B4, 8 * va.gp_used as u64);
                    mem::store(list + 4, Size::B4, 48 + 16 * va.xmm_used as u64);
                    mem::store(list + 8, Size::B8, va.stack + 8 * va.stack_used as u64);
                    mem::store(list + 16, Size::B8, area);
                }
                Inst::VaCopy { dst, src } => mem::copy(fr[*dst as usize], fr[*src as usize], 24),
                Inst::VaArg { dst, list, class } => {
                    let list = fr[*list as usize];
                    let (off_at, limit, step) = match class {
                        Class::Int { .. } => (list, 48, 8),
                        Class::F32 | Class::F64 => (list + 4, 176, 16),
                        Class::Memory { .. } => unreachable!("refused by the validator"),
                    };
                    let off = mem::load(off_at, Size::B4);
                    let v = if off < limit {
                        mem::store(off_at, Size::B4, off + step);
                        mem::load(mem::load(list + 16, Size::B8) + off, Size::B8)
                    } else {
                        let over = mem::load(list + 8, Size::B8);
                        mem::store(list + 8, Size::B8, over + 8);
                        mem::load(over, Size::B8)
                    };
                    fr[*dst as usize] = canonical(v, *class);
                }
                Inst::Unreachable => return Err(Trap::Unreachable),
            }
            // Where the frame on top goes on (`fast` starts there).
            if let Some(f) = frames.last_mut() {
                f.pc = pc;
            }
        }
    }
}
