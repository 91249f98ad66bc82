"""Domain errors shared by the routing, picking and allocation packages.

Every error names the field path and the offending value, so the service layer can turn it into a
``google.rpc.BadRequest`` field violation (or NOT_FOUND) without parsing messages.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One problem with the input: where it is (``bins[3].segment``) and what is wrong."""

    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}"


class InvalidInput(ValueError):
    """The caller's data is wrong; carries every violation found, not just the first."""

    def __init__(self, violations: list[FieldViolation] | FieldViolation) -> None:
        self.violations: tuple[FieldViolation, ...] = (
            (violations,) if isinstance(violations, FieldViolation) else tuple(violations)
        )
        super().__init__("; ".join(str(v) for v in self.violations))

    @classmethod
    def single(cls, field: str, description: str) -> InvalidInput:
        """Build an error with one violation."""
        return cls(FieldViolation(field, description))


class NotFound(LookupError):
    """A named thing (warehouse layout, bin, depot) does not exist."""

    def __init__(self, kind: str, name: str, field: str = "") -> None:
        self.kind = kind
        self.name = name
        self.field = field
        where = f" ({field})" if field else ""
        super().__init__(f"{kind} {name!r} not found{where}")
