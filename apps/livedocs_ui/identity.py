"""Who is asking, and may they: the request's identity and the one role check every page calls.

``livedocs app`` sets the mode in the environment (``LIVEDOCS_AUTH`` for OpenID Connect sign-in through
``st.login``; ``LIVEDOCS_AUTH_HEADER`` + ``LIVEDOCS_TRUSTED_PROXY`` behind a reverse proxy; neither: no
sign-in) and the roles (``LIVEDOCS_ACCESS``). The core decides (:mod:`livedocs_runner.auth`,
:mod:`livedocs_runner.access`); this module only asks it, shows the sign-in / refusal pages and writes
the access log. Pages call :func:`require` (or :func:`allowed` to decide what to draw): a page without a
check is a bug, a check in one place cannot be forgotten differently on each page.

A user who may not view a notebook is told the same as for one that does not exist
(:func:`not_found`), so the app never says which notebooks or runs there are.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from livedocs_runner.access import AccessDenied, AccessPolicy, Identity, Role, policy_from_env, with_rules
from livedocs_runner.auth import AuthSettings, identity_from_claims, identity_from_proxy, settings_from_env
from livedocs_runner.errors import LivedocsError
from livedocs_runner.execute import RunOptions
from livedocs_runner.provenance import current_user
from livedocs_runner.records.store import RunRecord, now

from .safe import log, public, roots, text

SIGNED_IN = "livedocs:signed-in"  # session flag: the sign-in was logged for this session
DENIED = "livedocs:denied"  # session set: page-level refusals already logged (a rerun is not a new attempt)
# Headers with which a proxy names the client. Uvicorn (Streamlit's server) believes them from loopback unless
# FORWARDED_ALLOW_IPS is empty, and then reports the *client's* address as the peer: trusting the peer would
# then mean trusting whatever address a local process writes into the header.
_FORWARDING = ("x-forwarded-for", "forwarded")


# --- settings (from the environment `livedocs app` prepared) ----------------------------------------------

# functools caches, not st.cache_resource: pages ask many times per script run, and Streamlit's cache hashes the
# arguments on every call (~0.1 ms each); these are pure functions of small hashable values
@functools.lru_cache(maxsize=8)
def _settings(env: tuple[tuple[str, str], ...], stamp: int) -> AuthSettings:
    return settings_from_env(dict(env))


def _env(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, os.environ[n]) for n in names if n in os.environ)


def _mtime(path: str | None) -> int:
    try:
        return Path(path).stat().st_mtime_ns if path else 0
    except OSError:
        return -1


def settings() -> AuthSettings:
    """How identity is established (``mode``: none | oidc | proxy); a ConfigError if the settings broke."""
    env = _env("LIVEDOCS_AUTH", "LIVEDOCS_AUTH_HEADER", "LIVEDOCS_TRUSTED_PROXY", "LIVEDOCS_AUTH_GROUPS_HEADER")
    return _settings(env, _mtime(os.environ.get("LIVEDOCS_AUTH")))


@functools.lru_cache(maxsize=8)
def _policy(env: tuple[tuple[str, str], ...], stamp: int, names: tuple[str, ...]) -> AccessPolicy:
    return policy_from_env(dict(env), names)


def policy() -> AccessPolicy:
    """The roles: the access file (``LIVEDOCS_ACCESS``, reread when it or the catalog changes) plus the
    ``access:`` blocks of the configs that load (:func:`livedocs_runner.access.with_rules`: the highest role
    wins); open when sign-in is off. With sign-in on, a user no rule names has no role (default-deny), and a
    config that does not load grants nothing."""
    from .services import catalog

    entries = catalog()
    env = _env("LIVEDOCS_ACCESS")
    mode = settings().mode
    key = (env, _mtime(os.environ.get("LIVEDOCS_ACCESS")), mode, id(entries))
    known = _POLICIES.get(key)
    if known is not None and known[0] is entries:  # pages ask many times per script run
        return known[1]
    if not env and mode != "none":
        base = AccessPolicy()  # no file: the configs' own rules only (``livedocs app`` checks there are some)
    else:
        base = _policy(env, key[1], tuple(e.name for e in entries))
    found = with_rules(base, [rule for e in entries if e.config is not None for rule in e.config.access])
    if len(_POLICIES) > 8:
        _POLICIES.clear()
    _POLICIES[key] = (entries, found)  # the catalog list is kept with it: its id is not reused while cached
    return found


# (access env, access file mtime, sign-in mode, id of the catalog list) -> (that list, the merged policy)
_POLICIES: dict[tuple[Any, ...], tuple[list[Any], AccessPolicy]] = {}


# --- who is asking --------------------------------------------------------------------------------------

def request() -> tuple[Mapping[str, Any], str | None]:
    """This session's request headers and the raw TCP peer address (loopback included; ``st.context.ip_address``
    turns loopback into None). The seam the tests replace to present a proxy's headers without a server."""
    address = None
    try:
        from streamlit.runtime.context import _get_client_context  # the peer as the server saw it

        client = _get_client_context()
        address = client.remote_ip if client is not None else None
    except Exception:  # noqa: BLE001 - a Streamlit without it: the public value (None for loopback: refused)
        address = st.context.ip_address
    headers = st.context.headers  # every value of a header sent on several lines: the core refuses a repeated name
    return {name: headers.get_all(name) for name in headers}, address


