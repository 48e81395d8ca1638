"""A thin wrapper over the ``kubernetes`` client for one kubeconfig context.

Everything comes back as plain dicts (the ``kubectl get -o json`` shape) so the pure checks
in :mod:`cephlab.k8s.kube_checks` apply to it. Secrets are never returned whole: only one key,
through :meth:`Kube.secret_value`, for the caller to use and not print.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any, Optional

from ..errors import ConfigError, LabError

Obj = dict[str, Any]

#: apiVersion of every kind the harness reads or writes without being told.
API_VERSIONS = {
    "Node": "v1", "Pod": "v1", "Event": "v1", "Service": "v1", "ConfigMap": "v1",
    "Secret": "v1", "Namespace": "v1", "PersistentVolume": "v1",
    "PersistentVolumeClaim": "v1", "ServiceAccount": "v1",
    "Deployment": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1",
    "StorageClass": "storage.k8s.io/v1", "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "CustomResourceDefinition": "apiextensions.k8s.io/v1",
    "CephCluster": "ceph.rook.io/v1", "CephBlockPool": "ceph.rook.io/v1",
    "CephFilesystem": "ceph.rook.io/v1", "CephObjectStore": "ceph.rook.io/v1",
    "ObjectBucketClaim": "objectbucket.io/v1alpha1",
}
FIELD_MANAGER = "cephlab"


def kubeconfig_paths(kubeconfig: Optional[str]) -> list[Path]:
    """The files a kubeconfig value names (``$KUBECONFIG`` may list several, ``:``-separated);
    none given: ``~/.kube/config``."""
    value = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p]


def resolve_context(kubeconfig: Optional[str], context: Optional[str]) -> tuple[str, str]:
    """Check the kubeconfig files exist and hold ``context`` (None: the current one).

    Returns (kubeconfig as given to the client, context name). Raises ConfigError naming the
    file, or the contexts it does have.
    """
    from kubernetes import config as kconfig
    from kubernetes.config.config_exception import ConfigException

    paths = kubeconfig_paths(kubeconfig)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing and len(missing) == len(paths):
        raise ConfigError(
            f"kubeconfig {', '.join(missing)} does not exist; pass the cluster's kubeconfig with "
            f"--kubeconfig FILE (or KUBECONFIG) for --lab-target=cluster")
    value = os.pathsep.join(str(p) for p in paths if p.is_file())
    try:
        contexts, current = kconfig.list_kube_config_contexts(config_file=value)
    except (ConfigException, OSError, ValueError) as exc:
        raise ConfigError(f"kubeconfig {value} cannot be read: {exc}") from None
    names = [c.get("name") for c in contexts or []]
    if context is None:
        if not current:
            raise ConfigError(f"kubeconfig {value} has no current context; choose one with "
                              f"--kube-context (it has: {', '.join(names) or 'none'})")
        return value, current["name"]
    if context not in names:
        raise ConfigError(f"context {context!r} is not in kubeconfig {value}; it has: "
                          f"{', '.join(names) or 'no contexts'}")
    return value, context


def _short(exc: BaseException, limit: int = 300) -> str:
    """The innermost useful reason of a urllib3/kubernetes error, on one line."""
    reason = getattr(exc, "reason", None)
    while reason is not None and getattr(reason, "reason", None) not in (None, reason):
        reason = reason.reason
    text = str(reason or exc)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Kube:
    """One cluster, one context. Nothing connects until first used."""

    def __init__(self, kubeconfig: Optional[str], context: Optional[str], *,
                 timeout: float = 15.0, api_client: Any = None):
        self.kubeconfig, self.context = kubeconfig, context
        self.timeout = timeout
        self._api = api_client
        self._dyn = None

    @classmethod
    def connect(cls, kubeconfig: Optional[str], context: Optional[str], **kw) -> "Kube":
        path, ctx = resolve_context(kubeconfig, context)
        return cls(path, ctx, **kw)

    def kubectl_argv(self) -> list[str]:
        """``kubectl`` pointed at this kubeconfig and context."""
        argv = ["kubectl"]
        if self.kubeconfig:
            argv += ["--kubeconfig", str(self.kubeconfig)]
        if self.context:
            argv += ["--context", self.context]
        return argv

    def where(self) -> str:
        return f"context {self.context!r} in kubeconfig {self.kubeconfig}"

    # ------------------------------------------------------------------ clients
    @property
    def api(self):
        if self._api is None:
            from kubernetes import client, config as kconfig

            conf = client.Configuration()
            conf.retries = False  # a refused connection is an answer, not something to retry
            try:
                # persist_config=False: a token refresh never writes into the user's file
                self._api = kconfig.new_client_from_config(
                    config_file=self.kubeconfig, context=self.context, persist_config=False,
                    client_configuration=conf)
            except Exception as exc:  # the loader raises ConfigException, TypeError, OSError…
                raise ConfigError(f"cannot load {self.where()}: {_short(exc)}") from None
        return self._api

    @property
    def dynamic(self):
        if self._dyn is None:
            from kubernetes.dynamic import DynamicClient

            self._dyn = DynamicClient(self.api)
        return self._dyn

    def _resource(self, kind: str, api_version: Optional[str] = None):
        version = api_version or API_VERSIONS.get(kind)
        if not version:
            raise LabError(f"no apiVersion known for kind {kind!r}; pass api_version=")
        return self.dynamic.resources.get(api_version=version, kind=kind)

    # ------------------------------------------------------------------ probing
    def probe_api(self, timeout: float = 5.0) -> str:
        """The server's version; ConfigError naming context and kubeconfig when unreachable."""
        from kubernetes import client

        try:
            info = client.VersionApi(self.api).get_code(_request_timeout=(timeout, timeout))
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"cannot reach the Kubernetes API of {self.where()}: "
                              f"{_short(exc)}") from None
        return getattr(info, "git_version", "") or "unknown version"

    # ------------------------------------------------------------------ reading
    def get_json(self, kind: str, name: Optional[str] = None, namespace: Optional[str] = None,
                 *, label_selector: Optional[str] = None, api_version: Optional[str] = None) -> Any:
        """One object (None when absent) or, without ``name``, the list of items."""
        from kubernetes.dynamic.exceptions import NotFoundError

        if kind == "Secret":
            raise LabError("Secrets are not read whole; use Kube.secret_value(name, ns, key)")
        res = self._resource(kind, api_version)
        kw: dict[str, Any] = {"_request_timeout": self.timeout}
        if namespace and res.namespaced:
            kw["namespace"] = namespace
        if name is None:
            if label_selector:
                kw["label_selector"] = label_selector
            return list(res.get(**kw).to_dict().get("items", []))
        try:
            return res.get(name=name, **kw).to_dict()
        except NotFoundError:
            return None

    def secret_value(self, name: str, namespace: str, key: str) -> str:
        """One key of a Secret, decoded. The caller must never print it."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            sec = client.CoreV1Api(self.api).read_namespaced_secret(
                name, namespace, _request_timeout=self.timeout)
        except ApiException as exc:
            raise LabError(f"cannot read secret {namespace}/{name}: {exc.status} {exc.reason}") from None
        data = sec.data or {}
        if key not in data:
            raise LabError(f"secret {namespace}/{name} has no key {key!r} (keys: {', '.join(sorted(data))})")
        return base64.b64decode(data[key]).decode()

    def pod_log(self, name: str, namespace: str, container: Optional[str] = None, *,
                tail: int = 30, previous: bool = False) -> str:
        """The last ``tail`` lines of a container's log ('' plus why when unavailable)."""
        from kubernetes import client

        try:
            return client.CoreV1Api(self.api).read_namespaced_pod_log(
                name, namespace, container=container, tail_lines=tail, previous=previous,
                _request_timeout=self.timeout) or ""
        except Exception as exc:
            return f"(no log of {namespace}/{name}{'/' + container if container else ''}: {_short(exc, 120)})"

    def create_token(self, service_account: str, namespace: str, seconds: int = 600) -> str:
        """A short-lived bearer token of ``service_account`` (TokenRequest; never print it)."""
        from kubernetes import client

        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds))
        answer = client.CoreV1Api(self.api).create_namespaced_service_account_token(
            service_account, namespace, request, _request_timeout=self.timeout)
        token = answer.status.token if answer.status is not None else None
        if token is None:
            raise LabError(f"the API answered the TokenRequest of {namespace}/{service_account} "
                           f"without a token")
        return token

    def exec(self, pod: str, namespace: str, argv: list[str], timeout: float = 60) -> tuple[int, str, str]:
        """Run ``argv`` in ``pod``'s first container: (exit code, stdout, stderr)."""
        import subprocess

        res = subprocess.run([*self.kubectl_argv(), "-n", namespace, "exec", pod, "--", *argv],
                             capture_output=True, text=True, timeout=timeout)
        return res.returncode, res.stdout, res.stderr

    def events(self, namespace: str, limit: int = 20) -> list[str]:
        """The ``limit`` most recent events of a namespace, one line each."""
        items = self.get_json("Event", namespace=namespace)

        def when(e: Obj) -> str:
            return e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or ""

        lines = []
        for e in sorted(items, key=when)[-limit:]:
            inv = e.get("involvedObject") or {}
            lines.append(f"{when(e)} {e.get('type', '')} {e.get('reason', '')} "
                         f"{inv.get('kind', '')}/{inv.get('name', '')}: "
                         f"{' '.join(str(e.get('message', '')).split())}")
        return lines

    # ------------------------------------------------------------------ writing
    def exists(self, obj: Obj) -> bool:
        meta = obj["metadata"]
        from kubernetes.dynamic.exceptions import NotFoundError

        res = self._resource(obj["kind"], obj["apiVersion"])
        try:
            res.get(name=meta["name"], namespace=meta.get("namespace") if res.namespaced else None,
                    _request_timeout=self.timeout)
            return True
        except NotFoundError:
            return False

    def apply(self, obj: Obj) -> bool:
        """Server-side apply as field manager ``cephlab``. Returns True when the object did not
        exist before (the harness created it)."""
        created = not self.exists(obj)
        res = self._resource(obj["kind"], obj["apiVersion"])
        meta = obj["metadata"]
        res.server_side_apply(body=obj, name=meta["name"],
                              namespace=meta.get("namespace") if res.namespaced else None,
                              field_manager=FIELD_MANAGER, force_conflicts=True,
                              _request_timeout=self.timeout)
        return created

    def create_if_absent(self, obj: Obj) -> bool:
        """Create (never overwrite): a Secret an app already initialised with stays as it is."""
        if self.exists(obj):
            return False
        res = self._resource(obj["kind"], obj["apiVersion"])
        res.create(body=obj, namespace=obj["metadata"].get("namespace"),
                   _request_timeout=self.timeout)
        return True

    def delete(self, ref: Obj) -> bool:
        """Delete one object by reference (apiVersion, kind, name, namespace). False if absent."""
        from kubernetes.dynamic.exceptions import NotFoundError

        res = self._resource(ref["kind"], ref["apiVersion"])
        try:
            res.delete(name=ref["name"], namespace=ref.get("namespace") if res.namespaced else None,
                       body={"propagationPolicy": "Foreground"}, _request_timeout=self.timeout)
            return True
        except NotFoundError:
            return False

    def merge_patch(self, ref: Obj, patch: Obj) -> None:
        res = self._resource(ref["kind"], ref["apiVersion"])
        res.patch(body=patch, name=ref["name"], namespace=ref.get("namespace"),
                  content_type="application/merge-patch+json", _request_timeout=self.timeout)
