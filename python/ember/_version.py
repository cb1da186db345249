"""Ember's version, read from the installed package's metadata.

pyproject.toml is the one version source: the wheel's metadata carries it here, and CMake
reads it for the C++ runtime (`ember_version()`), so the two cannot drift apart.
"""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("ember")
