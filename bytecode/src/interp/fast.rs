//! The interpreter's fast loop: the ops `step` runs, calls between
//! interpreted functions that need nothing but registers, and returns,
//! in a function of its own; and calls out to native code.

use super::*;

impl<'m> Interp<'m> {
    /// Calls native code at `addr` (the C library, compiled code) for the
    /// call instruction `call`: its arguments from the frame's registers
    /// `fr`, its results into them.
    pub(super) fn call_out(&self, m: &dyn Machine, fr: &mut [u64; WINDOW], addr: u64, call: &Inst) {
        let Inst::Call {
            args,
            fixed,
            ret,
            ret2,
            ..
        } = call
        else {
            unreachable!("only calls call out");
        };
        let variadic = (*fixed as usize) < args.len();
        let ret: ResultRegs = (*ret, *ret2);
        // On the stack for the usual few arguments: a call to `sqrt`
        // should not allocate.
        let mut classes = [Class::F64; 2];
        let mut results = 0;
        for (_, c) in ret.0.iter().chain(&ret.1) {
            classes[results] = *c;
            results += 1;
        }
        let classes = &classes[..results];
        const FEW: usize = 8;
        let v = if args.len() <= FEW {
            let mut few = [(0, Class::F64); FEW];
            for (k, &(a, c)) in args.iter().enumerate() {
                few[k] = (fr[a as usize], c);
            }
            m.call_native(addr, &few[..args.len()], variadic, classes)
        } else {
            let values: Vec<(u64, Class)> =
                args.iter().map(|&(a, c)| (fr[a as usize], c)).collect();
            m.call_native(addr, &values, variadic, classes)
        };
        for ((dst, c), v) in ret.0.iter().chain(&ret.1).zip(v) {
            fr[*dst as usize] = canonical(v, *c);
        }
    }

    /// Runs the frame on top from its saved position, and the frames its
    /// calls push, as long as the ops are ones `step` runs, calls of
    /// interpreted functions that need nothing but their registers
    /// (`Op::CallFn`) and returns of one value (`Op::Ret`). Stops at any
    /// other op, its position saved in the frame on top (`None`), or when
    /// the frame above `floor` returned (`Some`, as `run` returns).
    ///
    /// Kept out of line, so that the loop's own values (the code, the
    /// position, the registers) stay in machine registers.
    #[inline(never)]
    pub(super) fn fast(
        &self,
        m: &dyn Machine,
        regs: &mut Vec<u64>,
        frames: &mut Vec<Frame>,
        floor: usize,
    ) -> Result<Option<Option<[u64; 2]>>, Trap> {
        // The running frame's ops, position and registers (its function,
        // its code and its register base are its `Frame`'s: only calls
        // need them).
        let (_, mut ops, pc, base) = self.resume(frames);
        let mut pc = ops.position(pc);
        let mut loops = &self.entries[frames[frames.len() - 1].func as usize].loops;
        let mut fr = window(regs, base);
        loop {
            let op = ops.fetch(pc);
            pc.skip(1);
            if step::step(op, fr, &mut pc, loops)? {
                continue;
            }
            match *op {
                Op::CallFn { callee, d, n, a } if n as usize <= CALL_REGS => {
                    if let Some((entry, start)) = self.interpreted_entry(m, callee) {
                        let values = a.map(|r| fr[r as usize]);
                        fr = self.push_frame(
                            regs,
                            frames,
                            pc.index(),
                            callee,
                            entry,
                            start,
                            d,
                            values,
                        );
                        (ops, pc) = (entry.ops.view(), Pc::at(entry.prologue));
                        loops = &entry.loops;
                        continue;
                    }
                    frames.last_mut().expect("the running frame").pc = pc.index();
                    self.out_of_line(m, regs, frames, *op);
                }
                Op::CallFn { .. } | Op::CallSym { .. } | Op::CallSqrt { .. } => {
                    frames.last_mut().expect("the running frame").pc = pc.index();
                    self.out_of_line(m, regs, frames, *op);
                }
                Op::Ret { v } => {
                    let value = if v == NO_REGISTER { 0 } else { fr[v as usize] };
                    if let Some(done) = self.pop_frame(regs, frames, [value, 0], floor) {
                        return Ok(Some(done));
                    }
                }
                Op::AddRet { w32, a, b } => {
                    let sum = fr[a as usize].wrapping_add(fr[b as usize]);
                    let value = if w32 { sum as u32 as u64 } else { sum };
                    if let Some(done) = self.pop_frame(regs, frames, [value, 0], floor) {
                        return Ok(Some(done));
                    }
                }
                _ => {
                    // Not ours: `run` runs it from the instruction.
                    if let Some(f) = frames.last_mut() {
                        f.pc = pc.index() - 1;
                    }
                    return Ok(None);
                }
            }
            // Back in the caller (or on in a frame `out_of_line` pushed).
            let top = &frames[frames.len() - 1];
            self.switch_to(top.func);
            let entry = &self.entries[top.func as usize];
            ops = entry.ops.view();
            pc = ops.position(top.pc);
            loops = &entry.loops;
            fr = window(regs, top.base);
        }
    }

