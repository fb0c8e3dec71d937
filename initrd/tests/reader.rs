//! Every rejection the reader makes, each on an image that is valid except
//! for the one fault, plus random bytes.

use initrd::format::*;
use initrd::manifest::ManifestError;
use initrd::writer::{build_image, seal};
use initrd::{Error, Image};
use proptest::prelude::*;

const MANIFEST: &str = r#"{"version":1,"service":[{"name":"supervisor"}]}"#;

fn files(manifest: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        ("manifest".into(), manifest.as_bytes().to_vec()),
        ("supervisor".into(), b"\x7fELF pretend".to_vec()),
    ]
}

fn good() -> Vec<u8> {
    build_image(&files(MANIFEST)).unwrap()
}

fn entry_field(index: usize, field: usize) -> usize {
    HEADER_LEN + index * ENTRY_LEN + field
}

#[test]
fn a_good_image_parses_and_lists_its_files() {
    let img = good();
    let image = Image::parse(&img).unwrap();
    let names: Vec<_> = image.entries().map(|e| e.name).collect();
    assert_eq!(names, ["manifest", "supervisor"]);
    assert_eq!(image.find("supervisor").unwrap().data, b"\x7fELF pretend");
    assert_eq!(
        image.manifest().unwrap().supervisor().unwrap().file(),
        "supervisor"
    );
}

#[test]
fn rejects_short_input() {
    assert_eq!(
        Image::parse(&good()[..10]).unwrap_err(),
        Error::Truncated { need: 64, have: 10 }
    );
}

#[test]
fn rejects_bad_magic() {
    let mut img = good();
    img[0] = b'X';
    seal(&mut img);
    assert!(matches!(Image::parse(&img), Err(Error::BadMagic)));
}

#[test]
fn rejects_unknown_version() {
    let mut img = good();
    img[OFF_VERSION] = 7;
    seal(&mut img);
    assert!(matches!(
        Image::parse(&img),
        Err(Error::UnsupportedVersion(7))
    ));
}

#[test]
fn rejects_truncation() {
    let img = good();
    let cut = &img[..img.len() - 3];
    assert!(matches!(Image::parse(cut), Err(Error::Truncated { .. })));
}

#[test]
fn rejects_trailing_bytes() {
    let mut img = good();
    img.push(0);
    assert!(matches!(
        Image::parse(&img),
        Err(Error::LengthMismatch { .. })
    ));
}

#[test]
fn rejects_a_flipped_bit_by_checksum() {
    let mut img = good();
    let last = img.len() - 1;
    img[last] ^= 0x20;
    assert!(matches!(
        Image::parse(&img),
        Err(Error::ChecksumMismatch { .. })
    ));
}

#[test]
fn rejects_too_many_entries() {
    let mut img = good();
    img[OFF_COUNT..OFF_COUNT + 4].copy_from_slice(&5000u32.to_le_bytes());
    seal(&mut img);
    assert!(matches!(
        Image::parse(&img),
        Err(Error::TooManyEntries(5000))
    ));
}

#[test]
fn rejects_a_table_longer_than_the_image() {
    let mut img = good();
    img[OFF_COUNT..OFF_COUNT + 4].copy_from_slice(&1000u32.to_le_bytes());
    seal(&mut img);
    assert!(matches!(Image::parse(&img), Err(Error::Truncated { .. })));
}

