"""The light core of MVPBench Explorer: data contracts, the cache reader, geography, value labels and
(later) metrics and statistics. Imports nothing heavy: polars, numpy, scipy, statsmodels, pycountry."""
