"""Deployment artefacts: the health-check command, the Dockerfile and the Kubernetes manifests.

The Dockerfile is checked statically (no image can be pulled here); the manifests are validated
offline against the Kubernetes OpenAPI schemas bundled in ``kubernetes-validate`` and checked for
consistency with each other and with ``services/config.py``.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from grpc_health.v1 import health_pb2
from warehouse.v1 import layout_pb2, layout_pb2_grpc

from services import auth, config, healthcheck
from services.config import Settings
from services.server import SERVICE_NAMES, WarehouseServer
from tests.conftest import ROOT, StartServer

#: The Kubernetes release whose API schemas the manifests must satisfy (docs/deploy.md).
KUBERNETES_VERSION = "1.32"

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S = ROOT / "deploy" / "k8s"
DEMO = ROOT / "deploy" / "demo"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"

Doc = dict[str, Any]

CONFIG_ENV_NAMES = frozenset(config._env_name(f.name) for f in fields(Settings))


# --- services.healthcheck -------------------------------------------------------------------


def run_check(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """``python -m services.healthcheck ARGS`` as the container runs it, ``environ`` added."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "protos")])}
    env.pop("WAREHOUSE_LISTEN_ADDRESS", None)
    env.update(environ)
    return subprocess.run(
        [sys.executable, "-m", "services.healthcheck", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=ROOT,
    )


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthcheck_passes_on_a_serving_server(server: WarehouseServer) -> None:
    """The command exits 0 for a real server, for the whole server and for a named service."""
    result = run_check("--address", server.address)
    assert result.returncode == 0, result.stderr
    assert "SERVING" in result.stdout
    # As the image's HEALTHCHECK runs it: the port comes from WAREHOUSE_LISTEN_ADDRESS.
    wildcard = f"0.0.0.0:{server.port}"
    assert run_check("--quiet", WAREHOUSE_LISTEN_ADDRESS=wildcard).returncode == 0
    for name in SERVICE_NAMES:
        assert healthcheck.main(["--address", server.address, "--service", name, "--quiet"]) == 0


def test_healthcheck_fails_on_a_closed_port() -> None:
    """Nothing listening: exit 1 with UNAVAILABLE, well within the timeout."""
    started = time.monotonic()
    result = run_check("--address", f"127.0.0.1:{free_port()}", "--timeout", "5")
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr
    assert time.monotonic() - started < 5


def test_healthcheck_fails_when_not_serving(server: WarehouseServer) -> None:
    """NOT_SERVING (shutdown has begun) and an unknown service both exit 1."""
    args = ["--address", server.address, "--quiet"]
    assert healthcheck.main(args) == 0
    server.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert healthcheck.main(args) == 1
    assert healthcheck.main([*args, "--service", "warehouse.v1.NoSuchService"]) == 1


def test_healthcheck_times_out_on_a_silent_peer() -> None:
    """A peer that accepts TCP but never speaks HTTP/2 fails the check after --timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        code = healthcheck.main(["--address", address, "--timeout", "0.5", "--quiet"])
        elapsed = time.monotonic() - started
    assert code == 1
    assert 0.4 < elapsed < 5


def test_healthcheck_default_address_follows_listen_address() -> None:
    """Without --address the port of WAREHOUSE_LISTEN_ADDRESS is checked on loopback."""
    assert healthcheck.default_address({}) == "127.0.0.1:50051"
    assert healthcheck.default_address({"WAREHOUSE_LISTEN_ADDRESS": "0.0.0.0:6000"}) == (
        "127.0.0.1:6000"
    )
    assert healthcheck.default_address({"WAREHOUSE_LISTEN_ADDRESS": "[::]:7000"}) == (
        "127.0.0.1:7000"
    )
    assert healthcheck.default_address({"WAREHOUSE_LISTEN_ADDRESS": "127.0.0.2:8000"}) == (
        "127.0.0.2:8000"
    )
    assert healthcheck.default_address({"WAREHOUSE_LISTEN_ADDRESS": ""}) == "127.0.0.1:50051"
    # The health port, when set, on the listen address's host; not for a TLS check.
    probes = {"WAREHOUSE_LISTEN_ADDRESS": "0.0.0.0:6000", "WAREHOUSE_HEALTH_PORT": "6001"}
    assert healthcheck.default_address(probes) == "127.0.0.1:6001"
    assert healthcheck.default_address(probes, tls=True) == "127.0.0.1:6000"
    assert healthcheck.default_address({**probes, "WAREHOUSE_HEALTH_PORT": "-1"}) == (
        "127.0.0.1:6000"
    )


def test_healthcheck_default_port_is_the_config_default() -> None:
    """The command's fallback address uses the server's default gRPC port."""
    assert (
        healthcheck.DEFAULT_ADDRESS.rsplit(":", 1)[1] == Settings.listen_address.rsplit(":", 1)[1]
    )


TLS_NAME = "warehouse-optimizer-headless.warehouse.svc"


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    """A throwaway CA and a certificate for TLS_NAME it signed (server and client auth)."""
    assert shutil.which("openssl"), "the openssl command is needed to make test certificates"
    files = {name: tmp_path / name for name in ("ca.key", "ca.crt", "tls.key", "tls.csr")}
    files["tls.crt"] = tmp_path / "tls.crt"
    ext = tmp_path / "ext.cnf"
    ext.write_text(f"subjectAltName=DNS:{TLS_NAME}\nextendedKeyUsage=serverAuth,clientAuth\n")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    ca_out = ["-keyout", files["ca.key"], "-out", files["ca.crt"]]
    tls_out = ["-out", files["tls.crt"], "-extfile", ext]
    signed_by_ca = ["-CA", files["ca.crt"], "-CAkey", files["ca.key"], "-CAcreateserial"]
    commands = [
        ["req", "-x509", *key, "-days", "1", "-subj", "/CN=test-ca", *ca_out],
        ["req", *key, "-subj", "/CN=server", "-keyout", files["tls.key"], "-out", files["tls.csr"]],
        ["x509", "-req", "-days", "1", "-in", files["tls.csr"], *signed_by_ca, *tls_out],
    ]
    for command in commands:
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return files


def test_healthcheck_over_mutual_tls(start_server: StartServer, tls_files: dict[str, Path]) -> None:
    """Against a mutual-TLS server: passes with CA, client cert and name; fails short of them."""
    server = start_server(
        tls_cert_file=tls_files["tls.crt"],
        tls_key_file=tls_files["tls.key"],
        tls_client_ca_file=tls_files["ca.crt"],
    )
    address = ["--address", server.address, "--quiet", "--timeout", "3"]
    # As in the TLS overlay, the check presents the server's own certificate as client.
    ca = ["--tls-ca", str(tls_files["ca.crt"])]
    client = ["--tls-cert", str(tls_files["tls.crt"]), "--tls-key", str(tls_files["tls.key"])]
    name = ["--tls-server-name", TLS_NAME]
    assert healthcheck.main([*address, *ca, *client, *name]) == 0
    assert healthcheck.main(address) == 1
    assert healthcheck.main([*address, *ca, *name]) == 1
    assert healthcheck.main([*address, *ca, *client, "--tls-server-name", "other.svc"]) == 1


def test_healthcheck_rejects_incomplete_tls_options() -> None:
    """A client certificate without its key, or without a CA, is a usage error."""
    with pytest.raises(SystemExit) as error:
        healthcheck.parse_args(["--tls-ca", "ca.crt", "--tls-cert", "tls.crt"], {})
    assert error.value.code == 2
    with pytest.raises(SystemExit):
        healthcheck.parse_args(["--tls-cert", "tls.crt", "--tls-key", "tls.key"], {})


# --- Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, starting with its FROM."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def key_values(rest: str) -> dict[str, str]:
    """``ENV``/``ARG`` arguments in key=value form."""
    pairs = {}
    for word in shlex.split(rest):
        key, sep, value = word.partition("=")
        pairs[key] = value if sep else ""
    return pairs


def global_args() -> dict[str, str]:
    """ARGs declared before the first FROM, with their defaults."""
    args: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG":
            args.update(key_values(rest))
    return args


def final_stage_env() -> dict[str, str]:
    """The ENV of the runtime stage."""
    env: dict[str, str] = {}
    for keyword, rest in dockerfile_stages()[-1]:
        if keyword == "ENV":
            env.update(key_values(rest))
    return env


def test_dockerfile_is_multi_stage_on_slim_python_311() -> None:
    """Builder and runtime stages on slim Python 3.11; the runtime takes the venv only."""
    stages = dockerfile_stages()
    assert len(stages) >= 2
    images = [stage[0][1].split()[0] for stage in stages]
    resolved = [re.sub(r"\$\{(\w+)\}", lambda m: global_args()[m.group(1)], i) for i in images]
    assert all(re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", image) for image in resolved)
    builder = stages[0][0][1].split()
    assert builder[-2].upper() == "AS"
    final = stages[-1]
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert any(rest.startswith(f"--from={builder[-1]} /opt/venv") for rest in copies)
    assert not any(re.search(r"\b(services|routing|picking|allocation)/", r) for r in copies)


def test_dockerfile_runs_as_a_non_root_user() -> None:
    """The runtime USER is a numeric non-zero uid, the same the Deployment runs as."""
    final = dockerfile_stages()[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the runtime stage has no USER"
    args: dict[str, str] = {}
    for keyword, rest in final:
        if keyword == "ARG":
            args.update(key_values(rest))
    user = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], users[-1]).split(":")[0]
    assert user.isdigit() and int(user) != 0
    pod = deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(user)


def test_dockerfile_healthcheck_uses_the_health_module() -> None:
    """HEALTHCHECK runs services.healthcheck in exec form, its own timeout within Docker's."""
    checks = [rest for keyword, rest in dockerfile_stages()[-1] if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    options, _, command = checks[0].partition(" CMD ")
    argv = yaml.safe_load(command)  # exec form is a JSON array
    assert argv[:3] == ["python", "-m", "services.healthcheck"]
    docker_timeout = float(re.search(r"--timeout=(\d+)s", options).group(1))  # type: ignore[union-attr]
    check_timeout = float(argv[argv.index("--timeout") + 1])
    assert check_timeout < docker_timeout
    assert "--start-period=" in options


def test_dockerfile_ports_match_config_defaults() -> None:
    """EXPOSE lists exactly the default gRPC and metrics ports and the health port the ENV
    sets, and the ENV keeps the defaults."""
    grpc_port = int(Settings.listen_address.rsplit(":", 1)[1])
    exposed = {
        int(port.split("/")[0])
        for keyword, rest in dockerfile_stages()[-1]
        if keyword == "EXPOSE"
        for port in rest.split()
    }
    settings = config.load([], final_stage_env())
    assert settings.health_port > 0
    assert exposed == {grpc_port, Settings.metrics_port, settings.health_port}
    assert int(settings.listen_address.rsplit(":", 1)[1]) == grpc_port
    assert settings.listen_address.startswith("0.0.0.0:")
    assert settings.metrics_port == Settings.metrics_port
    assert settings.metrics_address == "0.0.0.0"


def test_dockerfile_env_names_are_settings() -> None:
    """Every WAREHOUSE_* variable the image sets is a setting of services/config.py."""
    names = {k for k in final_stage_env() if k.startswith("WAREHOUSE_")}
    assert names
    assert names <= CONFIG_ENV_NAMES


SECRET_WORDS = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|DSN|PRIVATE|CREDENTIAL|API_?KEY", re.I)


def test_dockerfile_bakes_in_no_secret() -> None:
    """No ENV or ARG named like a secret, no copied key or env file, no secret setting."""
    for keyword, rest in dockerfile_instructions():
        if keyword in ("ENV", "ARG"):
            for name in key_values(rest):
                assert not SECRET_WORDS.search(name), f"{keyword} {name}"
        if keyword in ("COPY", "ADD"):
            assert not re.search(r"\.(pem|key|crt|p12)\b|\.env\b|secret", rest, re.I), rest
    assert not {"WAREHOUSE_POSTGRES_DSN", "WAREHOUSE_AUTH_TOKENS"} & set(final_stage_env())


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, regex) of each .dockerignore line, in order."""
    patterns = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(glob):
            if glob.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif glob.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif glob[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif glob[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif glob[i] == "[":
                end = glob.index("]", i)
                regex, i = regex + glob[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(glob[i]), i + 1
        patterns.append((negated, re.compile(regex)))
    return patterns


def ignored(path: str) -> bool:
    """Whether Docker leaves ``path`` out of the build context (last matching line wins; a
    line matching a parent directory matches everything under it)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negated, regex in dockerignore_patterns():
        if any(regex.fullmatch(p) for p in prefixes):
            result = not negated
    return result


def test_dockerignore_keeps_the_sources_and_drops_local_state() -> None:
    """The context keeps every copied file and drops secrets, venv, git and databases."""
    copied = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            copied += [s.rstrip("/") for s in rest.split()[:-1] if not s.startswith("--")]
    assert copied
    for source in copied:
        path = ROOT / source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        wanted = [p for p in files if "__pycache__" not in p.parts]
        assert wanted, source
        for file in wanted:
            assert not ignored(str(file.relative_to(ROOT))), f"{file} is left out of the context"
    for kept in ("services/server.py", "protos/warehouse/v1/routing_pb2.py", "pyproject.toml"):
        assert not ignored(kept), kept
    for dropped in (
        ".git/config",
        ".venv/bin/python",
        "var/warehouse.db",
        ".env",
        "services/.env",
        "deploy/k8s/secret.example.yaml",
        "deploy/demo/tls.key",
        "services/__pycache__/server.cpython-311.pyc",
        "tests/test_deploy.py",
    ):
        assert ignored(dropped), dropped


# --- Kubernetes manifests --------------------------------------------------------------------


def load_docs(path: Path) -> list[Doc]:
    """The YAML documents of ``path`` (empty ones dropped)."""
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def kustomizations() -> dict[Path, Doc]:
    """Every kustomization.yaml under deploy/k8s by its directory."""
    return {p.parent: load_docs(p)[0] for p in sorted(K8S.rglob("kustomization.yaml"))}


def patch_files() -> set[Path]:
    """Files that kustomizations use as patches (partial objects, not manifests)."""
    return {
        (directory / patch["path"]).resolve()
        for directory, kustomization in kustomizations().items()
        for patch in kustomization.get("patches", [])
    }


def manifest_files() -> list[Path]:
    """Every complete manifest under deploy/k8s."""
    skip = patch_files()
    return [
        p
        for p in sorted(K8S.rglob("*.yaml"))
        if p.name != "kustomization.yaml" and p.resolve() not in skip
    ]


def manifests() -> list[tuple[Path, Doc]]:
    """(file, object) of every manifest under deploy/k8s."""
    return [(p, d) for p in manifest_files() for d in load_docs(p)]


def base_objects() -> list[Doc]:
    """The objects of the base kustomization, as `kubectl apply -k deploy/k8s/base` sends them
    (but for the namespace, which kustomize sets)."""
    base = K8S / "base"
    return [d for name in kustomizations()[base]["resources"] for d in load_docs(base / name)]


def find(kind: str, objects: list[Doc] | None = None) -> list[Doc]:
    """Objects of ``kind``."""
    return [d for d in (base_objects() if objects is None else objects) if d["kind"] == kind]


def deployment() -> Doc:
    """The server Deployment."""
    (dep,) = find("Deployment")
    return dep


def container() -> Doc:
    """The server container."""
    (server,) = deployment()["spec"]["template"]["spec"]["containers"]
    return dict(server)


def container_port(name: str) -> int:
    """The server container's port called ``name``."""
    (port,) = [p["containerPort"] for p in container()["ports"] if p["name"] == name]
    return int(port)


def example_secrets() -> list[Doc]:
    """The example Secrets (not part of any kustomization)."""
    return [d for p, d in manifests() if d["kind"] == "Secret"]


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a label selector selects an object with ``labels``."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


MANIFESTS = manifests()


@pytest.mark.parametrize(
    "doc",
    [d for _, d in MANIFESTS],
    ids=[f"{p.relative_to(K8S)}:{d['kind']}/{d['metadata']['name']}" for p, d in MANIFESTS],
)
def test_manifest_is_valid_for_the_kubernetes_version(doc: Doc) -> None:
    """Each manifest validates (strictly: no unknown fields) against the stated release."""
    assert kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True) == KUBERNETES_VERSION