#[test]
fn rejects_entries_pointing_outside_the_image() {
    // Past the end.
    let mut img = good();
    let len_at = entry_field(1, NAME_LEN + 8);
    img[len_at..len_at + 8].copy_from_slice(&1_000_000u64.to_le_bytes());
    seal(&mut img);
    assert_eq!(
        Image::parse(&img).unwrap_err(),
        Error::EntryOutOfBounds { index: 1 }
    );

    // Offset + length overflowing u64.
    let mut img = good();
    let off_at = entry_field(0, NAME_LEN);
    img[off_at..off_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    seal(&mut img);
    assert_eq!(
        Image::parse(&img).unwrap_err(),
        Error::EntryOutOfBounds { index: 0 }
    );

    // Into the header and entry table.
    let mut img = good();
    img[off_at..off_at + 8].copy_from_slice(&8u64.to_le_bytes());
    seal(&mut img);
    assert_eq!(
        Image::parse(&img).unwrap_err(),
        Error::EntryOutOfBounds { index: 0 }
    );
}

#[test]
fn rejects_bad_names() {
    let mut img = good();
    img[entry_field(1, 0)..entry_field(1, NAME_LEN)].fill(0);
    seal(&mut img);
    assert_eq!(Image::parse(&img).unwrap_err(), Error::BadName { index: 1 });

    let mut img = good();
    img[entry_field(1, 0)] = 0xff;
    seal(&mut img);
    assert_eq!(Image::parse(&img).unwrap_err(), Error::BadName { index: 1 });

    // Bytes after the NUL padding starts.
    let mut img = good();
    img[entry_field(1, 20)] = b'x';
    seal(&mut img);
    assert_eq!(Image::parse(&img).unwrap_err(), Error::BadName { index: 1 });
}

#[test]
fn rejects_duplicate_names() {
    let mut img = good();
    let name = b"manifest\0\0";
    img[entry_field(1, 0)..entry_field(1, name.len())].copy_from_slice(name);
    seal(&mut img);
    assert_eq!(
        Image::parse(&img).unwrap_err(),
        Error::DuplicateName { index: 1 }
    );
    // The writer refuses them in the first place.
    let mut f = files(MANIFEST);
    f[1].0 = "manifest".into();
    assert!(build_image(&f).is_err());
}

#[test]
fn rejects_a_missing_manifest() {
    let img = build_image(&[("supervisor".into(), vec![1])]).unwrap();
    assert_eq!(
        Image::parse(&img).unwrap().manifest(),
        Err(Error::NoManifest)
    );
}

#[test]
fn rejects_a_missing_supervisor() {
    let img = build_image(&files(r#"{"version":1,"service":[{"name":"jit"}]}"#)).unwrap();
    assert_eq!(
        Image::parse(&img).unwrap().manifest(),
        Err(Error::Manifest(ManifestError::NoSupervisor))
    );
}

#[test]
fn rejects_a_service_whose_file_is_absent() {
    let m = r#"{"version":1,"service":[{"name":"supervisor","file":"nope"}]}"#;
    let img = build_image(&files(m)).unwrap();
    assert!(matches!(
        Image::parse(&img).unwrap().manifest(),
        Err(Error::Manifest(ManifestError::MissingFile { .. }))
    ));
}

#[test]
fn rejects_a_manifest_that_does_not_parse() {
    let img = build_image(&files("{ not json")).unwrap();
    assert!(matches!(
        Image::parse(&img).unwrap().manifest(),
        Err(Error::Manifest(ManifestError::Syntax(_)))
    ));
}

#[test]
fn errors_read_clearly() {
    let mut img = good();
    img[40] ^= 1; // a reserved header byte: only the checksum notices
    let msg = Image::parse(&img).unwrap_err().to_string();
    assert!(msg.contains("checksum mismatch"), "{msg}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Random bytes never panic the reader.
    #[test]
    fn random_bytes_are_rejected_or_parsed_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(image) = Image::parse(&bytes) {
            for e in image.entries() { let _ = e.data.len(); }
            let _ = image.manifest();
        }
    }

    /// Random corruption of a good image, resealed so that the checksum no
    /// longer protects it, never panics the reader and never yields an entry
    /// outside the image.
    #[test]
    fn resealed_corruptions_never_escape_the_image(
        edits in proptest::collection::vec((0usize..400, any::<u8>()), 1..8)
    ) {
        let mut img = good();
        for (pos, val) in edits {
            let n = img.len();
            img[pos % n] = val;
        }
        seal(&mut img);
        if let Ok(image) = Image::parse(&img) {
            for e in image.entries() {
                prop_assert!(e.offset + e.data.len() <= img.len());
            }
            let _ = image.manifest();
        }
    }
}
