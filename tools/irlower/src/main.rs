//! `irlower IN.ll OUT.bytecode`: lowers a program's IR to bytecode and
//! lists the functions that will start compiled instead, and why.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = &args[..] else {
        eprintln!("usage: irlower IN.ll OUT.bytecode");
        std::process::exit(2);
    };
    let ir = std::fs::read(input).unwrap_or_else(|e| {
        eprintln!("irlower: {input}: {e}");
        std::process::exit(1)
    });
    let module = irlower::lower(&ir).unwrap_or_else(|e| {
        eprintln!("irlower: {input}: {e}");
        std::process::exit(1)
    });
    for f in &module.functions {
        if let bytecode::format::Body::Unsupported { construct } = &f.body {
            eprintln!(
                "irlower: {input}: {} is not interpretable: {construct}",
                f.name
            );
        }
    }
    let file = bytecode::format::encode(&module, &ir);
    if let Err(e) = std::fs::write(output, file) {
        eprintln!("irlower: {output}: {e}");
        std::process::exit(1);
    }
}
