//! The manifest schema: the one home of what a service entry may say.
//!
//! In the image the manifest is JSON; on the host it is written as TOML and
//! converted by the writer. The schema grows by adding optional keys with
//! defaults, so old manifests keep working; a key this build does not know is
//! an error rather than silently ignored (a typo in `restart` must not turn
//! into "never restart").

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// The schema version this build reads and writes.
pub const MANIFEST_VERSION: u32 = 1;

/// The service the kernel starts first.
pub const SUPERVISOR: &str = "supervisor";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    /// Services in start order; one must be named [`SUPERVISOR`].
    #[serde(default, rename = "service")]
    pub services: Vec<Service>,
    /// Extra files carried in the image (data for services).
    #[serde(default)]
    pub files: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    /// Image entry holding the service's ELF; defaults to the name.
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub restart: RestartPolicy,
    #[serde(default)]
    pub personality: Personality,
    /// Capabilities granted at spawn, in slots 1, 2, ... in this order (see
    /// [`Capability::parse`]). Every service also gets the name service in
    /// slot 0.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Scheduling priority, 0 (lowest) to 3; the supervisor runs at 2.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// Restarts allowed before the supervisor gives up on the service.
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// Delay before the first restart; doubled for each further one
    /// (at most 2 s).
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u32,
    /// Kill the service when it runs this long without blocking or
    /// yielding (a spinning task); none by default.
    #[serde(default)]
    pub watchdog_ms: Option<u32>,
    /// When the service ends for good (its policy does not restart it,
    /// or its budget is spent, or it cannot be started), the supervisor
    /// stops every service and exits with the service's status: its exit
    /// code, or 128 + the signal for a fault, as a shell reports it. How
    /// `cargo xtask run --app` ends when the program does.
    #[serde(default)]
    pub shutdown_on_exit: bool,
    /// `boot` (the default): started with the system; `on-demand`:
    /// started the first time someone looks its name up (the JIT: LLVM
    /// is loaded only once a program needs it).
    #[serde(default)]
    pub start: StartPolicy,
}

fn default_priority() -> u8 {
    1
}

fn default_max_restarts() -> u32 {
    3
}

fn default_backoff_ms() -> u32 {
    50
}

/// A capability a manifest can grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// `ioports`: every I/O port; `ioports:0x70-0x71`: that inclusive range.
    IoPorts { base: u16, len: u32 },
    /// `irq:8`: one interrupt line (0 to 23).
    Irq { line: u8 },
    /// `shutdown`: may ask the supervisor to stop the system (not a kernel
    /// capability: the supervisor checks it).
    Shutdown,
    /// `initrd`: the initrd, read-only (for the app host's programs).
    Initrd,
    /// `device-memory`: device registers (PCI BARs) anywhere outside RAM,
    /// and DMA memory (for a driver; with `ioports:0xcf8-0xcff` it can
    /// find and program PCI devices).
    DeviceMemory,
}

impl Capability {
    pub fn parse(s: &str) -> Option<Capability> {
        fn num(s: &str) -> Option<u64> {
            match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => s.parse().ok(),
            }
        }
        match s {
            "shutdown" => return Some(Capability::Shutdown),
            "initrd" => return Some(Capability::Initrd),
            "device-memory" => return Some(Capability::DeviceMemory),
            "ioports" => {
                return Some(Capability::IoPorts {
                    base: 0,
                    len: 0x1_0000,
                });
            }
            _ => {}
        }
        if let Some(range) = s.strip_prefix("ioports:") {
            let (a, b) = range.split_once('-')?;
            let (a, b) = (num(a)?, num(b)?);
            if a > b || b > 0xffff {
                return None;
            }
            return Some(Capability::IoPorts {
                base: a as u16,
                len: (b - a + 1) as u32,
            });
        }
        let line = num(s.strip_prefix("irq:")?)?;
        (line < 24).then_some(Capability::Irq { line: line as u8 })
    }
}

