"""The `ember` command line (typer); each command lives in its own module."""
