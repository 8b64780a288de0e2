"""webhook-sim: plays the Unico IDCloud platform's side of the webhook contract.

Nothing is imported here eagerly: `python -m dispatcher` must take over the stop signals
before the interpreter spends any time on imports (see `dispatcher.__main__`).
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """`__version__` and `USER_AGENT`, read from the installed metadata on first use."""
    if name not in ("__version__", "USER_AGENT"):
        raise AttributeError(f"module 'dispatcher' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("webhook-sim")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0"
    globals().update(__version__=found, USER_AGENT=f"webhook-sim/{found}")
    return str(globals()[name])
