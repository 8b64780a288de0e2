"""`webhook-sim scenarios`: the scenarios and example configs installed with the package."""

from ..bundled import print_catalogue
from .app import app
from .declare import Flags, command


@command(app, ())
def scenarios(flags: Flags) -> int:
    """List the installed scenarios and example configs, and where they are. Exit 0."""
    return print_catalogue()
