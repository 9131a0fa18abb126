"""Help that reads like a man page: `ORG`, `[ORG]...`, `--registry DIR`, `--format text|json`.

typer 0.29 renders a parameter without a metavar by its Python type (`<path>`, `<list[int]>`,
`<int range>`), a required argument as `{ORG}` and a variadic one as `[[ORG]...]...`. Rather than rely on
every command (ours and those added later) to spell a metavar for each parameter, `man_page_style` walks
the finished click command tree once and gives every parameter a conventional one: arguments are
upper-case names, optional ones in brackets, repeatable ones followed by `...`; options take the metavar
their command gave, else their choices, else a name for the kind of value.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption

# Option values by the kind of value, when neither the command nor the choices say more.
_KIND_METAVARS: dict[Any, str] = {int: "N", float: "N"}


class _ManArgument(TyperArgument):
    """A typer argument shown as click shows arguments: `ORG`, `[DIR]`, `[ORG]...`, with no type label."""

    def _man_name(self) -> str:
        name = self.metavar or (self.name or "").upper()
        if "[" in name or "..." in name:  # the command spelled the whole usage form itself
            return name
        if not self.required:
            name = f"[{name}]"
        return f"{name}..." if self.nargs != 1 else name

    def _usage_display_name(self) -> str:
        return self._man_name()

    def _rich_display_name(self) -> str:
        return self._man_name()

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def man_page_style(command: Any) -> Any:
    """Give every parameter of a typer click command, and of its subcommands, a man-page metavar."""
    for param in command.params:
        if isinstance(param, TyperArgument):
            param.__class__ = _ManArgument
        elif isinstance(param, TyperOption) and not param.is_flag and param.metavar is None:
            param.metavar = _option_metavar(param)
    for sub in getattr(command, "commands", {}).values():
        man_page_style(sub)
    return command


def _option_metavar(option: TyperOption) -> str:
    kind = option.type_descriptor
    if kind.is_choice and kind.choices is not None:
        return "|".join(str(getattr(choice, "value", choice)) for choice in kind.choices)
    if kind.is_path:
        return "PATH"
    if kind.annotation in _KIND_METAVARS:
        return _KIND_METAVARS[kind.annotation]
    return (option.name or "value").upper().replace("_", "-")