def test_schema_validation_catches_mistakes() -> None:
    """The validator really checks: a misspelt field and a wrongly typed one are rejected."""
    misspelt = copy.deepcopy(deployment())
    probe = misspelt["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe")
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = probe
    with pytest.raises(kubernetes_validate.ValidationError, match="readinessProbes"):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSION, strict=True)
    mistyped = copy.deepcopy(deployment())
    mistyped["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(mistyped, KUBERNETES_VERSION, strict=True)


def test_every_kind_is_there() -> None:
    """The base holds every object kind; the PostgreSQL demo and example Secrets are beside it."""
    kinds = sorted(d["kind"] for d in base_objects())
    assert kinds == sorted(
        [
            *("Namespace", "ConfigMap", "ConfigMap", "Deployment", "Service", "Service"),
            *("HorizontalPodAutoscaler", "PodDisruptionBudget"),
        ]
    )
    everything = [d["kind"] for _, d in MANIFESTS]
    assert everything.count("Secret") == 2
    assert "StatefulSet" in everything


def test_kustomizations_list_their_files_and_no_secret() -> None:
    """Kustomizations list their existing files and apply no Secret (real ones stay)."""
    for directory, kustomization in kustomizations().items():
        resources = kustomization.get("resources", [])
        for resource in resources:
            assert (directory / resource).exists(), f"{directory}: {resource}"
        listed = {(directory / r).resolve() for r in resources}
        for path in directory.glob("*.yaml"):
            if path.name == "kustomization.yaml" or path.resolve() in patch_files():
                continue
            assert path.resolve() in listed or "example" in path.name, path
        for resource in resources:
            path = directory / resource
            if path.is_file():
                assert all(d["kind"] != "Secret" for d in load_docs(path)), path


def render(directory: Path) -> list[Doc]:
    """``kubectl kustomize directory``."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with kustomize built in) is needed to render the overlays"
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.mark.parametrize("overlay", ["base", "tls", "postgres", "replan"])
def test_kustomize_output_is_valid(overlay: str) -> None:
    """What `kubectl apply -k` would send validates too, every object in the namespace."""
    objects = render(K8S / overlay)
    assert objects
    for doc in objects:
        assert kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "warehouse"


def test_tls_overlay_mounts_the_certificates_and_keeps_plaintext_probes() -> None:
    """The TLS overlay points the server at the mounted certificate files and keeps the base's
    native gRPC probes on the (plaintext) probe port."""
    (dep,) = find("Deployment", render(K8S / "tls"))
    pod = dep["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in server["volumeMounts"]}
    tls_volume = next(v for v in pod["volumes"] if v["name"] == "tls")
    assert tls_volume["secret"]["secretName"] == "warehouse-optimizer-tls"
    env = {e["name"]: e.get("value") for e in server["env"]}
    files = {env[f"WAREHOUSE_TLS_{n}_FILE"] for n in ("CERT", "KEY", "CLIENT_CA")}
    assert all(f.startswith(mounts["tls"] + "/") for f in files)
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[kind] == container()[kind], kind


def test_deployment_selector_matches_pod_labels() -> None:
    """The Deployment selects its own pod template, and runs at least two replicas."""
    dep = deployment()
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels_match(dep["spec"]["selector"]["matchLabels"], labels)
    assert dep["spec"]["replicas"] >= 2
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_services_select_the_pods_and_their_ports() -> None:
    """Services select the pods' named ports; the headless one has clusterIP None."""
    labels = deployment()["spec"]["template"]["metadata"]["labels"]
    names = {p["name"] for p in container()["ports"]}
    services = {s["metadata"]["name"]: s for s in find("Service")}
    for service in services.values():
        assert labels_match(service["spec"]["selector"], labels)
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names
            assert port["port"] == container_port(port["targetPort"])
    headless = services["warehouse-optimizer-headless"]["spec"]
    assert headless["clusterIP"] == "None"
    assert [p["port"] for p in headless["ports"]] == [container_port("grpc")]
    assert not headless.get("publishNotReadyAddresses", False)
    metrics = services["warehouse-optimizer-metrics"]["spec"]
    assert metrics.get("clusterIP") != "None"
    assert [p["port"] for p in metrics["ports"]] == [container_port("metrics")]


def test_probes_use_grpc_health_on_the_health_port() -> None:
    """All three probes are native gRPC health probes on the server's health port."""
    settings = settings_from_manifests()
    assert settings.health_port > 0
    assert settings.health_port != int(settings.listen_address.rsplit(":", 1)[1])
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container()[kind]
        assert set(probe) & {"grpc", "exec", "httpGet", "tcpSocket"} == {"grpc"}, kind
        assert probe["grpc"]["port"] == container_port("probe") == settings.health_port
        assert probe["grpc"].get("service", "") == ""
    assert container()["livenessProbe"]["failureThreshold"] > 1


def test_scrape_annotations_point_at_the_metrics_port() -> None:
    """The pods' prometheus.io annotations name the metrics port and path."""
    annotations = deployment()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == container_port("metrics")
    assert annotations["prometheus.io/path"] == "/metrics"


def test_hpa_scales_the_deployment_on_cpu() -> None:
    """The HPA targets the Deployment on CPU utilisation, from at least two replicas."""
    (hpa,) = find("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    dep = deployment()
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        dep["apiVersion"],
        dep["kind"],
        dep["metadata"]["name"],
    )
    assert 2 <= hpa["spec"]["minReplicas"] <= dep["spec"]["replicas"] < hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert "cpu" in container()["resources"]["requests"]


def test_pdb_selects_the_pods_and_leaves_one_running() -> None:
    """The PDB selects the Deployment's pods and keeps one of the minimum replicas up."""
    (pdb,) = find("PodDisruptionBudget")
    dep = deployment()
    assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    (hpa,) = find("HorizontalPodAutoscaler")
    if "maxUnavailable" in pdb["spec"]:
        assert 1 <= pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]
    else:
        assert 1 <= pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


