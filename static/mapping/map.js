/* The live disaster map: Leaflet + markercluster, GeoJSON pages from /api/map/features/, then polling the
 * `since` cursor. Filters and the view live in the URL. Popups are built with DOM nodes and textContent only:
 * post text and every other value from the data is never parsed as HTML. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("map-config").textContent);
  var S = config.strings;
  var COLOURS = { high: "#1a9850", medium: "#f28e2b", low: "#d73027" };
  var GUESS_COLOUR = "#7b3294";
  var OUTSIDE_COLOUR = "#8a8a8a";  // a guess that does not reach the crisis: drawn, but not as a lead
  var FILTERS = ["crisis", "hazard", "start", "end", "confidence", "tags"];
  var form = document.getElementById("map-filters");
  var liveStatus = document.getElementById("map-live");
  var countLine = document.getElementById("map-count");

  // --- State from the URL ---------------------------------------------------------------------
  var params = new URLSearchParams(window.location.search);
  FILTERS.forEach(function (name) {
    var field = form.elements[name];
    if (field && params.get(name) !== null) { field.value = params.get(name); }
  });
  // On a phone the map comes first: the filters fold away, and their summary says how many are set.
  var active = FILTERS.filter(function (name) { return params.get(name); }).length;
  document.getElementById("map-filter-count").textContent = active ? "(" + active + ")" : "";
  var phone = window.matchMedia("(max-width: 800px)").matches;
  if (phone) { document.getElementById("map-filter-fold").open = false; }

  // --- Map and layers -------------------------------------------------------------------------
  var map = L.map("disaster-map", { preferCanvas: false, worldCopyJump: true });
  var tiles = L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 });
  var tileErrors = 0;
  tiles.on("tileerror", function () {
    tileErrors += 1;
    if (tileErrors >= 2) {
      document.getElementById("map-tiles-failed").hidden = false;
      document.getElementById("disaster-map").classList.add("tiles-failed");
    }
  });
  tiles.on("tileload", function () {
    document.getElementById("map-tiles-failed").hidden = true;
    document.getElementById("disaster-map").classList.remove("tiles-failed");
  });
  tiles.addTo(map);

  var verified = L.markerClusterGroup({ chunkedLoading: true, maxClusterRadius: 50, showCoverageOnHover: false });
  var guesses = L.markerClusterGroup({
    chunkedLoading: true,
    maxClusterRadius: 50,
    showCoverageOnHover: false,
    iconCreateFunction: function (cluster) {
      var count = Number(cluster.getChildCount());  // a number, so safe as markup
      return L.divIcon({ className: "guess-cluster", html: "<span>" + count + "?</span>", iconSize: L.point(34, 34) });
    },
  });
  var areas = L.featureGroup();
  verified.addTo(map);
  areas.addTo(map);
  var layerControl = L.control.layers(null, null, { collapsed: phone }).addTo(map);
  layerControl.addOverlay(verified, S.layerVerified);
  layerControl.addOverlay(guesses, S.layerGuesses);
  layerControl.addOverlay(areas, S.layerArea);
  if (params.get("guesses") === "1") { guesses.addTo(map); }
  map.on("overlayadd overlayremove", function (event) {
    if (event.layer === guesses) {
      setParam("guesses", map.hasLayer(guesses) ? "1" : null);
      if (map.hasLayer(guesses)) { loadGuesses(); }
    }
  });

  var byId = {};       // media id -> layer, verified points
  var guessById = {};
  var since = null;
  var pollTimer = null;
  var generation = 0;  // bumps on each filter change: late answers of an old query are dropped

  // --- Helpers --------------------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function safeHref(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }

  function when(iso) {
    if (!iso) { return ""; }
    var date = new Date(iso);
    return isNaN(date) ? "" : date.toLocaleString();
  }

  function setParam(name, value) {
    var current = new URLSearchParams(window.location.search);
    if (value === null || value === "" || value === undefined) { current.delete(name); } else { current.set(name, value); }
    var query = current.toString();
    window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
  }

  function filterQuery() {
    var query = new URLSearchParams();
    FILTERS.forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (!value) { return; }
      if (name === "start" || name === "end") { value = new Date(value).toISOString(); }
      query.set(name, value);
    });
    return query;
  }

  function row(list, label, value) {
    if (value === null || value === undefined || value === "") { return; }
    list.appendChild(el("dt", null, label));
    list.appendChild(el("dd", null, value));
  }

  // Who placed and checked the point, as the crisis's publication rule saw it (consensus README, "Trust"): the
  // server writes the line (mapping/trust.py), as its words depend on the numbers (plural forms per language).
  function trustLine(p) {
    return p.verified_by.line || "";
  }

  // What the review row says. "automatic" alone would read "not reviewed" on a point a coordinator checked before it
  // was published (the verification task is the review under adaptive redundancy): say who checked it instead.
  function reviewState(p) {
    if (p.review !== "automatic" || !p.verified_by) { return p.review; }
    if (p.verified_by.coordinators > 0) { return "coordinator"; }
    return p.verified_by.checks > 0 ? "checked" : "automatic";
  }

  var numbers = new Intl.NumberFormat(document.documentElement.lang || "en", { maximumFractionDigits: 1 });

  // "± 80 m", "± 2.5 km", "± 106 km": metres read badly once a guess covers a region.
  function distance(metres) {
    if (metres < 1000) { return Math.round(metres) + " m"; }
    return numbers.format(metres < 10000 ? metres / 1000 : Math.round(metres / 1000)) + " km";
  }

  function popup(feature) {
    var p = feature.properties;
    var root = el("div", "map-popup");
    var isGuess = p.layer === "text_guess";
    root.appendChild(el("p", isGuess ? "map-popup-kind guess" : "map-popup-kind", isGuess ? S.guess : S.verified));
    if (p.image) {
      var img = el("img", "map-popup-image");
      img.src = p.image;
      img.alt = S.photo;
      img.width = 260;
      img.height = 150;  // a fixed box: the popup's size is known when it opens, so the map pans to show it
      root.appendChild(img);
    }
    if (p.text) { root.appendChild(el("p", "map-popup-text", p.text)); }
    var list = el("dl", "map-popup-facts");
    row(list, S.posted, when(p.posted_at));
    if (isGuess) {
      row(list, S.method, S.methods[p.method] || p.method);
    } else {
      row(list, S.answers, p.answers);
      row(list, S.precision, S.precisions[p.precision] || p.precision);
      row(list, S.review, S.reviews[reviewState(p)] || p.review);
    }
    if (p.radius_m !== null) { row(list, S.radius, "± " + distance(p.radius_m)); }
    if (p.author) { row(list, S.author, p.author); }
    root.appendChild(list);
    if (!isGuess && p.verified_by) { root.appendChild(el("p", "map-popup-trust", trustLine(p))); }
    if (p.ambiguous) { root.appendChild(el("p", "map-popup-warn", S.ambiguous)); }
    if (p.outside) { root.appendChild(el("p", "map-popup-warn", S.outside)); }
    if (!p.exact) { root.appendChild(el("p", "map-popup-note", S.coarse)); }
    var href = safeHref(p.url);
    if (href) {
      var link = el("a", "map-popup-source", S.source + (p.source ? " (" + p.source + ")" : ""));
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      root.appendChild(link);
    }
    return root;
  }

  function circleFor(feature) {
    var p = feature.properties;
    var c = feature.geometry.coordinates;
    var isGuess = p.layer === "text_guess";
    var colour = isGuess ? (p.outside ? OUTSIDE_COLOUR : GUESS_COLOUR) : (COLOURS[p.precision] || "#777");
    var reviewed = ["accepted", "moved", "coordinator"].indexOf(reviewState(p)) !== -1;
    var layer = L.circle([c[1], c[0]], {
      radius: Math.max(p.radius_m || 0, 10),
      color: colour,
      weight: reviewed ? 3 : 2,
      dashArray: isGuess ? "2 6" : (reviewed ? null : "6 4"),
      fillColor: colour,
      fillOpacity: isGuess ? 0.05 : 0.25,
    });
    layer.feature = feature;
    // The open layer list sits in the top corner: pan a popup below it, not under it (Leaflet pads top and left
    // together).
    var clearOfLayers = phone ? [10, 10] : [10, 100];
    layer.bindPopup(function () { return popup(feature); },
      { maxWidth: 300, minWidth: 240, autoPanPaddingTopLeft: clearOfLayers });
    return layer;
  }

  // --- Verified points: pages, then live ------------------------------------------------------
  function upsert(features) {
    var added = [];
    features.forEach(function (feature) {
      var old = byId[feature.id];
      if (old) { verified.removeLayer(old); }
      var layer = circleFor(feature);
      byId[feature.id] = layer;
      added.push(layer);
    });
    verified.addLayers(added);
  }

  function remove(ids) {
    (ids || []).forEach(function (id) {
      if (byId[id]) { verified.removeLayer(byId[id]); delete byId[id]; }
    });
  }

  var pluralRules = new Intl.PluralRules(document.documentElement.lang || "en");

  function counted(n, forms) {
    return n + " " + (pluralRules.select(n) === "one" ? forms.one : forms.other);
  }

  function showCount() {
    var n = Object.keys(byId).length;
    var g = Object.keys(guessById).length;
    countLine.textContent = counted(n, S.points) + (map.hasLayer(guesses) ? ", " + counted(g, S.guesses) : "");
    document.getElementById("disaster-map").dataset.points = String(n);
  }

  function fetchPages(query, mine, onPage) {
    return fetch(config.featuresUrl + "?" + query.toString(), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (body) {
        if (mine !== generation) { return null; }
        onPage(body);
        if (body.cursor) {
          var next = new URLSearchParams(query);
          next.set("cursor", body.cursor);
          return fetchPages(next, mine, onPage).then(function () { return body; });
        }
        return body;
      });
  }

  function loadAll() {
    generation += 1;
    var mine = generation;
    clearTimeout(pollTimer);
    verified.clearLayers();
    byId = {};
    since = null;
    var first = null;
    fetchPages(filterQuery(), mine, function (body) {
      if (first === null) { first = body.since; }
      upsert(body.features);
    }).then(function () {
      if (mine !== generation) { return; }
      since = first;
      showCount();
      live(true);
      if (!params.get("z")) { fitToData(); }
      schedulePoll(mine);
    }).catch(function () { live(false); schedulePoll(mine); });
    drawAreas();
    if (map.hasLayer(guesses)) { loadGuesses(); }
  }

  function poll(mine) {
    if (mine !== generation) { return; }
    if (since === null) { loadAll(); return; }
    var query = filterQuery();
    query.set("since", since);
    var next = null;
    fetchPages(query, mine, function (body) {
      if (next === null) { next = body.since; }
      upsert(body.features);
      remove(body.removed);
    }).then(function () {
      if (mine !== generation) { return; }
      since = next || since;
      showCount();
      live(true);
      schedulePoll(mine);
    }).catch(function () { live(false); schedulePoll(mine); });
  }

  function schedulePoll(mine) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(function () { poll(mine); }, (config.pollSeconds || 3) * 1000);
  }

  function live(ok) {
    liveStatus.classList.toggle("offline", !ok);
    liveStatus.textContent = ok ? S.live + " · " + S.updated + " " + new Date().toLocaleTimeString() : S.offline;
  }

  // --- Text guesses (reloaded with the filters and every minute while shown) --------------------
  var guessTimer = null;
  function loadGuesses() {
    clearTimeout(guessTimer);
    var query = filterQuery();
    fetch(config.guessesUrl + "?" + query.toString(), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { features: [] }; })
      .then(function (body) {
        guesses.clearLayers();
        guessById = {};
        var layers = body.features.map(function (feature) {
          var layer = circleFor(feature);
          guessById[feature.id] = layer;
          return layer;
        });
        guesses.addLayers(layers);
        showCount();
      })
      .finally(function () {
        if (map.hasLayer(guesses)) { guessTimer = setTimeout(loadGuesses, 60000); }
      });
  }

  // --- Affected areas, view, exports ----------------------------------------------------------
  function selectedCrises() {
    var slug = form.elements.crisis.value;
    var hazard = form.elements.hazard.value;
    return config.crises.filter(function (c) {
      return (!slug || c.slug === slug) && (!hazard || c.hazard === hazard);
    });
  }

  function drawAreas() {
    areas.clearLayers();
    selectedCrises().forEach(function (crisis) {
      if (!crisis.area) { return; }
      L.geoJSON(crisis.area, {
        style: { color: "#c0392b", weight: 2, fill: true, fillOpacity: 0.04, dashArray: "4 4" },
        interactive: false,
      }).addTo(areas);
    });
    var chosen = selectedCrises();
    var publicView = chosen.some(function (c) { return !c.exact; });
    document.getElementById("map-privacy-note").hidden = !publicView;
    var exportsBox = document.getElementById("map-exports");
    var single = form.elements.crisis.value ? chosen[0] : null;
    exportsBox.hidden = !single;
    if (single) {
      var query = filterQuery();
      query.delete("crisis");
      var suffix = query.toString() ? "?" + query.toString() : "";
      exportsBox.querySelectorAll("a[data-format]").forEach(function (link) {
        link.href = config.exportUrl.replace("SLUG", single.slug).replace("FMT", link.dataset.format) + suffix;
      });
      var dash = document.getElementById("map-dashboard-link");
      dash.hidden = !single.coordinator;
      dash.querySelector("a").href = config.dashboardUrl.replace("SLUG", single.slug);
    }
  }

  // A crisis without a drawn area is its countries: with no point yet either, the map opens on them.
  function countriesBounds() {
    var bounds = L.latLngBounds([]);
    selectedCrises().forEach(function (crisis) {
      (crisis.countries || []).forEach(function (c) {
        bounds.extend(L.latLng(c.lat, c.lon).toBounds(2 * c.radius_m));
      });
    });
    return bounds;
  }

  function fitToData() {
    var bounds = areas.getBounds();
    if (!bounds.isValid() && !verified.getLayers().length) { bounds = countriesBounds(); }
    if (verified.getLayers().length) {
      var data = verified.getBounds();
      bounds = bounds.isValid() ? bounds.extend(data) : data;
    }
    if (bounds.isValid()) { map.fitBounds(bounds, { maxZoom: 14, padding: [20, 20] }); }
  }

  var lat = parseFloat(params.get("lat"));
  var lon = parseFloat(params.get("lon"));
  var zoom = parseInt(params.get("z"), 10);
  if (isFinite(lat) && isFinite(lon) && isFinite(zoom)) {
    map.setView([lat, lon], zoom);
  } else {
    map.setView([20, 0], 2);
  }
  map.on("moveend", function () {
    var centre = map.getCenter();
    setParam("lat", centre.lat.toFixed(5));
    setParam("lon", centre.lng.toFixed(5));
    setParam("z", String(map.getZoom()));
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    FILTERS.forEach(function (name) { setParam(name, form.elements[name].value.trim()); });
    params = new URLSearchParams(window.location.search);
    params.delete("z");  // a new selection: fit to it
    loadAll();
  });
  form.elements.crisis.addEventListener("change", function () { form.requestSubmit(); });
  form.elements.hazard.addEventListener("change", function () { form.requestSubmit(); });
  form.elements.confidence.addEventListener("change", function () { form.requestSubmit(); });

  loadAll();
})();
