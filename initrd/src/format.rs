//! Byte layout of an initrd image (all integers little-endian).
//!
//! ```text
//! offset  size  field
//! 0       8     magic        "JITOSRD\0"
//! 8       4     version      FORMAT_VERSION
//! 12      4     entry_count  number of entries in the table
//! 16      8     total_len    length of the whole image in bytes
//! 24      4     crc32        CRC-32 (IEEE) of the whole image with this field zeroed
//! 28      36    reserved     zero
//! 64      64*n  entry table: name[48] (UTF-8, NUL-padded), offset u64, len u64
//! ...           file data, each file aligned to DATA_ALIGN
//! ```

pub const MAGIC: [u8; 8] = *b"JITOSRD\0";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 64;
pub const ENTRY_LEN: usize = 64;
pub const NAME_LEN: usize = 48;
pub const DATA_ALIGN: usize = 16;
/// Upper bound on entries, so that a hostile count cannot make the reader
/// loop for long.
pub const MAX_ENTRIES: usize = 1024;
/// The entry that holds the manifest (JSON, see [`crate::manifest`]).
pub const MANIFEST_NAME: &str = "manifest";

pub const OFF_VERSION: usize = 8;
pub const OFF_COUNT: usize = 12;
pub const OFF_TOTAL_LEN: usize = 16;
pub const OFF_CRC: usize = 24;

/// CRC-32 of an image, computed as if the checksum field were zero.
pub fn image_crc(image: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&image[..OFF_CRC]);
    h.update(&[0; 4]);
    h.update(&image[OFF_CRC + 4..]);
    h.finalize()
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}
