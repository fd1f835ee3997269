"""docker-compose.yaml checked without a Docker engine.

Structure and rules are checked on the YAML itself (PyYAML): bind mounts point at files of
this repository and at the very connectors/, ksql/ and monitoring/ the local stack uses,
every service is health-checked or is a one-shot job, start-up order waits on health,
ports are published on 127.0.0.1 only and no secret is written down.

Validation against the Compose specification runs with whichever tool is present, and is
skipped (saying so) when none is:
- `docker compose config` (the Compose v2 CLI plugin; it needs no engine for `config`);
- the compose-spec JSON schema vendored by the `check-jsonschema` package (PyPI), with
  `jsonschema`. Neither is in requirements.lock, so a fresh checkout skips these two.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdc_ods.config import load_config
from cdc_ods.endpoints import Endpoints
from cdc_ods.secrets import KAFKA_ROLES, SECRET_VARS, kafka_password_var

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
JOB_LABEL = ("cdc-ods.role", "job")
SHARED_DIRS = ("connectors", "ksql", "monitoring")
# every secret the compose file needs from .env (documented in .env.example)
# docker-compose's Kafka runs in plain text on the compose network: no Kafka user passwords
KAFKA_PASSWORDS = {kafka_password_var(role) for role in KAFKA_ROLES}
COMPOSE_SECRETS = {
    *(var for var in SECRET_VARS if var not in KAFKA_PASSWORDS),
    "CDC_MONGODB_ADMIN_PASSWORD",
    "CDC_MONGODB_DEBEZIUM_PASSWORD",
    "CDC_GRAFANA_ADMIN_PASSWORD",
    "CDC_PII_HASH_KEY",
}
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|HASH_KEY|HMAC_KEY|API_KEY", re.IGNORECASE)
REQUIRED_VAR = re.compile(r"^\$\{(?P<name>[A-Z][A-Z0-9_]*):\?[^}]+\}$")
IGNORED_TREES = {".git", ".venv", ".stack", ".pytest_cache", ".ruff_cache", ".mypy_cache", "node_modules"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _dummy_secrets() -> dict[str, str]:
    return {name: f"dummy-{i}" for i, name in enumerate(sorted(COMPOSE_SECRETS))}


def _docker_compose() -> list[str] | None:
    """The Compose v2 command, when installed (plugin or standalone)."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        result = subprocess.run([*command, "version"], capture_output=True, text=True, check=False)
        if result.returncode == 0 and "version" in result.stdout.lower():
            return command
    return None


def _is_job(service: dict[str, Any]) -> bool:
    labels = service.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(item.split("=", 1) for item in labels)
    return labels.get(JOB_LABEL[0]) == JOB_LABEL[1]


