"""Items: browse instances with the question, both answers, and what the model did (its probabilities
or the judge's scores). Model outputs are untrusted text: they appear only in data tables and
`st.text`, never as Markdown or HTML."""

import polars as pl
import streamlit as st

from analysis.data.cache import scan_results
from analysis.data.contracts import CHOICE, LOGPROB
from analysis.data.metrics import delta_verdicts, item_score_text
from analysis.data.names import short_run
from analysis.present.verdict import literal
from dashboard.page import show_page
from dashboard.pickers import PLACES, select_place
from dashboard.url import choose, remember
from dashboard.view import View
from dashboard.picks import picking_table, row_pick

COLUMNS = ["instance_id", "birth_country", "target_dimension", "aligned", "question", "answer_w", "answer_l", "output",
           "p_w_first", "p_w_second", "margin", "judge_label", "sim_w", "sim_l"]
# What the model did with an item, by protocol: the fields and what they mean, in words.
EVIDENCE = {
    "p_w_first": "P(value-aligned answer) when it is shown first",
    "p_w_second": "P(value-aligned answer) when it is shown second",
    "order_consistent": "the same answer chosen in both orders",
    "position_bias": "P(label A) − ½ (position preference)",
    "label_mass": "probability on the two answer labels",
    "margin": "log-probability margin: answer_w − answer_l, mean per token",
    "judge_label": "the judge's verdict",
    "sim_w": "similarity of the model's answer to the value-aligned one",
    "sim_l": "similarity of the model's answer to the value-contradicting one",
    "aligned": None,  # its legend depends on the protocol: analysis.data.metrics.item_score_text
}


def pick_run(index: pl.DataFrame, column) -> str:
    """A run; without `run` in the link, the one matching the model/protocol/condition carried from another page."""
    runs = index.get_column("run_id").to_list()
    carried = index.filter(*(pl.col(k) == st.query_params[k] for k in ("model", "protocol", "condition") if k in st.query_params))
    # among the runs that fit, the one the other pages' pickers open by default: the first model, choice, profile
    carried = carried.sort(["model", pl.col("protocol") != CHOICE, pl.col("condition") != "profile", "run_id"])
    default = carried.item(0, "run_id") if carried.height else runs[0]
    info = {r["run_id"]: short_run(r["model"], r["protocol"], r["condition"]) for r in index.iter_rows(named=True)}
    run = choose(column, "Run", runs, "run", "run", default, format_func=lambda r: info.get(r, r))
    row = index.filter(pl.col("run_id") == run).row(0, named=True)
    for k in ("model", "protocol", "condition"):  # so the selection travels on to the other pages
        remember(k, row[k], st.query_params.get(k, row[k]))
    return run


def run_items(view: View, run: str) -> pl.DataFrame:
    """The run's rows with every field it recorded: the results frame holds only the core result
    fields; the raw ones (the model's output, the judge's scores) come from the run's parts."""
    raw = scan_results(view.name, view.root, [run]).collect()
    shared = view.scored.collect_schema().names()
    keep = [c for c in raw.columns if c not in shared or c == "instance_id"]
    return view.scored.filter(pl.col("run_id") == run).collect().join(raw.select(keep), on="instance_id")


def evidence(row: dict) -> None:
    """What the model did with this item, in words; only the fields its protocol records, the score
    described by its own protocol's rule."""
    legend = {**EVIDENCE, "aligned": item_score_text(row.get("protocol", ""))}
    shown = [(legend[k], row[k]) for k in legend if row.get(k) is not None]
    if shown:
        st.markdown("**What the model did**")
        st.dataframe(pl.DataFrame({"measure": [m for m, _ in shown], "value": [str(round(v, 4)) if isinstance(v, float) else str(v)
                                                                               for _, v in shown]}), hide_index=True)
    if row.get("protocol") == LOGPROB and row.get("margin") is not None:
        margin_verdicts(row["margin"], row.get("aligned"))


