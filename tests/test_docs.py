"""Every params key that README.md and docs/*.md name exists in ``qup.config.Params``.

What counts as a named key (outside fenced code blocks unless said otherwise):
- an inline code span that is a dotted path whose first part is a top-level params section (read from
  ``Params.model_fields``), optionally followed by ``=value`` or ``: value``: `train.seeds`,
  `oracle.source: failed`, `scoring.reward_models[0].label`, `evaluate.benchmarks[].name` (any item), `models.*`;
- anywhere, fenced blocks included, the KEY of ``-S KEY=VALUE`` / ``--set KEY=VALUE`` (quoted or not);
- every key of a fenced ``yaml`` block whose top-level keys are all params sections (a params overlay).

A path resolves by walking the pydantic model tree: a model's fields, Optional/union members, a dict's any key
(a Literal-keyed dict: its literals) and then its value type, a list's item type with or without an index.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from qup.config import Params

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = tuple(Params.model_fields)
FILE_SUFFIXES = {"py", "json", "yaml", "yml", "md", "parquet", "txt", "png", "jsonl", "csv", "gguf", "sh", "lock"}

FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)")
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
# a section, then `.name`, `[N]` or `.*` parts; then the end, `=value` or `: value`
PATH = r"[a-z_][a-z0-9_]*(?:\.[A-Za-z0-9_-]+|\[\d*\]|\.\*)+"
INLINE_KEY = re.compile(rf"^(?P<key>{PATH})(?:\s*=.*|:\s.*)?$")
SET_FLAG = re.compile(rf"""(?:^|\s)(?:-S|--set)\s+["']?(?P<key>{PATH})=""")


@dataclass(frozen=True)
class Named:
    file: str
    line: int
    key: str

    def __str__(self):
        return f"{self.file}:{self.line}: {self.key}"


def _parts(key: str) -> list[str]:
    return [p for p in re.sub(r"\[(\d*)\]", r".\1", key).split(".") if p]


