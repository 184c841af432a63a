"""How the app establishes who someone is: OpenID Connect sign-in, a trusted reverse proxy, or nothing.

UI-free: ``livedocs app`` validates these settings before Streamlit starts and writes what ``st.login``
reads; the app turns ``st.user`` or the request's headers into an :class:`~livedocs_runner.access.Identity`
with :func:`identity_from_claims` / :func:`identity_from_proxy`.

An auth file (TOML, or YAML) for OpenID Connect::

    server_metadata_url = "https://login.example.com/.well-known/openid-configuration"
    client_id = "livedocs"
    client_secret_env = "LIVEDOCS_CLIENT_SECRET"     # or client_secret = "..." (file must be chmod 600)
    cookie_secret_env = "LIVEDOCS_COOKIE_SECRET"     # or cookie_secret = "..." (32+ random characters)
    redirect_uri = "https://livedocs.example.com/oauth2callback"
    user_claim = "email"                             # default
    groups_claim = "groups"                          # optional
    scopes = "openid email profile groups"           # optional; default "openid email profile"

Secrets are kept in :class:`Secret` values: their repr and str never show them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .access import AccessDenied, Identity
from .errors import ConfigError, did_you_mean, located
from .params import quote

MODES = ("none", "oidc", "proxy")
DEFAULT_SCOPES = "openid email profile"
MIN_COOKIE_SECRET = 32
MAX_AUTH_BYTES = 64 * 1024
CALLBACK_PATH = "/oauth2callback"  # st.login only accepts a redirect URI ending with it
_KEYS = ("server_metadata_url", "client_id", "client_secret", "client_secret_env", "cookie_secret",
         "cookie_secret_env", "redirect_uri", "user_claim", "groups_claim", "scopes")
_REQUIRED = ("server_metadata_url", "client_id", "client_secret", "cookie_secret", "redirect_uri")
_SECRETS = ("client_secret", "cookie_secret")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Secret:
    """A secret string that never shows itself in repr, str, f-strings or logs; ``reveal()`` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return "Secret('****')" if self._value else "Secret('')"

    __str__ = __repr__

    def __reduce__(self):  # pickling must not write it out either
        raise TypeError("a Secret is not pickled (it would be written out in clear)")


@dataclass(frozen=True, kw_only=True)
class AuthSettings:
    """How the app knows who someone is. Usage: ``AuthSettings(mode="none")``, or :func:`load_auth`."""

    mode: str  # "none" | "oidc" | "proxy"
    # oidc
    metadata_url: str = ""
    client_id: str = ""
    client_secret: Secret = field(default_factory=lambda: Secret(""), repr=False)
    cookie_secret: Secret = field(default_factory=lambda: Secret(""), repr=False)
    redirect_uri: str = ""
    user_claim: str = "email"
    groups_claim: str | None = None
    scopes: str = DEFAULT_SCOPES
    # proxy
    header: str = ""
    trusted: tuple[Network, ...] = ()
    groups_header: str | None = None
    # the environment variables the secrets were read from (kept out of the app's and kernels' environment)
    secret_env: tuple[str, ...] = ()
    # where the settings came from (for messages); lines of the auth file's keys
    source: Path | None = None
    lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown auth mode {quote(self.mode)}.", hint=f"Use one of: {', '.join(MODES)}.")

    def where(self, key: str) -> str:
        """``auth.toml, line 3`` for a key of the auth file (or ``--auth-header`` settings)."""
        if self.source is None:
            return "the sign-in settings"
        line = self.lines.get(key)
        return f"{self.source}, line {line}" if line else str(self.source)


# -- identities ------------------------------------------------------------------------------------------------

def identity_from_claims(claims: Mapping[str, Any], settings: AuthSettings) -> Identity:
    """The verified identity from ``st.user``'s claims (a dict); AccessDenied when not signed in or the
    user claim is missing."""
    if not claims or claims.get("is_logged_in") is False:
        raise AccessDenied("not signed in.", hint="Sign in to use this app.")
    name = claims.get(settings.user_claim)
    if not isinstance(name, str) or not name.strip() or not name.strip().isprintable():
        raise AccessDenied(f"the sign-in token has no usable {settings.user_claim!r} claim.",
                           hint=f"Ask the provider's admin to release the {settings.user_claim!r} claim to this app, "
                                "or set user_claim in the auth file to a claim it has.")
    groups: frozenset[str] = frozenset()
    if settings.groups_claim:
        groups = _groups(claims.get(settings.groups_claim))
    return Identity(name=name.strip(), auth="oidc", groups=groups)


