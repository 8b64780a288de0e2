"""webhook-sim's public Python API: `import webhook_sim`. See docs/api.md."""

from dispatcher.api import *  # noqa: F403
from dispatcher.api import __all__ as __all__
