//! Native syscall dispatch. Every argument is distrusted: bad numbers,
//! pointers, lengths and slots come back as errors in `rax`; nothing a task
//! passes can crash or hang the kernel.

use crate::object::{Endpoint, Notification, Object, cap};
use crate::state::Kernel;
use crate::task::{self, ExitReason, TaskState};
use crate::usercopy::UserSlice;
use crate::{arch, kevent, kprintln};
use alloc::string::String;
use alloc::vec;
use ipc_abi::syscall::{
    CONSOLE_WRITE_MAX, MAX_PRIORITY, SPAWN_ARGS_MAX, SpawnArgs, Sys, SysError, SysInfo, TASK_ALIVE,
    TASK_DEAD, TASK_NAME_MAX, TASK_NOT_STARTED, TaskStatus,
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

/// Handles the current task's syscall (its registers are in its saved
/// context).
pub fn handle(k: &mut Kernel) {
    let me = k.current();
    let c = k.task(me).context;
    let (a0, a1, a2, a3) = (c.rdi, c.rsi, c.rdx, c.r10);
    if c.rax < ipc_abi::syscall::NATIVE_BASE && k.task(me).linux.is_some() {
        return crate::linux::handle(k);
    }
    let Some(sys) = Sys::from_number(c.rax) else {
        k.set_result(me, Err(SysError::NoSuchSyscall));
        return;
    };
    let done: Done = match sys {
        Sys::ConsoleWrite => console_write(k, a0, a1).into(),
        Sys::LogEvent => log_event(k, a0, a1).into(),
        Sys::Exit => {
            k.kill(me, ExitReason::Exit(a0));
            return;
        }
        Sys::Yield => {
            k.set_result(me, Ok(0));
            k.yield_current();
            return;
        }
        Sys::Sleep => {
            let until = arch::apic::ticks().saturating_add(a0.max(1));
            k.set_result(me, Ok(0));
            k.block_current(TaskState::Sleeping { until });
            Done::Blocked
        }
        Sys::CapDerive => k
            .task_mut(me)
            .caps
            .derive(a0, Rights(a1 as u32), None)
            .map_err(cap_error)
            .map(|slot| {
                let new = k.task(me).caps.get(slot as u64).expect("just inserted");
                k.add_ref(new);
                slot as u64
            })
            .into(),
        Sys::CapMint => mint(k, a0, a1).into(),
        Sys::CapDrop => k
            .task_mut(me)
            .caps
            .remove(a0)
            .map_err(cap_error)
            .map(|c| {
                k.drop_ref(c);
                0
            })
            .into(),
        Sys::CapInfo => k
            .task(me)
            .caps
            .get(a0)
            .map_err(cap_error)
            .map(|c| ((c.object.kind() as u64) << 32) | c.rights.0 as u64)
            .into(),
        Sys::EndpointCreate => endpoint_create(k).into(),
        Sys::NotificationCreate => notification_create(k).into(),
        Sys::Signal => k.signal_slot(a0, a1).map(|()| 0).into(),
        Sys::Wait => blocking(k.wait(a0, a1).map(|r| r.map(Ok))),
        Sys::Call => match k.call(a0, a1) {
            Ok(()) => Done::Blocked,
            Err(e) => Done::Now(Err(e)),
        },
        Sys::Recv => blocking(k.recv(a0, a1, a2).map(|r| r.map(Ok))),
        Sys::Reply => k.reply(a0).map(|()| 0).into(),
        Sys::ReplyRecv => match k.reply(a1) {
            Ok(()) | Err(SysError::NoReplyPending) | Err(SysError::PeerDied) => {
                blocking(k.recv(a0, a1, a2).map(|r| r.map(Ok)))
            }
            Err(e) => Done::Now(Err(e)),
        },
        Sys::NotificationBind => k.bind(a0).map(|()| 0).into(),
        Sys::MemCreate => k.mem_create(a0).into(),
        Sys::MemMap => k.mem_map(a0, a1, a2).into(),
        Sys::MemUnmap => k.mem_unmap(a0).map(|()| 0).into(),
        Sys::TaskSpawn => spawn(k, a0).into(),
        Sys::TaskGrant => task_grant(k, a0, a1).into(),
        Sys::TaskStart => task_control(k, a0).and_then(|t| start(k, t)).into(),
        Sys::TaskKill => task_control(k, a0)
            .map(|t| {
                k.kill(t, ExitReason::Killed);
                0
            })
            .into(),
        Sys::TaskStatus => task_status(k, a0, a1).into(),
        Sys::SysInfo => sys_info(k, a0).into(),
        Sys::IoRead => io(k, a0, a1, a2, None).into(),
        Sys::IoWrite => io(k, a0, a1, a2, Some(a3)).into(),
        Sys::CapNarrow => narrow(k, a0, a1, a2).into(),
        Sys::IrqBind => k.irq_bind(a0, a1, a2, a3).map(|()| 0).into(),
        Sys::IrqAck => k.irq_ack(a0, a1).map(|()| 0).into(),
    };
    if let Done::Now(r) = done
        && k.tasks.get(me).is_some_and(|t| t.alive())
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

fn console_write(k: &Kernel, ptr: u64, len: u64) -> Result<u64, SysError> {
    let text = read_text(k, ptr, len, CONSOLE_WRITE_MAX)?;
    crate::console::print_task_lines(&k.task(k.current()).name, &text);
    Ok(len)
}

fn log_event(k: &Kernel, ptr: u64, len: u64) -> Result<u64, SysError> {
    let text = read_text(k, ptr, len, CONSOLE_WRITE_MAX)?;
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

fn endpoint_create(k: &mut Kernel) -> Result<u64, SysError> {
    let me = k.current();
    let charge = k.charge(me, core::mem::size_of::<Endpoint>() as u64 * 2 + 64)?;
    let mut endpoint = Endpoint {
        charge: Some(charge),
        ..Endpoint::default()
    };
    // Room for the usual few waiters up front, so that a server's first
    // `Recv` does not grow the heap.
    if endpoint.senders.try_reserve(4).is_err() || endpoint.receivers.try_reserve(4).is_err() {
        k.uncharge(Some(charge));
        return Err(SysError::OutOfMemory);
    }
    let Ok(id) = k.endpoints.try_insert(endpoint) else {
        k.uncharge(Some(charge));
        return Err(SysError::OutOfMemory);
    };
    // The capability is the only reference: dropping it on failure frees
    // the endpoint and gives the charge back.
    let c = cap(Object::Endpoint(id), Rights::ALL);
    k.grant(me, c).map(u64::from).inspect_err(|_| {
        k.add_ref(c);
        k.drop_ref(c);
    })
}

fn notification_create(k: &mut Kernel) -> Result<u64, SysError> {
    let me = k.current();
    let charge = k.charge(me, core::mem::size_of::<Notification>() as u64 * 2)?;
    let note = Notification {
        charge: Some(charge),
        ..Notification::default()
    };
    let Ok(id) = k.notifications.try_insert(note) else {
        k.uncharge(Some(charge));
        return Err(SysError::OutOfMemory);
    };
    let c = cap(Object::Notification(id), Rights::ALL);
    k.grant(me, c).map(u64::from).inspect_err(|_| {
        k.add_ref(c);
        k.drop_ref(c);
    })
}

fn mint(k: &mut Kernel, slot: u64, badge: u64) -> Result<u64, SysError> {
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

fn task_control(k: &Kernel, slot: u64) -> Result<Id, SysError> {
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
    let m = k.memory.get(obj).ok_or(SysError::InvalidCap)?;
    let size = m.frames.len() as u64 * ipc_abi::layout::PAGE_SIZE;
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
    let serial = k.next_serial;
    if k.tasks.len() >= ipc_abi::syscall::MAX_TASKS {
        return Err(SysError::OutOfMemory);
    }
    let charge = k.charge(me, task::TASK_COST)?;
    let start = task::StartInfo {
        args: &args,
        priority: a.priority as usize,
        // A task can never raise a priority above the one it was given.
        max_priority: a.priority as usize,
        kmem_quota: ipc_abi::syscall::TASK_KMEM_QUOTA,
        linux: a.flags & ipc_abi::syscall::SPAWN_LINUX != 0,
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
    k.next_serial += 1;
    t.death = death;
    t.charge = Some(charge);
    // Room for MAX_TASKS records was reserved at boot.
    let id = k.tasks.insert(t);
    if let Some((n, _)) = death {
        k.add_ref(cap(Object::Notification(n), Rights::NONE));
    }
    let personality = if start.linux { "linux" } else { "native" };
    kevent!(
        "task.start",
        id = serial,
        name = name.as_str(),
        ring = 3u64,
        priority = a.priority,
        personality = personality,
        tsc = arch::rdtsc()
    );
    k.grant(me, cap(Object::Task(id), Rights::ALL))
        .map(u64::from)
        .inspect_err(|_| {
            k.kill(id, ExitReason::Killed);
        })
}

fn task_grant(k: &mut Kernel, task_slot: u64, slot: u64) -> Result<u64, SysError> {
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

fn task_status(k: &Kernel, slot: u64, out: u64) -> Result<u64, SysError> {
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
        tsc_hz: k.tsc_hz,
        tasks: k.alive_count() as u64,
        heap_used: crate::mem::heap::stats()
            .used
            .saturating_sub(k.table_spare_bytes()),
        heap_free: crate::mem::heap::stats().free,
    };
    UserSlice::write_value(k.space_of(k.current()), out, &info)?;
    Ok(0)
}

fn narrow(k: &mut Kernel, slot: u64, base: u64, len: u64) -> Result<u64, SysError> {
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
        Object::IoPorts { .. } | Object::Irq { .. } => return Err(SysError::InvalidArgument),
        _ => return Err(SysError::WrongKind),
    };
    k.grant(me, c).map(u64::from)
}

fn io(k: &Kernel, slot: u64, port: u64, width: u64, value: Option<u64>) -> Result<u64, SysError> {
    let need = if value.is_some() {
        Rights::WRITE
    } else {
        Rights::READ
    };
    let Object::IoPorts { base, len } = k.lookup(slot, need)?.object else {
        return Err(SysError::WrongKind);
    };
    let end = port.checked_add(width).ok_or(SysError::InvalidArgument)?;
    if !matches!(width, 1 | 2 | 4) || port < base as u64 || end > base as u64 + len as u64 {
        return Err(SysError::InvalidArgument);
    }
    let port = port as u16;
    // SAFETY: the capability grants exactly this port range; port I/O
    // cannot touch kernel memory.
    unsafe {
        match (width, value) {
            (1, None) => Ok(x86::io::inb(port) as u64),
            (2, None) => Ok(x86::io::inw(port) as u64),
            (_, None) => Ok(x86::io::inl(port) as u64),
            (1, Some(v)) => {
                x86::io::outb(port, v as u8);
                Ok(0)
            }
            (2, Some(v)) => {
                x86::io::outw(port, v as u16);
                Ok(0)
            }
            (_, Some(v)) => {
                x86::io::outl(port, v as u32);
                Ok(0)
            }
        }
    }
}
