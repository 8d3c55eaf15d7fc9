"""Read the ODCS v3 contracts in ``contracts/`` into the specs the platform works from.

Inbound contracts (tagged ``inbound``) describe an export file and the raw table it lands in:
the loader, the raw DDL and the Great Expectations suite are all derived from them.

Product contracts (tagged ``product``) describe a published data product: one schema object per
published dbt model version (customProperties ``dbtModel``, ``dbtVersion`` and, on a version
being retired, ``deprecationDate``). The contract's major version is the model's latest version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from meshplatform.domains import load_yaml
from meshplatform.errors import MeshError

_NUMERIC = re.compile(r"numeric\((\d+),\s*(\d+)\)")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    physical_type: str
    required: bool = False
    primary_key: bool = False
    unique: bool = False
    logical_type: str | None = None
    allowed_values: tuple[str, ...] | None = None
    pattern: str | None = None
    minimum: float | None = None
    exclusive_minimum: float | None = None
    max_length: int | None = None

    @property
    def numeric_scale(self) -> tuple[int, int] | None:
        """(precision, scale) of a ``numeric(p,s)`` column, else None."""
        match = _NUMERIC.fullmatch(self.physical_type)
        return (int(match[1]), int(match[2])) if match else None


ROW_RULE_ENGINE = "meshplatform"
# rule kind -> the implementation keys it needs (besides ``rule`` and ``column``)
ROW_RULE_KINDS: dict[str, tuple[str, ...]] = {
    "presentExactlyWhen": ("when", "equals"),
    "notBefore": ("reference",),
    "notInFuture": ("tolerance",),
    "productOf": ("factors", "tolerance"),
}


@dataclass(frozen=True)
class RowRule:
    """A rule across the fields of one row, declared in the inbound contract as an ODCS quality
    rule ``type: custom, engine: meshplatform`` on the schema object; the loader quarantines the
    rows that break it. Kinds (``implementation.rule``):

    - ``presentExactlyWhen``: ``column`` has a value exactly when ``when`` equals ``equals``;
    - ``notBefore``: ``column`` (when present) is not earlier than ``reference``;
    - ``notInFuture``: ``column`` is at most ``tolerance`` (a Postgres interval) after the load;
    - ``productOf``: ``column`` equals the product of ``factors`` within ``tolerance`` (absolute).
    """

    name: str
    kind: str
    column: str
    when: str | None = None
    equals: str | None = None
    reference: str | None = None
    factors: tuple[str, ...] = ()
    tolerance: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the rule reads."""
        others = (self.when, self.reference, *self.factors)
        return (self.column, *(c for c in others if c))


@dataclass(frozen=True)
class SourceSpec:
    """One inbound export: its files, its columns and the raw table it is merged into."""

    domain: str
    name: str
    contract_path: Path
    version: str
    schema: str
    table: str
    file_pattern: str
    columns: tuple[ColumnSpec, ...]
    trailing_empty_column: bool
    version_column: str
    row_rules: tuple[RowRule, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.primary_key)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    def header(self) -> list[str]:
        """The header line an export must have, including the empty trailing column."""
        return self.column_names + ([""] if self.trailing_empty_column else [])


