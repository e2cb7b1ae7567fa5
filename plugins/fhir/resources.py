"""Reading and writing FHIR R4 JSON: the helpers psyq's FHIR plugins share.

FHIR resources are handled as plain JSON data (dicts and lists), already
parsed with psyq's size and nesting caps. Nothing here fetches anything: a
canonical URL or a reference is only ever compared as a string, and value
sets are looked up among a resource's ``contained`` resources only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psyq.models import Coding

JSON = dict[str, Any]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ORDINAL_VALUE_URLS = frozenset(
    {
        "http://hl7.org/fhir/StructureDefinition/ordinalValue",
        # The R4 name of the same extension, still common in published forms.
        "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",
        # The SDC / R5 name.
        "http://hl7.org/fhir/StructureDefinition/itemWeight",
    }
)
CALCULATED_EXPRESSION_URLS = frozenset(
    {
        "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression",
        "http://hl7.org/fhir/StructureDefinition/cqf-expression",
    }
)
# Codings from these systems name concepts, not questions of one form, so an item
# code from them matches a response item whose linkId is that code ("/44250-9").
TERMINOLOGIES = frozenset({LOINC, "http://snomed.info/sct"})


MAX_ITEM_DEPTH = 32


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else ``[]``: a malformed file is never a crash."""
    return value if isinstance(value, list) else []


def normalise(text: str) -> str:
    """Compare wording, not typography: case, dashes, punctuation and spacing."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def canonical_base(url: Any) -> str:
    """A canonical URL without its ``|version``; ``""`` for anything else."""
    return url.split("|", 1)[0].strip() if isinstance(url, str) else ""


def extension_value(element: Mapping[str, Any], urls: frozenset[str]) -> Any:
    """The ``value[x]`` of the first extension of ``element`` with one of ``urls``."""
    for ext in as_list(element.get("extension")):
        # A url that is not text (a list, an object) is no extension psyq knows; set
        # membership would raise on it.
        if isinstance(ext, dict) and isinstance(ext.get("url"), str) and ext["url"] in urls:
            for key, value in ext.items():
                if key.startswith("value"):
                    return value
    return None


def whole_number(value: Any) -> int | None:
    """``value`` as an int when it is a whole number (3, 3.0, "3"), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,6}(\.0+)?", value.strip()):
        from decimal import Decimal

        return int(Decimal(value.strip()))
    return None


def ordinal_value(*elements: Mapping[str, Any]) -> int | None:
    """The whole-number ordinalValue on the first of ``elements`` that has one."""
    for element in elements:
        value = extension_value(element, ORDINAL_VALUE_URLS)
        if value is not None:
            return whole_number(value)
    return None


def iter_items(items: Any, depth: int = 1) -> Iterator[JSON]:
    """Every item of a Questionnaire or QuestionnaireResponse, depth first.

    Groups are walked, and so are items nested under a response's answers.
    Raises ValueError past :data:`MAX_ITEM_DEPTH` levels (JSONL lines are not
    capped by the file loader).
    """
    if depth > MAX_ITEM_DEPTH:
        raise ValueError(f"items nested deeper than {MAX_ITEM_DEPTH} levels")
    for item in as_list(items):
        if not isinstance(item, dict):
            continue
        yield item
        yield from iter_items(item.get("item"), depth + 1)
        for answer in as_list(item.get("answer")):
            if isinstance(answer, dict):
                yield from iter_items(answer.get("item"), depth + 1)


def repeated_link_id(nodes: list[JSON]) -> str | None:
    """A linkId that two items of a Questionnaire share, if any (FHIR's que-2 forbids it).

    Answers name their item by linkId only: with two items under one linkId, the
    second's answer values were read for the first's answers, and a draft got the
    later item's conditions.
    """
    seen: set[str] = set()
    for node in nodes:
        link_id = node.get("linkId")
        if isinstance(link_id, str):
            if link_id in seen:
                return link_id
            seen.add(link_id)
    return None


def repeated_link_id_problem(link_id: str) -> str:
    """The words for :func:`repeated_link_id`'s finding."""
    shown = link_id if len(link_id) <= 60 and link_id.isprintable() else repr(link_id[:57])
    return (
        f"linkId '{shown}' is given to two items; a Questionnaire's linkIds are unique "
        "(FHIR que-2), or answers to it cannot be told apart"
    )


def coding_json(coding: Coding) -> JSON:
    """A psyq :class:`~psyq.models.Coding` as a FHIR Coding."""
    out: JSON = {"system": coding.system, "code": coding.code}
    if coding.display:
        out["display"] = coding.display
    return out


def codings(value: Any) -> list[Coding]:
    """FHIR Codings (a list, or a CodeableConcept) as psyq Codings; LOINC when no system.

    Codings without a system are common in published forms whose codes are LOINC
    codes (``44250-9``, ``LA6568-5``); others without a system are dropped.
    """
    from psyq.models import Coding

    raw = value.get("coding") if isinstance(value, dict) else value
    out: list[Coding] = []
    for c in as_list(raw):
        if not isinstance(c, dict) or not isinstance(c.get("code"), str):
            continue
        system = c.get("system") if isinstance(c.get("system"), str) else None
        if len(c["code"]) > 500 or (system is not None and len(system) > 500):
            continue  # not a code a person could have meant
        if system is None:
            if not re.fullmatch(r"(LA|LP|LL)?[0-9]{1,8}-[0-9]", c["code"]):
                continue
            system = LOINC
        display = c["display"][:500] if isinstance(c.get("display"), str) else None
        out.append(Coding(system=system, code=c["code"], display=display))
    return out


def contained(resource: Mapping[str, Any], kind: str) -> dict[str, JSON]:
    """The ``contained`` resources of one type, by ``id``."""
    return {
        r["id"]: r
        for r in as_list(resource.get("contained"))
        if isinstance(r, dict) and r.get("resourceType") == kind and isinstance(r.get("id"), str)
    }


def value_set_concepts(value_set: Mapping[str, Any]) -> Iterator[tuple[str | None, JSON]]:
    """(system, concept) for every concept of a ValueSet: ``compose`` and ``expansion``."""
    compose = value_set.get("compose")
    for include in as_list(compose.get("include") if isinstance(compose, dict) else None):
        if not isinstance(include, dict):
            continue
        system = include.get("system") if isinstance(include.get("system"), str) else None
        for concept in as_list(include.get("concept")):
            if isinstance(concept, dict) and isinstance(concept.get("code"), str):
                yield system, concept
    expansion = value_set.get("expansion")
    for concept in as_list(expansion.get("contains") if isinstance(expansion, dict) else None):
        if isinstance(concept, dict) and isinstance(concept.get("code"), str):
            system = concept.get("system") if isinstance(concept.get("system"), str) else None
            yield system, concept
