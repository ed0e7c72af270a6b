"""MVPBench Explorer's analysis: pure, frames in and frames out, in three layers that import only downward.

- `analysis.data`: what the cache holds and how it is read (contracts, the cache reader, results,
  geography, value labels, groupings, metrics' definitions, selections, input checks);
- `analysis.stats`: what is computed from it (resampling, CR2 variances, tests, rank sets, τ, the
  per-group analysis, paired comparisons, the report, the claims' licences, the Findings scan);
- `analysis.present`: how it is said and shown (tables in words, verdicts, rendered reports, shares).

tests/test_import_rules.py holds the rules: data imports neither stats nor present, stats never
imports present, and no layer imports the pipeline or the dashboard."""
