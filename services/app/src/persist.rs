//! Snapshots in the app host (`docs/snapshots.md`): at the start of an
//! `auto` run laid out by the app host itself, the newest valid snapshot
//! of the program puts back the native code the last boot compiled; at
//! the end, a new snapshot saves what this boot has (the format, its
//! checks and the capture: the `snapshot` crate; the files: the fs
//! service, through `rt::files`).
//!
//! Restoring never maps the code region writable here: the fs service
//! copies the code from the file into it (`code_through_fs`), and only a
//! snapshot packed in the initrd (a system without an fs service) is
//! copied by remapping the region read-write and back before the program
//! starts (`code_by_remapping`). Then each restored function's tier byte
//! and slot are set, and the JIT's state says where free space starts
//! after the restored code, so a JIT loaded later (something new got hot)
//! compiles after it.

use crate::standalone;
use bytecode::format::Module;
use ipc_abi::cap::{Rights, Slot};
use ipc_abi::counters::{BACKEDGES, CALLS, counter_offset};
use ipc_abi::layout::PAGE_SIZE;
use ipc_abi::proto::Protocol;
use ipc_abi::proto::fs::SNAPSHOT_DIR;
use ipc_abi::proto::jit::*;
use rt::files::Files;
use rt::sys;
use snapshot::{Choice, Layout, Placed, Snapshot, Template, ValidFor};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// Where file transfers are mapped here, above the Linux personality's
/// `mmap` area.
const FS_BUFFER_VA: u64 = 0x6100_0000_0000;
const _: () = assert!(FS_BUFFER_VA >= ipc_abi::linux::MMAP_END);
const _: () =
    assert!(FS_BUFFER_VA + ipc_abi::proto::fs::TRANSFER_MAX < ipc_abi::layout::USER_STACK_TOP);

const CODE_END: u64 = APP_CODE_BASE + APP_CODE_PAGES * PAGE_SIZE;
const DATA_END: u64 = APP_DATA_BASE + APP_DATA_PAGES * PAGE_SIZE;

/// What a boot restored.
#[derive(Clone, Copy, Debug, Default)]
pub struct Restored {
    pub generation: u64,
    pub functions: usize,
    pub bytes: u64,
}

/// One program's snapshots: on the disk (read and written through the fs
/// service), or packed in the initrd by `cargo xtask export` (read only).
pub struct Snapshots {
    files: Option<Files>,
    /// A snapshot packed in the initrd (`NAME.ll` + `PACKED_SUFFIX`).
    packed: Option<&'static [u8]>,
    /// What every snapshot of this run carries, and where the next goes.
    template: Template,
}

/// The app host's build as compiled code sees it: the C library's
/// addresses (the export table) and our own stubs and resolver.
pub fn app_host_id(export_table: &[u8]) -> [u8; 32] {
    let mut bytes = export_table.to_vec();
    bytes.extend(standalone::entry_stub(0).to_le_bytes());
    bytes.extend((crate::resolver::lazy_entry as *const () as u64).to_le_bytes());
    snapshot::sha256(&bytes)
}

/// This machine as the JIT's code sees it: CPUID's feature words (leaf 1
/// ECX and EDX, leaf 7 EBX, ECX and EDX; not the model or APIC id) and
/// the state the kernel enabled (XCR0), hashed. The JIT compiles for
/// what these say (AVX, AVX2...), so its code is kept only for the same.
pub fn cpu_id() -> u64 {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    let one = __cpuid(1);
    let seven = __cpuid_count(7, 0);
    let xcr0 = if one.ecx & (1 << 27) != 0 {
        let (lo, hi): (u32, u32);
        // SAFETY: XGETBV with ECX = 0 is allowed once the kernel set
        // CR4.OSXSAVE, which CPUID's OSXSAVE bit (checked) reports.
        unsafe {
            std::arch::asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") hi,
                options(nostack, nomem))
        };
        (u64::from(hi) << 32) | u64::from(lo)
    } else {
        0
    };
    let mut bytes = Vec::new();
    for word in [one.ecx, one.edx, seven.ebx, seven.ecx, seven.edx] {
        bytes.extend(word.to_le_bytes());
    }
    bytes.extend(xcr0.to_le_bytes());
    let digest = snapshot::sha256(&bytes);
    u64::from_le_bytes(digest[..8].try_into().unwrap())
}

