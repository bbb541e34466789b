"""Calls into the host's imports, with the contract's `Err` turned into Python
exceptions the plugin can catch."""

from __future__ import annotations


def call(fn, convert, *args):
    """`fn(*args)`; an `Err(e)` from the host is raised as `convert(e.value)`."""
    from wit_world.types import Err

    try:
        return fn(*args)
    except Err as e:
        raise convert(e.value) from None
