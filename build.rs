//! Rebuild when a migration is added (`sqlx::migrate!` embeds the files),
//! and build the kernel RTP forwarder (`src/media/kernel/forward.bpf.c`)
//! into BPF bytecode with clang, for `src/media/kernel` to embed. Without
//! clang the server is built without it (an empty object: `[media]
//! kernel_forwarding = "on"` then refuses to start, "auto" runs without).
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=src/media/kernel/forward.bpf.c");
    println!("cargo:rerun-if-env-changed=HIBIKI_BPF_CLANG");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("forward.bpf.o");
    if let Err(why) = build_forwarder(&out) {
        println!("cargo:warning=kernel RTP forwarding not built: {why}");
        let _ = std::fs::write(&out, b"");
        // Built again once clang is installed (scripts/test.sh installs
        // it after a first `cargo run` may have built without it).
        println!("cargo:rerun-if-changed=/usr/bin");
    }
}

fn build_forwarder(out: &std::path::Path) -> Result<(), String> {
    let clang = std::env::var("HIBIKI_BPF_CLANG").unwrap_or_else(|_| "clang".into());
    // The kernel's UAPI headers include <asm/types.h> from the multiarch
    // directory, which `-target bpf` does not search.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let multiarch = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => return Err(format!("no multiarch include directory known for {other}")),
    };
    let status = Command::new(&clang)
        .args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf"])
        .arg(format!("-I/usr/include/{multiarch}"))
        .args(["-c", "src/media/kernel/forward.bpf.c", "-o"])
        .arg(out)
        .status()
        .map_err(|e| format!("{clang}: {e} (apt-get install clang)"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{clang} failed ({status})"))
    }
}
