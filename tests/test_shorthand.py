"""The clinician's shorthand: expansion for progress notes, variants for search."""

from __future__ import annotations

from scanner.shorthand import DEFAULT_ABBREVIATIONS, Shorthand


def test_defaults_cover_the_common_abbreviations():
    for short in ("SI", "HI", "AVH", "MSE", "CBT", "DBT", "MI", "HW", "f/u", "pt", "cl", "hx", "dx", "tx", "sx", "w/", "w/o",
                  "↑", "↓"):
        assert short in DEFAULT_ABBREVIATIONS


def test_expand_whole_tokens_keeps_punctuation():
    sh = Shorthand()
    assert sh.expand("Pt denies SI; MI used. f/u 2 wks") == (
        "patient denies suicidal ideation; motivational interviewing used. follow-up 2 weeks"
    )
    assert sh.expand("↑ anxiety w/o (SI)") == "increased anxiety without (suicidal ideation)"


def test_text_in_capitals_gets_its_long_forms_in_capitals():
    sh = Shorthand()
    assert sh.expand("ENGAGED WELL WITH CBT, HW DONE") == "ENGAGED WELL WITH COGNITIVE BEHAVIORAL THERAPY, HOMEWORK DONE"
    assert sh.expand("Engaged well with CBT") == "Engaged well with cognitive behavioral therapy"


def test_all_caps_abbreviations_are_case_sensitive_and_never_inside_words():
    sh = Shorthand()
    assert sh.expand("mi casa in Miami, SIGN here") == "mi casa in Miami, SIGN here"
    assert sh.expand("HIV") == "HIV"
    assert sh.expand("Hx of MDD") == "history of major depressive disorder"


def test_vault_rows_add_and_override_defaults():
    sh = Shorthand.from_rows([{"short": "BA", "long": "behavioral activation"}, {"short": "SI", "long": "sensory integration"}])
    assert sh.expand("BA and SI") == "behavioral activation and sensory integration"
    assert sh.expand("CBT") == "cognitive behavioral therapy"
    assert not Shorthand({}, defaults=False).is_shorthand("SI")


def test_is_shorthand():
    sh = Shorthand()
    assert sh.is_shorthand("SI,")
    assert sh.is_shorthand("f/u")
    assert sh.is_shorthand("Hx")
    assert not sh.is_shorthand("si")
    assert not sh.is_shorthand("sleep")


def test_variants_both_ways():
    sh = Shorthand()
    assert sh.variants("SI") == ["SI", "suicidal ideation"]
    assert "SI" in sh.variants("suicidal ideation")
    assert sh.variants("suicidal ideation")[0] == "suicidal ideation"
    assert "SI" in sh.variants("Suicidal Ideation")
    assert sh.variants("sleep") == ["sleep"]
    assert "history of trauma" in sh.variants("hx of trauma")


def test_british_spellings_and_spaced_forms_find_the_shorthand():
    sh = Shorthand()
    assert "CBT" in sh.variants("cognitive behavioural therapy")
    assert "behavioral activation" in sh.variants("behavioural activation")
    assert "f/u" in sh.variants("follow up") and "f/u" in sh.variants("followup")
    # Words spelt -ise or -our in American English too stay as they are.
    assert sh.variants("exercise") == ["exercise"] and sh.variants("hour") == ["hour"]