def margin_verdicts(margin: float, stored: float | None) -> None:
    """A logprob item's score worked out: its margin against each δ of the paper's grid, and the share passed."""
    verdicts = delta_verdicts(margin)
    passed = sum(ok for _, ok in verdicts)
    st.markdown(f"**OPA for this item: margin {margin:+.4f} against each δ**")
    st.dataframe(pl.DataFrame({"δ": [f"{d:g}" for d, _ in verdicts],
                               "margin > δ": ["passed" if ok else "not passed" for _, ok in verdicts]}), hide_index=True)
    st.markdown(f"Score: {passed} of {len(verdicts)} passed = **{passed / len(verdicts):.2f}** "
                f"(preferred answer_w: {'yes' if margin > 0 else 'no'}, the plain share's outcome)")
    if stored is not None and abs(stored - passed / len(verdicts)) > 1e-9:
        st.warning(f"The stored score {stored:.4f} is not this share: the run was scored by another rule, so its mean is "
                   "not the paper's OPA.")


def pick_item(ids: list[str], below) -> str:
    """The item to inspect, kept in the URL (`item`): a row just picked in the items' table, else the
    "Inspect item" picker's (the keyboard's way, drawn in `below`, under the table), else the URL's."""
    picked, row = row_pick("items_table", ids)
    if picked and row is not None:
        st.session_state["item"] = row  # the picker follows the row (it exists: the table was drawn with it)
    return choose(below, "Inspect item", ids, "item", "item")


def inspect(items: pl.DataFrame, chosen: str) -> None:
    """The chosen item: its question, both answers, the model's answer and what the model did."""
    row = items.filter(pl.col("instance_id") == chosen).row(0, named=True)
    st.subheader("Question")
    st.text(row["question"])
    left, right = st.columns(2)
    left.markdown("**Value-aligned answer (answer_w)**")
    left.text(row["answer_w"])
    right.markdown("**Value-contradicting answer (answer_l)**")
    right.text(row["answer_l"])
    if row.get("output"):
        st.markdown("**The model's answer** (untrusted text, shown verbatim)")
        st.text(row["output"])
    evidence(row)
    st.markdown("**Person**")
    st.text(f"{row['age']}, {row['gender']}, born in {row['birth_country']}; preference: {row['preference']}")


def filtered_items(view: View) -> tuple[pl.DataFrame, tuple[str | None, str | None]]:
    """The run, place and search pickers, and the run's items they select (with the place picked)."""
    c1, c2, c3 = st.columns(3)
    run = pick_run(view.index, c1)
    with c2:
        place_by, place = select_place(view, st, "i_")
    search = c3.text_input("Question contains", value=st.query_params.get("q", ""), key="q")
    remember("q", search or None)
    items = run_items(view, run)
    if place_by:
        items = items.filter(pl.col(place_by) == place)
    if search:
        items = items.filter(pl.col("question").str.contains(search, literal=True, strict=False))
    return items, (place_by, place)


def body(view: View) -> None:
    """The picked run's items as a table, and the item picked in it opened."""
    items, (place_by, place) = filtered_items(view)
    st.caption(f"{items.height} items" + (f" of people {PLACES[place_by]} {literal(place)}" if place_by else ""))
    table = items.select([c for c in dict.fromkeys([*COLUMNS, place_by or "birth_country"]) if c in items.columns]).sort("instance_id")
    ids = table.get_column("instance_id").to_list()
    shown = st.container()
    st.caption(f"aligned: {item_score_text(items.item(0, 'protocol') if items.height else '')}. Pick a row (click it; keyboard: "
               "Tab to the table, arrows, Shift+Space) or an id below to inspect the item.")
    if not items.height:
        shown.dataframe(table, hide_index=True, height=360)
        return
    chosen = pick_item(ids, st.container())
    with shown:  # cells are plain text
        picking_table("items_table", table, ids, chosen, hide_index=True, height=360)
    inspect(items, chosen)


def render() -> None:
    """The Items page (dashboard.page.show_page around `body`)."""
    show_page("Items", body)


if __name__ == "__main__":
    render()
