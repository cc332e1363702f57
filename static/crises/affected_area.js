/* The affected-area field of the crisis form: a Leaflet map with Leaflet.draw's rectangle and polygon tools.
 * The GeoJSON geometry (Polygon, or MultiPolygon for several shapes) is kept in the field's textarea, which the
 * form submits; editing that textarea by hand redraws the map. Set up from data attributes (no inline script). */
(function () {
  "use strict";

  function polygonsOf(geometry) {
    if (!geometry || typeof geometry !== "object") { throw new Error("not a geometry"); }
    if (geometry.type === "Polygon") { return [geometry.coordinates]; }
    if (geometry.type === "MultiPolygon") { return geometry.coordinates; }
    if (geometry.type === "Feature") { return polygonsOf(geometry.geometry); }
    throw new Error("not a polygon");
  }

  function setUp(container) {
    var field = document.getElementById(container.getAttribute("data-area-for"));
    var error = container.parentNode.querySelector(".crisis-area-error");
    var map = L.map(container, { worldCopyJump: true }).setView([20, 0], 2);
    L.tileLayer(container.getAttribute("data-tile-url"), {
      attribution: container.getAttribute("data-tile-attribution"),
      maxZoom: 19,
    }).addTo(map);
    var drawn = new L.FeatureGroup().addTo(map);

    function showError(message) {
      error.textContent = message || "";
      error.hidden = !message;
    }

    function load() {
      drawn.clearLayers();
      showError("");
      var text = field.value.trim();
      if (!text) { return; }
      try {
        polygonsOf(JSON.parse(text)).forEach(function (rings) {
          drawn.addLayer(L.polygon(L.GeoJSON.coordsToLatLngs(rings, 1)));
        });
      } catch (problem) {
        showError(container.getAttribute("data-invalid"));
        return;
      }
      if (drawn.getLayers().length) { map.fitBounds(drawn.getBounds(), { maxZoom: 12 }); }
    }

    function save() {
      var polygons = drawn.getLayers().map(function (layer) { return layer.toGeoJSON(6).geometry.coordinates; });
      var geometry = null;
      if (polygons.length === 1) { geometry = { type: "Polygon", coordinates: polygons[0] }; }
      if (polygons.length > 1) { geometry = { type: "MultiPolygon", coordinates: polygons }; }
      field.value = geometry ? JSON.stringify(geometry) : "";
      showError("");
    }

    map.addControl(new L.Control.Draw({
      edit: { featureGroup: drawn },
      draw: {
        // showArea off: Leaflet.draw 1.0.4 throws while measuring a rectangle's area with it on.
        rectangle: { showArea: false },
        polygon: { showArea: false, allowIntersection: false },
        polyline: false, circle: false, marker: false, circlemarker: false,
      },
    }));
    map.on(L.Draw.Event.CREATED, function (event) { drawn.addLayer(event.layer); save(); });
    map.on(L.Draw.Event.EDITED, save);
    map.on(L.Draw.Event.DELETED, save);
    field.addEventListener("change", load);
    // The folded textarea changes the page's height: let the map measure itself again.
    container.parentNode.querySelector("details").addEventListener("toggle", function () { map.invalidateSize(); });
    load();
  }

  function start() { document.querySelectorAll(".crisis-area-map").forEach(setUp); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