fn event(text: &str) {
    let _ = sys::log_event(text);
}

fn read_word(addr: u64) -> u64 {
    // SAFETY: callers pass addresses in our data region (read-write for
    // our whole life), 8-aligned; the JIT writes such words atomically.
    unsafe { (*(addr as *const AtomicU64)).load(Ordering::Acquire) }
}

fn write_word(addr: u64, value: u64) {
    // SAFETY: as in `read_word`.
    unsafe { (*(addr as *const AtomicU64)).store(value, Ordering::Release) }
}

/// Our code or data region from `start` to `end` (both readable).
fn region(start: u64, end: u64) -> &'static [u8] {
    // SAFETY: callers pass ranges inside the code region (mapped
    // read-execute, so readable) or the data region (read-write), mapped
    // for our whole life; the JIT may write them meanwhile, which only
    // changes numbers that readers bound before use.
    unsafe { std::slice::from_raw_parts(start as *const u8, (end - start) as usize) }
}

/// `len` bytes at `addr` in our code or data region.
fn region_bytes(addr: u64, len: u64) -> Vec<u8> {
    region(addr, addr + len).to_vec()
}

impl Snapshots {
    /// The snapshots of the program in initrd file `file` (shown as
    /// `shown`): one packed in the initrd (`cargo xtask export`), or else
    /// the disk's when the system has an fs service (`has_fs`).
    pub fn find(
        image: &initrd::Image<'static>,
        file: &str,
        shown: &str,
        ir: &[u8],
        export_table: &[u8],
        has_fs: bool,
    ) -> Option<Snapshots> {
        let packed = format!("{file}{}", ipc_abi::proto::fs::PACKED_SNAPSHOT_SUFFIX);
        match image.find(&packed) {
            Some(f) => Some(Snapshots::packed(&packed, f.data, ir, export_table)),
            None if has_fs => Snapshots::open(shown, ir, export_table),
            None => None,
        }
    }

    /// The snapshots of `program` (shown as `shown`), when the system has
    /// an fs service with a volume; says once why not otherwise.
    pub fn open(shown: &str, ir: &[u8], export_table: &[u8]) -> Option<Snapshots> {
        let mut files = match Files::connect(FS_BUFFER_VA) {
            Ok(f) => f,
            Err(why) => {
                event(&format!("snapshot.off why=\"{}\"", why.replace('"', "'")));
                return None;
            }
        };
        if let Err(why) = files.make_dir(SNAPSHOT_DIR) {
            event(&format!("snapshot.off why=\"{}\"", why.replace('"', "'")));
            return None;
        }
        Some(Snapshots::new(
            Some(files),
            None,
            format!("{SNAPSHOT_DIR}/{}", snapshot::program_name(shown)),
            ir,
            export_table,
        ))
    }

    /// The snapshot `cargo xtask export` packed in the initrd as `name`
    /// (restored like one from the disk; nothing is saved).
    pub fn packed(name: &str, bytes: &'static [u8], ir: &[u8], export_table: &[u8]) -> Snapshots {
        Snapshots::new(
            None,
            Some(bytes),
            format!("initrd:{name}"),
            ir,
            export_table,
        )
    }

    fn new(
        files: Option<Files>,
        packed: Option<&'static [u8]>,
        base: String,
        ir: &[u8],
        export_table: &[u8],
    ) -> Snapshots {
        Snapshots {
            files,
            packed,
            template: Template {
                valid_for: ValidFor {
                    ir: snapshot::sha256(ir),
                    app_host: app_host_id(export_table),
                    abi: JitProtocol::VERSION,
                    llvm: JIT_LLVM.into(),
                    cpu: cpu_id(),
                },
                globals: Placed::default(),
                counts: Vec::new(),
                path: base,
                next: (0, 1),
            },
        }
    }

