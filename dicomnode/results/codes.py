"""Codes and colours for every structure, grade and measurement the outputs carry.

Why one module: the SEG segment codes, the SR finding sites and the picture's colours must agree, or a
viewer that shows the SEG next to the SR names one disc two ways. The code table is documented for
humans in ``docs/codes.md``; keep the two in step.

Sources:

* Vertebrae: SNOMED CT codes of DICOM CID 7603 ("Vertebra"), discs: CID 7604 ("Intervertebral Disc"),
  both read from pydicom's copy of PS3.16 so a typo here cannot drift from the standard.
* Sacrum 54735007, coccyx 64688005, vertebral canal 61853006, spinal cord 2748008; segmented property
  category "Anatomical Structure" 91723000 (CID 7150).
* Present / absent (SCT 52101004 / 272519000), severities mild / moderate / severe from CID 3832, and
  "None" (SCT 260413007) for an explicit absence of narrowing or stenosis.
* No standard codes exist for the Pfirrmann, Meyerding and Modic systems, for narrowing or herniation
  as concept names, or for our measurements; they live in the private scheme :data:`PRIVATE_SCHEME`
  (designator starting "99" as PS3.16 section 8 reserves for local schemes), which every object that
  uses it declares in its Coding Scheme Identification Sequence (PS3.3 C.12.1.1.3).
"""

from __future__ import annotations

import hashlib

from highdicom.coding_schemes import CodingSchemeIdentificationItem
from highdicom.color import CIELabColor
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from pipeline import labels

PRIVATE_SCHEME = "99DCMNODE"
PRIVATE_SCHEME_NAME = "dicomnode private codes for spine grading"
PRIVATE_SCHEME_VERSION = "1"
PRIVATE_SCHEME_RESPONSIBLE = "dicomnode project"


def private(value: str, meaning: str) -> Code:
    """A code of the private scheme. Code values are short (SH, 16 characters, PS3.5 6.2)."""
    if not value or len(value) > 16:
        raise ValueError(f"private code value {value!r} must have 1..16 characters")
    return Code(value, PRIVATE_SCHEME, meaning)


def _fallback_value(prefix: str, text: str) -> str:
    """A stable short code value for a name the table does not know (a grade added later)."""
    return f"{prefix}{hashlib.sha1(text.encode()).hexdigest()[:10].upper()}"


def _readable(name: str) -> str:
    return name.replace("_", " ").strip().capitalize() or "Unnamed"


# ---------------------------------------------------------------------------------------------------
# Structures (SEG segmented property types, SR finding sites)

ANATOMICAL_STRUCTURE = codes.SCT.AnatomicalStructure  # 91723000, CID 7150 category
SACRUM_CODE = Code("54735007", "SCT", "Sacrum")
COCCYX_CODE = Code("64688005", "SCT", "Coccyx")
CANAL_CODE = Code("61853006", "SCT", "Vertebral canal")
CORD_CODE = Code("2748008", "SCT", "Spinal cord")
SPINE_CODE = Code("421060004", "SCT", "Spine")

_VERTEBRA_CODES: dict[str, Code] = {}
for _attr in codes.cid7603.dir():
    _code = getattr(codes.cid7603, _attr)
    _VERTEBRA_CODES[_code.meaning.split()[0]] = Code(_code.value, _code.scheme_designator, _code.meaning)
_DISC_CODES: dict[str, Code] = {}
for _attr in codes.cid7604.dir():
    _code = getattr(codes.cid7604, _attr)
    _DISC_CODES[_code.meaning.split()[0]] = Code(_code.value, _code.scheme_designator, _code.meaning)


def structure_code(label: int, name: str) -> Code:
    """The SNOMED code of a structure, or a private one for levels SNOMED/CID 7603/7604 lack.

    ``name`` is the level name the pipeline gave (``"L4"``, ``"L4/L5"``, ``"L6/S1"``); it wins over the
    label value for discs, because transitional anatomy renames the disc below (L5/L6 vs L5/S1).
    Transitional levels (L6, T13, L5/L6, L6/S1, T12/T13, T13/L1) get private codes ``V-<name>`` or
    ``D-<name>``: mapping them onto a neighbour's SNOMED code would put a wrong level in the PACS.
    """
    if label == labels.CANAL:
        return CANAL_CODE
    if label == labels.CORD:
        return CORD_CODE
    if label == labels.SACRUM:
        return SACRUM_CODE
    if label == labels.COCCYX:
        return COCCYX_CODE
    if labels.is_vertebra(label):
        vertebra = labels.VERTEBRA_NAMES[label]
        return _VERTEBRA_CODES.get(vertebra) or private(f"V-{vertebra}", f"{vertebra} vertebra")
    if labels.is_disc(label):
        disc = name if "/" in name else labels.label_name(label)
        return _DISC_CODES.get(disc) or private(f"D-{disc}", f"{disc} disc")
    raise ValueError(f"no code for label value {label} ({name!r})")


# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), cycled along the
# spine so neighbours always differ; discs alternate two cyan tones, the canal is magenta.
_VERTEBRA_PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0),
    (130, 150, 255),
    (0, 158, 115),
    (240, 228, 66),
    (204, 121, 167),
    (213, 94, 0),
)
_DISC_PALETTE: tuple[tuple[int, int, int], ...] = ((0, 230, 230), (140, 255, 200))


def structure_rgb(label: int) -> tuple[int, int, int]:
    """Display colour (sRGB) of a structure, the same in the SEG, the picture and the GSPS."""
    if label == labels.CANAL:
        return (255, 64, 255)
    if label == labels.CORD:
        return (255, 255, 255)
    if labels.is_vertebra(label):
        name = labels.VERTEBRA_NAMES[label]
        return _VERTEBRA_PALETTE[labels.SPINE_ORDER.index(name) % len(_VERTEBRA_PALETTE)]
    if labels.is_disc(label):
        upper = labels.VERTEBRA_NAMES[label - labels.DISC_OFFSET]
        return _DISC_PALETTE[labels.SPINE_ORDER.index(upper) % len(_DISC_PALETTE)]
    return (255, 255, 0)


def structure_cielab(label: int) -> CIELabColor:
    """The colour as the SEG's Recommended Display CIELab Value wants it (PS3.3 C.8.20.2)."""
    return CIELabColor.from_rgb(*structure_rgb(label))


# ---------------------------------------------------------------------------------------------------
# Grades (SR qualitative evaluations)

PRESENT = Code("52101004", "SCT", "Present")
ABSENT = Code("272519000", "SCT", "Absent")
NONE = Code("260413007", "SCT", "None")
MILD = Code("255604002", "SCT", "Mild")
MODERATE = Code("6736007", "SCT", "Moderate")
SEVERE = Code("24484000", "SCT", "Severe")
ANTERIOR = Code("255549009", "SCT", "Anterior")
POSTERIOR = Code("255551008", "SCT", "Posterior")
NOT_ASSESSED = private("NOTASSESSED", "Not assessed")

_SEVERITY = {"none": NONE, "mild": MILD, "moderate": MODERATE, "severe": SEVERE}
_PRESENCE = {"present": PRESENT, "absent": ABSENT}

GRADE_CONCEPTS: dict[str, Code] = {
    "pfirrmann": private("PFIRRMANN", "Pfirrmann disc degeneration grade"),
    "narrowing": private("DISCNARROW", "Disc space narrowing"),
    "meyerding": private("MEYERDING", "Meyerding spondylolisthesis grade"),
    "listhesis_direction": private("LISTHESISDIR", "Spondylolisthesis direction"),
    "canal_stenosis": private("CANALSTENOSIS", "Central canal stenosis"),
    "herniation": private("HERNIATION", "Disc herniation type"),
    "modic_upper": private("MODICUPPER", "Modic change, cranial endplate"),
    "modic_lower": private("MODICLOWER", "Modic change, caudal endplate"),
    "endplate_defect_upper": private("EPDEFUPPER", "Endplate defect, cranial endplate"),
    "endplate_defect_lower": private("EPDEFLOWER", "Endplate defect, caudal endplate"),
    "marrow_change_upper": private("MARROWUPPER", "Bone marrow change, cranial vertebra"),
    "marrow_change_lower": private("MARROWLOWER", "Bone marrow change, caudal vertebra"),
}

GRADE_VALUES: dict[str, dict[str, Code]] = {
    "pfirrmann": {str(g): private(f"PFIRRMANN{g}", f"Pfirrmann grade {g}") for g in range(1, 6)},
    "narrowing": _SEVERITY,
    "meyerding": {
        roman: private(f"MEYERDING{i}", f"Meyerding grade {roman}")
        for i, roman in enumerate(("0", "I", "II", "III", "IV", "V"))
    },
    "listhesis_direction": {"anterior": ANTERIOR, "posterior": POSTERIOR, "none": NONE},
    "canal_stenosis": _SEVERITY,
    "herniation": {
        "none": private("HERNIATION0", "No disc herniation"),
        "bulge": private("DISCBULGE", "Disc bulge"),
        "protrusion": private("DISCPROTRUSION", "Disc protrusion"),
        "extrusion": private("DISCEXTRUSION", "Disc extrusion"),
        "sequestration": private("DISCSEQUESTR", "Disc sequestration"),
    },
    "modic_upper": {},  # filled below: the same table for both endplates
    "modic_lower": {},
    "endplate_defect_upper": _PRESENCE,
    "endplate_defect_lower": _PRESENCE,
    "marrow_change_upper": _PRESENCE,
    "marrow_change_lower": _PRESENCE,
}
_MODIC = {
    "0": private("MODIC0", "No Modic change"),
    "I": private("MODIC1", "Modic type I"),
    "II": private("MODIC2", "Modic type II"),
    "III": private("MODIC3", "Modic type III"),
    "I/II": private("MODIC12", "Modic type I/II"),
    "II/III": private("MODIC23", "Modic type II/III"),
}
GRADE_VALUES["modic_upper"] = _MODIC
GRADE_VALUES["modic_lower"] = _MODIC


