//! The `mlsd` binary: parse the command line, run the command, report errors plainly.

fn main() -> std::process::ExitCode {
    mlsd::cli::main()
}
