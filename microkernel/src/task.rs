//! Tasks: what a task is, how it is loaded from an ELF image, and its
//! register and FPU state.

use crate::arch::gdt::{USER_CS, USER_DS};
use crate::arch::trap::{TaskFrame, TrapFrame};
use crate::mem::paging::MapError;
use crate::mem::user::{Access, UserPages, UserSpace};
use crate::mem::{frames, phys_to_virt};
use crate::object::Object;
use crate::personality::{self, Personality};
use crate::state::Charge;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use ipc_abi::layout::{PAGE_SIZE, USER_END, USER_STACK_PAGES, USER_STACK_TOP, USER_START};
use ipc_abi::syscall::SysError;
use kerncore::cap::CapTable;
use kerncore::elf::{self, ElfError};
use kerncore::lifetime::{Phase, TaskRefs};
use kerncore::quota::Quota;
use kerncore::slab::Id;

const RFLAGS_IF: u64 = 0x200;
const RFLAGS_RESERVED: u64 = 0x2;

/// A task's saved FPU state: the `xsave` area (x87, SSE and AVX state)
/// where the kernel enabled AVX, else the 512-byte `fxsave` area at its
/// start (`arch::enable_extended_state`).
#[derive(Clone)]
#[repr(C, align(64))]
pub struct FpuState(pub [u8; crate::arch::FPU_AREA_BYTES]);

