//! `waymark-gateway`: see `waymark_gateway::cli`.

fn main() -> std::process::ExitCode {
    waymark_gateway::cli::main(std::env::args_os())
}