def identity_from_proxy(headers: Mapping[str, str], address: str | None, settings: AuthSettings) -> Identity:
    """The identity a trusted reverse proxy put in ``settings.header``. ``headers`` may be ``st.context.headers``
    as it is (its ``get_all`` gives every line of a repeated header) or a mapping whose values are strings
    or lists of strings.

    ``address`` is the TCP peer of the request. Give the raw peer (Streamlit's session client
    ``client_context.remote_ip``), not ``st.context.ip_address``, which turns loopback into None.
    Raises AccessDenied when the address is missing or not in ``settings.trusted``, or the header is
    missing/empty: a header from anyone else is not believed.
    """
    if not address or not trusted_address(address, settings.trusted):
        raise AccessDenied(f"request from {address or 'an unknown address'} did not come through a trusted proxy.",
                           hint="Open the app through the company's sign-in proxy.")
    name = _header(headers, settings.header)
    if not name or not name.isprintable() or "," in name:  # sent twice (joined by ','): neither is believed
        raise AccessDenied(f"the proxy sent no usable {settings.header} header.",
                           hint="Check that the proxy signs users in and sets that header.")
    groups: frozenset[str] = frozenset()
    if settings.groups_header:
        raw = _header(headers, settings.groups_header)
        groups = frozenset(g.strip() for g in raw.split(",") if g.strip()) if raw else frozenset()
    return Identity(name=name, auth="proxy", groups=groups)


def trusted_address(address: str, trusted: tuple[Network, ...]) -> bool:
    """Is ``address`` (IPv4 or IPv6, an IPv4-mapped IPv6 address counts as IPv4) in one of ``trusted``?"""
    try:
        ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in trusted)


def parse_trusted(value: str, where: str = "--trusted-proxy") -> tuple[Network, ...]:
    """``"127.0.0.1/32,::1"`` -> networks; ConfigError quoting the bad part."""
    networks = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=True))
        except ValueError as exc:
            raise ConfigError(f"{where}: {quote(part)} is not an address or network ({exc}).",
                              hint="Write addresses or CIDR networks separated by commas, e.g. 127.0.0.1/32,10.0.0.0/8.") from None
    if not networks:
        raise ConfigError(f"{where} names no address.", hint="Give the proxy's address, e.g. --trusted-proxy 127.0.0.1/32.")
    return tuple(networks)


def proxy_settings(header: str, trusted: str, groups_header: str | None = None) -> AuthSettings:
    """Settings for ``--auth-header NAME --trusted-proxy CIDR,...``; the header without proxies is refused."""
    header = header.strip()
    if not re.fullmatch(r"[A-Za-z0-9-]+", header):
        raise ConfigError(f"--auth-header: {quote(header)} is not an HTTP header name.", hint="E.g. --auth-header X-Forwarded-Email.")
    if not trusted.strip():
        raise ConfigError(f"--auth-header {header} needs --trusted-proxy: without it anyone could send that header.",
                          hint="Give the proxy's address, e.g. --trusted-proxy 127.0.0.1/32.")
    if groups_header is not None and not re.fullmatch(r"[A-Za-z0-9-]+", groups_header.strip()):
        raise ConfigError(f"--auth-groups-header: {quote(groups_header)} is not an HTTP header name.",
                          hint="E.g. --auth-groups-header X-Forwarded-Groups.")
    return AuthSettings(mode="proxy", header=header, trusted=parse_trusted(trusted),
                        groups_header=groups_header.strip() if groups_header else None)


