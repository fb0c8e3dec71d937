//! Tries the fs service with good and bad requests (`ipc_abi::proto::fs`):
//! malformed messages, bad paths, missing and wrong buffers, a full disk;
//! checks every answer, that files written earlier survive, and that the
//! service still answers afterwards. Logs `fsprobe.case name= ok=` per
//! case and `fsprobe.done cases= failed=`, then shuts the system down.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::cap::{Rights, Slot};
use ipc_abi::ipc::Message;
use ipc_abi::proto::fs::*;
use ipc_abi::proto::{self, ProtoError};
use rt::sys;

rt::entry!(main);

/// Where this probe maps its buffers.
const BUF_VA: u64 = 0x2000_0000_0000;
/// The filler files' size (the disk fills after a few of them).
const FILLER_PAGES: u64 = 1024;

struct Probe {
    fs: Slot,
    msg: Message,
    cases: u64,
    failed: u64,
}

impl Probe {
    fn case(&mut self, name: &str, ok: bool) {
        self.cases += 1;
        if !ok {
            self.failed += 1;
            rt::println!("fsprobe: case {name} FAILED");
        }
        testsvc::event!("fsprobe.case name={name} ok={}", u8::from(ok));
    }

    /// The answer, without its borrowed text.
    fn call(&mut self, req: &FsRequest<'_>, caps: &[Slot]) -> Option<FsReply<'static>> {
        let r = proto::call::<FsProtocol>(self.fs, &mut self.msg, req, caps).ok()?;
        Some(match r {
            FsReply::Failed { error, .. } => FsReply::Failed { error, message: "" },
            FsReply::Status {
                mounted,
                free_bytes,
                total_bytes,
            } => FsReply::Status {
                mounted,
                free_bytes,
                total_bytes,
            },
            FsReply::Opened { size } => FsReply::Opened { size },
            FsReply::Read { len } => FsReply::Read { len },
            FsReply::Written { len } => FsReply::Written { len },
            FsReply::Listed { len, count } => FsReply::Listed { len, count },
            FsReply::Done => FsReply::Done,
        })
    }

    /// The error a request fails with (`None`: it did not fail).
    fn error(&mut self, req: &FsRequest<'_>, caps: &[Slot]) -> Option<FsError> {
        match self.call(req, caps) {
            Some(FsReply::Failed { error, .. }) => Some(error),
            _ => None,
        }
    }

    fn up(&mut self) -> bool {
        matches!(
            self.call(&FsRequest::Status, &[]),
            Some(FsReply::Status { mounted: true, .. })
        )
    }
}

/// A fresh memory object of `pages` pages mapped at BUF_VA, filled with
/// `byte`; returns its slot (unmapped again: the fs service maps it).
fn buffer(pages: u64, byte: u8) -> Slot {
    let slot = sys::mem_create(pages).expect("memory");
    sys::mem_map(slot, BUF_VA, Rights::READ.union(Rights::WRITE)).expect("map");
    fill(pages, byte);
    sys::mem_unmap(BUF_VA).expect("unmap");
    slot
}

#[allow(unsafe_code)]
fn fill(pages: u64, byte: u8) {
    // SAFETY: `pages` pages are mapped read-write at BUF_VA (by `buffer`).
    unsafe { core::ptr::write_bytes(BUF_VA as *mut u8, byte, (pages * 4096) as usize) };
}

/// Whether the first `len` bytes of the object `slot` are all `byte`.
#[allow(unsafe_code)]
fn holds(slot: Slot, len: usize, byte: u8) -> bool {
    if sys::mem_map(slot, BUF_VA, Rights::READ).is_err() {
        return false;
    }
    // SAFETY: the object is mapped read-only at BUF_VA and holds at least
    // `len` bytes (the caller's buffer size).
    let ok = unsafe { core::slice::from_raw_parts(BUF_VA as *const u8, len) }
        .iter()
        .all(|&b| b == byte);
    let _ = sys::mem_unmap(BUF_VA);
    ok
}

fn main() -> u64 {
    let fs = match rt::names::connect_wait::<FsProtocol>(FS_SERVICE, 300) {
        Ok(ep) => ep,
        Err(e) => {
            rt::println!("fsprobe: no fs service: {e:?}");
            let _ = rt::names::shutdown(1);
            return 1;
        }
    };
    let mut p = Probe {
        fs,
        msg: Message::new(),
        cases: 0,
        failed: 0,
    };
    let up = p.up();
    p.case("mounted", up);

    // A message that is no request.
    let mut raw = Message::new();
    raw.len = 9;
    raw.data[..9].copy_from_slice(&[1, 0xff, 0xfe, 7, 7, 7, 7, 7, 7]);
    let malformed = sys::call_raw(fs, &mut raw).is_ok()
        && matches!(
            proto::decode_reply::<FsProtocol>(&raw),
            Err(proto::CallError::Proto(ProtoError::Malformed))
        );
    p.case("malformed", malformed);

    for (name, path) in [
        ("path-parent", "../escape"),
        ("path-absolute", "/abs"),
        ("path-empty-part", "a//b"),
        ("path-bad-char", "a b"),
        (
            "path-too-long",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
    ] {
        let e = p.error(&FsRequest::Open { path, create: true }, &[]);
        p.case(name, e == Some(FsError::BadPath));
    }

    let made = p
        .call(&FsRequest::MakeDir { path: "probe" }, &[])
        .is_some_and(|r| r == FsReply::Done);
    p.case("mkdir", made);
    let keep = buffer(2, 0x5a);
    let wrote = p.call(
        &FsRequest::Write {
            path: "probe/keep",
            offset: 0,
            len: 8000,
            truncate: true,
        },
        &[keep],
    );
    p.case("write", wrote == Some(FsReply::Written { len: 8000 }));
    let back = buffer(2, 0);
    let read = p.call(
        &FsRequest::Read {
            path: "probe/keep",
            offset: 0,
            len: 8192,
            at: 0,
        },
        &[back],
    );
    p.case(
        "read-back",
        read == Some(FsReply::Read { len: 8000 }) && holds(back, 8000, 0x5a),
    );

    let read_missing = FsRequest::Read {
        path: "probe/missing",
        offset: 0,
        len: 10,
        at: 0,
    };
    let e = p.error(&read_missing, &[back]);
    p.case("not-found", e == Some(FsError::NotFound));
    // Reads of probe/keep whose buffer is missing, read-only, not memory,
    // too small for `len`, or too small for `at + len` (or wraps).
    let ro = sys::cap_derive(back, Rights::READ.union(Rights::GRANT)).expect("derive");
    let ep = sys::endpoint_create().expect("endpoint");
    for (name, len, at, buf) in [
        ("no-buffer", 10, 0, None),
        ("read-only-buffer", 10, 0, Some(ro)),
        ("not-memory", 10, 0, Some(ep)),
        ("longer-than-buffer", 3 * 4096, 0, Some(back)),
        ("at-past-buffer", 10, 2 * 4096 - 5, Some(back)),
        ("at-wraps", 10, u64::MAX - 3, Some(back)),
    ] {
        let read = FsRequest::Read {
            path: "probe/keep",
            offset: 0,
            len,
            at,
        };
        let e = p.error(&read, buf.as_slice());
        p.case(name, e == Some(FsError::BadBuffer));
    }
    let inside = FsRequest::Read {
        path: "probe/keep",
        offset: 0,
        len: 100,
        at: 4096,
    };
    let got = p.call(&inside, &[back]);
    p.case("at-inside", got == Some(FsReply::Read { len: 100 }));
    let huge = FsRequest::Write {
        path: "probe/x",
        offset: 0,
        len: u64::MAX,
        truncate: true,
    };
    let e = p.error(&huge, &[keep]);
    p.case("over-transfer-max", e == Some(FsError::BadBuffer));
    let e = p.error(&FsRequest::Remove { path: "probe" }, &[]);
    p.case("remove-non-empty-dir", e.is_some());

    // Fill the disk.
    let filler = buffer(FILLER_PAGES, 0xa5);
    let len = FILLER_PAGES * 4096;
    let mut names = [[0u8; 12]; 64];
    let mut n = 0;
    let mut full = false;
    while n < names.len() {
        names[n] = *b"probe/fill00";
        names[n][10] = b'0' + (n / 10) as u8;
        names[n][11] = b'0' + (n % 10) as u8;
        let path = core::str::from_utf8(&names[n]).unwrap_or("probe/fill");
        n += 1;
        match p.call(
            &FsRequest::Write {
                path,
                offset: 0,
                len,
                truncate: true,
            },
            &[filler],
        ) {
            Some(FsReply::Written { .. }) => {}
            Some(FsReply::Failed {
                error: FsError::NoSpace,
                ..
            }) => {
                full = true;
                break;
            }
            other => {
                rt::println!("fsprobe: filling: {other:?}");
                break;
            }
        }
    }
    p.case("disk-full", full);
    let still = p.up();
    p.case("up-when-full", still);
    let back2 = buffer(2, 0);
    let read = p.call(
        &FsRequest::Read {
            path: "probe/keep",
            offset: 0,
            len: 8192,
            at: 0,
        },
        &[back2],
    );
    p.case(
        "kept-when-full",
        read == Some(FsReply::Read { len: 8000 }) && holds(back2, 8000, 0x5a),
    );
    for name in names.iter().take(n) {
        let path = core::str::from_utf8(name).unwrap_or("probe/fill");
        let _ = p.call(&FsRequest::Remove { path }, &[]);
    }
    let again = p.call(
        &FsRequest::Write {
            path: "probe/after",
            offset: 0,
            len: 4096,
            truncate: true,
        },
        &[keep],
    );
    p.case(
        "writes-after-full",
        again == Some(FsReply::Written { len: 4096 }),
    );

    let alive = p.up();
    p.case("up-at-end", alive);
    testsvc::event!("fsprobe.done cases={} failed={}", p.cases, p.failed);
    let code = u64::from(p.failed != 0);
    let _ = rt::names::shutdown(code);
    code
}
