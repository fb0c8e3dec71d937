//! The disk as a byte stream for the FAT driver (`Read + Write + Seek`
//! over 512-byte sectors): whole sectors go to the device directly, a
//! partial sector is read, patched and written back. Single sectors are
//! cached (write-through, so the disk always has every byte a write
//! returned for): the FAT driver reads the allocation table two bytes at
//! a time, and without the cache each would be a device request.

use std::io::{self, Read, Seek, SeekFrom, Write};

pub const SECTOR: usize = 512;
/// Most sectors one device request moves.
const MAX_RUN: usize = 64;
/// Sectors cached (direct-mapped by sector number).
const CACHED: usize = 512;

/// What the stream needs from a block device (the virtio disk, or a
/// vector in host tests).
pub trait Sectors {
    fn sectors(&self) -> u64;
    fn read_sectors(&mut self, first: u64, buf: &mut [u8]) -> io::Result<()>;
    fn write_sectors(&mut self, first: u64, buf: &[u8]) -> io::Result<()>;
    fn flush_device(&mut self) -> io::Result<()>;
}

/// A test hook: after this many sector writes the device takes no more
/// (a power cut in the middle of a write); `None` for never.
pub struct Stream<D: Sectors> {
    dev: D,
    cache: Vec<Option<(u64, Box<[u8; SECTOR]>)>>,
    pos: u64,
    writes_left: Option<u64>,
    /// Set when the hook has cut the power: every later write fails.
    cut: bool,
}

impl<D: Sectors> Stream<D> {
    pub fn new(dev: D, writes_before_cut: Option<u64>) -> Stream<D> {
        Stream {
            dev,
            cache: (0..CACHED).map(|_| None).collect(),
            pos: 0,
            writes_left: writes_before_cut,
            cut: false,
        }
    }

    pub fn byte_len(&self) -> u64 {
        self.dev.sectors() * SECTOR as u64
    }

    /// Whether the power-cut hook has fired.
    pub fn power_cut(&self) -> bool {
        self.cut
    }

    /// One sector, from the cache or the device.
    fn read_sector(&mut self, n: u64) -> io::Result<[u8; SECTOR]> {
        let slot = (n % CACHED as u64) as usize;
        if let Some((at, data)) = &self.cache[slot]
            && *at == n
        {
            return Ok(**data);
        }
        let mut data = [0u8; SECTOR];
        self.dev.read_sectors(n, &mut data)?;
        self.cache[slot] = Some((n, Box::new(data)));
        Ok(data)
    }

    /// Keeps the cache equal to what the device was just given.
    fn note_written(&mut self, first: u64, buf: &[u8]) {
        for (i, chunk) in buf.chunks_exact(SECTOR).enumerate() {
            let n = first + i as u64;
            let slot = (n % CACHED as u64) as usize;
            match &mut self.cache[slot] {
                Some((at, data)) if *at == n => data.copy_from_slice(chunk),
                _ => {}
            }
        }
    }

    /// Forgets every cached sector: after the power-cut hook the device
    /// holds only part of a write.
    fn forget_cache(&mut self) {
        self.cache.iter_mut().for_each(|c| *c = None);
    }

    fn write_run(&mut self, first: u64, buf: &[u8]) -> io::Result<()> {
        if let Some(left) = self.writes_left.as_mut() {
            let n = (buf.len() / SECTOR) as u64;
            if *left < n {
                // Part of the run lands, then the power goes.
                let keep = *left as usize * SECTOR;
                if keep > 0 {
                    self.dev.write_sectors(first, &buf[..keep])?;
                }
                *left = 0;
                self.cut = true;
                self.forget_cache();
                return Err(io::Error::other("power cut (test hook)"));
            }
            *left -= n;
        }
        if self.cut {
            return Err(io::Error::other("power cut (test hook)"));
        }
        self.dev.write_sectors(first, buf)?;
        self.note_written(first, buf);
        Ok(())
    }

    fn check_end(&self, len: usize) -> io::Result<()> {
        if self.pos + len as u64 > self.byte_len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "past the end of the disk",
            ));
        }
        Ok(())
    }
}

impl<D: Sectors> Read for Stream<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.byte_len() {
            return Ok(0);
        }
        let first = self.pos / SECTOR as u64;
        let off = (self.pos % SECTOR as u64) as usize;
        let left = (self.byte_len() - self.pos) as usize;
        let n = if off == 0 && buf.len() >= SECTOR {
            let n = (buf.len().min(left) / SECTOR).min(MAX_RUN) * SECTOR;
            self.dev.read_sectors(first, &mut buf[..n])?;
            n
        } else {
            let sector = self.read_sector(first)?;
            let n = (SECTOR - off).min(buf.len());
            buf[..n].copy_from_slice(&sector[off..off + n]);
            n
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl<D: Sectors> Write for Stream<D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.check_end(1)?;
        let first = self.pos / SECTOR as u64;
        let off = (self.pos % SECTOR as u64) as usize;
        let left = (self.byte_len() - self.pos) as usize;
        let n = if off == 0 && buf.len() >= SECTOR {
            let n = (buf.len().min(left) / SECTOR).min(MAX_RUN) * SECTOR;
            self.write_run(first, &buf[..n])?;
            n
        } else {
            let mut sector = self.read_sector(first)?;
            let n = (SECTOR - off).min(buf.len());
            sector[off..off + n].copy_from_slice(&buf[..n]);
            self.write_run(first, &sector)?;
            n
        };
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.cut {
            return Err(io::Error::other("power cut (test hook)"));
        }
        self.dev.flush_device()
    }
}

impl<D: Sectors> Seek for Stream<D> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.byte_len() as i128;
        let target = match to {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => len + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if !(0..=len).contains(&target) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the disk",
            ));
        }
        self.pos = target as u64;
        Ok(self.pos)
    }
}

/// Sectors in memory, shared (host tests keep the bytes across mounts,
/// as a disk keeps them across boots).
#[derive(Clone, Default)]
pub struct MemSectors(pub std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl MemSectors {
    pub fn zeroed(bytes: usize) -> MemSectors {
        MemSectors(std::rc::Rc::new(std::cell::RefCell::new(vec![0; bytes])))
    }
}

impl Sectors for MemSectors {
    fn sectors(&self) -> u64 {
        (self.0.borrow().len() / SECTOR) as u64
    }
    fn read_sectors(&mut self, first: u64, buf: &mut [u8]) -> io::Result<()> {
        let at = first as usize * SECTOR;
        buf.copy_from_slice(&self.0.borrow()[at..at + buf.len()]);
        Ok(())
    }
    fn write_sectors(&mut self, first: u64, buf: &[u8]) -> io::Result<()> {
        let at = first as usize * SECTOR;
        self.0.borrow_mut()[at..at + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn flush_device(&mut self) -> io::Result<()> {
        Ok(())
    }
}
