"""Checks the Helm chart offline; run by scripts/helm-check.sh (`make helm-check`).

1. `helm lint --strict` of helm/producer-profile, with the minimal and production values.
2. Renders it (Helm's own engine, through helm-python-sdk) for a few value sets: the
   minimal values a release must give, helm/ci/production-values.yaml, and production
   plus the optional features production leaves off.
3. Validates every rendered object against the Kubernetes OpenAPI schemas of each
   version in KUBE_VERSIONS (kubernetes-validate, strict: unknown fields are errors).
   Kinds it has no schema for must be listed in NO_SCHEMA and get a structural check.
4. Checks what the schemas cannot: labels, the pods' security settings, the
   configuration file the binaries read (valid TOML, no secrets, only known settings).
5. Negative tests: values with typos, wrong types or secrets in the ConfigMap must be
   refused by values.schema.json or the templates, with a message naming the key.

Exits 1 on any problem, naming the value set, template, object and field.
"""

from __future__ import annotations

import copy
import re
import sys
import time
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

try:
    import tomllib
except ImportError:  # Python < 3.11
    sys.exit("helm-check needs Python 3.11 or later (tomllib); Debian bookworm's python3 is 3.11")

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "producer-profile"
PRODUCTION_VALUES = ROOT / "helm" / "ci" / "production-values.yaml"
README = ROOT / "README.md"
CARGO_TOML = ROOT / "Cargo.toml"

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest
# schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.30", ".".join(kubernetes_validate.latest_version().split(".")[:2]))
RELEASE = "producer-profile"
NAMESPACE = "producer-profile"

# What a release has to set; everything else has a default.
MINIMAL_VALUES: dict[str, Any] = {
    "secretRefs": {
        "databaseUrl": {"name": "producer-profile-database"},
        "encryptionKeys": {"name": "producer-profile-encryption"},
        "blindIndexKey": {"name": "producer-profile-encryption"},
    },
    "config": {
        "auth": {
            "issuer": "https://login.example.com/",
            "jwks": "https://login.example.com/.well-known/jwks.json",
        },
        "kafka": {"brokers": "kafka.example.internal:9092"},
        "encryption": {"active_key_id": "k1"},
    },
}

# Production plus the branches production leaves off: a JWKS file and a Kafka CA from
# ConfigMaps, the preStop sleep, no ingress peers, egress rules, a memory target,
# minAvailable, no ServiceAccount, another release name.
OPTIONS_OVERRIDES: dict[str, Any] = {
    "config": {"auth": {"jwks": ""}},
    "jwksFile": {"configMapName": "idp-jwks", "key": "jwks.json"},
    "kafkaCa": {"secretName": "", "configMapName": "kafka-ca-bundle", "key": "ca.pem"},
    "postgresCa": {"secretName": "", "configMapName": "postgres-ca-bundle", "key": "root.crt"},
    "serviceAccount": {"create": False, "name": "producer-profile-existing"},
    "api": {
        "preStopSleepSeconds": 5,
        "podAntiAffinity": "soft",
        "autoscaling": {"targetMemoryUtilizationPercentage": 80},
        "podDisruptionBudget": {"minAvailable": 2},
        "extraEnv": [{"name": "PP_DATABASE__POOL_MAX_SIZE", "value": "24"}],
    },
    "webhookDispatcher": {"autoscaling": {"enabled": False}, "podAntiAffinity": ""},
    "networkPolicy": {
        "grpcFrom": [],
        "metricsFrom": [],
        "egress": [
            {"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"}]},
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]},
        ],
    },
    "extraVolumes": [{"name": "pg-ca", "secret": {"secretName": "postgres-ca"}}],
    "extraVolumeMounts": [
        {"name": "pg-ca", "mountPath": "/etc/producer-profile/pg-ca", "readOnly": True}
    ],
}

