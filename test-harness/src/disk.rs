//! The snapshot disk: a raw image the host keeps between runs, formatted
//! FAT16 with the `fatfs` crate on first use and attached to QEMU as a
//! second virtio-blk PCI device (`docs/snapshots.md`). The guest's fs
//! service is what reads it; here we only make one and say what it holds.

use fatfs::{FatType, FileSystem, FormatVolumeOptions, FsOptions};
use std::path::Path;

/// Size of a new snapshot disk: FAT16 (at least 16 MiB with fatfs's
/// default cluster size; FAT16 ends at 2 GiB).
pub const DISK_BYTES: u64 = 64 << 20;
pub use ipc_abi::proto::fs::{SNAPSHOT_DIR, SNAPSHOT_DISK_SERIAL as DISK_SERIAL};

/// The fs service's manifest entry, with `args` (`docs/fs.md`): PCI
/// configuration ports and device memory, restarted if it fails.
pub fn fs_service(args: &[&str]) -> String {
    let args = if args.is_empty() {
        String::new()
    } else {
        format!("args = {args:?}\n")
    };
    format!(
        "[[service]]\nname = \"fs\"\npersonality = \"linux\"\nrestart = \"on-failure\"\n{args}\
         capabilities = [\"ioports:0xcf8-0xcff\", \"device-memory\"]\n\n"
    )
}

/// What [`prepare`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepared {
    Created,
    /// An existing image, left as it is (the guest checks it).
    Kept,
}

/// Makes a fresh FAT16 snapshot disk at `path` (replacing any), with an
/// empty snapshot directory.
pub fn create(path: &Path) -> Result<(), String> {
    create_sized(path, DISK_BYTES)
}

/// As [`create`], `bytes` long (FAT16 down to about 16 MiB).
pub fn create_sized(path: &Path, bytes: u64) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let file = crate::esp::new_fat_volume(
        path,
        bytes,
        FormatVolumeOptions::new()
            .fat_type(FatType::Fat16)
            .volume_label(*b"JITOS SNAPS"),
    )?;
    let fs = FileSystem::new(&file, FsOptions::new()).map_err(err)?;
    fs.root_dir().create_dir(SNAPSHOT_DIR).map_err(err)?;
    fs.unmount().map_err(err)
}

/// The disk at `path`, made if missing (or `fresh`).
pub fn prepare(path: &Path, fresh: bool) -> Result<Prepared, String> {
    if fresh || !path.exists() {
        create(path)?;
        return Ok(Prepared::Created);
    }
    Ok(Prepared::Kept)
}

/// What the disk at `path` is, for people: `FAT16, N files in SNAPSHOT`,
/// or why it is not a snapshot disk.
pub fn describe(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let fs = FileSystem::new(&file, FsOptions::new())
        .map_err(|e| format!("{} is not a FAT volume: {e}", path.display()))?;
    let kind = match fs.fat_type() {
        FatType::Fat12 => "FAT12",
        FatType::Fat16 => "FAT16",
        FatType::Fat32 => "FAT32",
    };
    let files = fs
        .root_dir()
        .open_dir(SNAPSHOT_DIR)
        .map(|d| {
            d.iter()
                .filter_map(Result::ok)
                .filter(|e| e.is_file())
                .count()
        })
        .map_err(|_| format!("{} has no {SNAPSHOT_DIR} directory", path.display()))?;
    Ok(format!("{kind}, {files} files in {SNAPSHOT_DIR}"))
}

fn open_rw(path: &Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs `f` on the snapshot directory of the disk at `path`, then
/// unmounts the volume (what `f` wrote is on the image when this returns).
fn in_snapshot_dir<T>(
    path: &Path,
    f: impl FnOnce(&fatfs::Dir<'_, &std::fs::File>) -> Result<T, String>,
) -> Result<T, String> {
    let file = open_rw(path)?;
    let fs = FileSystem::new(&file, FsOptions::new()).map_err(|e| e.to_string())?;
    let dir = fs
        .root_dir()
        .open_dir(SNAPSHOT_DIR)
        .map_err(|e| e.to_string())?;
    let out = f(&dir)?;
    drop(dir);
    fs.unmount().map_err(|e| e.to_string())?;
    Ok(out)
}

/// The file `name` in the snapshot directory of the disk at `path`
/// (`None`: no such file).
pub fn read_snapshot_file(path: &Path, name: &str) -> Result<Option<Vec<u8>>, String> {
    use std::io::Read;
    in_snapshot_dir(path, |dir| {
        let Ok(mut f) = dir.open_file(name) else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        Ok(Some(bytes))
    })
}

/// Writes (`Some`) or removes (`None`) the file `name` in the snapshot
/// directory of the disk at `path`.
pub fn put_snapshot_file(path: &Path, name: &str, bytes: Option<&[u8]>) -> Result<(), String> {
    use std::io::Write;
    in_snapshot_dir(path, |dir| {
        match bytes {
            Some(b) => {
                let mut f = dir.create_file(name).map_err(|e| e.to_string())?;
                f.truncate().map_err(|e| e.to_string())?;
                f.write_all(b).map_err(|e| e.to_string())?;
            }
            None => {
                let _ = dir.remove(name);
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    #[test]
    fn a_new_disk_is_fat16_with_an_empty_snapshot_directory_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/disk.img");
        assert_eq!(prepare(&path, false), Ok(Prepared::Created));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), DISK_BYTES);
        assert_eq!(describe(&path).unwrap(), "FAT16, 0 files in SNAPSHOT");
        // Kept as it is on the next run, made again with `fresh`.
        {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap();
            let fs = FileSystem::new(&file, FsOptions::new()).unwrap();
            fs.root_dir()
                .open_dir(SNAPSHOT_DIR)
                .unwrap()
                .create_file("A.SNP")
                .unwrap();
        }
        assert_eq!(prepare(&path, false), Ok(Prepared::Kept));
        assert_eq!(describe(&path).unwrap(), "FAT16, 1 files in SNAPSHOT");
        assert_eq!(prepare(&path, true), Ok(Prepared::Created));
        assert_eq!(describe(&path).unwrap(), "FAT16, 0 files in SNAPSHOT");
    }

    #[test]
    fn snapshot_files_are_written_read_and_removed_on_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        create_sized(&path, 16 << 20).unwrap();
        assert_eq!(read_snapshot_file(&path, "fib.ll.0"), Ok(None));
        put_snapshot_file(&path, "fib.ll.0", Some(b"first, longer")).unwrap();
        put_snapshot_file(&path, "fib.ll.0", Some(b"second")).unwrap();
        assert_eq!(
            read_snapshot_file(&path, "fib.ll.0"),
            Ok(Some(b"second".to_vec()))
        );
        assert_eq!(describe(&path).unwrap(), "FAT16, 1 files in SNAPSHOT");
        put_snapshot_file(&path, "fib.ll.0", None).unwrap();
        assert_eq!(read_snapshot_file(&path, "fib.ll.0"), Ok(None));
    }

    #[test]
    fn a_disk_that_is_not_fat_is_described_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.img");
        std::fs::write(&path, vec![0x5A; 1 << 20]).unwrap();
        let why = describe(&path).unwrap_err();
        assert!(why.contains("is not a FAT volume"), "{why}");
    }
}
