"""Writes the notebooks in this folder from their cell sources (so diffs stay readable): run it after
editing the cells below. The test suite executes every notebook on the demo cache."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

NOTEBOOKS = {
    "01_quick_start.ipynb": [
        new_markdown_cell("# Quick start: for whom does the model fall short?\n\nThe demo cache holds SmolLM2-135M's "
                          "answers on a **synthetic** PRISM-shaped population. Everything here works the same on real data."),
        new_code_cell("import polars as pl\nfrom analysis.data.results import scan_scored, select_results\n"
                      "# one selection = one run: the base model's (the demo also holds its SFT and DPO runs)\n"
                      "scored = select_results(scan_scored('demo'), models=['smollm2-135m'], protocols=['choice'], "
                      "conditions=['profile']).collect()\n"
                      "scored.select('run_id', 'model', 'protocol', 'condition').unique(), scored.height"),
        new_markdown_cell("PAA (the share of choices for the value-aligned answer) by birth country, with cluster-bootstrap "
                          "intervals (people resampled, not answers), effective people, and a note for every country that "
                          "was not tested (fewer than 20 effective people, or no variation)."),
        new_code_cell("from analysis.stats.groups import grouping_tables\n"
                      "result = grouping_tables(scored, 'birth_country', B=1000, seed=0)\n"
                      "result.table.sort(['tested', 'paa'], descending=True).select('birth_country', 'users', 'effective_users', "
                      "'paa', 'ci_lo', 'ci_hi', 'p_holm', 'paa_shrunk', 'note').head(12)"),
        new_markdown_cell("Is any gap real? The omnibus test (Welch's ANOVA on small-sample cluster-robust variances) "
                          "respects clustering; the naive χ² does not."),
        new_code_cell("result.omnibus"),
        new_markdown_cell("How unequal, once noise is removed? τ is the spread of the countries' true alignment; the "
                          "observed best − worst range includes noise."),
        new_code_cell("result.disparity"),
    ],
    "02_paper_tables_with_intervals.ipynb": [
        new_markdown_cell("# The paper's tables, recomputed with intervals\n\nMVPBench reports PAA per model and OPA per "
                          "tuned model without intervals, and region × attribute breakdowns without tests. Here each comes "
                          "with a cluster-bootstrap interval."),
        new_code_cell("import polars as pl\nfrom analysis.stats.report import disparity_report\nfrom analysis.data.results import scan_scored, select_results\n"
                      "scored = select_results(scan_scored('demo')).collect()\n"
                      "report = disparity_report(scored, ['special_region', 'age', 'gender'], B=1000)\nreport.leaderboard"),
        new_markdown_cell("OPA (the paper's implicit-preference accuracy, averaged over the margins δ) is the `logprob` "
                          "protocol's metric; PAA (the `choice` protocol's share of decisions for answer_w, both orders "
                          "averaged) is another metric: the leaderboard ranks each within its own metric."),
        new_code_cell("report.leaderboard.filter(pl.col('protocol') == 'logprob')"),
        new_markdown_cell("Region × attribute (the paper's radar charts), as a table with intervals and small-cell flags."),
        new_code_cell("from analysis.stats.groups import paa_by_group\n"
                      "choice = scored.filter((pl.col('model') == 'smollm2-135m') & (pl.col('protocol') == 'choice') "
                      "& (pl.col('condition') == 'profile'))  # one run\n"
                      "paa_by_group(choice, ['special_region', 'age'], B=500).select('special_region', 'age', 'users', 'paa', "
                      "'ci_lo', 'ci_hi', 'tested', 'note').head(15)"),
        new_code_cell("report.disparities.filter(pl.col('statistic') == 'tau')"),
    ],
    "03_custom_regression.ipynb": [
        new_markdown_cell("# A custom regression\n\nDoes a regional gap survive controlling for English proficiency and age? "
                          "`adjusted_disparities` fits a cluster-robust logistic regression; the same frame feeds any "
                          "statsmodels model you like."),
        new_code_cell("import polars as pl\nfrom analysis.stats.adjusted import adjusted_disparities\nfrom analysis.data.results import scan_scored, select_results\n"
                      "scored = select_results(scan_scored('demo'), models=['smollm2-135m'], protocols=['choice'], "
                      "conditions=['profile']).collect()  # one run\n"
                      "adjusted_disparities(scored, 'special_region', ['english_proficiency', 'age'])"),
        new_markdown_cell("Your own model: GEE with an exchangeable working correlation within people."),
        new_code_cell("import statsmodels.api as sm\nimport statsmodels.formula.api as smf\n"
                      "pdf = scored.select('user_id', 'aligned', 'english_proficiency', 'gender').to_pandas()\n"
                      "gee = smf.gee('aligned ~ C(english_proficiency) + C(gender)', groups='user_id', data=pdf,\n"
                      "              family=sm.families.Binomial(), cov_struct=sm.cov_struct.Exchangeable()).fit()\n"
                      "gee.summary().tables[1]"),
    ],
}

if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
        nbformat.write(notebook, HERE / name)
        print("wrote", HERE / name)
