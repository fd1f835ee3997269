"""supervisord's config is rendered so every service starts only when the manager says."""

import configparser
import shlex
from pathlib import Path

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
