//! The IPC side: one request at a time, stateless (`ipc_abi::proto::fs`).

use crate::Device;
use crate::buffer::Buffer;
use fs::disk::Sectors;
use fs::volume::{Failure, Volume};
use ipc_abi::proto::fs::{FS_SERVICE, FsError, FsProtocol, FsReply, FsRequest, TRANSFER_MAX};
use rt::sys;

/// Longest error text in a reply.
const MESSAGE_MAX: usize = 400;

pub fn run(volume: Option<(Volume<Device>, Device)>) -> ! {
    let ep = match sys::endpoint_create() {
        Ok(ep) => ep,
        Err(e) => {
            eprintln!("fs: no endpoint: {e:?}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt::names::register(FS_SERVICE, ep) {
        eprintln!("fs: cannot register {FS_SERVICE:?}: {e:?}");
        std::process::exit(1);
    }
    let mut volume = volume;
    rt::server::serve::<FsProtocol>(ep, |_badge, request, caps, scratch| {
        let outcome = handle(&mut volume, request, caps.first().map(|&s| s as u64));
        for &c in caps {
            let _ = sys::cap_drop(c as u64);
        }
        Ok((
            match outcome {
                Ok(reply) => reply,
                Err((error, message)) => failed(scratch, error, &message),
            },
            None,
        ))
    })
}

fn failed<'r>(scratch: &'r mut [u8], error: FsError, message: &str) -> FsReply<'r> {
    let mut n = message.len().min(MESSAGE_MAX).min(scratch.len());
    while !message.is_char_boundary(n) {
        n -= 1;
    }
    scratch[..n].copy_from_slice(&message.as_bytes()[..n]);
    FsReply::Failed {
        error,
        message: std::str::from_utf8(&scratch[..n]).unwrap_or(""),
    }
}

/// Maps the request's buffer and checks it holds `len` bytes.
fn buffer(slot: Option<u64>, len: u64, write: bool) -> Result<Buffer, Failure> {
    let slot = slot.ok_or((
        FsError::BadBuffer,
        "the request carries no buffer".to_string(),
    ))?;
    let b = Buffer::map(slot, write).map_err(|m| (FsError::BadBuffer, m))?;
    if len > TRANSFER_MAX || len > b.len() as u64 {
        return Err((
            FsError::BadBuffer,
            format!(
                "{len} bytes: the buffer holds {}, a request moves at most {TRANSFER_MAX}",
                b.len()
            ),
        ));
    }
    Ok(b)
}

fn handle<'r>(
    volume: &mut Option<(Volume<Device>, Device)>,
    request: FsRequest<'_>,
    buf: Option<u64>,
) -> Result<FsReply<'r>, Failure> {
    let Some((v, dev)) = volume.as_mut() else {
        return match request {
            FsRequest::Status => Ok(FsReply::Status {
                mounted: false,
                free_bytes: 0,
                total_bytes: 0,
            }),
            _ => Err((
                FsError::NoVolume,
                "no snapshot volume (see fs.unavailable)".into(),
            )),
        };
    };
    let flushed = |dev: &mut Device| {
        dev.flush_device()
            .map_err(|e| (FsError::Io, format!("flush: {e}")))
    };
    Ok(match request {
        FsRequest::Status => {
            let (free_bytes, total_bytes) = v.space()?;
            FsReply::Status {
                mounted: true,
                free_bytes,
                total_bytes,
            }
        }
        FsRequest::Open { path, create } => FsReply::Opened {
            size: v.open(path, create)?,
        },
        FsRequest::Read {
            path,
            offset,
            len,
            at,
        } => {
            let end = at
                .checked_add(len)
                .ok_or((FsError::BadBuffer, "at + len overflows".to_string()))?;
            let mut b = buffer(buf, end, true)?;
            let len = v.read(path, offset, &mut b.bytes_mut()[at as usize..end as usize])?;
            FsReply::Read { len }
        }
        FsRequest::Write {
            path,
            offset,
            len,
            truncate,
        } => {
            let b = buffer(buf, len, false)?;
            let len = v.write(path, offset, &b.bytes()[..len as usize], truncate)?;
            FsReply::Written { len }
        }
        FsRequest::List { path } => {
            let mut b = buffer(buf, 0, true)?;
            let (len, count) = v.list(path, b.bytes_mut())?;
            FsReply::Listed { len, count }
        }
        FsRequest::Remove { path } => {
            v.remove(path)?;
            flushed(dev)?;
            FsReply::Done
        }
        FsRequest::MakeDir { path } => {
            v.make_dir(path)?;
            flushed(dev)?;
            FsReply::Done
        }
    })
}
