"""Settings: defaults, then the TOML config file, then EXPENSIS_* variables, then CLI options.

The config file lives in the platformdirs config dir (`config.toml`) unless
EXPENSIS_CONFIG names another. Every path the program writes derives from
`data_dir`, so one `--data-dir` isolates a whole installation (tests, the demo).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

APP = "expensis"


class ConfigError(Exception):
    """The configuration cannot be used; the message says which setting and why."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 25
    username: str = ""
    password: str = ""
    starttls: bool = False
    sender: str = "billing@localhost"
    error_recipients: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class IssuerSettings:
    name: str = "Expensis B.V."
    address: str = "Stationsplein 1\n1012 AB Amsterdam"
    country: str = "NL"
    vat_number: str = "NL000000000B01"
    chamber_of_commerce: str = "00000000"
    iban: str = "NL00BANK0123456789"
    email: str = "billing@example.nl"
    code: str = "default"


@dataclass(frozen=True)
class PaymentSettings:
    """SEPA direct debit and reminders (`[payments]` in the config file)."""

    creditor_id: str = ""  # SEPA creditor identifier (incassant-ID), e.g. NL79ZZZ999999990000
    creditor_bic: str = ""  # derived from the issuer's IBAN when empty
    lead_days: int = 1  # business days between building a batch and its collection date (SEPA Core D-1)
    reminder_days: str = "7,21,35"  # after the due date: reminder, second reminder, formal notice


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    config_file: Path | None = None
    db_url: str = ""
    log_dir: Path | None = None
    secret_key_file: Path | None = None
    time_zone: str = "Europe/Amsterdam"
    workers: int = 4
    console_workers: str = "process"  # process: a supervised `expensis worker`; thread: in-process
    lease_seconds: int = 60  # a bus message held by a worker that died is claimed again after this
    scheduler_lease_seconds: float = 30.0  # a dead leader's standby takes over after this (+ one poll)
    standby_poll_seconds: float = 0.5  # how often a standby looks at the lease (a read, no write)
    max_attempts: int = 5
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 300.0
    sync_interval_minutes: int = 5
    provider_timeout_s: float = 30.0
    invoice_day: int = 15
    payment_terms_days: int = 14
    vat_rate: Decimal = Decimal("21")
    # an invoice whose total differs more than this % from the previous one waits for review
    invoice_review_percent: Decimal = Decimal("50")
    # a pending correction of an invoiced cycle: "credit_note" (credit note + new invoice, by
    # an operator) or "next_invoice" (a correction line on the customer's next invoice)
    invoice_corrections: str = "credit_note"
    operator: str = ""
    allow_operator_override: bool = False  # let --operator name someone other than the OS user
    cdr_earliest_date: str = "2000-01-01"  # CDRs dated before it are quarantined
    cdr_max_future_days: int = 1  # ... and those dated further ahead than this
    cdr_max_cost: Decimal = Decimal("1000")  # plausibility cap on one CDR's provider cost
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    issuer: IssuerSettings = field(default_factory=IssuerSettings)
    payments: PaymentSettings = field(default_factory=PaymentSettings)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'expensis.sqlite3'}"

    @property
    def logs(self) -> Path:
        return self.log_dir or self.data_dir / "logs"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def invoices_dir(self) -> Path:
        return self.data_dir / "invoices"

    @property
    def key_file(self) -> Path:
        return self.secret_key_file or self.data_dir / "secret.key"

    @property
    def operator_name(self) -> str:
        """The operator asked for (before the access check in core.security.roles)."""
        return self.operator or self.os_user

    @property
    def os_user(self) -> str:
        try:
            return os.getlogin()
        except OSError:
            import getpass

            return getpass.getuser()


def _coerce(name: str, raw: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            return str(raw).strip().lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Decimal):
            return Decimal(str(raw))
        if isinstance(default, Path) or name.endswith(("_dir", "_file")):
            return Path(str(raw)).expanduser()
        return str(raw)
    except (ValueError, ArithmeticError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {raw!r} ({exc})") from exc


def _merge(obj: Any, values: dict[str, Any], prefix: str = "", *, strict: bool = True) -> Any:
    """`values` over `obj`; an unknown name is an error when `strict` (files, options), else skipped."""
    changes: dict[str, Any] = {}
    for f in fields(obj):
        if f.name not in values:
            continue
        current = getattr(obj, f.name)
        raw = values[f.name]
        if hasattr(current, "__dataclass_fields__"):
            if not isinstance(raw, dict):
                raise ConfigError(f"setting [{prefix}{f.name}] must be a table")
            changes[f.name] = _merge(current, raw, f"{f.name}.", strict=strict)
        else:
            changes[f.name] = _coerce(prefix + f.name, raw, current)
    unknown = set(values) - {f.name for f in fields(obj)}
    if unknown and strict:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(prefix + u for u in unknown))}")
    return replace(obj, **changes)


def _env_values(environ: dict[str, str]) -> dict[str, Any]:
    """EXPENSIS_DB_URL=... → db_url; EXPENSIS_SMTP__HOST=... → smtp.host."""
    values: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith("EXPENSIS_") or key in ("EXPENSIS_CONFIG", "EXPENSIS_SECRET_KEY"):
            continue
        path = key[len("EXPENSIS_"):].lower().split("__")
        target = values
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = raw
    return values


def _user_dir(kind: str) -> Path:
    """The platform's per-user config or data directory for the app (only looked up, and
    platformdirs only imported, when no path was given)."""
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP))


def load_settings(
    *,
    data_dir: Path | str | None = None,
    db_url: str | None = None,
    config_file: Path | str | None = None,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    env = dict(os.environ if environ is None else environ)
    cfg_path = Path(config_file or env.get("EXPENSIS_CONFIG") or _user_dir("config") / "config.toml")
    settings = Settings(data_dir=Path(data_dir) if data_dir is not None else _user_dir("data"))
    if cfg_path.is_file():
        try:
            file_values = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {cfg_path}: {exc}") from exc
        settings = _merge(settings, file_values)
        settings = replace(settings, config_file=cfg_path)
    # The environment holds other tools' EXPENSIS_* names too (EXPENSIS_SKIP_MARIADB): only
    # the declared ones are read. A typo in the config file is still an error that names it.
    settings = _merge(settings, _env_values(env), strict=False)
    cli: dict[str, Any] = dict(overrides or {})
    if data_dir is not None:
        cli["data_dir"] = data_dir
    if db_url:
        cli["db_url"] = db_url
    settings = _merge(settings, cli)
    if not 1 <= settings.invoice_day <= 28:
        raise ConfigError("setting 'invoice_day' must be between 1 and 28")
    try:
        date.fromisoformat(settings.cdr_earliest_date)
    except ValueError:
        raise ConfigError(f"setting 'cdr_earliest_date': {settings.cdr_earliest_date!r} is not a date "
                          "(YYYY-MM-DD)") from None
    return cast(Settings, settings)
