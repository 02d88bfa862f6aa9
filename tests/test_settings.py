"""Settings read only the variables they declare; the config file is checked name by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from core.config import ConfigError, load_settings
from expensis_tui.cli import main


def test_unknown_expensis_environment_names_are_ignored(tmp_path: Path) -> None:
    env = {"EXPENSIS_SKIP_MARIADB": "1", "EXPENSIS_TEST_MARIADB": "mysql://x", "EXPENSIS_SMTP__NOPE": "1",
           "EXPENSIS_WORKERS": "7", "EXPENSIS_SMTP__HOST": "mail.example.nl"}
    settings = load_settings(data_dir=tmp_path, config_file=tmp_path / "none.toml", environ=env)
    assert settings.workers == 7 and settings.smtp.host == "mail.example.nl"


def test_a_declared_environment_name_with_a_bad_value_is_still_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="workers"):
        load_settings(data_dir=tmp_path, config_file=tmp_path / "none.toml", environ={"EXPENSIS_WORKERS": "many"})


def test_a_typo_in_the_config_file_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("wokers = 4\n")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\): wokers"):
        load_settings(data_dir=tmp_path, config_file=cfg, environ={})
    cfg.write_text("[smtp]\nhots = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\): smtp.hots"):
        load_settings(data_dir=tmp_path, config_file=cfg, environ={})


def test_the_cli_runs_with_a_foreign_expensis_variable_and_refuses_a_config_typo(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPENSIS_SKIP_MARIADB", "1")
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), "db", "status"])
    assert result.exit_code == 0, result.output
    cfg = tmp_path / "config.toml"
    cfg.write_text("time_zone = 'Europe/Amsterdam'\nworkerz = 2\n")
    result = CliRunner().invoke(main, ["--config", str(cfg), "--data-dir", str(tmp_path / "data"), "db", "status"])
    assert result.exit_code == 3 and "unknown setting(s): workerz" in result.stderr
    assert "Traceback" not in result.stderr
