//! Writes each target's seeds to `DIR/<target>/seed-N`, the corpus layout
//! of the libFuzzer campaigns (`fuzz/README.md`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: memdx-fuzz-seeds DIR [TARGET...]");
        return ExitCode::from(2);
    };
    let only: Vec<String> = std::env::args().skip(2).collect();
    let dir = std::path::PathBuf::from(dir);
    for t in memdx_fuzz::TARGETS {
        if !only.is_empty() && !only.iter().any(|o| o == t.name) {
            continue;
        }
        let out = dir.join(t.name);
        if let Err(e) = std::fs::create_dir_all(&out) {
            eprintln!("memdx-fuzz-seeds: creating {}: {e}", out.display());
            return ExitCode::FAILURE;
        }
        let seeds = memdx_fuzz::seeds::seeds(t.name);
        for (i, s) in seeds.iter().enumerate() {
            let path = out.join(format!("seed-{i}"));
            if let Err(e) = std::fs::write(&path, s) {
                eprintln!("memdx-fuzz-seeds: writing {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        println!("{}: {} seeds", t.name, seeds.len());
    }
    ExitCode::SUCCESS
}
