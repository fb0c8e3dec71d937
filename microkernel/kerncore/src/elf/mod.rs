//! Validates a static x86-64 ELF executable and turns it into a load plan:
//! the segments to map, where their bytes come from, and their rights.
//!
//! Parsing of the raw structures is the `object` crate's; this module adds
//! the checks a loader needs before it copies a single byte: the file is an
//! x86-64 executable, every loadable segment's bytes lie inside the file,
//! addresses do not overflow and stay inside the range the caller allows,
//! no segment is both writable and executable, segments do not overlap, and
//! the entry point is inside an executable segment.

use core::fmt;
use core::ops::Range;
use object::LittleEndian as LE;
use object::elf::{EM_X86_64, ET_EXEC, FileHeader64, PF_W, PF_X, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};

/// At most this many loadable segments.
pub const MAX_SEGMENTS: usize = 16;

/// One `PT_LOAD` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    /// Bytes copied from the file; the rest up to `mem_size` is zero.
    pub file_range: (usize, usize),
    pub writable: bool,
    pub executable: bool,
}

impl Segment {
    pub fn file_size(&self) -> usize {
        self.file_range.1 - self.file_range.0
    }

    /// The page-aligned virtual range the segment occupies.
    pub fn page_range(&self) -> Range<u64> {
        let start = self.vaddr & !0xfff;
        let end = (self.vaddr + self.mem_size + 0xfff) & !0xfff;
        start..end
    }
}

/// What to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    pub entry: u64,
    pub segments: heapless::Vec<Segment, MAX_SEGMENTS>,
    /// Where the program headers are in the loaded image (for the Linux
    /// auxiliary vector's `AT_PHDR`), if a loaded segment covers them.
    pub phdr: Option<u64>,
    pub phnum: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// No ELF magic, a header cut short, or an ident (class, version, byte
    /// order) that no ELF reader accepts.
    NotElf,
    NotLittleEndian64,
    WrongMachine(u16),
    NotExecutable(u16),
    /// The program header table is cut short or has the wrong entry size.
    BadProgramHeaders,
    NoLoadableSegment,
    TooManySegments,
    /// A segment's bytes are not all inside the file.
    SegmentOutsideFile {
        index: usize,
    },
    FileSizeAboveMemSize {
        index: usize,
    },
    /// A segment's addresses overflow or leave the allowed range.
    SegmentOutsideRange {
        index: usize,
    },
    WritableAndExecutable {
        index: usize,
    },
    Overlap {
        index: usize,
    },
    EntryNotInCode {
        entry: u64,
    },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ElfError::NotElf => write!(f, "not an ELF file (bad magic, ident or truncated header)"),
            ElfError::NotLittleEndian64 => write!(f, "not a little-endian 64-bit ELF file"),
            ElfError::WrongMachine(m) => write!(f, "machine {m} is not x86-64 ({EM_X86_64})"),
            ElfError::NotExecutable(t) => {
                write!(f, "ELF type {t} is not a static executable (ET_EXEC)")
            }
            ElfError::BadProgramHeaders => {
                write!(
                    f,
                    "program header table outside the file or of the wrong entry size"
                )
            }
            ElfError::NoLoadableSegment => write!(f, "no loadable segment"),
            ElfError::TooManySegments => write!(f, "more than {MAX_SEGMENTS} loadable segments"),
            ElfError::SegmentOutsideFile { index } => {
                write!(f, "segment {index} lies (partly) outside the file")
            }
            ElfError::FileSizeAboveMemSize { index } => {
                write!(f, "segment {index} has more file bytes than memory bytes")
            }
            ElfError::SegmentOutsideRange { index } => {
                write!(f, "segment {index} lies outside the allowed address range")
            }
            ElfError::WritableAndExecutable { index } => {
                write!(f, "segment {index} is both writable and executable")
            }
            ElfError::Overlap { index } => write!(f, "segment {index} overlaps an earlier one"),
            ElfError::EntryNotInCode { entry } => {
                write!(
                    f,
                    "entry point {entry:#x} is not inside an executable segment"
                )
            }
        }
    }
}

/// Validates `file` and plans its load; every segment must fall inside
/// `allowed` (the kernel's half, or user space).
pub fn plan(file: &[u8], allowed: Range<u64>) -> Result<LoadPlan, ElfError> {
    let header = FileHeader64::<LE>::parse(file).map_err(|_| ElfError::NotElf)?;
    if !header.is_little_endian() || !header.is_class_64() {
        return Err(ElfError::NotLittleEndian64);
    }
    let e = LE;
    if header.e_machine(e) != EM_X86_64 {
        return Err(ElfError::WrongMachine(header.e_machine(e)));
    }
    if header.e_type(e) != ET_EXEC {
        return Err(ElfError::NotExecutable(header.e_type(e)));
    }
    let phdrs = header
        .program_headers(e, file)
        .map_err(|_| ElfError::BadProgramHeaders)?;

    let mut segments = heapless::Vec::<Segment, MAX_SEGMENTS>::new();
    for (index, ph) in phdrs.iter().enumerate() {
        if ph.p_type(e) != PT_LOAD || ph.p_memsz(e) == 0 {
            continue;
        }
        let data = ph
            .data(e, file)
            .map_err(|()| ElfError::SegmentOutsideFile { index })?;
        let file_start = ph.p_offset(e) as usize;
        let (vaddr, mem_size) = (ph.p_vaddr(e), ph.p_memsz(e));
        if data.len() as u64 > mem_size {
            return Err(ElfError::FileSizeAboveMemSize { index });
        }
        let end = vaddr
            .checked_add(mem_size)
            .and_then(|end| end.checked_add(0xfff))
            .ok_or(ElfError::SegmentOutsideRange { index })?;
        if vaddr & !0xfff < allowed.start || end & !0xfff > allowed.end {
            return Err(ElfError::SegmentOutsideRange { index });
        }
        let flags = ph.p_flags(e);
        let seg = Segment {
            vaddr,
            mem_size,
            file_range: (file_start, file_start + data.len()),
            writable: flags & PF_W != 0,
            executable: flags & PF_X != 0,
        };
        if seg.writable && seg.executable {
            return Err(ElfError::WritableAndExecutable { index });
        }
        let pages = seg.page_range();
        if segments
            .iter()
            .any(|s| s.page_range().start < pages.end && pages.start < s.page_range().end)
        {
            return Err(ElfError::Overlap { index });
        }
        segments.push(seg).map_err(|_| ElfError::TooManySegments)?;
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadableSegment);
    }
    let entry = header.e_entry(e);
    if !segments
        .iter()
        .any(|s| s.executable && (s.vaddr..s.vaddr + s.mem_size).contains(&entry))
    {
        return Err(ElfError::EntryNotInCode { entry });
    }
    let phoff = header.e_phoff(e);
    let phdr_bytes = phdrs.len() as u64 * 56;
    let phdr = phdrs
        .iter()
        .find(|ph| ph.p_type(e) == object::elf::PT_PHDR)
        .map(|ph| ph.p_vaddr(e))
        .or_else(|| {
            phdrs
                .iter()
                .filter(|ph| ph.p_type(e) == PT_LOAD)
                .find_map(|ph| {
                    let (off, size) = (ph.p_offset(e), ph.p_filesz(e));
                    (phoff >= off && phoff + phdr_bytes <= off + size)
                        .then(|| ph.p_vaddr(e) + (phoff - off))
                })
        });
    Ok(LoadPlan {
        entry,
        segments,
        phdr,
        phnum: phdrs.len() as u16,
    })
}

#[cfg(test)]
mod tests;
