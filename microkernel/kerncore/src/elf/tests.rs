//! Each rejection of `plan`, on a hand-built ELF that is valid but for the
//! one fault.

use super::*;
use object::elf::{PF_R, PT_NOTE};
use proptest::prelude::*;

const USER: Range<u64> = 0x1000..0x0000_7fff_ffff_f000;

struct Ph {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

fn code(vaddr: u64) -> Ph {
    Ph {
        p_type: PT_LOAD,
        flags: PF_R | PF_X,
        offset: 0x1000,
        vaddr,
        filesz: 0x100,
        memsz: 0x100,
    }
}

fn data(vaddr: u64) -> Ph {
    Ph {
        p_type: PT_LOAD,
        flags: PF_R | PF_W,
        offset: 0x1100,
        vaddr,
        filesz: 0x10,
        memsz: 0x2000,
    }
}

fn build(machine: u16, e_type: u16, entry: u64, phs: &[Ph]) -> Vec<u8> {
    let mut f = vec![0u8; 0x1200];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2; // 64-bit
    f[5] = 1; // little-endian
    f[6] = 1; // version
    f[16..18].copy_from_slice(&e_type.to_le_bytes());
    f[18..20].copy_from_slice(&machine.to_le_bytes());
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&entry.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    f[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    f[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    f[56..58].copy_from_slice(&(phs.len() as u16).to_le_bytes());
    for (i, ph) in phs.iter().enumerate() {
        let b = 64 + i * 56;
        f[b..b + 4].copy_from_slice(&ph.p_type.to_le_bytes());
        f[b + 4..b + 8].copy_from_slice(&ph.flags.to_le_bytes());
        f[b + 8..b + 16].copy_from_slice(&ph.offset.to_le_bytes());
        f[b + 16..b + 24].copy_from_slice(&ph.vaddr.to_le_bytes());
        f[b + 24..b + 32].copy_from_slice(&ph.vaddr.to_le_bytes());
        f[b + 32..b + 40].copy_from_slice(&ph.filesz.to_le_bytes());
        f[b + 40..b + 48].copy_from_slice(&ph.memsz.to_le_bytes());
        f[b + 48..b + 56].copy_from_slice(&0x1000u64.to_le_bytes());
    }
    f
}

fn good() -> Vec<u8> {
    build(
        EM_X86_64,
        ET_EXEC,
        0x20_0010,
        &[code(0x20_0000), data(0x20_1000)],
    )
}

#[test]
fn plans_a_good_executable() {
    let plan = plan(&good(), USER).unwrap();
    assert_eq!(plan.entry, 0x20_0010);
    assert_eq!(plan.segments.len(), 2);
    let d = plan.segments[1];
    assert!(d.writable && !d.executable);
    assert_eq!(d.file_range, (0x1100, 0x1110));
    assert_eq!(d.page_range(), 0x20_1000..0x20_3000);
    assert_eq!(
        plan.phdr, None,
        "no loaded segment covers the headers at offset 64"
    );
    assert_eq!(plan.phnum, 2);
}

#[test]
fn finds_the_program_headers_in_a_segment_that_loads_them() {
    let mut c = code(0x20_0000);
    c.offset = 0;
    c.filesz = 0x1100;
    c.memsz = 0x1100;
    let f = build(EM_X86_64, ET_EXEC, 0x20_0010, &[c]);
    assert_eq!(plan(&f, USER).unwrap().phdr, Some(0x20_0040));
}

#[test]
fn ignores_non_load_segments() {
    let mut note = code(0);
    note.p_type = PT_NOTE;
    note.offset = 0xffff_ffff; // would be out of the file if it were loaded
    let f = build(EM_X86_64, ET_EXEC, 0x20_0010, &[note, code(0x20_0000)]);
    assert_eq!(plan(&f, USER).unwrap().segments.len(), 1);
}

#[test]
fn rejects_non_elf_and_truncated_headers() {
    assert!(matches!(plan(b"MZ\x90\x00", USER), Err(ElfError::NotElf)));
    assert!(matches!(plan(&good()[..40], USER), Err(ElfError::NotElf)));
    let mut f = good();
    f[4] = 1; // 32-bit class
    assert!(matches!(plan(&f, USER), Err(ElfError::NotElf)));
}

#[test]
fn rejects_other_machines_and_types() {
    let f = build(183, ET_EXEC, 0x20_0010, &[code(0x20_0000)]); // aarch64
    assert_eq!(plan(&f, USER), Err(ElfError::WrongMachine(183)));
    let f = build(EM_X86_64, 3, 0x20_0010, &[code(0x20_0000)]); // ET_DYN
    assert_eq!(plan(&f, USER), Err(ElfError::NotExecutable(3)));
}

#[test]
fn rejects_program_headers_outside_the_file() {
    let mut f = good();
    f[32..40].copy_from_slice(&0x10_0000u64.to_le_bytes());
    assert!(matches!(plan(&f, USER), Err(ElfError::BadProgramHeaders)));
}

#[test]
fn rejects_segments_outside_the_file() {
    let mut c = code(0x20_0000);
    c.filesz = 0x10_0000;
    c.memsz = 0x10_0000;
    let f = build(EM_X86_64, ET_EXEC, 0x20_0010, &[c]);
    assert_eq!(
        plan(&f, USER),
        Err(ElfError::SegmentOutsideFile { index: 0 })
    );
}

#[test]
fn rejects_file_size_above_mem_size() {
    let mut c = code(0x20_0000);
    c.memsz = 0x10;
    let f = build(EM_X86_64, ET_EXEC, 0x20_0008, &[c]);
    assert_eq!(
        plan(&f, USER),
        Err(ElfError::FileSizeAboveMemSize { index: 0 })
    );
}

#[test]
fn rejects_addresses_outside_the_allowed_range_or_overflowing() {
    let f = build(
        EM_X86_64,
        ET_EXEC,
        0xffff_ffff_8000_0010,
        &[code(0xffff_ffff_8000_0000)],
    );
    assert_eq!(
        plan(&f, USER),
        Err(ElfError::SegmentOutsideRange { index: 0 })
    );
    let f = build(EM_X86_64, ET_EXEC, 0x10, &[code(0)]);
    assert_eq!(
        plan(&f, USER),
        Err(ElfError::SegmentOutsideRange { index: 0 })
    );
    let mut c = code(u64::MAX - 0x50);
    c.memsz = 0x100;
    let f = build(EM_X86_64, ET_EXEC, u64::MAX - 0x40, &[c]);
    assert_eq!(
        plan(&f, 0..u64::MAX),
        Err(ElfError::SegmentOutsideRange { index: 0 })
    );
}

#[test]
fn rejects_writable_and_executable_segments() {
    let mut c = code(0x20_0000);
    c.flags |= PF_W;
    let f = build(EM_X86_64, ET_EXEC, 0x20_0010, &[c]);
    assert_eq!(
        plan(&f, USER),
        Err(ElfError::WritableAndExecutable { index: 0 })
    );
}

#[test]
fn rejects_overlapping_segments() {
    let f = build(
        EM_X86_64,
        ET_EXEC,
        0x20_0010,
        &[code(0x20_0000), data(0x20_0800)],
    );
    assert_eq!(plan(&f, USER), Err(ElfError::Overlap { index: 1 }));
}

#[test]
fn rejects_an_entry_outside_code() {
    let f = build(
        EM_X86_64,
        ET_EXEC,
        0x20_1000,
        &[code(0x20_0000), data(0x20_1000)],
    );
    assert_eq!(
        plan(&f, USER),
        Err(ElfError::EntryNotInCode { entry: 0x20_1000 })
    );
    let f = build(EM_X86_64, ET_EXEC, 0x20_0010, &[]);
    assert_eq!(plan(&f, USER), Err(ElfError::NoLoadableSegment));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    /// Whatever bytes come in, a plan never points outside the file or the
    /// allowed range.
    #[test]
    fn corrupted_files_never_yield_an_unsafe_plan(
        edits in proptest::collection::vec((0usize..0x1200, any::<u8>()), 1..12)
    ) {
        let mut f = good();
        for (pos, v) in edits {
            f[pos] = v;
        }
        if let Ok(p) = plan(&f, USER) {
            for s in &p.segments {
                prop_assert!(s.file_range.1 <= f.len());
                prop_assert!(s.page_range().start >= USER.start && s.page_range().end <= USER.end);
                prop_assert!(!(s.writable && s.executable));
            }
        }
    }
}
