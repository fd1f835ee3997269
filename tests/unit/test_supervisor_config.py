"""supervisord's config is rendered so every service starts only when the manager says."""

import configparser
import shlex
from pathlib import Path

import yaml

from cdc_ods.config import load_config
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.services import LoaderStage
from cdc_ods.stack.supervisor import Program, render_config


def test_programs_are_rendered_quoted_and_not_autostarted(tmp_path: Path) -> None:
    program = Program(
        name="svc",
        command=["/bin/echo", "two words", "it's"],
        directory=tmp_path,
        log=tmp_path / "svc.log",
        environment={"PASSWORD": "p%ss"},
        user="postgres",
        stop_wait_s=45,
    )
    parser = configparser.RawConfigParser()
    parser.read_string(render_config(tmp_path, [program]))
    section = parser["program:svc"]
    assert shlex.split(section["command"]) == ["/bin/echo", "two words", "it's"]
    assert section["autostart"] == "false"
    assert section["stopwaitsecs"] == "45"
    assert section["user"] == "postgres"
    assert section["environment"] == 'PASSWORD="p%%ss"'  # supervisord expands %(...)s
    assert parser["unix_http_server"]["file"] == str(tmp_path / "supervisor.sock")


def test_a_stage_of_several_processes_is_one_group_with_a_port_and_log_each(tmp_path: Path) -> None:
    (tmp_path / "cdc.yaml").write_text(yaml.safe_dump({"ods": {"processes": 3, "metrics_port": 9500}}))
    ctx = StackContext(load_config(tmp_path / "cdc.yaml"))
    programs = LoaderStage().programs(ctx)
    assert [p.name for p in programs] == ["loader", "loader-2", "loader-3"]
    ports = [p.command[-2:] for p in programs]
    assert ports == [["--metrics-port", str(port)] for port in (9500, 9510, 9520)]
    assert [p.log.name for p in programs] == ["loader.log", "loader-2.log", "loader-3.log"]
    assert LoaderStage().processes(ctx)["loader-3"] == "http://127.0.0.1:9520/metrics"
    parser = configparser.RawConfigParser()
    parser.read_string(render_config(tmp_path, programs))
    assert parser["group:loader"]["programs"] == "loader,loader-2,loader-3"
    assert {"program:loader", "program:loader-2", "program:loader-3"} <= set(parser.sections())


def test_a_stage_of_one_process_is_run_as_before(tmp_path: Path) -> None:
    (tmp_path / "cdc.yaml").write_text(yaml.safe_dump({"ods": {"metrics_port": 9500}}))
    ctx = StackContext(load_config(tmp_path / "cdc.yaml"))
    [program] = LoaderStage().programs(ctx)
    assert program.name == "loader" and program.group is None
    assert "--metrics-port" not in program.command  # the stage reads ods.metrics_port itself
    parser = configparser.RawConfigParser()
    parser.read_string(render_config(tmp_path, [program]))
    assert not [s for s in parser.sections() if s.startswith("group:")]
