"""Helpers shared by the command modules: key=value options, output paths, plots.

Every command that writes a file checks it with :func:`check_output` *before* any work
starts (so a long run never ends in a failed write), refuses to replace an existing file
unless ``--overwrite`` is given (:func:`add_overwrite`), and writes through
:func:`write_atomically` (a temporary file in the same folder, renamed at the end), so an
interrupted write never leaves a truncated trace where a good one was.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import stat
import tempfile
import textwrap

__all__ = [
    "parse_key_values",
    "check_writable",
    "check_output",
    "add_overwrite",
    "write_atomically",
    "use_agg",
    "IMAGE_FORMATS",
    "HelpFormatter",
    "CommandParser",
]

#: File endings matplotlib can write (checked before a run, not after it).
IMAGE_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")


def parse_key_values(items: list[str] | None, what: str) -> dict:
    """Turn ``["dim=100", "seed=1"]`` into ``{"dim": 100, "seed": 1}`` (Python literals)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{what} must look like NAME=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    return out


def add_overwrite(parser) -> None:
    """Add the ``--overwrite`` flag to a command that writes files."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace output files that already exist (by default an existing file is "
        "never replaced)",
    )


def check_output(
    path: str | None, *, overwrite: bool = False, option: str = "--out", image: bool = False
) -> None:
    """Fail early, with one clear line, when ``path`` cannot or should not be written.

    Checks, before any work starts: the folder exists and a file can be created in it
    (tried for real, which also catches read-only file systems and root's permission
    bypass), ``path`` is not a folder or a special file (``/dev/full``...), an existing
    file is only replaced with ``overwrite``, and (``image=True``) the ending names a
    format matplotlib writes.
    """
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if image:
        ext = os.path.splitext(path)[1].lower().lstrip(".")
        if ext not in IMAGE_FORMATS:
            raise ValueError(
                f"{option} {path}: unknown image format {ext or '(no ending)'!r}; "
                f"use one of .{', .'.join(IMAGE_FORMATS)}"
            )
    if not os.path.isdir(folder):
        raise OSError(f"cannot write {path} ({option}): folder {folder} does not exist")
    if os.path.lexists(path):
        mode = os.stat(path).st_mode if os.path.exists(path) else 0
        if stat.S_ISDIR(mode):
            raise OSError(f"cannot write {path} ({option}): it is a folder")
        if not stat.S_ISREG(mode):
            raise OSError(f"cannot write {path} ({option}): it is not a regular file")
        if not overwrite:
            raise OSError(
                f"{path} ({option}) already exists; pass --overwrite to replace it, "
                "or choose another name"
            )
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".geobayes-check-"):
            pass
    except OSError as exc:
        raise OSError(f"cannot write {path} ({option}): {exc.strerror or exc}") from None


def check_writable(path: str | None) -> None:
    """:func:`check_output` with ``overwrite=True`` (for commands without the flag)."""
    check_output(path, overwrite=True)


@contextlib.contextmanager
def write_atomically(path: str):
    """Yield a temporary path in ``path``'s folder; rename it to ``path`` on success.

    A failure or Ctrl-C while writing leaves ``path`` as it was (no truncated file).
    """
    folder = os.path.dirname(os.path.abspath(path)) or "."
    base = os.path.basename(path)
    # keep the ending: writers (matplotlib, xarray) choose the format from it
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{base}.", suffix=os.path.splitext(base)[1])
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def use_agg() -> None:
    """Select matplotlib's non-interactive backend (plots go to files)."""
    import matplotlib

    matplotlib.use("Agg")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """The help layout of every command.

    Defaults are shown only where there is one worth showing (no ``(default: None)`` or
    ``(default: False)``, and not twice where the help states its own); descriptions and
    epilogs are wrapped to the terminal paragraph by paragraph, while indented lines
    (examples) and lines under a ``something:`` heading keep their layout.
    """

    def _get_help_string(self, action):
        text = action.help or ""
        d = action.default
        if "%(default)" in text or "(default" in text or d is None or d is False:
            return text  # no default, or the help already states it
        if d == argparse.SUPPRESS:
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text + " (default: %(default)s)"
        return text

    def _fill_text(self, text, width, indent):
        out = []
        for para in text.split("\n\n"):
            lines = para.splitlines()
            keep = any(ln.startswith(" ") for ln in lines) or (
                lines and lines[0].rstrip().endswith(":")
            )
            if keep:
                out.append("\n".join(indent + ln for ln in lines))
            else:
                out.append(
                    textwrap.fill(
                        " ".join(ln.strip() for ln in lines),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                    )
                )
        return "\n\n".join(out)


class CommandParser(argparse.ArgumentParser):
    """Parser of one command: the shared help layout (:class:`HelpFormatter`)."""

    def __init__(self, *args, **kwargs):
        kwargs["formatter_class"] = HelpFormatter
        super().__init__(*args, **kwargs)
