"""The literature numbers of chapter 5 (nin_book/literature.py) against their source record in tests/data, kept
apart from the code so that a changed constant without a changed source (or the other way round) fails here."""

import re
from pathlib import Path

from nin_book.literature import D2L_NIN, NIN_PAPER, NIN_PAPER_ABLATIONS

RECORD = Path(__file__).parent / "data" / "d2l_nin_source.md"
PAPER_RECORD = Path(__file__).parent / "data" / "nin_paper_source.md"


def _fields(record: Path = RECORD) -> dict[str, str]:
    return dict(re.findall(r"^- ([^:]+): (.+)$", record.read_text(encoding="utf-8"), flags=re.MULTILINE))


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



def test_nin_paper_ablations_match_the_source_record():
    fields = _fields(PAPER_RECORD)
    where = {"Table 5": "table 5", "section 4.6": "section 4.6"}
    recorded = {key: float(value) for key, value in fields.items() if key.startswith(("table 5,", "section 4.6,"))}
    ours = {f"{where[a.where]}, {a.body} + {a.head}": a.test_error_percent for a in NIN_PAPER_ABLATIONS}
    assert ours == recorded
    assert all(a.dataset == "CIFAR-10" for a in NIN_PAPER_ABLATIONS)
    assert NIN_PAPER == f"{fields['source']}, {fields['url']}"


def test_nin_paper_ablations_name_real_chapter_7_variants():
    from nin_book.experiments import VARIANTS

    named = [a.variant for a in NIN_PAPER_ABLATIONS if a.variant is not None]
    assert set(named) <= set(VARIANTS) and len(named) == len(set(named)) == 3
