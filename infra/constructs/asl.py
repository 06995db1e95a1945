"""Step Functions definitions from `state_machines/*.asl.json`, with their ARNs filled in."""

from __future__ import annotations

import re
from pathlib import Path


def render_asl(path: Path, values: dict[str, str]) -> str:
    """The ASL text with each `${Name}` replaced by its value (CDK tokens become an
    Fn::Join in the template). Replaced here rather than through DefinitionSubstitutions,
    which moto's CloudFormation ignores (the emulator's state machine would otherwise call
    a function literally named `${...}`); every CloudFormation resolves the Join."""
    text = path.read_text(encoding="utf-8")
    for name, value in values.items():
        placeholder = "${" + name + "}"
        if placeholder not in text:
            raise ValueError(f"{path.name} has no {placeholder}")
        text = text.replace(placeholder, value)
    left = re.findall(r"\$\{[A-Za-z]+\}", text)  # CDK tokens look like ${Token[...]}
    if left:
        raise ValueError(f"{path.name}: no value for {', '.join(sorted(set(left)))}")
    return text
