"""Execute requests a run sends ahead run only after the cell before them succeeded (private).

Loaded by path by the fork template (``_forktemplate.py``), which runs without this package, and installed in
each forked kernel. A run's client sends the next cells' requests while the kernel still runs the current one
(``_nbclient.RunClient``), so the kernel never waits for the runner between cells. What makes that safe is
here, in the kernel: each request sent ahead names the request it follows (``metadata["livedocs_after"]``, a
msg_id), and runs only if that request ran and its cell did not fail a run that stops on errors. Otherwise it is
aborted as ipykernel aborts requests queued behind a failed cell (an ``aborted`` reply, never run), and so is
every request after it. ipykernel's own abort covers only requests already queued when the cell failed; the
chain covers any that arrive later too, whatever the timing. A request without the key is handled as always.
"""

from __future__ import annotations

from typing import Any

AFTER_KEY = "livedocs_after"  # in an execute_request's metadata: the msg_id of the request it must follow


class RequestChain:
    """Usage in the child: ``RequestChain().install(app.kernel)``; True when the kernel honours the key."""

    def __init__(self) -> None:
        self.may_follow: dict[str, bool] = {}  # msg_id of a request handled -> whether the ones after it may run

    def install(self, kernel: Any) -> bool:
        if not all(callable(getattr(kernel, name, None))
                   for name in ("should_handle", "finish_metadata", "_send_abort_reply")):
            return False  # another ipykernel: the runner sends one request at a time, as before
        should_handle, finish_metadata = kernel.should_handle, kernel.finish_metadata

        def should_handle_in_chain(stream: Any, msg: dict[str, Any], idents: Any) -> Any:
            if msg["header"].get("msg_type") == "execute_request":
                after = (msg.get("metadata") or {}).get(AFTER_KEY)
                if after is not None and not self.may_follow.get(str(after), False):
                    kernel._send_abort_reply(stream, msg, idents)  # its finish_metadata: nothing may follow it
                    return False  # (the idle status follows, as for any request not handled)
            return should_handle(stream, msg, idents)

        def finish_metadata_in_chain(parent: dict[str, Any], metadata: Any, reply_content: dict[str, Any]) -> Any:
            # every execute reply passes here, aborted ones included (ipykernel's and ours)
            content = parent.get("content") or {}
            self.may_follow[str(parent["header"].get("msg_id"))] = (
                reply_content.get("status") == "ok"
                or (reply_content.get("status") == "error"
                    and (content.get("silent", False) or not content.get("stop_on_error", True))))
            return finish_metadata(parent, metadata, reply_content)

        kernel.should_handle = should_handle_in_chain
        kernel.finish_metadata = finish_metadata_in_chain
        return True
