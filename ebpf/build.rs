//! Compiles the XDP program with Debian's clang (`-target bpf`) into OUT_DIR, where
//! src/lib.rs embeds it.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "src/tidewatch.bpf.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=TIDEWATCH_CLANG");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("tidewatch.bpf.o");
    let clang = std::env::var("TIDEWATCH_CLANG").unwrap_or_else(|_| "clang".into());
    let status = Command::new(&clang)
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-Wall",
            "-Werror",
            "-I/usr/include/x86_64-linux-gnu",
            "-c",
            src,
            "-o",
        ])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| {
            panic!("running {clang} to build the XDP program: {e} (install clang and libbpf-dev: .ci/install-deps)")
        });
    assert!(
        status.success(),
        "{clang} failed to compile {src} (needs clang, libbpf-dev and the kernel headers: .ci/install-deps)"
    );
}
