"""The data layer: the cache's contracts and reader, results and their selections, geography (with the
shipped shapes beside these modules, served by the dashboard as static files), value labels,
groupings, metrics' definitions, sizes and input checks. Imports nothing from analysis.stats or
analysis.present, and nothing heavy: polars, numpy, scipy, statsmodels, pycountry."""
