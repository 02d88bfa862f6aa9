"""Sync profiles: list and search, detail, manual sync with live progress, activate or
deactivate, schedule and (masked) credentials."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import partial

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Label
from textual.worker import get_current_worker

from core import profiles
from core.bus import follow
from core.month import Month
from core.security.roles import Action
from core.security.secrets import SecretBox, SecretError
from core.views.profiles import ProfileDetail, ProfileRow, list_profiles, profile_detail
from core.workflows.sync import start_manual_sync
from expensis_tui.messages import ActionDone, ProfileDetailLoaded, ProfilesLoaded, ProgressUpdate
from expensis_tui.screens.base import PagedScreen, if_answered, local_time
from expensis_tui.screens.dashboard import status_text
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.form import Field, FormScreen, Values
from expensis_tui.widgets.keyed_table import KeyedTable
from expensis_tui.widgets.month_picker import month_picker
from expensis_tui.widgets.progress import ProgressScreen, progress_update


class ProfilesScreen(PagedScreen):
    AREA = "sync"
    TITLE = "Sync profiles"
    ROLE_ACTIONS = {"run": Action.SYNC_START, "edit_schedule": Action.PROFILE_SCHEDULE,
                    "edit_credentials": Action.PROFILE_CREDENTIALS}
    BINDINGS = [
        Binding("x", "run", "Sync", tooltip="Start manual sync", id="sync-start"),
        Binding("o", "toggle_active", "On/off", tooltip="Activate or deactivate profile",
                id="sync-toggle"),
        Binding("e", "edit_schedule", "Schedule", tooltip="Edit schedule", id="sync-schedule"),
        Binding("c", "edit_credentials", "Creds", tooltip="Edit credentials (admin)",
                id="sync-credentials"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, ProfileRow] = {}

    def compose_body(self) -> Iterable[Widget]:
        yield KeyedTable(self.zoned([("customer", "Customer"), ("provider", "Provider"), ("active", "Active"),
                                     ("next", "Next sync"), ("last", "Last status")], "next"), id="profiles",
                         local_filter=False)
        yield Label("", id="status-line", classes="status-line")

    def on_mount(self) -> None:
        self.query_one(KeyedTable).focus()

    def load(self) -> None:
        self.load_profiles(self.filter_words, self.page_offset, self.next_load())

    @work(thread=True, exclusive=True, exit_on_error=False, group="load", description="Loading profiles")
    def load_profiles(self, words: tuple[str, ...], offset: int, seq: int) -> None:
        self.post_message(ProfilesLoaded(list_profiles(self.rt.db, words=words, offset=offset,
                                                       limit=self.PAGE_SIZE), seq))

    def on_profiles_loaded(self, message: ProfilesLoaded) -> None:
        if not self.fresh(message.seq):
            return
        page = message.page
        self.total = page.total
        self.rows = {str(r.id): r for r in page.rows}
        self.query_one(KeyedTable).show_rows([
            (str(r.id), (f"{r.customer_code} {r.customer_name}", r.provider,
                         Text("yes", style="green") if r.active else Text("no", style="dim"),
                         local_time(r.next_sync_date, self.zone), status_text(r.last_status, r.last_reason)))
            for r in page.rows])
        self.query_one("#status-line", Label).update(
            f"{page.describe('profiles')} · enter detail · [ ] pages")
        self.loaded()

    # -- detail ------------------------------------------------------------------------------

    def selected(self) -> ProfileRow | None:
        key = self.query_one(KeyedTable).selected_key
        row = self.rows.get(key) if key is not None else None
        if row is None:
            self.notify("No profile selected", severity="warning", timeout=3)
        return row

    @on(DataTable.RowSelected)
    def open_profile(self, event: DataTable.RowSelected) -> None:
        event.prevent_default()
        if event.row_key.value in self.rows:
            self.load_detail(int(event.row_key.value))

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="Loading the profile")
    def load_detail(self, profile_id: int) -> None:
        detail = profile_detail(self.rt.db, profile_id, self.secrets(quiet=True))
        if detail is not None:
            self.post_message(ProfileDetailLoaded(detail))

    def on_profile_detail_loaded(self, message: ProfileDetailLoaded) -> None:
        profile_id = message.detail.row.id
        self.show_detail(f"Profile {message.detail.row.name}", self.detail_table(message.detail),
                         key=f"profile:{profile_id}", reload=lambda: self.load_detail(profile_id))

    def detail_table(self, d: ProfileDetail) -> Table:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold")
        table.add_column()
        r = d.row
        for label, value in (("customer", f"{r.customer_code} {r.customer_name}"), ("provider", r.provider),
                             ("active", "yes" if r.active else "no"),
                             ("schedule", f"every {r.interval_minutes} min, next "
                                          f"{local_time(r.next_sync_date, self.zone, '%Y-%m-%d %H:%M', zone_name=True)}"),
                             ("base url", d.base_url), ("customer ref", d.customer_ref),
                             ("credentials", d.credentials_note)):
            table.add_row(label, value)
        for name, masked in d.credentials.items():
            table.add_row(f"  {name}", masked)
        table.add_row("recent syncs", "" if d.recent else "none")
        for t in d.recent:
            table.add_row(f"  #{t.id}", Text.assemble(f"{Month.of(t.cycle_start_date)} {t.trigger:<8} ",
                                                      status_text(t.status, t.reason)))
        return table

    # -- manual sync -------------------------------------------------------------------------

    def action_run(self) -> None:
        row = self.selected()
        if row is None or not self.allowed(Action.SYNC_START, row.name):
            return
        picker = month_picker(f"Manual sync: {row.customer_code} · {row.provider}",
                             self.now().astimezone(self.zone).date(),
                             detail="Sync from which month?")
        self.app.push_screen(picker, if_answered(partial(self.start_sync, row)))

    def start_sync(self, row: ProfileRow, month: str) -> None:
        self.progress = ProgressScreen(f"Syncing {row.customer_code} · {row.provider} · {month}")
        self.app.push_screen(self.progress)
        self.run_sync(row.id, month)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sync", description="The manual sync")
    def run_sync(self, profile_id: int, month: str) -> None:
        worker = get_current_worker()
        started = start_manual_sync(self.rt.bus, profile_id, month, operator=self.rt.operator)
        for progress in follow(self.rt.bus, started.handle, should_stop=lambda: worker.is_cancelled,
                               poll_seconds=0.5):
            self.post_message(progress_update(progress, done_words="completed"))

    def on_progress_update(self, message: ProgressUpdate) -> None:
        if self.progress is not None and self.progress.is_attached:
            self.progress.update_progress(message)
        if message.finished:
            self.notify(f"Sync finished: {message.status.splitlines()[0]}",
                        severity="error" if message.failed else "information")
            self.load()

    # -- activate, schedule, credentials ----------------------------------------------------

    def allowed(self, role_action: Action, target: str = "") -> bool:
        return self.permitted(role_action, target)

    def action_toggle_active(self) -> None:
        row = self.selected()
        if row is None or not self.allowed(Action.PROFILE_DEACTIVATE if row.active else Action.PROFILE_ACTIVATE,
                                           row.name):
            return
        verb = "Deactivate" if row.active else "Activate"
        question = f"{verb} sync profile {row.name}?"
        detail = ("It will not sync on schedule until activated again." if row.active
                  else "It will sync on its schedule again.")
        self.app.push_screen(ConfirmScreen(question, detail=detail, yes=verb),
                             if_answered(lambda _: self.set_active(row.id, not row.active)))

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Changing the profile")
    def set_active(self, profile_id: int, active: bool) -> None:
        profiles.set_active(self.rt.db, profile_id, active, operator=self.rt.operator)
        self.post_message(ActionDone("toggle", f"profile {'activated' if active else 'deactivated'}"))

    def action_edit_schedule(self) -> None:
        row = self.selected()
        if row is None or not self.allowed(Action.PROFILE_SCHEDULE, row.name):
            return
        fields = [Field("interval", "Every (min)", str(row.interval_minutes)),
                  Field("next", "Next sync", local_time(row.next_sync_date, self.zone, "%Y-%m-%d %H:%M")
                        if row.next_sync_date else "", placeholder="YYYY-MM-DD HH:MM (empty: next tick)")]
        form = FormScreen(f"Schedule of {row.name}", fields, validate=self.schedule_error)
        self.app.push_screen(form, if_answered(partial(self.save_schedule, row.id)))

    def parse_schedule(self, values: Values) -> tuple[int, datetime | None]:
        interval = int(values["interval"].strip())
        text = values["next"].strip()
        when = datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=self.zone) if text else None
        return interval, when

    def schedule_error(self, values: Values) -> str | None:
        try:
            interval, _ = self.parse_schedule(values)
        except ValueError:
            return "interval: whole minutes; next sync: YYYY-MM-DD HH:MM or empty"
        if not profiles.MIN_INTERVAL <= interval <= profiles.MAX_INTERVAL:
            return f"interval must be {profiles.MIN_INTERVAL}..{profiles.MAX_INTERVAL} minutes"
        return None

    def save_schedule(self, profile_id: int, values: Values) -> None:
        interval, when = self.parse_schedule(values)
        self.write_schedule(profile_id, interval, when)

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Saving the schedule")
    def write_schedule(self, profile_id: int, interval: int, when: datetime | None) -> None:
        profiles.update_schedule(self.rt.db, profile_id, interval, when, operator=self.rt.operator)
        self.post_message(ActionDone("schedule", f"schedule saved: every {interval} min"))

    def secrets(self, *, quiet: bool = False) -> SecretBox | None:
        try:
            return SecretBox.from_settings(self.rt.settings)
        except SecretError as exc:
            if not quiet:
                raise
            self.app.notify(str(exc), severity="warning")
            return None

    def action_edit_credentials(self) -> None:
        row = self.selected()
        if row is None or not self.allowed(Action.PROFILE_CREDENTIALS, row.name):
            return
        self.console.hold_keys()  # what is typed while the fields are read goes into the form
        self.open_credentials(row.id, row.name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail",
          description="Reading the credential fields")
    def open_credentials(self, profile_id: int, name: str) -> None:
        detail = profile_detail(self.rt.db, profile_id, self.secrets())
        names = list(detail.credentials) if detail else []
        fields = [Field(n, n, placeholder="unchanged", password=True) for n in names or ("username", "password")]
        form = FormScreen(f"Credentials of {name}", fields,
                          detail="Values are hidden; empty fields keep their value.")
        self.app.call_from_thread(self.app.push_screen, form,
                                  if_answered(partial(self.write_credentials, profile_id)))

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Saving the credentials")
    def write_credentials(self, profile_id: int, values: Values) -> None:
        secrets = self.secrets()
        assert secrets is not None
        changed = profiles.update_credentials(self.rt.db, profile_id, values, secrets=secrets,
                                              operator=self.rt.operator)
        self.post_message(ActionDone("credentials", f"credentials changed: {', '.join(changed)}"
                                     if changed else "credentials unchanged"))

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, severity="information" if message.ok else "error")
        self.load()
