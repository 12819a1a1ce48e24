"""The literature numbers of chapter 5 (nin_book/literature.py) against their source record in tests/data, kept
apart from the code so that a changed constant without a changed source (or the other way round) fails here."""

import re
from pathlib import Path

from nin_book.literature import D2L_NIN

RECORD = Path(__file__).parent / "data" / "d2l_nin_source.md"


def _fields() -> dict[str, str]:
    return dict(re.findall(r"^- ([^:]+): (.+)$", RECORD.read_text(encoding="utf-8"), flags=re.MULTILINE))


def _number(text: str) -> float:
    return float(re.search(r"\d+(?:\.\d+)?", text).group())


def test_d2l_numbers_match_the_source_record():
    fields = _fields()
    assert D2L_NIN.test_accuracies == tuple(float(a) for a in fields["final test accuracy of the published runs"].split(","))
    assert D2L_NIN.images_per_second == _number(fields["throughput"])
    assert D2L_NIN.seconds_for_10_epochs == _number(fields["time for the 10 epochs"])
    assert D2L_NIN.device == fields["device"]
    assert (D2L_NIN.resolution, D2L_NIN.epochs, D2L_NIN.batch_size) == (
        int(fields["input resolution"]), int(fields["epochs"]), int(fields["batch size"]))
    assert D2L_NIN.learning_rate == float(fields["learning rate"])


def test_d2l_citation_names_the_recorded_section_and_url():
    fields = _fields()
    assert D2L_NIN.source == f"{fields['source']}, {fields['url']}"

