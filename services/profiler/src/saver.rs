//! Snapshots while the program runs (`docs/snapshots.md`): every
//! `snapshot-every-ms`, the profiler reads the app's code and data
//! regions (mapped read-only) and its counters, fills the app host's
//! snapshot template in (`snapshot::Template::capture`) and writes the
//! file through the fs service. Everything read from the app is bounded
//! before use; what is saved is checked again by the boot that restores
//! it.

use crate::mapping::Mapped;
use alloc::format;
use alloc::vec::Vec;
use ipc_abi::cap::Slot;
use ipc_abi::counters::{BACKEDGES, CALLS, Counters};
use ipc_abi::proto::profiler::{
    PROFILER_CODE_BASE, PROFILER_DATA_BASE, PROFILER_FS_BUFFER_BASE, PROFILER_TEMPLATE_BASE,
};
use rt::files::Files;
use rt::sys;
use snapshot::Template;

pub struct Saver {
    template: Template,
    code: Mapped,
    data: Mapped,
    files: Files,
    every_tsc: u64,
    last_tsc: u64,
    /// The slot and generation of the last snapshot saved.
    pub saved: Option<(u8, u64)>,
}

impl Saver {
    /// From the capabilities the app host passed (template, code region,
    /// data region), saving every `every_tsc` cycles.
    pub fn new(caps: &[Slot], every_tsc: u64) -> Result<Saver, &'static str> {
        let &[template, code, data] = caps else {
            return Err("the snapshot template and regions are missing");
        };
        let template = {
            let m = Mapped::new(template, PROFILER_TEMPLATE_BASE)?;
            let (bytes, words) = m.view();
            let len = words.first().copied().unwrap_or(0) as usize;
            let body = bytes
                .get(8..8usize.saturating_add(len))
                .ok_or("bad template")?;
            Template::from_bytes(body).ok_or("the template does not decode")?
        };
        let code = Mapped::new(code, PROFILER_CODE_BASE)?;
        let data = Mapped::new(data, PROFILER_DATA_BASE)?;
        let files = Files::connect(PROFILER_FS_BUFFER_BASE).map_err(|_| "no fs service")?;
        Ok(Saver {
            template,
            code,
            data,
            files,
            every_tsc,
            last_tsc: sys::rdtsc(),
            saved: None,
        })
    }

    /// Saves a snapshot when one is due; `at_ms` for the log.
    pub fn tick(&mut self, counters: &Counters<'_>, at_ms: u64) {
        let now = sys::rdtsc();
        if now.saturating_sub(self.last_tsc) < self.every_tsc {
            return;
        }
        self.last_tsc = now;
        match self.save(counters) {
            Ok((file, generation, bytes, compiled)) => {
                let _ = sys::log_event(&format!(
                    "snapshot.saved file={file} generation={generation} bytes={bytes} compiled={compiled} by=profiler at_ms={at_ms}"
                ));
            }
            Err(why) => {
                let _ = sys::log_event(&format!(
                    "snapshot.not_saved why=\"{}\" by=profiler",
                    why.replace('"', "'")
                ));
            }
        }
    }

    fn save(
        &mut self,
        counters: &Counters<'_>,
    ) -> Result<(alloc::string::String, u64, usize, usize), alloc::string::String> {
        let counts: Vec<(u64, u64)> = (0..counters.functions())
            .map(|i| (counters.get(i, CALLS), counters.get(i, BACKEDGES)))
            .collect();
        let (code, _) = self.code.view();
        let (data, _) = self.data.view();
        let snap = self.template.capture_regions(code, data, &counts)?;
        let file = snapshot::encode(&snap);
        let path = self.template.file(self.template.next.0);
        self.files.write(&path, &file)?;
        self.saved = Some(self.template.next);
        self.template.advance();
        let compiled = snap.functions.iter().filter(|f| f.level.is_some()).count();
        Ok((path, snap.generation, file.len(), compiled))
    }
}
