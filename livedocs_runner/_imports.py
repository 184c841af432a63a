"""Process start-up tweaks for the ``livedocs`` command (private).

``import nbformat`` imports jsonschema, whose format checkers import ``rfc3987_syntax`` when it is
installed (jupyter-events pulls it in): that builds a Lark grammar at import time, about 0.8 s of
CPU in every ``livedocs run`` that executes a notebook, for IRI format checks nbformat never uses.
"""

from __future__ import annotations

import sys

UNUSED_OPTIONAL = ("rfc3987_syntax",)


def skip_unused_optional_imports() -> None:
    """Make jsonschema skip its optional IRI checker in this process (the CLI's; never a kernel's).

    Only when nothing imported it yet; a later explicit ``import rfc3987_syntax`` here fails.
    """
    for name in UNUSED_OPTIONAL:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "import fails", by design
