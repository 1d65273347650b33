"""Formatting predictions for people (an aligned table) and programs (JSON, JSONL, CSV)."""

from __future__ import annotations

import csv
import json
import unicodedata

TABLE_NAME_WIDTH = 40  # longer names are shortened in the table only; JSON/CSV keep them whole


def write_predictions(predictions, fmt: str, labels, out) -> None:
    if fmt == "json":
        json.dump([p.to_dict() for p in predictions], out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif fmt == "jsonl":
        for p in predictions:
            out.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
    elif fmt == "csv":
        _write_csv(predictions, labels, out)
    else:
        _write_table(predictions, out)


def _write_csv(predictions, labels, out) -> None:
    writer = csv.writer(out, lineterminator="\n")
    with_top = any(p.top for p in predictions)
    header = ["name", "label", "confidence", "status", "unknown_chars"]
    header += [f"p_{label}" for label in labels]
    if with_top:
        header.append("top")
    writer.writerow(header)
    for p in predictions:
        row = [p.name, p.label or "", probability_cell(p.confidence), p.status, p.unknown_chars]
        row += [probability_cell(p.probabilities.get(label)) for label in labels]
        if with_top:
            row.append(";".join(f"{label}:{prob:.6f}" for label, prob in p.top))
        writer.writerow(row)


def probability_cell(value) -> str:
    """A probability as a CSV cell: 6 decimals, or empty when there is none (``classify`` and ``batch`` alike)."""
    return "" if value is None else f"{value:.6f}"


def _write_table(predictions, out) -> None:
    rows = [("NAME", "LABEL", "CONFIDENCE", "STATUS")]
    for p in predictions:
        status = p.status + (f" ({p.unknown_chars!r})" if p.unknown_chars else "")
        if p.top:
            status += "  top: " + ", ".join(f"{label} {prob:.3f}" for label, prob in p.top)
        confidence = "-" if p.confidence is None else f"{p.confidence:.3f}"
        rows.append((printable(p.name), p.label or "-", confidence, status))
    widths = [max(display_width(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell + " " * (width - display_width(cell)) for cell, width in zip(row, widths)]
        out.write("  ".join(cells + [row[3]]).rstrip() + "\n")


def printable(name: str) -> str:
    """The name as a table cell: control characters escaped, very long names shortened."""
    shown = "".join(
        repr(ch)[1:-1] if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch
        for ch in name[: TABLE_NAME_WIDTH + 1]
    )
    if len(name) > TABLE_NAME_WIDTH:
        shown = shown[:TABLE_NAME_WIDTH] + f"… ({len(name)} chars)"
    return shown if shown.strip() else repr(name)


def display_width(text: str) -> int:
    """Terminal columns: wide East Asian characters take two, combining marks none."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


# Whether export checked the ONNX model against torch (None: the sidecar does not say).
VERIFIED_TEXT = {True: "yes", False: "no (exported with --no-verify)", None: "-"}


def write_info(facts: dict, out) -> None:
    metrics = facts["metrics"] or {}
    lines = [
        *([f"name:             {facts['name']} (bundled)"] if facts.get("name") else []),
        f"model:            {facts['model']}",
        f"sha256:           {facts['sha256']}",
        f"preset:           {facts['preset'] or '-'}",
        f"network:          {network_text(facts.get('network'))}",
        f"labels:           {', '.join(facts['labels'])}",
        f"vocabulary ({facts['vocabulary_size']}): {facts['vocabulary']!r}",
        f"sequence length:  {facts['sequence_length']} (normalization {facts['normalization']}"
        + ("; names in one case read in title case)" if facts.get("title_single_case") else ")"),
        f"test split:       {accuracy_summary(metrics) or '-'}",
        f"decision:         {decision_text(facts.get('decision'))}",
        f"verified:         {VERIFIED_TEXT[facts.get('verified')]}",
        f"providers:        {', '.join(facts['providers_available'])}",
        f"active provider:  {facts['provider_active']}",
        f"threads:          {facts['threads']}",
    ]
    out.write("\n".join(lines) + "\n")


def network_text(network: dict | None) -> str:
    """The architecture as training recorded it: ``GRU, 1 x 192 units (3 networks of 64 merged), last-step head``."""
    if not network:
        return "-"
    cell = {"rnn": "RNN (tanh)", "gru": "GRU"}.get(network.get("cell", "rnn"), network.get("cell"))
    head = {"last": "last-step head", "flatten": "flatten head"}.get(network.get("head"), f"{network.get('head')} head")
    members = network.get("ensemble") or 1
    merged = f" ({members} networks of {network['hidden_size'] // members} merged)" if members > 1 else ""
    return f"{cell}, {network.get('num_layers')} x {network.get('hidden_size')} units{merged}, {head}"


def decision_text(decision: dict | None) -> str:
    """One line for the sidecar's decision rules, as ``info`` shows them."""
    if not decision:
        return "most probable label"
    parts = []
    if decision.get("other_label"):
        rule = f"{decision['other_label']!r} from P >= {decision['other_threshold']:g}"
        if decision.get("foreign_letters"):
            rule += " or a foreign letter"
        parts.append(rule)
    parts.append(f"temperature {decision['temperature']:g}")
    letters = decision.get("letter_labels")
    if letters:
        parts.append(f"{len(letters)} letters beyond ASCII answered among the labels writing them "
                     f"({', '.join(sorted(letters)[:5])}, ...)")
    return "; ".join(parts)


def accuracy_summary(metrics: dict) -> str | None:
    """What the model scored on its test split, in words that fit its kind; None if nothing was recorded.

    For a model with a background label the plain accuracy mixes two
    questions (which real label; real label at all?), so the real labels'
    balanced accuracy and the share of other names answered as such are shown.
    """
    figures = metrics.get("test_figures") or {}
    if isinstance(figures.get("in_scope_balanced_accuracy"), (int, float)):
        return (f"balanced accuracy {figures['in_scope_balanced_accuracy']:.3f} on the real labels, "
                f"{figures['rejection']:.3f} of other names answered other")
    accuracy = metrics.get("test_accuracy")
    if isinstance(accuracy, (int, float)):
        return f"accuracy {accuracy:.3f}"
    return None
