"""What the pytest plugin (`dispatcher.pytest_plugin`) hands to tests: the API bound with
test-friendly defaults (`bound`), and the sandbox receiver and platform mock served from
threads of their own (`receiver`, `platform`, `background`). Import the types from here to
annotate a test's fixtures: `def test_x(webhook_sim: WebhookSim) -> None`.

Imported only when a test asks for one of the plugin's fixtures, never at pytest start-up.
"""

from .bound import WebhookSim
from .platform import MockPlatform, Platforms
from .receiver import ReceiverStats, SandboxReceiver

__all__ = ["MockPlatform", "Platforms", "ReceiverStats", "SandboxReceiver", "WebhookSim"]