impl FpuState {
    /// The state `fninit` and a default MXCSR would give (for `xrstor`:
    /// an all-zero header, every component in its initial state).
    pub fn initial() -> Box<FpuState> {
        let mut s = Box::new(FpuState([0; crate::arch::FPU_AREA_BYTES]));
        s.0[0..2].copy_from_slice(&0x037fu16.to_le_bytes()); // FCW
        s.0[24..28].copy_from_slice(&0x1f80u32.to_le_bytes()); // MXCSR
        s
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    NotStarted,
    Ready,
    Running,
    /// In `Call`, queued on an endpoint; `msg` is its message buffer,
    /// `badge` that of the capability it called with.
    Sending {
        endpoint: Id,
        msg: u64,
        badge: u64,
        /// Whether its capability to the endpoint carried GRANT.
        may_grant: bool,
    },
    /// In `Call`, received by `server`, waiting for the reply.
    AwaitingReply {
        server: Id,
        msg: u64,
        /// Whether a short reply may come in registers (it called with
        /// `CallShort` and reached its server on the fast path).
        in_registers: bool,
    },
    Receiving {
        endpoint: Id,
        msg: u64,
        deadline: Option<u64>,
        /// Whether a short message may come in registers (it waits in
        /// `ReplyRecvShort`).
        in_registers: bool,
    },
    Waiting {
        notification: Id,
        deadline: Option<u64>,
    },
    Sleeping {
        until: u64,
    },
    Dead,
}

impl TaskState {
    pub fn deadline(&self) -> Option<u64> {
        match *self {
            TaskState::Receiving { deadline, .. } | TaskState::Waiting { deadline, .. } => deadline,
            TaskState::Sleeping { until } => Some(until),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    Exit(u64),
    Fault {
        vector: u64,
        error: u64,
        rip: u64,
        addr: u64,
    },
    Killed,
    /// A Linux-personality task killed by a signal (its number).
    Signal(u64),
}

impl ExitReason {
    /// The status a shell would report for a process that ended so.
    pub fn status(self) -> u64 {
        use ipc_abi::exit::{STATUS_KILLED, status_after_fault, status_after_signal};
        match self {
            ExitReason::Exit(code) => code,
            ExitReason::Fault { vector, .. } => status_after_fault(vector),
            ExitReason::Signal(signal) => status_after_signal(signal),
            ExitReason::Killed => STATUS_KILLED,
        }
    }
}

/// A memory object mapped into a task.
#[derive(Clone, Copy, Debug)]
pub struct Mapping {
    pub range: UserPages,
    pub object: Id,
    pub writable: bool,
    pub executable: bool,
}

pub struct Task {
    /// Sequence number for logs (never reused, unlike slab ids).
    pub serial: u64,
    pub name: String,
    pub space: Option<UserSpace>,
    pub caps: CapTable<Object>,
    /// Its registers while it is not running (written by trap entry).
    pub context: TaskFrame,
    pub fpu: Box<FpuState>,
    pub state: TaskState,
    pub priority: usize,
    /// The highest priority it may give a task it spawns (seL4's maximum
    /// controlled priority).
    pub max_priority: usize,
    /// Kernel heap held on its behalf, and its limit.
    pub quota: Quota,
    /// What its spawner paid for this record.
    pub charge: Option<Charge>,
    /// The caller this task received and must answer.
    pub reply_to: Option<Id>,
    /// The message buffer last found writable, and its space's generation
    /// then (`ipc::check_buffer`).
    pub checked_buffer: Option<(u64, u64)>,
    pub bound: Option<Id>,
    pub mappings: Vec<Mapping>,
    /// The ABI it speaks and that ABI's per-task state.
    pub personality: Personality,
    /// The FS segment base (thread pointer), set by `arch_prctl`.
    pub fs_base: u64,
    /// Notification and bits signalled when the task dies.
    pub death: Option<(Id, u64)>,
    pub exit: Option<ExitReason>,
    /// Capabilities naming this task; a dead task is kept (for its status)
    /// until the last one is dropped.
    pub refs: TaskRefs,
    pub running_ticks: u64,
}

impl Task {
    /// Whether a memory object is mapped anywhere in `range`.
    pub fn maps_object_in(&self, range: UserPages) -> bool {
        self.mappings
            .iter()
            .any(|m| range.overlaps(m.range.start(), m.range.end()))
    }

    pub fn alive(&self) -> bool {
        self.state != TaskState::Dead
    }

    pub fn phase(&self) -> Phase {
        match self.state {
            TaskState::NotStarted => Phase::NotStarted,
            TaskState::Dead => Phase::Dead,
            _ => Phase::Alive,
        }
    }

    pub fn space(&self) -> &UserSpace {
        self.space
            .as_ref()
            .expect("live task without an address space")
    }

    /// Sets the value it sees in `rax` when it next runs.
    pub fn set_result(&mut self, result: Result<u64, SysError>) {
        self.context.rax = match result {
            Ok(v) => v,
            Err(e) => e.to_raw(),
        };
    }

    /// Blocks it (the running task) in `state` until woken.
    pub fn block(&mut self, state: TaskState) {
        self.state = state;
        self.running_ticks = 0;
    }

    /// Checks that its whole message buffer at `msg` is writable (a reply
    /// or message may fill it). Tasks use one buffer over and over: once
    /// found writable it stays so until the space's generation changes,
    /// and is not walked again until then.
    #[inline]
    pub fn check_message_buffer(&mut self, msg: u64) -> Result<(), SysError> {
        let generation = self.space().generation();
        if self.checked_buffer == Some((msg, generation)) {
            return Ok(());
        }
        self.walk_message_buffer(msg, generation)
    }

    #[inline(never)]
    fn walk_message_buffer(&mut self, msg: u64, generation: u64) -> Result<(), SysError> {
        let size = core::mem::size_of::<ipc_abi::ipc::Message>() as u64;
        crate::usercopy::UserSlice::new(msg, size)?.check(self.space(), true)?;
        self.checked_buffer = Some((msg, generation));
        Ok(())
    }
}

#[derive(Debug)]
pub enum SpawnError {
    Elf(ElfError),
    Map(MapError),
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpawnError::Elf(e) => write!(f, "bad ELF: {e}"),
            SpawnError::Map(e) => write!(f, "cannot map: {e:?}"),
        }
    }
}

/// How a task starts.
pub struct StartInfo<'a> {
    /// NUL-separated arguments.
    pub args: &'a [u8],
    pub priority: usize,
    pub max_priority: usize,
    pub kmem_quota: u64,
    pub personality: personality::Kind,
    pub stack_pages: u64,
}

/// What a task record costs its spawner: the record (with its capability
/// table, FPU area and register frame, the last two allocated apart), its
/// name, its memory-object mappings at their
/// limit, and console output it may hold back (a partial line).
pub const TASK_COST: u64 = (core::mem::size_of::<Task>()
    + core::mem::size_of::<FpuState>()
    + core::mem::size_of::<TrapFrame>()
    + ipc_abi::syscall::TASK_NAME_MAX
    + ipc_abi::syscall::MAX_MAPPINGS * core::mem::size_of::<Mapping>()
    + personality::STATE_COST) as u64;

