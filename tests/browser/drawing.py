"""Drawing on a Leaflet map the way a person does, with Leaflet.draw's tools and the mouse."""


def draw_rectangle(page, map_selector: str, *, start=(0.3, 0.3), end=(0.6, 0.6)) -> None:
    """Drag a rectangle across the map from ``start`` to ``end`` (fractions of the map's width and height)."""
    page.locator(".leaflet-draw-draw-rectangle").click()
    box = page.locator(map_selector).bounding_box()
    page.mouse.move(box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1], steps=8)
    page.mouse.up()