def _custom(entries: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {e["property"]: e.get("value") for e in entries or []}


def _column(prop: dict[str, Any]) -> ColumnSpec:
    options = prop.get("logicalTypeOptions") or {}
    allowed = None
    for rule in prop.get("quality") or []:
        # ODCS v3.1 library metric: no value outside arguments.validValues
        if rule.get("metric") == "invalidValues" and "validValues" in (rule.get("arguments") or {}):
            allowed = tuple(str(v) for v in rule["arguments"]["validValues"])
    return ColumnSpec(
        name=prop["name"],
        physical_type=prop["physicalType"],
        required=bool(prop.get("required", False)),
        primary_key=bool(prop.get("primaryKey", False)),
        unique=bool(prop.get("unique", False)),
        logical_type=prop.get("logicalType"),
        allowed_values=allowed,
        pattern=options.get("pattern"),
        minimum=options.get("minimum"),
        exclusive_minimum=options.get("exclusiveMinimum"),
        max_length=options.get("maxLength"),
    )


def _row_rules(path: Path, quality: list[dict[str, Any]] | None, names: list[str]) -> tuple[RowRule, ...]:
    """The schema object's row rules (ODCS custom quality rules of engine meshplatform)."""
    rules = []
    for entry in quality or []:
        if entry.get("type") != "custom" or entry.get("engine") != ROW_RULE_ENGINE:
            continue
        impl = entry.get("implementation") or {}
        kind = impl.get("rule") if isinstance(impl, dict) else None
        if kind not in ROW_RULE_KINDS or "column" not in impl or any(k not in impl for k in ROW_RULE_KINDS[kind]):
            raise MeshError(
                f"{path}: row rule {entry.get('name')!r} needs implementation.rule (one of "
                f"{', '.join(ROW_RULE_KINDS)}), column and {', '.join(ROW_RULE_KINDS.get(kind, ())) or 'its options'}",
                hint="see RowRule in platform/src/meshplatform/contracts/model.py",
            )
        factors = impl.get("factors") or ()
        rule = RowRule(
            name=str(entry.get("name") or kind),
            kind=kind,
            column=impl["column"],
            when=impl.get("when"),
            equals=None if impl.get("equals") is None else str(impl["equals"]),
            reference=impl.get("reference"),
            factors=tuple(factors) if isinstance(factors, list) else (),
            tolerance=None if impl.get("tolerance") is None else str(impl["tolerance"]),
        )
        unknown = [c for c in rule.columns if c not in names]
        if unknown or not _IDENTIFIER.fullmatch(rule.name):
            raise MeshError(
                f"{path}: row rule {rule.name!r} must have a lower-case identifier as name and read only "
                f"columns of the contract (unknown: {unknown})"
            )
        rules.append(rule)
    return tuple(rules)


def read_contract(path: Path) -> dict[str, Any]:
    try:
        document = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MeshError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or document.get("kind") != "DataContract":
        raise MeshError(f"{path}: not an ODCS data contract (kind: DataContract expected)")
    return document


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_LOADABLE_TYPE = re.compile(r"bigint|integer|text|date|timestamptz|boolean|numeric\(\d+,\s*\d+\)")


def _check_raw_target(path: Path, domain: str, schema: str, table: str, columns: tuple[ColumnSpec, ...]) -> None:
    """The loader builds DDL from these names and types: accept only plain identifiers, the
    domain's own raw schema, and the column types the loader knows how to check."""
    if schema != f"raw_{domain}" or not _IDENTIFIER.fullmatch(table):
        raise MeshError(
            f"{path}: physicalName {schema}.{table!r} must be raw_{domain}.<table> with a lower-case identifier",
            hint="a domain's exports land in its own raw schema",
        )
    for column in columns:
        if not _IDENTIFIER.fullmatch(column.name) or not _LOADABLE_TYPE.fullmatch(column.physical_type):
            raise MeshError(
                f"{path}: column {column.name!r} of type {column.physical_type!r} cannot be loaded",
                hint="use lower-case identifiers and one of bigint, integer, text, date, timestamptz, boolean, numeric(p,s)",
            )


def source_spec(path: Path) -> SourceSpec:
    """Build the spec of an inbound export from its contract."""
    document = read_contract(path)
    try:
        (obj,) = document["schema"]
        custom = _custom(obj.get("customProperties"))
        schema, table = obj["physicalName"].split(".", 1)
        columns = tuple(_column(p) for p in obj["properties"])
        _check_raw_target(path, document["domain"], schema, table, columns)
        return SourceSpec(
            domain=document["domain"],
            name=obj["name"],
            contract_path=path,
            version=str(document["version"]),
            schema=schema,
            table=table,
            file_pattern=custom["filePattern"],
            columns=columns,
            trailing_empty_column=custom.get("trailingEmptyColumn", False) is True,
            version_column=custom["versionColumn"],
            row_rules=_row_rules(path, obj.get("quality"), [c.name for c in columns]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise MeshError(f"{path}: inbound contract is incomplete ({exc!r})") from exc


def _tagged(contracts_dir: Path, tag: str, domain: str | None) -> list[Path]:
    """The contract files carrying ``tag``, optionally of one domain, in a stable order."""
    paths = []
    for path in sorted(contracts_dir.glob("*/*.odcs.yaml")):
        document = read_contract(path)
        if tag in (document.get("tags") or []) and (domain is None or document.get("domain") == domain):
            paths.append(path)
    return paths


def inbound_sources(contracts_dir: Path, domain: str | None = None) -> list[SourceSpec]:
    """All inbound exports, optionally of one domain, in a stable order."""
    return [source_spec(path) for path in _tagged(contracts_dir, "inbound", domain)]


@dataclass(frozen=True)
class ModelVersionSpec:
    """One published version of a data product: a dbt model version and the relation it builds."""

    object_name: str
    model: str
    version: int
    schema: str
    table: str
    materialization: str
    columns: tuple[ColumnSpec, ...]
    deprecation_date: date | None

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class ProductSpec:
    """A published data product: its contract version and every model version it still serves."""

    domain: str
    name: str
    id: str
    contract_path: Path
    version: str
    versions: tuple[ModelVersionSpec, ...]

    @property
    def label(self) -> str:
        return f"{self.domain}.{self.name}"

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    @property
    def latest(self) -> ModelVersionSpec:
        return max(self.versions, key=lambda v: v.version)

    def version_spec(self, version: int) -> ModelVersionSpec | None:
        return next((v for v in self.versions if v.version == version), None)


def _model_version(obj: dict[str, Any]) -> ModelVersionSpec:
    custom = _custom(obj.get("customProperties"))
    schema, table = obj["physicalName"].split(".", 1)
    deprecation = custom.get("deprecationDate")
    return ModelVersionSpec(
        object_name=obj["name"],
        model=custom["dbtModel"],
        version=int(custom["dbtVersion"]),
        schema=schema,
        table=table,
        materialization=obj.get("physicalType", "table"),
        columns=tuple(_column(p) for p in obj["properties"]),
        deprecation_date=date.fromisoformat(str(deprecation)) if deprecation else None,
    )


def product_spec(path: Path) -> ProductSpec:
    """Build the spec of a published data product from its contract."""
    document = read_contract(path)
    try:
        return ProductSpec(
            domain=document["domain"],
            name=document["dataProduct"],
            id=document["id"],
            contract_path=path,
            version=str(document["version"]),
            versions=tuple(_model_version(obj) for obj in document["schema"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise MeshError(
            f"{path}: product contract is incomplete ({exc!r})",
            hint="each schema object needs physicalName <schema>.<table>, properties and the "
            "customProperties dbtModel and dbtVersion",
        ) from exc


def products(contracts_dir: Path, domain: str | None = None) -> list[ProductSpec]:
    """All published data products, optionally of one domain, in a stable order."""
    return [product_spec(path) for path in _tagged(contracts_dir, "product", domain)]
