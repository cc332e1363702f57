/* The crisis page's map of the affected area, drawn from static script (no inline script under the site's
 * Content-Security-Policy): django-leaflet's settings come in a data attribute, the area in a json_script. */
(function () {
  "use strict";
  var element = document.getElementById("area");
  if (!element || !window.L) { return; }
  var config = JSON.parse(element.getAttribute("data-leaflet-config"));
  var map = L.map(element, {
    center: config.DEFAULT_CENTER, zoom: config.DEFAULT_ZOOM, minZoom: config.MIN_ZOOM, maxZoom: config.MAX_ZOOM
  });
  (config.TILES || []).slice(0, 1).forEach(function (tiles) { L.tileLayer(tiles[1], tiles[2]).addTo(map); });
  var area = JSON.parse(document.getElementById("area-geojson").textContent);
  if (!area) { return; }
  var layer = L.geoJSON(area, { style: { color: "#c0392b", weight: 2, fillOpacity: 0.1 } }).addTo(map);
  map.fitBounds(layer.getBounds());
})();
