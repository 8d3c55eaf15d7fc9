"""The catalogue as files: ``catalog.html`` (self-contained, offline), ``catalog.json``, and the
datacontract-cli HTML page of every contract it links to."""

from __future__ import annotations

import html
from pathlib import Path

from meshplatform.config import Settings
from meshplatform.reporting.catalog import Catalog, ProductEntry, VersionEntry, gather
from meshplatform.reporting.lineage_svg import lineage_svg
from meshplatform.warehouse.connection import ConnectionInfo, connect

_CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --ok:#2f855a; --fail:#c53030; --warn:#b7791f; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 0; background: #f5f7fa; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { margin: 0 0 4px; } h2 { margin: 0 0 8px; } h3 { margin: 18px 0 6px; font-size: 15px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px; margin: 16px 0; }
.muted { color: var(--muted); } code { background: #eef2f7; padding: 1px 4px; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
.badge { display: inline-block; white-space: nowrap; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; }
.badge.ok { background: var(--ok); } .badge.fail { background: var(--fail); } .badge.warn { background: var(--warn); }
.badge.info { background: #52606d; }
dl { display: grid; grid-template-columns: 180px 1fr; gap: 4px 12px; margin: 0; } dt { color: var(--muted); }
.scroll { overflow-x: auto; }
svg.lineage { font: 12px system-ui, sans-serif; width: 100%; min-width: 900px; height: auto; }
svg.lineage .edge { fill: none; stroke: #9aa5b1; stroke-width: 1.2; }
svg.lineage .edge.on { stroke: #2b6cb0; stroke-width: 2.4; }
svg.lineage .node rect { stroke: #7b8794; stroke-width: 1; }
svg.lineage .node.on rect { stroke: #2b6cb0; stroke-width: 2.5; }
svg.lineage .n-export rect { fill: #fff8e1; } svg.lineage .n-raw rect { fill: #f0f4f8; }
svg.lineage .n-model rect { fill: #ffffff; } svg.lineage .n-product rect { fill: #e3f8ec; }
.legend span { margin-right: 14px; font-size: 13px; } .legend i { display: inline-block; width: 12px; height: 12px;
  border: 1px solid #7b8794; border-radius: 3px; margin-right: 4px; vertical-align: -1px; }
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def anchor(label: str) -> str:
    return "product-" + label.replace(".", "-")


def _freshness(entry: ProductEntry) -> str:
    if entry.age_hours is None:
        return '<span class="badge warn">never built</span>'
    age = f"{entry.age_hours:.1f} h old"
    if entry.fresh is None:
        return f'<span class="badge info">{esc(age)}</span>'
    sla = f" (SLA {entry.freshness_sla_hours:g} h)"
    return f'<span class="badge {"ok" if entry.fresh else "fail"}">{"fresh" if entry.fresh else "stale"}</span> {esc(age + sla)}'


def _quality(version: VersionEntry) -> str:
    if version.quality_total is None:
        return '<span class="badge warn">not validated</span>'
    ok = version.quality_met == version.quality_total
    return (
        f'<span class="badge {"ok" if ok else "fail"}">{version.quality_met}/{version.quality_total} expectations</span>'
        f' <span class="muted">{esc(version.quality_validated_at)}</span>'
    )


def _status(version: VersionEntry) -> str:
    if version.status == "deprecated":
        return f'<span class="badge warn">deprecated, removed after {esc(version.deprecation_date)}</span>'
    return '<span class="badge ok">active</span>' + (" (latest)" if version.latest else "")


def _consumers(version: VersionEntry) -> str:
    if not version.consumers:
        return '<span class="muted">no consumer yet</span>'
    return "<br>".join(f"<strong>{esc(c.domain)}</strong>: {esc(', '.join(c.models))}" for c in version.consumers)


def _overview(catalog: Catalog) -> str:
    rows = []
    for entry in catalog.products:
        for version in entry.versions:
            rows.append(
                f'<tr><td><a href="#{anchor(entry.label)}">{esc(entry.label)}</a> v{version.version}</td>'
                f"<td><code>{esc(version.relation)}</code></td><td>{_status(version)}</td>"
                f"<td>{esc(entry.owner)}<br><span class='muted'>{esc(entry.team)}</span></td>"
                f"<td>{_freshness(entry)}</td><td>{_quality(version)}</td><td>{_consumers(version)}</td></tr>"
            )
    head = "<tr><th>Product</th><th>Relation</th><th>Status</th><th>Owner</th><th>Freshness</th><th>Quality</th><th>Consumers</th></tr>"
    return f'<section class="card"><h2>Data products</h2><div class="scroll"><table>{head}{"".join(rows)}</table></div></section>'


def _product(entry: ProductEntry, catalog: Catalog) -> str:
    support = "<br>".join(
        f'{esc(s["channel"])} <span class="muted">({esc(s["tool"])}, {esc(s["scope"])})</span>' for s in entry.support
    )
    members = "<br>".join(
        f"{esc(m['name'] or m['username'])} <span class='muted'>({esc(m['role'])}, {esc(m['username'])})</span>"
        for m in entry.members
    )
    sla = "<br>".join(f"{esc(s['text'])} <span class='muted'>{esc(s['description'])}</span>" for s in entry.sla)
    facts = {
        "Owner": esc(entry.owner),
        "Team": f"{esc(entry.team)}<br>{members}",
        "Support": support,
        "Service levels": sla,
        "Freshness now": _freshness(entry),
        "Last built": esc(entry.last_built or "never"),
        "Last published": esc(entry.last_published or "never"),
        "Contract": f'<a href="{esc(entry.links.get("contract", ""))}">{esc(entry.contract_file)}</a> (version {esc(entry.contract_version)})',
        "Built from": esc(", ".join(entry.producers)) or "-",
    }
    facts_html = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts.items())
    versions = []
    for version in entry.versions:
        columns = "".join(
            f"<tr><td><code>{esc(c.name)}</code></td><td>{esc(c.type)}</td><td>{'yes' if c.required else 'no'}</td>"
            f"<td>{esc(c.description)}</td></tr>"
            for c in version.columns
        )
        versions.append(
            f"<h3>v{version.version} · <code>{esc(version.relation)}</code> · {_status(version)}</h3>"
            f"<p>Quality: {_quality(version)} · Consumers: {_consumers(version)}</p>"
            f"<table><tr><th>Column</th><th>Type</th><th>Required</th><th>Description</th></tr>{columns}</table>"
        )
    highlight = {entry.versions[0].relation, *entry.producers}
    for version in entry.versions:
        highlight.add(version.relation)
    graph = lineage_svg(catalog.nodes, catalog.edges, highlight=highlight)
    return (
        f'<section class="card product" id="{anchor(entry.label)}"><h2>{esc(entry.label)}</h2>'
        f"<p>{esc(entry.purpose)}</p><p class='muted'>{esc(entry.usage)}</p><dl>{facts_html}</dl>"
        f"{''.join(versions)}<h3>Lineage</h3><div class='scroll'>{graph}</div></section>"
    )


LEGEND = (
    '<p class="legend"><span><i style="background:#fff8e1"></i>export file</span>'
    '<span><i style="background:#f0f4f8"></i>raw table</span><span><i style="background:#fff"></i>internal model</span>'
    '<span><i style="background:#e3f8ec"></i>data product (public)</span></p>'
)


def render(catalog: Catalog) -> str:
    body = (
        f"<h1>Data product catalogue</h1><p class='muted'>Generated {esc(catalog.generated_at)} from contracts/, "
        "the published manifests and the platform's bookkeeping. Machine-readable: "
        '<a href="catalog.json">catalog.json</a>.</p>'
        + _overview(catalog)
        + '<section class="card"><h2>Lineage of the mesh</h2>'
        + LEGEND
        + f"<div class='scroll'>{lineage_svg(catalog.nodes, catalog.edges)}</div></section>"
        + "".join(_product(entry, catalog) for entry in catalog.products)
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Data product catalogue</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
        f"<body><main>{body}</main></body></html>\n"
    )


def _contract_pages(catalog: Catalog, settings: Settings, out_dir: Path) -> None:
    """datacontract-cli's own HTML page of each product contract, linked from the catalogue."""
    from datacontract.data_contract import DataContract

    for entry in catalog.products:
        relative = Path("contracts") / Path(entry.contract_file).relative_to("contracts").with_suffix(".html")
        page = DataContract(data_contract_file=str(settings.project_dir / entry.contract_file)).export("html")
        _write(out_dir / relative, page)
        entry.links["contract"] = relative.as_posix()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_catalog(settings: Settings, info: ConnectionInfo | None, out_dir: Path | None = None) -> Path:
    """Write catalog.html, catalog.json and the contract pages; return the HTML page's path."""
    out_dir = out_dir or settings.catalog_dir
    if info is None:
        catalog = gather(settings, None)
    else:
        with connect(info, autocommit=True) as conn:
            conn.execute("set default_transaction_read_only = on")  # the catalogue never writes
            catalog = gather(settings, conn)
    _contract_pages(catalog, settings, out_dir)
    _write(out_dir / "catalog.json", catalog.to_json())
    page = out_dir / "catalog.html"
    _write(page, render(catalog))
    return page
