"""The yaml blocks README.md gives for SpeechBrain's stock recipes, read from README.md itself."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
# <!-- speechbrain-recipe-yaml: NAME --> on the line before a ```yaml block
_BLOCK = re.compile(r"<!-- speechbrain-recipe-yaml: ([\w-]+) -->\n```yaml\n(.*?)```", re.DOTALL)


def readme_recipe_yaml() -> dict[str, str]:
    """``{name: yaml text}`` of every marked block of README.md."""
    return dict(_BLOCK.findall(README.read_text(encoding="utf-8")))
