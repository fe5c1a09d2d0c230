/* Inklock review: keyboard-first confirmation. No inline script anywhere (CSP);
 * the server is the truth, this file only reads the controls and posts them. */
(function () {
  "use strict";

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  // Forms that need a deliberate second thought (discard a page).
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });

  var root = document.querySelector("[data-review]");
  if (!root) { return; }
  var base = root.getAttribute("data-base");
  var current = null;
  var busy = new Set();

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("article.field")); }
  function isConfirmed(row) { return row.getAttribute("data-status") === "confirmed"; }
  // Done for the queue: confirmed, or a private note kept as its handwriting.
  function isDone(row) { return isConfirmed(row) || row.getAttribute("data-status") === "kept"; }
  // WCAG 2.1.4: single-character shortcuts can be turned off (remembered in this browser).
  var KEYS_PREF = "inklock-single-keys";
  function singleKeysOn() {
    try { return window.localStorage.getItem(KEYS_PREF) !== "off"; } catch (err) { return true; }
  }
  var armed = null;  // a flagged value whose confirmation waits for a second, deliberate press
  var flaggedAsShown = new WeakMap();  // each range-flagged row's value as first shown (see checkFirst)
  function textBox(row) { return row.querySelector(".text-in"); }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.status === 401 && data.locked) {
          window.location.href = data.unlock + "?next=" + encodeURIComponent(window.location.pathname);
          throw new Error("locked");
        }
        if (!r.ok || !data.ok) { throw new Error(data.error || ("The server refused this (" + r.status + ")."));
        }
        return data;
      });
    });
  }

  // -- what the row shows, as typed text (the server checks it: store.parse_value)
  function typedOf(row) {
    var kind = row.getAttribute("data-kind");
    if (kind === "checkbox") { return row.querySelector("input.opt-in").checked ? "yes" : "no"; }
    if (kind === "choice") {
      return Array.prototype.map.call(row.querySelectorAll("input.opt-in:checked"), function (i) { return i.value; })
        .filter(function (v) { return v !== ""; }).join(",");
    }
    if (kind === "scale") {
      var c = row.querySelector("input.opt-in:checked");
      return c ? c.value : "none";
    }
    return textBox(row).value;
  }

  function needsTyping(row) {
    // A doubtful reading is offered beside an empty box: Enter must not confirm the empty box.
    var box = textBox(row);
    return row.hasAttribute("data-suggestion") && box && box.value.trim() === "";
  }

  // -- focus and the page overlay
  function showPage(n) {
    Array.prototype.forEach.call(document.querySelectorAll("figure.sheet"), function (f) {
      f.hidden = f.getAttribute("data-page") !== String(n);
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-show-page]"), function (b) {
      b.classList.toggle("active", b.getAttribute("data-show-page") === String(n));
    });
  }

  function select(row, keepFocus) {
    if (!row) { return; }
    if (current) { current.classList.remove("current"); }
    current = row;
    row.classList.add("current");
    Array.prototype.forEach.call(document.querySelectorAll("rect.box.current"), function (r) { r.classList.remove("current"); });
    var rect = document.querySelector('rect.box[data-key="' + row.getAttribute("data-key") + '"]');
    if (rect) { rect.classList.add("current"); }
    showPage(row.getAttribute("data-page"));
    if (armed && armed.row !== row) { armed = null; }
    if (!keepFocus) { row.focus({ preventScroll: true }); }
    row.scrollIntoView({ block: "center" });
    hints();
  }

  // The hint bar names exactly the keys that work for the current row and focus.
  function hints(editing) {
    var bar = document.getElementById("keys");
    if (!bar) { return; }
    var row = current;
    var t = document.activeElement;
    if (editing === undefined) { editing = !!(t && t.closest && t.closest("fieldset.ctl")); }
    var box = row ? textBox(row) : null;
    var waiting = row && !isConfirmed(row);
    var on = {
      row: !!row && !editing,
      waiting: waiting && !editing,
      editing: waiting && editing,
      "editing-line": waiting && editing && !(box && box.tagName === "TEXTAREA"),
      "editing-text": waiting && editing && !!(box && box.tagName === "TEXTAREA"),
      "editing-options": waiting && editing && !!t && t.type === "radio",
      "editing-ticks": waiting && editing && !!t && t.type === "checkbox",
      suggestion: waiting && !editing && row.hasAttribute("data-suggestion"),
      alternative: waiting && !editing && row.hasAttribute("data-alternative"),
      keepable: waiting && !editing && row.hasAttribute("data-keepable") && row.getAttribute("data-status") !== "kept",
      "keep-all": !editing && !!document.getElementById("keep-private") && !document.getElementById("keep-private").hidden,
      tick: waiting && !editing && row.getAttribute("data-kind") === "checkbox",
      bulk: waiting && !editing && !!row.closest(".field-section[data-bulk=true]"),
      confirmed: !!row && !editing && isConfirmed(row)
    };
    var letters = singleKeysOn();
    Array.prototype.forEach.call(bar.querySelectorAll("[data-when]"), function (el) {
      el.hidden = !on[el.getAttribute("data-when")] || (el.hasAttribute("data-single") && !letters);
    });
  }

  function move(delta) {
    var list = rows();
    var i = list.indexOf(current);
    var j = Math.max(0, Math.min(list.length - 1, i + delta));
    select(list[j]);
  }

  function nextWaiting(from) {
    var list = rows();
    var start = list.indexOf(from);
    var ordered = list.slice(start + 1).concat(list.slice(0, Math.max(start, 0)));
    for (var k = 0; k < ordered.length; k++) {
      if (!isDone(ordered[k]) && !busy.has(ordered[k])) { return ordered[k]; }
    }
    return null;
  }

  function goNext(from) {
    var next = nextWaiting(from);
    if (next) { select(next); return; }
    var link = document.getElementById("note-link");
    if (link) { link.focus(); }
  }

  function say(row, text, bad) {
    var el = row.querySelector("[data-msg]");
    if (el) { el.textContent = text; el.classList.toggle("bad", !!bad); }
  }

  var lastStamp = 0;  // answers can arrive out of order: only newer counts replace older ones
  function counts(d) {
    var newer = typeof d.stamp !== "number" || d.stamp > lastStamp;
    if (newer && typeof d.stamp === "number") { lastStamp = d.stamp; }
    if (newer) { showCounts(d); }
    var keepAll = document.getElementById("keep-private");
    if (keepAll && !rows().some(function (r) { return r.hasAttribute("data-keepable") && !isDone(r); })) {
      keepAll.hidden = true;
    }
  }

  function showCounts(d) {
    var p = document.querySelector('[data-count="pending"]');
    var q = document.querySelector('[data-count="progress"]');
    if (p && typeof d.pending === "number") { p.textContent = d.pending; }
    if (q && typeof d.progress_pending === "number") { q.textContent = d.progress_pending; }
    var link = document.getElementById("note-link");
    if (link && d.progress_pending === 0) { link.classList.remove("is-disabled"); link.classList.add("btn-primary"); }
    var done = document.getElementById("all-done");
    if (done && d.pending === 0) { done.hidden = false; }
  }

  function markKept(row) {
    row.setAttribute("data-status", "kept");
    row.classList.remove("is-pending");
    row.classList.add("is-kept");
    var btn = row.querySelector('[data-act="keep"]');
    if (btn) { btn.hidden = true; }
    row.querySelector("[data-status-label]").textContent = "Kept as written";
    var rect = document.querySelector('rect.box[data-key="' + row.getAttribute("data-key") + '"]');
    if (rect) { rect.classList.remove("is-pending", "is-attention"); rect.classList.add("is-kept"); }
    say(row, "Kept as written: the handwriting is the record; its reading stays searchable, unverified.");
  }

  function keepRow(row) {
    if (!row || isDone(row) || busy.has(row)) { return; }
    if (!row.hasAttribute("data-keepable")) {
      say(row, "Only a private handwritten note can be kept as written; this one feeds the progress note.", true);
      return;
    }
    busy.add(row);
    goNext(row);
    post(base + "/field/" + encodeURIComponent(row.getAttribute("data-key")) + "/keep", {})
      .then(function (d) { markKept(row); counts(d); })
      .catch(function (err) { if (err.message !== "locked") { say(row, err.message, true); select(row); } })
      .then(function () { busy.delete(row); hints(); });
  }

  function keepAllPrivate() {
    var targets = rows().filter(function (r) { return r.hasAttribute("data-keepable") && !isDone(r) && !busy.has(r); });
    if (!targets.length) { return; }
    targets.forEach(function (r) { busy.add(r); });
    post(base + "/keep-private", {})
      .then(function (d) {
        var kept = new Set(d.kept || []);
        var empty = new Set(d.empty || []);  // nothing written: confirmed empty, not kept
        targets.forEach(function (r) {
          var key = r.getAttribute("data-key");
          if (kept.has(key)) { markKept(r); } else if (empty.has(key)) { markConfirmed(r, ""); }
        });
        counts(d);
        targets.forEach(function (r) { busy.delete(r); });
        if (current && isDone(current)) { goNext(current); }
        hints();
      })
      .catch(function (err) {
        targets.forEach(function (r) { busy.delete(r); });
        if (err.message !== "locked" && current) { say(current, err.message, true); }
      });
  }

  // A value a range check flagged: the first press explains, only a second one confirms it as shown.
  function checkFirst(row, what) {
    if (!row.hasAttribute("data-check")) { return false; }
    // What the clinician typed or chose instead is confirmed at once: the check was about the value shown.
    if (flaggedAsShown.has(row) && typedOf(row) !== flaggedAsShown.get(row)) { return false; }
    if (armed && armed.row === row && armed.what === what) { armed = null; return false; }
    armed = { row: row, what: what };
    say(row, row.getAttribute("data-check-why"), true);
    return true;
  }

  function markConfirmed(row, text) {
    row.setAttribute("data-status", "confirmed");
    row.classList.remove("is-pending");
    row.classList.add("is-confirmed");
    var box = textBox(row);
    if (box && typeof text === "string") { box.value = text; }
    row.querySelector("fieldset.ctl").disabled = true;
    Array.prototype.forEach.call(row.querySelectorAll("[data-suggestion-box]"), function (b) { b.hidden = true; });
    row.querySelector('[data-act="confirm"]').hidden = true;
    row.querySelector('[data-act="reopen"]').hidden = false;
    var keepBtn = row.querySelector('[data-act="keep"]');
    if (keepBtn) { keepBtn.hidden = true; }
    row.classList.remove("is-kept");
    row.querySelector("[data-status-label]").textContent = "Confirmed";
    var rect = document.querySelector('rect.box[data-key="' + row.getAttribute("data-key") + '"]');
    if (rect) { rect.classList.remove("is-pending", "is-attention"); rect.classList.add("is-confirmed"); }
    say(row, "");
  }

  function confirmRow(row, advance, byButton, checked) {
    if (!row) { return; }
    if (isConfirmed(row)) { if (advance) { goNext(row); } return; }
    if (busy.has(row)) { return; }
    if (needsTyping(row) && !byButton) {
      // Pressing Enter repeatedly must never confirm a doubtful field as empty.
      say(row, "Type what is written (Esc then s uses the machine reading). To confirm it empty, Tab to its Confirm button and press Enter.", true);
      edit(row);
      return;
    }
    if (!byButton && !checked && checkFirst(row, "confirm")) { return; }
    var typed = typedOf(row);
    busy.add(row);
    row.classList.add("saving");
    if (advance) { goNext(row); }
    post(base + "/field/" + encodeURIComponent(row.getAttribute("data-key")) + "/confirm", { typed: typed })
      .then(function (d) { markConfirmed(row, d.text); counts(d); })
      .catch(function (err) {
        // Refused (a value out of range, say): back in the box to put it right, not one key away.
        if (err.message !== "locked") { say(row, err.message, true); edit(row); }
      })
      .then(function () { busy.delete(row); row.classList.remove("saving"); });
  }

  function confirmSection(row) {
    var section = row.closest(".field-section");
    if (!section) { return; }
    if (section.getAttribute("data-bulk") !== "true") {
      say(row, "Fields that need a closer look are confirmed one by one (Enter).", true);
      return;
    }
    var targets = Array.prototype.filter.call(section.querySelectorAll("article.field"), function (r) {
      // Risk answers and range-flagged values are never part of a bulk confirmation (the server refuses them too).
      return !isConfirmed(r) && !busy.has(r) && !needsTyping(r) && !r.hasAttribute("data-risk") &&
        !r.hasAttribute("data-check");
    });
    if (!targets.length) { goNext(row); return; }
    var title = section.querySelector("h2").textContent;
    if (!window.confirm("Confirm all " + targets.length + " waiting fields of \u201c" + title + "\u201d as shown?")) { return; }
    var items = targets.map(function (r) { return { key: r.getAttribute("data-key"), typed: typedOf(r) }; });
    targets.forEach(function (r) { busy.add(r); r.classList.add("saving"); });
    post(base + "/confirm-many", { fields: items })
      .then(function (d) {
        targets.forEach(function (r) { markConfirmed(r, d.texts[r.getAttribute("data-key")]); });
        counts(d);
        targets.forEach(function (r) { busy.delete(r); r.classList.remove("saving"); });
        goNext(targets[targets.length - 1]);
      })
      .catch(function (err) {
        targets.forEach(function (r) { busy.delete(r); r.classList.remove("saving"); });
        if (err.message !== "locked") { say(row, err.message, true); }
      });
  }

  function edit(row) {
    if (!row || isConfirmed(row)) { return; }
    select(row, true);
    var box = textBox(row);
    var target = box || row.querySelector("input.opt-in:checked") || row.querySelector("input.opt-in");
    if (target) {
      target.focus({ preventScroll: true });
      if (box && box.select) { box.select(); }
    }
  }

  function useSuggestion(row, andConfirm, attr) {
    attr = attr || "data-suggestion";  // or "data-alternative": the other reader's text
    if (!row || isConfirmed(row) || !row.hasAttribute(attr)) { return; }
    if (andConfirm && checkFirst(row, attr)) { return; }
    var box = textBox(row);
    box.value = row.getAttribute(attr);
    if (andConfirm) { armed = null; confirmRow(row, true, false, true); return; }
    edit(row);
    // Editing a reading: the caret goes to its end, so typing adds to it rather than replacing it.
    if (box.setSelectionRange) { box.setSelectionRange(box.value.length, box.value.length); }
  }

  function toggleTick(row) {
    if (!row || isConfirmed(row) || row.getAttribute("data-kind") !== "checkbox") { return false; }
    var box = row.querySelector("input.opt-in");
    box.checked = !box.checked;
    return true;
  }

  function reopen(row) {
    if (!row || !isConfirmed(row)) { return; }
    var label = row.querySelector("h3").firstChild.textContent.trim();
    if (!window.confirm("Reopen \u201c" + label + "\u201d? Its confirmed value goes back to waiting (the edit trail keeps it).")) { return; }
    post(base + "/field/" + encodeURIComponent(row.getAttribute("data-key")) + "/reopen", {})
      .then(function () {
        window.location.hash = "f-" + row.getAttribute("data-key");
        window.location.reload();
      })
      .catch(function (err) { if (err.message !== "locked") { say(row, err.message, true); } });
  }

  // -- keys
  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.altKey) { return; }
    var t = e.target;
    var inCtl = t.closest ? t.closest("fieldset.ctl") : null;
    if (inCtl) {
      var row = t.closest("article.field");
      if (e.key === "Escape") { e.preventDefault(); select(row); hints(false); return; }
      if (e.key === "Enter") {
        if (t.tagName === "TEXTAREA" && !(e.ctrlKey || e.metaKey)) { return; }  // a new line
        e.preventDefault();
        confirmRow(row, true);
      }
      return;
    }
    if (/^(INPUT|TEXTAREA|SELECT|BUTTON|A)$/.test(t.tagName) && t.closest && !t.closest("article.field")) {
      // On a link or button outside the fields (the note link, the page tabs) j, k and Esc go back to the fields.
      var back = /^(A|BUTTON)$/.test(t.tagName) && current && !e.ctrlKey && !e.metaKey &&
        (e.key === "Escape" || ((e.key === "j" || e.key === "k") && singleKeysOn()));
      if (!back) { return; }
      e.preventDefault();
      if (e.key === "Escape") { select(current); } else { move(e.key === "j" ? 1 : -1); }
      return;
    }
    if (t.tagName === "BUTTON" && (e.key === "Enter" || e.key === " ")) { return; }
    if (e.ctrlKey || e.metaKey) { return; }
    if (!current) { return; }
    var handled = true;
    // With single-key shortcuts off only Enter, Shift+Enter, the arrows and Space work (WCAG 2.1.4).
    if (e.key.length === 1 && e.key !== " " && !singleKeysOn()) { return; }
    switch (e.key) {
      case "j": case "ArrowDown": move(1); break;
      case "k": case "ArrowUp": move(-1); break;
      case "Enter":
        if (e.shiftKey) { confirmSection(current); } else { confirmRow(current, true); }
        break;
      case "a": confirmSection(current); break;
      case "e": edit(current); break;
      case "s": useSuggestion(current, true); break;
      case "c": useSuggestion(current, false); break;
      case "o": useSuggestion(current, true, "data-alternative"); break;
      case "O": useSuggestion(current, false, "data-alternative"); break;
      case "w": keepRow(current); break;
      case "W": keepAllPrivate(); break;
      case "r": reopen(current); break;
      case " ": handled = toggleTick(current); break;
      default: handled = false;
    }
    if (handled) { e.preventDefault(); }
  });

  // -- pointer
  document.addEventListener("click", function (e) {
    var t = e.target;
    var rect = t.closest ? t.closest("rect.box") : null;
    if (rect) { select(document.getElementById("f-" + rect.getAttribute("data-key"))); return; }
    var tab = t.closest ? t.closest("[data-show-page]") : null;
    if (tab) { showPage(tab.getAttribute("data-show-page")); return; }
    var btn = t.closest ? t.closest("button[data-act]") : null;
    var row = t.closest ? t.closest("article.field") : null;
    if (!row) { return; }
    if (btn) {
      var act = btn.getAttribute("data-act");
      if (act === "confirm") { confirmRow(row, true, true); }
      else if (act === "reopen") { select(row); reopen(row); }
      else if (act === "accept") { useSuggestion(row, true); }
      else if (act === "copy") { useSuggestion(row, false); }
      else if (act === "accept-alt") { useSuggestion(row, true, "data-alternative"); }
      else if (act === "copy-alt") { useSuggestion(row, false, "data-alternative"); }
      else if (act === "keep") { keepRow(row); }
      return;
    }
    if (current !== row) { select(row, !!t.closest("fieldset.ctl")); }
  });

  rows().forEach(function (r) { if (r.hasAttribute("data-check")) { flaggedAsShown.set(r, typedOf(r)); } });
  var keepAllBtn = document.getElementById("keep-private");
  if (keepAllBtn) { keepAllBtn.addEventListener("click", function () { keepAllPrivate(); }); }
  var toggle = document.getElementById("keys-toggle");
  if (toggle) {
    toggle.checked = singleKeysOn();
    toggle.addEventListener("change", function () {
      try { window.localStorage.setItem(KEYS_PREF, toggle.checked ? "on" : "off"); } catch (err) { /* private mode */ }
      hints();
    });
  }
  document.addEventListener("focusin", function () { hints(); });

  var link = document.getElementById("note-link");
  if (link) {
    link.addEventListener("click", function (e) {
      if (link.classList.contains("is-disabled")) {
        e.preventDefault();
        if (current) { say(current, "Confirm every progress field first.", true); }
      }
    });
  }

  // Start where the address says (after a reopen), else at the first waiting field.
  var start = window.location.hash ? document.getElementById(window.location.hash.slice(1)) : null;
  var fromAddress = !!start && start.matches("article.field");
  if (!fromAddress) {
    start = rows().filter(function (r) { return !isDone(r); })[0] || rows()[0];
  }
  select(start);
  // Nothing waiting: the next step is the note (the first field's next Tab stop is its Reopen button).
  var noteLink = document.getElementById("note-link");
  if (!fromAddress && start && isDone(start) && noteLink && !noteLink.classList.contains("is-disabled")) {
    noteLink.focus();
  }
}());
