//! The `schemaplan` binary: everything lives in the library; see `cli`.

fn main() {
    std::process::exit(schemaplan::cli::run());
}