def grade_concept(name: str) -> Code:
    """Concept name of a grade; a grade this table does not know gets a stable private code."""
    return GRADE_CONCEPTS.get(name) or private(_fallback_value("XG", name), _readable(name))


def grade_value(name: str, value: str | None) -> Code:
    """Coded value of a grade; None (not assessed) is :data:`NOT_ASSESSED`, never a guess."""
    if value is None:
        return NOT_ASSESSED
    table = GRADE_VALUES.get(name, {})
    key = value if value in table else value.strip().lower()
    if key in table:
        return table[key]
    generic = {**_SEVERITY, **_PRESENCE}
    if key in generic:
        return generic[key]
    return private(_fallback_value("XV", f"{name}={value}"), _readable(str(value)))


def grade_short_text(name: str, value: str | None) -> str:
    """Short text for the picture's grade table (``"P3"``, ``"mod"``); ``"n/a"`` when not assessed."""
    if value is None:
        return "n/a"
    if name == "pfirrmann":
        return f"P{value}"
    abbreviations = {
        "moderate": "mod",
        "severe": "sev",
        "protrusion": "protr",
        "extrusion": "extr",
        "anterior": "ant",
        "posterior": "post",
        "anterolisthesis": "ant",
        "retrolisthesis": "retro",
        "present": "yes",
        "absent": "no",
    }
    return abbreviations.get(value, value)


# ---------------------------------------------------------------------------------------------------
# Measurements (SR numeric items)

MEASUREMENT_CONCEPTS: dict[str, Code] = {
    "disc_height_anterior": private("DHANT", "Anterior disc height"),
    "disc_height_middle": private("DHMID", "Middle disc height"),
    "disc_height_posterior": private("DHPOST", "Posterior disc height"),
    "disc_height_index": private("DHI", "Disc height index"),
    "nucleus_csf_ratio": private("NUCCSFRATIO", "Nucleus to CSF signal ratio"),
    "nucleus_homogeneity": private("NUCHOMOG", "Nucleus signal homogeneity"),
    "slip": private("SLIP", "Vertebral slip distance"),
    "slip_percent": private("SLIPPCT", "Vertebral slip percentage"),
    "canal_ap_diameter": private("CANALAP", "Canal anteroposterior diameter"),
    "herniation_extent": private("HERNEXTENT", "Disc herniation extent"),
    "vertebral_height_anterior": private("VHANT", "Anterior vertebral body height"),
    "vertebral_height_middle": private("VHMID", "Middle vertebral body height"),
    "vertebral_height_posterior": private("VHPOST", "Posterior vertebral body height"),
    "body_height_anterior": private("VHANT", "Anterior vertebral body height"),
    "body_height_middle": private("VHMID", "Middle vertebral body height"),
    "body_height_posterior": private("VHPOST", "Posterior vertebral body height"),
    "wedge_ratio": private("WEDGERATIO", "Vertebral body wedge ratio"),
}

_UNITS: dict[str, Code] = {
    "mm": Code("mm", "UCUM", "millimeter"),
    "mm2": Code("mm2", "UCUM", "square millimeter"),
    "mm3": Code("mm3", "UCUM", "cubic millimeter"),
    "cm": Code("cm", "UCUM", "centimeter"),
    "%": Code("%", "UCUM", "percent"),
    "1": Code("1", "UCUM", "no units"),
    "deg": Code("deg", "UCUM", "degree"),
    "ms": Code("ms", "UCUM", "millisecond"),
}


def measurement_concept(name: str) -> Code:
    """Concept name of a measurement; unknown names get a stable private code."""
    return MEASUREMENT_CONCEPTS.get(name) or private(_fallback_value("XM", name), _readable(name))


def unit_code(unit: str) -> Code:
    """UCUM unit code; an unlisted UCUM string is passed through as its own meaning."""
    if not unit:
        return _UNITS["1"]
    return _UNITS.get(unit) or Code(unit, "UCUM", unit)


def uses_private_scheme(codes_used: list[Code]) -> bool:
    return any(c.scheme_designator == PRIVATE_SCHEME for c in codes_used)


def coding_scheme_identification() -> CodingSchemeIdentificationItem:
    """The item that declares the private scheme (PS3.3 C.12.1.1.3, Coding Scheme Identification)."""
    return CodingSchemeIdentificationItem(
        designator=PRIVATE_SCHEME,
        name=PRIVATE_SCHEME_NAME,
        version=PRIVATE_SCHEME_VERSION,
        responsible_organization=PRIVATE_SCHEME_RESPONSIBLE,
    )
