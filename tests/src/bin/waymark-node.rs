//! Runs one Waymark program in a child process for the test harness:
//! `waymark-node gateway ARGS...` or `waymark-node sync ARGS...`.

fn main() -> std::process::ExitCode {
    waymark_tests::node_main(std::env::args_os().skip(1))
}
