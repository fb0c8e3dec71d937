//! Native syscall dispatch. Every argument is distrusted: bad numbers,
//! pointers, lengths and slots come back as errors in `rax`; nothing a task
//! passes can crash or hang the kernel.

use crate::object::{Object, cap};
use crate::state::Kernel;
use crate::task::{self, ExitReason, TaskState};
use crate::usercopy::UserSlice;
use crate::{arch, kevent, kprintln};
use alloc::string::String;
use alloc::vec;
use ipc_abi::syscall::{
    CONSOLE_WRITE_MAX, IoWidth, MAX_PRIORITY, Request, SPAWN_ARGS_MAX, Slot, SpawnArgs, SysError,
    SysInfo, TASK_ALIVE, TASK_DEAD, TASK_NAME_MAX, TASK_NOT_STARTED, TaskStatus, UserBuf,
};
use kerncore::cap::Rights;
use kerncore::slab::Id;

/// A syscall either finishes now or blocks the caller, whose result is set
/// when it is woken.
enum Done {
    Now(Result<u64, SysError>),
    Blocked,
}

impl From<Result<u64, SysError>> for Done {
    fn from(r: Result<u64, SysError>) -> Done {
        Done::Now(r)
    }
}

/// `Reply` then `Recv`: a reply that cannot be sent because nobody waits
/// for it still receives.
fn reply_recv(k: &mut Kernel, slot: u64, msg: u64, timeout: u64, in_registers: bool) -> Done {
    match k.reply(msg) {
        Ok(()) | Err(SysError::NoReplyPending) | Err(SysError::PeerDied) => {
            blocking(k.recv(slot, msg, timeout, in_registers).map(|r| r.map(Ok)))
        }
        Err(e) => Done::Now(Err(e)),
    }
}

