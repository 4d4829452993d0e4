"""Every server setting is documented (datasette's rule) and bad values are refused by name."""

import dataclasses
import inspect
import re

import pytest

from server import config

SETTINGS = [
    cls
    for _, cls in inspect.getmembers(config, inspect.isclass)
    if dataclasses.is_dataclass(cls) and cls.__module__ == config.__name__
]


def documented(cls) -> set[str]:
    """Names with an entry (`name` alone on a line, then an indented description) under Attributes."""
    doc = inspect.getdoc(cls) or ""
    section = doc.split("Attributes\n----------\n", 1)[1] if "Attributes\n----------\n" in doc else ""
    return set(re.findall(r"^(\w+)\n    \S", section, flags=re.MULTILINE))


def test_settings_classes_are_found():
    assert {"Limits", "ServerConfig"} <= {cls.__name__ for cls in SETTINGS}


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda cls: cls.__name__)
def test_every_setting_is_documented(cls):
    fields = {f.name for f in dataclasses.fields(cls)}
    assert fields - documented(cls) == set(), f"{cls.__name__} fields without a docstring entry"
    assert documented(cls) - fields == set(), f"{cls.__name__} documents fields it does not have"


INT_LIMITS = [f.name for f in dataclasses.fields(config.Limits) if f.type in (int, "int")]


@pytest.mark.parametrize("name", INT_LIMITS)
def test_limits_refuse_non_positive_values_by_name(name):
    with pytest.raises(ValueError, match=f"Limits.{name}"):
        config.Limits(**{name: 0})
