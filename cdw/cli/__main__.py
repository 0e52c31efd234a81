"""``python -m cdw.cli``: the same command line as the ``cdw`` script."""

from cdw.cli import app

app()
