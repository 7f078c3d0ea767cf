"""Classic survival data sets, read from the copies that ship inside the installed ``lifelines``.

``rossi``: P. H. Rossi, R. A. Berk and K. J. Lenihan, *Money, Work, and Crime: Some Experimental
Results*, Academic Press, 1980 (as used by Allison, 1995, and Fox & Carvalho, 2012). 432 men
released from Maryland state prisons in the 1970s, followed for 52 weeks; half were given
financial aid at random. Duration ``week`` (week of first arrest, or 52 if none); event
``arrest`` (1 = arrested, 0 = censored at week 52).

``gbsg2``: M. Schumacher et al. for the German Breast Cancer Study Group, *Randomized 2 x 2 trial
evaluating hormonal treatment and the duration of chemotherapy in node-positive breast cancer
patients*, J. Clin. Oncol. 12, 2086-2093, 1994 (as analysed by W. Sauerbrei and P. Royston,
JRSS A 162(1), 1999). 686 women with node-positive breast cancer. Duration ``time``
(recurrence-free survival, days); event ``cens`` (despite its name: 1 = recurrence or death
observed, 0 = censored).

Both files are read with :mod:`importlib.resources` from the installed ``lifelines`` package
(Cameron Davidson-Pilon, MIT licence), so nothing is downloaded; each file's SHA-256 is checked
against the copy shipped with lifelines 0.30.3, so a changed file is refused, never silently used.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import io

import pyarrow as pa
import pyarrow.csv as pacsv

from marquee.errors import ConfigError, DataError

__all__ = ["CREDITS", "DURATION_EVENT", "SURVIVAL_SETS", "survival_set"]

SURVIVAL_SETS = ("rossi", "gbsg2")
#: Which column is the duration and which the event (1 = observed, 0 = censored), per set.
DURATION_EVENT: dict[str, tuple[str, str]] = {"rossi": ("week", "arrest"), "gbsg2": ("time", "cens")}
CREDITS: dict[str, str] = {
    "rossi": (
        "Rossi recidivism data: Rossi, Berk & Lenihan, 'Money, Work, and Crime: Some Experimental Results', "
        "Academic Press 1980; as shipped with lifelines (Davidson-Pilon, MIT licence)."
    ),
    "gbsg2": (
        "GBSG2: Schumacher et al. for the German Breast Cancer Study Group, J. Clin. Oncol. 12:2086-2093, 1994 "
        "(Sauerbrei & Royston, JRSS A 1999); as shipped with lifelines (Davidson-Pilon, MIT licence)."
    ),
}
_SHA256 = {
    "rossi": "0214400170e07f3015a285edca2014cac0dae8aac125fcbaad642490e05f892c",
    "gbsg2": "695954dbed9eaa619f9854f6c945bdccf5b21b12ea3fb46bd28797b9e8284d49",
}
_I64, _I8, _STR = pa.int64(), pa.int8(), pa.string()
_SCHEMAS = {
    "rossi": pa.schema(
        [("week", _I64), ("arrest", _I8), ("fin", _I8), ("age", _I64), ("race", _I8), ("wexp", _I8), ("mar", _I8), ("paro", _I8), ("prio", _I64)]
    ),
    "gbsg2": pa.schema(
        [("horTh", _STR), ("age", _I64), ("menostat", _STR), ("tsize", _I64), ("tgrade", _STR), ("pnodes", _I64),
         ("progrec", _I64), ("estrec", _I64), ("time", _I64), ("cens", _I8)]
    ),
}  # fmt: skip


def survival_set(name: str) -> pa.Table:
    """One of :data:`SURVIVAL_SETS` as a typed table, one row per subject.

    ``rossi``: (432, 9): ``week`` int64 (duration), ``arrest`` int8 (event), ``fin``, ``race``,
    ``wexp``, ``mar``, ``paro`` int8 0/1, ``age``, ``prio`` int64.
    ``gbsg2``: (686, 10): ``time`` int64 days (duration), ``cens`` int8 (event, 1 = observed),
    ``horTh``, ``menostat``, ``tgrade`` strings, ``age``, ``tsize``, ``pnodes``, ``progrec``,
    ``estrec`` int64. The schema's metadata holds ``duration``, ``event`` and ``credit``.

    Raises:
        ConfigError: ``name`` is not one of :data:`SURVIVAL_SETS`.
        DataError: the installed lifelines ships a different file.
    """
    if name not in SURVIVAL_SETS:
        raise ConfigError(f"name must be one of {', '.join(SURVIVAL_SETS)}; got {name!r}")
    resource = importlib.resources.files("lifelines").joinpath(f"datasets/{name}.csv")
    source = str(resource)
    content = resource.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != _SHA256[name]:
        raise DataError(
            f"SHA-256 {digest} differs from lifelines 0.30.3's copy ({_SHA256[name]}); the installed lifelines "
            f"{importlib.metadata.version('lifelines')} ships another version of the file: install lifelines==0.30.3",
            source=source,
        )
    schema = _SCHEMAS[name]
    try:
        table = pacsv.read_csv(
            io.BytesIO(content),
            convert_options=pacsv.ConvertOptions(
                column_types=schema, include_columns=schema.names, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, KeyError) as exc:
        raise DataError(f"is not the expected {name} table ({exc})", source=source) from None
    duration, event = DURATION_EVENT[name]
    return table.cast(schema).replace_schema_metadata({"duration": duration, "event": event, "credit": CREDITS[name]})
