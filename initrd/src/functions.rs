//! The function table of an app (feature `std`): the names of the
//! functions an LLVM IR text module defines, in module order, one per
//! line. The writer adds `NAME.ll.fns` beside every `NAME.ll` it packs; the
//! app host numbers dispatch slots by it and the JIT checks it against the
//! module it parses. Bitcode is turned into text before it is packed.

/// Names of the functions `ir` defines (`define` lines), in order.
pub fn defined_functions(ir: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for (n, line) in ir.lines().enumerate() {
        let line = line.trim_start();
        if !line.starts_with("define ") {
            continue;
        }
        let at = line
            .find('@')
            .ok_or_else(|| format!("line {}: a define without a @name", n + 1))?;
        let name = global_name(&line[at + 1..])
            .ok_or_else(|| format!("line {}: cannot read the function's name", n + 1))?;
        names.push(name);
    }
    Ok(names)
}

/// Names `ir` uses but does not define: `declare`d functions and
/// `external`/`extern_weak` globals, LLVM's own intrinsics (`llvm.*`) left
/// out, sorted. What a program needs from the C library.
pub fn external_names(ir: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in ir.lines() {
        let line = line.trim_start();
        let name = if line.starts_with("declare ") {
            line.find('@').and_then(|at| global_name(&line[at + 1..]))
        } else if let Some(rest) = line.strip_prefix('@') {
            let (name, tail) = match global_name(rest) {
                Some(n) => {
                    let skip = if rest.starts_with('"') {
                        n.len() + 2
                    } else {
                        n.len()
                    };
                    (n, rest.get(skip..).unwrap_or(""))
                }
                None => continue,
            };
            let tail = tail
                .trim_start()
                .strip_prefix('=')
                .unwrap_or("")
                .trim_start();
            (tail.starts_with("external ") || tail.starts_with("extern_weak ")).then_some(name)
        } else {
            None
        };
        if let Some(n) = name.filter(|n| !n.starts_with("llvm.")) {
            names.push(n);
        }
    }
    names.sort();
    names.dedup();
    names
}

/// The function table file for `ir`.
pub fn function_table(ir: &str) -> Result<String, String> {
    let mut table = String::new();
    for name in defined_functions(ir)? {
        if name.is_empty() || name.contains('\n') {
            return Err(format!("function name {name:?} cannot go in a table"));
        }
        table.push_str(&name);
        table.push('\n');
    }
    Ok(table)
}

/// Reads an IR global name after its `@`: `name` or `"quoted\XXname"`.
fn global_name(s: &str) -> Option<String> {
    if let Some(quoted) = s.strip_prefix('"') {
        let end = quoted.find('"')?;
        let raw = &quoted.as_bytes()[..end];
        let mut bytes = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'\\' {
                let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                bytes.push(raw[i]);
                i += 1;
            }
        }
        return String::from_utf8(bytes).ok();
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-$._".contains(c)))
        .unwrap_or(s.len());
    (end > 0).then(|| s[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_names_are_declarations_and_external_globals() {
        let ir = "@stdout = external global ptr, align 8\n\
                  @counter = global i32 0\n\
                  @\"odd name\" = extern_weak global i32\n\
                  define i32 @main() {\n  ret i32 0\n}\n\
                  declare i32 @printf(ptr noundef, ...) #1\n\
                  declare extern_weak ptr @zlibVersion() #1\n\
                  declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)\n";
        assert_eq!(
            external_names(ir),
            ["odd name", "printf", "stdout", "zlibVersion"]
        );
    }

    #[test]
    fn defines_are_listed_in_order_and_declares_are_not() {
        let ir = "declare i32 @printf(ptr, ...)\n\
                  define internal i64 @fib(i64 %n) #0 {\n  ret i64 %n\n}\n\
                  define dso_local i32 @main() {\n  ret i32 0\n}\n  define void @\"odd name\\22x\"() {\n}\n\
                  define void @a.b$c-d_1() {\n}\n";
        assert_eq!(
            defined_functions(ir).unwrap(),
            ["fib", "main", "odd name\"x", "a.b$c-d_1"]
        );
        assert_eq!(function_table("define void @f() {\n}\n").unwrap(), "f\n");
    }

    #[test]
    fn unreadable_names_are_errors() {
        assert!(defined_functions("define void f() {}").is_err());
        assert!(defined_functions("define void @(").is_err());
        assert!(defined_functions("define void @\"open(").is_err());
        assert!(function_table("define void @\"a\\0Ab\"() {\n}\n").is_err());
    }
}
