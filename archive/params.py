"""Query-parameter values shared by every app: one spelling of a boolean flag."""

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
FALSE_VALUES = frozenset({"0", "false", "no", "off"})
FLAG_HELP = "1, true, yes or on; 0, false, no or off (any case)"


def parse_flag(value: str | None, default: bool | None = None) -> bool | None:
    """A flag's value: `default` when absent or empty; ValueError for a spelling that is neither true nor false, so
    that a mistyped flag is a 400 rather than silently ignored."""
    if value is None or not value.strip():
        return default
    folded = value.strip().lower()
    if folded in TRUE_VALUES:
        return True
    if folded in FALSE_VALUES:
        return False
    raise ValueError(f"{value!r} is not a flag: use {FLAG_HELP}.")