/// Builds a task (not started) from a static ELF image, with the start-up
/// stack its personality expects (`personality::Kind::startup_stack`).
pub fn load(
    serial: u64,
    name: &str,
    image: &[u8],
    start: &StartInfo<'_>,
) -> Result<Task, SpawnError> {
    let plan = elf::plan(image, USER_START..USER_END).map_err(SpawnError::Elf)?;
    let mut space = UserSpace::new().map_err(SpawnError::Map)?;
    let stack_pages = if start.stack_pages == 0 {
        USER_STACK_PAGES
    } else {
        start.stack_pages
    };
    let result = (|| {
        for seg in &plan.segments {
            let access = Access {
                user: true,
                write: seg.writable,
                exec: seg.executable,
                uncached: false,
            };
            for page in seg.page_range().step_by(PAGE_SIZE as usize) {
                // The plan keeps every segment inside USER_START..USER_END.
                let at = UserPages::pages(page, 1).map_err(|_| MapError::AlreadyMapped)?;
                let frame = frames::alloc_zeroed().ok_or(MapError::OutOfMemory)?;
                copy_segment_page(image, seg, page, frame);
                if let Err(e) = space.map_one(at, frame, access) {
                    let _ = frames::free(frame);
                    return Err(e);
                }
            }
        }
        for i in 1..=stack_pages {
            let at = UserPages::pages(USER_STACK_TOP - i * PAGE_SIZE, 1)
                .map_err(|_| MapError::AlreadyMapped)?;
            let frame = frames::alloc_zeroed().ok_or(MapError::OutOfMemory)?;
            if let Err(e) = space.map_one(at, frame, Access::READ_WRITE) {
                let _ = frames::free(frame);
                return Err(e);
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        space.destroy();
        return Err(SpawnError::Map(e));
    }
    let mut context = TrapFrame {
        rip: plan.entry,
        cs: USER_CS as u64,
        rflags: RFLAGS_IF | RFLAGS_RESERVED,
        ss: USER_DS as u64,
        ..TrapFrame::default()
    };
    let (at, bytes) =
        start
            .personality
            .startup_stack(name, start.args, &plan, serial, &mut context);
    // The stack pages were just mapped user-writable in `space`.
    if crate::usercopy::UserSlice::new(at, bytes.len() as u64)
        .and_then(|s| s.write(&space, &bytes))
        .is_err()
    {
        space.destroy();
        return Err(SpawnError::Map(MapError::OutOfMemory));
    }
    Ok(Task {
        serial,
        name: name.into(),
        space: Some(space),
        caps: CapTable::new(),
        context: TaskFrame::new(context),
        fpu: FpuState::initial(),
        state: TaskState::NotStarted,
        priority: start.priority,
        max_priority: start.max_priority,
        quota: Quota::new(start.kmem_quota),
        charge: None,
        reply_to: None,
        checked_buffer: None,
        bound: None,
        mappings: Vec::new(),
        personality: Personality::new(start.personality, &plan),
        fs_base: 0,
        death: None,
        exit: None,
        refs: TaskRefs::default(),
        running_ticks: 0,
    })
}

/// Copies the part of `seg`'s file bytes that falls into `page` into `frame`.
fn copy_segment_page(image: &[u8], seg: &elf::Segment, page: u64, frame: u64) {
    let file_start = seg.vaddr;
    let file_end = seg.vaddr + seg.file_size() as u64;
    let from = page.max(file_start);
    let to = (page + PAGE_SIZE).min(file_end);
    if from >= to {
        return;
    }
    let src_off = seg.file_range.0 + (from - file_start) as usize;
    let src = &image[src_off..src_off + (to - from) as usize];
    // SAFETY: `frame` is a fresh frame owned by the caller, reached through
    // the direct map; the copy stays within its 4 KiB.
    let dst = unsafe {
        core::slice::from_raw_parts_mut((phys_to_virt(frame) + (from - page)) as *mut u8, src.len())
    };
    dst.copy_from_slice(src);
}
