"""Panel strings exactly as the benchmark's ``data/RAVEN/process_data_raven.py`` (PanelParser) writes them.

panel = panel sentence(struct sentence(component sentences(layout))); a layout lists its entities in their
(XML = sampled) order, "{}, " between and "{}. " (text) / "{}] " (symbolic) after the last one.
"""

from __future__ import annotations

import string

from iclm.data.raven_model import ANGLES, COLORS, LAYOUTS, SIZES, STRUCTURES, TYPES, Entity, Panel

TEXT_STRUCT: dict[str, str] = {
    "Singleton": "{}",
    "Left_Right": "a first figure is displayed on the left and a second is displayed on the right. {}",
    "Up_Down": "a first figure is displayed above and a second is displayed below. {}",
    "Out_In": "a second figure is displayed inside a first one. {}",
}
TEXT_COMPONENT: dict[str, str] = {
    "Grid": "{}",
    "Left": "On the left: {}",
    "Right": "On the right: {}",
    "Up": "Above: {}",
    "Down": "Below: {}",
    "In": "Inside: {}",
    "Out": "Outside: {}",
}
SYMBOLIC_COMPONENT: dict[str, str] = {
    "Grid": "{}",
    "Left": "{}| ",
    "Right": "{}",
    "Up": "{}\n---------------\n",
    "Down": "{}",
    "In": "---------------\n{}\n---------------",
    "Out": "{}\n",
}
_FOUR_TEXT = (" in the top left", " in the top right", " in the bottom left", " in the bottom right")
_FOUR_CODES = (" TL", " TR", " BL", " BR")
TEXT_POSITIONS: dict[str, tuple[str, ...]] = {
    "Distribute_Four": _FOUR_TEXT,
    "In_Distribute_Four": _FOUR_TEXT,
    "Distribute_Nine": (
        " in the top left",
        " in the top center",
        " in the top right",
        " in the center left",
        " in the center",
        " in the center right",
        " in the bottom left",
        " in the bottom center",
        " in the bottom right",
    ),
}
SYMBOLIC_POSITIONS: dict[str, tuple[str, ...]] = {
    "Distribute_Four": _FOUR_CODES,
    "In_Distribute_Four": _FOUR_CODES,
    "Distribute_Nine": (" TL", " TC", " TR", " CL", " C", " CR", " BL", " BC", " BR"),
}


def _text_entity(e: Entity, layout: str) -> str:
    pos = TEXT_POSITIONS[layout][e.slot] if layout in TEXT_POSITIONS else ""
    return f"a {SIZES[e.size]} {COLORS[e.color]} {TYPES[e.type]} rotated at {ANGLES[e.angle]} degrees{pos}"


def _symbolic_entity(e: Entity, layout: str) -> str:
    up = string.ascii_uppercase
    pos = SYMBOLIC_POSITIONS[layout][e.slot] if layout in SYMBOLIC_POSITIONS else ""
    return f"({up[e.size]}, {up[e.color]}, {up[e.type + 1]}, {up[e.angle]},{pos})"


def panel_string(panel: Panel, config: str, render: str) -> str:
    """One panel in the benchmark's text or symbolic form."""
    text = render == "text"
    parts = []
    for k, layout in enumerate(LAYOUTS[config]):
        items = [
            (_text_entity if text else _symbolic_entity)(e, layout.name) for e in panel if e.component == k
        ]
        body = "" if text else "["
        body += "".join(f"{item}, " for item in items[:-1]) + (f"{items[-1]}. " if text else f"{items[-1]}] ")
        parts.append((TEXT_COMPONENT if text else SYMBOLIC_COMPONENT)[layout.component].format(body))
    if not text:
        return "".join(parts)
    return "On an image, " + TEXT_STRUCT[STRUCTURES[config]].format("".join(parts))
