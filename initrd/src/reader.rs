//! `no_std` reader: validates an image completely before anything uses it.

use crate::format::*;
use crate::manifest::{Manifest, ManifestError};
use core::fmt;

/// Why an image was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than the header, or shorter than the header says.
    Truncated {
        need: u64,
        have: u64,
    },
    BadMagic,
    UnsupportedVersion(u32),
    /// The header's length is not the length of the bytes given.
    LengthMismatch {
        header: u64,
        actual: u64,
    },
    ChecksumMismatch {
        stored: u32,
        computed: u32,
    },
    TooManyEntries(u32),
    /// An entry's data lies (partly) outside the image or over the table.
    EntryOutOfBounds {
        index: usize,
    },
    BadName {
        index: usize,
    },
    DuplicateName {
        index: usize,
    },
    NoManifest,
    Manifest(ManifestError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { need, have } => {
                write!(f, "image truncated: need {need} bytes, have {have}")
            }
            Error::BadMagic => write!(f, "bad magic: not an initrd image"),
            Error::UnsupportedVersion(v) => write!(
                f,
                "format version {v} is not supported (this build reads {FORMAT_VERSION})"
            ),
            Error::LengthMismatch { header, actual } => {
                write!(f, "header says {header} bytes but the image has {actual}")
            }
            Error::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch: header says {stored:#010x}, contents give {computed:#010x}"
            ),
            Error::TooManyEntries(n) => write!(f, "{n} entries (at most {MAX_ENTRIES})"),
            Error::EntryOutOfBounds { index } => {
                write!(f, "entry {index} points outside the image's data")
            }
            Error::BadName { index } => write!(f, "entry {index} has an empty or non-UTF-8 name"),
            Error::DuplicateName { index } => {
                write!(f, "entry {index} repeats the name of an earlier entry")
            }
            Error::NoManifest => write!(f, "no \"{MANIFEST_NAME}\" entry"),
            Error::Manifest(e) => write!(f, "{e}"),
        }
    }
}

/// Checks only the header and the checksum; cheap enough for the loader,
/// which cannot do much else before handing the image to the kernel.
pub fn check_header(image: &[u8]) -> Result<(), Error> {
    if image.len() < HEADER_LEN {
        return Err(Error::Truncated {
            need: HEADER_LEN as u64,
            have: image.len() as u64,
        });
    }
    if image[..8] != MAGIC {
        return Err(Error::BadMagic);
    }
    let version = u32_at(image, OFF_VERSION);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion(version));
    }
    let total = u64_at(image, OFF_TOTAL_LEN);
    if total > image.len() as u64 {
        return Err(Error::Truncated {
            need: total,
            have: image.len() as u64,
        });
    }
    if total != image.len() as u64 {
        return Err(Error::LengthMismatch {
            header: total,
            actual: image.len() as u64,
        });
    }
    let stored = u32_at(image, OFF_CRC);
    let computed = image_crc(image);
    if stored != computed {
        return Err(Error::ChecksumMismatch { stored, computed });
    }
    Ok(())
}

/// A validated image: every entry lies inside the data area and has a
/// unique UTF-8 name.
#[derive(Clone, Copy, Debug)]
pub struct Image<'a> {
    bytes: &'a [u8],
    count: usize,
}

/// One file in the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
    /// Byte offset of `data` in the image.
    pub offset: usize,
}

impl<'a> Image<'a> {
    /// Validates the whole structure (not the manifest's meaning; see
    /// [`Image::manifest`]).
    pub fn parse(bytes: &'a [u8]) -> Result<Image<'a>, Error> {
        check_header(bytes)?;
        let count = u32_at(bytes, OFF_COUNT);
        if count as usize > MAX_ENTRIES {
            return Err(Error::TooManyEntries(count));
        }
        let count = count as usize;
        let table_end = HEADER_LEN + count * ENTRY_LEN;
        if table_end > bytes.len() {
            return Err(Error::Truncated {
                need: table_end as u64,
                have: bytes.len() as u64,
            });
        }
        let image = Image { bytes, count };
        for index in 0..count {
            let (name, off, len) = image.raw_entry(index);
            let name = decode_name(name).ok_or(Error::BadName { index })?;
            let end = off
                .checked_add(len)
                .ok_or(Error::EntryOutOfBounds { index })?;
            if off < table_end as u64 || end > bytes.len() as u64 {
                return Err(Error::EntryOutOfBounds { index });
            }
            for earlier in 0..index {
                if decode_name(image.raw_entry(earlier).0) == Some(name) {
                    return Err(Error::DuplicateName { index });
                }
            }
        }
        Ok(image)
    }

    /// Parses and validates the manifest against this image's files.
    pub fn manifest(&self) -> Result<Manifest, Error> {
        let entry = self.find(MANIFEST_NAME).ok_or(Error::NoManifest)?;
        let manifest = Manifest::from_json(entry.data).map_err(Error::Manifest)?;
        manifest
            .validate(|f| self.find(f).is_some())
            .map_err(Error::Manifest)?;
        Ok(manifest)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        (0..self.count).map(|i| self.entry(i))
    }

    pub fn find(&self, name: &str) -> Option<Entry<'a>> {
        self.entries().find(|e| e.name == name)
    }

    fn entry(&self, index: usize) -> Entry<'a> {
        let (name, off, len) = self.raw_entry(index);
        // `parse` checked names and bounds of every entry.
        let (off, len) = (off as usize, len as usize);
        Entry {
            name: decode_name(name).unwrap_or(""),
            data: &self.bytes[off..off + len],
            offset: off,
        }
    }

    fn raw_entry(&self, index: usize) -> (&'a [u8], u64, u64) {
        let base = HEADER_LEN + index * ENTRY_LEN;
        let b: &'a [u8] = self.bytes;
        (
            &b[base..base + NAME_LEN],
            u64_at(b, base + NAME_LEN),
            u64_at(b, base + NAME_LEN + 8),
        )
    }
}

fn decode_name(raw: &[u8]) -> Option<&str> {
    let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    if len == 0 || raw[len..].iter().any(|&b| b != 0) {
        return None;
    }
    core::str::from_utf8(&raw[..len]).ok()
}
