"""The method registry: every unlearning method, on every track, is registered here.

A method is a dataclass whose fields are its hyperparameters (as in scikit-learn,
the constructor arguments *are* the hyperparameters). Registering it records its
name, its track, the data it needs and its paper; :func:`build` turns a user's
``**hparams`` into an instance and refuses anything it does not know.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar

DATA_NEEDS = ("forget", "retain", "labels")


@dataclass(frozen=True)
class MethodInfo:
    """What the registry knows about one method (what ``obliviate methods`` prints)."""

    name: str
    track: str
    needs: tuple[str, ...]
    paper: str
    idea: str
    cls: type

    def defaults(self) -> dict[str, Any]:
        """Hyperparameter names and their default values, in declaration order."""
        return {f.name: _field_default(f) for f in dataclasses.fields(self.cls)}


_REGISTRY: dict[tuple[str, str], MethodInfo] = {}

M = TypeVar("M", bound=type)


def register(
    name: str, *, track: str, needs: tuple[str, ...], paper: str, idea: str
) -> Callable[[M], M]:
    """Class decorator adding a method (a dataclass of hyperparameters) to the registry."""
    if not track or not track.replace("_", "").isalnum():
        raise ValueError(f"bad track name {track!r}")
    bad = [n for n in needs if n not in DATA_NEEDS]
    if bad:
        raise ValueError(f"unknown data need(s) {bad}; choose from {DATA_NEEDS}")

    def decorate(cls: M) -> M:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} must be a dataclass to be registered")
        key = (track, name)
        if key in _REGISTRY and _REGISTRY[key].cls is not cls:
            raise ValueError(f"method {name!r} is already registered on track {track!r}")
        _REGISTRY[key] = MethodInfo(name, track, tuple(needs), paper, idea, cls)
        cls.method_name = name
        cls.needs = tuple(needs)
        return cls

    return decorate


def methods(track: str | None = None) -> list[MethodInfo]:
    """All registered methods (optionally of one track), sorted by track then name."""
    order = {t: i for i, t in enumerate(_load_tracks())}
    infos = [i for (t, _), i in _REGISTRY.items() if track is None or t == track]
    return sorted(infos, key=lambda i: (order.get(i.track, len(order)), i.name))


def get_method(name: str, track: str = "classifier") -> MethodInfo:
    """Look a method up by name on a track; unknown names raise ``ValueError`` listing the choices."""
    _load_tracks()
    if (track, name) in _REGISTRY:
        return _REGISTRY[(track, name)]
    choices = sorted(n for (t, n) in _REGISTRY if t == track)
    raise ValueError(
        f"unknown method {name!r} for track {track!r}{_did_you_mean(name, choices)}; "
        f"valid methods: {', '.join(choices)}"
    )


def build(name: str, hparams: Mapping[str, Any], track: str = "classifier") -> Any:
    """Instantiate method ``name`` with validated hyperparameters.

    Unknown keys raise ``ValueError`` naming the valid ones; strings (from the CLI)
    are converted to the field's type; a value of the wrong type is refused.
    """
    info = get_method(name, track)
    fields = {f.name: f for f in dataclasses.fields(info.cls)}
    unknown = [k for k in hparams if k not in fields]
    if unknown:
        k = unknown[0]
        raise ValueError(
            f"unknown hyperparameter {k!r} for method {name!r}{_did_you_mean(k, fields)}; "
            f"valid hyperparameters: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(info.cls)
    values = {k: coerce(v, hints[k], f"{name}.{k}") for k, v in hparams.items()}
    return info.cls(**values)


def coerce(value: Any, annotation: Any, what: str) -> Any:
    """Convert ``value`` to ``annotation`` (int, float, bool, str, Literal, Optional, tuple)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and value == str(choice)):
                return choice
        raise ValueError(f"{what} must be one of {', '.join(map(repr, args))}, got {value!r}")
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, what)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if errors else f"{what}: cannot use {value!r}")
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        inner = args[0] if args else str
        return tuple(coerce(v, inner, what) for v in items)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError(f"{what} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ValueError(f"{what} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"{what} must be a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{what} must be a string, got {value!r}")
    return value


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _load_tracks() -> list[str]:
    """Import every registered track's methods (they register themselves); returns the
    track names in order. A track whose dependencies are missing is not listed."""
    from obliviate.core.track import tracks

    return [t.name for t in tracks()]