/// Handles the current task's syscall (its registers are in its saved
/// context).
pub fn handle(k: &mut Kernel) {
    let me = k.current();
    // The number and arguments only (not a copy of the whole context).
    let (number, args, foreign) = {
        let t = k.task(me);
        let c = &t.context;
        let args = [c.rdi, c.rsi, c.rdx, c.r10, c.r8, c.r9];
        (c.rax, args, crate::personality::is_foreign(t))
    };
    if foreign {
        return crate::personality::on_foreign_syscall(k);
    }
    let request = match Request::decode(number, args) {
        Ok(r) => r,
        Err(e) => {
            k.set_result(me, Err(e));
            return;
        }
    };
    let done: Done = match request {
        Request::ConsoleWrite { text } => console_write(k, text).into(),
        Request::LogEvent { text } => {
            crate::personality::before_event(k, me);
            log_event(k, text).into()
        }
        Request::Exit { code } => {
            k.kill(me, ExitReason::Exit(code));
            return;
        }
        Request::Yield => {
            k.set_result(me, Ok(0));
            k.yield_current();
            return;
        }
        Request::Sleep { ticks } => {
            let until = arch::apic::ticks().saturating_add(ticks.max(1));
            k.set_result(me, Ok(0));
            k.block_current(TaskState::Sleeping { until });
            Done::Blocked
        }
        Request::CapDerive { slot, mask } => k
            .task_mut(me)
            .caps
            .derive(slot.0, mask, None)
            .map_err(cap_error)
            .map(|slot| {
                let new = k.task(me).caps.get(slot as u64).expect("just inserted");
                k.add_ref(new);
                slot as u64
            })
            .into(),
        Request::CapMint { slot, badge } => mint(k, slot, badge).into(),
        Request::CapDrop { slot } => k
            .task_mut(me)
            .caps
            .remove(slot.0)
            .map_err(cap_error)
            .map(|c| {
                k.drop_ref(c);
                0
            })
            .into(),
        Request::CapInfo { slot } => cap_info(&k.task(me).caps, slot.0).into(),
        Request::EndpointCreate => k.endpoint_create().into(),
        Request::NotificationCreate => k.notification_create().into(),
        Request::Signal { slot, bits } => k.signal_slot(slot.0, bits).map(|()| 0).into(),
        Request::Wait { slot, timeout } => blocking(k.wait(slot.0, timeout).map(|r| r.map(Ok))),
        Request::Call { slot, msg } => match k.call(slot.0, msg) {
            Ok(()) => Done::Blocked,
            Err(e) => Done::Now(Err(e)),
        },
        Request::Recv { slot, msg, timeout } => {
            blocking(k.recv(slot.0, msg, timeout, false).map(|r| r.map(Ok)))
        }
        Request::Reply { msg } => k.reply(msg).map(|()| 0).into(),
        // The general path reads the message from the buffer (the copy in
        // registers is for the fast path).
        Request::CallShort { slot, msg } => match k.call(slot.0, msg) {
            Ok(()) => Done::Blocked,
            Err(e) => Done::Now(Err(e)),
        },
        Request::ReplyRecv { slot, msg, timeout } => reply_recv(k, slot.0, msg, timeout, false),
        Request::ReplyRecvShort { slot, msg } => reply_recv(k, slot.0, msg, 0, true),
        Request::NotificationBind { slot } => k.bind(slot.0).map(|()| 0).into(),
        Request::MemCreate { pages } => k.mem_create(pages).into(),
        Request::MemMap {
            slot,
            vaddr,
            rights,
        } => k.mem_map(slot.0, vaddr, rights).into(),
        Request::MemUnmap { vaddr } => k.mem_unmap(vaddr).map(|()| 0).into(),
        Request::TaskSpawn { args } => spawn(k, args).into(),
        Request::TaskGrant { task, slot } => task_grant(k, task, slot).into(),
        Request::TaskStart { task } => task_control(k, task).and_then(|t| start(k, t)).into(),
        Request::TaskKill { task } => task_control(k, task)
            .map(|t| {
                k.kill(t, ExitReason::Killed);
                0
            })
            .into(),
        Request::TaskStatus { task, out } => task_status(k, task, out).into(),
        Request::SysInfo { out } => sys_info(k, out).into(),
        Request::IoRead { slot, port, width } => io(k, slot, port, width, None).into(),
        Request::IoWrite {
            slot,
            port,
            width,
            value,
        } => io(k, slot, port, width, Some(value)).into(),
        Request::CapNarrow { slot, base, len } => narrow(k, slot, base, len).into(),
        Request::IrqBind {
            slot,
            line,
            notification,
            bits,
        } => k
            .irq_bind(slot.0, line, notification.0, bits)
            .map(|()| 0)
            .into(),
        Request::IrqAck { slot, line } => k.irq_ack(slot.0, line).map(|()| 0).into(),
        Request::MemDevice { slot, phys, pages } => k.mem_device(slot.0, phys, pages).into(),
        Request::MemDma { slot, pages } => k.mem_dma(slot.0, pages).into(),
        Request::MemPhys { slot } => k.mem_phys(slot.0).into(),
    };
    if let Done::Now(r) = done
        && k.is_alive(me)
    {
        k.set_result(me, r);
    }
}

/// For calls that may block: `Ok(Some(v))` finished with `v`, `Ok(None)`
/// blocked, `Err` failed at once.
fn blocking(r: Result<Option<Result<u64, SysError>>, SysError>) -> Done {
    match r {
        Ok(Some(v)) => Done::Now(v),
        Ok(None) => Done::Blocked,
        Err(e) => Done::Now(Err(e)),
    }
}

/// `CapInfo`'s result for slot `slot` of `caps`: the object's kind and
/// the capability's rights (`Sys::CapInfo`). Shared with the query fast
/// path (`state::querypath`).
#[inline(always)]
pub fn cap_info(caps: &kerncore::cap::CapTable<Object>, slot: u64) -> Result<u64, SysError> {
    caps.get(slot)
        .map_err(cap_error)
        .map(|c| ((c.object.kind() as u64) << 32) | c.rights.0 as u64)
}

fn cap_error(e: kerncore::cap::CapError) -> SysError {
    use kerncore::cap::CapError::*;
    match e {
        InvalidSlot | Empty => SysError::InvalidCap,
        MissingRights { .. } => SysError::MissingRights,
        AlreadyBadged => SysError::AlreadyBadged,
        TableFull => SysError::TableFull,
    }
}

