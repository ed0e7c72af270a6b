"""Statistics over the data layer's frames: resampling people, CR2 variances and Bell–McCaffrey df,
tests across groups, rank confidence sets, the random-effects spread, the per-group analysis, paired
comparisons, the disparity report, and the claims' licences. Imports analysis.data, never present."""
