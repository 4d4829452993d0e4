"""Cursor pagination info shared by every connection type."""

import strawberry

from schema.rows import Page


@strawberry.type(description="Where a page ends and whether another follows.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when another page follows this one.")
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to get the next page; null on the last page."
    )

    @classmethod
    def from_row(cls, page: Page) -> "PageInfo":
        return cls(has_next_page=page.next_cursor is not None, end_cursor=page.next_cursor)
