//! `irlower IN.ll OUT.bytecode`: lowers a program's IR to bytecode and
//! lists the functions that will start compiled instead, and why.
//! `irlower --dump IN.ll`: prints the bytecode of every function instead,
//! one instruction per line, numbered as jumps count them.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (input, output) = match &args[1..] {
        [flag, input] if flag == "--dump" => (input, None),
        [input, output] => (input, Some(output)),
        _ => {
            eprintln!("usage: irlower IN.ll OUT.bytecode | irlower --dump IN.ll");
            std::process::exit(2);
        }
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
        match &f.body {
            bytecode::format::Body::Unsupported { construct } => eprintln!(
                "irlower: {input}: {} is not interpretable: {construct}",
                f.name
            ),
            bytecode::format::Body::Code { regs, code } if output.is_none() => {
                println!("{} ({regs} registers):", f.name);
                for (pc, inst) in code.iter().enumerate() {
                    println!("{pc:5}  {inst:?}");
                }
            }
            bytecode::format::Body::Code { .. } => {}
        }
    }
    let Some(output) = output else { return };
    let file = bytecode::format::encode(&module, &ir);
    if let Err(e) = std::fs::write(output, file) {
        eprintln!("irlower: {output}: {e}");
        std::process::exit(1);
    }
}
