"""Everything wrong with an uploaded table, collected before anything is refused."""

from __future__ import annotations


class Problems(ValueError):
    """Each problem a dict as :class:`service.errors.FieldError` holds it (field, column, row, detail)."""

    def __init__(self, problems: list[dict]):
        super().__init__("; ".join(problem["detail"] for problem in problems))
        self.problems = problems
