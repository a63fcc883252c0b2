"""YAML configuration files read so that none can run code, exhaust memory or hide a value.

`load_yaml(path)` composes the file into PyYAML's node graph (an alias is the same node object as
its anchor, so composing is linear in the file's size), measures the size the tree would have with
every alias expanded, memoised over node identity (linear too), and only then constructs the data.
A configuration is refused, with an error naming the file, when:

- the expanded tree exceeds MAX_EXPANDED units (one per node plus one per character of a scalar):
  anchors nested within anchors ("billion laughs") multiply a few hundred bytes into billions of
  nodes, which every later traversal (schema validation, merging, hashing) would walk;
- an alias refers to its own anchor (an infinite tree);
- a mapping names the same key twice (YAML keeps the last silently: a careless edit of one value
  would leave the other in force);
- a tag asks for a Python object (`!!python/...`: only the safe loader's plain types are built),
  or the top level sets `__use_yte__` (Snakemake would evaluate the file as a YTE template, that is
  Python expressions);
- the file is larger than MAX_FILE_BYTES, not UTF-8, or not one YAML document.

The limits are far above any real configuration (config/config.yaml expands to about 6,000 units)."""

from __future__ import annotations

from pathlib import Path

import yaml

from dra.errors import DraError

MAX_FILE_BYTES = 1 << 20
MAX_EXPANDED = 1_000_000
YTE_KEY = "__use_yte__"
_MERGE = "tag:yaml.org,2002:merge"

try:  # libyaml's composer builds the same node graph, faster
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def expanded_size(root: yaml.Node, where: str, limit: int = MAX_EXPANDED) -> int:
    """Units of the tree rooted at `root` with every alias expanded, computed without expanding:
    each node's size is computed once (memoised by identity) and shared by every alias to it. Stops
    with a DraError as soon as the sum passes `limit` or a node turns out to contain itself."""
    memo: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose size is being computed: met again below themselves = a cycle

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if isinstance(node, yaml.ScalarNode):
            total = 1 + len(node.value)
        else:
            if key in open_:
                raise DraError(f"{where}, line {_line(node)}: an alias refers to its own anchor (an infinitely deep "
                               "tree); expected a configuration without self-reference")
            open_.add(key)
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
            total = 1
            for c in children:
                total += size(c)
                if total > limit:
                    raise DraError(f"{where}: with its aliases (*name) expanded, the YAML holds more than {limit:,} "
                                   f"nodes and characters (line {_line(node)} onwards); expected a configuration "
                                   "of sane size: write the values out, or use fewer nested anchors")
            open_.discard(key)
        memo[key] = total
        return total

    return size(root)


def _check_keys(root: yaml.Node, where: str) -> None:
    """No mapping names a key twice (merge keys `<<` aside: overriding merged keys is their purpose).
    Each mapping node is visited once, however many aliases point to it."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen or isinstance(node, yaml.ScalarNode):
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE:
                    if k.value in first:
                        raise DraError(f"{where}, line {_line(k)}: key {k.value!r} appears twice in one mapping "
                                       f"(first on line {first[k.value]}); YAML would keep only the last value: "
                                       "expected each key once")
                    first[k.value] = _line(k)
                todo += [k, v]
        else:
            todo += node.value


def load_yaml(path: str | Path, limit: int = MAX_EXPANDED):
    """The data of one YAML (or JSON) file, checked as the module says; None for an empty file."""
    path = Path(path)
    where = str(path)
    try:
        nbytes = path.stat().st_size
        if nbytes > MAX_FILE_BYTES:
            raise DraError(f"{where}: configuration file of {nbytes:,} bytes; expected at most {MAX_FILE_BYTES:,}")
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DraError(f"{where}: configuration file not found") from None
    except UnicodeDecodeError as e:
        raise DraError(f"{where}: not UTF-8 text ({e}); expected a YAML configuration") from None
    except OSError as e:
        raise DraError(f"{where}: cannot read the configuration file ({e.strerror or e})") from None
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        expanded_size(root, where, limit)
        _check_keys(root, where)
        if isinstance(root, yaml.MappingNode) and any(
                isinstance(k, yaml.ScalarNode) and k.value == YTE_KEY for k, _ in root.value):
            raise DraError(f"{where}: top-level key {YTE_KEY!r} asks Snakemake to evaluate the file as a YTE template "
                           "(Python expressions); expected plain YAML: remove the key and write the values out")
        return loader.construct_document(root)
    except yaml.YAMLError as e:
        raise DraError(f"{where}: not a valid YAML configuration ({_one_line(e)}); expected plain YAML values "
                       "(no !!python tags, one document)") from None
    except RecursionError:
        raise DraError(f"{where}: nested too deeply to read; expected a configuration of sane depth") from None
    finally:
        loader.dispose()


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def main(argv: list[str] | None = None) -> int:
    """`python -m dra.plan.safeyaml FILE...`: check configuration files before Snakemake reads them.

    Snakemake loads every --configfile (PyYAML's FullLoader, then YTE templating when the file asks
    for it) and merges it recursively into its config before the Snakefile runs: an alias bomb of
    mappings is expanded there, and a YTE template is evaluated there, before any check of ours in the
    Snakefile could run. So whatever starts Snakemake on a file it did not write checks it first."""
    import sys

    files = sys.argv[1:] if argv is None else argv
    if not files:
        print("usage: python -m dra.plan.safeyaml CONFIG.yaml [...]", file=sys.stderr)
        return 2
    bad = 0
    for f in files:
        try:
            load_yaml(f)
        except DraError as e:
            print(f"error: {e}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
