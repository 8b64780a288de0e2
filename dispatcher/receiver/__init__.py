"""The sandbox receiver: the integrator's side of the wire, for demos and self-tests."""

from .app import ReceiverConfig, RunningReceiver, Sandbox, start_receiver

__all__ = ["ReceiverConfig", "RunningReceiver", "Sandbox", "start_receiver"]
