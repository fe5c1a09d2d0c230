/* Inklock note page: copy the note as plain text (for pasting into an EHR).
 * navigator.clipboard where the page is a secure context (127.0.0.1 is one);
 * otherwise a temporary text box and the browser's copy command. */
(function () {
  "use strict";
  var button = document.getElementById("copy-note");
  var source = document.getElementById("note-text");
  var status = document.getElementById("copy-status");
  if (!button || !source) { return; }

  function say(ok) {
    status.textContent = ok ? "Copied: paste it into your EHR."
                            : "Could not copy; press Ctrl+C now, the note text is selected.";
  }

  function fallback(text) {
    var box = document.createElement("textarea");
    box.value = text;
    box.setAttribute("readonly", "");
    box.className = "copy-fallback";
    document.body.appendChild(box);
    box.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    if (ok) { document.body.removeChild(box); }
    say(ok);
  }

  button.addEventListener("click", function () {
    var text = source.value;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { say(true); }, function () { fallback(text); });
    } else {
      fallback(text);
    }
  });
})();
