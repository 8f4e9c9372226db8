use std::process::ExitCode;

fn main() -> ExitCode {
    fleetdeck::cli::main()
}
