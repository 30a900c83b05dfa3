"""Load one Sovereign's kubeconfig into its own ``client.Configuration`` (never the global default).

Every failure becomes a :class:`KubeconfigError` whose ``str()`` is one line naming the file and
the reason, and never contains the token, password, key or certificate data from the file
(those values are scrubbed from whatever the library said).

kubernetes_asyncio and yaml are imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

    from kubernetes_asyncio.client import Configuration

#: Keys whose values are credentials somewhere in a kubeconfig.
_SECRET_KEYS = frozenset({
    "token", "password", "client-key-data", "client-certificate-data", "certificate-authority-data",
    "id-token", "refresh-token", "access-token", "client-secret", "idp-certificate-authority-data",
    "value",
})
MAX_REASON = 240

# The library logs exec-plugin failures at ERROR; with no handler configured Python's last-resort
# handler would print them on stderr, over a Textual screen. The failure reaches the operator as
# a KubeconfigError instead.
logging.getLogger("kubernetes_asyncio").addHandler(logging.NullHandler())


#: ``(yaml, its safe loader)`` once a kubeconfig was read (libyaml's loader when available): the
#: dashboard's first paint never reads one, so it never pays for importing yaml.
_yaml_loaded: tuple[ModuleType, Any] | None = None


def _yaml() -> tuple[ModuleType, Any]:
    global _yaml_loaded
    if _yaml_loaded is None:
        import yaml

        _yaml_loaded = (yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return _yaml_loaded


#: For plain-http API servers (the simulator, ``kubectl proxy``) the client never does TLS, yet
#: every ApiClient builds an SSL context, and without a CA file that loads the whole system bundle
#: (about 21-37 ms of CPU each: 200 Sovereigns stall the event loop for seconds). Pointing such
#: configurations at this CA (a throwaway self-signed certificate whose key was discarded, so it
#: vouches for nothing) makes that 0.7 ms. https configurations are never touched.
_PLACEHOLDER_CA = """-----BEGIN CERTIFICATE-----
MIIBjjCCATWgAwIBAgIBATAKBggqhkjOPQQDAjBEMUIwQAYDVQQDDDljYXRhbHlz
dC10dWkgcGxhaW4taHR0cCBwbGFjZWhvbGRlciAodHJ1c3RzIG5vdGhpbmcgcmVh
bCkwIBcNMjYwMTAxMDAwMDAwWhgPMjA1NTEyMjUwMDAwMDBaMEQxQjBABgNVBAMM
OWNhdGFseXN0LXR1aSBwbGFpbi1odHRwIHBsYWNlaG9sZGVyICh0cnVzdHMgbm90
aGluZyByZWFsKTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABIMzcU5VRZF0o7TC
Ay3ito5K4gjNsdtHYZC2pXPmX1ylxUIMI4ZbdZ8QLXmWXBZee+dySNXIRJ6zK+uL
sLcnNzSjFjAUMBIGA1UdEwEB/wQIMAYBAf8CAQAwCgYIKoZIzj0EAwIDRwAwRAIg
YP5KVFFSqrpUdOEsu+I60q1QvrfcYmp0QMDH2UVm9eACIFtU3ic7dj2CJ3tLclUb
g1kkMVL4AJs5nhx3AkitkPPP
-----END CERTIFICATE-----
"""
_placeholder_ca_path: str | None = None


def _plain_http_cafile() -> str | None:
    global _placeholder_ca_path
    if _placeholder_ca_path is None or not os.path.exists(_placeholder_ca_path):
        try:
            d = tempfile.mkdtemp(prefix="catalyst-tui-")
            path = os.path.join(d, "plain-http-placeholder-ca.pem")
            with open(path, "w", encoding="ascii") as fh:
                fh.write(_PLACEHOLDER_CA)
        except OSError:
            return None
        atexit.register(shutil.rmtree, d, True)
        _placeholder_ca_path = path
    return _placeholder_ca_path


class KubeconfigError(Exception):
    """A kubeconfig that cannot be used. ``kind`` is a short machine-readable class."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