def settings_from_env(environ: Mapping[str, str]) -> AuthSettings:
    """The app's settings from what ``livedocs app`` put in the environment (LIVEDOCS_AUTH, or
    LIVEDOCS_AUTH_HEADER + LIVEDOCS_TRUSTED_PROXY [+ LIVEDOCS_AUTH_GROUPS_HEADER]); mode "none" when unset."""
    path = (environ.get("LIVEDOCS_AUTH") or "").strip()
    header = (environ.get("LIVEDOCS_AUTH_HEADER") or "").strip()
    if path and header:
        raise ConfigError("both LIVEDOCS_AUTH and LIVEDOCS_AUTH_HEADER are set.",
                          hint="Use sign-in (--auth) or a trusted proxy (--auth-header), not both.")
    if path:  # the app: st.login reads the secrets from the file `livedocs app` wrote
        return load_auth(Path(path), environ, resolve_secrets=False)
    if header:
        return proxy_settings(header, environ.get("LIVEDOCS_TRUSTED_PROXY") or "",
                              (environ.get("LIVEDOCS_AUTH_GROUPS_HEADER") or "").strip() or None)
    return AuthSettings(mode="none")


# -- the auth file ---------------------------------------------------------------------------------------------

def load_auth(path: Path, environ: Mapping[str, str] | None = None, *, resolve_secrets: bool = True) -> AuthSettings:
    """Read an OpenID Connect auth file (TOML, or YAML for .yaml/.yml); ``*_env`` keys read the value from
    that environment variable. ConfigError with file and line for anything missing or malformed.

    ``resolve_secrets=False`` (what the running app uses: ``st.login`` reads the secrets from the file
    ``livedocs app`` wrote, and the secret variables are kept out of the app's and kernels' environment)
    checks that the secrets are configured without reading them: the Secret values stay empty."""
    environ = os.environ if environ is None else environ
    path = Path(path)
    data, lines = _read(path)
    where = lambda key: located(path, lines.get(key), "").rstrip(": ")  # noqa: E731
    for key in data:
        if key not in _KEYS:
            guess = did_you_mean(str(key), _KEYS)
            raise ConfigError(f"{where(key)}: unknown key {quote(key)}.", hint=guess or f"Known keys: {', '.join(_KEYS)}.")
    values: dict[str, Any] = {}
    secret_env: list[str] = []
    for key in _KEYS:
        if key in data and not isinstance(data[key], str):
            raise ConfigError(f"{where(key)}: {key} must be text, got {quote(data[key])}.", hint="Quote it.")
    for key in _SECRETS:
        inline, env = data.get(key), data.get(f"{key}_env")
        if inline is not None and env is not None:
            raise ConfigError(f"{where(key + '_env')}: both {key} and {key}_env are given.", hint=f"Keep one ({key}_env is safer).")
        if env is not None and not resolve_secrets:
            values[key] = Secret("")
            secret_env.append(env.strip())
        elif env is not None:
            value = environ.get(env.strip())
            if not value:
                raise ConfigError(f"{where(key + '_env')}: the environment variable {quote(env)} ({key}_env) is not set.",
                                  hint=f"Export it before starting the app: export {env.strip()}=...")
            values[key] = Secret(value)
            secret_env.append(env.strip())
        elif inline is not None and inline.strip():
            values[key] = Secret(inline if resolve_secrets else "")
        if key + "_env" in lines:
            lines.setdefault(key, lines[key + "_env"])
    for key in _REQUIRED:
        if key not in values and not (data.get(key) or "").strip():
            raise ConfigError(f"{path}: {key} is missing.", hint=_HINTS[key])
    settings = AuthSettings(
        mode="oidc", metadata_url=data["server_metadata_url"].strip(), client_id=data["client_id"].strip(),
        client_secret=values["client_secret"], cookie_secret=values["cookie_secret"],
        redirect_uri=data["redirect_uri"].strip(), user_claim=(data.get("user_claim") or "email").strip(),
        groups_claim=(data.get("groups_claim") or "").strip() or None,
        scopes=" ".join((data.get("scopes") or DEFAULT_SCOPES).split()), source=path, lines=dict(lines),
        secret_env=tuple(secret_env))
    _check(settings, data, resolve_secrets)
    inline = [key for key in _SECRETS if key in data]
    if inline and os.name == "posix":
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{where(inline[0])}: the file holds {inline[0]} in clear but others may read it "
                              f"(mode {stat.S_IMODE(mode):o}).",
                              hint=f"Restrict it with `chmod 600 {path}`, or use {inline[0]}_env.")
    return settings


