use crate::disk::{MemSectors, Stream};
use crate::volume::Volume;
use fatfs::{FatType, FormatVolumeOptions};
use ipc_abi::proto::fs::FsError;

const MIB: usize = 1 << 20;

fn formatted(bytes: usize) -> MemSectors {
    let dev = MemSectors::zeroed(bytes);
    let mut s = Stream::new(dev.clone(), None);
    fatfs::format_volume(&mut s, FormatVolumeOptions::new().fat_type(FatType::Fat16)).unwrap();
    dev
}

fn mount(dev: MemSectors) -> Volume<MemSectors> {
    Volume::mount(Stream::new(dev, None)).unwrap()
}

#[test]
fn files_round_trip_and_list() {
    let v = mount(formatted(8 * MIB));
    v.make_dir("SNAPSHOT").unwrap();
    v.make_dir("SNAPSHOT").unwrap(); // it exists: no error
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(v.write("SNAPSHOT/fib.0", 0, &data, true), Ok(70_000));
    assert_eq!(v.open("SNAPSHOT/fib.0", false), Ok(70_000));
    let mut back = vec![0; 80_000];
    assert_eq!(v.read("SNAPSHOT/fib.0", 0, &mut back), Ok(70_000));
    assert_eq!(&back[..70_000], &data[..]);
    let mut part = [0; 10];
    assert_eq!(v.read("SNAPSHOT/fib.0", 513, &mut part), Ok(10));
    assert_eq!(&part, &data[513..523]);
    assert_eq!(v.read("SNAPSHOT/fib.0", 70_000, &mut part), Ok(0));
    // A shorter rewrite with truncate leaves only the new bytes.
    assert_eq!(v.write("SNAPSHOT/fib.0", 0, b"short", true), Ok(5));
    assert_eq!(v.open("SNAPSHOT/fib.0", false), Ok(5));
    assert_eq!(v.open("SNAPSHOT/new", true), Ok(0));
    let mut names = [0u8; 256];
    let (len, count) = v.list("SNAPSHOT", &mut names).unwrap();
    assert_eq!(count, 2);
    assert_eq!(
        std::str::from_utf8(&names[..len as usize]).unwrap(),
        "fib.0\nnew\n"
    );
    let (len, _) = v.list("", &mut names).unwrap();
    assert_eq!(
        std::str::from_utf8(&names[..len as usize]).unwrap(),
        "SNAPSHOT/\n"
    );
    v.remove("SNAPSHOT/new").unwrap();
    assert_eq!(
        v.open("SNAPSHOT/new", false).unwrap_err().0,
        FsError::NotFound
    );
    assert_eq!(v.remove("SNAPSHOT").unwrap_err().0, FsError::Io); // not empty
}

#[test]
fn bad_paths_and_wrong_types_are_refused() {
    let v = mount(formatted(8 * MIB));
    v.make_dir("d").unwrap();
    for bad in ["", "/x", "../x", "a//b", "x y", "d/../../e"] {
        assert_eq!(v.open(bad, true).unwrap_err().0, FsError::BadPath, "{bad}");
        assert_eq!(v.write(bad, 0, b"x", true).unwrap_err().0, FsError::BadPath);
    }
    assert_eq!(
        v.read("d", 0, &mut [0; 4]).unwrap_err().0,
        FsError::WrongType
    );
    assert_eq!(
        v.read("missing", 0, &mut [0; 4]).unwrap_err().0,
        FsError::NotFound
    );
    assert_eq!(v.write("x", 5, b"x", false).unwrap_err().0, FsError::Io); // past the end
    let mut small = [0u8; 2];
    assert_eq!(v.list("", &mut small).unwrap_err().0, FsError::BadBuffer);
}

#[test]
fn a_full_disk_fails_the_write_and_keeps_everything_else() {
    let v = mount(formatted(4 * MIB));
    v.write("keep", 0, b"precious", true).unwrap();
    let (free, _) = v.space().unwrap();
    let huge = vec![1u8; free as usize + 4096];
    assert_eq!(
        v.write("big", 0, &huge, true).unwrap_err().0,
        FsError::NoSpace
    );
    // The failed file gave its clusters back.
    assert_eq!(v.space().unwrap().0, free);
    let mut back = [0u8; 8];
    assert_eq!(v.read("keep", 0, &mut back), Ok(8));
    assert_eq!(&back, b"precious");
    v.write("small", 0, b"fits", true).unwrap();
}

#[test]
fn what_is_not_fat16_is_refused_with_the_reason() {
    let err = Volume::mount(Stream::new(MemSectors::zeroed(4 * MIB), None))
        .err()
        .unwrap();
    assert!(err.contains("not a FAT volume"), "{err}");
}

#[test]
fn a_power_cut_mid_write_leaves_earlier_files_readable() {
    for cut_after in [0, 1, 3, 10, 40] {
        let dev = formatted(8 * MIB);
        let v = mount(dev.clone());
        v.write("old", 0, &[5u8; 9000], true).unwrap();
        drop(v);
        let v = Volume::mount(Stream::new(dev.clone(), Some(cut_after))).unwrap();
        assert!(v.write("new", 0, &[6u8; 30_000], true).is_err());
        drop(v);
        let v = mount(dev);
        let mut back = vec![0u8; 9000];
        assert_eq!(
            v.read("old", 0, &mut back),
            Ok(9000),
            "cut after {cut_after}"
        );
        assert!(back.iter().all(|&b| b == 5));
    }
}
