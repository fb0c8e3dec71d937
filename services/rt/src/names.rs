//! The name service (see `ipc_abi::proto::names`), from a client's side.

use crate::sys;
use ipc_abi::cap::{Rights, Slot};
use ipc_abi::ipc::Message;
use ipc_abi::proto::names::{NAME_SERVICE_SLOT, NamesProtocol, NamesReply, NamesRequest};
use ipc_abi::proto::{self, CallError, Protocol};

/// Registers `endpoint` under `name`. Clients get a copy that can call
/// (and pass capabilities) but never receive.
pub fn register(name: &str, endpoint: Slot) -> Result<NamesReply, CallError> {
    let client =
        sys::cap_derive(endpoint, Rights::SEND.union(Rights::GRANT)).map_err(CallError::Sys)?;
    let mut msg = Message::new();
    let r = proto::call::<NamesProtocol>(
        NAME_SERVICE_SLOT,
        &mut msg,
        &NamesRequest::Register { name },
        &[client],
    );
    let _ = sys::cap_drop(client);
    r
}

/// The endpoint registered under `name`, as a new slot.
pub fn lookup(name: &str) -> Result<Option<Slot>, CallError> {
    let mut msg = Message::new();
    match proto::call::<NamesProtocol>(
        NAME_SERVICE_SLOT,
        &mut msg,
        &NamesRequest::Lookup { name },
        &[],
    )? {
        NamesReply::Found => Ok(msg.received_caps().first().map(|&s| s as Slot)),
        _ => Ok(None),
    }
}

/// Looks `name` up and says hello in protocol `P`, retrying every tick
/// while the name is missing or its server has died (a restart in
/// progress), for at most `timeout_ticks`.
pub fn connect_wait<P: Protocol>(name: &str, timeout_ticks: u64) -> Result<Slot, CallError> {
    let mut msg = Message::new();
    let mut waited = 0;
    loop {
        let last = match lookup(name)? {
            Some(ep) => match proto::connect::<P>(ep, &mut msg) {
                Ok(()) => return Ok(ep),
                Err(e) => {
                    let _ = sys::cap_drop(ep);
                    if !e.is_peer_died() {
                        return Err(e);
                    }
                    e
                }
            },
            None => CallError::Sys(sys::err(ipc_abi::syscall::SysError::TimedOut)),
        };
        if waited >= timeout_ticks {
            return Err(last);
        }
        sys::sleep(1);
        waited += 1;
    }
}

/// Asks the supervisor to stop the system (needs the `shutdown`
/// capability in the manifest).
pub fn shutdown(code: u64) -> Result<NamesReply, CallError> {
    let mut msg = Message::new();
    proto::call::<NamesProtocol>(
        NAME_SERVICE_SLOT,
        &mut msg,
        &NamesRequest::Shutdown { code },
        &[],
    )
}