_HINTS = {
    "server_metadata_url": "Add the provider's discovery URL, e.g. server_metadata_url = \"https://login.example.com/.well-known/openid-configuration\".",
    "client_id": "Add the client id this app is registered with at the provider: client_id = \"...\".",
    "client_secret": "Add client_secret_env = \"NAME\" and export NAME=<the client secret>.",
    "cookie_secret": "Add cookie_secret_env = \"NAME\" and export NAME=$(python -c 'import secrets; print(secrets.token_urlsafe(32))').",
    "redirect_uri": "Add the app's address, e.g. redirect_uri = \"https://livedocs.example.com/oauth2callback\".",
}


def _check(settings: AuthSettings, data: Mapping[str, Any], resolve_secrets: bool = True) -> None:
    url = urlparse(settings.metadata_url)
    if url.scheme not in ("https", "http") or not url.hostname:
        raise ConfigError(f"{settings.where('server_metadata_url')}: {quote(settings.metadata_url)} is not an http(s) URL.",
                          hint="Give the provider's discovery URL (ending in /.well-known/openid-configuration).")
    if url.scheme == "http" and url.hostname not in _LOOPBACK:
        raise ConfigError(f"{settings.where('server_metadata_url')}: {quote(settings.metadata_url)} is plain http: "
                          "the provider's keys could be replaced on the way.", hint="Use its https URL.")
    redirect = urlparse(settings.redirect_uri)
    if redirect.scheme not in ("https", "http") or not redirect.netloc or not redirect.path.endswith(CALLBACK_PATH):
        raise ConfigError(f"{settings.where('redirect_uri')}: {quote(settings.redirect_uri)} is not an http(s) URL ending "
                          f"in {CALLBACK_PATH}.", hint=f"Give the app's address followed by {CALLBACK_PATH}, and register the same "
                          "URL at the provider.")
    if resolve_secrets and len(settings.cookie_secret.reveal()) < MIN_COOKIE_SECRET:
        raise ConfigError(f"{settings.where('cookie_secret')}: the cookie secret is shorter than {MIN_COOKIE_SECRET} characters.",
                          hint=_HINTS["cookie_secret"])
    for key in ("user_claim", "groups_claim"):
        value = data.get(key)
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.:/-]+", value.strip()):
            raise ConfigError(f"{settings.where(key)}: {quote(value)} is not a claim name.", hint="E.g. email, preferred_username, groups.")
    if "openid" not in settings.scopes.split():
        raise ConfigError(f"{settings.where('scopes')}: the scopes {quote(settings.scopes)} lack 'openid'.",
                          hint=f"Start them with openid, e.g. scopes = \"{DEFAULT_SCOPES}\".")


def _read(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The auth file's top-level mapping and the line of each key."""
    try:
        if path.exists() and not path.is_file():
            raise ConfigError(f"auth file {path} is not a regular file.", hint="Give the path of a .toml or .yaml file.")
        with path.open("rb") as handle:
            raw = handle.read(MAX_AUTH_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"auth file {path} does not exist.", hint="Check the path given with --auth or LIVEDOCS_AUTH.") from None
    except OSError as exc:
        raise ConfigError(f"auth file {path} cannot be read ({exc.strerror or exc}).") from None
    if len(raw) > MAX_AUTH_BYTES:
        raise ConfigError(f"auth file {path} is larger than {MAX_AUTH_BYTES // 1024} KB.", hint="It holds a few settings only.")
    if path.suffix.lower() in (".yaml", ".yml"):
        from .yamlfile import load_yaml

        doc = load_yaml(path)
        data = doc.data
        lines = {key[0]: line for key, line in doc.lines.items() if len(key) == 1}
    else:
        import tomllib

        try:
            text = raw.decode("utf-8")
            data = tomllib.loads(text)
        except UnicodeDecodeError:
            raise ConfigError(f"auth file {path} is not UTF-8 text.", hint="Save it as UTF-8.") from None
        except tomllib.TOMLDecodeError as exc:
            found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
            message = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", str(exc))
            where = f"{path}, line {found.group(1)}" if found else str(path)
            raise ConfigError(f"{where}: malformed TOML: {message}.",
                              hint="Write one `key = \"value\"` per line, with the value in double quotes.") from None
        lines = {}
        for number, line in enumerate(text.splitlines(), start=1):
            match = re.match(r"\s*\[*\s*([A-Za-z0-9_-]+)\s*[=\]]", line)
            if match:
                lines.setdefault(match.group(1), number)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: an auth file is a mapping of settings, not {quote(data)}.",
                          hint="See the README, section 'Sign-in and roles'.")
    for key, value in data.items():
        if isinstance(value, Mapping):
            raise ConfigError(f"{located(path, lines.get(key), '')}the section {quote(key)} is not expected: "
                              "the settings are top-level keys.", hint="Remove the [section] line.")
    return dict(data), lines


