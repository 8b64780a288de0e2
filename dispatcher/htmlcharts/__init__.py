"""Hand-written SVG charts for the HTML report (`dispatcher.html`): `svg` draws axes, lines,
bars and legends from numbers; `figures` turns a load report into the page's four figures."""

from __future__ import annotations

from .figures import latency_figure, rate_figure, spectrum_figure, throttle_figure

__all__ = ["latency_figure", "rate_figure", "spectrum_figure", "throttle_figure"]
