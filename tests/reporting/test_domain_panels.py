"""A domain's report panels come from its own report.yml: a third, made-up domain added to a copy
of the project gets its headline card and panel, with every kind of block, and no platform change.
A mistake in a declaration is reported with its file, line and column."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from paths import PROJECT_DIR
from project_copy import copy_project, use_project

from meshplatform.errors import MeshError
from meshplatform.orchestration.steps import setup_warehouse
from meshplatform.reporting.declarations import load_declarations, read_declaration
from meshplatform.reporting.report import build_report

SHIPMENTS = """
drop schema if exists shipments cascade;
create schema shipments;
create table shipments.shipments_v1 (shipment_id int, shipped_on date, carrier text, weight_kg numeric(8, 1), late boolean);
create table shipments.shipments_v2 (shipment_id int, shipped_on date, carrier text, weight_kg numeric(8, 1), late boolean);
insert into shipments.shipments_v2 values
    (1, '2026-03-01', 'Rail', 10.0, false),
    (2, '2026-03-01', 'Road', 2.5, true),
    (3, '2026-03-02', 'Road', 4.0, false),
    (4, '2026-03-02', 'Air', 1.5, true);
"""

DECLARATION = """
headline:
  - label: Shipments
    from: shipments
    value: count(*)
    detail: "{sum(weight_kg) | amount} kg, {avg(late::int) | percent} late"
panels:
  - title: Weight per day
    from: shipments
    intro: Kilograms shipped per day, by **carrier**.
    blocks:
      - type: text
        text: "{count(distinct carrier)} carriers"
      - type: text
        text: Weights as declared by the carriers.
      - type: stacked_bars
        x: shipped_on
        stack: carrier
        value: sum(weight_kg)
        unit: kg
        order: [Road, Rail]
      - type: bars
        share_of: count(*)
        bars:
          - {label: Late, value: count(*) filter (where late)}
      - type: table
        title: Per carrier
        group_by: carrier
        columns:
          - {label: Carrier, value: carrier}
          - {label: Kilograms, value: sum(weight_kg), format: amount}
      - type: table
        title: Heavy and late
        where: late and weight_kg > 100
        columns:
          - {label: Shipment, value: shipment_id}
        empty: Nothing heavy was late.
      - type: pivot
        rows: shipped_on
        columns: carrier
        value: count(*)
        format: int
"""


def text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


def test_a_new_domain_gets_its_card_and_panel_from_its_declaration(
    conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = copy_project(tmp_path / "project")
    domain = project / "domains" / "shipments"
    domain.mkdir()
    (domain / "dbt_project.yml").write_text("name: shipments\nversion: '1.0.0'\nprofile: shipments\n", encoding="utf-8")
    (domain / "report.yml").write_text(DECLARATION, encoding="utf-8")
    conn.execute(SHIPMENTS)
    settings = use_project(monkeypatch, project)
    logins = setup_warehouse(settings)  # the domain's login owns its relations, as after a build

    page = build_report(settings, logins, tmp_path / "report.html").read_text(encoding="utf-8")

    headline = text(re.search(r'id="headline">(.*?)</section>', page, re.S)[1])
    assert "Shipments 4 18.00 kg, 50.0% late" in headline  # from shipments_v2, the latest version
    assert "Users — not built yet" in headline  # the real domains' cards are still there
    panel = re.search(r'<section class="card" id="shipments-weight-per-day">(.*?)</section>', page, re.S)[1]
    assert "Kilograms shipped per day, by <strong>carrier</strong>. Source: <code>shipments.shipments</code>" in panel
    panel_text = text(panel)
    assert "3 carriers Weights as declared by the carriers." in panel_text
    # the declared order takes the first palette colours; the undeclared carrier gets the next free one
    assert re.search(r"#4e79a7.{0,40}</i>Road", panel) and re.search(r"#f28e2b.{0,40}</i>Rail", panel)
    assert re.search(r"#e15759.{0,40}</i>Air", panel)
    assert ">Mar 01<" in panel and "2026-03-01 · Road: 2.50 kg" in panel  # axis label, bar hover title
    assert "Late: 2 (50.0%)" in panel
    assert "Per carrier Carrier Kilograms Road 6.50 Rail 10.00 Air 1.50" in panel_text  # rows in colour order
    assert "Heavy and late Nothing heavy was late." in panel_text
    assert "Shipped on Road Rail Air 2026-03-01 1 1 — 2026-03-02 1 — 1" in panel_text
    assert "<code>shipments.shipments</code>" in page.split("<footer>")[1]


@pytest.mark.parametrize(
    ("declaration", "where", "problem"),
    [
        ("panels:\n  - title: T\n    from: t\n    blocks:\n      - type: pie\n", ":5:9:", "a block needs a type"),
        (
            "headline:\n  - label: L\n    from: t\n    value: count(*)\n    colour: red\n",
            ":2:5:",
            "unknown key(s) colour",
        ),
        ("headline:\n  - {label: L, from: other.t, value: count(*)}\n", ":2:5:", "no schema prefix"),
        ("headline:\n  - {label: L, from: t, value: x, detail: '{x | euros}'}\n", ":2:5:", "format 'euros'"),
        ("panels:\n  - title: T\n    from: t\n", ":2:5:", "a panel needs blocks"),
    ],
)
def test_a_mistake_in_a_declaration_names_file_line_and_column(
    tmp_path: Path, declaration: str, where: str, problem: str
) -> None:
    path = tmp_path / "report.yml"
    path.write_text(declaration, encoding="utf-8")
    with pytest.raises(MeshError) as error:
        read_declaration("shipments", path)
    assert f"{path}{where}" in error.value.message and problem in error.value.message


def test_the_real_domains_declarations_read() -> None:
    found = {d.domain: d for d in load_declarations(PROJECT_DIR / "domains")}
    assert [k.label for k in found["users"].headline] == ["Users"]
    assert [p.id for p in found["withdrawals"].panels] == ["volumes", "status", "risk"]
