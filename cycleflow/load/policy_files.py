"""Read the files one policy consists of: the main YAML, its includes, its deal schema.

Paths in a policy are relative to the file that names them. Only local files
are read: no URL, no remote ``$ref``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cycleflow.errors import Location, PolicyError, Problem
from cycleflow.load.yaml_reader import Document, Limits, read_yaml_file

MAX_INCLUDES = 32
MAX_SCHEMA_BYTES = 2_000_000


@dataclass(frozen=True)
class PolicyFiles:
    """The raw documents of one policy, before validation."""

    main: Document
    fragments: tuple[Document, ...]
    deal_schema: Mapping[str, Any] | None
    deal_schema_path: str | None


def read_main(path: str | os.PathLike[str]) -> Document:
    """Read the main policy file, turning a missing or unreadable file into a located error."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise PolicyError.at(Location(name), "file-not-found", f"no such file: {name}")
    if os.path.isdir(name):
        raise PolicyError.at(
            Location(name), "file-is-directory", f"{name} is a directory, not a policy file"
        )
    try:
        return read_yaml_file(name)
    except OSError as err:
        raise PolicyError.at(
            Location(name), "file-unreadable", f"cannot read {name}: {err.strerror}"
        ) from None


#: Reading a file a policy names: its content is never quoted in an error.
_NAMED = Limits(quote_content=False)

#: What a file a policy names may be: a policy fragment or suite target, or a deal schema.
YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)


def repository_of(file: str | os.PathLike[str]) -> Path | None:
    """The git repository holding ``file`` (the nearest folder with a ``.git``), if any."""
    here = Path(os.path.realpath(file)).parent
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None



def shown_path(path: str | os.PathLike[str]) -> str:
    """A file's path as messages show it: ``policies/../schemas/x.json`` (a path joined
    to the folder of the file that names it) as ``schemas/x.json``, still relative."""
    return os.path.normpath(os.fspath(path))


def referenced_file(
    base_file: str, rel: object, where: Location, what: str, code: str, suffixes: tuple[str, ...]
) -> Path:
    """The file a policy (or suite) at ``base_file`` names as ``rel``, or a located error.

    A policy comes from many authors (pull requests), so what it may make cycleflow read
    is bounded: a regular file (not a device, pipe or folder) with the kind's suffix
    (``/etc/passwd`` or ``/run/secrets/x`` never are), inside the git repository that
    holds ``base_file`` when there is one. Errors never quote the file's content.
    """
    target = Path(base_file).parent / str(rel)
    base = target.parent
    if target.is_dir():
        raise PolicyError.at(where, f"{code}-not-found", f"{what} {rel} is a directory",
                             "list each file by name")
    if not target.exists():
        raise PolicyError.at(
            where, f"{code}-not-found", f"{what} not found: {rel}",
            f"the path is relative to the folder of {Path(base_file).name}, {base or '.'}",
        )
    if target.suffix.lower() not in suffixes:
        raise PolicyError.at(
            where, f"{code}-kind", f"{what} {rel} is not a {' or '.join(suffixes)} file",
            f"name a {suffixes[0]} file: cycleflow reads no other kind of file here",
        )
    if not target.is_file():
        raise PolicyError.at(where, f"{code}-not-found",
                             f"{what} {rel} is not a regular file (a device, pipe or socket)",
                             "name a regular file")
    repo = repository_of(base_file)
    if repo is not None and not Path(os.path.realpath(target)).is_relative_to(repo):
        raise PolicyError.at(
            where, f"{code}-outside",
            f"{what} {rel} is outside the repository that holds {Path(base_file).name} ({repo})",
            "keep policies, fragments, schemas and suites inside one repository: a policy "
            "from a pull request must not read the machine's other files",
        )
    return target


def read_includes(main: Document) -> tuple[Document, ...]:
    """Read the fragments named by ``include:``, each relative to the main file."""
    raw = main.data.get("include") if isinstance(main.data, Mapping) else None
    if not raw:
        return ()
    base = Path(main.file).parent
    out: list[Document] = []
    seen = {os.path.realpath(main.file)}
    for i, rel in enumerate(raw[:MAX_INCLUDES] if isinstance(raw, list) else ()):
        where = main.source_map.locate(("include", i))
        real = os.path.realpath(base / str(rel))
        if real in seen:
            raise PolicyError.at(
                where, "include-cycle", f"'{rel}' is included twice or includes the policy itself"
            )
        seen.add(real)
        target = referenced_file(main.file, rel, where, "included file", "include",
                                 YAML_SUFFIXES)
        doc = read_yaml_file(str(target), limits=_NAMED)
        if isinstance(doc.data, Mapping) and doc.data.get("include"):
            raise PolicyError.at(
                doc.source_map.locate(("include",)),
                "include-nested",
                "an included fragment may not include others",
                "list every fragment in the main policy",
            )
        out.append(doc)
    return tuple(out)