    /// The calls the loop makes out of line (the frame on top saved at
    /// the position past the call): of an interpreted function with more
    /// arguments or results than its op carries (a frame pushed), and out
    /// to native code, the C library or a function compiled since.
    #[inline(never)]
    fn out_of_line(&self, m: &dyn Machine, regs: &mut Vec<u64>, frames: &mut Vec<Frame>, op: Op) {
        let pc = frames[frames.len() - 1].pc;
        let call = &self.running_code(frames)[pc - 1];
        match op {
            Op::CallFn { callee, .. } if self.interpreted(m, callee) => {
                let Inst::Call {
                    args, ret, ret2, ..
                } = call
                else {
                    unreachable!("exec::link_calls marks calls only");
                };
                let caller = &frames[frames.len() - 1];
                let (base, callee_base) = (caller.base, caller.end);
                let end = callee_base + self.entries[callee as usize].regs;
                // The callee's whole window (`window` then finds it).
                if regs.len() < callee_base + WINDOW {
                    grow(regs, callee_base + WINDOW);
                }
                // Same classes (`link_calls`): the values are canonical
                // as they are.
                for (k, &(a, _)) in args.iter().enumerate() {
                    regs[callee_base + k] = regs[base + a as usize];
                }
                self.switch_to(callee);
                let dst = (ret.map(|(d, _)| d), ret2.map(|(d, _)| d));
                self.open_frame(m, regs, frames, callee, callee_base, end, dst, None);
            }
            _ => {
                // (A compiled callee's tier is asked again here: asking
                // once, with the arms above folded into one `match`, made
                // the whole loop 1-8% slower.)
                let addr = match (op, call) {
                    (Op::CallSym { sym }, _)
                    | (
                        Op::CallSqrt { .. },
                        &Inst::Call {
                            callee: Callee::Symbol(sym),
                            ..
                        },
                    ) => m.symbol(sym),
                    (
                        _,
                        Inst::Call {
                            callee: Callee::Function(i),
                            ..
                        },
                    ) => m.compiled(*i).unwrap_or_else(|| m.function_address(*i)),
                    _ => unreachable!("exec::link_calls marks these only"),
                };
                let fr = window(regs, frames[frames.len() - 1].base);
                self.call_out(m, fr, addr, call);
                self.switch_back(frames);
            }
        }
    }

    /// The code of the frame on top.
    fn running_code(&self, frames: &[Frame]) -> &'m [Inst] {
        self.entries[frames[frames.len() - 1].func as usize].code
    }

    /// Pushes a frame of `callee` for an `Op::CallFn` that carries its
    /// registers (`values`: its arguments, all `CALL_REGS` of them: those
    /// past its parameters land in registers the callee writes before it
    /// reads them, or above its frame; the result into `d`), the caller
    /// at `pc`; returns where the callee starts.
    #[allow(clippy::too_many_arguments, reason = "the loop's state, each its own")]
    #[inline(always)]
    fn push_frame<'r>(
        &self,
        regs: &'r mut Vec<u64>,
        frames: &mut Vec<Frame>,
        pc: usize,
        callee: u32,
        entry: &Entry<'m>,
        start: &Start,
        d: Reg,
        values: [u64; CALL_REGS],
    ) -> &'r mut [u64; WINDOW] {
        let fixed = &start.fixed;
        let caller = frames.last_mut().expect("the running frame");
        caller.pc = pc;
        let base = caller.end;
        frames.push(Frame {
            func: callee,
            pc: entry.prologue,
            base,
            end: base + entry.regs,
            ret: (d != NO_REGISTER).then_some(d),
            ret2: None,
            stack_mark: self.sp.get(),
            variadic: None,
        });
        let fr = window(regs, base);
        fr[..CALL_REGS].copy_from_slice(&values);
        for group in fixed.chunks_exact(FIXED_GROUP) {
            for &(r, v) in group {
                fr[r as usize] = v;
            }
        }
        step::bump(entry.calls);
        self.switch_to(callee);
        fr
    }
}
