"""CSV columns named with dots build nested objects; a NULL cell is null where null is allowed.

A CRM export (Salesforce, HubSpot) flattens nested fields into columns such as
``customer.name``: the reader must rebuild ``{"customer": {"name": ...}}``, typed by the
deal schema, or the policy judges a deal without its customer.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from cycleflow.batch.readers import iter_records
from cycleflow.batch.typing import CellError, RowTyper, convert_cell, field_types_from_schema
from cycleflow.cli.main import cli
from cycleflow.validate.deal_schema import known_fields

ROOT = Path(__file__).resolve().parent.parent
POLICY = str(ROOT / "policies" / "standard-sales-cycle.yaml")
DEALS = ROOT / "examples" / "deals.jsonl"
NOW = "2026-11-26T12:00:00Z"
CUSTOMER_KEYS = ("name", "industry", "country", "screening", "contact_name", "contact_email",
                 "contact_phone")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {"count": {"type": "integer"}},
    "properties": {
        "id": {"type": "string"},
        "amount": {"type": "number"},
        "owner": {"type": "string"},
        "customer": {
            "type": ["object", "null"],
            "properties": {
                "name": {"type": "string"},
                "employees": {"$ref": "#/$defs/count"},
                "public": {"type": "boolean"},
                "vat": {"type": ["string", "null"]},
                "address": {"type": "object",
                            "properties": {"zip": {"type": "integer"},
                                           "city": {"type": "string"}}},
            },
        },
        "ext.crm_id": {"type": "integer"},  # a top-level property whose name has a dot
    },
}


def typer(*header: str, schema: dict[str, Any] | None = None) -> RowTyper:
    return RowTyper(list(header), field_types_from_schema(schema or SCHEMA))


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(cli, ["check", "-p", POLICY, "--now", NOW, "--no-progress",
                                    "--jobs", "1", *args])


def verdicts(output: bytes) -> list[dict[str, Any]]:
    out = []
    for line in output.splitlines():
        v = orjson.loads(line)
        v.pop("source", None)
        out.append(v)
    return out


def summary(verdict: dict[str, Any]) -> tuple[Any, ...]:
    return (verdict["deal"], verdict["verdict"], verdict.get("error"),
            [(x["rule"], x["message"]) for x in verdict["violations"]],
            [(x["rule"], x["message"]) for x in verdict["warnings"]],
            [x["gate"] for x in verdict["approvals_needed"]])


def flat_csv(deals: list[dict[str, Any]]) -> str:
    """The deals as a CRM exports them: ``customer`` flattened into ``customer.<key>``."""
    cols: list[str] = []
    for d in deals:
        cols += [k for k in d if k not in cols and k != "customer"]
    cols += [f"customer.{k}" for k in CUSTOMER_KEYS]

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dict | list):
            return json.dumps(v, ensure_ascii=False)
        return str(v)

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for d in deals:
        w.writerow([cell(d.get("customer", {}).get(c[9:])) if c.startswith("customer.")
                    else cell(d.get(c)) for c in cols])
    return buf.getvalue()


# --------------------------------------------------------------------------- dotted columns


def test_dotted_columns_build_the_nested_object_typed_by_the_schema() -> None:
    t = typer("id", "customer.name", "customer.employees", "customer.public",
              "customer.address.zip", "customer.address.city")
    assert t(["D1", "Acme Corp", "120", "yes", "08001", "Barcelona"]) == {
        "id": "D1",
        "customer": {"name": "Acme Corp", "employees": 120, "public": True,
                     "address": {"zip": 8001, "city": "Barcelona"}},
    }


def test_empty_nested_cells_are_left_out_and_an_empty_object_entirely() -> None:
    t = typer("id", "customer.name", "customer.employees", "customer.address.zip")
    assert t(["D1", "Acme", "", ""]) == {"id": "D1", "customer": {"name": "Acme"}}
    assert t(["D1", "", " ", ""]) == {"id": "D1"}


def test_an_empty_nested_cell_that_allows_null_is_null_only_inside_a_present_object() -> None:
    t = typer("id", "customer.name", "customer.vat")
    assert t(["D1", "Acme", ""]) == {"id": "D1", "customer": {"name": "Acme", "vat": None}}
    assert t(["D1", "", ""]) == {"id": "D1"}  # nulls alone make no object
    assert t(["D1", "", "NULL"]) == {"id": "D1", "customer": {"vat": None}}  # written null


def test_a_nested_cell_that_does_not_fit_names_its_column() -> None:
    with pytest.raises(CellError, match=r"column 'customer\.employees': 'many' is not an integer"):
        typer("id", "customer.employees")(["D1", "many"])


def test_dotted_column_and_plain_column_of_the_same_object_clash_per_row() -> None:
    t = typer("customer", "id", "customer.name")
    with pytest.raises(CellError) as info:
        t(['{"name": "Acme"}', "D1", "Acme Corp"])
    message = str(info.value)
    assert "column 'customer.name'" in message and "column 'customer'" in message
    # only the rows that fill both clash; an empty plain cell gives way to the nested one
    assert t(['{"name": "Acme"}', "D2", ""]) == {"customer": {"name": "Acme"}, "id": "D2"}
    assert t(["", "D3", "Acme Corp"]) == {"id": "D3", "customer": {"name": "Acme Corp"}}
    # the plain cell null where null is allowed gives way too; a written NULL does not
    assert t(["", "D4", ""]) == {"customer": None, "id": "D4"}
    with pytest.raises(CellError, match="'Acme Corp' clashes with column 'customer'"):
        t(["null", "D5", "Acme Corp"])


def test_a_dotted_name_under_a_field_declared_no_object_stays_one_key() -> None:
    """'amount.usd' beside the number 'amount' made every filled row an error (QA pass):
    such a column was an extra key before nesting, and stays one."""
    t = typer("id", "owner.email", "amount.currency", "customer.name.first", "amount")
    assert t(["D1", "", "", "", "100"]) == {"id": "D1", "amount": 100}
    assert t(["D1", "a@b.c", "EUR", "Ann", "100"]) == {
        "id": "D1", "owner.email": "a@b.c", "amount.currency": "EUR",
        "customer.name.first": "Ann", "amount": 100}


def test_dotted_columns_the_schema_does_not_declare_still_nest() -> None:
    """Salesforce writes Account.Name whether or not the deal schema knows Account."""
    t = typer("id", "Account.Name", "Account.Owner.Alias", "customer.region")
    assert t(["D1", "Acme", "ann", "EMEA"]) == {
        "id": "D1", "Account": {"Name": "Acme", "Owner": {"Alias": "ann"}},
        "customer": {"region": "EMEA"},
    }
    assert RowTyper(["a.b"], None)(["x"]) == {"a": {"b": "x"}}


def test_a_top_level_property_with_a_dot_in_its_name_stays_one_key() -> None:
    t = typer("id", "ext.crm_id")
    assert t(["D1", "42"]) == {"id": "D1", "ext.crm_id": 42}
    # told by the field types alone, as Policy.known_fields names fields
    assert RowTyper(["id", "ext.crm_id"], known_fields(SCHEMA))(["D1", "42"]) == {
        "id": "D1", "ext.crm_id": 42}


def test_a_name_with_an_empty_part_is_not_a_path() -> None:
    assert RowTyper(["a.", ".b", "c..d", "."], None)(["1", "2", "3", "4"]) == {
        "a.": "1", ".b": "2", "c..d": "3", ".": "4"}


def test_field_types_from_schema_names_nested_fields_with_dots() -> None:
    types = field_types_from_schema(SCHEMA)
    assert types["customer.employees"] == {"integer"}
    assert types["customer.address.zip"] == {"integer"}
    assert types["ext.crm_id"] == {"integer"}


def test_csv_file_with_dotted_columns(tmp_path: Path) -> None:
    path = tmp_path / "flat.csv"
    path.write_text("id,customer.name,customer.employees,ext.crm_id\n"
                    "D1,Acme,12,7\n"
                    "D2,,,\n"
                    "D3,Beta,lots,\n", "utf-8")
    items = list(iter_records([str(path)], field_types=field_types_from_schema(SCHEMA)))
    assert [i.record for i in items[:2]] == [
        {"id": "D1", "customer": {"name": "Acme", "employees": 12}, "ext.crm_id": 7},
        {"id": "D2"},
    ]
    assert items[2].record is None and "column 'customer.employees'" in (items[2].error or "")


def test_cli_reads_a_flattened_crm_export_as_the_json_deals() -> None:
    deals = [orjson.loads(line) for line in DEALS.read_bytes().splitlines() if line.strip()]
    assert any("customer" in d for d in deals)
    with CliRunner().isolated_filesystem():
        Path("flat.csv").write_text(flat_csv(deals), "utf-8")
        got = run_cli("flat.csv", "--format", "jsonl")
        want = run_cli(str(DEALS), "--format", "jsonl")
    assert got.exit_code == want.exit_code
    csv_verdicts, json_verdicts = verdicts(got.stdout_bytes), verdicts(want.stdout_bytes)
    assert [v["record"] for v in csv_verdicts] == [v["record"] + 1 for v in json_verdicts]
    # the same findings; only a value may read differently ('' in JSON is an empty cell)
    assert [summary(v) for v in csv_verdicts] == [summary(v) for v in json_verdicts]
    assert {v["verdict"] for v in csv_verdicts} >= {"compliant", "violation"}


def test_cli_customer_named_in_a_dotted_column_is_identified(tmp_path: Path) -> None:
    path = tmp_path / "flat_min.csv"
    path.write_text("id,stage,stage_entered_at,owner,customer.name,customer.screening\n"
                    "D1,prospect,2026-11-20T00:00:00Z,ann,Acme Corp,cleared\n", "utf-8")
    (v,) = verdicts(run_cli(str(path), "--format", "jsonl").stdout_bytes)
    assert "customer_identified" not in [x["rule"] for x in v["violations"]]
    assert v["verdict"] == "compliant"


def shipped_policy_with(tmp_path: Path, **customer_props: Any) -> str:
    """The shipped policy, its deal schema given more properties under ``customer``."""
    schema = orjson.loads((ROOT / "schemas" / "deal.schema.json").read_bytes())
    schema["properties"]["customer"]["properties"].update(customer_props)
    (tmp_path / "schemas").mkdir()
    (tmp_path / "policies").mkdir()
    (tmp_path / "schemas" / "deal.schema.json").write_bytes(orjson.dumps(schema))
    policy = tmp_path / "policies" / "p.yaml"
    policy.write_bytes(Path(POLICY).read_bytes())
    return str(policy)


def test_cli_types_a_nested_cell_by_its_schema_type(tmp_path: Path) -> None:
    policy = shipped_policy_with(tmp_path, employees={"type": "integer", "minimum": 1})
    path = tmp_path / "flat.csv"
    path.write_text("id,stage,stage_entered_at,owner,customer.name,customer.employees\n"
                    "D1,prospect,2026-11-20T00:00:00Z,ann,Acme Corp,12\n", "utf-8")
    result = CliRunner().invoke(cli, ["check", "-p", policy, "--now", NOW, "--no-progress",
                                      "--jobs", "1", str(path), "--format", "jsonl"])
    (v,) = verdicts(result.stdout_bytes)
    assert v["verdict"] == "compliant", v


# --------------------------------------------------------------------------- NULL text


@pytest.mark.parametrize("text", ["null", "NULL", "Null", "  NULL ", "null\t"])
@pytest.mark.parametrize("types", [{"string", "null"}, {"number", "null"}, {"null"},
                                   {"boolean", "null"}, {"array", "object", "null"}])
def test_null_text_is_null_where_the_schema_allows_null(text: str, types: set[str]) -> None:
    assert convert_cell("c", text, frozenset(types)) is None
    assert RowTyper(["c"], {"c": frozenset(types)})([text]) == {"c": None}


@pytest.mark.parametrize("text", ["nULL", "none", "NULLS", "'null'"])
def test_other_text_in_a_string_or_null_column_stays_text(text: str) -> None:
    assert convert_cell("c", text, frozenset({"string", "null"})) == text


def test_null_text_where_null_is_not_allowed_is_what_it_was() -> None:
    assert convert_cell("c", "NULL", frozenset({"string"})) == "NULL"
    assert RowTyper(["c"], {"c": frozenset({"string"})})(["NULL"]) == {"c": "NULL"}
    for types in ({"number"}, {"integer"}, {"boolean"}):
        with pytest.raises(CellError, match="column 'c': 'NULL' is not"):
            convert_cell("c", "NULL", frozenset(types))
        with pytest.raises(CellError, match="column 'c': 'NULL' is not"):
            RowTyper(["c"], {"c": frozenset(types)})(["NULL"])


def test_cli_null_decision_maker_is_not_identified(tmp_path: Path) -> None:
    path = tmp_path / "nulltext.csv"
    path.write_text('id,stage,stage_entered_at,owner,customer,budget,decision_maker\n'
                    'Q1,qualified,2026-11-20T00:00:00Z,ann,"{""name"":""Acme""}",5000,NULL\n'
                    'Q2,qualified,2026-11-20T00:00:00Z,ann,"{""name"":""Acme""}",5000,\n'
                    'Q3,qualified,2026-11-20T00:00:00Z,ann,"{""name"":""Acme""}",5000,Ann\n',
                    "utf-8")
    got = verdicts(run_cli(str(path), "--format", "jsonl").stdout_bytes)
    rules = [[x["rule"] for x in v["violations"]] for v in got]
    assert "decision_maker_identified" in rules[0]
    assert "decision_maker_identified" in rules[1]
    assert "decision_maker_identified" not in rules[2]
    assert got[0]["violations"][0]["values"] == {"deal.decision_maker": None}