def read_deal_schema(main: Document) -> tuple[Mapping[str, Any] | None, str | None]:
    """Load the JSON Schema named by ``deal_schema:``, refusing remote references."""
    rel = main.data.get("deal_schema") if isinstance(main.data, Mapping) else None
    if not rel:
        return None, None
    where = main.source_map.locate(("deal_schema",))
    path = referenced_file(main.file, rel, where, "deal_schema", "deal-schema", JSON_SUFFIXES)
    if path.stat().st_size > MAX_SCHEMA_BYTES:
        raise PolicyError.at(
            where, "deal-schema-too-large", f"deal_schema {rel} is over {MAX_SCHEMA_BYTES} bytes"
        )
    try:
        schema = json.loads(path.read_text("utf-8"))
    except RecursionError:
        raise PolicyError.at(
            where, "deal-schema-too-deep", f"deal_schema {rel} nests too deeply",
            "flatten it with $defs and $ref",
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        line = getattr(err, "lineno", 0)
        col = getattr(err, "colno", 0)
        raise PolicyError(
            Problem(
                Location(shown_path(path), line, col),
                "deal-schema-syntax",
                f"deal_schema is not valid JSON: {err}",
            )
        ) from None
    except ValueError:  # Python's limit on the digits of an integer (4,300)
        text = path.read_text("utf-8")
        found = re.search(r"\d{4000,}", text)
        at = found.start() if found else 0
        line = text.count("\n", 0, at) + 1
        raise PolicyError(Problem(
            Location(shown_path(path), line, at - text.rfind("\n", 0, at)),
            "deal-schema-syntax",
            "deal_schema holds a number of more than 4,300 digits, which cannot be read",
            "no schema keyword needs such a number; write a smaller bound",
        )) from None
    if not isinstance(schema, Mapping):
        raise PolicyError.at(where, "deal-schema-invalid", "deal_schema must be a JSON object")
    _refuse_remote_refs(schema, str(rel), where)
    return schema, str(path)


#: Keywords whose values are data, not schemas: an "id" inside them is not a base URI.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})


def _refuse_remote_refs(node: Any, file: str, where: Location, depth: int = 0) -> None:
    """Refuse anything that could make a validator fetch a document (nothing is fetched):
    a ``$ref`` outside the schema, or a nested ``$id``/``id`` that moves the base URI
    (a ``#/...`` reference under ``"id": "http://host/x.json"`` would resolve there).
    Also refuses runaway nesting."""
    if depth > 64:
        raise PolicyError.at(
            where, "deal-schema-too-deep", f"deal_schema {file} nests too deeply",
            "flatten it with $defs and $ref",
        )
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            raise PolicyError.at(
                where,
                "deal-schema-remote-ref",
                f"deal_schema {file}: $ref '{ref}' is not local",
                "only '#/...' references are resolved; inline the definition",
            )
        for key in ("$id", "id"):
            base = node.get(key)
            if depth > 0 and isinstance(base, str) and not base.startswith("#"):
                raise PolicyError.at(
                    where,
                    "deal-schema-remote-ref",
                    f"deal_schema {file}: a nested {key} '{base}' changes the base URI, so "
                    "'#/...' references under it would point at another document",
                    f"remove the nested {key} (only the root's $id is allowed) or use an "
                    f"anchor such as '{key}: \"#name\"'",
                )
        for key, value in node.items():
            if key not in _DATA_KEYWORDS:
                _refuse_remote_refs(value, file, where, depth + 1)
    elif isinstance(node, list):
        for value in node:
            _refuse_remote_refs(value, file, where, depth + 1)


def deal_schema_sha256(path: str, schema: Mapping[str, Any], where: Location) -> str:
    """The SHA-256 of the deal schema file's bytes, checked to still hold ``schema``.

    The schema is parsed before the policy is built; hashing the file again must not
    record the hash of other rules than those in force, so a file changed in between
    is an error (load the policy again).
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SCHEMA_BYTES + 1)
    except OSError as err:
        raise PolicyError.at(
            where, "deal-schema-unreadable",
            f"cannot read deal_schema {shown_path(path)}: {err.strerror or err}") from None
    try:
        same = json.loads(raw) == schema
    except (ValueError, RecursionError):
        same = False
    if not same:
        raise PolicyError.at(where, "deal-schema-changed",
                             f"deal_schema {shown_path(path)} changed while the policy was loading",
                             "load the policy again")
    return hashlib.sha256(raw).hexdigest()


def read_policy_files(path: str | os.PathLike[str]) -> PolicyFiles:
    """Read everything one policy consists of."""
    main = read_main(path)
    schema, schema_path = read_deal_schema(main)
    return PolicyFiles(main, read_includes(main), schema, schema_path)