def test_referenced_configmaps_secrets_and_keys_exist() -> None:
    """Every ConfigMap, Secret and key the pod references exists (Secrets as examples)."""
    configmaps = {c["metadata"]["name"]: c for c in find("ConfigMap")}
    secrets = {s["metadata"]["name"]: s for s in example_secrets()}
    pod = deployment()["spec"]["template"]["spec"]
    refs: list[tuple[str, str, str | None]] = []  # (kind, name, key)
    for source in container().get("envFrom", []):
        if "configMapRef" in source:
            refs.append(("ConfigMap", source["configMapRef"]["name"], None))
        if "secretRef" in source:
            refs.append(("Secret", source["secretRef"]["name"], None))
    for env in container().get("env", []):
        ref = env.get("valueFrom", {})
        if "secretKeyRef" in ref:
            refs.append(("Secret", ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"]))
        if "configMapKeyRef" in ref:
            ref = ref["configMapKeyRef"]
            refs.append(("ConfigMap", ref["name"], ref["key"]))
    for volume in pod["volumes"]:
        for kind, field, name_field in (
            ("ConfigMap", "configMap", "name"),
            ("Secret", "secret", "secretName"),
        ):
            if field in volume:
                name = volume[field][name_field]
                refs += [(kind, name, item["key"]) for item in volume[field].get("items", [])]
                refs.append((kind, name, None))
    assert {kind for kind, _, _ in refs} == {"ConfigMap", "Secret"}
    for kind, name, key in refs:
        store = configmaps if kind == "ConfigMap" else secrets
        assert name in store, f"{kind} {name}"
        if key is not None:
            data = {**store[name].get("data", {}), **store[name].get("stringData", {})}
            assert key in data, f"{kind} {name} has no key {key}"
    mounted = {m["name"] for m in container()["volumeMounts"]}
    assert mounted == {v["name"] for v in pod["volumes"]}


def env_names(node: Any) -> Iterator[str]:
    """Names of every ``env`` entry anywhere in a manifest (patches included)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                yield from (e["name"] for e in value if isinstance(e, dict) and "name" in e)
            yield from env_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from env_names(item)


def test_every_server_env_var_is_a_setting() -> None:
    """Every WAREHOUSE_* name in the server manifests, TLS patch included, is a config setting
    (the replan Job's are the replan command's, checked with it)."""
    (settings_cm,) = [c for c in find("ConfigMap") if c["metadata"]["name"].endswith("-config")]
    names = set(settings_cm["data"])
    for path in K8S.rglob("*.yaml"):
        if path.is_relative_to(K8S / "replan"):
            continue
        for doc in load_docs(path):
            names |= set(env_names(doc))
    server_names = {n for n in names if n.startswith("WAREHOUSE_")}
    assert {"WAREHOUSE_POSTGRES_DSN", "WAREHOUSE_TLS_CERT_FILE"} <= server_names
    assert server_names <= CONFIG_ENV_NAMES, server_names - CONFIG_ENV_NAMES
    assert set(settings_cm["data"]) <= CONFIG_ENV_NAMES


def settings_from_manifests() -> Settings:
    """The server's settings in a pod: the settings ConfigMap and literal env values (secret
    values replaced by a stand-in DSN)."""
    (settings_cm,) = [c for c in find("ConfigMap") if c["metadata"]["name"].endswith("-config")]
    environ = dict(settings_cm["data"])
    for env in container()["env"]:
        environ[env["name"]] = env.get("value", "postgresql://stand-in@db/warehouse")
    return config.load([], environ)


def test_settings_agree_with_the_pod_spec() -> None:
    """The settings load and agree with the pod's ports, mounts and termination budget."""
    settings = settings_from_manifests()
    assert settings.postgres_dsn
    assert settings.listen_address == f"0.0.0.0:{container_port('grpc')}"
    assert settings.metrics_port == container_port("metrics")
    assert settings.metrics_address == "0.0.0.0"
    mounts = {m["name"]: Path(m["mountPath"]) for m in container()["volumeMounts"]}
    assert settings.layouts_dir == mounts["layouts"]
    assert settings.auth_tokens_file is not None
    assert settings.auth_tokens_file.parent == mounts["auth"]
    pod = deployment()["spec"]["template"]["spec"]
    pre_stop = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    budget = pod["terminationGracePeriodSeconds"]
    assert budget >= float(pre_stop[1]) + settings.grace_period_s + 5
    cpu_limit = float(container()["resources"]["limits"]["cpu"])
    assert settings.workers <= cpu_limit


def test_pod_is_locked_down() -> None:
    """Non-root, read-only root with an emptyDir /tmp, no capabilities, bounded resources."""
    pod = deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    (tmp,) = [m for m in container()["volumeMounts"] if m["mountPath"] == "/tmp"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == tmp["name"]]
    assert "emptyDir" in volume
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container()["resources"][kind])


