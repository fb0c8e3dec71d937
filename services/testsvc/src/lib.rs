//! Shared pieces of the test services (one binary per service in
//! `src/bin`): reporting checks in a form the QEMU tests read, and the
//! ping/pong server used by several of them.
#![no_std]
#![deny(unsafe_code)]

pub mod faults;

use ipc_abi::proto::test::{TestProtocol, TestReply, TestRequest};
use rt::server::{Answer, serve};
use rt::sys;

/// Logs `test.check name=<name> ok=yes|no` and returns `ok`.
pub fn check(name: &str, ok: bool) -> bool {
    let mut line = Line::default();
    let _ = core::fmt::write(
        &mut line,
        format_args!(
            "test.check name={name} ok={}",
            if ok { "yes" } else { "no" }
        ),
    );
    let _ = sys::log_event(line.as_str());
    if !ok {
        rt::println!("CHECK FAILED: {name}");
    }
    ok
}

/// A fixed line buffer for composing events without an allocator.
pub struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Default for Line {
    fn default() -> Line {
        Line {
            buf: [0; 256],
            len: 0,
        }
    }
}

impl Line {
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let b = s.as_bytes();
        if self.len + b.len() > self.buf.len() {
            return Err(core::fmt::Error);
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
        Ok(())
    }
}

/// Logs a formatted event.
#[macro_export]
macro_rules! event {
    ($($arg:tt)*) => {{
        let mut line = $crate::Line::default();
        let _ = core::fmt::write(&mut line, format_args!($($arg)*));
        let _ = rt::sys::log_event(line.as_str());
    }};
}

/// Registers `name` and serves the test protocol; `on_crash` runs for
/// `Crash` requests (and should not return).
pub fn serve_test(name: &str, on_crash: fn()) -> ! {
    let ep = sys::endpoint_create().expect("endpoint");
    let reg = rt::names::register(name, ep);
    if !matches!(reg, Ok(ipc_abi::proto::names::NamesReply::Registered)) {
        rt::println!("cannot register {name}: {reg:?}");
        sys::exit(2);
    }
    serve::<TestProtocol>(
        ep,
        |_badge, req, caps, scratch| -> Answer<'_, TestProtocol> {
            match req {
                TestRequest::Ping { n } => Ok((TestReply::Pong { n: n + 1 }, None)),
                TestRequest::Echo { data } => {
                    let n = data.len().min(scratch.len());
                    scratch[..n].copy_from_slice(&data[..n]);
                    Ok((
                        TestReply::Echoed {
                            data: &scratch[..n],
                        },
                        None,
                    ))
                }
                TestRequest::Fill { byte, len } => {
                    let n = (len as usize).min(scratch.len());
                    scratch[..n].fill(byte);
                    Ok((
                        TestReply::Echoed {
                            data: &scratch[..n],
                        },
                        None,
                    ))
                }
                TestRequest::SignalMe { bits } => match caps.first() {
                    Some(&n) => {
                        let r = sys::signal(n as u64, bits);
                        let _ = sys::cap_drop(n as u64);
                        r.map_err(|_| ipc_abi::proto::ProtoError::MissingCapability)?;
                        Ok((TestReply::Signalled, None))
                    }
                    None => Err(ipc_abi::proto::ProtoError::MissingCapability),
                },
                TestRequest::Crash => {
                    on_crash();
                    Err(ipc_abi::proto::ProtoError::Denied)
                }
            }
        },
    )
}

/// Spawn arguments for the initrd's `victim` (at `image`, from
/// [`initrd_file`], in the initrd capability `initrd`), told `kind`: no
/// death notification, priority 1, the default stack. Callers change what
/// they test with struct update syntax; `kind` must outlive the spawn.
pub fn victim_spawn_args(
    initrd: u64,
    image: (u64, u64),
    kind: &str,
) -> ipc_abi::syscall::SpawnArgs {
    let name = "victim";
    ipc_abi::syscall::SpawnArgs {
        image_slot: initrd,
        image_offset: image.0,
        image_len: image.1,
        name_ptr: name.as_ptr() as u64,
        name_len: name.len() as u64,
        args_ptr: kind.as_ptr() as u64,
        args_len: kind.len() as u64,
        death_slot: ipc_abi::syscall::NO_SLOT,
        death_bits: 0,
        priority: 1,
        flags: 0,
        stack_pages: 0,
    }
}

/// Where the initrd's file `name` lies in it: (offset, length), for
/// `SpawnArgs`. Maps the initrd (capability `slot`) read-only at `vaddr`.
pub fn initrd_file(slot: u64, vaddr: u64, name: &str) -> Option<(u64, u64)> {
    let mapped = rt::mem::map_read_only(slot, vaddr).ok()?;
    let total = mapped
        .get(initrd::format::OFF_TOTAL_LEN..initrd::format::OFF_TOTAL_LEN + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
    let bytes = mapped.get(..total as usize).unwrap_or(mapped);
    let f = initrd::Image::parse(bytes).ok()?.find(name)?;
    Some((f.offset as u64, f.data.len() as u64))
}
