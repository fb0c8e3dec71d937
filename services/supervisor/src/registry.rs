//! The name registry: name -> (owner, endpoint slot in the supervisor).
//! A name belongs to the live service that registered it; when the owner
//! dies its names go, so lookups wait for the restarted instance.

use alloc::string::String;
use alloc::vec::Vec;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// Badge of the registering service.
    pub owner: u64,
    /// The endpoint, as a slot of the supervisor.
    pub slot: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// Another live service holds the name.
    Taken,
    BadName,
}

#[derive(Debug, Default)]
pub struct Registry {
    entries: Vec<Entry>,
    /// Names that only one owner may ever register (a manifest service's
    /// own name belongs to it, also while it is dead and restarting).
    reserved: Vec<(String, u64)>,
}

impl Registry {
    /// Keeps `name` for `owner`: nobody else can register it, even while
    /// `owner` is not running.
    pub fn reserve(&mut self, name: &str, owner: u64) {
        self.reserved.push((name.into(), owner));
    }

    /// Registers `name`; a re-registration by the same owner replaces its
    /// old endpoint, whose slot is returned for dropping.
    pub fn register(
        &mut self,
        name: &str,
        owner: u64,
        slot: u64,
    ) -> Result<Option<u64>, RegisterError> {
        if name.is_empty() || name.len() > ipc_abi::proto::names::NAME_MAX {
            return Err(RegisterError::BadName);
        }
        if self.reserved.iter().any(|(n, o)| n == name && *o != owner) {
            return Err(RegisterError::Taken);
        }
        match self.entries.iter_mut().find(|e| e.name == name) {
            Some(e) if e.owner != owner => Err(RegisterError::Taken),
            Some(e) => Ok(Some(core::mem::replace(&mut e.slot, slot))),
            None => {
                self.entries.push(Entry {
                    name: name.into(),
                    owner,
                    slot,
                });
                Ok(None)
            }
        }
    }

    pub fn lookup(&self, name: &str) -> Option<u64> {
        self.entries.iter().find(|e| e.name == name).map(|e| e.slot)
    }

    /// Forgets every name `owner` held; returns their slots for dropping.
    pub fn remove_owner(&mut self, owner: u64) -> Vec<Entry> {
        let (gone, kept) = core::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| e.owner == owner);
        self.entries = kept;
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_belong_to_their_owner_until_it_dies() {
        let mut r = Registry::default();
        assert_eq!(r.register("pong", 1, 10), Ok(None));
        assert_eq!(r.register("pong", 2, 11), Err(RegisterError::Taken));
        assert_eq!(r.lookup("pong"), Some(10));
        assert_eq!(r.register("pong", 1, 12), Ok(Some(10)));
        assert_eq!(r.register("", 1, 13), Err(RegisterError::BadName));
        let gone = r.remove_owner(1);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].slot, 12);
        assert_eq!(r.lookup("pong"), None);
        assert_eq!(r.register("pong", 2, 14), Ok(None));
    }

    #[test]
    fn a_reserved_name_belongs_to_its_service_even_while_it_restarts() {
        let mut r = Registry::default();
        r.reserve("jit", 3);
        assert_eq!(r.register("jit", 5, 10), Err(RegisterError::Taken));
        assert_eq!(r.register("jit", 3, 11), Ok(None));
        r.remove_owner(3);
        assert_eq!(r.lookup("jit"), None);
        assert_eq!(
            r.register("jit", 5, 12),
            Err(RegisterError::Taken),
            "no squatting during the restart backoff"
        );
        assert_eq!(r.register("jit", 3, 13), Ok(None));
    }
}