# -- the provider and Streamlit --------------------------------------------------------------------------------

def check_provider(settings: AuthSettings, timeout: float = 5.0) -> None:
    """Fetch the provider's metadata: ConfigError when it is unreachable or not an OpenID Connect
    discovery document (a JSON object with ``issuer`` and ``authorization_endpoint``)."""
    if settings.mode != "oidc":
        return
    import urllib.error
    import urllib.request

    where = settings.where("server_metadata_url")
    url = settings.metadata_url
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) checked in load_auth
            body = response.read(1024 * 1024 + 1)
    except urllib.error.HTTPError as exc:
        raise ConfigError(f"{where}: the provider answered {exc.code} {exc.reason} for {quote(url)}.",
                          hint="Check the URL: it usually ends in /.well-known/openid-configuration.") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"{where}: cannot reach the provider at {quote(url)} ({_one_line(reason)}).",
                          hint="Check the URL and that this server can reach the provider (network, proxy, firewall).") from None
    try:
        metadata = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(f"{where}: {quote(url)} did not answer with JSON.",
                          hint="Give the provider's discovery URL (ending in /.well-known/openid-configuration).") from None
    missing = [key for key in ("issuer", "authorization_endpoint") if not isinstance(metadata, dict) or not metadata.get(key)]
    if missing:
        raise ConfigError(f"{where}: {quote(url)} is not OpenID Connect discovery metadata (no {', '.join(missing)}).",
                          hint="Give the provider's discovery URL (ending in /.well-known/openid-configuration).")


def _one_line(reason: object) -> str:
    text = " ".join(str(reason).split())
    return text if len(text) <= 120 else text[:117] + "..."


def streamlit_auth_section(settings: AuthSettings) -> dict[str, Any]:
    """The ``[auth]`` section Streamlit's ``st.login()`` reads (its default provider)."""
    return {"redirect_uri": settings.redirect_uri, "cookie_secret": settings.cookie_secret.reveal(),
            "client_id": settings.client_id, "client_secret": settings.client_secret.reveal(),
            "server_metadata_url": settings.metadata_url, "client_kwargs": {"scope": settings.scopes}}


def write_streamlit_secrets(settings: AuthSettings, folder: Path) -> Path:
    """Write ``folder/secrets.toml`` with the ``[auth]`` section (mode 0600, atomic); the app passes it to
    Streamlit with ``--secrets.files``. Without OpenID Connect the file holds no section."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `livedocs app` from the auth file; it is rewritten at every start. Do not edit.\n"]
    if settings.mode == "oidc":
        section = streamlit_auth_section(settings)
        lines.append("[auth]\n")
        lines += [f"{key} = {_toml_string(value)}\n" for key, value in section.items() if isinstance(value, str)]
        lines.append("\n[auth.client_kwargs]\n")
        lines += [f"{key} = {_toml_string(value)}\n" for key, value in section["client_kwargs"].items()]
    target = folder / "secrets.toml"
    handle, temp = tempfile.mkstemp(prefix=".secrets-", suffix=".toml", dir=folder)  # created 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.writelines(lines)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def _toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _groups(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value.strip()}) if value.strip() else frozenset()
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(item.strip() for item in value if isinstance(item, str) and item.strip())
    return frozenset()


def _header(headers: Mapping[str, Any], name: str) -> str:
    """Header lookup that ignores case (st.context.headers does; a plain dict does not). A header sent on
    several lines may come as a list (oauth2-proxy sends one X-Forwarded-Groups line per group): joined by ','."""
    get_all = getattr(headers, "get_all", None)  # st.context.headers: every line of a repeated header
    value = get_all(name) or None if callable(get_all) else headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == lowered), None)
    if isinstance(value, list | tuple):
        value = ",".join(v for v in value if isinstance(v, str))
    return value.strip() if isinstance(value, str) else ""
