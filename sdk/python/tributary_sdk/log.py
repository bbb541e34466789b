"""Structured logging into the host's `tracing` (escaped and budgeted there)."""

from __future__ import annotations


def _log(level: str, message: str, fields: dict) -> None:
    try:
        from wit_world.imports import logging as wit_logging
    except ImportError:  # natively (tests): print instead
        print(f"[{level}] {message} {fields}" if fields else f"[{level}] {message}")
        return
    lv = getattr(wit_logging.Level, level.upper())
    wit_logging.log(lv, message, [(str(k), str(v)) for k, v in fields.items()])


def trace(message: str, **fields) -> None:
    _log("trace", message, fields)


def debug(message: str, **fields) -> None:
    _log("debug", message, fields)


def info(message: str, **fields) -> None:
    _log("info", message, fields)


def warn(message: str, **fields) -> None:
    _log("warn", message, fields)


def error(message: str, **fields) -> None:
    _log("error", message, fields)
