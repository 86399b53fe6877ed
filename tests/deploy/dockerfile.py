"""A small reader of deploy/Dockerfile: its stages and their instructions."""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.entry_points import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The arguments of an exec-form (JSON array) instruction such as ENTRYPOINT."""
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"{self.keyword} is not in exec form"
        return [str(item) for item in value]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """The stage's instructions with this keyword, in order."""
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        """The instruction with this keyword that takes effect (the last one)."""
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage built from {self.base}"
        return found[-1]

    def environment(self) -> dict[str, str]:
        """The variables the stage's ENV instructions set."""
        pairs: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in instruction.arguments.split():
                name, _, value = pair.partition("=")
                pairs[name] = value
        return pairs


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The global build arguments (ARG before the first FROM, with defaults) and the stages."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    build_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, arguments = line.strip().partition(" ")
        keyword, arguments = keyword.upper(), " ".join(arguments.split())
        if keyword == "FROM":
            image, _, name = arguments.partition(" AS ")
            for arg, default in build_args.items():
                image = image.replace(f"${{{arg}}}", default)
            stages.append(Stage(base=image, name=name or None))
        elif not stages:
            if keyword == "ARG":
                name, _, default = arguments.partition("=")
                build_args[name] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, arguments))
    return build_args, stages


def copy_sources(instruction: Instruction) -> tuple[list[str], str]:
    """The sources and the destination of a COPY, its --flags left out."""
    words = [word for word in instruction.arguments.split() if not word.startswith("--")]
    return words[:-1], words[-1]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex over a slash-separated path (Go filepath.Match rules)."""
    regex = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            regex += ".*"
            index += 2
        else:
            char = pattern[index]
            regex += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
            index += 1
    return re.compile(regex + "$")


def excluded_from_context(path: str, dockerignore: Path = DOCKERIGNORE) -> bool:
    """Whether the build context leaves out this path (relative to the repository root).

    Docker excludes a path when the last pattern matching it, or one of its parent folders,
    is not a `!` exception.
    """
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: depth + 1]) for depth in range(len(parts))]
    excluded = False
    for raw in dockerignore.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        regex = _pattern_regex(line.lstrip("!").strip("/"))
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def load() -> tuple[dict[str, str], list[Stage]]:
    """deploy/Dockerfile, parsed."""
    return parse_dockerfile(DOCKERFILE.read_text())
