//! The fs service's parts that run anywhere: the disk as a byte stream
//! (`disk`) and the FAT volume's requests (`volume`), host-tested; the
//! device side (`pci`, `hal`) and the IPC loop live in the binary.

#![deny(unsafe_code)]

pub mod disk;
pub mod volume;

#[cfg(test)]
mod tests;
