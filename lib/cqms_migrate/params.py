"""Params: one YAML file per environment, validated by a strict typed model.

A params file names the *environment variable* that holds the database URL; it never holds
the URL or a password (a URL-looking value is rejected). Unknown or mistyped keys are
rejected with a message naming them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ParamsError
from .paths import params_dir

PassingStatus = Literal["pass", "fail", "pending", "needs_review"]
ValidationStatus = Literal["pending", "approved", "rejected", "needs_revision"]
AckStatus = Literal["pending", "acknowledged", "disputed", "not_required"]
Quarantine = Literal["quarantine"]
ENVS = ("local", "staging", "prod")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleDef(Strict):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,39}$")
    name: str
    level: int = Field(ge=0, le=10)
    access_level: Literal["standard", "elevated", "admin"] = "standard"


class HealthParams(Strict):
    """Between batches the engine waits while one of these signals says the database is busy."""

    maintenance: bool = True            # VACUUM / autovacuum / ANALYZE holds a lock on the table being read
    lock_waits: bool = True             # sessions wait for a lock on that table (the batch size is halved too)
    lock_wait_ms: int = Field(default=1000, ge=0)              # ... for longer than this (PG14+ waitstart)
    max_replication_lag_s: float = Field(default=30.0, ge=0)   # where pg_stat_replication shows it
    recheck_ms: int = Field(default=1000, ge=10)
    max_wait_s: float = Field(default=120.0, ge=0)             # then go on, and say so


class ExcludedTable(Strict):
    """A legacy audit table the operator decided not to migrate, with the reason (recorded in the
    trail; its rows show as 'excluded by decision' in every reconciliation)."""
    table: str = Field(min_length=1, max_length=63)
    reason: str = Field(min_length=3)


class ParameterSpec(Strict):
    """What one parameter column means (parameters.py): kind, and for a flag the values that mean
    an error, for points the maximum."""
    kind: Literal["count", "flag", "points", "feedback"]
    error_values: list[str] = []
    max: float | None = None

    @model_validator(mode="after")
    def _complete(self):
        if self.kind == "flag" and not self.error_values:
            raise ValueError("a flag needs error_values: the values that mean an error (e.g. [yes], [no], [true])")
        if self.kind == "points" and (self.max is None or self.max <= 0):
            raise ValueError("points need max: the most points the parameter gives")
        return self


class LegacySeed(Strict):
    audits: int = Field(default=100_000, ge=0)
    scorecards: int = Field(default=20, ge=2, le=200)
    people: int = Field(default=400, ge=20)
    seed: int = 42


class Params(Strict):
    env: Literal["local", "staging", "prod"]
    database_url_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    require_confirmation: bool = False
    # the least TLS the connection may use (libpq sslmode); a URL asking for less is refused, a
    # URL that says nothing gets this. Staging and prod: require, unless params say otherwise.
    tls: Literal["disable", "require", "verify-ca", "verify-full"] = "require"
    application_name: str = "cqms-migrate"

    # lock-timeout-and-retry table: [lock_timeout_ms, sleep_s] per attempt (GitLab style)
    lock_retries: list[tuple[int, float]] = [(100, 0.2), (250, 0.5), (500, 1.0), (1000, 2.0), (2000, 4.0)]
    statement_timeout_s: int = Field(default=600, ge=0)
    # trigger DDL on legacy tables: DROP TRIGGER takes ACCESS EXCLUSIVE and queues every reader
    # behind it while it waits, so many short attempts (at most ~0.2 s of queueing each)
    legacy_lock_retries: list[tuple[int, float]] = [(50, 0.5), (100, 1.0), (100, 2.0), (200, 4.0), (200, 8.0),
                                                    (200, 15.0), (200, 30.0), (200, 30.0)]
    # after a rollback turns a feature flag off: how long the application takes to see it
    flag_propagation_s: float = Field(default=5.0, ge=0)
    # a concurrent index build on audits (the GIN over transcripts dominates; minutes at 10M rows)
    index_statement_timeout_s: int = Field(default=3600, ge=1)

    # backfills (batching.Engine): the first batch has batch_size rows; later ones are sized
    # toward batch_target_ms within [batch_min_rows, batch_max_rows]; a batch that hits
    # batch_statement_timeout_s is split in half and retried
    batch_size: int = Field(default=5_000, ge=1, le=1_000_000)
    batch_min_rows: int = Field(default=200, ge=1)
    batch_max_rows: int = Field(default=50_000, ge=1, le=1_000_000)
    batch_target_ms: int = Field(default=500, ge=10, le=600_000)
    batch_pause_ms: int = Field(default=0, ge=0)
    batch_statement_timeout_s: int = Field(default=120, ge=1)
    # a batch that cannot get its row locks (an application transaction holds rows for long)
    # waits and retries, smaller, this long in all before the phase stops
    batch_lock_wait_max_s: float = Field(default=600.0, ge=0)
    health: HealthParams = HealthParams()
    # before a fresh backfill, time the same statement unbatched per table (and a raw copy of the
    # rows) in a transaction that is rolled back: the notebook compares the backfill with both.
    # A benchmark, local only: while the unbatched copy runs, every application write to a legacy
    # audit table waits for it (its sync trigger writes a row the copy inserted): 95 s at 1M audits.
    measure_unbatched_baseline: bool = False

    # phase 1: roles and the mapping of legacy people.role text to a role code
    roles: list[RoleDef]
    role_mapping: dict[str, str] = {}
    default_role: str

    # phase 2: the legacy spellings of each constrained audit column (vocab.py: built-in defaults
    # under these; matched ignoring case, whitespace and -/_; 'quarantine' = quarantine that
    # spelling, by decision). A spelling neither knows is NO-GO at preflight.
    passing_status_map: dict[str, PassingStatus | Quarantine] = {}
    validation_status_map: dict[str, ValidationStatus | Quarantine] = {}
    acknowledgement_status_map: dict[str, AckStatus | Quarantine] = {}
    # how a status set through audits is written back to a legacy table that never used a
    # spelling for it (a table's own most used spelling comes first)
    passing_status_legacy_spelling: dict[PassingStatus, str] = {}
    validation_status_legacy_spelling: dict[ValidationStatus, str] = {}
    acknowledgement_status_legacy_spelling: dict[AckStatus, str] = {}
    # the time zone a time stamp's date is read in (an interaction_date held as timestamptz):
    # unset, preflight asks for it when such a column holds times of day (the database does not
    # record the business's zone; the stanza proposes one from the hours the audits were done)
    business_time_zone: str | None = None
    # an audit table's channel spelling that names none of the channels people and scorecards
    # use -> the channel it means (as people spell it; 'Unassigned' for none)
    channel_map: dict[str, str] = {}
    # a people.country value the built-in rule (ISO code, English name, UK/USA/UAE) does not
    # know -> its ISO 3166-1 alpha-2 code ('ZZ': unassigned)
    country_map: dict[str, str] = {}
    unknown_email_policy: Literal["placeholder", "quarantine"] = "quarantine"
    partition_audits: Literal["none", "yearly"] = "none"
    # tables a scorecard names that must not be migrated (e.g. a test scorecard's table lacking
    # the audit columns), each with its reason
    exclude_tables: list[ExcludedTable] = []
    # what a parameter column means where preflight cannot be certain: {table: {column: {kind:
    # count|flag|points|feedback, error_values: [...] (flag), max: N (points)}}}
    parameters: dict[str, dict[str, ParameterSpec]] = {}
    # a table several scorecards name (a scorecard and its inactive copy): the scorecard (name or
    # id) its audits belong to; without it, the only active one
    scorecard_for_table: dict[str, str] = {}

    # preflight gates
    min_free_disk_factor: float = Field(default=2.0, ge=0)
    max_orphan_pct: float = Field(default=15.0, ge=0, le=100)
    # the outcome gate (before a phase's flag turns on; preflight forecasts it): the share of
    # legacy rows a phase may quarantine, over all its tables and in any one table; and how many
    # rows of a reason preflight did not forecast for a table are tolerated (writes since), as a
    # share of that table's rows
    max_quarantine_pct: float = Field(default=5.0, ge=0, le=100)
    max_quarantine_pct_per_table: float = Field(default=10.0, ge=0, le=100)
    quarantine_forecast_slack_pct: float = Field(default=0.5, ge=0, le=100)

    legacy_seed: LegacySeed = LegacySeed()

    @property
    def time_zone(self) -> str:
        """business_time_zone, UTC when params leave it unset (preflight blocks where that matters)."""
        return self.business_time_zone or "UTC"

    @field_validator("lock_retries", "legacy_lock_retries")
    @classmethod
    def _retries_nonempty(cls, v):
        if not v:
            raise ValueError("needs at least one [lock_timeout_ms, sleep_s] attempt")
        for timeout_ms, sleep_s in v:
            if timeout_ms <= 0 or sleep_s < 0:
                raise ValueError("lock_timeout_ms must be > 0 and sleep_s >= 0")
        return v

    @field_validator("role_mapping", "passing_status_map", "validation_status_map", "acknowledgement_status_map",
                     "channel_map", "country_map")
    @classmethod
    def _normalise_keys(cls, v: dict) -> dict:
        from .vocab import key
        out = {}
        for k, val in v.items():
            if key(k) is None:
                raise ValueError(f"a blank key maps to {val!r}: a blank legacy value is no value, never mapped")
            if key(k) in out and out[key(k)] != val:
                raise ValueError(f"{k!r} and another key are the same spelling (case, spaces, -/_ ignored) "
                                 f"but map to {out[key(k)]!r} and {val!r}")
            out[key(k)] = val
        return out

    @field_validator("business_time_zone")
    @classmethod
    def _time_zone(cls, v: str | None) -> str | None:
        import zoneinfo
        if v is None:
            return v
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone name (e.g. UTC, Europe/Dublin, Asia/Manila)") from None
        return v

    @field_validator("country_map")
    @classmethod
    def _country_codes(cls, v: dict) -> dict:
        bad = sorted({c for c in v.values() if not re.fullmatch(r"[A-Z]{2}", str(c))})
        if bad:
            raise ValueError(f"country codes must be ISO 3166-1 alpha-2 (two capitals, 'ZZ' for none): {bad}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        codes = {r.code for r in self.roles}
        if self.default_role not in codes:
            raise ValueError(f"default_role {self.default_role!r} is not one of roles: {sorted(codes)}")
        unknown = sorted({c for c in self.role_mapping.values() if c not in codes})
        if unknown:
            raise ValueError(f"role_mapping points at undefined role codes {unknown}")
        from . import vocab
        for name in vocab.VOCABULARIES:
            spelling = getattr(self, f"{name}_legacy_spelling")
            effective = vocab.effective(name, getattr(self, f"{name}_map"))
            unreadable = sorted(v for k, v in spelling.items() if effective.get(vocab.key(v)) != k)
            if unreadable:
                raise ValueError(f"{name}_legacy_spelling {unreadable} would not map back through {name}_map")
        if self.max_quarantine_pct > self.max_quarantine_pct_per_table:
            raise ValueError(f"max_quarantine_pct {self.max_quarantine_pct} exceeds max_quarantine_pct_per_table "
                             f"{self.max_quarantine_pct_per_table}: the overall share cannot be above every table's")
        dup = sorted({x.table for x in self.exclude_tables if [y.table for y in self.exclude_tables].count(x.table) > 1})
        if dup:
            raise ValueError(f"exclude_tables names {dup} more than once")
        if not self.batch_min_rows <= self.batch_size <= self.batch_max_rows:
            raise ValueError(f"batch_size {self.batch_size} must lie within batch_min_rows {self.batch_min_rows} "
                             f"and batch_max_rows {self.batch_max_rows}")
        if self.measure_unbatched_baseline and self.env != "local":
            raise ValueError("measure_unbatched_baseline is local only: while the unbatched copy runs, application "
                             "writes to the legacy audit tables wait for it")
        if self.env == "prod" and not self.require_confirmation:
            raise ValueError("prod params must keep require_confirmation: true")
        return self


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a key given twice in one mapping is an error (PyYAML keeps the last
    one silently: a second `passing_status_map:` block pasted below the first would drop it)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            k = self.construct_object(key_node, deep=deep)
            if k in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {k!r} appears twice in one mapping (merge the two blocks into one)",
                    key_node.start_mark)
            seen.add(k)
        return super().construct_mapping(node, deep)


_URLISH = re.compile(r"(postgres(ql)?://|password|passwd|secret)", re.I)


def _reject_secrets(raw: dict, path: Path) -> None:
    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(str(k), f"{where} key" if where else "key")
                walk(v, f"{where}.{k}" if where else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")
        elif isinstance(node, str) and _URLISH.search(node):
            raise ParamsError(
                f"{path}: {where} looks like a URL or secret; params name the environment "
                "variable that holds the URL (database_url_env), never the URL itself"
            )

    walk(raw, "")


def default_params_file(env: str) -> Path:
    return params_dir() / f"{env}.yaml"


def load_params(env: str, params_file: str | Path | None = None) -> Params:
    if env not in ENVS:
        raise ParamsError(f"unknown env {env!r}: use one of {', '.join(ENVS)}")
    path = Path(params_file) if params_file else default_params_file(env)
    if not path.is_file():
        raise ParamsError(f"params file not found: {path}")
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}:{where} is not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of keys to values at the top level")
    _reject_secrets(raw, path)
    try:
        params = Params.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        kind = first["type"]
        if kind == "extra_forbidden":
            msg = f"unknown key {loc!r}"
        elif kind == "missing":
            msg = f"missing required key {loc!r}"
        else:
            msg = f"{loc}: {first['msg']}"
        more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
        raise ParamsError(f"{path}: {msg}{more}") from None
    if params.env != env:
        raise ParamsError(f"{path}: env is {params.env!r} but the run asked for env={env!r}")
    return params


def check_confirmation(params: Params, confirm: str | None) -> None:
    """A guarded environment runs only when the operator typed its name as confirmation."""
    from .errors import ConfirmationRequired

    if params.require_confirmation and (confirm or "").strip() != params.env:
        raise ConfirmationRequired(
            f"env={params.env} requires confirmation: re-run with --confirm {params.env} "
            f"(papermill parameter confirm={params.env!r}); nothing was touched"
        )


def redacted(params: Params) -> dict:
    """The params as recorded in manifests and notebooks (they hold no secret by construction)."""
    return params.model_dump(mode="json")