# Values that must be refused, and a piece of the message that must name the problem.
NEGATIVE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("misspelled top-level key", {"replicaCont": 3}, "replicaCont"),
    ("misspelled key in api", {"api": {"replicaCont": 3}}, "replicaCont"),
    ("misspelled setting in config.database", {"config": {"database": {"pool_max_sise": 8}}}, "pool_max_sise"),
    ("unknown config section", {"config": {"databse": {"pool_max_size": 8}}}, "databse"),
    ("string where a number goes", {"api": {"replicaCount": "three"}}, "/api/replicaCount"),
    ("bad log format", {"config": {"log": {"format": "text"}}}, "/config/log/format"),
    ("number as a Kafka property value", {"config": {"kafka": {"properties": {"socket.timeout.ms": 30000}}}}, "socket.timeout.ms"),
    ("database URL in the ConfigMap", {"config": {"database": {"url": "postgres://u:p@db/pp"}}}, "secretRefs.databaseUrl"),
    ("development signing key", {"config": {"auth": {"dev_signing_key": "/dev.pem"}}}, "/config/auth/dev_signing_key"),
    ("SASL password in the ConfigMap", {"config": {"kafka": {"properties": {"sasl.password": "x"}}}}, "secretRefs.kafkaSaslPassword"),
    ("listen_addr set by hand", {"config": {"listen_addr": "0.0.0.0:8080"}}, "set by the chart"),
    ("image digest that is not one", {"image": {"digest": "latest"}}, "/image/digest"),
    ("missing database Secret", {"secretRefs": {"databaseUrl": {"name": ""}}}, "secretRefs.databaseUrl.name is required"),
    ("missing issuer", {"config": {"auth": {"issuer": ""}}}, "config.auth.issuer is required"),
    ("JWKS URL and file both", {"jwksFile": {"secretName": "jwks"}}, "not both"),
]

# Kinds kubernetes-validate has no schema for: (apiVersion, kind) -> required spec paths.
NO_SCHEMA = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ["spec.selector", "spec.endpoints"],
}
# Objects shared by the components carry no component label.
SHARED_KINDS = {"ConfigMap", "ServiceAccount", "ServiceMonitor"}
COMPONENTS = {"api", "webhook-dispatcher", "migrate"}
REQUIRED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
# Settings that must reach the binaries from Secrets, never from the ConfigMap.
SECRET_SETTINGS = {
    "database.url",
    "encryption.keys",
    "encryption.blind_index_key",
    "kafka.sasl_password",
    "kafka.properties.sasl.password",
}
SECRET_ENVS = {"PP_" + s.upper().replace(".", "__") for s in SECRET_SETTINGS if "properties" not in s}
# Settings the chart owns, with the values the ports depend on.
CHART_SETTINGS = {
    "listen_addr": "0.0.0.0:50051",
    "metrics.serve_addr": "0.0.0.0:9090",
    "metrics.dispatcher_addr": "0.0.0.0:9090",
}


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def fail(self, where: str, problem: str) -> None:
        self.failures.append(f"{where}: {problem}")
        print(f"  FAIL {where}: {problem}")


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge as Helm coalesces -f files: maps merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " | ".join(lines[:4])


