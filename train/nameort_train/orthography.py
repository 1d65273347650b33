"""Which of the tutorial's languages write each letter beyond ASCII: the ``letter_labels`` decision rule.

Most of the data's files are ASCII-folded (Czech.txt holds ``Dvorak``, not
``Dvořák``; Vietnamese.txt ``Nguyen``), so a network trained on them cannot
learn that ``ř`` is Czech; worse, the few accented names some files do hold
teach it that ``á`` means Spanish, so ``Procházka`` came out Polish or Spanish.
Real lists of names carry these letters. The table below says, from each
language's alphabet, which of the 18 languages write a letter in their own
names; ``nameort.decision.restrict_to_letters`` then keeps a name's answer
among the languages that write every listed letter it holds.

Only letters some language here writes natively are listed; a letter none of
them writes (``ø``, ``ş``) says nothing. Catalan letters (``à``, ``è``, ``ò``,
``ç``, ``ï``) count as Spanish: Spanish.txt holds Catalan names (``Jordà``,
``Tomàs``). Vietnamese is written with dozens of tone-marked vowels; every
one of them is listed for it, and the five base letters with a tone that other
languages share (``á``, ``à``, ``ã``, ``í``, ``ó``, ...) list it beside them.
The check against the data: of its 17,916 distinct (name, language) rows
(Scottish read as English), 153 have their answer narrowed by the table, and 2
of those are then kept from their file's language (``Smolák`` in Polish.txt,
``Abelló`` in Italian.txt: a Slovak and a Catalan spelling).
"""

from __future__ import annotations

_VIETNAMESE_ONLY = "ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹĩũđươă"

WRITERS = {
    "á": "Czech Irish Portuguese Spanish Vietnamese",
    "à": "French Italian Portuguese Spanish Vietnamese",
    "â": "French Portuguese Vietnamese",
    "ã": "Portuguese Vietnamese",
    "ä": "German",
    "ç": "French Portuguese Spanish",
    "č": "Czech",
    "ď": "Czech",
    "é": "Czech French Irish Italian Portuguese Spanish Vietnamese",
    "è": "French Italian Spanish Vietnamese",
    "ê": "French Portuguese Vietnamese",
    "ë": "Dutch French",
    "ě": "Czech",
    "í": "Czech Irish Portuguese Spanish Vietnamese",
    "ì": "Italian Vietnamese",
    "î": "French",
    "ï": "Dutch French Spanish",
    "ł": "Polish",
    "ń": "Polish",
    "ň": "Czech",
    "ñ": "Spanish",
    "ó": "Czech Irish Polish Portuguese Spanish Vietnamese",
    "ò": "Italian Spanish Vietnamese",
    "ô": "French Portuguese Vietnamese",
    "õ": "Portuguese Vietnamese",
    "ö": "German",
    "ř": "Czech",
    "ś": "Polish",
    "š": "Czech",
    "ť": "Czech",
    "ú": "Czech Irish Portuguese Spanish Vietnamese",
    "ù": "French Italian Vietnamese",
    "û": "French",
    "ü": "German Spanish",
    "ů": "Czech",
    "ý": "Czech Vietnamese",
    "ź": "Polish",
    "ż": "Polish",
    "ž": "Czech",
    "ß": "German",
    "ą": "Polish",
    "ę": "Polish",
    "œ": "French",
    **{letter: "Vietnamese" for letter in _VIETNAMESE_ONLY},
}


def letter_labels(labels) -> dict:
    """The decision entry's ``letter_labels`` for a model of these labels: each letter, the labels writing it.

    Letters none of the labels writes are left out (they rule nothing out).
    """
    table = {}
    for letter, writers in WRITERS.items():
        listed = [label for label in labels if label in writers.split()]
        if listed:
            table[letter] = listed
    return table
