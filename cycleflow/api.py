"""The public entry points: load a policy file into a checked model, ready for an Engine.

``load_policy`` runs the whole front of the data flow — read (YAML, includes,
deal schema) → validate (JSON Schema) → model (references, expressions) —
and raises one :class:`PolicyError` carrying every problem it found.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cycleflow.errors import PolicyError, Problem, UsageError
from cycleflow.load.policy_files import read_deal_schema, read_includes, read_main
from cycleflow.model.build import build_policy
from cycleflow.model.policy import Policy
from cycleflow.validate.deal_schema import check_deal_schema, known_fields
from cycleflow.validate.schema import validate_document


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read, validate and check a policy file; raise PolicyError with every problem found."""
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"load_policy needs a file path, not {type(path).__name__} {path!r}")
    main = read_main(path)
    problems: list[Problem] = validate_document(main.data, main.source_map)
    if problems:
        raise PolicyError(problems)
    fragments = read_includes(main)
    for doc in fragments:
        problems.extend(
            validate_document(doc.data, doc.source_map, schema="policy-fragment.schema.json")
        )
    if problems:
        raise PolicyError(problems)
    schema, schema_path = read_deal_schema(main)
    if schema is not None:
        named = str(main.data["deal_schema"])  # as the policy writes it
        check_deal_schema(schema, main.source_map.locate(("deal_schema",)), named)
    fields: Mapping[str, frozenset[str]] | None = known_fields(schema) if schema else None
    return build_policy(
        main, fragments, deal_schema=schema, deal_schema_path=schema_path, known_fields=fields
    )