def _bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """(host path, container path) of every bind mount of a service."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append(((ROOT / volume["source"]).resolve(), volume["target"]))
            continue
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append(((ROOT / source).resolve(), target))
    return mounts


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """The repository file a container path of this service comes from, via its bind mounts."""
    for host, target in _bind_mounts(service):
        if container_path == target:
            return host
        if container_path.startswith(target.rstrip("/") + "/"):
            return host / container_path[len(target.rstrip("/")) + 1 :]
    return None


def _repo_files(name: str) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in IGNORED_TREES]
        if name in filenames:
            found.append(Path(dirpath, name))
    return found


# ------------------------------------------------------------------ specification


def _empty_env(directory: Path) -> Path:
    """An env file with nothing in it (Compose v1 wants a regular file, not /dev/null): only
    the variables the test sets reach the file."""
    path = directory / "empty.env"
    path.write_text("", encoding="utf-8")
    return path


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    command = _docker_compose()
    if command is None:
        pytest.skip("no Compose CLI installed (`docker compose` plugin or `docker-compose`)")
    with_env = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "--env-file", str(_empty_env(tmp_path)), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **_dummy_secrets()},
    )
    assert with_env.returncode == 0, with_env.stderr


def test_docker_compose_config_names_a_missing_secret(tmp_path: Path) -> None:
    command = _docker_compose()
    if command is None:
        pytest.skip("no Compose CLI installed (`docker compose` plugin or `docker-compose`)")
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "--env-file", str(_empty_env(tmp_path)), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode != 0
    assert any(name in result.stderr for name in COMPOSE_SECRETS) and ".env" in result.stderr, result.stderr


def test_file_matches_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    try:
        import jsonschema
        from check_jsonschema.builtin_schemas import get_builtin_schema  # type: ignore[import-not-found]
    except ImportError:
        pytest.skip("check-jsonschema (which vendors the compose-spec schema) is not installed")
    schema = get_builtin_schema("vendor.compose-spec")
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)


# ------------------------------------------------------------------ files and mounts


def test_every_bind_mount_and_build_input_exists(services: dict[str, dict[str, Any]]) -> None:
    missing = []
    for name, service in services.items():
        missing += [f"{name}: {host}" for host, _ in _bind_mounts(service) if not host.exists()]
        build = service.get("build")
        if build is None:
            continue
        context = ROOT / (build["context"] if isinstance(build, dict) else build)
        dockerfile = context / (
            build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        )
        if not dockerfile.is_file():
            missing.append(f"{name}: {dockerfile}")
            continue
        for source in _copy_sources(dockerfile):
            if not (context / source).exists():
                missing.append(f"{name}: {dockerfile.relative_to(ROOT)} copies missing {source}")
    assert not missing, "\n".join(missing)


def _copy_sources(dockerfile: Path) -> list[str]:
    """Sources of COPY instructions that read the build context (not another stage)."""
    sources = []
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts or parts[0].upper() != "COPY" or any(p.startswith("--from") for p in parts):
            continue
        args = [p for p in parts[1:] if not p.startswith("--")]
        sources += args[:-1]
    return sources


def test_shared_configs_are_mounted_from_the_local_stack_dirs(services: dict[str, dict[str, Any]]) -> None:
    """connectors/, ksql/, monitoring/: mounted from the one copy, never duplicated."""
    mounted_from = {host for service in services.values() for host, _ in _bind_mounts(service)}
    for shared in SHARED_DIRS:
        users = [p for p in mounted_from if p == ROOT / shared or (ROOT / shared) in p.parents]
        assert users, f"nothing mounts {shared}/"
    # the `cdc` containers see the shared dirs where an editable checkout has them
    for name, service in services.items():
        if (service.get("build") or {}).get("dockerfile") == "docker/python/Dockerfile":
            mounts = dict((target, host) for host, target in _bind_mounts(service))
            for shared in SHARED_DIRS:
                assert mounts.get(f"/app/{shared}") == ROOT / shared, f"{name}: /app/{shared}"
            assert mounts.get("/app/cdc.yaml") == ROOT / "cdc.yaml", f"{name}: /app/cdc.yaml"
    # one copy of each config in the whole repository
    assert _repo_files("prometheus.yml") == [ROOT / "monitoring" / "prometheus.yml"]
    for shared in ("connectors", "ksql"):
        for original in (ROOT / shared).glob("*"):
            copies = [p for p in _repo_files(original.name) if p != original]
            assert not copies, f"second copy of {original.relative_to(ROOT)}: {copies}"


def test_prometheus_uses_the_local_config_with_compose_targets(services: dict[str, dict[str, Any]]) -> None:
    prometheus = services["prometheus"]
    mounts = {target: host for host, target in _bind_mounts(prometheus)}
    config_arg = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config_path = config_arg.split("=", 1)[1]
    config_dir = config_path.rsplit("/", 1)[0]
    assert mounts[config_path] == ROOT / "monitoring" / "prometheus.yml"
    assert mounts[f"{config_dir}/rules"] == ROOT / "monitoring" / "rules"
    targets_dir = mounts[f"{config_dir}/targets"]
    assert targets_dir == ROOT / "monitoring" / "compose-targets"

    config = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text(encoding="utf-8"))
    for job in config["scrape_configs"]:
        for sd in job.get("file_sd_configs", []):
            for file in sd["files"]:
                assert file.startswith("targets/"), file
                groups = json.loads((targets_dir / file.removeprefix("targets/")).read_text())
                for group in groups:
                    for target in group["targets"]:
                        host, port = target.rsplit(":", 1)
                        assert host in services, f"{job['job_name']}: {target} is not a compose service"
                        served = _environment(services[host]).get("JMX_EXPORTER_PORT")
                        config = load_config(ROOT / "cdc.yaml")
                        python_stages = {
                            "ods-loader": config.ods.metrics_port,
                            "collector": config.collector.port,
                            "watchdog": config.operations.metrics_port,
                        }
                        if host in python_stages:  # prometheus-client on the port cdc.yaml gives it
                            served = str(python_stages[host])
                        assert port in {served, "9090"}, (
                            f"{job['job_name']}: {host} serves metrics on {served}"
                        )


def test_jmx_exporter_rules_come_from_monitoring_jmx(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        rules = _environment(service).get("JMX_EXPORTER_RULES")
        if rules is None:
            continue
        host = _host_path(service, rules)
        assert host is not None and host.parent == ROOT / "monitoring" / "jmx", f"{name}: {rules}"
        assert host.is_file(), f"{name}: {host} missing"


# ------------------------------------------------------------------ health and ordering


def test_every_service_is_health_checked_or_a_one_shot_job(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck") or {}
        if _is_job(service):
            assert service.get("restart") == "no", f"{name}: a one-shot job must not restart"
            continue
        assert check.get("test") and not check.get("disable"), f"{name}: no health check"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, f"{name}: {check['test']}"


def test_start_up_order_waits_for_health_or_completion(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions (a mapping)"
        for other, spec in depends.items():
            assert other in services, f"{name} depends on unknown {other}"
            condition = spec.get("condition")
            if _is_job(services[other]):
                assert condition == "service_completed_successfully", f"{name} -> {other}: {condition}"
            else:
                assert condition == "service_healthy", f"{name} -> {other}: {condition}"


def test_ports_are_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


# ------------------------------------------------------------------ secrets and endpoints


def test_no_secret_is_written_down(services: dict[str, dict[str, Any]]) -> None:
    """Secrets only as ${VAR:?message} references to .env, which fail clearly when unset."""
    used = set()
    for name, service in services.items():
        for key, value in _environment(service).items():
            if SECRET_KEY.search(key):
                match = REQUIRED_VAR.match(value)
                assert match, f"{name}: {key} must be a ${{VAR:?message}} reference, not a literal"
                used.add(match.group("name"))
    assert used == COMPOSE_SECRETS
    # and in the raw text, anchors and comments included: every secret-named key
    for line in COMPOSE_FILE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*-?\s*([A-Za-z0-9_.]+)\s*[:=]\s*(.*)$", line)
        if match and SECRET_KEY.search(match.group(1)) and match.group(2).strip():
            value = match.group(2).strip().strip("\"'")
            # ${VAR:?...} from .env, or $$VAR: a shell in the container reading its own environment
            assert REQUIRED_VAR.match(value) or re.match(r"\$\$[A-Z_][A-Z0-9_]*\b", value), (
                f"literal secret? {line.strip()}"
            )


def test_init_scripts_read_passwords_from_the_environment() -> None:
    for script in (ROOT / "docker").rglob("*"):
        if not script.is_file() or script.suffix not in {".sh", ".sql", ".js"}:
            continue
        text = script.read_text(encoding="utf-8")
        literals = (
            r"(?i)\b(password|pwd)(=|:\s*|\s+=\s*)['\"][^'\"$]",  # KEY=literal, key: "literal"
            r"(?i)identified by\s+'",  # MySQL: IDENTIFIED BY 'literal'
            r"(?i)\bpassword\s+'",  # PostgreSQL: PASSWORD 'literal'
        )
        for pattern in literals:
            match = re.search(pattern, text)
            assert not match, f"{script.relative_to(ROOT)}: literal password? {match and match.group(0)!r}"


def test_cdc_containers_get_every_endpoint_and_credential(services: dict[str, dict[str, Any]]) -> None:
    cdc_services = {
        n: s
        for n, s in services.items()
        if (s.get("build") or {}).get("dockerfile") == "docker/python/Dockerfile"
    }
    assert {"producers", "ksql", "ods-loader"} <= set(cdc_services)
    for name, service in cdc_services.items():
        env = _environment(service)
        for var in [*Endpoints.ENV.values(), *(v for v in SECRET_VARS if v not in KAFKA_PASSWORDS)]:
            assert var in env, f"{name}: {var} missing"
        for var in Endpoints.ENV.values():
            value = env[var]
            host = re.sub(r"^https?://", "", value).split(":")[0].split("/")[0]
            assert host in services, f"{name}: {var}={value} is not a compose service"
    commands = {n: s["command"] for n, s in cdc_services.items()}
    assert commands["ksql"][:4] == ["ksql", "apply", "--backend", "ksqldb"]
    assert commands["ods-loader"][:2] == ["ods", "run"]
    assert commands["producers"][:2] == ["produce", "all"]


def test_connect_resolves_connector_passwords_from_its_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    env = _environment(services["connect"])
    assert env["CONNECT_CONFIG_PROVIDERS"] == "env"
    assert env["CONNECT_CONFIG_PROVIDERS_ENV_CLASS"].endswith(".EnvVarConfigProvider")
    for file in (ROOT / "connectors").glob("*.json"):
        for var in re.findall(r"\$\{env:([A-Z0-9_]+)\}", file.read_text(encoding="utf-8")):
            assert REQUIRED_VAR.match(env.get(var, "")), f"connect: {var} (used by {file.name}) missing"


# ------------------------------------------------------------------ sources as Debezium needs them


def test_sources_are_configured_for_change_capture(services: dict[str, dict[str, Any]]) -> None:
    mysql = services["mysql"]
    assert mysql["image"].startswith("mysql:8")
    for flag in ("--binlog-format=ROW", "--binlog-row-image=FULL", "--gtid-mode=ON", "--server-id=1"):
        assert flag in mysql["command"], flag
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    assert "wal_level=logical" in postgres["command"]
    mongodb_cmd = (ROOT / "docker" / "mongodb" / "Dockerfile").read_text(encoding="utf-8")
    assert '"--replSet", "rs0"' in mongodb_cmd
    assert "rs.initiate" in (ROOT / "docker" / "mongodb" / "healthcheck.sh").read_text(encoding="utf-8")


def test_maven_profiles_used_by_the_images_exist_in_the_pom() -> None:
    pom = (ROOT / "stack" / "pom.xml").read_text(encoding="utf-8")
    profiles = set(re.findall(r"<profile>\s*<id>([^<]+)</id>", pom))
    used = set()
    for dockerfile in (ROOT / "docker").rglob("Dockerfile"):
        text = dockerfile.read_text(encoding="utf-8")
        for names in re.findall(r"for (?:profile|plugin) in ([^;]+);", text):
            used |= set(names.split())
    assert used, "no image resolves jars from stack/pom.xml"
    assert used <= profiles, f"profiles not in stack/pom.xml: {sorted(used - profiles)}"


def test_shell_scripts_parse() -> None:
    bash = shutil.which("bash")
    assert bash
    for script in sorted((ROOT / "docker").rglob("*.sh")):
        result = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{script.relative_to(ROOT)}: {result.stderr}"
        assert os.access(script, os.X_OK), f"{script.relative_to(ROOT)} is not executable"


# ------------------------------------------------------------------ Grafana


def test_grafana_is_provisioned_with_prometheus_and_dashboards(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    mounts = {target: host for host, target in _bind_mounts(grafana)}
    provisioning = mounts["/etc/grafana/provisioning"]
    dashboards_dir = mounts["/var/lib/grafana/dashboards"]
    assert provisioning == ROOT / "monitoring" / "grafana" / "provisioning"
    assert dashboards_dir == ROOT / "monitoring" / "grafana" / "dashboards"

    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert datasources[0]["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards" / "cdc-ods.yaml").read_text())["providers"]
    assert providers[0]["options"]["path"] == "/var/lib/grafana/dashboards"


def _confluent_property(env_name: str, prefix: str) -> str:
    """The property a Confluent image derives from an environment variable (confluent-docker-utils
    env_to_props: lower case, a single `_` is `.`, `__` is `_`, `___` is `-`)."""
    raw = env_name.removeprefix(prefix).lower()
    dotted = ".".join(re.split(r"(?<=[^_])_(?=[^_])", raw))
    return "_".join("-".join(dotted.split("___")).split("__"))


def test_ksqldb_loads_the_udf_jar_with_the_masking_key(services: dict[str, dict[str, Any]]) -> None:
    """ksql/*.sql call CDC_* functions: the server has them from the UDF image, and CDC_HMAC's
    key (the property the UDF reads) is the same .env key the other stages get."""
    ksqldb = services["ksqldb"]
    assert ksqldb["build"]["dockerfile"] == "docker/ksqldb/Dockerfile"
    dockerfile = (ROOT / "docker" / "ksqldb" / "Dockerfile").read_text(encoding="utf-8")
    assert "ksql/udf/build.sh" in dockerfile
    env = _environment(ksqldb)
    assert f"COPY --from=udf /out/cdc-ksqldb-udf.jar {env['KSQL_KSQL_EXTENSION_DIR']}/" in dockerfile
    udf_source = (
        ROOT / "ksql" / "udf" / "src" / "io" / "github" / "cdcods" / "ksqldb" / "CdcHmac.java"
    ).read_text()
    key_config = re.search(r'KEY_CONFIG = "([^"]+)"', udf_source).group(1)  # type: ignore[union-attr]
    key_env = [name for name in env if _confluent_property(name, "KSQL_") == key_config]
    assert key_env, f"no KSQL_* variable sets {key_config}"
    assert REQUIRED_VAR.match(env[key_env[0]]).group("name") == "CDC_PII_HASH_KEY"  # type: ignore[union-attr]
    assert (
        _confluent_property("KSQL_KSQL_STREAMS_AUTO_OFFSET_RESET", "KSQL_")
        == "ksql.streams.auto.offset.reset"
    )