fn read_text(k: &Kernel, ptr: u64, len: u64, max: usize) -> Result<String, SysError> {
    if len as usize > max {
        return Err(SysError::InvalidArgument);
    }
    let slice = UserSlice::new(ptr, len)?;
    let mut buf = vec![0u8; slice.len()];
    slice.read(k.space_of(k.current()), &mut buf)?;
    String::from_utf8(buf).map_err(|_| SysError::NotUtf8)
}

fn console_write(k: &Kernel, buf: UserBuf) -> Result<u64, SysError> {
    let text = read_text(k, buf.ptr, buf.len, CONSOLE_WRITE_MAX)?;
    crate::console::print_task_lines(&k.task(k.current()).name, &text);
    Ok(buf.len)
}

fn log_event(k: &Kernel, buf: UserBuf) -> Result<u64, SysError> {
    let text = read_text(k, buf.ptr, buf.len, CONSOLE_WRITE_MAX)?;
    if !ipc_abi::log::is_valid_event_body(&text) {
        return Err(SysError::InvalidArgument);
    }
    let (event, fields) = text.split_once(' ').unwrap_or((&text, ""));
    let fields = fields.trim();
    let sep = if fields.is_empty() { "" } else { " " };
    let name = &k.task(k.current()).name;
    crate::console::with(|w| {
        let _ = core::fmt::Write::write_fmt(
            w,
            format_args!(
                "{}{event} from={name}{sep}{fields} tsc={}\n",
                ipc_abi::log::EVENT_PREFIX,
                arch::rdtsc()
            ),
        );
    });
    Ok(0)
}

fn mint(k: &mut Kernel, Slot(slot): Slot, badge: u64) -> Result<u64, SysError> {
    let me = k.current();
    let c = k.task(me).caps.get(slot).map_err(cap_error)?;
    if !matches!(c.object, Object::Endpoint(_)) {
        return Err(SysError::WrongKind);
    }
    if badge == 0 {
        return Err(SysError::InvalidArgument);
    }
    let new = k
        .task_mut(me)
        .caps
        .derive(slot, Rights::ALL, Some(badge))
        .map_err(cap_error)?;
    let c = k.task(me).caps.get(new as u64).expect("just inserted");
    k.add_ref(c);
    Ok(new as u64)
}

fn task_control(k: &Kernel, Slot(slot): Slot) -> Result<Id, SysError> {
    match k.lookup(slot, Rights::CONTROL)?.object {
        Object::Task(id) => Ok(id),
        _ => Err(SysError::WrongKind),
    }
}

