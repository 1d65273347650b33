"""Do foreign letters tell an open-set model anything? Measured on re-accented held-out names.

The tutorial's other-language files are ASCII-fied (0.5% of their names hold
a letter outside the German/Italian 65), while real lists spell ``Núñez``,
``Wiśniewski``, ``Dvořák``. Here each held-out background name of a language
with a native alphabet extension gets one letter put back (the first letter
the language's map knows: Spanish n -> ñ, Polish l -> ł, Czech r -> ř, ...),
then the model answers it twice: with the foreign-letter rule and without.
The other side of the ledger is the real labels' own files: a letter their
names use is in the vocabulary by construction, so none of them can hold a
foreign letter; that count is reported too, so a changed vocabulary shows.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nameort.decision import decide, foreign_letters

# language file -> (plain letter, its native form), tried in order; the first letter the name holds is changed.
REACCENT = {
    "Spanish": (("n", "ñ"), ("i", "í"), ("a", "á"), ("u", "ú")),
    "Portuguese": (("a", "ã"), ("c", "ç"), ("o", "õ"), ("e", "ê")),
    "Polish": (("l", "ł"), ("z", "ż"), ("s", "ś"), ("n", "ń"), ("c", "ć"), ("a", "ą"), ("e", "ę")),
    "Czech": (("r", "ř"), ("c", "č"), ("s", "š"), ("z", "ž"), ("y", "ý"), ("e", "ě"), ("a", "á")),
    "French": (("c", "ç"), ("e", "ê"), ("i", "î"), ("o", "ô"), ("a", "â")),
    "Vietnamese": (("o", "ơ"), ("u", "ư"), ("a", "ă"), ("e", "ê"), ("d", "đ")),
    "Irish": (("a", "á"), ("i", "í"), ("u", "ú")),
    "Dutch": (("e", "ë"), ("i", "ï")),
}


def reaccent(name: str, language: str) -> str | None:
    """``name`` with its first mappable letter in the language's native form; None when none applies."""
    for plain, native in REACCENT.get(language, ()):
        at = name.find(plain)
        if at >= 0:
            return name[:at] + native + name[at + 1 :]
    return None


def reaccent_figures(classifier, names, origins, real_names) -> dict:
    """Per language: how many re-accented names come back ``other`` with and without the rule.

    ``names``/``origins``: held-out background names and their files;
    ``real_names``: every name of the real labels (they are checked for foreign letters).
    """
    rules = classifier.card.decision
    vocabulary = classifier.card.rules.characters
    encoder = classifier.encoder
    holding = sum(bool(foreign_letters(encoder.prepare(n).unknown, vocabulary)) for n in real_names)
    per_language = {}
    other = classifier.labels.index(rules.other_label)
    for language in sorted(set(origins) & set(REACCENT)):
        changed = [r for n, o in zip(names, origins) if o == language for r in [reaccent(n, language)] if r]
        if not changed:
            continue
        prepared = [encoder.prepare(n) for n in changed]
        probabilities = classifier.probabilities([p.text for p in prepared])
        mask = np.array([bool(foreign_letters(p.unknown, vocabulary)) for p in prepared])
        with_rule, _ = decide(probabilities, dataclasses.replace(rules, foreign_letters=True), classifier.labels,
                              foreign=mask)
        without, _ = decide(probabilities, dataclasses.replace(rules, foreign_letters=False), classifier.labels)
        per_language[language] = {
            "names": len(changed),
            "example": changed[0],
            "answered_other_with_rule": float((with_rule == other).mean()),
            "answered_other_without_rule": float((without == other).mean()),
        }
    return {"real_label_names_with_a_foreign_letter": holding, "real_label_names": len(real_names),
            "per_language": per_language}
