"""What ``hangar demo`` ships: a scripted model run (``script.yaml``) of the default agent.

The script stands in for Gemini so that a newcomer sees a whole run (sandbox, shell, Python, a page
served inside the box read by the browser, files, live steps) without a key.
"""

from __future__ import annotations

from pathlib import Path

SCRIPT = Path(__file__).with_name("script.yaml")
AGENT = "antigravity"
TASK = (
    "Build a tiny report about the numbers 1 to 100: compute their sum and mean with Python, "
    "publish a web page with the result inside the sandbox, check it in the browser, "
    "and leave report.md and a walkthrough in the workspace."
)
