"""The URL is the view's state: selections read from the link (validated, with a notice for a value
that cannot be used), followed after Back, collected per page run and written once (`flush_url`), and
carried by the sidebar's links from page to page (`carried_params`)."""

from __future__ import annotations

import streamlit as st

# The URL is the view's state. A page run collects what it wants there (`remember`) and app.py writes
# it once at the end (`flush_url`): one browser-history entry per user action, where a write per key
# pushed one entry each (Back needed nine presses). Defaults are left out of the URL, so arriving on a
# page changes nothing and Back returns to the previous page in one press.
PENDING = "_url_pending"
WRITTEN = "_url_written"
SHOWN = "_url_shown"  # the selections this page run shows, defaults included (what its sidebar links carry)
# What follows a person from page to page (the sidebar's links carry these).
SHARED = ("benchmark", "model", "protocol", "condition", "grouping", "place_by", "place", "min_users")


def _ignored(name: str, value: str, using: object) -> None:
    st.info(f"The link's {name}={value!r} is not available here: using {using!r} instead.")


def query_value(name: str, options: list[str], default: str | None = None, known=frozenset()) -> str | None:
    """A value from the URL query if it is one of `options`, else the default (first option); a value
    in the link that cannot be used says so on the page instead of being dropped silently, unless it
    is in `known` (a value of another selection on the page, not a broken link)."""
    value = st.query_params.get(name)
    if value in options:
        return value
    fallback = default if default in options else (options[0] if options else None)
    if value is not None and value not in known:
        _ignored(name, value, fallback)
    return fallback


def query_int(name: str, default: int, low: int, high: int) -> int:
    """An integer from the URL query within [low, high], else the default, with a notice when ignored."""
    value = st.query_params.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        _ignored(name, value, default)
        return default
    return number


def follow_url(key: str, name: str, value: object) -> None:
    """When the URL changed under the page (Back, Forward, an edited link) since this session last
    wrote it, the URL wins over the widget's remembered value; call before creating the widget."""
    written = st.session_state.get(WRITTEN)
    if written is not None and key in st.session_state and st.query_params.get(name) != written.get(name) and value is not None:
        st.session_state[key] = value


def choose(container, label: str, options: list, name: str, key: str, default=None, known=frozenset(), **kwargs):
    """A selectbox whose value lives in the URL under `name`: validated (a notice when the link's value
    is not available, unless it is one of `known`: valid on the page, just not among these options),
    followed after Back, and remembered (left out of the URL while it is the default)."""
    wanted = query_value(name, options, default, known)
    follow_url(key, name, wanted)
    value = container.selectbox(label, options, index=options.index(wanted), key=key, **kwargs)
    remember(name, value, default if default in options else options[0])
    return value


def choose_int(container, label: str, low: int, high: int, name: str, key: str, default: int, **kwargs) -> int:
    """A number input kept in the URL like `choose`."""
    wanted = query_int(name, default, low, high)
    follow_url(key, name, wanted)
    value = int(container.number_input(label, low, high, wanted, key=key, **kwargs))
    remember(name, value, default)
    return value


def url_toggle(container, label: str, name: str) -> bool:
    """A toggle kept in the URL as `name=1`, followed after Back like `choose`."""
    wanted = st.query_params.get(name) == "1"
    follow_url(name, name, wanted)
    value = container.toggle(label, value=wanted, key=name)
    remember(name, "1" if value else None)
    return value


def remember(name: str, value: object, default: object = None) -> None:
    """Keep the view in the URL so a shared link restores it: collected here, written once per run by
    `flush_url`. None removes the key; a value equal to `default` is only kept if the URL already has it."""
    pending = st.session_state.setdefault(PENDING, {})
    pending[name] = (None if value is None else str(value), None if default is None else str(default))


def flush_url() -> None:
    """Write this run's URL state in one message (one history entry), only when it changed."""
    pending = st.session_state.pop(PENDING, {})
    current = {k: st.query_params.get(k) for k in st.query_params}
    wanted = dict(current)
    for name, (value, default) in pending.items():
        if value is None or (value == default and name not in current):
            wanted.pop(name, None)
        else:
            wanted[name] = value
    if wanted != current:
        st.query_params.from_dict(wanted)
    st.session_state[WRITTEN] = wanted
    # updated, not replaced: a fragment's rerun flushes its own selections only (`new_page_run` resets it per page run)
    st.session_state.setdefault(SHOWN, {}).update({name: value for name, (value, _) in pending.items() if name in SHARED})


def carried_params() -> dict[str, str]:
    """The selections a link to another page carries, so they persist from page to page: the URL's,
    and the ones the page shows by default (left out of its URL). Without those, the Items link from
    the Map of the base model's logprob run carried protocol=logprob only and opened another model's run."""
    params = {k: st.query_params.get(k) for k in SHARED if st.query_params.get(k) is not None}
    for name, value in st.session_state.get(SHOWN, {}).items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return params


def new_page_run() -> None:
    """A full page run starts: forget the selections the last one showed (`flush_url` collects this run's)."""
    st.session_state[SHOWN] = {}
