//! Parses the structured serial log (format: `ipc_abi::log`,
//! `docs/log-format.md`).

use ipc_abi::log::EVENT_PREFIX;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub fields: BTreeMap<String, String>,
}

impl Event {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// A numeric field (decimal or `0x` hex).
    pub fn num(&self, key: &str) -> Option<u64> {
        let v = self.get(key)?;
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => v.parse().ok(),
        }
    }
}

/// Parses one line; `None` if it holds no event. Only lines that start
/// with the prefix count: task output is printed as `[name] ...`, so no task
/// can forge a kernel event.
pub fn parse_line(line: &str) -> Option<Event> {
    let mut rest = line
        .strip_prefix(EVENT_PREFIX)?
        .trim_end_matches(['\r', '\n']);
    let name_end = rest.find(' ').unwrap_or(rest.len());
    let name = rest[..name_end].to_string();
    if name.is_empty() {
        return None;
    }
    rest = &rest[name_end..];
    let mut fields = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].to_string();
        rest = &rest[eq + 1..];
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => out.push('\n'),
                        Some((_, c)) => out.push(c),
                        None => return None,
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end = end?;
            value = out;
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            value = rest[..end].to_string();
            rest = &rest[end..];
        }
        fields.insert(key, value);
    }
    Some(Event { name, fields })
}

/// Everything a boot printed.
#[derive(Clone, Debug, Default)]
pub struct BootLog {
    pub text: String,
    pub events: Vec<Event>,
}

impl BootLog {
    pub fn from_text(text: String) -> BootLog {
        let events = text.lines().filter_map(parse_line).collect();
        BootLog { text, events }
    }

    pub fn events<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.events.iter().filter(move |e| e.name == name)
    }

    /// Events named `name` whose field `key` equals `value`.
    pub fn events_with<'a>(
        &'a self,
        name: &'a str,
        key: &'a str,
        value: &'a str,
    ) -> impl Iterator<Item = &'a Event> + 'a {
        self.events(name).filter(move |e| e.get(key) == Some(value))
    }

    pub fn first(&self, name: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.name == name)
    }

    /// Guest TSC ticks per second, as the kernel's `timer` event reports it.
    pub fn tsc_hz(&self) -> Option<u64> {
        self.first("timer")?.num("tsc_hz")
    }

    /// The TSC of a `boot.phase` event.
    pub fn phase_tsc(&self, phase: &str) -> Option<u64> {
        self.events_with("boot.phase", "phase", phase)
            .next()?
            .num("tsc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_kernel_writes() {
        let mut line = String::new();
        ipc_abi::event!(
            &mut line,
            "task.exit",
            id = 3u64,
            name = "sup ervisor",
            rip = ipc_abi::log::Hex(0x1234),
            msg = "a \"b\" \\ c\nd"
        )
        .unwrap();
        assert_eq!(
            parse_line(&format!("[task] {line}")),
            None,
            "events only at line start"
        );
        let e = parse_line(&line).unwrap();
        assert_eq!(e.name, "task.exit");
        assert_eq!(e.num("id"), Some(3));
        assert_eq!(e.get("name"), Some("sup ervisor"));
        assert_eq!(e.num("rip"), Some(0x1234));
        assert_eq!(e.get("msg"), Some("a \"b\" \\ c\nd"));
    }

    #[test]
    fn ignores_plain_text_and_rejects_broken_lines() {
        assert_eq!(parse_line("kernel: started"), None);
        assert_eq!(parse_line("@@ x key"), None);
        assert_eq!(parse_line("@@ x key=\"open"), None);
        assert_eq!(parse_line("@@ "), None);
        let e = parse_line("@@ shutdown").unwrap();
        assert!(e.fields.is_empty());
    }

    #[test]
    fn boot_log_finds_phases() {
        let log = BootLog::from_text(
            "noise\n@@ boot.phase phase=kernel.entry tsc=10\n@@ boot.phase phase=user.enter tsc=0x20\n".into(),
        );
        assert_eq!(log.phase_tsc("kernel.entry"), Some(10));
        assert_eq!(log.phase_tsc("user.enter"), Some(32));
        assert_eq!(log.phase_tsc("loader.entry"), None);
    }
}
