"""Entry point of `scprint-graph`: importing a command module registers its commands on the app."""

import logging

from cli.app import app


@app.callback()
def main(
    verbose: bool = False,
) -> None:
    """Gene networks from the scPRINT single-cell foundation model."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# Command modules are added here as they land (one import per module).
import cli.train  # noqa: F401,E402
import cli.model  # noqa: F401,E402
import cli.serve  # noqa: F401,E402
import cli.store  # noqa: F401,E402
import cli.ingest  # noqa: F401,E402
import cli.grn  # noqa: F401,E402

if __name__ == "__main__":
    app()
