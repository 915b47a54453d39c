"""``python3 -m firmware.switch.core`` prints the transitions section of docs/switch-core.md."""
from .table import render_markdown

print(render_markdown())
