//! The `signal-delivery` command; see `signal_delivery::cli`.

fn main() -> std::process::ExitCode {
    signal_delivery::cli::run(std::env::args().skip(1).collect())
}
