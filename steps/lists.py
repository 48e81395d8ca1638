"""Typed list parameters for step texts: ``{hosts:List}`` turns "k8s-1, k8s-2 and k8s-3"
into ``["k8s-1", "k8s-2", "k8s-3"]`` through pytest-bdd's parse converters."""

from __future__ import annotations


def names(text: str) -> list[str]:
    """"a, b and c" / "a and b" / "a" -> a list of the names; an empty name is an error."""
    parts = [p.strip() for p in text.replace(" and ", ",").split(",")]
    if not all(parts):
        raise ValueError(f"a list of names with an empty item: {text!r}")
    return parts


names.pattern = r"[^\s,]+(?:(?:, | and |, and )[^\s,]+)*"

#: extra_types for ``parsers.parse(text, LIST)``
LIST = {"List": names}
