"""BENCHMARKS.md, one section per benchmark: each script replaces its own, nothing else."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def write_section(heading: str, lines: list[str], path: Path = BENCHMARKS) -> None:
    """Replace (or append) the section under `heading` ("## Name") with `lines`."""
    text = path.read_text()
    section = "\n".join([heading, "", *lines]).rstrip() + "\n"
    start = text.find(heading + "\n")
    if start < 0:
        path.write_text(text.rstrip() + "\n\n" + section)
        return
    after = text.find("\n## ", start + len(heading))
    rest = text[after + 1 :] if after >= 0 else ""
    path.write_text(text[:start] + section + ("\n" + rest if rest else ""))
