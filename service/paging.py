"""Pages of lists: newest first, by keyset on (created_at, id), with the path of the next page.

A keyset cursor, unlike an offset, neither skips nor repeats rows when new ones arrive between
two page requests.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CURSOR_PATTERN = r"^[0-9]{1,17}\.[0-9A-Za-z_-]{1,64}$"  # "<created_at in µs since 1970>.<id>"; 17 digits stay within datetime.


def encode_cursor(created_at: datetime, row_id: str) -> str:
    return f"{(created_at - EPOCH) // timedelta(microseconds=1)}.{row_id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Inverse of :func:`encode_cursor`, for a cursor that matched :data:`CURSOR_PATTERN`."""
    microseconds, row_id = cursor.split(".", 1)
    return EPOCH + timedelta(microseconds=int(microseconds)), row_id


def newest_first(
    session: Session, table, query: Select, cursor: str | None, page_size: int, path: str, params: dict
) -> tuple[list, str | None, str | None]:
    """One page of ``query`` over ``table``, newest first, and the path and cursor of the next page (None, None
    on the last one).

    ``params`` are the list's other query parameters, repeated in the next page's path.
    """
    if cursor is not None:
        created_at, row_id = decode_cursor(cursor)
        query = query.where(
            or_(table.created_at < created_at, and_(table.created_at == created_at, table.id < row_id))
        )
    rows = session.scalars(query.order_by(table.created_at.desc(), table.id.desc()).limit(page_size + 1)).all()
    if len(rows) <= page_size:
        return list(rows), None, None
    rows = rows[:page_size]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    following = {**{name: value for name, value in params.items() if value is not None}, "cursor": next_cursor}
    return list(rows), f"{path}?{urlencode(following)}", next_cursor
