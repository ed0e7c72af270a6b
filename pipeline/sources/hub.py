"""`mvpbench data pull prism`: the four PRISM files from the Hugging Face hub.

Uses huggingface_hub's own download and cache, so it honours `HF_TOKEN` (never stored or printed
by us), `HF_HUB_OFFLINE` (served from the local hub cache, no network), `HF_HOME`/`HF_HUB_CACHE`,
and a pinned `--revision`. The files are then copied into the project cache so later steps read
plain paths; a `pull.json` beside them records repository, revision and resolved commit.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from analysis.data.cache import atomic_write_json, default_cache_root
from pipeline.sources.prism import PRISM_FILES

PRISM_REPO = "HannahRoseKirk/prism-alignment"


class PullError(RuntimeError):
    pass


def default_prism_dir(root: Path | None = None) -> Path:
    return (root or default_cache_root()) / "sources" / "prism"


def pull_prism(
    dest: Path | None = None,
    revision: str | None = None,
    files: Sequence[str] = PRISM_FILES,
    repo_id: str = PRISM_REPO,
    on_file: Callable[[str], None] | None = None,
) -> Path:
    """Download (or take from the hub cache) PRISM's files into `dest`; return `dest`."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    dest = Path(dest) if dest is not None else default_prism_dir()
    dest.mkdir(parents=True, exist_ok=True)
    fetched: dict[str, Path] = {}
    for name in files:
        if on_file:
            on_file(name)
        try:
            fetched[name] = Path(hf_hub_download(repo_id, name, repo_type="dataset", revision=revision))
        except LocalEntryNotFoundError:
            raise PullError(
                f"{name} of {repo_id} (revision {revision or 'main'}) is not in the local hub cache and the hub "
                "cannot be reached (HF_HUB_OFFLINE is set or there is no network). Pull it once on a machine "
                "with internet, or copy the hub cache here and point HF_HUB_CACHE at it."
            ) from None
        except GatedRepoError:
            raise PullError(f"{repo_id} is gated: accept its terms on the hub and set HF_TOKEN") from None
        except RepositoryNotFoundError:
            raise PullError(f"dataset repository {repo_id} not found (or HF_TOKEN lacks access)") from None
        except RevisionNotFoundError:
            raise PullError(f"revision {revision!r} not found in {repo_id}") from None
        except EntryNotFoundError:
            raise PullError(f"{name} not found in {repo_id} at revision {revision or 'main'}") from None
    commit = next(iter(fetched.values())).parent.name if fetched else None
    for name, src in fetched.items():
        tmp = dest / f".{name}.tmp"
        shutil.copyfile(src, tmp)
        tmp.replace(dest / name)
    atomic_write_json(
        dest / "pull.json",
        {"repo_id": repo_id, "repo_type": "dataset", "revision": revision or "main", "commit": commit, "files": list(fetched)},
    )
    return dest
