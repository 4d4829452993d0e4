"""The project's base class for expected errors: bad input a user can fix (a file, an option, a config).

It subclasses ``ValueError`` so the project's ``msg = ...; raise ValueError(msg)`` convention and existing
``except ValueError`` handlers keep working. Raise it (or a subclass) with a complete one-line message that
names the thing at fault and, where there is one, the fix. The ``scprint-graph`` command shows such errors
as one line and exits with status 1 (a traceback only with ``--verbose``); code that must tell a user's
mistake from a bug (e.g. ingestion logging a failed dataset) catches ``InputError``.
"""


class InputError(ValueError):
    """Bad input a user can fix; the message is one complete line naming what is wrong."""