def address() -> str | None:
    try:
        return request()[1]
    except Exception:  # noqa: BLE001 - the log entry goes without it
        return None


def _typed_name() -> str:
    return (st.session_state.get("user") or "").strip() or current_user()


def identity() -> Identity:
    """The identity of this request; AccessDenied when there is none (not signed in, untrusted proxy ...)."""
    mode = settings().mode
    if mode == "oidc":
        return identity_from_claims(st.user.to_dict(), settings())
    if mode == "proxy":
        headers, peer = request()
        forwarded = {str(name).lower() for name in headers}.intersection(_FORWARDING)
        if forwarded and os.environ.get("FORWARDED_ALLOW_IPS") != "":
            raise AccessDenied("the request carries a forwarding header the web server may have believed, so its "
                               "address cannot be trusted.",
                               hint="Start the app with `livedocs app` (it sets FORWARDED_ALLOW_IPS to nothing).")
        return identity_from_proxy(headers, peer, settings())
    return Identity(name=_typed_name(), auth="none")


def who() -> Identity | None:
    """The identity, or None when the request has none."""
    try:
        return identity()
    except LivedocsError:
        return None


def run_options(**options: Any) -> RunOptions:
    """RunOptions for a run started from the app: recorded as this identity (and how it was established)."""
    me = identity()
    return RunOptions(trigger="app", user=me.name, auth=me.auth, **options)


# --- the access log ---------------------------------------------------------------------------------------

def record(action: str, target: str = "", detail: str = "", *, user: Identity | None = None) -> None:
    """Append one entry to the access log (never raises into the page: a failed write goes to the server log)."""
    from .services import services

    me = user or who()
    try:
        from livedocs_runner.records.access_log import AccessEvent, append_access

        append_access(services().store, AccessEvent(at=now(), user=me.name if me else "", auth=me.auth if me else
                                                    settings().mode, action=action, target=target,
                                                    address=address(), detail=detail))
    except Exception as exc:  # noqa: BLE001
        log.error("could not write the access log (%s %s): %s", action, target, exc)


def record_denied_once(target: str, detail: str, user: Identity | None = None) -> None:
    """A refused page view, logged once per session (every widget change reruns the page)."""
    seen = st.session_state.setdefault(DENIED, set())
    if (target, detail) not in seen:
        seen.add((target, detail))
        record("denied", target, detail, user=user)


# --- the gate: sign-in page, refusal page, sidebar ---------------------------------------------------------

