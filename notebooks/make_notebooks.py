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
        new_code_cell("import polars as pl\nfrom analysis.results import scan_scored, select_results\n"
                      "scored = select_results(scan_scored('demo'), protocols=['choice'], conditions=['profile']).collect()\n"
                      "scored.select('model', 'protocol', 'condition').unique(), scored.height"),
        new_markdown_cell("PAA by birth country, with cluster-bootstrap intervals (people resampled, not answers), the "
                          "naive Wilson interval beside it, and the shrunk PAA for countries with few people."),
        new_code_cell("from analysis.groups import paa_by_group\n"
                      "by_country = paa_by_group(scored, 'birth_country', B=1000, seed=0)\n"
                      "by_country.sort(['small', 'paa']).select('birth_country', 'users', 'paa', 'ci_lo', 'ci_hi', "
                      "'wilson_lo', 'wilson_hi', 'small', 'paa_shrunk').head(12)"),
        new_markdown_cell("Is any gap real? The omnibus test respects clustering; the naive one does not."),
        new_code_cell("from analysis.groups import user_cells, with_groups\nfrom analysis.significance import omnibus_test\n"
                      "cells = user_cells(with_groups(scored, ['birth_country']), ['birth_country'])\n"
                      "omnibus_test(cells, min_users=20)"),
        new_code_cell("from analysis.disparity import disparity_summary\ndisparity_summary(scored, 'birth_country', B=1000)"),
    ],
    "02_paper_tables_with_intervals.ipynb": [
        new_markdown_cell("# The paper's tables, recomputed with intervals\n\nMVPBench reports PAA per model and OPA per "
                          "tuned model without intervals, and region × attribute breakdowns without tests. Here each comes "
                          "with a cluster-bootstrap interval."),
        new_code_cell("import polars as pl\nfrom analysis.report import disparity_report\nfrom analysis.results import scan_scored, select_results\n"
                      "scored = select_results(scan_scored('demo')).collect()\n"
                      "report = disparity_report(scored, ['special_region', 'age', 'gender'], B=1000)\nreport.leaderboard"),
        new_markdown_cell("OPA (the paper's implicit-preference accuracy, averaged over the margins δ) is the PAA of the "
                          "`logprob` protocol; the choice protocol's PAA controls position bias by using both orders."),
        new_code_cell("report.leaderboard.filter(pl.col('protocol') == 'logprob')"),
        new_markdown_cell("Region × attribute (the paper's radar charts), as a table with intervals and small-cell flags."),
        new_code_cell("from analysis.groups import paa_by_group\n"
                      "choice = scored.filter((pl.col('protocol') == 'choice') & (pl.col('condition') == 'profile'))\n"
                      "paa_by_group(choice, ['special_region', 'age'], B=500).select('special_region', 'age', 'users', 'paa', "
                      "'ci_lo', 'ci_hi', 'small').head(15)"),
        new_code_cell("report.disparities.filter(pl.col('statistic') == 'max_min_gap')"),
    ],
    "03_custom_regression.ipynb": [
        new_markdown_cell("# A custom regression\n\nDoes a regional gap survive controlling for English proficiency and age? "
                          "`adjusted_disparities` fits a cluster-robust logistic regression; the same frame feeds any "
                          "statsmodels model you like."),
        new_code_cell("import polars as pl\nfrom analysis.adjusted import adjusted_disparities\nfrom analysis.results import scan_scored, select_results\n"
                      "scored = select_results(scan_scored('demo'), protocols=['choice'], conditions=['profile']).collect()\n"
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