impl Service {
    /// The image entry that holds this service's ELF.
    pub fn file(&self) -> &str {
        self.file.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    Always,
    OnFailure,
    #[default]
    Never,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartPolicy {
    #[default]
    Boot,
    OnDemand,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Personality {
    #[default]
    Native,
    Linux,
}

/// A manifest that parses but does not describe a bootable system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// Not valid JSON for this schema; serde's message.
    Syntax(String),
    UnsupportedVersion(u32),
    NoSupervisor,
    DuplicateService(String),
    EmptyName,
    UnknownCapability {
        service: String,
        capability: String,
    },
    BadPriority {
        service: String,
        priority: u8,
    },
    /// A service or extra file names an entry the image does not have.
    MissingFile {
        what: String,
        file: String,
    },
}

impl core::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ManifestError::Syntax(m) => write!(f, "manifest does not parse: {m}"),
            ManifestError::UnsupportedVersion(v) => write!(
                f,
                "manifest version {v} is not supported (this build reads {MANIFEST_VERSION})"
            ),
            ManifestError::NoSupervisor => {
                write!(f, "manifest has no service named \"{SUPERVISOR}\"")
            }
            ManifestError::DuplicateService(n) => write!(f, "service \"{n}\" is listed twice"),
            ManifestError::EmptyName => write!(f, "a service has an empty name"),
            ManifestError::UnknownCapability {
                service,
                capability,
            } => write!(
                f,
                "service \"{service}\" asks for capability \"{capability}\"; known: shutdown, initrd, ioports, ioports:FIRST-LAST, irq:LINE"
            ),
            ManifestError::BadPriority { service, priority } => {
                write!(
                    f,
                    "service \"{service}\" has priority {priority}; allowed 0 to 3"
                )
            }
            ManifestError::MissingFile { what, file } => {
                write!(
                    f,
                    "{what} needs file \"{file}\", which the image does not hold"
                )
            }
        }
    }
}