    fn path(&self, slot: usize) -> String {
        if self.packed.is_some() {
            return self.template.path.clone();
        }
        self.template.file(slot as u8)
    }

    /// After the app host laid the program out (`standalone::lay_out` and
    /// `offer`): remembers the globals' initial image, and restores the
    /// newest valid snapshot, if any. `code_region`: our capability to
    /// the code region (all rights).
    pub fn restore(&mut self, module: &Module, code_region: Slot) -> Restored {
        let n = module.functions.len();
        let globals_end = read_word(APP_DATA_NEXT);
        self.template.globals = Placed {
            base: APP_GLOBALS_BASE,
            bytes: region_bytes(APP_GLOBALS_BASE, globals_end - APP_GLOBALS_BASE),
        };
        let layout = Layout {
            code: APP_UNIT_CODE_BASE..CODE_END,
            globals: APP_GLOBALS_BASE..globals_end,
            unit_data: globals_end..DATA_END,
            functions: n,
        };
        let limit = (snapshot::HEADER_BYTES as u64) + snapshot::MAX_BODY_BYTES;
        let mut files: [Option<Vec<u8>>; 2] = [self.packed.map(<[u8]>::to_vec), None];
        let paths = [self.path(0), self.path(1)];
        if let Some(disk) = self.files.as_mut() {
            for (file, path) in files.iter_mut().zip(paths) {
                match disk.read(&path, limit) {
                    Ok(f) => *file = f,
                    Err(why) => event(&format!(
                        "snapshot.refused file={path} why=\"unreadable: {}\"",
                        why.replace('"', "'")
                    )),
                }
            }
        }
        let choice: Choice = snapshot::choose(
            [files[0].as_deref(), files[1].as_deref()],
            &self.template.valid_for,
            &layout,
        );
        for (slot, why) in &choice.refused {
            event(&format!(
                "snapshot.refused file={} why=\"{why}\"",
                self.path(*slot)
            ));
        }
        let (slot, generation) = snapshot::next_write(&choice);
        self.template.next = (slot as u8, generation);
        let Some((slot, snap)) = choice.chosen else {
            event(&format!("snapshot.none file={}", self.template.path));
            return Restored::default();
        };
        // The fs service copies the code from the file into our code
        // region (we never map it writable); a packed snapshot (no fs
        // service in the system) we copy ourselves.
        let path = self.path(slot);
        let via = match (self.files.as_mut(), files[slot].as_deref()) {
            (Some(disk), Some(file)) => Some((disk, path.as_str(), file)),
            _ => None,
        };
        match put_back(&snap, code_region, via) {
            Ok(()) => {}
            Err(why) => {
                // The code region may be half written, but no slot points
                // into it: everything runs interpreted.
                event(&format!(
                    "snapshot.refused file={} why=\"{}\"",
                    self.path(slot),
                    why.replace('"', "'")
                ));
                return Restored::default();
            }
        }
        self.template.counts = snap
            .functions
            .iter()
            .map(|f| (f.calls, f.backedges))
            .collect();
        let compiled = snap.functions.iter().filter(|f| f.level.is_some()).count();
        let bytes = (snap.code.bytes.len() + snap.unit_data.bytes.len()) as u64;
        let restored = Restored {
            generation: snap.generation,
            functions: compiled,
            bytes,
        };
        let by_tier = |l: u8| snap.functions.iter().filter(|f| f.level == Some(l)).count();
        event(&format!(
            "snapshot.restored file={} generation={} functions={compiled} o0={} o1={} o2={} o3={} code_bytes={} data_bytes={}",
            self.path(slot),
            snap.generation,
            by_tier(0),
            by_tier(1),
            by_tier(2),
            by_tier(3),
            snap.code.bytes.len(),
            snap.unit_data.bytes.len()
        ));
        restored
    }

