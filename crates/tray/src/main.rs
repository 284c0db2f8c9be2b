fn main() {
    std::process::exit(nightjar_tray::main());
}
