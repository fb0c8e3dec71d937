//! The program's input: its standard input and the files it opens by name
//! come from the initrd (the app host's `stdin=NAME` and `file=NAME`
//! arguments, which `cargo xtask run --app --stdin FILE --file PATH` sets),
//! and files it writes live in memory for the rest of the run. glibc's own
//! streams do the work: `stdin` becomes an `fmemopen` stream over the
//! initrd's bytes, the program's `fopen` is [`program_fopen`], which opens
//! such a stream for a given file, an `open_memstream` for a file opened
//! for writing (kept by name, so the program can read back what it wrote),
//! and otherwise falls through to glibc (there are no other files: ENOENT).
//! Without `stdin=`, standard input is empty, as under `< /dev/null`.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_void};
use std::sync::Mutex;

type File = c_void;

#[allow(
    clashing_extern_declarations,
    reason = "the generated export table declares every C symbol as `fn()` only to take its address"
)]
unsafe extern "C" {
    static mut stdin: *mut File;
    fn fmemopen(buf: *mut c_void, size: usize, mode: *const c_char) -> *mut File;
    fn open_memstream(ptr: *mut *mut c_char, size: *mut usize) -> *mut File;
    fn fopen(path: *const c_char, mode: *const c_char) -> *mut File;
    fn fwrite(p: *const c_void, size: usize, n: usize, f: *mut File) -> usize;
}

/// A written file's buffer, as `open_memstream` keeps it up to date (on
/// every flush and close); boxed so its address stays put.
struct Written {
    ptr: *mut c_char,
    size: usize,
}

enum Stored {
    Given(&'static [u8]),
    Written(Box<Written>),
}

// SAFETY: the app host runs the program on one thread; the pointers are
// only touched under the lock.
unsafe impl Send for Stored {}

static FILES: Mutex<Option<HashMap<String, Stored>>> = Mutex::new(None);

fn with_files<T>(f: impl FnOnce(&mut HashMap<String, Stored>) -> T) -> T {
    let mut guard = FILES.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

/// A read-only stream over `data` (which lives as long as the app host).
fn reader(data: &'static [u8]) -> *mut File {
    // SAFETY: "r" streams never write to the buffer; `data` outlives them.
    unsafe { fmemopen(data.as_ptr() as *mut c_void, data.len(), c"r".as_ptr()) }
}

/// Makes `data` the program's standard input.
pub fn set_stdin(data: &'static [u8]) {
    let f = reader(data);
    if !f.is_null() {
        // SAFETY: the program has not started; nothing else uses `stdin`.
        unsafe { stdin = f };
    }
}

/// Lets the program open `name` for reading and get `data`.
pub fn provide(name: &str, data: &'static [u8]) {
    with_files(|files| files.insert(name.to_string(), Stored::Given(data)));
}

/// The program's `fopen` (and `fopen64`).
pub extern "C" fn program_fopen(path: *const c_char, mode: *const c_char) -> *mut File {
    if path.is_null() || mode.is_null() {
        // SAFETY: glibc handles (and reports) bad arguments itself.
        return unsafe { fopen(path, mode) };
    }
    // SAFETY: C strings from the program, NUL-terminated by contract.
    let (name, m) = unsafe { (CStr::from_ptr(path), CStr::from_ptr(mode)) };
    let name = name.to_string_lossy().into_owned();
    let m = m.to_string_lossy();
    let writing = m.contains(['w', 'a', '+']);
    with_files(|files| {
        // "r+": read and update in place, over a copy of what is there.
        if m.starts_with('r') && m.contains('+') {
            let bytes = current(files.get(&name));
            return match bytes {
                Some(b) => {
                    let copy = Box::leak(b.to_vec().into_boxed_slice());
                    // SAFETY: the copy is leaked, so it outlives the stream,
                    // which may read and write inside its length.
                    unsafe { fmemopen(copy.as_mut_ptr().cast(), copy.len(), c"r+".as_ptr()) }
                }
                // SAFETY: glibc's own fopen with the program's arguments.
                None => unsafe { fopen(path, mode) },
            };
        }
        if writing {
            let previous = if m.starts_with('a') {
                current(files.get(&name)).unwrap_or(&[]).to_vec()
            } else {
                Vec::new()
            };
            let mut cell = Box::new(Written {
                ptr: std::ptr::null_mut(),
                size: 0,
            });
            // SAFETY: the cell is boxed and kept in `files` for the whole
            // run, so the stream may update it at any time.
            let f = unsafe { open_memstream(&mut cell.ptr, &mut cell.size) };
            if f.is_null() {
                return f;
            }
            if !previous.is_empty() {
                // SAFETY: writing our own copy into the fresh stream.
                unsafe { fwrite(previous.as_ptr().cast(), 1, previous.len(), f) };
            }
            files.insert(name, Stored::Written(cell));
            return f;
        }
        match files.get(&name) {
            Some(Stored::Given(d)) => reader(d),
            // A snapshot: later writes do not move under the reader.
            written @ Some(Stored::Written(_)) => {
                let bytes = current(written).unwrap_or(&[]);
                reader(Box::leak(bytes.to_vec().into_boxed_slice()))
            }
            // SAFETY: glibc's own fopen with the program's arguments.
            None => unsafe { fopen(path, mode) },
        }
    })
}

/// What a stored file holds now.
fn current(stored: Option<&Stored>) -> Option<&[u8]> {
    match stored? {
        Stored::Given(d) => Some(d),
        Stored::Written(w) if w.ptr.is_null() => Some(&[]),
        Stored::Written(w) => {
            // SAFETY: the buffer open_memstream last reported (updated on
            // every flush and close of the writer), alive while stored.
            let bytes = unsafe { std::slice::from_raw_parts(w.ptr as *const u8, w.size) };
            Some(bytes)
        }
    }
}
