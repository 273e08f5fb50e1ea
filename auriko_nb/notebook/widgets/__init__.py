"""Interactive panels (ipywidgets 8): the session routing toggle and the provider-comparison panel.

ipywidgets and matplotlib are imported here and below only, so `import auriko_nb` does not load them.
"""

from __future__ import annotations

from .compare_panel import ComparePanel, compare_panel
from .routing_panel import RoutingPanel, routing_panel

__all__ = ["ComparePanel", "RoutingPanel", "compare_panel", "routing_panel"]
