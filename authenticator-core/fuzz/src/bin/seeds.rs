//! Writes the seed corpora to `corpus/<target>/<name>` (or under the directory given as the
//! first argument). Existing files of the same name are replaced; others are left alone.
//!
//! `seeds --run-structured FILE...` runs inputs of `ctap_dispatch_structured` outside
//! libFuzzer instead; with `FUZZ_TRACE=1` it prints every request and status.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--run-structured") {
        for file in &args[1..] {
            eprintln!("== {}", PathBuf::from(file).display());
            authenticator_core_fuzz::requests::run(&std::fs::read(file)?);
        }
        return Ok(());
    }
    let root = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let seeds = authenticator_core_fuzz::seeds::all();
    for (target, name, bytes) in &seeds {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
    }
    println!("wrote {} seeds under {}", seeds.len(), root.display());
    Ok(())
}
