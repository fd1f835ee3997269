"""Kafka Connect, distributed mode, with the Debezium source connectors as plugins."""

from __future__ import annotations

import httpx

from cdc_ods.errors import TransientError
from cdc_ods.kafka_security import WORKER_PASSWORD, WORKER_USER, java_settings
from cdc_ods.secrets import CONNECT_USER, kafka_user, lookup_secret, write_private
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.java import java_command
from cdc_ods.stack.services.base import Service
from cdc_ods.stack.services.kafka import render_properties
from cdc_ods.stack.supervisor import Program

# Maven profiles (stack/pom.xml) that are Connect plugins -> the connector class each must
# offer. Each profile resolves into its own directory under lib/connect-plugins/.
PLUGINS = {
    "debezium-mariadb": "io.debezium.connector.mariadb.MariaDbConnector",
    "debezium-mysql": "io.debezium.connector.mysql.MySqlConnector",
    "debezium-postgres": "io.debezium.connector.postgresql.PostgresConnector",
    "debezium-mongodb": "io.debezium.connector.mongodb.MongoDbConnector",
}
BASIC_AUTH = "org.apache.kafka.connect.rest.basic.auth.extension"  # Kafka's, in lib/connect


class Connect(Service):
    name = "connect"
    requires = ("kafka",)
    maven_profiles = ("connect", "jmx-exporter", *PLUGINS)
    port_names = ("connect", "jmx_connect")
    metrics_port_name = "jmx_connect"
    stop_wait_s = 60

    def endpoint(self, ctx: StackContext) -> str:
        return f"http://{ctx.host}:{ctx.ports.connect}"

    def _properties(self, ctx: StackContext):
        return ctx.conf(self.name) / "connect-distributed.properties"

    def _jaas(self, ctx: StackContext):
        return ctx.conf(self.name) / "rest-jaas.conf"

    def _write_users(self, ctx: StackContext) -> None:
        """The REST API's one user, `cdc`, with its password from the secrets file: the
        properties file the JAAS login module reads (mode 0600, as the secrets file)."""
        users = ctx.conf(self.name) / "rest-users.properties"
        write_private(users, f"{CONNECT_USER}: {ctx.credentials.connect.get_secret_value()}\n")
        module = f"{BASIC_AUTH}.PropertyFileLoginModule"
        self._jaas(ctx).write_text(f'KafkaConnect {{\n  {module} required\n  file="{users}";\n}};\n')

    def prepare(self, ctx: StackContext) -> None:
        host, port = ctx.host, ctx.ports.connect
        settings: dict[str, object] = {
            "bootstrap.servers": f"{host}:{ctx.ports.kafka}",
            "group.id": "cdc-connect",
            # Debezium's envelope as plain JSON, no embedded schema (cdc_ods.contract, raw topics)
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "false",
            "value.converter.schemas.enable": "false",
            "config.storage.topic": "connect-configs",
            "offset.storage.topic": "connect-offsets",
            "status.storage.topic": "connect-status",
            "config.storage.replication.factor": 1,
            "offset.storage.replication.factor": 1,
            "status.storage.replication.factor": 1,
            "offset.flush.interval.ms": 1000,
            # A worker that lost Kafka for longer than its session rejoins as a new member, and
            # the group holds back the old member's connectors and tasks for this long in case it
            # returns (default 5 minutes). One worker: nobody else will, so reassign them at once.
            "scheduled.rebalance.max.delay.ms": 10_000,
            "listeners": f"HTTP://{host}:{port}",
            "rest.advertised.host.name": host,
            "rest.advertised.port": port,
            "plugin.path": ctx.config.lib_dir / "connect-plugins",
            # Debezium 3 jars declare their plugins for the ServiceLoader: no classpath scan
            "plugin.discovery": "service_load",
            # connector configs say ${env:CDC_..._PASSWORD}; the secret never enters a config topic
            "config.providers": "env",
            "config.providers.env.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
            # HTTP basic authentication of every REST call (the user of rest-jaas.conf); the
            # workers' own calls to each other are signed instead (KIP-507)
            "rest.extension.classes": f"{BASIC_AUTH}.BasicAuthSecurityRestExtension",
        }
        if ctx.config.kafka.security == "sasl_ssl":
            # the worker's own clients and those it makes for the connectors, as cdc-connect
            # (its password from the environment, through the `env` config provider)
            login = java_settings(WORKER_USER, WORKER_PASSWORD, ctx.config.stack_ca_file)
            for prefix in ("", "producer.", "consumer.", "admin."):
                settings.update({prefix + key: value for key, value in login.items()})
        ctx.conf(self.name).mkdir(parents=True, exist_ok=True)
        self._properties(ctx).write_text(render_properties(settings), encoding="utf-8")
        self._write_users(ctx)
        ctx.data(self.name).mkdir(parents=True, exist_ok=True)

    def program(self, ctx: StackContext) -> Program:
        # The connector configs read passwords through ${env:...}: no secret is stored in
        # Connect's config topic, and docker-compose passes its own. Each source's capture
        # password, from the environment or the secrets file, as `cdc stack up connect` saw it
        # (a source added later: `cdc stack stop connect && cdc stack up --pipeline`).
        creds = ctx.credentials
        environment = {
            "CDC_MYSQL_DEBEZIUM_PASSWORD": creds.mysql_debezium.get_secret_value(),
            "CDC_POSTGRES_DEBEZIUM_PASSWORD": creds.postgres_debezium.get_secret_value(),
            "CDC_KAFKA_USER": kafka_user("connect"),
            "CDC_KAFKA_PASSWORD": creds.kafka[kafka_user("connect")].get_secret_value(),
        }
        for source in ctx.config.sources:
            login = source.capture
            if login is not None and (secret := lookup_secret(ctx.root, login.password_env)) is not None:
                environment[login.password_env] = secret.get_secret_value()
        return Program(
            name=self.name,
            command=java_command(
                ctx,
                main="org.apache.kafka.connect.cli.ConnectDistributed",
                classpath=[f"{ctx.lib('connect')}/*"],
                heap_mb=ctx.config.stack.heap_mb.connect,
                args=[str(self._properties(ctx))],
                jmx=(ctx.ports.jmx_connect, "connect.yaml"),
                # the binlog client logs through java.util.logging: route it to log4j2
                jvm_flags=[
                    "-Djava.util.logging.manager=org.apache.logging.log4j.jul.LogManager",
                    f"-Djava.security.auth.login.config={self._jaas(ctx)}",
                ],
            ),
            directory=ctx.data(self.name),
            log=ctx.log(self.name),
            environment=environment,
            stop_wait_s=self.stop_wait_s,
        )

    def check(self, ctx: StackContext) -> None:
        try:
            auth = (CONNECT_USER, ctx.credentials.connect.get_secret_value())
            response = httpx.get(f"{self.endpoint(ctx)}/connector-plugins", timeout=5, auth=auth)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise TransientError(f"connect: {exc}") from None
        offered = {p["class"] for p in response.json()}
        missing = sorted(set(PLUGINS.values()) - offered)
        if missing:
            raise TransientError(f"connect: Debezium plugins not loaded: {', '.join(missing)}")