def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def documented_settings() -> set[str] | None:
    """Setting names of README.md's "## Configuration" table, or None without a README."""
    if not README.exists():
        return None
    text = README.read_text()
    section = text.split("## Configuration", 1)[-1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_][a-z0-9_.]*)` \|", section, flags=re.MULTILINE))


def lint(report: Report, name: str, values: dict[str, Any]) -> None:
    """helm lint --strict: warnings (severity 2) count as errors (3); infos (1) do not."""
    result = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE_VERSIONS[0]}.0")
    problems = [m for m in result.get("messages", []) if m.get("severity", 0) >= 2]
    for message in problems:
        report.fail(f"lint [{name}] {message.get('path')}", first_line(message.get("error", "")))
    if not problems:
        for error in result.get("errors", []):
            report.fail(f"lint [{name}]", first_line(error))


def render(chart: helm.Chart, values: dict[str, Any], release: str) -> dict[str, str]:
    return chart.render(values, name=release, namespace=NAMESPACE, is_install=True)


def objects(manifests: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for template, text in sorted(manifests.items()):
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                found.append((template.split("/", 1)[-1], doc))
    return found


def validate_object(report: Report, where: str, obj: dict[str, Any]) -> None:
    for field in ("apiVersion", "kind"):
        if not obj.get(field):
            report.fail(where, f"no {field}")
            return
    if not dig(obj, "metadata.name"):
        report.fail(where, "no metadata.name")
        return
    key = (obj["apiVersion"], obj["kind"])
    if key in NO_SCHEMA:
        for path in NO_SCHEMA[key]:
            if not dig(obj, path):
                report.fail(where, f"{path} is missing")
        return
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path) or "(root)"
            report.fail(f"{where} [k8s {version}]", f"{path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            report.fail(where, f"{error.message} (a misspelled apiVersion/kind? else add it to NO_SCHEMA)")


def check_labels(report: Report, where: str, obj: dict[str, Any]) -> None:
    labels = dig(obj, "metadata.labels") or {}
    for label in REQUIRED_LABELS:
        if label not in labels:
            report.fail(where, f"label {label} is missing")
    component = labels.get("app.kubernetes.io/component")
    if obj["kind"] not in SHARED_KINDS and component not in COMPONENTS:
        report.fail(where, f"label app.kubernetes.io/component is {component!r}, not one of {sorted(COMPONENTS)}")


def check_pod(report: Report, where: str, obj: dict[str, Any], grace: int) -> None:
    pod = dig(obj, "spec.template.spec")
    if pod is None:
        return
    expect = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext.runAsNonRoot": True,
        "securityContext.runAsUser": 65532,
        "securityContext.seccompProfile.type": "RuntimeDefault",
    }
    for path, wanted in expect.items():
        if dig(pod, path) != wanted:
            report.fail(where, f"spec.template.spec.{path} is {dig(pod, path)!r}, want {wanted!r}")
    for container in pod.get("containers", []):
        cwhere = f"{where} container {container.get('name')}"
        sc = container.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            report.fail(cwhere, "securityContext.readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            report.fail(cwhere, "securityContext.allowPrivilegeEscalation is not false")
        if "ALL" not in (dig(sc, "capabilities.drop") or []):
            report.fail(cwhere, "securityContext.capabilities.drop lacks ALL")
        if not dig(container, "resources.requests") or not dig(container, "resources.limits"):
            report.fail(cwhere, "resources.requests and resources.limits must both be set")
        for env in container.get("env", []):
            if env["name"] in SECRET_ENVS and "valueFrom" not in env:
                report.fail(cwhere, f"env {env['name']} has a literal value; secrets come from secretKeyRef")
    if obj["kind"] == "Deployment":
        if not dig(obj, "spec.template.metadata.annotations.checksum/config"):
            report.fail(where, "no checksum/config pod annotation (config changes would not roll the pods)")
        period = pod.get("terminationGracePeriodSeconds") or 30
        if period <= grace:
            report.fail(where, f"terminationGracePeriodSeconds {period} is not above shutdown_grace_secs {grace}")


def check_config(report: Report, where: str, obj: dict[str, Any], documented: set[str] | None) -> int:
    """Checks the TOML file of the ConfigMap; returns its shutdown_grace_secs."""
    data = obj.get("data") or {}
    if list(data) != ["producer-profile.toml"]:
        report.fail(where, f"data keys are {sorted(data)}, want ['producer-profile.toml']")
        return 30
    try:
        config = tomllib.loads(data["producer-profile.toml"])
    except tomllib.TOMLDecodeError as error:
        report.fail(where, f"producer-profile.toml is not valid TOML: {error}")
        return 30
    flat = flatten(config)
    for setting, wanted in CHART_SETTINGS.items():
        if flat.get(setting) != wanted:
            report.fail(where, f"{setting} is {flat.get(setting)!r}, want {wanted!r}")
    for setting in flat:
        if setting in SECRET_SETTINGS:
            report.fail(where, f"secret setting {setting} is in the ConfigMap")
    for key, value in (dig(config, "kafka.properties") or {}).items():
        if not isinstance(value, str):
            report.fail(where, f"kafka.properties.{key!r} is a {type(value).__name__}; librdkafka properties are strings")
    if documented is not None:
        for setting in flat:
            name = "kafka.properties" if setting.startswith("kafka.properties.") else setting
            if name not in documented:
                report.fail(
                    where,
                    f"setting {name} is not in README.md's Configuration table "
                    "(the binaries refuse unknown settings: document it, or fix the chart)",
                )
    return int(flat.get("shutdown_grace_secs", 30))


def check_env_settings(report: Report, where: str, obj: dict[str, Any], documented: set[str] | None) -> None:
    """PP_* variables must name settings the binary knows (README's table)."""
    if documented is None:
        return
    for container in dig(obj, "spec.template.spec.containers") or []:
        for env in container.get("env", []):
            name = env["name"]
            if not name.startswith("PP_") or name == "PP_CONFIG":
                continue
            setting = name[3:].lower().replace("__", ".")
            if setting not in documented:
                report.fail(f"{where} container {container['name']}",
                            f"env {name} sets {setting}, which README.md's Configuration table does not list")


def check_value_set(report: Report, chart: helm.Chart, name: str, values: dict[str, Any],
                    release: str, documented: set[str] | None) -> int:
    print(f"==> render [{name}] (release {release!r})")
    try:
        manifests = render(chart, values, release)
    except helm.HelmError as error:
        report.fail(f"render [{name}]", first_line(str(error)))
        return 0
    found = objects(manifests)
    configs = [obj for _, obj in found if obj.get("kind") == "ConfigMap"]
    grace = 30
    for template, obj in found:
        where = f"[{name}] {template} {obj.get('kind')}/{dig(obj, 'metadata.name')}"
        validate_object(report, where, obj)
        if obj.get("kind") == "ConfigMap":
            grace = check_config(report, where, obj, documented)
    for template, obj in found:
        where = f"[{name}] {template} {obj.get('kind')}/{dig(obj, 'metadata.name')}"
        check_labels(report, where, obj)
        check_pod(report, where, obj, grace)
        check_env_settings(report, where, obj, documented)
    if len(configs) != 1:
        report.fail(f"[{name}]", f"{len(configs)} ConfigMaps rendered, want 1")
    kinds = sorted(f"{obj['kind']}" for _, obj in found)
    print(f"    {len(found)} objects: {', '.join(kinds)}")
    return len(found)


def check_negative(report: Report, chart: helm.Chart) -> None:
    print("==> values that must be refused")
    for description, override, expected in NEGATIVE_CASES:
        values = merge(MINIMAL_VALUES, override)
        try:
            render(chart, values, RELEASE)
        except helm.HelmError as error:
            message = str(error)
            if expected not in message:
                report.fail(f"negative [{description}]", f"refused, but the message does not name {expected!r}: {first_line(message)}")
            else:
                print(f"    ok  {description}: {first_line(message)}")
            continue
        report.fail(f"negative [{description}]", f"values {override} were accepted")


def check_app_version(report: Report, chart: helm.Chart) -> None:
    if not CARGO_TOML.exists():
        print("    (no Cargo.toml here: appVersion not compared)")
        return
    version = tomllib.loads(CARGO_TOML.read_text())["package"]["version"]
    if chart.metadata.get("appVersion") != version:
        report.fail("Chart.yaml", f"appVersion {chart.metadata.get('appVersion')!r} differs from Cargo.toml's version {version!r}")


def main() -> int:
    started = time.monotonic()
    report = Report()
    documented = documented_settings()
    print(f"==> chart {CHART.relative_to(ROOT)}; Kubernetes schemas {', '.join(KUBE_VERSIONS)} (strict)")
    if documented is None:
        print("    (no README.md here: rendered settings not compared with its Configuration table)")
    production = helm.values_from_yaml(PRODUCTION_VALUES.read_text())

    with helm.Chart.load(CHART) as chart:
        check_app_version(report, chart)
        print("==> helm lint --strict")
        lint(report, "minimal", MINIMAL_VALUES)
        lint(report, "production", production)
        count = 0
        count += check_value_set(report, chart, "minimal", MINIMAL_VALUES, RELEASE, documented)
        count += check_value_set(report, chart, "production", production, RELEASE, documented)
        count += check_value_set(report, chart, "options", merge(production, OPTIONS_OVERRIDES), "pp", documented)
        check_negative(report, chart)

    elapsed = time.monotonic() - started
    if report.failures:
        print(f"\nhelm-check: {len(report.failures)} problem(s) in {elapsed:.1f}s:")
        for failure in report.failures:
            print(f"  - {failure}")
        return 1
    print(f"\nhelm-check: OK — {count} objects valid, {len(NEGATIVE_CASES)} bad value sets refused ({elapsed:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
