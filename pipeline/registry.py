"""The registry type every plug-in kind uses (protocols, backend kinds, sources, judges, executors).

It lives in `analysis.data.registry` so analysis's own plug-ins (groupings) use the same type without
importing the pipeline; this module keeps the pipeline's import path.
"""

from analysis.data.registry import Registry

__all__ = ["Registry"]
