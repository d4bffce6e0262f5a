"""Usage errors as one line: `roost: error: ... (see `roost send --help`)`, exit status 2."""

from __future__ import annotations

from typing import IO, Any

import click


class OneLineUsageError(click.ClickException):
    """A click usage error (missing argument, bad option value...) shown on one line."""

    exit_code = 2

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(error.format_message())
        self.ctx = error.ctx

    def show(self, file: IO[Any] | None = None) -> None:
        # click's own text may hold a newline ("Did you mean ...") and ends with a period.
        text = " ".join(self.format_message().split()).rstrip(".")
        where = self.ctx.command_path if self.ctx is not None else "roost"
        click.echo(f"roost: error: {text} (see `{where} --help`)", err=True)


# `roost user` with no command: the help text is the answer, shown whole (click >= 8.2).
_HELP_ANSWERS: tuple[type[Exception], ...] = tuple(
    t for t in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if t is not None
)


def one_line(exc: click.UsageError) -> click.ClickException:
    return exc if isinstance(exc, _HELP_ANSWERS) else OneLineUsageError(exc)


class RoostGroup(click.Group):
    """The top `roost` group: every usage error below it comes out as one line."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise one_line(exc) from None