def gate() -> Identity:
    """At the top of every page: the identity, or a sign-in / refusal page and ``st.stop()``."""
    mode = settings().mode
    if mode == "oidc" and not st.user.is_logged_in:
        st.session_state.pop(SIGNED_IN, None)
        _sign_in_page()
        st.stop()
    try:
        me = identity()
    except AccessDenied as exc:
        claimed = _claimed_name()
        record_denied_once("app", f"refused: {exc}" + (" (the name is as claimed, not verified)" if claimed else ""),
                           user=Identity(name=claimed, auth=mode))
        st.title("livedocs")
        st.error(text(f"You do not have access to this app: {public(str(exc), roots())}"))
        if mode == "oidc":
            st.button("Sign out", key="sign-out", on_click=_sign_out)
        st.stop()
    if mode != "none" and st.session_state.get(SIGNED_IN) != me.name:
        st.session_state[SIGNED_IN] = me.name
        record("sign-in", "app", f"signed in ({mode})", user=me)
    return me


def _claimed_name() -> str:
    """Who a refused request said it was (for the log only; never believed)."""
    try:
        if settings().mode == "oidc":
            return str(st.user.to_dict().get(settings().user_claim) or "")
        wanted = settings().header.lower()
        value = next((v for k, v in request()[0].items() if str(k).lower() == wanted), "")
        return (",".join(value) if isinstance(value, list | tuple) else str(value or ""))[:200]
    except Exception:  # noqa: BLE001
        return ""


def _sign_in_page() -> None:
    st.title("livedocs")
    st.write("Sign in to see and run this app's notebooks.")
    st.button("Sign in", type="primary", key="sign-in", on_click=st.login)


def _sign_out() -> None:
    me = who()
    if me is not None:
        record("sign-out", "app", "signed out", user=me)
    st.session_state.pop(SIGNED_IN, None)
    st.logout()


def sidebar_identity() -> None:
    """Who the runs are recorded as: the name field (no sign-in), or the verified name and Sign out."""
    mode = settings().mode
    if mode == "none":
        if "user" not in st.session_state:
            st.session_state["user"] = current_user()
        st.text_input("Your name", key="user", help="Recorded with the runs you start.")
        st.caption(text(f"Not signed in — runs are recorded as {_typed_name()} (unverified)"))
        return
    me = identity()
    st.markdown(text(f"Signed in as {me.name}"))
    if mode == "oidc":
        st.button("Sign out", key="sign-out", on_click=_sign_out, width="stretch")
    else:
        st.caption("Signed in through your organisation's sign-in proxy.")


# --- roles ---------------------------------------------------------------------------------------------------

def role(config_name: str | None) -> Role:
    """This user's role on a config (NONE for a run without a config, unless nobody's access is checked)."""
    me = who()
    pol = policy()
    if me is None:
        return Role.NONE
    if config_name is None:
        return Role.ADMIN if pol.is_open else Role.NONE
    return pol.role(me, config_name)


def allowed(needed: Role, config_name: str | None) -> bool:
    return role(config_name) >= needed


def open_access() -> bool:
    """No roles are checked (no sign-in and no access file): today's single-user app."""
    return policy().is_open


def visible(names: Iterable[str]) -> list[str]:
    return [n for n in names if allowed(Role.VIEWER, n)]


def visible_runs(runs: list[RunRecord]) -> list[RunRecord]:
    """The runs whose config this user may view (asked once per config, not once per run)."""
    ok = {name: allowed(Role.VIEWER, name) for name in {config_of(r) for r in runs}}
    return [r for r in runs if ok[config_of(r)]]


def visible_jobs(jobs: list[Any]) -> list[Any]:
    """The queue's entries (``JobStatus``) for runs this user may view: counts and places in the queue never
    include runs of notebooks they may not see (with roles off: all of them)."""
    if open_access():
        return jobs
    from .services import services

    store, found = services().store, []
    for job in jobs:
        try:
            found.append((job, store.get(job.id)))
        except LivedocsError:  # gone meanwhile: not counted
            continue
    keep = {run.id for run in visible_runs([run for _, run in found])}
    return [job for job, run in found if run.id in keep]


