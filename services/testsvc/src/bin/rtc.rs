//! A tiny driver, to test I/O-port and IRQ capabilities: with the CMOS
//! ports (slot 1, `ioports:0x70-0x71`) and IRQ 8 (slot 2, `irq:8`) it turns
//! on the RTC's periodic interrupt, takes five interrupts through a
//! notification, and checks that ports and lines outside its grant are
//! refused.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use ipc_abi::syscall::SysError;
use rt::sys::{self, err};
use testsvc::check;

rt::entry!(main);

const PORTS: u64 = 1;
const IRQ: u64 = 2;
const LINE: u64 = 8;
const NMI_OFF: u64 = 0x80;

fn cmos_read(reg: u64) -> u64 {
    let _ = sys::io_write(PORTS, 0x70, 1, NMI_OFF | reg);
    sys::io_read(PORTS, 0x71, 1).unwrap_or(0)
}

fn cmos_write(reg: u64, value: u64) {
    let _ = sys::io_write(PORTS, 0x70, 1, NMI_OFF | reg);
    let _ = sys::io_write(PORTS, 0x71, 1, value);
}

fn main() -> u64 {
    let mut all = true;
    all &= check(
        "io.port_outside_grant_refused",
        sys::io_read(PORTS, 0x60, 1) == Err(err(SysError::InvalidArgument)),
    );
    let note = sys::notification_create().expect("notification");
    all &= check(
        "irq.line_outside_grant_refused",
        sys::irq_bind(IRQ, 4, note, 1) == Err(err(SysError::InvalidArgument)),
    );
    all &= check("irq.bind", sys::irq_bind(IRQ, LINE, note, 1 << 8).is_ok());

    cmos_write(0x0b, cmos_read(0x0b) | 0x40); // periodic interrupt on
    let _ = cmos_read(0x0c); // clear anything pending
    let mut got = 0;
    for _ in 0..5 {
        if sys::wait(note, 100) == Ok(1 << 8) {
            got += 1;
        }
        let _ = cmos_read(0x0c); // acknowledge the RTC
        let _ = sys::irq_ack(IRQ, LINE);
    }
    cmos_write(0x0b, cmos_read(0x0b) & !0x40);
    all &= check("irq.rtc_five_interrupts", got == 5);
    testsvc::event!("test.done name=irq ok={}", if all { "yes" } else { "no" });
    u64::from(!all)
}
