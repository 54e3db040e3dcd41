"""`python -m scrutiny.cli`: the command line (as `accelerate launch -m scrutiny.cli train` runs it)."""

from scrutiny.cli import main

main()
