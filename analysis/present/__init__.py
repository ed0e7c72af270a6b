"""Presentation: tables in words, verdicts built from licensed claims, rendered reports and shared
pages. Reads analysis.data and analysis.stats; imports neither the pipeline nor the dashboard."""
