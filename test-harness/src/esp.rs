//! The EFI system partition as a FAT image, written on the host with the
//! `fatfs` crate (no mtools, no loop mounts).

use fatfs::{FileSystem, FormatVolumeOptions, FsOptions};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// Where the firmware looks for a removable disk's boot program.
pub const BOOT_PROGRAM: &str = "EFI/BOOT/BOOTX64.EFI";

/// A new FAT volume of `bytes` bytes at `path` (replacing any file there),
/// formatted as `options` say; the open image.
pub(crate) fn new_fat_volume(
    path: &Path,
    bytes: u64,
    options: FormatVolumeOptions,
) -> Result<std::fs::File, String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    file.set_len(bytes).map_err(err)?;
    fatfs::format_volume(&file, options).map_err(err)?;
    Ok(file)
}

/// Writes a FAT image at `path` holding `files` (FAT paths with `/`).
pub fn write_fat_image(path: &Path, files: &[(&str, Vec<u8>)]) -> Result<(), String> {
    let payload: u64 = files.iter().map(|(_, d)| d.len() as u64).sum();
    let size = (payload + payload / 4 + (8 << 20))
        .max(34 << 20)
        .next_multiple_of(1 << 20);
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = new_fat_volume(
        path,
        size,
        FormatVolumeOptions::new().volume_label(*b"JITOS ESP  "),
    )?;
    let fs = FileSystem::new(&file, FsOptions::new()).map_err(err)?;
    for (name, data) in files {
        let mut dir = fs.root_dir();
        let mut parts: Vec<&str> = name.split('/').collect();
        let leaf = parts.pop().ok_or("empty file name")?;
        for p in parts {
            dir = match dir.open_dir(p) {
                Ok(d) => d,
                Err(_) => dir.create_dir(p).map_err(err)?,
            };
        }
        let mut f = dir.create_file(leaf).map_err(err)?;
        f.truncate().map_err(err)?;
        f.write_all(data).map_err(err)?;
    }
    fs.unmount().map_err(err)?;
    Ok(())
}

/// What goes on a boot ESP; `None` leaves a file out (for tests of the
/// loader's errors).
#[derive(Clone, Debug, Default)]
pub struct EspContents {
    pub loader: Vec<u8>,
    pub kernel: Option<Vec<u8>>,
    pub initrd: Option<Vec<u8>>,
    pub cmdline: Option<String>,
}

impl EspContents {
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let mut files = vec![(BOOT_PROGRAM, self.loader.clone())];
        if let Some(k) = &self.kernel {
            files.push(("kernel", k.clone()));
        }
        if let Some(i) = &self.initrd {
            files.push(("initrd", i.clone()));
        }
        if let Some(c) = &self.cmdline {
            files.push(("cmdline", c.clone().into_bytes()));
        }
        write_fat_image(path, &files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn files_can_be_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("esp.img");
        write_fat_image(
            &img,
            &[(BOOT_PROGRAM, vec![1, 2, 3]), ("kernel", vec![9; 70_000])],
        )
        .unwrap();
        let file = std::fs::File::open(&img).unwrap();
        let fs = FileSystem::new(file, FsOptions::new()).unwrap();
        let mut data = Vec::new();
        fs.root_dir()
            .open_file(BOOT_PROGRAM)
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        assert_eq!(data, [1, 2, 3]);
        data.clear();
        fs.root_dir()
            .open_file("kernel")
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        assert_eq!(data.len(), 70_000);
    }
}