def _unwrap(annotation):
    """The members of a union (Optional included, Annotated stripped), else the annotation itself; None dropped."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def resolve(annotation, parts: list[str]) -> str | None:
    """None when ``parts`` is a path below ``annotation``, else why not."""
    if not parts or parts == ["*"]:
        return None
    why = f"nothing below here takes {parts[0]!r}"
    for member in _unwrap(annotation):
        origin = typing.get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            by_alias = {f.alias: f for f in member.model_fields.values() if f.alias}  # params spell `lambda`, `from`
            field = member.model_fields.get(parts[0]) or by_alias.get(parts[0])
            if field is None:
                why = f"{member.__name__} has no field {parts[0]!r} (it has: {', '.join(member.model_fields)})"
                continue
            reason = resolve(field.annotation, parts[1:])
        elif origin is dict:
            key_type, value_type = typing.get_args(member) or (typing.Any, typing.Any)
            if typing.get_origin(key_type) is typing.Literal and parts[0] not in typing.get_args(key_type):
                why = f"{parts[0]!r} is not one of {', '.join(map(str, typing.get_args(key_type)))}"
                continue
            reason = None if value_type is typing.Any else resolve(value_type, parts[1:])
        elif origin is list:
            (item,) = typing.get_args(member) or (typing.Any,)
            rest = parts[1:] if parts[0].isdigit() else parts
            if item is typing.Any or (not rest and parts[0].isdigit()):
                return None
            reason = resolve(item, rest)
        elif member is typing.Any:
            return None
        else:
            continue
        if reason is None:
            return None
        why = reason
    return why


def check(named: list[Named]) -> list[str]:
    """One message per key that does not resolve in Params."""
    return [f"{n}: not a params key ({why})" for n in named if (why := resolve(Params, _parts(n.key)))]


def _yaml_keys(block: str, file: str, first_line: int) -> list[Named]:
    """Every key path of a params overlay in YAML, with its line; nothing when the block is not one."""
    try:
        node = yaml.compose(block)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode) or not node.value:
        return []
    if any(not isinstance(k, yaml.ScalarNode) or k.value not in SECTIONS for k, _ in node.value):
        return []
    found: list[Named] = []

    def walk(n, prefix):
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = f"{prefix}.{k.value}" if prefix else k.value
                found.append(Named(file, first_line + k.start_mark.line, key))
                walk(v, key)
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, f"{prefix}[{i}]")

    walk(node, "")
    return found


def named_keys(text: str, file: str) -> list[Named]:
    """Every params key that a markdown text names (the rule in this module's docstring)."""
    found: list[Named] = []
    fence, lang, block, block_start = None, "", [], 0
    for number, line in enumerate(text.splitlines(), start=1):
        found += [Named(file, number, m["key"]) for m in SET_FLAG.finditer(line)]
        opened = FENCE.match(line)
        if fence is None and opened:
            fence, lang, block, block_start = opened[1], opened[2].lower(), [], number + 1
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                if lang in ("yaml", "yml"):
                    found += _yaml_keys("\n".join(block), file, block_start)
                fence = None
            else:
                block.append(line)
            continue
        for span in INLINE.finditer(line):
            code = span[1].strip()
            m = INLINE_KEY.match(code)
            if not m or _parts(m["key"])[0] not in SECTIONS:
                continue
            if _parts(m["key"])[-1] in FILE_SUFFIXES and "=" not in code and ":" not in code:
                continue  # a file name such as `native.json`, not a key
            found.append(Named(file, number, m["key"]))
    return list(dict.fromkeys(n for n in found if _parts(n.key)[0] in SECTIONS))


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_the_docs_exist():
    names = {p.relative_to(ROOT).as_posix() for p in doc_files()}
    assert {"README.md", "docs/README.md"} <= names, names


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_params_key_the_docs_name_exists(path):
    named = named_keys(path.read_text(), path.relative_to(ROOT).as_posix())
    failures = check(named)
    assert not failures, "\n".join(failures)


def test_the_docs_name_many_keys():
    named = [n for p in doc_files() for n in named_keys(p.read_text(), p.relative_to(ROOT).as_posix())]
    assert len({n.key for n in named}) > 40, "the key extraction found too little; is the rule broken?"


SYNTHETIC = """\
# A page

Set `train.seeds` and `native.pick: first`, or `native.k=8`; `engines.slm.python` is no key.
`qup.engines.make_engine`, `data/corpora/native.parquet`, `metrics/native.json` and `native.json` are not keys.
`scoring.reward_models[0].label`, `evaluate.benchmarks.max_problems` and `models.*` are.

```bash
dvc exp run -S 'train.seeds=[0]' -S train.made_up=1 --set "problems.file.path=$x"
```

```yaml
models:
  toy_rm: {style_targets: {native: 0.5, nativ: 0.4}}
evaluate:
  benchmarks:
    - {name: a, preset: toy_ood, max_problem: 5}
costs: {prices: {gpt-4o: {prompt: 2.5, cost: 1}}}
```

```yaml
not_params: {a: 1}
```
"""


def test_the_rule_finds_keys_and_their_lines():
    named = named_keys(SYNTHETIC, "x.md")
    keys: dict[str, int] = {}
    for n in named:
        keys.setdefault(n.key, n.line)
    assert keys["train.seeds"] == 3 and keys["native.pick"] == 3 and keys["native.k"] == 3
    assert keys["engines.slm.python"] == 3
    assert keys["train.made_up"] == 8 and keys["problems.file.path"] == 8
    assert keys["models.toy_rm.style_targets.nativ"] == 13
    assert keys["evaluate.benchmarks[0].max_problem"] == 16
    assert "qup.engines.make_engine" not in keys and not any(k.startswith(("data", "metrics")) for k in keys)
    assert not any(k.startswith("not_params") for k in keys) and "native.json" not in keys


def test_a_made_up_key_fails_with_file_line_and_key():
    failures = check(named_keys(SYNTHETIC, "x.md"))
    assert len(failures) == 5, "\n".join(failures)
    assert failures[0].startswith("x.md:3: engines.slm.python: not a params key")
    assert any(f.startswith("x.md:8: train.made_up:") for f in failures)
    assert any(f.startswith("x.md:13: models.toy_rm.style_targets.nativ:") for f in failures)
    assert any(f.startswith("x.md:16: evaluate.benchmarks[0].max_problem:") for f in failures)
    assert any(f.startswith("x.md:17: costs.prices.gpt-4o.cost:") for f in failures)


@pytest.mark.parametrize("key", ["seed", "engines.slm.sglang.python", "scoring.reward_models.label",
                                 "scoring.reward_models.1.step_split", "evaluate.benchmarks[2].file.columns.id",
                                 "train.lora_targets", "models.toy_rm.style_targets.oracle", "costs.prices.any.prompt",
                                 "engines.oracle.*", "problems.hf.columns.question"])
def test_real_keys_resolve(key):
    assert resolve(Params, _parts(key)) is None


@pytest.mark.parametrize("key", ["engines.slm.python", "train.seeds.0.x", "seed.x", "problems.file.path.x",
                                 "models.toy_rm.style_targets.other", "scoring.reward_models.x"])
def test_wrong_keys_do_not_resolve(key):
    assert resolve(Params, _parts(key)) is not None


class _Leaf(BaseModel):
    a: int = 0


class _Other(BaseModel):
    kind: typing.Literal["other"] = "other"
    b: int = 0


class _Tree(BaseModel):
    specs: dict[str, typing.Annotated[_Leaf | _Other, "a discriminated union"]] = {}
    items: list[_Leaf] | None = None


@pytest.mark.parametrize(("key", "ok"), [("specs.x.a", True), ("specs.x.b", True), ("specs.x.c", False),
                                         ("items.a", True), ("items[3].a", True), ("items[].a", True),
                                         ("items.b", False), ("specs", True), ("nothing", False)])
def test_the_walk_through_unions_dicts_and_lists(key, ok):
    assert (resolve(_Tree, _parts(key)) is None) is ok


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return {_anchor(m[1]) for m in re.finditer(r"^#+\s+(.*)$", text, flags=re.M)}


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_exists(path):
    broken = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target):
                continue  # a URL
            file, _, anchor = target.partition("#")
            goal = (path.parent / file).resolve() if file else path
            if not goal.exists():
                broken.append(f"{path.relative_to(ROOT)}:{number}: {target}: no such file")
            elif anchor and goal.suffix == ".md" and anchor not in _anchors(goal):
                broken.append(f"{path.relative_to(ROOT)}:{number}: {target}: no such heading")
    assert not broken, "\n".join(broken)
