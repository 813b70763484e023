"""Minimal SVG charts (scatter with identity line, line curves) for optuna-dashboard artifacts.

Static images need no browser or image exporter; optuna-dashboard previews
SVG artifacts of each trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, MARGIN = 420, 320, 50
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def _scale(
    values: Sequence[float], low: float, high: float, start: float, end: float
) -> list[float]:
    span = (high - low) or 1.0
    return [start + (v - low) / span * (end - start) for v in values]


def _frame(
    title: str,
    x_title: str,
    y_title: str,
    bounds: tuple[float, float, float, float],
    body: list[str],
) -> str:
    x_low, x_high, y_low, y_high = bounds
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>',
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - 10}" y2="{HEIGHT - MARGIN}" '
        f'stroke="black"/>',
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{MARGIN}" y2="30" stroke="black"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" text-anchor="middle">{escape(x_title)}</text>',
        f'<text x="14" y="{HEIGHT / 2}" transform="rotate(-90 14 {HEIGHT / 2})" '
        f'text-anchor="middle">{escape(y_title)}</text>',
        f'<text x="{MARGIN}" y="{HEIGHT - MARGIN + 14}">{x_low:.4g}</text>',
        f'<text x="{WIDTH - 10}" y="{HEIGHT - MARGIN + 14}" text-anchor="end">{x_high:.4g}</text>',
        f'<text x="{MARGIN - 4}" y="{HEIGHT - MARGIN}" text-anchor="end">{y_low:.4g}</text>',
        f'<text x="{MARGIN - 4}" y="36" text-anchor="end">{y_high:.4g}</text>',
        *body,
        "</svg>",
    ]
    return "\n".join(parts)


def parity_svg(reference: Sequence[float], predicted: Sequence[float], title: str) -> str:
    """Predicted against reference, with the identity line."""
    low = min(min(reference), min(predicted))
    high = max(max(reference), max(predicted))
    xs = _scale(reference, low, high, MARGIN, WIDTH - 10)
    ys = _scale(predicted, low, high, HEIGHT - MARGIN, 30)
    body = [
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - 10}" y2="30" '
        f'stroke="grey" stroke-dasharray="4"/>'
    ]
    body += [
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{COLOURS[0]}"/>'
        for x, y in zip(xs, ys, strict=False)
    ]
    return _frame(
        title, "reference energy [eV]", "predicted energy [eV]", (low, high, low, high), body
    )


def curves_svg(
    curves: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, y_title: str
) -> str:
    """Lines, one per label, with a small legend."""
    all_x = [x for xs, _ in curves.values() for x in xs] or [0.0]
    all_y = [y for _, ys in curves.values() for y in ys] or [0.0]
    bounds = (min(all_x), max(all_x), min(all_y), max(all_y))
    body = []
    for k, (label, (xs, ys)) in enumerate(curves.items()):
        px = _scale(xs, bounds[0], bounds[1], MARGIN, WIDTH - 10)
        py = _scale(ys, bounds[2], bounds[3], HEIGHT - MARGIN, 30)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(px, py, strict=False))
        colour = COLOURS[k % len(COLOURS)]
        body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        body.append(
            f'<text x="{WIDTH - 14}" y="{44 + 14 * k}" text-anchor="end" '
            f'fill="{colour}">{escape(label)}</text>'
        )
    return _frame(title, "epoch", y_title, bounds, body)
