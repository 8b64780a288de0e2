"""`python -m dispatcher.cli`, as tests and older scripts call it: the console script."""

from ..__main__ import console_main

console_main()
