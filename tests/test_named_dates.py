"""Dates with the month's name, as exports write them ('2 déc. 2026', 'March 15, 2027', 'lundi 15 mars 2027'): read
in English always and in the profile's locale (CLDR's month and weekday names, through Babel), or refused with
the reason. A named month reads one way, so no date order needs declaring; a weekday that is not the date's is an
error, never ignored."""
from __future__ import annotations

import datetime as dt
import functools

import pytest
from babel.dates import format_date
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.io.profile import UNDECLARED, InputProfile, ValueProblem, load_profile, read_date, to_strptime

LOCALES = ["en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "nl_NL", "pt_PT", "pl_PL", "sv_SE", "da_DK",
           "nb_NO", "fi_FI", "cs_CZ"]


@pytest.fixture(scope="module")
def in_locale(tmp_path_factory):
    """The profile `locale: xx-YY` of a locale (its numeric dates in the locale's order, as the loader makes it)."""
    folder = tmp_path_factory.mktemp("profiles")

    @functools.cache
    def profile(locale: str) -> InputProfile:
        path = folder / f"{locale}.yaml"
        path.write_text(f"locale: {locale.replace('_', '-')}\n", encoding="utf-8")
        return load_profile(path)
    return profile


@pytest.mark.parametrize("cell", ["15 March 2027", "15 Mar 2027", "March 15, 2027", "Mar 15 2027", "15-Mar-2027",
                                  "15/Mar/2027", "Monday, 15 March 2027", "Monday, March 15, 2027", "Mon 15 Mar 2027",
                                  "15th March 2027", "march 15th, 2027", "15 MAR 2027", "2027 Mar 15", " 15 Mar. 2027 "])
def test_english_month_names_are_read_without_a_profile(cell, in_locale):
    assert read_date(cell) == dt.date(2027, 3, 15)
    assert read_date(cell, in_locale("fr_FR")) == dt.date(2027, 3, 15)  # English beside the locale's names


@pytest.mark.parametrize("locale, cell, date", [
    ("fr_FR", "2 déc. 2026", "2026-12-02"), ("fr_FR", "2 DÉC 2026", "2026-12-02"), ("fr_FR", "1er mars 2027", "2027-03-01"),
    ("fr_FR", "lundi 15 mars 2027", "2027-03-15"), ("fr_FR", "15 févr. 2027", "2027-02-15"),
    ("de_DE", "15. März 2027", "2027-03-15"), ("de_DE", "Montag, 15. März 2027", "2027-03-15"),
    ("de_DE", "1. Okt. 2027", "2027-10-01"), ("es_ES", "15 de marzo de 2027", "2027-03-15"),
    ("es_ES", "lunes, 15 de marzo de 2027", "2027-03-15"), ("nl_NL", "15 mrt 2027", "2027-03-15"),
    ("pt_PT", "15 de out. de 2027", "2027-10-15"), ("it_IT", "15 set 2027", "2027-09-15")])
def test_the_locales_month_names_are_read(locale, cell, date, in_locale):
    assert read_date(cell, in_locale(locale)) == dt.date.fromisoformat(date)


@settings(max_examples=300, deadline=None)
@given(st.dates(dt.date(1950, 1, 1), dt.date(2200, 12, 31)), st.sampled_from(LOCALES),
       st.sampled_from(["medium", "long", "full"]))
def test_every_date_a_locale_writes_reads_back(in_locale, day, locale, width):
    """What CLDR says each locale writes (Babel's format_date, the formats spreadsheets and exports use) reads
    back as the same day under that locale's profile."""
    text = format_date(day, width, locale=locale)
    assert read_date(text, in_locale(locale)) == day, text


def test_a_month_name_of_another_language_says_to_declare_the_locale(in_locale):
    with pytest.raises(ValueProblem, match=r"'déc' is not a month name in English.*locale: fr-FR"):
        read_date("2 déc. 2026", InputProfile(file="profile.yaml"))
    with pytest.raises(ValueProblem, match=r"'dez' is not a month name in fr-FR or English"):
        read_date("2 Dez. 2026", in_locale("fr_FR"))


@pytest.mark.parametrize("locale, cell, message", [
    (None, "Tuesday, 15 March 2027", r"names a Tuesday, but 2027-03-15 is a Monday"),
    ("fr_FR", "lundi 16 mars 2027", r"names a Monday \(lundi\), but 2027-03-16 is a Tuesday"),
    (None, "15-Mar-27", r"two-digit year; write the year in full"),
    (None, "31 Feb 2027", r"'31 Feb 2027' is not a valid date \(day is out of range for month\)"),
    (None, "March April 2027", r"not a date"),
    (None, "15 March 2027 2028", r"not a date"),
    (None, "Q3 2027", r"not a date; write YYYY-MM-DD"),
    (None, "TBD", r"not a date; write YYYY-MM-DD"),
    (None, "15 March", r"not a date"),
])
def test_what_is_not_one_date_is_refused_with_the_reason(locale, cell, message, in_locale):
    with pytest.raises(ValueProblem, match=message):
        read_date(cell, in_locale(locale) if locale else UNDECLARED)


def test_a_named_month_is_read_beside_declared_numeric_formats():
    profile = InputProfile(dates=(to_strptime("DD.MM.YYYY"),), date_labels=("DD.MM.YYYY",), file="p.yaml")
    assert read_date("15.03.2027", profile) == read_date("15 Mar 2027", profile) == dt.date(2027, 3, 15)
    assert read_date("15 Mar 2027", UNDECLARED) == dt.date(2027, 3, 15)


def test_a_french_export_is_decided_through_the_cli(tmp_path):
    import csv
    import io

    from engine.cli import main
    data = tmp_path / "in.csv"
    data.write_text("id,title,budget,start_date,end_date,alignment,sponsor\n"
                    "P1,Réseau,100000,2 déc. 2026,15 mars 2027,net-zero:strong,Ann\n", encoding="utf-8")
    profile = tmp_path / "p.yaml"
    profile.write_text("locale: fr-FR\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    main(["evaluate", str(data), "--columns", str(profile), "--format", "csv", "--no-log", "--today", "2026-12-01"],
         stdout=out, stderr=err)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["decision"] != "error", (row, err.getvalue())
