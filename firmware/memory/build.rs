//! The build script of every firmware crate (`build = "../memory/build.rs"`
//! in each Cargo.toml; each crate is its own workspace): picks the memory map
//! of the QEMU machine that runs the target and puts it where cortex-m-rt's
//! link.x looks for `memory.x`.
use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let machine = if target.starts_with("thumbv6m") {
        "microbit.x"
    } else {
        "mps2-an386.x"
    };
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let map = manifest.join("../memory").join(machine);
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(&map, out.join("memory.x")).expect("copy the memory map");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={}", map.display());
    println!("cargo:rerun-if-changed=../memory/build.rs");
}
