fn main() -> std::process::ExitCode {
    iamd::cli::main()
}
