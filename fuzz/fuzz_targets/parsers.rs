//! One libFuzzer binary for every target of `memdx_fuzz::TARGETS`, chosen
//! by the `MEMDX_FUZZ_TARGET` environment variable (one binary links once;
//! the machine has two cores). See `fuzz/README.md`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn target() -> &'static memdx_fuzz::Target {
    static TARGET: OnceLock<&'static memdx_fuzz::Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let name = std::env::var("MEMDX_FUZZ_TARGET").unwrap_or_default();
        memdx_fuzz::find(&name).unwrap_or_else(|| {
            let names: Vec<&str> = memdx_fuzz::TARGETS.iter().map(|t| t.name).collect();
            eprintln!("set MEMDX_FUZZ_TARGET to one of: {}", names.join(" "));
            std::process::exit(2)
        })
    })
}

fuzz_target!(|data: &[u8]| (target().run)(data));
