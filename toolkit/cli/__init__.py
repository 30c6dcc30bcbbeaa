"""The command line: one parser, thin subcommands over the library."""
