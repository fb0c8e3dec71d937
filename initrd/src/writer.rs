//! Builds images on the host (feature `std`).

use crate::format::*;
use crate::manifest::{MANIFEST_VERSION, Manifest};
use std::path::{Path, PathBuf};

/// Lays out `files` as an image. Names are checked: non-empty, at most
/// [`NAME_LEN`] bytes, no NUL, unique.
pub fn build_image(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    if files.len() > MAX_ENTRIES {
        return Err(format!("{} files (at most {MAX_ENTRIES})", files.len()));
    }
    for (i, (name, _)) in files.iter().enumerate() {
        if name.is_empty() || name.len() > NAME_LEN || name.contains('\0') {
            return Err(format!(
                "file name {name:?} must be 1..={NAME_LEN} bytes without NUL"
            ));
        }
        if files[..i].iter().any(|(n, _)| n == name) {
            return Err(format!("file name {name:?} appears twice"));
        }
    }
    let mut image = vec![0u8; HEADER_LEN + files.len() * ENTRY_LEN];
    image[..8].copy_from_slice(&MAGIC);
    image[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    image[OFF_COUNT..OFF_COUNT + 4].copy_from_slice(&(files.len() as u32).to_le_bytes());
    for (i, (name, data)) in files.iter().enumerate() {
        image.resize(image.len().next_multiple_of(DATA_ALIGN), 0);
        let offset = image.len() as u64;
        image.extend_from_slice(data);
        let base = HEADER_LEN + i * ENTRY_LEN;
        image[base..base + name.len()].copy_from_slice(name.as_bytes());
        image[base + NAME_LEN..base + NAME_LEN + 8].copy_from_slice(&offset.to_le_bytes());
        image[base + NAME_LEN + 8..base + ENTRY_LEN]
            .copy_from_slice(&(data.len() as u64).to_le_bytes());
    }
    seal(&mut image);
    Ok(image)
}

/// Writes the total length and the checksum into the header. Tests use it
/// to build images that are well-sealed but wrong inside.
pub fn seal(image: &mut [u8]) {
    let total = image.len() as u64;
    image[OFF_TOTAL_LEN..OFF_TOTAL_LEN + 8].copy_from_slice(&total.to_le_bytes());
    let crc = image_crc(image);
    image[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Reads a TOML manifest; each file it names is looked up in `dirs` in
/// order (the manifest's own directory when `dirs` is empty).
pub fn build_from_manifest(manifest_path: &Path, dirs: &[PathBuf]) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(manifest_path)
        .map_err(|e| format!("cannot read {}: {e}", manifest_path.display()))?;
    let manifest = parse_toml(&text).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let own_dir = manifest_path
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let dirs: Vec<PathBuf> = if dirs.is_empty() {
        vec![own_dir]
    } else {
        dirs.to_vec()
    };
    let find = |name: &str| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file());
    manifest
        .validate(|f| find(f).is_some())
        .map_err(|e| format!("{}: {e} (searched {dirs:?})", manifest_path.display()))?;

    let mut files = vec![(MANIFEST_NAME.to_string(), manifest.to_json())];
    let mut wanted: Vec<&str> = manifest.services.iter().map(|s| s.file()).collect();
    wanted.extend(manifest.files.iter().map(String::as_str));
    for name in wanted {
        if files.iter().any(|(n, _)| n == name) {
            continue; // two services may run the same ELF
        }
        let path = find(name).ok_or_else(|| format!("file {name:?} vanished"))?;
        let data =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if name.ends_with(".ll") {
            let text = std::str::from_utf8(&data)
                .map_err(|_| format!("{}: IR text is not UTF-8", path.display()))?;
            let table = crate::functions::function_table(text)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            files.push((format!("{name}.fns"), table.into_bytes()));
            // Its bytecode for the interpreter tier, when the host tool
            // `irlower` made one (this crate has no LLVM to make it).
            let lowered = format!("{name}.bytecode");
            if let Some(path) = find(&lowered) {
                let data = std::fs::read(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                files.push((lowered, data));
            }
        }
        files.push((name.to_string(), data));
    }
    build_image(&files)
}

/// Parses the TOML form of a manifest (see `docs/initrd.md`).
pub fn parse_toml(text: &str) -> Result<Manifest, String> {
    let m: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
    if m.version != MANIFEST_VERSION {
        return Err(format!(
            "manifest version {} is not supported (this build writes {MANIFEST_VERSION})",
            m.version
        ));
    }
    Ok(m)
}
