"""The literature numbers of chapters 5 and 7 (nin_book/literature.py) against their source record in tests/data, kept
apart from the code so that a changed constant without a changed source (or the other way round) fails here."""

import re
from pathlib import Path

from nin_book.literature import (
    D2L_NIN,
    D2L_NIN_CURRENT,
    NIN_PAPER,
    NIN_PAPER_ABLATIONS,
    NIN_PAPER_RESULTS,
    RECIPE_SETTINGS,
    PaperResult,
)
from nin_book.presets import get_preset, recipe_settings

RECORD = Path(__file__).parent / "data" / "d2l_nin_source.md"
PAPER_RECORD = Path(__file__).parent / "data" / "nin_paper_source.md"


def _fields(record: Path = RECORD) -> dict[str, str]:
    return dict(re.findall(r"^- ([^:]+): (.+)$", record.read_text(encoding="utf-8"), flags=re.MULTILINE))


def _recorded_recipe(prefix: str) -> tuple[dict[str, str], dict[str, object]]:
    """The citation fields and the training settings read out of the verbatim code lines recorded for ``prefix``."""
    fields = {key.split(",")[0].removeprefix(prefix + " "): value for key, value in _fields().items()
              if key.split(" ")[0] == prefix}
    code = " ".join(re.findall(r"`([^`]+)`", " ".join(v for k, v in fields.items()
                                                   if k in ("code", "epochs", "data", "dropout", "block", "optimizer", "init"))))
    if prefix == "d2l_nin":
        lr, epochs, batch = re.search(r"lr, num_epochs, batch_size = ([\d.]+), (\d+), (\d+)", code).groups()
        resolution = re.search(r"resize=(\d+)", code).group(1)
    else:
        lr = re.search(r"NiN\(lr=([\d.]+)\)", code).group(1)
        epochs = re.search(r"max_epochs=(\d+)", code).group(1)
        batch = re.search(r"FashionMNIST\(batch_size=(\d+)", code).group(1)
        resolution = re.search(r"resize=\((\d+), \1\)", code).group(1)
    optimizer = re.search(r"torch\.optim\.(\w+)\(([^`]*?)\)", fields["optimizer"])
    settings = {
        "resolution": int(resolution), "epochs": int(epochs), "batch_size": int(batch), "learning_rate": float(lr),
        # Plain SGD with no scheduler: a constant rate, and no momentum or weight decay unless the call names them.
        "schedule": "constant",
        "momentum": 0.0 if optimizer.group(1) == "SGD" and "momentum" not in optimizer.group(2) else None,
        "weight_decay": 0.0 if "weight_decay" not in optimizer.group(2) else None,
        "batch_norm": "BatchNorm" in fields["block"],
        "dropout": float(re.search(r"Dropout\(([\d.]+)\)", fields["dropout"]).group(1)),
        "initialisation": "xavier" if "xavier_uniform_" in fields["init"] else None,
    }
    return fields, settings


def test_d2l_recipes_match_the_code_recorded_from_their_editions():
    for recipe, prefix in ((D2L_NIN, "d2l_nin"), (D2L_NIN_CURRENT, "d2l_nin_current")):
        fields, settings = _recorded_recipe(prefix)
        assert set(settings) == set(RECIPE_SETTINGS)
        assert recipe.settings() == settings, prefix
        assert (recipe.edition, recipe.section, recipe.url) == (fields["edition"], fields["section"], fields["url"])
        assert recipe.source == f"Zhang, Lipton, Li & Smola, {fields['edition']}, {fields['section']}, {fields['url']}"


def test_the_editions_differ_only_in_the_learning_rate():
    older, current = D2L_NIN.settings(), D2L_NIN_CURRENT.settings()
    assert {k for k in RECIPE_SETTINGS if older[k] != current[k]} == {"learning_rate"}
    assert (D2L_NIN.section, D2L_NIN_CURRENT.section) == ("section 7.3 'Network in Network (NiN)'",
                                                           "section 8.3 'Network in Network (NiN)'")


def test_the_classic_preset_is_the_recipe_of_the_edition_it_cites():
    assert recipe_settings(get_preset("classic")) == D2L_NIN.settings()
    assert recipe_settings(get_preset("classic")) != D2L_NIN_CURRENT.settings()


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


def test_nin_paper_results_match_the_source_record():
    """NiN's own row of each of the paper's Tables 1-4, one constant per row, each read back from the record."""
    recorded = {key: float(value) for key, value in _fields(PAPER_RECORD).items()
                if re.match(r"table [1-4], ", key)}
    ours = {f"{r.where.lower()}, {r.dataset}, {r.method}": r.test_error_percent for r in NIN_PAPER_RESULTS}
    assert ours == recorded
    assert ours == {"table 1, CIFAR-10, NIN + Dropout": 10.41,
                    "table 1, CIFAR-10, NIN + Dropout + Data Augmentation": 8.81,
                    "table 2, CIFAR-100, NIN + Dropout": 35.68,
                    "table 3, SVHN, NIN + Dropout": 2.35,
                    "table 4, MNIST, NIN + Dropout": 0.47}


def test_nin_paper_results_say_what_each_number_is():
    assert all(isinstance(r, PaperResult) and r.source == NIN_PAPER for r in NIN_PAPER_RESULTS)
    assert [r.dataset for r in NIN_PAPER_RESULTS] == ["CIFAR-10", "CIFAR-10", "CIFAR-100", "SVHN", "MNIST"]
    # Of these rows only the second CIFAR-10 one trained on augmented images, and its method says so.
    assert [r.data_augmentation for r in NIN_PAPER_RESULTS] == [False, True, False, False, False]
    assert all(r.data_augmentation == ("Data Augmentation" in r.method) for r in NIN_PAPER_RESULTS)
    assert all(0 < r.test_error_percent < 100 for r in NIN_PAPER_RESULTS)
    # Table 5's global-average-pooling row is NiN with dropout: the same network, the same number as Table 1's.
    (gap,) = [a for a in NIN_PAPER_ABLATIONS if a.body == "mlpconv" and a.head == "global average pooling"]
    (table1,) = [r for r in NIN_PAPER_RESULTS if r.dataset == "CIFAR-10" and not r.data_augmentation]
    assert gap.test_error_percent == table1.test_error_percent
