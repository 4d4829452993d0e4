"""Which errors reach clients verbatim and which are masked.

Expected failures (an unknown gene, a page larger than the cap, a malformed gene list) raise `UserError`
low in the resolvers; GraphQL syntax, validation and limit errors come from graphql-core without an original
exception. Both pass through. Everything else is an unexpected error: the client sees "Unexpected error."
with the path, and the server log gets the traceback (never the client: no stack traces or SQL leak out).
"""

import logging

from graphql import GraphQLError
from strawberry import Schema
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext

log = logging.getLogger("server.errors")

MASKED_MESSAGE = "Unexpected error."


class UserError(Exception):
    """An expected failure caused by the request; its message is shown to the client as is."""


def is_expected(error: GraphQLError) -> bool:
    """True when the client may see this error's message (syntax, validation, limits, `UserError`)."""
    original = error.original_error
    return original is None or isinstance(original, UserError | GraphQLError)


def mask_errors() -> MaskErrors:
    """The strawberry extension (a new one per request) that replaces every unexpected error's message."""
    return MaskErrors(should_mask_error=lambda error: not is_expected(error), error_message=MASKED_MESSAGE)


class LoggingSchema(Schema):
    """A strawberry schema that logs unexpected errors with their traceback and expected ones briefly."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if is_expected(error):
                log.info("request error: %s", error.message)
            else:
                log.error("unexpected error at %s", error.path, exc_info=error.original_error)
