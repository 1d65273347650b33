"""benchmarks/handlist: the hand-written real-world names really are in no training file."""

from pathlib import Path

HANDLIST = Path(__file__).resolve().parent.parent / "benchmarks" / "handlist"


def test_no_hand_written_name_is_in_the_dataset(data_dir):
    dataset = set()
    for path in data_dir.glob("*.txt"):
        dataset |= {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    for label, count in (("German", 80), ("Italian", 99), ("other", 104)):
        names = [n.strip() for n in (HANDLIST / f"{label}.txt").read_text(encoding="utf-8").splitlines() if n.strip()]
        assert len(names) == len(set(names)) == count
        assert not dataset & set(names), sorted(dataset & set(names))
