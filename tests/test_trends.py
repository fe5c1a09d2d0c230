"""Trend charts (server-rendered SVG and the same geometry for the PDF) and the review app's trends page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from scanner.notes import charts
from scanner.vault import store
from test_web import BASE, add_session, app, clock, login  # noqa: F401  (fixtures and helpers of the web tests)

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG}svg"
    return root


# ---------------------------------------------------------------- charts


def test_svg_is_valid_with_one_point_per_value_in_date_order():
    series = [("2026-02-02", 7), ("2026-01-05", 3), ("2026-01-19", 5), ("2026-03-02", 6)]
    chart = charts.line_chart(series, lo=0, hi=10, title="Mood")
    root = parse(charts.to_svg(chart))
    circles = root.findall(f"{SVG}circle")
    assert len(circles) == 4
    assert [c.find(f"{SVG}title").text for c in circles] == ["2026-01-05: 3", "2026-01-19: 5", "2026-02-02: 7",
                                                             "2026-03-02: 6"]
    xs = [float(c.get("cx")) for c in circles]
    ys = [float(c.get("cy")) for c in circles]
    assert xs == sorted(xs)
    assert ys[0] > ys[1] > ys[2] and ys[3] > ys[2]  # higher value, higher on the page (smaller y)
    # Placed by date: two weeks apart is half of four weeks apart.
    assert (xs[1] - xs[0]) == pytest.approx((xs[2] - xs[0]) / 2, rel=0.01)
    line = root.find(f"{SVG}polyline")
    assert len(line.get("points").split()) == 4
    x0, y0, x1, y1 = chart.plot
    assert all(x0 <= x <= x1 for x in xs) and all(y0 <= y <= y1 for y in ys)
    # The scale's range sets the axis, not the data: 0 at the bottom, 10 at the top.
    ticks = [t.text for t in root.findall(f"{SVG}text[@class='tick']")]
    assert "0" in ticks and "10" in ticks


def test_svg_escapes_text_and_handles_one_or_no_point():
    one = parse(charts.to_svg(charts.line_chart([("2026-01-05", 12)], title='Score <b>&"x"')))
    assert one.find(f"{SVG}title").text == 'Score <b>&"x"'
    assert len(one.findall(f"{SVG}circle")) == 1 and one.find(f"{SVG}polyline") is None
    none = parse(charts.to_svg(charts.line_chart([], lo=0, hi=27, title="PHQ-9")))
    assert none.findall(f"{SVG}circle") == []
    assert "No confirmed values" in "".join(none.itertext())


def test_values_outside_the_range_widen_the_axis_instead_of_leaving_the_chart():
    chart = charts.line_chart([("2026-01-05", 12), ("2026-01-12", 30)], lo=0, hi=27)
    assert chart.hi == 30
    assert all(chart.plot[1] <= p.y <= chart.plot[3] for p in chart.points)


def test_pdf_drawing_has_the_same_points():
    from reportlab.graphics.shapes import Circle

    chart = charts.line_chart([("2026-01-05", 3), ("2026-01-19", 5), ("2026-02-02", 7)], lo=0, hi=10)
    drawing = charts.to_drawing(chart)
    circles = [s for s in drawing.contents if isinstance(s, Circle)]
    assert len(circles) == 3
    assert [round(c.cy, 2) for c in circles] == [round(chart.height - p.y, 2) for p in chart.points]


# ---------------------------------------------------------------- the review page


def confirm(vault, session: int, values: dict) -> None:
    for key, value in values.items():
        store.confirm_field(vault, session, key, value=value)


@pytest.fixture
def history(vault):
    """Client K7Q: three scanned sessions; mood confirmed on two, a draft (unconfirmed) on the third."""
    a = add_session(vault, date="2025-11-06", number=1)
    b = add_session(vault, date="2025-11-13", number=2)
    c = add_session(vault, date="2025-11-20", number=3)
    confirm(vault, a["session"], {"mood_rating": 3, "interventions": ["cbt", "mi"], "attendance": "attended",
                                  "unfinished_conversations": "PRIVATEMARKER words"})
    confirm(vault, b["session"], {"mood_rating": 6, "interventions": ["cbt"], "attendance": "late"})
    return [a, b, c]


def test_trends_page_plots_confirmed_values_only(app, vault, history):
    client = login(app)
    r = client.get("/trends/K7Q", base_url=BASE)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    assert "<svg" in html
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    mood = next(s for s in svgs if "Mood, client-rated" in s)
    points = parse(mood).findall(f"{SVG}circle")
    # Two confirmed values; the third session's draft read is left out.
    assert [p.find(f"{SVG}title").text for p in points] == ["2025-11-06: 3", "2025-11-13: 6"]
    assert "3 sessions in this period still have unconfirmed progress fields" in html  # none is complete
    # Counts of choice answers: CBT in both confirmed sessions, MI in one.
    table = html[html.index('id="tally-interventions"'):]
    table = table[:table.index("</table>")]
    assert re.search(r"CBT</td><td class=\"num\">2<", table) and re.search(r"MI</td><td class=\"num\">1<", table)
    assert "PRIVATEMARKER" not in html
    # The strict CSP forbids inline styles and scripts: the page needs neither.
    assert "style=" not in html and "<script>" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_trends_page_filters_by_date(app, vault, history):
    client = login(app)
    html = client.get("/trends/K7Q?since=2025-11-10&until=2025-11-30", base_url=BASE).get_data(as_text=True)
    mood = next(s for s in re.findall(r"<svg\b.*?</svg>", html, flags=re.S) if "Mood, client-rated" in s)
    assert [p.find(f"{SVG}title").text for p in parse(mood).findall(f"{SVG}circle")] == ["2025-11-13: 6"]
    r = client.get("/trends/K7Q?since=2026-01-01", base_url=BASE)
    assert r.status_code == 404 and "no scanned sessions since 2026-01-01" in r.get_data(as_text=True)
    assert client.get("/trends/K7Q?since=soon", base_url=BASE).status_code == 400


def test_trends_are_only_for_an_authenticated_session(app, vault, history):
    stranger = app.test_client()
    for url in ["/trends", "/trends/K7Q"]:
        r = stranger.get(url, base_url=BASE)
        assert r.status_code == 403 and b"K7Q" not in r.data and b"<svg" not in r.data
        assert r.headers["Cache-Control"] == "no-store"


def test_trends_nav_and_client_list(app, vault, history):
    client = login(app)
    queue = client.get("/", base_url=BASE).get_data(as_text=True)
    assert 'href="/trends"' in queue
    index = client.get("/trends", base_url=BASE)
    assert index.status_code == 200 and index.headers["Cache-Control"] == "no-store"
    html = index.get_data(as_text=True)
    assert 'href="/trends/K7Q"' in html and "2025-11-06" in html and "2025-11-20" in html
    r = client.get("/trends/NOBODY", base_url=BASE)
    assert r.status_code == 404 and "no sessions for client NOBODY" in r.get_data(as_text=True)


def test_trends_lock_with_the_rest_of_the_app(app, vault, history, clock):
    client = login(app)
    clock.now += 16 * 60
    r = client.get("/trends/K7Q", base_url=BASE)
    assert r.status_code == 302 and "/unlock" in r.headers["Location"]
