/* Coordinator dashboard: fetches the crisis's statistics (at most refreshSeconds old, polled at that period while
 * the page is visible) and draws small SVG charts. Values go into the page as text nodes and SVG attributes only.
 * Each load is also sent as a "dashboard:data" event on the document, for sections with scripts of their own. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("dashboard-config").textContent);
  var S = config.strings;  // every word the charts and tables show, translated by the server
  var NS = "http://www.w3.org/2000/svg";

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) { node.textContent = String(text); }
    return node;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined) { return "–"; }
    return typeof value === "number" ? value.toFixed(digits === undefined ? 2 : digits) : String(value);
  }

  function funnel(target, steps) {
    var max = Math.max.apply(null, steps.map(function (s) { return s.count; }).concat([1]));
    var width = 420, bar = 22, gap = 6, label = 90;
    var chart = svg("svg", { viewBox: "0 0 " + width + " " + steps.length * (bar + gap), role: "img", class: "dash-svg" });
    steps.forEach(function (step, i) {
      var y = i * (bar + gap);
      var w = Math.max(2, (width - label - 60) * step.count / max);
      chart.appendChild(svg("text", { x: 0, y: y + 15, class: "dash-label" }, S.funnel[step.step] || step.step));
      chart.appendChild(svg("rect", { x: label, y: y, width: w, height: bar, class: "dash-bar" }));
      chart.appendChild(svg("text", { x: label + w + 4, y: y + 15, class: "dash-value" }, step.count));
    });
    target.replaceChildren(chart);
  }

  function throughput(target, data) {
    var width = 460, height = 160, pad = 24;
    var series = [
      { name: S.ratings, values: data.answers.rating, cls: "dash-line-rating" },
      { name: S.geolocations, values: data.answers.geolocation, cls: "dash-line-geo" },
      { name: S.reviews, values: data.answers.review, cls: "dash-line-review" },
      { name: S.located, values: data.geolocated, cls: "dash-line-located" },
    ];
    var max = 1;
    series.forEach(function (s) { s.values.forEach(function (v) { max = Math.max(max, v); }); });
    var n = data.hours.length;
    var chart = svg("svg", { viewBox: "0 0 " + width + " " + (height + 30), role: "img", class: "dash-svg" });
    chart.appendChild(svg("line", { x1: pad, y1: height, x2: width, y2: height, class: "dash-axis" }));
    chart.appendChild(svg("text", { x: 0, y: 12, class: "dash-value" }, max));
    series.forEach(function (s, k) {
      var points = s.values.map(function (v, i) {
        return (pad + (width - pad) * i / Math.max(1, n - 1)).toFixed(1) + "," + (height - (height - 10) * v / max).toFixed(1);
      }).join(" ");
      chart.appendChild(svg("polyline", { points: points, class: "dash-line " + s.cls }));
      chart.appendChild(svg("text", { x: pad + k * 105, y: height + 22, class: "dash-label " + s.cls }, "— " + s.name));
    });
    target.replaceChildren(chart);
  }

  function numbers(target, pairs) {
    var list = el("dl");
    pairs.forEach(function (pair) { list.appendChild(el("dt", pair[0])); list.appendChild(el("dd", pair[1])); });
    target.replaceChildren(list);
  }

  var LABEL_ORDER = ["easy", "medium", "difficult", "impossible", "unscored"];

  function difficulty(target, table, groups) {
    target.replaceChildren();
    table.replaceChildren();
    var head = el("tr");
    [S.predicted, S.images, S.medianTimeOnTask, S.shareHigh, S.medianTimeToGeolocate]
      .forEach(function (h) { head.appendChild(el("th", h)); });
    table.appendChild(head);
    var labels = Object.keys(groups).sort(function (a, b) { return LABEL_ORDER.indexOf(a) - LABEL_ORDER.indexOf(b); });
    var tmax = 60;
    labels.forEach(function (label) {
      groups[label].points.forEach(function (p) { if (p[1] !== null) { tmax = Math.max(tmax, p[1]); } });
    });
    labels.forEach(function (label) {
      var group = groups[label];
      var width = 260, height = 200, left = 36, bottom = 24;
      var panel = el("figure", null, "dash-panel");
      var chart = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img", class: "dash-svg" });
      chart.appendChild(svg("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom, class: "dash-axis" }));
      chart.appendChild(svg("line", { x1: left, y1: 0, x2: left, y2: height - bottom, class: "dash-axis" }));
      [0, 1, 2].forEach(function (level) {
        var x = left + 20 + level * (width - left - 40) / 2;
        chart.appendChild(svg("text", { x: x - 3, y: height - 6, class: "dash-label" }, level));
      });
      chart.appendChild(svg("text", { x: 0, y: 10, class: "dash-label" }, Math.round(tmax) + " s"));
      group.points.forEach(function (p, i) {
        if (p[0] === null || p[1] === null) { return; }
        var jitter = ((i * 37) % 21 - 10) * 1.5;  // deterministic spread of a column of points
        var x = left + 20 + p[0] * (width - left - 40) / 2 + jitter;
        var y = (height - bottom) - (height - bottom - 8) * p[1] / tmax;
        var r = 2 + 8 * Math.sqrt(p[1] / tmax);
        chart.appendChild(svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: r.toFixed(1), class: "dash-dot dash-" + label }));
      });
      panel.appendChild(chart);
      panel.appendChild(el("figcaption", (S.labels[label] || label) + " (" + group.n + ")"));
      target.appendChild(panel);
      var tr = el("tr");
      [S.labels[label] || label, group.n, fmt(group.median_time_on_task_s, 0), fmt(group.share_high_precision),
        group.median_time_to_geolocate_s === null ? "–" : fmt(group.median_time_to_geolocate_s / 60, 1)]
        .forEach(function (v) { tr.appendChild(el("td", v)); });
      table.appendChild(tr);
    });
    if (!labels.length) { target.appendChild(el("p", S.noGeolocated)); }
  }

  function checks(data) {
    if (!data) { return; }
    document.getElementById("dash-checks-rule").textContent = data.requires_record
      ? S.checksRule.replace("{n}", data.min_record) : S.checksRuleOff;
    numbers(document.getElementById("dash-checks"), [
      [S.awaitingCheck, data.awaiting_check],
      [S.awaitingReview, data.awaiting_review],
      [S.oldestWaiting, fmt(data.longest_wait_minutes, 0)],
      [S.checkersActive, data.checkers_active],
      [S.coordinatorOnly, data.coordinator_only],
    ]);
    document.getElementById("dash-checks-alert").hidden = !data.coordinator_only;
  }

  function forecast(target, notes, data) {
    notes.replaceChildren();
    if (!data) { target.replaceChildren(el("p", S.noForecast)); return; }
    if (!data.answers_per_volunteer_hour) {
      target.replaceChildren(el("p", S.noAnswersWindow.replace("{hours}", data.window_hours)));
    } else {
      var pairs = [
        [S.activeVolunteersHour, data.active_volunteers],
        [S.answersPerVolunteerHour, fmt(data.answers_per_volunteer_hour, 1)],
        [S.answersPerPublished, fmt(data.answers_per_published_image, 1)],
      ];
      Object.keys(data.published_within).forEach(function (h) { pairs.push([S.publishedWithin.replace("{hours}", h), data.published_within[h]]); });
      pairs.push([S.hoursToClear, fmt(data.clear_easy_medium_hours, 1)]);
      Object.keys(data.volunteers_needed).forEach(function (h) {
        pairs.push([S.volunteersNeeded.replace("{hours}", h), data.volunteers_needed[h]]);
      });
      numbers(target, pairs);
    }
    (data.assumptions || []).forEach(function (text) { notes.appendChild(el("li", text)); });
  }

  function draw(body) {
    var data = body.data;
    funnel(document.getElementById("dash-funnel"), data.funnel);
    throughput(document.getElementById("dash-throughput"), data.throughput);
    numbers(document.getElementById("dash-volunteers"), [
      [S.activeLastHour, data.volunteers.last_hour],
      [S.activeLastDay, data.volunteers.last_day],
      [S.allTime, data.volunteers.total],
      [S.textGuesses, data.text_guesses],
    ]);
    var agreement = data.rating_agreement || {};
    numbers(document.getElementById("dash-agreement"), [
      [S.fleiss, fmt(agreement.fleiss_kappa)],
      [S.krippendorff, fmt(agreement.krippendorff_alpha_ordinal)],
      [S.warningRate, fmt(agreement.warning_rate)],
      [S.ratingsCount, fmt(agreement.n_ratings, 0)],
    ]);
    checks(data.checks);
    difficulty(document.getElementById("dash-difficulty"), document.getElementById("dash-difficulty-table"), data.by_difficulty);
    forecast(document.getElementById("dash-forecast"), document.getElementById("dash-forecast-assumptions"), data.forecast);
  }

  var strings = S;
  var stamp = document.getElementById("dash-computed");
  var computedAt = null;
  var ageAt = null;  // [the data's age when received, in s; Date.now() then]: no trust in the clocks agreeing
  var failed = false;
  var timer = null;

  function showAge() {
    if (!computedAt) { stamp.textContent = strings.loading || ""; return; }
    var age = Math.max(0, Math.round(ageAt[0] + (Date.now() - ageAt[1]) / 1000));
    var text = failed ? strings.failed : strings.dataOf;
    stamp.textContent = text.replace("{time}", computedAt.toLocaleTimeString()).replace("{age}", String(age));
  }

  function schedule() {
    clearTimeout(timer);
    if (!document.hidden) { timer = setTimeout(load, config.refreshSeconds * 1000); }
  }

  function load() {
    clearTimeout(timer);
    fetch(config.dataUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (body) {
        failed = false;
        computedAt = new Date(body.computed_at);
        ageAt = [body.age_seconds || 0, Date.now()];
        draw(body);
        document.dispatchEvent(new CustomEvent("dashboard:data", { detail: body }));
      })
      .catch(function () { failed = true; })
      .finally(function () { showAge(); schedule(); });
  }

  document.getElementById("dash-refresh").addEventListener("click", load);
  // A hidden tab asks for nothing; back in view, it catches up at once.
  document.addEventListener("visibilitychange", function () { if (document.hidden) { clearTimeout(timer); } else { load(); } });
  setInterval(showAge, 1000);
  load();
})();