def test_layouts_configmap_is_the_demo_directory() -> None:
    """The layouts ConfigMap equals deploy/demo; the volume puts each key in its place."""
    (layouts,) = [c for c in find("ConfigMap") if c["metadata"]["name"].endswith("-layouts")]
    files = {str(p.relative_to(DEMO)): p for p in DEMO.rglob("*") if p.is_file()}
    by_key = {Path(rel).name: rel for rel in files}
    assert len(by_key) == len(files), "two demo files share a name"
    assert set(layouts["data"]) == set(by_key)
    for key, text in layouts["data"].items():
        assert text == files[by_key[key]].read_bytes().decode(), key
    (volume,) = [
        v
        for v in deployment()["spec"]["template"]["spec"]["volumes"]
        if "configMap" in v and v["configMap"]["name"] == layouts["metadata"]["name"]
    ]
    items = {i["key"]: i["path"] for i in volume["configMap"]["items"]}
    assert items == by_key
    size = sum(len(v.encode()) for v in layouts["data"].values())
    assert size < 1024 * 1024  # a ConfigMap's limit


def test_example_secrets_hold_placeholders_that_fit_together(tmp_path: Path) -> None:
    """Example Secrets hold parseable placeholders; the DSN matches the demo database."""
    secrets = {s["metadata"]["name"]: s for s in example_secrets()}
    for secret in secrets.values():
        assert "data" not in secret
        assert any("CHANGE_ME" in v for v in secret["stringData"].values())
    dsn = urlsplit(secrets["warehouse-optimizer-secrets"]["stringData"]["postgres-dsn"])
    tokens = secrets["warehouse-optimizer-secrets"]["stringData"]["auth-tokens"]
    entries = [line for line in tokens.splitlines() if line and not line.startswith("#")]
    assert entries and all(re.fullmatch(r"(read|write):CHANGE_ME\w*", e) for e in entries)
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text(tokens)
    policy = auth.AuthPolicy.from_settings(Settings(auth_tokens_file=tokens_file))
    assert policy.enabled
    postgres = secrets["warehouse-postgres"]["stringData"]
    assert dsn.scheme == "postgresql"
    assert (dsn.username, dsn.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
    assert dsn.path == "/" + postgres["POSTGRES_DB"]
    postgres_dir = K8S / "postgres"
    (service,) = find("Service", load_docs(postgres_dir / "service.yaml"))
    (statefulset,) = find("StatefulSet", load_docs(postgres_dir / "statefulset.yaml"))
    namespace = kustomizations()[postgres_dir]["namespace"]
    assert dsn.hostname == f"{service['metadata']['name']}.{namespace}.svc"
    assert dsn.port == service["spec"]["ports"][0]["port"]
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert labels_match(service["spec"]["selector"], pod_labels)
    assert namespace == kustomizations()[K8S / "base"]["namespace"]


def started_calls(server: WarehouseServer, method: str) -> float:
    """``grpc_server_started_total`` of ``method`` on ``server``'s /metrics."""
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    match = re.search(rf'grpc_server_started_total\{{grpc_method="{method}",[^}}]*\}} (\S+)', text)
    return float(match.group(1)) if match else 0.0


def test_round_robin_client_option_spreads_calls(start_server: StartServer, tmp_path: Path) -> None:
    """The documented round_robin option alternates calls over replicas; pick_first won't."""
    replicas = [start_server(db_path=tmp_path / f"r{i}.db") for i in range(2)]
    target = "ipv4:" + ",".join(r.address for r in replicas)  # what DNS gives for the name
    assert 'options=[("grpc.lb_policy_name", "round_robin")]' in DEPLOY_DOC.read_text()
    request = layout_pb2.ListLayoutsRequest()

    def counts() -> list[float]:
        return [started_calls(r, "ListLayouts") for r in replicas]

    with grpc.insecure_channel(target, options=[("grpc.lb_policy_name", "round_robin")]) as ch:
        stub = layout_pb2_grpc.LayoutServiceStub(ch)
        # Round robin uses a replica once its connection is up: call until both have answered.
        for _ in range(100):
            if min(counts()) > 0:
                break
            stub.ListLayouts(request, timeout=10)
        before = counts()
        assert min(before) > 0
        for _ in range(10):
            stub.ListLayouts(request, timeout=10)
        assert [a - b for a, b in zip(counts(), before, strict=True)] == [5.0, 5.0]
    with grpc.insecure_channel(target) as ch:  # the default policy: pick_first
        stub = layout_pb2_grpc.LayoutServiceStub(ch)
        before = counts()
        for _ in range(10):
            stub.ListLayouts(request, timeout=10)
        assert sorted(a - b for a, b in zip(counts(), before, strict=True)) == [0.0, 10.0]


def test_deploy_doc_is_linked_and_names_the_client_target() -> None:
    """docs/deploy.md is linked from README and names the client target and K8s version."""
    text = DEPLOY_DOC.read_text()
    assert "docs/deploy.md" in (ROOT / "README.md").read_text()
    assert "dns:///warehouse-optimizer-headless.warehouse.svc:50051" in text
    assert "round_robin" in text
    assert f"Kubernetes {KUBERNETES_VERSION}" in text


def test_the_replan_job_fans_out_over_the_headless_service() -> None:
    """The Job runs `warehouse replan` with arguments the CLI accepts, against the headless
    Service's DNS name and port, fails at once on bad input and resumes otherwise."""
    from services import cli

    (job,) = find("Job", render(K8S / "replan"))
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["warehouse", "replan"]
    args = cli._parser().parse_args(["replan", *container["args"]])
    assert args.engine == "remote"
    (service,) = [s for s in find("Service") if s["spec"].get("clusterIP") == "None"]
    (port,) = service["spec"]["ports"]
    expected = (
        f"dns:///{service['metadata']['name']}.{job['metadata']['namespace']}"
        f".svc.cluster.local:{port['port']}"
    )
    assert args.address == expected
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert args.out.parent.as_posix() in mounts and args.day.as_posix().startswith("/data/")
    rules = job["spec"]["podFailurePolicy"]["rules"]
    fail = next(r for r in rules if r["action"] == "FailJob")
    assert fail["onExitCodes"]["values"] == [cli.USAGE]
    assert job["spec"]["backoffLimit"] > 0  # a retried pod resumes from the checkpoint
    # The command reads these variables (services/cli.py).
    assert set(env_names(job)) <= {"WAREHOUSE_TOKEN", "WAREHOUSE_ADDRESS"}
