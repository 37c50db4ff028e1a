//! The `usher` executable: everything lives in the library (`src/lib.rs`), so that
//! integration tests can run whole nodes in-process.

fn main() -> std::process::ExitCode {
    usher::main()
}