def _secrets(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _SECRET_KEYS and isinstance(value, str) and len(value) >= 4:
                found.add(value)
            else:
                found |= _secrets(value)
    elif isinstance(node, list):
        for item in node:
            found |= _secrets(item)
    return found


def scrub(text: str, secret_values: Iterable[str]) -> str:
    """One line, at most MAX_REASON characters, with every secret value replaced."""
    for value in sorted(secret_values, key=len, reverse=True):
        text = text.replace(value, "<redacted>")
    text = " ".join(text.split())
    if len(text) > MAX_REASON:
        text = text[: MAX_REASON - 1] + "…"
    return text


def read_kubeconfig(path: str) -> dict[str, Any]:
    """Read and parse the file; raises KubeconfigError (unreadable, not YAML, not a mapping)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(4 * 1024 * 1024 + 1)
    except FileNotFoundError:
        raise KubeconfigError(f"kubeconfig {path}: no such file", "missing") from None
    except IsADirectoryError:
        raise KubeconfigError(f"kubeconfig {path}: is a directory", "unreadable") from None
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig {path}: cannot read ({exc.strerror or type(exc).__name__})", "unreadable") from None
    if len(raw) > 4 * 1024 * 1024:
        raise KubeconfigError(f"kubeconfig {path}: larger than 4 MiB", "invalid")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KubeconfigError(f"kubeconfig {path}: not UTF-8 text", "not-yaml") from None
    yaml, safe_loader = _yaml()
    try:
        data = yaml.load(text, Loader=safe_loader)  # noqa: S506 - a safe loader (libyaml's when available)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise KubeconfigError(f"kubeconfig {path}: not YAML ({problem}{where})", "not-yaml") from None
    if not isinstance(data, dict):
        raise KubeconfigError(f"kubeconfig {path}: not a kubeconfig (expected a YAML mapping, got {type(data).__name__})", "invalid")
    return data


def _check_shape(path: str, data: dict[str, Any], context: str | None) -> None:
    for key in ("clusters", "contexts"):
        if not isinstance(data.get(key), list) or not data.get(key):
            raise KubeconfigError(f"kubeconfig {path}: no {key}", "invalid")
    name = context or data.get("current-context")
    if not name:
        raise KubeconfigError(f"kubeconfig {path}: no current-context", "missing-context")
    contexts = [c for c in data["contexts"] if isinstance(c, dict) and c.get("name") == name]
    if not contexts:
        raise KubeconfigError(f"kubeconfig {path}: context {str(name)[:80]!r} not found", "missing-context")
    ctx = contexts[0].get("context")
    cluster_name = ctx.get("cluster") if isinstance(ctx, dict) else None
    if not cluster_name:
        raise KubeconfigError(f"kubeconfig {path}: context {str(name)[:80]!r} names no cluster", "invalid")
    clusters = [c for c in data["clusters"] if isinstance(c, dict) and c.get("name") == cluster_name]
    if not clusters:
        raise KubeconfigError(f"kubeconfig {path}: cluster {str(cluster_name)[:80]!r} (of context {str(name)[:80]!r}) not found",
                              "invalid")
    cluster = clusters[0].get("cluster")
    server = cluster.get("server") if isinstance(cluster, dict) else None
    if not isinstance(server, str) or not server.strip():
        raise KubeconfigError(f"kubeconfig {path}: the cluster has no server URL", "invalid")


async def load_configuration(path: str, *, context: str | None = None, exec_timeout: float = 30.0) -> "Configuration":
    """A fresh Configuration for the kubeconfig at ``path`` (``persist_config=False``: the file is
    never written back, the global default Configuration is never touched)."""
    data = read_kubeconfig(path)
    hidden = _secrets(data)
    _check_shape(path, data, context)
    yaml, _ = _yaml()
    from kubernetes_asyncio import client
    from kubernetes_asyncio.config.config_exception import ConfigException
    from kubernetes_asyncio.config.kube_config import ConfigNode, KubeConfigLoader

    cfg = client.Configuration()
    try:
        async with asyncio.timeout(exec_timeout):
            # What ``config.load_kube_config(path, persist_config=False)`` does, minus a second
            # (pure-Python) YAML parse of the file: no config persister, so nothing is ever
            # written back; file references resolve relative to the kubeconfig's directory.
            loader = KubeConfigLoader(config_dict=ConfigNode(path, data, path), config_base_path=None,
                                      active_context=context)
            await loader.load_and_set(cfg)
    except TimeoutError:
        raise KubeconfigError(f"kubeconfig {path}: credential plugin did not answer within {exec_timeout:g}s", "exec-plugin") from None
    except FileNotFoundError as exc:
        # create_subprocess_exec for an exec plugin that is not installed
        missing = exc.filename or "the exec plugin"
        raise KubeconfigError(
            scrub(f"kubeconfig {path}: exec plugin {os.path.basename(str(missing))!r} is not installed (not found on PATH)", hidden),
            "exec-plugin") from None
    except PermissionError as exc:
        raise KubeconfigError(scrub(f"kubeconfig {path}: cannot run or read {exc.filename or 'a referenced file'} (permission denied)", hidden),
                              "unreadable") from None
    except ConfigException as exc:
        text = str(exc)
        kind = "exec-plugin" if text.startswith("exec:") else "invalid"
        raise KubeconfigError(scrub(f"kubeconfig {path}: {text}", hidden), kind) from None
    except (yaml.YAMLError, UnicodeDecodeError):
        raise KubeconfigError(f"kubeconfig {path}: not YAML", "not-yaml") from None
    except Exception as exc:  # malformed structures surface as TypeError/KeyError/AttributeError...
        raise KubeconfigError(scrub(f"kubeconfig {path}: invalid ({type(exc).__name__}: {exc})", hidden), "invalid") from None
    host = getattr(cfg, "host", "") or ""
    if host.startswith("http://") and not getattr(cfg, "ssl_ca_cert", None):
        cfg.ssl_ca_cert = _plain_http_cafile()
    if not host or host == "http://localhost":
        cluster_has_server = any(
            isinstance(c, dict) and isinstance(c.get("cluster"), dict) and c["cluster"].get("server")
            for c in data.get("clusters", []))
        if not cluster_has_server:
            raise KubeconfigError(f"kubeconfig {path}: the cluster has no server URL", "invalid")
    return cfg


def describe_host(cfg: Any) -> str:
    """The API server a Configuration points at, without credentials (for messages)."""
    host = str(getattr(cfg, "host", "") or "")
    if "@" in host:
        scheme, _, rest = host.partition("://")
        host = f"{scheme}://{rest.split('@', 1)[1]}"
    return host
