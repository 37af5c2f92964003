//! The `keyward` binary: the command line of `cli`, which serves, migrates and administers.
fn main() -> std::process::ExitCode {
    keyward::cli::main()
}