    /// Each function's tier byte now (0: no compiled code).
    pub fn tiers(functions: usize) -> Vec<u8> {
        (0..functions)
            .map(|i| {
                // SAFETY: the tier table lies in our data region
                // (read-write for our whole life, MAX_FUNCTIONS bytes).
                unsafe { (*(tier_byte(i) as *const AtomicU8)).load(Ordering::Acquire) }
            })
            .collect()
    }

    /// What every snapshot of this run carries, as bytes for the profiler
    /// (which saves one every few seconds while the program runs); `None`
    /// when nothing can be saved (a packed snapshot).
    pub fn template(&self) -> Option<Vec<u8>> {
        self.files.as_ref().map(|_| self.template.to_bytes())
    }

    /// The profiler saved snapshots during the run, the last in `slot` at
    /// `generation`: ours goes over the other slot, above it.
    pub fn saved_by_profiler(&mut self, slot: u8, generation: u64) {
        self.template.next = (slot, generation);
        self.template.advance();
    }

    /// After the run (and the profiler's last compiles): saves what this
    /// boot has over the older generation. `counters`: this run's counts.
    pub fn save(&mut self, module: &Module, counters: Option<&[AtomicU64]>) {
        let Some(disk) = self.files.as_mut() else {
            // Packed in the initrd: nothing to write to.
            return;
        };
        let count = |i: usize, which: usize| {
            counters
                .and_then(|c| c.get(counter_offset(i, which) as usize / 8))
                .map_or(0, |w| w.load(Ordering::Relaxed))
        };
        let counts: Vec<(u64, u64)> = (0..module.functions.len())
            .map(|i| (count(i, CALLS), count(i, BACKEDGES)))
            .collect();
        let snap = match self.template.capture_regions(
            region(APP_CODE_BASE, CODE_END),
            region(APP_DATA_BASE, DATA_END),
            &counts,
        ) {
            Ok(s) => s,
            Err(why) => {
                event(&format!("snapshot.not_saved why=\"{why}\""));
                return;
            }
        };
        let file = snapshot::encode(&snap);
        let path = self.template.file(self.template.next.0);
        match disk.write(&path, &file) {
            Ok(()) => {
                event(&format!(
                    "snapshot.saved file={path} generation={} bytes={} compiled={} code_bytes={} by=app",
                    snap.generation,
                    file.len(),
                    snap.functions.iter().filter(|f| f.level.is_some()).count(),
                    snap.code.bytes.len()
                ));
                // A later run of this app host writes over the other one.
                self.template.advance();
                self.template.counts = snap
                    .functions
                    .iter()
                    .map(|f| (f.calls, f.backedges))
                    .collect();
            }
            Err(why) => event(&format!(
                "snapshot.not_saved file={path} why=\"{}\"",
                why.replace('"', "'")
            )),
        }
    }
}

/// One boot's convergence (`docs/snapshots.md`): functions by tier at
/// the end, what was restored, what the JIT compiled, whether LLVM was
/// started. Nothing rose and no JIT: converged.
pub fn convergence(
    file: &str,
    functions: usize,
    restored: Restored,
    tier_ups: u64,
    jit_loads: u64,
) {
    let tiers = Snapshots::tiers(functions);
    let at = |b: u8| tiers.iter().filter(|&&t| t == b).count();
    let _ = sys::log_event(&format!(
        "app.convergence file={file} functions={functions} interp={} o0={} o1={} o2={} o3={} restored={} restored_bytes={} generation={} compiled={tier_ups} llvm={} converged={}",
        at(0),
        at(tier_byte_value(0)),
        at(tier_byte_value(1)),
        at(tier_byte_value(2)),
        at(tier_byte_value(3)),
        restored.functions,
        restored.bytes,
        restored.generation,
        if jit_loads > 0 { "started" } else { "absent" },
        u8::from(tier_ups == 0 && jit_loads == 0)
    ));
}

