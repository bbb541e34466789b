use std::process::ExitCode;

fn main() -> ExitCode {
    tributary::cli::prepare_process();
    match tributary::cli::main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", tributary::cli::describe_error(&e));
            ExitCode::FAILURE
        }
    }
}