def may_view_run(run_id: str) -> bool:
    """Whether this user may view run ``run_id`` (False for one that does not exist): to name a run a record
    points at (the run a cache hit reused) only when the user could open it."""
    from .services import services

    try:
        run = services().store.get(run_id)
    except LivedocsError:
        return False
    return allowed(Role.VIEWER, config_of(run))


def queue_place(run_id: str, place: int | None) -> str:
    """Where a waiting run stands, counting only the waiting runs this user may see ahead of it."""
    if not place:
        return "waiting to start"
    if open_access():
        return f"number {place} in the queue"
    from .services import services

    ahead = [j for j in visible_jobs(services().queue.jobs()) if j.status == "queued" and j.place and j.place < place]
    return f"number {len(ahead) + 1} among the waiting runs you can see"


_ACTIONS = {Role.VIEWER: "view", Role.RUNNER: "run", Role.ADMIN: "administer"}


def require(needed: Role, config_name: str | None, *, kind: str = "notebook", name: str | None = None,
            action: str | None = None) -> None:
    """Raise AccessDenied (and log ``denied``) unless this user holds ``needed`` on ``config_name``.

    ``kind`` and ``name`` say what was asked for (``notebook credit_risk``, ``run 3f2a9c1``). Without the
    viewer role the message is the one for something that does not exist (:func:`not_found`).
    """
    has = role(config_name)
    if has >= needed:
        return
    name = name if name is not None else config_name or ""
    doing = action or _ACTIONS.get(needed, "use")
    record("denied", f"{kind} {name}", f"{doing} {config_name or '(no config)'}: needs the "
                                        f"{needed.name.lower()} role, has {has.name.lower()}")
    if has < Role.VIEWER:
        raise AccessDenied(not_found(kind, name))
    raise AccessDenied(f"You do not have access to {doing} {config_name}: that needs the "
                       f"{needed.name.lower()} role, yours is {has.name.lower()}.",
                       hint="Ask an admin of this app for it.")


def not_found(kind: str, name: str) -> str:
    """What anyone is told about a notebook or run they may not see: the same as when it does not exist."""
    return f"no {kind} {name[:80]!r} here, or you do not have access to it."


def config_of(run: RunRecord) -> str | None:
    """The config name a run belongs to, from its record (the config file's name)."""
    return Path(run.config).stem if run.config else None


def require_run(run: RunRecord, needed: Role = Role.VIEWER, *, action: str | None = None) -> None:
    require(needed, config_of(run), kind="run", name=run.id, action=action)


def runs(ids: Iterable[str], needed: Role = Role.VIEWER) -> list[RunRecord]:
    """The runs asked for (ids or prefixes), each checked. With roles on, a run that does not exist and one the
    user may not see get the same answer (:func:`not_found`); without, the store's own message."""
    from .services import services

    found = []
    for asked in ids:
        try:
            run = services().store.get(asked)
        except LivedocsError:
            if open_access():
                raise
            raise AccessDenied(not_found("run", asked)) from None
        require(needed, config_of(run), kind="run", name=asked)
        found.append(run)
    return found


def may_cancel(run: RunRecord) -> bool:
    """Admins cancel any run; runners their own (same verified name, established the same way)."""
    name = config_of(run)
    if allowed(Role.ADMIN, name):
        return True
    me = who()
    return (me is not None and allowed(Role.RUNNER, name) and run.user == me.name
            and getattr(run, "auth", me.auth) == me.auth)


def site_admin() -> bool:
    """May see the access log: admin on every notebook of this app (the log covers them all)."""
    from .services import catalog

    if open_access():
        return True
    names = [e.name for e in catalog()]
    return bool(names) and all(allowed(Role.ADMIN, n) for n in names)


def refused(exc: LivedocsError) -> None:
    """Show a refusal as the app shows any error."""
    st.error(text(f"Error: {public(str(exc), roots())}"))