/// Has the fs service copy the code of `snap` from its `file` on the
/// disk (at `path`) straight into the code region (`code_region`, which
/// the fs service maps writable in its own space), then checks that the
/// region holds exactly the checked code.
fn code_through_fs(
    snap: &Snapshot,
    code_region: Slot,
    (disk, path, file): (&mut Files, &str, &[u8]),
) -> Result<(), String> {
    let len = snap.code.bytes.len();
    let at = snapshot::code_offset(snap);
    if file.get(at..at + len) != Some(&snap.code.bytes[..]) {
        return Err("the code is not where the format puts it".into());
    }
    disk.read_into(
        path,
        (at as u64, len as u64),
        code_region,
        snap.code.base - APP_CODE_BASE,
    )?;
    if region_bytes(snap.code.base, len as u64) != snap.code.bytes {
        return Err("the code the fs service put in place is not the checked code".into());
    }
    Ok(())
}

/// Puts the code of `snap` in place ourselves (a packed snapshot: the
/// system has no fs service): the code region's read-execute mapping is
/// replaced by a read-write one for the copy, then back; never both.
fn code_by_remapping(snap: &Snapshot, code_region: Slot) -> Result<(), String> {
    let rx = Rights::READ.union(Rights::EXEC);
    let rw = Rights::READ.union(Rights::WRITE);
    sys::mem_unmap(APP_CODE_BASE).map_err(|e| format!("unmap the code region: {e:?}"))?;
    let copied = sys::mem_map(code_region, APP_CODE_BASE, rw)
        .map_err(|e| format!("map the code region writable: {e:?}"))
        .map(|_| {
            // SAFETY: the code region is mapped read-write at
            // APP_CODE_BASE now (and not executable anywhere in this
            // task); `check` put the code inside it.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    snap.code.bytes.as_ptr(),
                    snap.code.base as *mut u8,
                    snap.code.bytes.len(),
                )
            }
        });
    let _ = sys::mem_unmap(APP_CODE_BASE);
    sys::mem_map(code_region, APP_CODE_BASE, rx)
        .map_err(|e| format!("map the code region back: {e:?}"))?;
    copied
}

/// Puts a checked snapshot's code (through the fs service when `via` has
/// the file on the disk), data, tiers and slots in place.
fn put_back(
    snap: &Snapshot,
    code_region: Slot,
    via: Option<(&mut Files, &str, &[u8])>,
) -> Result<(), String> {
    match via {
        Some(v) => code_through_fs(snap, code_region, v)?,
        None => code_by_remapping(snap, code_region)?,
    }
    // SAFETY: `check` put the unit data inside the data region after the
    // globals (read-write for our whole life; nothing runs yet).
    unsafe {
        std::ptr::copy_nonoverlapping(
            snap.unit_data.bytes.as_ptr(),
            snap.unit_data.base as *mut u8,
            snap.unit_data.bytes.len(),
        )
    };
    for (i, f) in snap.functions.iter().enumerate() {
        if let Some(level) = f.level {
            // SAFETY: the tier table lies in our data region (i <
            // MAX_FUNCTIONS: `check` matched the function count).
            unsafe {
                (*(tier_byte(i) as *const AtomicU8))
                    .store(tier_byte_value(level), Ordering::Release)
            };
            write_word(slot(i), f.entry);
        }
    }
    let code_next = snap.code.base + snap.code.bytes.len() as u64;
    let data_next = snap.unit_data.base + snap.unit_data.bytes.len() as u64;
    let old_data_next = read_word(APP_DATA_NEXT);
    write_word(
        APP_CODE_NEXT,
        code_next.max(APP_UNIT_CODE_BASE).next_multiple_of(16),
    );
    write_word(
        APP_DATA_NEXT,
        data_next.max(old_data_next).next_multiple_of(16),
    );
    Ok(())
}
