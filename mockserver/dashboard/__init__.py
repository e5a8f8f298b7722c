"""The control plane's browser pages: the dashboard at `/__mock__/` and the API documentation
under `/__mock__/docs/`. Plain HTML, JavaScript and CSS shipped as package data (no build step),
served behind the control plane's access rules (`engine/control_access.py`)."""
