// A release build on Windows is a GUI program: started at login or by the
// window, it opens no console window (it logs to the data folder's log).
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

fn main() {
    std::process::exit(nightjar_tray::main());
}
