//! The FAT volume and what each request does to it (host-tested over a
//! volume in memory).

use crate::disk::{Sectors, Stream};
use fatfs::{FileSystem, FsOptions};
use ipc_abi::proto::fs::{FsError, valid_path};
use std::io::{self, Read, Seek, SeekFrom, Write};

/// A refused or failed request: the error and what to tell the client.
pub type Failure = (FsError, String);
pub type Outcome<T> = Result<T, Failure>;

pub struct Volume<D: Sectors> {
    fs: FileSystem<Stream<D>>,
}

fn io_failure(what: &str, path: &str, e: io::Error) -> Failure {
    let text = e.to_string();
    let error = if e.kind() == io::ErrorKind::NotFound {
        FsError::NotFound
    } else if text.contains("No space left") {
        FsError::NoSpace
    } else if text.contains("directory") {
        FsError::WrongType
    } else {
        FsError::Io
    };
    (error, format!("{what} {path}: {text}"))
}

fn checked(path: &str) -> Outcome<&str> {
    if valid_path(path) {
        Ok(path)
    } else {
        Err((FsError::BadPath, format!("bad path {path:?}")))
    }
}

impl<D: Sectors> Volume<D> {
    /// Mounts the FAT volume on `stream` (FAT12, 16 or 32); the error says
    /// why it is not one.
    pub fn mount(stream: Stream<D>) -> Result<Volume<D>, String> {
        let fs = FileSystem::new(stream, FsOptions::new())
            .map_err(|e| format!("not a FAT volume: {e}"))?;
        Ok(Volume { fs })
    }

    /// `FAT12`, `FAT16` or `FAT32` (the disk `cargo xtask` makes is FAT16).
    pub fn fat_type(&self) -> &'static str {
        match self.fs.fat_type() {
            fatfs::FatType::Fat12 => "FAT12",
            fatfs::FatType::Fat16 => "FAT16",
            fatfs::FatType::Fat32 => "FAT32",
        }
    }

    /// (free bytes, total bytes).
    pub fn space(&self) -> Outcome<(u64, u64)> {
        let s = self
            .fs
            .stats()
            .map_err(|e| io_failure("stat", "volume", e))?;
        let c = s.cluster_size() as u64;
        Ok((s.free_clusters() as u64 * c, s.total_clusters() as u64 * c))
    }

    pub fn open(&self, path: &str, create: bool) -> Outcome<u64> {
        let path = checked(path)?;
        let root = self.fs.root_dir();
        let mut f = if create {
            root.create_file(path)
        } else {
            root.open_file(path)
        }
        .map_err(|e| io_failure("open", path, e))?;
        let size = f
            .seek(SeekFrom::End(0))
            .map_err(|e| io_failure("open", path, e))?;
        if create {
            // A file just made must reach the disk; opening one touches
            // nothing (no device flush on every look).
            f.flush().map_err(|e| io_failure("open", path, e))?;
        }
        Ok(size)
    }

    /// Reads into `out` from `offset`; returns the bytes read (fewer at
    /// the end of the file).
    pub fn read(&self, path: &str, offset: u64, out: &mut [u8]) -> Outcome<u64> {
        let path = checked(path)?;
        let mut f = self
            .fs
            .root_dir()
            .open_file(path)
            .map_err(|e| io_failure("read", path, e))?;
        let size = f
            .seek(SeekFrom::End(0))
            .map_err(|e| io_failure("read", path, e))?;
        if offset >= size {
            return Ok(0);
        }
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| io_failure("read", path, e))?;
        let want = out.len().min((size - offset) as usize);
        f.read_exact(&mut out[..want])
            .map_err(|e| io_failure("read", path, e))?;
        Ok(want as u64)
    }

    /// Writes `data` at `offset` (making the file if needed), then flushes
    /// the file and the device: on `Ok`, the data is on the disk.
    pub fn write(&self, path: &str, offset: u64, data: &[u8], truncate: bool) -> Outcome<u64> {
        let path = checked(path)?;
        let mut f = self
            .fs
            .root_dir()
            .create_file(path)
            .map_err(|e| io_failure("write", path, e))?;
        let size = f
            .seek(SeekFrom::End(0))
            .map_err(|e| io_failure("write", path, e))?;
        if offset > size {
            return Err((
                FsError::Io,
                format!("write {path}: offset {offset} past the end ({size} bytes)"),
            ));
        }
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| io_failure("write", path, e))?;
        let written = f.write_all(data).and_then(|()| {
            if truncate {
                f.truncate()?;
            }
            f.flush()
        });
        if let Err(e) = written {
            // Give back what the failed write took (a full disk must not
            // keep a half-grown file's clusters).
            if offset == 0 {
                let _ = f.seek(SeekFrom::Start(0)).and_then(|_| f.truncate());
                let _ = f.flush();
            }
            return Err(io_failure("write", path, e));
        }
        Ok(data.len() as u64)
    }

    /// Names in directory `path` ("" for the root), one per line,
    /// directories with a `/`; returns (bytes, count).
    pub fn list(&self, path: &str, out: &mut [u8]) -> Outcome<(u64, u64)> {
        let root = self.fs.root_dir();
        let dir = if path.is_empty() {
            root
        } else {
            root.open_dir(checked(path)?)
                .map_err(|e| io_failure("list", path, e))?
        };
        let mut text = String::new();
        let mut count = 0;
        for entry in dir.iter() {
            let entry = entry.map_err(|e| io_failure("list", path, e))?;
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            text.push_str(&name);
            if entry.is_dir() {
                text.push('/');
            }
            text.push('\n');
            count += 1;
        }
        if text.len() > out.len() {
            return Err((
                FsError::BadBuffer,
                format!(
                    "list {path}: {} bytes do not fit the buffer's {}",
                    text.len(),
                    out.len()
                ),
            ));
        }
        out[..text.len()].copy_from_slice(text.as_bytes());
        Ok((text.len() as u64, count))
    }

    pub fn remove(&self, path: &str) -> Outcome<()> {
        let path = checked(path)?;
        self.fs
            .root_dir()
            .remove(path)
            .map_err(|e| io_failure("remove", path, e))
    }

    pub fn make_dir(&self, path: &str) -> Outcome<()> {
        let path = checked(path)?;
        self.fs
            .root_dir()
            .create_dir(path)
            .map(|_| ())
            .map_err(|e| io_failure("mkdir", path, e))
    }
}
