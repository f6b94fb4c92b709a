"""check_dataframe and check_bag on the data pandas, Arrow and Parquet really give.

The promise: the same verdicts as the serial ``cycleflow check`` on the same deals. A
missing cell (None, NaN, NaT, NA) is left out, nested ones too; timestamps are written
as the deal schema reads them; text cells are typed as CSV cells are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

pd = pytest.importorskip("pandas")
dask = pytest.importorskip("dask")
db = pytest.importorskip("dask.bag")
dd = pytest.importorskip("dask.dataframe")  # needs pyarrow

from cycleflow.api import load_policy  # noqa: E402
from cycleflow.batch.dask_runner import check_bag, check_dataframe  # noqa: E402
from cycleflow.batch.readers import iter_records  # noqa: E402
from cycleflow.batch.runner import run_check  # noqa: E402
from cycleflow.decide.engine import Engine, resolve_now  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
POLICY = str(ROOT / "policies" / "standard-sales-cycle.yaml")
DEALS = ROOT / "examples" / "deals.jsonl"
NOW = "2026-11-26T12:00:00Z"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_policy(POLICY))


def deals() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in DEALS.read_bytes().splitlines() if line.strip()]


def serial(engine: Engine, records: list[dict[str, Any]], tmp_path: Path) -> list[Any]:
    """What ``cycleflow check`` says of these deals written as JSON Lines."""
    path = tmp_path / "serial.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return list(run_check(engine, iter_records([str(path)]), now=resolve_now(NOW),
                          flag_duplicates=False))


def frame_rows(got: Any) -> list[tuple[Any, ...]]:
    return [(r.deal, r.verdict, r.violations, r.warnings, r.approvals_needed,
             None if pd.isna(r.error) else r.error) for r in got.itertuples()]


def verdict_rows(verdicts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(v.get("deal"), v["verdict"], ",".join(x["rule"] for x in v["violations"]),
             ",".join(x["rule"] for x in v["warnings"]),
             ",".join(x["gate"] for x in v["approvals_needed"]), v.get("error"))
            for v in verdicts]


def judge_frame(frame: Any, npartitions: int = 3) -> Any:
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.from_pandas(frame, npartitions=npartitions)
    return check_dataframe(ddf, POLICY, now=NOW).compute(scheduler="sync")


def test_the_deals_mix_compliant_and_violating() -> None:
    assert {"compliant", "violation"} <= {v["verdict"] for v in
                                          run_check(Engine(load_policy(POLICY)),
                                                    iter_records([str(DEALS)]),
                                                    now=resolve_now(NOW))}


# --------------------------------------------------------------------------- nested missing


def test_parquet_structs_fill_absent_keys_with_none_and_they_are_left_out(
        engine: Engine, tmp_path: Path) -> None:
    records = [d for d in deals() if not isinstance(d.get("steps"), dict)]
    for d in records:  # approvals' values differ in keys per gate: one struct type each
        d.pop("approvals", None)
    assert any("contact_email" not in d.get("customer", {}) for d in records)
    path = tmp_path / "deals.parquet"
    pd.DataFrame(records).to_parquet(path)
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.read_parquet(str(path))
        assert any(v is None for c in ddf.customer.compute() if isinstance(c, dict)
                   for v in c.values())  # what Arrow does to a key a deal lacks
        got = check_dataframe(ddf, POLICY, now=NOW).compute(scheduler="sync")
    assert frame_rows(got) == verdict_rows(serial(engine, records, tmp_path))


def test_missing_values_inside_dicts_and_lists_of_dicts_are_left_out(
        engine: Engine, tmp_path: Path) -> None:
    records = deals()
    holed = []
    for d in records:
        d = dict(d)
        if "customer" in d:
            d["customer"] = {**d["customer"], "contact_phone": None,
                             "contact_email": d["customer"].get("contact_email", pd.NA)}
        if "approvals" in d:
            d["approvals"] = [{**a, "comment": float("nan"), "fingerprint": pd.NaT}
                              for a in d["approvals"]]
        holed.append(d)
    got = judge_frame(pd.DataFrame(holed))
    assert frame_rows(got) == verdict_rows(serial(engine, records, tmp_path))


# --------------------------------------------------------------------------- bags of dicts


def test_to_bag_dicts_leave_pandas_missing_values_out(engine: Engine, tmp_path: Path) -> None:
    records = deals()
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.from_pandas(pd.DataFrame(records), npartitions=3)
    bag = ddf.to_bag(format="dict")
    got = check_bag(bag, POLICY, now=NOW).compute(scheduler="sync")
    assert verdict_rows(got) == verdict_rows(serial(engine, records, tmp_path))


def test_a_bag_dict_keeps_none_as_null_but_not_nan_nat_or_na(
        engine: Engine, tmp_path: Path) -> None:
    won = next(d for d in deals() if d["stage"] == "won")
    absent = {k: v for k, v in won.items() if k != "amount"}
    null = {**won, "amount": None}
    elements = [null, {**won, "amount": float("nan")}, {**won, "amount": pd.NA},
                {**won, "close_date": pd.NaT}, absent,
                {**won, "customer": {**won["customer"], "contact_name": float("nan")}}]
    got = check_bag(db.from_sequence(elements, npartitions=2), POLICY,
                    now=NOW).compute(scheduler="sync")
    no_close = {k: v for k, v in won.items() if k != "close_date"}
    no_contact = {**won, "customer": {k: v for k, v in won["customer"].items()
                                      if k != "contact_name"}}
    expected = serial(engine, [null, absent, absent, no_close, absent, no_contact], tmp_path)
    assert verdict_rows(got) == verdict_rows(expected)
    assert got[0]["verdict"] == "error" and "amount" in got[0]["error"]  # null stays null
    assert got[1]["verdict"] != "error"


# --------------------------------------------------------------------------- pandas types


def test_naive_timestamps_are_utc(engine: Engine, tmp_path: Path) -> None:
    records = deals()
    frame = pd.DataFrame(records)
    frame["stage_entered_at"] = pd.to_datetime(frame["stage_entered_at"]).dt.tz_localize(None)
    assert frame["stage_entered_at"].dt.tz is None
    got = judge_frame(frame)
    assert frame_rows(got) == verdict_rows(serial(engine, records, tmp_path))


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_aware_timestamps_keep_their_instant(engine: Engine, tmp_path: Path, tz: str) -> None:
    records = deals()
    frame = pd.DataFrame(records)
    frame["stage_entered_at"] = pd.to_datetime(frame["stage_entered_at"]).dt.tz_convert(tz)
    got = judge_frame(frame)
    assert frame_rows(got) == verdict_rows(serial(engine, records, tmp_path))


def test_a_timestamp_in_a_date_column_is_its_date(engine: Engine, tmp_path: Path) -> None:
    records = deals()
    frame = pd.DataFrame(records)
    frame["close_date"] = pd.to_datetime(frame["close_date"])
    frame["signed_at"] = pd.to_datetime(frame["signed_at"]).dt.tz_localize("Asia/Shanghai")
    assert frame["close_date"].notna().sum() > 10
    got = judge_frame(frame)
    assert frame_rows(got) == verdict_rows(serial(engine, records, tmp_path))


def test_a_timestamp_past_midnight_in_a_date_column_is_an_error_naming_it() -> None:
    won = next(d for d in deals() if d["stage"] == "won")
    frame = pd.DataFrame([won, won])
    frame["close_date"] = [pd.Timestamp("2026-11-18 00:00"), pd.Timestamp("2026-11-18 10:30")]
    got = judge_frame(frame, npartitions=1)
    assert got.verdict.iloc[0] != "error"
    assert got.verdict.iloc[1] == "error"
    assert "'close_date'" in got.error.iloc[1] and "2026-11-18T10:30:00" in got.error.iloc[1]


def test_timestamps_inside_lists_of_dicts_are_utc_too(engine: Engine, tmp_path: Path) -> None:
    records = [d for d in deals() if d.get("approvals")]
    frame = pd.DataFrame(records)
    frame["approvals"] = [[{**a, "at": pd.Timestamp(a["at"]).tz_localize(None)} for a in aps]
                          for aps in frame["approvals"]]
    got = judge_frame(frame, npartitions=1)
    assert frame_rows(got) == verdict_rows(serial(engine, records, tmp_path))


def test_text_cells_are_typed_as_csv_cells(engine: Engine, tmp_path: Path) -> None:
    records = deals()
    frame = pd.DataFrame(records)
    frame["amount"] = frame["amount"].astype("string")
    frame["discount_pct"] = frame["discount_pct"].map(lambda v: v if pd.isna(v) else str(v))
    assert frame["amount"].dropna().map(type).eq(str).all()
    got = judge_frame(frame)
    assert frame_rows(got) == verdict_rows(serial(engine, records, tmp_path))


def test_a_text_cell_that_does_not_fit_is_an_error_naming_its_column() -> None:
    won = next(d for d in deals() if d["stage"] == "won")
    frame = pd.DataFrame([won, won, won])
    frame["amount"] = pd.array(["150000", "1,500", "NULL"], dtype="string")
    frame["decision_maker"] = pd.array(["Lea", "Lea", "NULL"], dtype="string")
    got = judge_frame(frame, npartitions=1)
    assert list(got.verdict) == ["compliant", "error", "error"]
    assert "column 'amount': '1,500' is not a number" in got.error.iloc[1]
    assert "column 'amount': 'NULL' is not a number" in got.error.iloc[2]


def test_dotted_columns_nest_as_in_a_csv(engine: Engine, tmp_path: Path) -> None:
    """pd.json_normalize (and read_csv of a CRM export) names nested fields with dots."""
    records = deals()
    flat = pd.json_normalize(records)
    assert "customer.name" in flat.columns and "customer" not in flat.columns
    got = judge_frame(flat)
    assert frame_rows(got) == verdict_rows(serial(engine, records, tmp_path))


def test_bag_dicts_write_timestamps_as_a_dataframe_does(engine: Engine, tmp_path: Path) -> None:
    records = deals()
    frame = pd.DataFrame(records)
    frame["close_date"] = pd.to_datetime(frame["close_date"])
    frame["stage_entered_at"] = pd.to_datetime(frame["stage_entered_at"]).dt.tz_localize(None)
    with dask.config.set({"dataframe.convert-string": False}):
        bag = dd.from_pandas(frame, npartitions=2).to_bag(format="dict")
    got = check_bag(bag, POLICY, now=NOW).compute(scheduler="sync")
    assert verdict_rows(got) == verdict_rows(serial(engine, records, tmp_path))
