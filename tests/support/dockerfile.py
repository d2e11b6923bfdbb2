"""Reading the Dockerfile, and replaying its install steps without a Docker engine.

`replay` runs each stage's COPY and RUN steps on this machine, in a directory per stage, with the
`python` and `pip` of a given virtual environment: the same commands in the same order, so a broken
install step fails here the way it would fail in `docker build`. RUN steps that change the system
(creating a user, directories under /) are not run; they are returned for the caller to check.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_REPLAYED = ("python ", "pip ")


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD, ENTRYPOINT or HEALTHCHECK ... CMD."""
        found = re.search(r"\[.*\]\s*$", self.args)
        assert found, f"{self.keyword} {self.args} is not in exec form"
        return list(json.loads(found.group(0)))


@dataclass(slots=True)
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [step for step in self.instructions if step.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
        return found[0]


@dataclass(slots=True)
class Dockerfile:
    args: dict[str, str]  # ARGs before the first FROM, with their defaults
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def command(self) -> list[str]:
        """What the container runs: ENTRYPOINT (if any) followed by CMD."""
        entrypoint = [step.exec_form() for step in self.final.all("ENTRYPOINT")]
        return [*(entrypoint[-1] if entrypoint else []), *self.final.one("CMD").exec_form()]


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments may sit inside a continued instruction, too
        if stripped.endswith("\\"):
            current += stripped[:-1].strip() + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


def parse(text: str) -> Dockerfile:
    result = Dockerfile({}, [])
    for line in _logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            base, _, name = args.partition(" AS ")
            result.stages.append(Stage(base.strip(), name.strip() or None))
        elif not result.stages and keyword == "ARG":
            name, _, default = args.partition("=")
            result.args[name] = default
        else:
            result.stages[-1].instructions.append(Instruction(keyword, args))
    return result


def replay(dockerfile: Dockerfile, context: Path, root: Path, venv_bin: Path) -> list[str]:
    """Run every stage's COPY and `python`/`pip` RUN steps under `root`; return the RUN steps skipped."""
    stage_roots: dict[str, Path] = {}
    skipped: list[str] = []
    for number, stage in enumerate(dockerfile.stages):
        stage_root = root / f"stage{number}"
        stage_roots[stage.name or str(number)] = stage_root
        cwd, env = stage_root, {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
        for step in stage.instructions:
            if step.keyword == "WORKDIR":
                cwd = stage_root / step.args.lstrip("/")
            elif step.keyword == "ENV":
                env.update(item.split("=", 1) for item in shlex.split(step.args))
            elif step.keyword == "COPY":
                _copy(step.args, context, stage_roots, stage_root, cwd)
            elif step.keyword == "RUN" and step.args.startswith(_REPLAYED):
                cwd.mkdir(parents=True, exist_ok=True)
                subprocess.run(["bash", "-c", step.args], cwd=cwd, env=env, check=True, capture_output=True)
            elif step.keyword == "RUN":
                skipped.append(step.args)
    return skipped


def _copy(args: str, context: Path, stage_roots: dict[str, Path], stage_root: Path, cwd: Path) -> None:
    words = shlex.split(args)
    source_root = context
    if words[0].startswith("--from="):
        source_root = stage_roots[words.pop(0).removeprefix("--from=")]
    *sources, destination = words
    target = stage_root / destination.lstrip("/") if destination.startswith("/") else cwd / destination
    for source in sources:
        path = source_root / source.lstrip("/")
        if path.is_dir():  # Docker copies a directory's contents into the destination
            shutil.copytree(path, target, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.name)
