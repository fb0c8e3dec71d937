//! Device interrupts as notifications: a driver holding an IRQ capability
//! binds a line to a notification; when the line fires the kernel masks it
//! and signals the notification, and the driver unmasks it with `IrqAck`
//! once it has handled the device.

use crate::arch::ioapic;
use crate::object::{Object, cap};
use crate::state::Kernel;
use ipc_abi::syscall::{IRQ_LINES, SysError};
use kerncore::cap::Rights;
use kerncore::slab::Id;

#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub owner: Id,
    pub notification: Id,
    pub bits: u64,
}

impl Kernel {
    fn irq_line(&self, slot: u64, line: u8) -> Result<u8, SysError> {
        let Object::Irq { base, len } = self.lookup(slot, Rights::CONTROL)?.object else {
            return Err(SysError::WrongKind);
        };
        let line = u64::from(line);
        if line < base as u64 || line >= base as u64 + len as u64 || line >= IRQ_LINES {
            return Err(SysError::InvalidArgument);
        }
        Ok(line as u8)
    }

    pub fn irq_bind(
        &mut self,
        slot: u64,
        line: u8,
        notification: u64,
        bits: u64,
    ) -> Result<(), SysError> {
        let line = self.irq_line(slot, line)?;
        let n = match self.lookup(notification, Rights::SIGNAL)?.object {
            Object::Notification(n) => n,
            _ => return Err(SysError::WrongKind),
        };
        self.irq_unbind(line);
        self.add_ref(cap(Object::Notification(n), Rights::NONE));
        self.irqs[line as usize] = Some(Binding {
            owner: self.current(),
            notification: n,
            bits,
        });
        ioapic::set(line, false);
        Ok(())
    }

    pub fn irq_ack(&mut self, slot: u64, line: u8) -> Result<(), SysError> {
        let line = self.irq_line(slot, line)?;
        if self.irqs[line as usize].is_none() {
            return Err(SysError::InvalidArgument);
        }
        ioapic::set(line, false);
        Ok(())
    }

    fn irq_unbind(&mut self, line: u8) {
        if let Some(b) = self.irqs[line as usize].take() {
            ioapic::set(line, true);
            self.drop_ref(cap(Object::Notification(b.notification), Rights::NONE));
        }
    }

    /// Releases the lines a dying task had bound.
    pub fn irq_release(&mut self, owner: Id) {
        for line in 0..IRQ_LINES as u8 {
            if self.irqs[line as usize].is_some_and(|b| b.owner == owner) {
                self.irq_unbind(line);
            }
        }
    }

    /// A line fired: mask it and tell its driver.
    pub fn on_irq(&mut self, line: u8) {
        ioapic::set(line, true);
        if let Some(b) = self.irqs.get(line as usize).copied().flatten() {
            self.signal(b.notification, b.bits);
        }
    }
}
