//! `initrd build MANIFEST -o IMG [--dir DIR]...` and `initrd list IMG`.

use initrd::{Image, writer};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage:
  initrd build MANIFEST.toml -o IMAGE [--dir DIR]...   files are looked up in each DIR
                                                       (default: the manifest's directory)
  initrd list IMAGE                                    check an image and list its files";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("initrd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("build") => {
            let mut manifest = None;
            let mut out = None;
            let mut dirs = Vec::new();
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "-o" => out = it.next().map(PathBuf::from),
                    "--dir" => dirs.push(PathBuf::from(it.next().ok_or("--dir needs a value")?)),
                    _ if manifest.is_none() => manifest = Some(PathBuf::from(a)),
                    _ => return Err(format!("unexpected argument {a:?}\n{USAGE}")),
                }
            }
            let (Some(manifest), Some(out)) = (manifest, out) else {
                return Err(USAGE.into());
            };
            let image = writer::build_from_manifest(&manifest, &dirs)?;
            std::fs::write(&out, &image)
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            println!("wrote {} ({} bytes)", out.display(), image.len());
            Ok(())
        }
        Some("list") => {
            let path = args.get(1).ok_or(USAGE)?;
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            let image = Image::parse(&bytes).map_err(|e| format!("{path}: {e}"))?;
            for e in image.entries() {
                println!("{:>10}  {:>10}  {}", e.offset, e.data.len(), e.name);
            }
            let manifest = image.manifest().map_err(|e| format!("{path}: {e}"))?;
            for s in &manifest.services {
                println!(
                    "service {} file={} restart={:?} personality={:?} args={:?} caps={:?}",
                    s.name,
                    s.file(),
                    s.restart,
                    s.personality,
                    s.args,
                    s.capabilities
                );
            }
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}
