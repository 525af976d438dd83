"""Licenses: the id a card may carry, and what a source's license means for publishing a coreset."""

from __future__ import annotations

from typing import Any

# License ids the Hub accepts in a card (https://huggingface.co/docs/hub/repositories-licenses).
HUB_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5
cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0
cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openrail++
osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license fair-noncommercial-research-license
llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma unknown other
""".split())
NON_COMMERCIAL_LICENSES = frozenset({"fair-noncommercial-research-license", "h-research", "intel-research",
                                     "apple-amlr", "c-uda"})


def source_license(record: Any) -> str | None:
    return record.source.license


def card_license(license_value: Any) -> str:
    """A license id the Hub accepts: the source's when it is one, "unknown" when absent, else "other"."""
    if isinstance(license_value, (list, tuple)):
        license_value = license_value[0] if len(license_value) == 1 else None
    if not license_value:
        return "unknown"
    normalised = str(license_value).strip().lower()
    return normalised if normalised in HUB_LICENSES else "other"


def license_warning(license_value: Any) -> str | None:
    """One line when a source license may forbid publishing a coreset of it (non-commercial only,
    no derivatives, unknown or unrecognised); None for licenses that allow redistribution."""
    license_id = card_license(license_value)
    if license_id in ("unknown", "other"):
        text = str(license_value).strip() if license_value else ""
        state = ("The source dataset records no license" if not text
                 else "The source dataset's license is unknown" if text.lower() == "unknown"
                 else "The source dataset's license is 'other' (custom terms)" if text.lower() == "other"
                 else f"The source dataset's license is not one the Hub knows ({text})")
        return f"{state}: check that it allows redistribution before publishing a coreset of it, or push with --private."
    if "-nd" in license_id:
        return (f"The source dataset's license ({license_id}) forbids sharing modified copies, and a coreset is one: "
                "push with --private, or not at all.")
    if "-nc" in license_id or license_id in NON_COMMERCIAL_LICENSES:
        return (f"The source dataset's license ({license_id}) allows redistribution only for non-commercial use: the "
                f"coreset keeps {license_id} and must not be used commercially; consider --private.")
    return None


def license_text(record: Any, license_id: str) -> str:
    """The card's license paragraph: the inherited id, and what it means for users of the coreset."""
    original = source_license(record)
    text = f"Inherited from the source dataset: `{license_id}`."
    if original and str(original).strip().lower() != license_id:
        text += f" The source states: {str(original).replace('|', '/')}."
    if license_id in ("unknown", "other"):
        text += " Check the source's terms before using or sharing this coreset."
    elif "-nd" in license_id:
        text += " That license does not allow sharing modified copies (a coreset is one): keep this repository private."
    elif "-nc" in license_id or license_id in NON_COMMERCIAL_LICENSES:
        text += " Non-commercial use only, as for the source."
    return text
