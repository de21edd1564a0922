/* claimlens console: local times, keyboard shortcuts, heatmap viewer, analysis progress, upload checks. */
(function () {
  "use strict";
  var lang = document.body.dataset.lang === "zh" ? "zh-CN" : "en";
  var QUEUE_KEY = "claimlens.queue";

  // Times arrive as UTC ISO strings; show them in the viewer's zone and language.
  function formatTimes(root) {
    var fmt = new Intl.DateTimeFormat(lang, {year: "numeric", month: "short", day: "numeric", hour: "2-digit",
                                             minute: "2-digit", timeZoneName: "short"});
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.textContent = fmt.format(d); el.dataset.formatted = "1"; }
    });
  }

  function typing(e) {
    var t = e.target;
    if (!t) return false;
    if (t.tagName === "INPUT") return !/^(range|checkbox|radio|button|submit|reset|file)$/.test(t.type);
    return t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable;
  }

  // Review queue: j / k move, Enter opens; the order is kept for j / k on the case pages.
  function initQueue() {
    var table = document.getElementById("queue");
    if (!table) return;
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr.row"));
    try { sessionStorage.setItem(QUEUE_KEY, JSON.stringify(rows.map(function (r) { return r.dataset.id; }))); } catch (e) {}
    var i = 0;
    function select(n) {
      if (!rows.length) return;
      i = Math.max(0, Math.min(rows.length - 1, n));
      rows.forEach(function (r, k) { r.classList.toggle("selected", k === i); });
      rows[i].scrollIntoView({block: "nearest"});
    }
    select(0);
    rows.forEach(function (r, k) { r.addEventListener("click", function (e) { if (e.target.tagName !== "A") location.href = r.dataset.href; }); });
    document.addEventListener("keydown", function (e) {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "j") { select(i + 1); e.preventDefault(); }
      else if (e.key === "k") { select(i - 1); e.preventDefault(); }
      else if (e.key === "Enter" && rows[i]) { location.href = rows[i].dataset.href; }
    });
  }

  // Case page ------------------------------------------------------------------------------
  var zoomIndex = -1;

  function initViewer() {
    var toggle = document.getElementById("overlay-toggle");
    var overlay = document.getElementById("overlay-img");
    if (toggle && overlay) {
      toggle.addEventListener("change", function () { overlay.classList.toggle("hidden", !toggle.checked); });
    }
    document.querySelectorAll(".zoom-btn").forEach(function (b, k) {
      b.addEventListener("click", function () { zoomTo(k); });
    });
    var reset = document.getElementById("zoom-reset");
    if (reset) reset.addEventListener("click", function () { zoomTo(-1); });
    var slider = document.getElementById("compare-slider");
    var cmp = document.getElementById("compare");
    if (slider && cmp) {
      slider.addEventListener("input", function () { cmp.style.setProperty("--pos", slider.value + "%"); });
    }
  }

  function toggleOverlay() {
    var toggle = document.getElementById("overlay-toggle");
    if (!toggle) return;
    toggle.checked = !toggle.checked;
    toggle.dispatchEvent(new Event("change"));
  }

  function zoomTo(k) {
    var box = document.getElementById("claim-zoom");
    var buttons = document.querySelectorAll(".zoom-btn");
    if (!box) return;
    buttons.forEach(function (b, n) { b.classList.toggle("active", n === k); });
    zoomIndex = k;
    if (k < 0 || !buttons[k]) { box.style.transform = ""; box.dataset.zoom = ""; return; }
    var d = buttons[k].dataset;
    var x = +d.x, y = +d.y, w = +d.w, h = +d.h;
    var s = Math.max(1, Math.min(8, 0.5 / Math.max(w, h, 0.01)));
    var cx = x + w / 2, cy = y + h / 2;
    var tx = Math.min(0, Math.max(1 - s, 0.5 - cx * s)), ty = Math.min(0, Math.max(1 - s, 0.5 - cy * s));
    box.style.transform = "translate(" + (tx * 100) + "%, " + (ty * 100) + "%) scale(" + s + ")";
    box.dataset.zoom = String(k + 1);
  }

  function neighbour(step) {
    var c = document.getElementById("case");
    var id = c.dataset.claim, list = null;
    try { list = JSON.parse(sessionStorage.getItem(QUEUE_KEY) || "null"); } catch (e) {}
    if (list && list.indexOf(id) >= 0) {
      var n = list[list.indexOf(id) + step];
      return n ? c.dataset.prefix + "/claims/" + n : null;
    }
    var other = step > 0 ? c.dataset.next : c.dataset.prev;
    return other ? c.dataset.prefix + "/claims/" + other : null;
  }

  function chooseDecision(key) {
    var radio = document.querySelector('#decide-form input[name="action"][data-key="' + key + '"]');
    if (!radio) return false;
    radio.checked = true;
    radio.dispatchEvent(new Event("change", {bubbles: true}));
    var reason = document.getElementById("reason");
    if (reason) reason.focus();
    return true;
  }

  function initCaseKeys() {
    if (!document.getElementById("case")) return;
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && typing(e)) { e.target.blur(); return; }
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.id === "reason") {
        var f = document.getElementById("decide-form");
        if (f) { f.requestSubmit ? f.requestSubmit() : f.submit(); }
        e.preventDefault();
        return;
      }
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      var url;
      switch (e.key) {
        case "j": url = neighbour(1); if (url) location.href = url; break;
        case "k": url = neighbour(-1); if (url) location.href = url; break;
        case "h": toggleOverlay(); break;
        case "z": var n = document.querySelectorAll(".zoom-btn").length; if (n) zoomTo((zoomIndex + 1) % n); break;
        case "0": zoomTo(-1); break;
        case "a": case "r": case "m": if (chooseDecision(e.key)) e.preventDefault(); break;
      }
    });
  }

  // Analysis progress: poll the status, then swap the live parts of the page (no reload).
  function initProgress() {
    var c = document.getElementById("case");
    if (!c || c.dataset.running !== "1") return;
    var bar = document.getElementById("progress-bar"), text = document.getElementById("progress-text");
    var url = c.dataset.prefix + "/claims/" + c.dataset.claim + "/status.json";
    function poll() {
      fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (r) { return r.json(); }).then(function (s) {
        if (bar) { bar.max = Math.max(s.total, 1); bar.value = s.done; }
        if (text) text.textContent = s.message;
        if (s.running) { setTimeout(poll, 700); return; }
        c.dataset.running = "0";
        refreshLive();
      }).catch(function () { setTimeout(poll, 2000); });
    }
    poll();
  }

  function refreshLive() {
    fetch(location.pathname + location.search, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        doc.querySelectorAll("[data-live][id]").forEach(function (fresh) {
          var old = document.getElementById(fresh.id);
          if (old) old.replaceWith(document.importNode(fresh, true));
        });
        var main = document.querySelector(".case-main"), freshMain = doc.querySelector(".case-main");
        if (main && freshMain && !document.getElementById("analysis") && freshMain.querySelector("#analysis")) {
          main.replaceWith(document.importNode(freshMain, true));
        }
        var prog = document.getElementById("progress");
        if (prog) prog.classList.remove("hidden");
        formatTimes(document);
        initViewer();
        document.body.dataset.analysed = "1";
      });
  }

  // Upload checks on the claim form, with clear messages before anything is sent.
  function initClaimForm() {
    var form = document.getElementById("claim-form");
    if (!form) return;
    var input = document.getElementById("files"), list = document.getElementById("file-list");
    var box = document.getElementById("form-error");
    var maxFiles = +form.dataset.maxFiles, maxBytes = +form.dataset.maxBytes;
    function problems() {
      var out = [], files = Array.prototype.slice.call(input.files || []);
      if (!files.length) out.push(form.dataset.msgNoPhoto);
      if (files.length > maxFiles) out.push(form.dataset.msgTooMany);
      files.forEach(function (f) {
        if (f.size > maxBytes) out.push(form.dataset.msgTooBig.replace("{name}", f.name));
        if (f.type && !/^(image|video)\//.test(f.type)) out.push(form.dataset.msgType.replace("{name}", f.name));
      });
      return out;
    }
    function show(msgs) {
      box.textContent = msgs.join(" ");
      box.classList.toggle("hidden", !msgs.length);
    }
    input.addEventListener("change", function () {
      list.innerHTML = "";
      Array.prototype.forEach.call(input.files, function (f) {
        var li = document.createElement("li");
        li.textContent = f.name + " (" + Math.ceil(f.size / 1024) + " KB)";
        list.appendChild(li);
      });
      var p = problems();
      show(input.files.length ? p : []);
    });
    form.addEventListener("submit", function (e) {
      var p = problems();
      if (p.length) { e.preventDefault(); show(p); }
    });
  }

  // Drag and drop onto a drop zone fills its file input and sends the form.
  function initDropzones() {
    document.querySelectorAll("[data-drop]").forEach(function (zone) {
      var input = zone.querySelector("input[type=file]");
      ["dragenter", "dragover"].forEach(function (ev) {
        zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.add("over"); });
      });
      ["dragleave", "drop"].forEach(function (ev) {
        zone.addEventListener(ev, function () { zone.classList.remove("over"); });
      });
      zone.addEventListener("drop", function (e) {
        e.preventDefault();
        if (!e.dataTransfer || !e.dataTransfer.files.length) return;
        input.files = e.dataTransfer.files;
        var form = zone.closest("form");
        if (form && form.classList.contains("dropform")) form.submit();
        else input.dispatchEvent(new Event("change"));
      });
      input.addEventListener("change", function () {
        var label = zone.querySelector("span");
        if (label && input.files.length) label.textContent = Array.prototype.map.call(input.files, function (f) { return f.name; }).join(", ");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    [function () { formatTimes(document); }, initQueue, initViewer, initCaseKeys, initProgress, initClaimForm,
     initDropzones].forEach(function (init) {
      try { init(); } catch (e) { if (window.console) console.error(e); }
    });
    document.body.dataset.ready = "1";
  });
})();
