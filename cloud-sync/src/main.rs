//! `waymark-sync`: see `waymark_sync::cli`.

fn main() -> std::process::ExitCode {
    waymark_sync::cli::main(std::env::args_os())
}
