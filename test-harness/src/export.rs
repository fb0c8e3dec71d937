//! `cargo xtask export`: a system that runs a program from its snapshot
//! alone. The newest snapshot of the program on the snapshot disk is
//! packed into the initrd beside the program (`NAME.ll.snapshot`,
//! `ipc_abi::proto::fs::PACKED_SNAPSHOT_SUFFIX`), and the initrd holds the
//! supervisor and the app host only: no JIT (so no LLVM), no profiler, no
//! fs service. The app host restores the packed snapshot as it would one
//! from the disk (every check included) and runs the program: compiled
//! functions at their tiers, the rest interpreted.

use crate::disk;
use std::path::Path;

/// The newest snapshot named `name` on the disk at `disk` (of its two
/// generations, the newest one that decodes whole): its bytes and
/// generation. The guest checks the rest (what it is valid for).
pub fn newest_snapshot(disk_path: &Path, name: &str) -> Result<(Vec<u8>, u64), String> {
    let mut best: Option<(Vec<u8>, u64)> = None;
    let mut damaged = Vec::new();
    for slot in 0..2 {
        let file_name = format!("{name}.{slot}");
        let Some(bytes) = disk::read_snapshot_file(disk_path, &file_name)? else {
            continue;
        };
        match snapshot::decode(&bytes) {
            Ok(s) if best.as_ref().is_none_or(|(_, g)| s.generation > *g) => {
                best = Some((bytes, s.generation))
            }
            Ok(_) => {}
            Err(why) => damaged.push(format!("{file_name}: {why}")),
        }
    }
    best.ok_or_else(|| {
        let mut msg = format!(
            "no snapshot of {name} on {} (run the program there first: `cargo xtask run --app ... --disk {}`)",
            disk_path.display(),
            disk_path.display()
        );
        if !damaged.is_empty() {
            msg += &format!("; refused: {}", damaged.join(", "));
        }
        msg
    })
}

/// The manifest of an exported system: the supervisor and the app host
/// (service `service`, arguments `args`) with `files`, and nothing else.
pub fn manifest(service: &str, files: &[String], args: &[String]) -> String {
    format!(
        "version = 1\nfiles = {files:?}\n\n[[service]]\nname = \"supervisor\"\n\n\
         [[service]]\nname = \"{service}\"\nfile = \"app\"\npersonality = \"linux\"\n\
         args = {args:?}\ncapabilities = [\"initrd\", \"shutdown\"]\nshutdown_on_exit = true\n"
    )
}