fn spawn(k: &mut Kernel, args_ptr: u64) -> Result<u64, SysError> {
    let me = k.current();
    let a: SpawnArgs = UserSlice::read_value(k.space_of(me), args_ptr)?;
    let name = read_text(k, a.name_ptr, a.name_len, TASK_NAME_MAX)?;
    // Names appear bare in log events.
    if !ipc_abi::log::is_word(&name) {
        return Err(SysError::InvalidArgument);
    }
    if a.args_len > SPAWN_ARGS_MAX as u64
        || a.priority > MAX_PRIORITY
        || a.priority > k.task(me).max_priority as u64
        || a.stack_pages > ipc_abi::syscall::MAX_STACK_PAGES
        || a.flags & !ipc_abi::syscall::SPAWN_LINUX != 0
    {
        return Err(SysError::InvalidArgument);
    }
    let args_slice = UserSlice::new(a.args_ptr, a.args_len)?;
    let mut args = vec![0u8; args_slice.len()];
    args_slice.read(k.space_of(me), &mut args)?;
    let image_cap = k.lookup(a.image_slot, Rights::READ)?;
    let Object::Memory(obj) = image_cap.object else {
        return Err(SysError::WrongKind);
    };
    let death = if a.death_slot == ipc_abi::syscall::NO_SLOT {
        None
    } else {
        match k.lookup(a.death_slot, Rights::SIGNAL)?.object {
            Object::Notification(n) => Some((n, a.death_bits)),
            _ => return Err(SysError::WrongKind),
        }
    };
    let m = k.memory_object(obj).ok_or(SysError::InvalidCap)?;
    let size = m.pages() * ipc_abi::layout::PAGE_SIZE;
    let end = a
        .image_offset
        .checked_add(a.image_len)
        .ok_or(SysError::InvalidArgument)?;
    if end > size {
        return Err(SysError::InvalidArgument);
    }
    // Loading reads the image in place, which needs it in one physical run
    // (true of the initrd, the only image source so far).
    let start = m.contiguous().ok_or(SysError::InvalidArgument)?;
    // SAFETY: the range lies inside the memory object (checked above),
    // whose frames stay allocated while we hold the kernel lock.
    let image =
        unsafe { crate::mem::kernel_space::phys_slice(start + a.image_offset, a.image_len) };
    if !k.has_room_for_task() {
        return Err(SysError::OutOfMemory);
    }
    let serial = k.take_serial();
    let charge = k.charge(me, task::TASK_COST)?;
    let start = task::StartInfo {
        args: &args,
        priority: a.priority as usize,
        // A task can never raise a priority above the one it was given.
        max_priority: a.priority as usize,
        kmem_quota: ipc_abi::syscall::TASK_KMEM_QUOTA,
        personality: crate::personality::Kind::from_spawn_flags(a.flags),
        stack_pages: a.stack_pages,
    };
    let loaded = task::load(serial, &name, image, &start).map_err(|e| {
        kprintln!("kernel: cannot spawn {name}: {e}");
        match e {
            task::SpawnError::Elf(_) => SysError::BadImage,
            task::SpawnError::Map(_) => SysError::OutOfMemory,
        }
    });
    let mut t = match loaded {
        Ok(t) => t,
        Err(e) => {
            k.uncharge(Some(charge));
            return Err(e);
        }
    };
    t.death = death;
    t.charge = Some(charge);
    let id = k.insert_task(t);
    if let Some((n, _)) = death {
        k.add_ref(cap(Object::Notification(n), Rights::NONE));
    }
    kevent!(
        "task.start",
        id = serial,
        name = name.as_str(),
        ring = 3u64,
        priority = a.priority,
        personality = start.personality.name(),
        tsc = arch::rdtsc()
    );
    k.grant(me, cap(Object::Task(id), Rights::ALL))
        .map(u64::from)
        .inspect_err(|_| {
            k.kill(id, ExitReason::Killed);
        })
}

fn task_grant(k: &mut Kernel, Slot(task_slot): Slot, Slot(slot): Slot) -> Result<u64, SysError> {
    let child = match k.lookup(task_slot, Rights::GRANT)?.object {
        Object::Task(id) => id,
        _ => return Err(SysError::WrongKind),
    };
    let c = k.lookup(slot, Rights::GRANT)?;
    // A task that has not started holds no task capabilities, so tasks
    // that never start can never keep each other alive in a cycle: each is
    // reclaimed when its last capability goes (`drop_ref`).
    if matches!(c.object, Object::Task(_)) {
        return Err(SysError::WrongKind);
    }
    if k.task(child).state != TaskState::NotStarted {
        return Err(SysError::BadTaskState);
    }
    k.grant(child, c).map(u64::from)
}

fn start(k: &mut Kernel, t: Id) -> Result<u64, SysError> {
    if k.task(t).state != TaskState::NotStarted {
        return Err(SysError::BadTaskState);
    }
    k.make_ready(t);
    Ok(0)
}

fn task_status(k: &Kernel, slot: Slot, out: u64) -> Result<u64, SysError> {
    let id = task_control(k, slot)?;
    let t = k.task(id);
    let mut s = TaskStatus {
        state: match t.state {
            TaskState::NotStarted => TASK_NOT_STARTED,
            TaskState::Dead => TASK_DEAD,
            _ => TASK_ALIVE,
        },
        running_ticks: t.running_ticks,
        ..TaskStatus::default()
    };
    match t.exit {
        Some(ExitReason::Exit(code)) => {
            s.exit_kind = ipc_abi::syscall::EXIT_CODE;
            s.code = code;
        }
        Some(ExitReason::Fault {
            vector, rip, addr, ..
        }) => {
            s.exit_kind = ipc_abi::syscall::EXIT_FAULT;
            s.vector = vector;
            s.fault_rip = rip;
            s.fault_addr = addr;
        }
        Some(ExitReason::Killed) => s.exit_kind = ipc_abi::syscall::EXIT_KILLED,
        Some(ExitReason::Signal(signal)) => {
            s.exit_kind = ipc_abi::syscall::EXIT_SIGNAL;
            s.code = signal;
        }
        None => {}
    }
    UserSlice::write_value(k.space_of(k.current()), out, &s)?;
    Ok(0)
}