impl Manifest {
    /// Parses the JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Syntax(e.to_string()))
    }

    pub fn to_json(&self) -> Vec<u8> {
        // A Manifest has only strings, numbers, sequences and enums: it
        // always serializes.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Checks what the schema alone cannot: version, names, the supervisor,
    /// and (through `has_file`) that every named file exists.
    pub fn validate(&self, has_file: impl Fn(&str) -> bool) -> Result<(), ManifestError> {
        if self.version != MANIFEST_VERSION {
            return Err(ManifestError::UnsupportedVersion(self.version));
        }
        for (i, s) in self.services.iter().enumerate() {
            if s.name.is_empty() {
                return Err(ManifestError::EmptyName);
            }
            if self.services[..i].iter().any(|o| o.name == s.name) {
                return Err(ManifestError::DuplicateService(s.name.clone()));
            }
            if let Some(c) = s
                .capabilities
                .iter()
                .find(|c| Capability::parse(c).is_none())
            {
                return Err(ManifestError::UnknownCapability {
                    service: s.name.clone(),
                    capability: c.clone(),
                });
            }
            if s.priority > 3 {
                return Err(ManifestError::BadPriority {
                    service: s.name.clone(),
                    priority: s.priority,
                });
            }
        }
        if self.supervisor().is_none() {
            return Err(ManifestError::NoSupervisor);
        }
        for s in &self.services {
            if !has_file(s.file()) {
                return Err(ManifestError::MissingFile {
                    what: alloc::format!("service \"{}\"", s.name),
                    file: s.file().into(),
                });
            }
        }
        for f in &self.files {
            if !has_file(f) {
                return Err(ManifestError::MissingFile {
                    what: "the manifest's file list".into(),
                    file: f.clone(),
                });
            }
        }
        Ok(())
    }

    pub fn supervisor(&self) -> Option<&Service> {
        self.services.iter().find(|s| s.name == SUPERVISOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest::from_json(
            br#"{"version":1,"service":[{"name":"supervisor"},
                {"name":"jit","file":"jit.elf","restart":"on-failure","personality":"linux",
                 "args":["-v"],"capabilities":["ioports"],"watchdog_ms":300}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn defaults_fill_in_missing_keys() {
        let m = sample();
        assert_eq!(m.services[0].file(), "supervisor");
        assert_eq!(m.services[0].restart, RestartPolicy::Never);
        assert_eq!(m.services[0].personality, Personality::Native);
        assert_eq!(m.services[1].file(), "jit.elf");
        assert_eq!(m.services[1].restart, RestartPolicy::OnFailure);
        assert_eq!(m.services[1].personality, Personality::Linux);
        assert_eq!(
            (
                m.services[0].priority,
                m.services[0].max_restarts,
                m.services[0].backoff_ms
            ),
            (1, 3, 50)
        );
        assert_eq!(m.services[0].watchdog_ms, None);
        assert_eq!(m.services[1].watchdog_ms, Some(300));
        assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn validation_rejects_each_problem() {
        let all = |_: &str| true;
        assert_eq!(sample().validate(all), Ok(()));

        let mut m = sample();
        m.version = 9;
        assert_eq!(m.validate(all), Err(ManifestError::UnsupportedVersion(9)));

        let mut m = sample();
        m.services.remove(0);
        assert_eq!(m.validate(all), Err(ManifestError::NoSupervisor));

        let mut m = sample();
        m.services[1].name = "supervisor".into();
        assert_eq!(
            m.validate(all),
            Err(ManifestError::DuplicateService("supervisor".into()))
        );

        let mut m = sample();
        m.services[1].capabilities.push("root".into());
        assert!(matches!(
            m.validate(all),
            Err(ManifestError::UnknownCapability { .. })
        ));

        let mut m = sample();
        m.services[1].priority = 4;
        assert!(matches!(
            m.validate(all),
            Err(ManifestError::BadPriority { .. })
        ));

        let mut m = sample();
        m.services[1].name.clear();
        assert_eq!(m.validate(all), Err(ManifestError::EmptyName));

        let m = sample();
        let err = m.validate(|f| f != "jit.elf").unwrap_err();
        assert!(matches!(err, ManifestError::MissingFile { ref file, .. } if file == "jit.elf"));

        let mut m = sample();
        m.files.push("data.bin".into());
        assert!(matches!(
            m.validate(|f| f != "data.bin"),
            Err(ManifestError::MissingFile { .. })
        ));
    }

    #[test]
    fn capabilities_parse() {
        assert_eq!(Capability::parse("shutdown"), Some(Capability::Shutdown));
        assert_eq!(
            Capability::parse("ioports"),
            Some(Capability::IoPorts {
                base: 0,
                len: 0x10000
            })
        );
        assert_eq!(
            Capability::parse("ioports:0x70-0x71"),
            Some(Capability::IoPorts { base: 0x70, len: 2 })
        );
        assert_eq!(
            Capability::parse("irq:8"),
            Some(Capability::Irq { line: 8 })
        );
        for bad in [
            "irq:24",
            "irq:",
            "ioports:0x71-0x70",
            "ioports:0-0x10000",
            "root",
            "ioports:1",
        ] {
            assert_eq!(Capability::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_enums_are_syntax_errors() {
        assert!(matches!(
            Manifest::from_json(br#"{"version":1,"service":[{"name":"a","restart":"sometimes"}]}"#),
            Err(ManifestError::Syntax(_))
        ));
        assert!(matches!(
            Manifest::from_json(b"{"),
            Err(ManifestError::Syntax(_))
        ));
        assert!(matches!(
            Manifest::from_json(br#"{"version":1,"service":[{"name":"a","restrat":"always"}]}"#),
            Err(ManifestError::Syntax(_))
        ));
    }
}
