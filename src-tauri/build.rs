//! Runs tauri-build against the workspace-root `tauri.conf.json`.
//!
//! Plain `tauri_build::build()` only looks in this crate's directory, so the
//! root config is passed explicitly. `generate_context!` in `src/lib.rs` names
//! the same file; keep the two paths in sync.

fn main() {
    // The tray glyphs are embedded with `include_image!`, which cargo does not
    // track; rebuild when any icon changes.
    println!("cargo:rerun-if-changed=../icons");
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
        .expect("tauri-build failed to process ../tauri.conf.json");
}
