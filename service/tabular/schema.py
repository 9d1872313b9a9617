"""The column schema's vocabulary: kinds, what counts as missing, and one column's description.

Free of pyarrow, so the processes that only train or predict (not read uploads) never import it.
"""

from __future__ import annotations

from dataclasses import dataclass

# pandas' default missing-value strings (pandas._libs.parsers.STR_NA_VALUES), and the empty cell.
MISSING_CELLS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                 "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
MAX_CATEGORIES = 50
OTHER = "other"
TEXT_MIN_DISTINCT = 20  # Fewer distinct values than this are categories, however unique.
MAX_LISTED_CELLS = 10  # Per column: enough to see what is wrong.
KINDS = ("numeric", "boolean", "categorical", "datetime", "text", "identifier", "constant")
EXCLUDED_KINDS = ("text", "identifier", "constant", "ignored")
OVERRIDES = ("numeric", "boolean", "categorical", "datetime", "text", "ignore")
UNNAMED = "Unnamed: 0"  # pandas' own name for a header cell left empty.


@dataclass
class Column:
    """One column of the schema as the API shows it (``to_json``)."""

    name: str
    kind: str
    missing: int
    distinct: int
    reason: str
    categories: list[str] | None = None  # Categorical only; ``other`` last when rare values were folded.
    other: bool = False  # Whether rare values were folded into ``other``.

    @property
    def used(self) -> bool:
        return self.kind not in EXCLUDED_KINDS

    def to_json(self) -> dict:
        shown = {"name": self.name, "kind": self.kind, "missing": self.missing, "distinct": self.distinct,
                 "reason": self.reason}
        if self.categories is not None:
            shown.update(categories=self.categories, other=self.other)
        return shown