fn sys_info(k: &Kernel, out: u64) -> Result<u64, SysError> {
    let f = crate::mem::frames::stats();
    let info = SysInfo {
        frames_free: f.free,
        frames_total: f.total,
        ticks: arch::apic::ticks(),
        tsc_hz: k.tsc_hz(),
        tasks: k.alive_count() as u64,
        heap_used: crate::mem::heap::stats()
            .used
            .saturating_sub(k.table_spare_bytes()),
        heap_free: crate::mem::heap::stats().free,
        ipc_fast_path: k.ipc_fast_path_counts().0,
        ipc_in_registers: k.ipc_fast_path_counts().1,
        query_fast_path: k.query_fast_path_count(),
    };
    UserSlice::write_value(k.space_of(k.current()), out, &info)?;
    Ok(0)
}

fn narrow(k: &mut Kernel, Slot(slot): Slot, base: u64, len: u64) -> Result<u64, SysError> {
    let me = k.current();
    let mut c = k.task(me).caps.get(slot).map_err(cap_error)?;
    let end = base.checked_add(len).ok_or(SysError::InvalidArgument)?;
    c.object = match c.object {
        Object::IoPorts { base: b, len: l } if base >= b as u64 && end <= b as u64 + l as u64 => {
            Object::IoPorts {
                base: base as u16,
                len: len as u32,
            }
        }
        Object::Irq { base: b, len: l } if base >= b as u64 && end <= b as u64 + l as u64 => {
            Object::Irq {
                base: base as u8,
                len: len as u8,
            }
        }
        Object::DeviceMemory { base: b, len: l }
            if base >= b
                && end <= b.saturating_add(l)
                && base.is_multiple_of(ipc_abi::layout::PAGE_SIZE)
                && len.is_multiple_of(ipc_abi::layout::PAGE_SIZE) =>
        {
            Object::DeviceMemory { base, len }
        }
        Object::IoPorts { .. } | Object::Irq { .. } | Object::DeviceMemory { .. } => {
            return Err(SysError::InvalidArgument);
        }
        _ => return Err(SysError::WrongKind),
    };
    k.grant(me, c).map(u64::from)
}

fn io(
    k: &Kernel,
    Slot(slot): Slot,
    port: u64,
    width: IoWidth,
    value: Option<u64>,
) -> Result<u64, SysError> {
    let need = if value.is_some() {
        Rights::WRITE
    } else {
        Rights::READ
    };
    let Object::IoPorts { base, len } = k.lookup(slot, need)?.object else {
        return Err(SysError::WrongKind);
    };
    let end = port
        .checked_add(width.bytes())
        .ok_or(SysError::InvalidArgument)?;
    if port < base as u64 || end > base as u64 + len as u64 {
        return Err(SysError::InvalidArgument);
    }
    let port = port as u16;
    // SAFETY: the capability grants exactly this port range; port I/O
    // cannot touch kernel memory.
    unsafe {
        match (width, value) {
            (IoWidth::Byte, None) => Ok(x86::io::inb(port) as u64),
            (IoWidth::Word, None) => Ok(x86::io::inw(port) as u64),
            (IoWidth::Dword, None) => Ok(x86::io::inl(port) as u64),
            (IoWidth::Byte, Some(v)) => {
                x86::io::outb(port, v as u8);
                Ok(0)
            }
            (IoWidth::Word, Some(v)) => {
                x86::io::outw(port, v as u16);
                Ok(0)
            }
            (IoWidth::Dword, Some(v)) => {
                x86::io::outl(port, v as u32);
                Ok(0)
            }
        }
    }
}
