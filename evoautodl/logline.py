"""The log line of a plain result, written without the json module (the runner writes one per evaluation).

`plain_line(result)` returns byte for byte the line `evoautodl.log.result_to_json`
writes, for a result whose fields are plain: exact ints, finite floats, strs
(None where the log allows it), a status of `Status`, lists or tuples of
finite numbers, a dict config of such scalars (or bools), metrics and curves
of finite numbers. Such a line reads back by construction, so the log skips
decoding it again. Anything else (numpy values, NaN, a bool objective, a
nested config value...) returns None and the log takes its general path:
encode with the json module, then prove that the line decodes.

What makes it cheap: no intermediate dict, and the text of each float (its
shortest ``repr``, what the json module writes; the costliest step, about a
microsecond each) is remembered for the genes and configuration values,
which children inherit from their parents: in an evolutionary run most of a
line's genes were written before.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring_ascii
from typing import Any

from evoautodl.records import Result, Status

__all__ = ["plain_line"]

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_string = encode_basestring_ascii  # what the json module writes for a str (ensure_ascii)
_isfinite = math.isfinite
_STATUS = {s: _string(s.value) for s in Status}
_NUMBER = frozenset((float, int))  # exact types: bools and numpy scalars are not plain
_FLOAT = frozenset((float,))
_INT = frozenset((int,))
_STR = frozenset((str,))
_OPTIONAL_STR = frozenset((str, type(None)))
_SEQUENCE = frozenset((list, tuple))
_JSON_CONSTANTS = {True: "true", False: "false"}

#: float -> repr of the genes and configuration values written lately (never 0.0: 0.0 == -0.0 as keys)
_REPRS: dict[float, str] = {}
_REPRS_SIZE = 4096  # cleared when full
#: hyperparameter name -> its JSON text and the colon (the same few names on every line; cleared when full)
_KEYS: dict[str, str] = {}


class _NotPlain(Exception):
    """A value `plain_line` leaves to the general path."""


def _float(x: float) -> str:
    """repr of a finite float, remembered."""
    text = _REPRS.get(x)
    if text is None:
        if not _isfinite(x):
            raise _NotPlain
        text = repr(x)
        if x:
            if len(_REPRS) >= _REPRS_SIZE:
                _REPRS.clear()
            _REPRS[x] = text
    return text


def _genes(values: Any) -> str:
    """A list or tuple of finite numbers; the floats' texts remembered when they are all floats."""
    if type(values) not in _SEQUENCE:
        raise _NotPlain
    if _FLOAT.issuperset(map(type, values)):
        texts = list(map(_REPRS.get, values))  # only floats: an int key would find the text of an equal float
        if None in texts:
            texts = [_float(x) if text is None else text for text, x in zip(texts, values)]
        return "[" + ",".join(texts) + "]"
    return _numbers(values)


def _numbers(values: Any, kinds: frozenset[type] = _NUMBER) -> str:
    """A list or tuple of finite numbers of exact ``kinds``."""
    if type(values) not in _SEQUENCE or not kinds.issuperset(map(type, values)) or not all(map(_isfinite, values)):
        raise _NotPlain
    return "[" + ",".join(map(repr, values)) + "]"


def _config(config: Any) -> str:
    """A dict of str -> float, int, str, bool or None."""
    if type(config) is not dict:
        raise _NotPlain
    parts = []
    for name, value in config.items():
        if type(name) is not str:
            raise _NotPlain
        key = _KEYS.get(name)
        if key is None:
            if len(_KEYS) >= _REPRS_SIZE:
                _KEYS.clear()
            key = _KEYS[name] = _string(name) + ":"
        kind = type(value)
        if kind is float:
            text = _float(value)
        elif kind is int:
            text = repr(value)
        elif kind is str:
            text = _string(value)
        elif kind is bool:
            text = _JSON_CONSTANTS[value]
        elif value is None:
            text = "null"
        else:
            raise _NotPlain
        parts.append(key + text)
    return "{" + ",".join(parts) + "}"


def _table(table: Any, lists: bool) -> str:
    """Metrics (``lists=False``: numbers or lists of numbers) or curves (lists of numbers) by name."""
    if type(table) is not dict:
        raise _NotPlain
    if not table:
        return "{}"
    for v in table.values():
        if not (type(v) is list and _NUMBER.issuperset(map(type, v))) and (lists or type(v) not in _NUMBER):
            raise _NotPlain
    return _dumps(table)  # a non-finite value raises ValueError


def _text(v: str | None) -> str:
    return "null" if v is None else _string(v)


def plain_line(r: Result) -> str | None:
    """`evoautodl.log.result_to_json` of a plain result (see the module docstring), or None."""
    t = r.trial
    rb = t.resume_budget
    scalars = (t.budget_epochs, r.epochs_trained, r.cost_s, r.start_time, r.end_time) if rb is None else (
        t.budget_epochs, r.epochs_trained, r.cost_s, r.start_time, r.end_time, rb)
    try:
        if (type(r.status) is not Status or not _NUMBER.issuperset(map(type, scalars))
                or not all(map(_isfinite, scalars))
                or not _INT.issuperset(map(type, (t.trial_id, t.individual_id, t.generation, t.rung, t.seed, r.worker)))
                or not _STR.issuperset(map(type, (r.host, r.device, t.operator)))
                or not _OPTIONAL_STR.issuperset(map(type, (t.resume_from, r.checkpoint, r.error)))):
            return None
        return (f'{{"trial_id":{t.trial_id},"individual_id":{t.individual_id},"generation":{t.generation},'
                f'"rung":{t.rung},"budget_epochs":{t.budget_epochs!r},"status":{_STATUS[r.status]},'
                f'"objectives":{_numbers(r.objectives)},"config":{_config(t.config)},'
                f'"metrics":{_table(r.metrics, False)},"epochs_trained":{r.epochs_trained!r},'
                f'"cost_s":{r.cost_s!r},"start_time":{r.start_time!r},"end_time":{r.end_time!r},'
                f'"worker":{r.worker},"host":{_string(r.host)},"device":{_string(r.device)},"seed":{t.seed},'
                f'"parent_ids":{_numbers(t.parent_ids, _INT)},"operator":{_string(t.operator)},'
                f'"resume_from":{_text(t.resume_from)},"resume_budget":{"null" if rb is None else repr(rb)},'
                f'"checkpoint":{_text(r.checkpoint)},"error":{_text(r.error)},'
                f'"genome":{_genes(t.genome)},"curve":{_table(r.curve, True)}}}')
    except (_NotPlain, TypeError, ValueError, OverflowError, RecursionError):
        return None  # the general path writes (or refuses) it
