/* Crowd task pages: lease countdown and heartbeat, answering and skipping through the API, rating keys.
   Everything the server knows comes from the json_script "task-data"; translated texts from "task-messages". */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("task-data").textContent);
  var msg = JSON.parse(document.getElementById("task-messages").textContent);
  var csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  var statusEl = document.getElementById("crowd-status");
  var countdown = document.getElementById("lease-countdown");
  var remainingEl = document.getElementById("lease-remaining");
  var expiresAt = Date.now() + data.seconds_left * 1000;
  var visibleMs = 0;
  var lastTick = Date.now();
  var busy = false;
  var ready = false;  // set once the page's own script has set itself up (Crowd.ready)
  var released = false;
  // Every answer and skip reloads the page to bring the next image: it opens at the top, on the photo, its text
  // and the "saved" line, not scrolled down where the last image's Submit button was.
  if ("scrollRestoration" in window.history) { window.history.scrollRestoration = "manual"; }

  // --- When something breaks: say so in words and offer a way on, never a silent dead page. ---
  var problemBox = document.getElementById("page-problem");
  function release(reason) {
    // The task goes back to the others and this volunteer is not handed it again: a reload shows a new image.
    if (released) { return Promise.resolve(); }
    released = true;
    return post(data.urls.skip, {page_error: String(reason || "").slice(0, 300)}).catch(function () { return null; });
  }
  function problem(detail, fatal) {
    document.getElementById("page-problem-detail").textContent = detail || "";
    if (problemBox.hidden) {
      problemBox.hidden = false;
      document.getElementById("page-problem-skip").focus();
    }
    if (fatal || !ready) { release(detail); }  // the page never worked: this task cannot be done here
  }
  function watchImage(image) {
    // A photo that cannot be shown cannot be answered (even if it failed before this script ran).
    function failed() { problem(msg.image_failed, true); }
    image.addEventListener("error", failed);
    if (image.complete && image.naturalWidth === 0 && image.getAttribute("src")) { failed(); }
  }
  window.addEventListener("error", function (event) { problem(event.message || msg.page_broken); });
  window.addEventListener("unhandledrejection", function (event) {
    problem(event.reason && event.reason.message ? event.reason.message : String(event.reason));
  });
  document.getElementById("page-problem-skip").addEventListener("click", function () {
    busy = false;
    release(document.getElementById("page-problem-detail").textContent).then(function () { next(0); });
  });
  document.getElementById("page-problem-reload").addEventListener("click", function () {
    release(document.getElementById("page-problem-detail").textContent).then(function () { next(0); });
  });

  // The confirmation of the last answer outlives the reload that brings the next image.
  try {
    var saved = window.sessionStorage.getItem("crowd.saved");
    if (saved) {
      window.sessionStorage.removeItem("crowd.saved");
      document.getElementById("crowd-saved").textContent = saved;
      document.getElementById("crowd-saved").hidden = false;
    }
  } catch (e) { /* storage off: the status line said it before the reload */ }
  function remember(text) {
    try { window.sessionStorage.setItem("crowd.saved", text); } catch (e) { /* ignore */ }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json"},
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        return {status: response.status, ok: response.ok, body: json};
      });
    });
  }

  function say(text, kind) {
    statusEl.textContent = text;
    statusEl.className = "crowd-status" + (kind ? " crowd-" + kind : "");
  }

  function clock(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function tick() {
    var now = Date.now();
    if (!document.hidden) { visibleMs += now - lastTick; }
    lastTick = now;
    var left = Math.max(0, Math.round((expiresAt - now) / 1000));
    remainingEl.textContent = clock(left);
    countdown.classList.toggle("crowd-expiring", left > 0 && left < 60);
    countdown.classList.toggle("crowd-expired", left === 0);
    if (left === 0) { countdown.title = msg.expired_soft; }
  }
  setInterval(tick, 1000);
  tick();

  function heartbeat() {
    if (document.hidden || busy) { return; }
    post(data.urls.heartbeat).then(function (r) {
      if (r.ok) {
        expiresAt = Date.now() + r.body.seconds_left * 1000;
        tick();
      } else if (r.body && r.body.code === "lease_expired") {
        say(msg.expired, "error");
      }
    }, function () { say(msg.offline, "error"); });
  }
  setInterval(heartbeat, Math.max(10, data.heartbeat_seconds) * 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { heartbeat(); } });

  function errorText(r) {
    if (r.body && typeof r.body.detail === "string") { return r.body.detail; }
    if (r.body && typeof r.body === "object") {
      return Object.keys(r.body).map(function (k) { return k + ": " + [].concat(r.body[k]).join(" "); }).join("; ");
    }
    return msg.failed;
  }

  function extras() {
    var note = document.getElementById("answer-note");
    var reason = document.getElementById("report-reason");
    return {note: note ? note.value : "", report_reason: reason ? reason.value : ""};
  }

  function next(delay) {
    setTimeout(function () { window.location.reload(); }, delay || 0);
  }

  // After an answer, and only then (independence), the volunteer may see how the others answered.
  var showOthers = document.getElementById("show-others");
  var othersPanel = document.getElementById("others-panel");
  try { showOthers.checked = window.localStorage.getItem("crowd.showOthers") === "1"; } catch (e) { /* private mode */ }
  showOthers.addEventListener("change", function () {
    try { window.localStorage.setItem("crowd.showOthers", showOthers.checked ? "1" : "0"); } catch (e) { /* ignore */ }
  });

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) { return name in values ? values[name] : all; });
  }

  function othersLines(others) {
    var lines = [];
    var counts = others.kind === "rating" ? others.difficulties : others.verdicts;
    var labels = others.kind === "rating" ? msg.difficulty : msg.verdict;
    Object.keys(counts).forEach(function (value) { lines.push((labels[value] || value) + ": " + counts[value]); });
    others.pins.forEach(function (pin) {
      var precision = msg.precision[pin.precision] || pin.precision;
      lines.push(pin.distance_m === null
        ? fill(msg.others_pin_no_own, {precision: precision})
        : fill(msg.others_pin, {distance: Math.round(pin.distance_m).toLocaleString(), precision: precision}));
    });
    if (others.cannot) { lines.push(fill(msg.others_cannot, {n: others.cannot})); }
    return lines;
  }

  function showOthersAnswers(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (others) {
      document.getElementById("others-summary").textContent =
        others.total ? fill(msg.others_count, {n: others.total}) : msg.others_first;
      var list = document.getElementById("others-list");
      list.textContent = "";
      othersLines(others).forEach(function (line) {
        var item = document.createElement("li");
        item.textContent = line;  // text only: nothing from the server is parsed as HTML
        list.appendChild(item);
      });
    }, function () {
      document.getElementById("others-summary").textContent = msg.others_failed;
    }).then(function () {
      othersPanel.hidden = false;
      document.getElementById("others-next").focus();
    });
  }
  document.getElementById("others-next").addEventListener("click", function () { next(0); });  // focused: Enter

  function submit(fields) {
    if (busy) { return Promise.resolve(null); }
    busy = true;
    var body = Object.assign(
      {lease_id: data.lease_id, kind: data.kind, time_on_task_s: Math.round(visibleMs / 100) / 10}, extras(), fields
    );
    say(msg.sending);
    return post(data.urls.answer, body).then(function (r) {
      if (r.status === 201) {
        released = true;
        remember(msg.saved);
        if (showOthers.checked) {
          say(r.body.feedback || "", "ok");
          showOthersAnswers(r.body.others_url);
        } else if (r.body.feedback) { say(r.body.feedback, "ok"); next(3000); } else { say(msg.thanks, "ok"); next(300); }
        return r;
      }
      busy = false;
      var code = r.body && r.body.code;
      if (code === "lease_expired") {
        say(msg.expired_gone, "error");
        busy = true;
        next(4000);
      } else if (code === "already_answered" || code === "lease_closed") {
        say(errorText(r), "error");
        next(1500);
      } else if (code === "pin_changed") {
        say(msg.pin_changed, "error");  // the lease stays open: the page comes back with the new pin to check
        busy = true;
        next(2500);
      } else if (r.status >= 500) {
        say(msg.server_error, "error");
      } else {
        say(errorText(r), "error");
      }
      return r;
    }, function () { busy = false; say(msg.offline, "error"); return null; });
  }

  function skip() {
    if (busy) { return; }
    busy = true;
    post(data.urls.skip, {report_reason: extras().report_reason}).then(function (r) {
      if (r.ok || (r.body && r.body.code)) {
        released = true;
        say(msg.skipped);
        next(200);
      } else { busy = false; say(errorText(r), "error"); }
    }, function () { busy = false; say(msg.offline, "error"); });
  }

  function isTyping(event) {
    var t = event.target;
    if (!t || !t.tagName) { return false; }
    if (t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable) { return true; }
    return t.tagName === "INPUT" && ["radio", "checkbox", "range", "button"].indexOf(t.type) === -1;
  }

  document.getElementById("skip-button").addEventListener("click", skip);

  if (data.kind === "rating") {
    document.querySelectorAll(".crowd-answer").forEach(function (button) {
      button.addEventListener("click", function () {
        button.classList.add("crowd-pressed");
        submit({difficulty: button.dataset.difficulty});
      });
    });
    document.addEventListener("keydown", function (event) {
      if (isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) { return; }
      var button = document.querySelector('.crowd-answer[data-key="' + event.key + '"]');
      if (button) {
        event.preventDefault();
        button.click();
      } else if (event.key === "s" || event.key === "S") {
        event.preventDefault();
        skip();
      }
    });
  }

  window.Crowd = {
    data: data, msg: msg, post: post, say: say, submit: submit, skip: skip, isTyping: isTyping, problem: problem,
    watchImage: watchImage, ready: function () { ready = true; }
  };
  if (data.kind === "rating") {
    watchImage(document.getElementById("task-image"));
    ready = true;
  }
})();
