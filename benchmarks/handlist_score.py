"""Score a German/Italian/other model on hand-written common surnames that are in no training file.

benchmarks/handlist/ holds common German and Italian surnames and common surnames
of 22 other countries (English, Spanish, French, Polish, Russian, Chinese,
Japanese, Korean, Vietnamese, Turkish, Dutch, Swedish, Portuguese, Greek, Irish,
Arabic, Czech, Hungarian, Indian, Nigerian, Danish/Norwegian, Finnish), written down from
general knowledge by nameort's developers, with every spelling found in any file of
the dataset removed. Some carry their own letters (García, Wiśniewski, Yılmaz),
as real lists do. It is a rough stand-in for the real-world names models are
judged on, small (80 + 99 + 104 names), and not used to choose anything:
the operating point comes from validation data.

    python benchmarks/handlist_score.py [MODEL] [--other-threshold T ...]

prints German and Italian recall (any other answer counts as wrong), their mean
(balanced accuracy), and the share of other-origin names answered German or
Italian, for the model's own operating point and any others asked for.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nameort import Classifier

HERE = Path(__file__).parent / "handlist"


def names(label: str) -> list:
    return [line.strip() for line in (HERE / f"{label}.txt").read_text(encoding="utf-8").splitlines() if line.strip()]


def score(clf: Classifier, other_threshold: float | None) -> dict:
    recall = {}
    for label in ("German", "Italian"):
        answers = [p.label for p in clf.predict_many(names(label), other_threshold=other_threshold)]
        recall[label] = sum(a == label for a in answers) / len(answers)
    others = [p.label for p in clf.predict_many(names("other"), other_threshold=other_threshold)]
    passed = sum(a in ("German", "Italian") for a in others) / len(others)
    return {**recall, "balanced": (recall["German"] + recall["Italian"]) / 2, "other_as_german_or_italian": passed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="bundled name or path (default: german-italian)")
    parser.add_argument("--other-threshold", type=float, nargs="*", default=[], help="operating points to compare")
    args = parser.parse_args()
    clf = Classifier.load(args.model)
    own = clf.card.decision.other_threshold if clf.card.decision.other_label else None
    print(f"{len(names('German'))} German, {len(names('Italian'))} Italian, {len(names('other'))} other names")
    print("operating point   German  Italian  balanced  other answered German/Italian")
    for threshold in [None, *args.other_threshold]:
        figures = score(clf, threshold)
        point = f"{own} (model's)" if threshold is None else str(threshold)
        print(f"{point:<17} {figures['German']:>6.3f}  {figures['Italian']:>7.3f}  {figures['balanced']:>8.3f}  "
              f"{figures['other_as_german_or_italian']:>6.3f}")


if __name__ == "__main__":
    main()
