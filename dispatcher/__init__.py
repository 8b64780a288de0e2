"""webhook-sim: plays the Unico IDCloud platform's side of the webhook contract."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("webhook-sim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

USER_AGENT = f"webhook-sim/{__version__}"
