//! The structured serial log: one event per line, next to the human text.
//!
//! ```text
//! @@ <event> <key>=<value> <key>=<value> ...
//! ```
//!
//! An event line starts with [`EVENT_PREFIX`]; the event name and keys are
//! `[a-z0-9_.]` words; a value is either a bare word (decimal or `0x` hex
//! numbers, identifiers) or a double-quoted string in which `\"`, `\\` and
//! `\n` are escaped. `docs/log-format.md` lists the events; the host-side
//! parser lives in `test-harness`.

use core::fmt::{self, Write};

/// Marks an event line.
pub const EVENT_PREFIX: &str = "@@ ";

/// A field value.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    Dec(u64),
    Int(i64),
    Hex(u64),
    /// A bare word; must not contain spaces, `=` or quotes.
    Word(&'a str),
    /// Any text; written quoted.
    Str(&'a str),
}

/// Wraps a number that is clearer in hex (addresses, error codes).
#[derive(Clone, Copy, Debug)]
pub struct Hex(pub u64);

impl From<u64> for Value<'_> {
    fn from(v: u64) -> Self {
        Value::Dec(v)
    }
}
impl From<u32> for Value<'_> {
    fn from(v: u32) -> Self {
        Value::Dec(v.into())
    }
}
impl From<usize> for Value<'_> {
    fn from(v: usize) -> Self {
        Value::Dec(v as u64)
    }
}
impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<Hex> for Value<'_> {
    fn from(v: Hex) -> Self {
        Value::Hex(v.0)
    }
}
impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        if is_word(v) {
            Value::Word(v)
        } else {
            Value::Str(v)
        }
    }
}

/// True when `s` can be written without quotes.
pub fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/' | b':'))
}

/// Writes one event line, newline included.
pub fn write_event(w: &mut dyn Write, event: &str, fields: &[(&str, Value<'_>)]) -> fmt::Result {
    w.write_str(EVENT_PREFIX)?;
    w.write_str(event)?;
    for (key, value) in fields {
        write!(w, " {key}=")?;
        match *value {
            Value::Dec(v) => write!(w, "{v}")?,
            Value::Int(v) => write!(w, "{v}")?,
            Value::Hex(v) => write!(w, "{v:#x}")?,
            Value::Word(s) => w.write_str(s)?,
            Value::Str(s) => write_quoted(w, s)?,
        }
    }
    w.write_str("\n")
}

fn write_quoted(w: &mut dyn Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => w.write_str("\\\"")?,
            '\\' => w.write_str("\\\\")?,
            '\n' => w.write_str("\\n")?,
            '\r' => {}
            c => w.write_char(c)?,
        }
    }
    w.write_char('"')
}

/// True when `body` is `<event> key=value ...` in this format (no prefix,
/// one line): what the kernel demands of events that tasks log.
pub fn is_valid_event_body(body: &str) -> bool {
    let ident = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    };
    if body.contains(['\n', '\r']) {
        return false;
    }
    let (name, mut rest) = body.split_once(' ').unwrap_or((body, ""));
    if !ident(name) {
        return false;
    }
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            return true;
        }
        let Some((key, after)) = rest.split_once('=') else {
            return false;
        };
        if !ident(key) {
            return false;
        }
        if let Some(quoted) = after.strip_prefix('"') {
            let mut escaped = false;
            let mut end = None;
            for (i, c) in quoted.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let Some(end) = end else { return false };
            rest = &quoted[end + 1..];
            if !rest.is_empty() && !rest.starts_with(' ') {
                return false;
            }
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            if !is_word(&after[..end]) {
                return false;
            }
            rest = &after[end..];
        }
    }
}

/// Formats `args` into a fixed buffer, cutting at `N` bytes (on a character
/// boundary), so that panic and error messages can be logged as one quoted
/// value without an allocator.
pub struct FixedText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> FixedText<N> {
    pub fn format(args: fmt::Arguments<'_>) -> Self {
        let mut t = FixedText {
            buf: [0; N],
            len: 0,
        };
        let _ = t.write_fmt(args);
        t
    }

    pub fn as_str(&self) -> &str {
        // Only whole characters are ever copied in, so this cannot fail.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> Write for FixedText<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut tmp = [0u8; 4];
            let bytes = c.encode_utf8(&mut tmp).as_bytes();
            if self.len + bytes.len() > N {
                return Err(fmt::Error);
            }
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        }
        Ok(())
    }
}

/// Writes an event: `event!(writer, "task.exit", id = 1u64, name = "init")`.
#[macro_export]
macro_rules! event {
    ($w:expr, $name:expr $(, $key:ident = $value:expr)* $(,)?) => {
        $crate::log::write_event(
            $w,
            $name,
            &[$((stringify!($key), $crate::log::Value::from($value))),*],
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_words_and_quoted_text() {
        let mut s = String::new();
        crate::event!(
            &mut s,
            "cpu.exception",
            vector = 14u64,
            rip = Hex(0xffff_ffff_8000_1234),
            name = "page_fault",
            msg = "said \"no\"\\ here\nnow",
            delta = -3i64,
        )
        .unwrap();
        assert_eq!(
            s,
            "@@ cpu.exception vector=14 rip=0xffffffff80001234 name=page_fault \
             msg=\"said \\\"no\\\"\\\\ here\\nnow\" delta=-3\n"
        );
    }

    #[test]
    fn empty_and_spaced_strings_are_quoted() {
        assert!(matches!(Value::from(""), Value::Str("")));
        assert!(matches!(Value::from("a b"), Value::Str("a b")));
        assert!(matches!(Value::from("a=b"), Value::Str(_)));
        assert!(matches!(Value::from("supervisor"), Value::Word(_)));
    }

    #[test]
    fn event_bodies_are_checked() {
        assert!(is_valid_event_body("svc.start name=ping id=3"));
        assert!(is_valid_event_body(
            "svc.exit msg=\"died: \\\"x\\\"\" code=0x1"
        ));
        assert!(is_valid_event_body("bare"));
        assert!(!is_valid_event_body(""));
        assert!(!is_valid_event_body("Bad.Name x=1"));
        assert!(!is_valid_event_body("ev key"));
        assert!(!is_valid_event_body("ev key=\"open"));
        assert!(!is_valid_event_body("ev key=a\n@@ forged=1"));
        assert!(!is_valid_event_body("ev key=\"a\"b"));
        assert!(!is_valid_event_body("ev key=a=b"));
    }

    #[test]
    fn fixed_text_cuts_on_a_character_boundary() {
        let t = FixedText::<5>::format(format_args!("ab\u{e9}\u{e9}"));
        assert_eq!(t.as_str(), "ab\u{e9}");
    }
}
