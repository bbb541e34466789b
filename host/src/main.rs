fn main() -> anyhow::Result<()> {
    tributary::cli::main()
}
