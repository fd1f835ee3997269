"""`python -m cdc_ods` is the same as the `cdc` command."""

from cdc_ods.cli import main

main()
