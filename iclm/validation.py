"""The field checks of every config (`iclm.config`, `iclm.training.config`): one wording for one mistake.

Each check raises `ValueError` naming the field and the value (`router.beta=-1 is invalid; expected >= 0.0`),
so a bad value in config.json or a training YAML says what to change. No torch, no transformers: a config
module imports this before anything heavy.
"""

from __future__ import annotations

import math
from typing import Any, get_args


def check_number(
    name: str,
    value: Any,
    *,
    low: float,
    high: float = math.inf,
    integer: bool = False,
    strict_low: bool = False,
) -> None:
    """Raise ValueError naming `name` and `value` unless value is a finite number (an int if `integer`)
    with low <= value <= high (low < value with `strict_low`). The one numeric check of every config."""
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"{name}={value!r} is invalid; expected {'an int' if integer else 'a number'}")
    if isinstance(value, float) and not math.isfinite(value):  # ints are finite (and may exceed a float)
        raise ValueError(f"{name}={value!r} is invalid; expected a finite number")
    if value < low or (strict_low and value == low) or value > high:
        bound = f"{'>' if strict_low else '>='} {low}" + (f" and <= {high}" if high != math.inf else "")
        raise ValueError(f"{name}={value!r} is invalid; expected {bound}")


def check_positive(name: str, value: Any, *, integer: bool, allow_zero: bool = False) -> None:
    """A finite number > 0 (>= 0 with `allow_zero`), through `check_number`."""
    check_number(name, value, low=0, integer=integer, strict_low=not allow_zero)


def check_choice(name: str, value: Any, literal: Any) -> None:
    """Raise ValueError listing the options unless `value` is one of the `Literal` type's values."""
    options = get_args(literal)
    if value not in options:
        raise ValueError(f"{name}={value!r} is invalid; choose one of {list(options)}")


def check_flag(name: str, value: Any) -> None:
    """Raise ValueError unless `value` is a bool (YAML true/false; 1 or "yes" are refused, not guessed)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is invalid; expected true/false")


def check_registered(name: str, value: Any, registry: dict[str, Any]) -> None:
    """Raise ValueError listing the registered names unless `value` is one of the keys of `registry`."""
    if not isinstance(value, str) or value not in registry:
        raise ValueError(f"{name}={value!r} is invalid; choose one of {list(registry)}")
