"""The `rdrf` commands, one module per command group, named for its commands (mounted in rdrf/cli.py).

Each module defines `app`, a typer.Typer whose commands are mounted at the top level (or, for
`split` and `info`, as a group). Domain code is imported inside the commands, so `rdrf --help`
stays fast and never loads torch.
"""
